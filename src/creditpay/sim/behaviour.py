"""What people do on a business day: pure decisions from a seeded random stream, no I/O.

The economy asks these functions and then carries the answers out through the services, so
the same seed and the same platform responses give the same day.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from creditpay.sim.population import Consumer, Merchant

if TYPE_CHECKING:
    from creditpay.risk.decisions.referrals import Verdict

__all__ = ["Choice", "attacker_wants_credit", "lose_work", "purchases_today", "pick_merchant", "purchase_amount", "choose_funding",
           "top_up_amount", "repayment_today", "merchant_capture", "refund_request",
           "complains", "complaint_outcome", "AMOUNT_MINOR_MAX"]

# Below the step-up threshold (5,000.00): the simulated consumers do not type codes yet.
AMOUNT_MINOR_MAX = 499_900
AMOUNT_MINOR_MIN = 100


@dataclass(frozen=True)
class Choice:
    funding: str  # balance | card | credit_line | installment_plan
    offer_id: str | None = None
    periods: int | None = None
    all_in_percent: str | None = None  # the offer's all-in annual cost, as shown
    key_facts_sha256: str | None = None  # the key-facts document of the offer, as shown
    quote_id: str | None = None  # paying abroad: the FX quote whose CNY amount was shown


def purchases_today(consumer: Consumer, rng: random.Random) -> int:
    """Poisson draw of today's purchases (Knuth; the rate is small)."""
    limit, k, p = math.exp(-consumer.purchases_per_day), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def pick_merchant(merchants: Sequence[Merchant], cumulative: Sequence[float],
                  rng: random.Random) -> Merchant:
    return rng.choices(merchants, cum_weights=cumulative)[0]


def purchase_amount(consumer: Consumer, merchant: Merchant, rng: random.Random) -> int:
    category = merchant.category
    amount = rng.lognormvariate(category.amount_log_mean, category.amount_log_sd)
    return max(AMOUNT_MINOR_MIN, min(AMOUNT_MINOR_MAX, int(amount * consumer.amount_scale)))


def wants_credit(consumer: Consumer, amount_minor: int, wallet_available_minor: int,
                 rng: random.Random) -> bool:
    """Whether the consumer asks to see credit offers at this checkout."""
    short = wallet_available_minor < amount_minor
    return rng.random() < min(0.95, consumer.credit_appetite + (0.25 if short else 0.0))


def choose_funding(consumer: Consumer, amount_minor: int, wallet_available_minor: int,
                   offers: list[dict[str, Any]], rng: random.Random) -> Choice:
    """Pick one explicit offer (credit) or balance / card; never credit without an offer."""
    lines = [o for o in offers if o["funding"] == "credit_line"]
    # A plan with a down payment needs it in the wallet now; a consumer without it looks on.
    plans = [o for o in offers if o["funding"] == "installment_plan"
             and o.get("down_payment_minor", 0) <= wallet_available_minor]
    large = amount_minor >= 50_000
    if plans and large and rng.random() < consumer.installment_appetite:
        # Longer plans for the larger amounts; for those periods, the cheapest offer (offer
        # ids are random, so they never decide).
        periods = sorted({o["periods"] for o in plans})
        wanted = periods[min(len(periods) - 1,
                             int(rng.random() * len(periods) * (0.5 + amount_minor / 400_000)))]
        offer = min((o for o in plans if o["periods"] == wanted),
                    key=lambda o: (o.get("down_payment_minor", 0) + o["total_repayable_minor"],
                                   o.get("product_code", ""),
                                   o.get("product_version", 0)))
        return Choice("installment_plan", offer["offer_id"], offer["periods"],
                      offer.get("all_in_annual_cost_percent"), offer.get("key_facts_sha256"))
    if lines:
        line = min(lines, key=lambda o: (o["total_repayable_minor"], o["periods"]))
        return Choice("credit_line", line["offer_id"], line["periods"],
                      line.get("all_in_annual_cost_percent"), line.get("key_facts_sha256"))
    return fallback_funding(amount_minor, wallet_available_minor)


def attacker_wants_credit() -> bool:
    """Someone paying with stolen credentials always looks at the credit on offer: the
    victim's unused limit is what they came for."""
    return True


def lose_work(consumer: Consumer) -> Consumer:
    """The unemployment shock: income falls to benefits, bills are paid far less reliably,
    and credit looks more tempting. A later application declares it."""
    return dataclasses.replace(
        consumer, employment_type="unemployed",
        monthly_income_minor=max(100_000, consumer.monthly_income_minor // 5),
        creditworthiness=round(consumer.creditworthiness * 0.35, 4),
        credit_appetite=round(min(0.95, consumer.credit_appetite + 0.3), 3))


def fallback_funding(amount_minor: int, wallet_available_minor: int) -> Choice:
    return Choice("balance" if wallet_available_minor >= amount_minor else "card")


def top_up_amount(consumer: Consumer, wallet_available_minor: int, rng: random.Random
                  ) -> int:
    """Morning top-up: people keep some of their income in the wallet (0 = none today)."""
    target = consumer.monthly_income_minor // 6
    if wallet_available_minor >= target // 2 or rng.random() > 0.25:
        return 0
    return max(1_000, (target - wallet_available_minor) // 100 * 100)


def repayment_today(consumer: Consumer, due_minor: int, past_due: bool,
                    rng: random.Random) -> bool:
    """Does the consumer pay the bill today? Good payers pay within days of the bill and at
    once when late; strugglers pay now and then; the worst never pay."""
    if due_minor <= 0 or consumer.creditworthiness <= 0.0:
        return False
    worth = consumer.creditworthiness
    daily = 0.35 * worth ** 2 if not past_due else 0.9 * worth ** 3
    return rng.random() < daily


def repayment_amount(consumer: Consumer, due_minor: int, rng: random.Random) -> int:
    """Strugglers sometimes pay only part of the bill."""
    if consumer.creditworthiness < 0.75 and rng.random() < 0.5:
        return max(1, due_minor * rng.randint(20, 80) // 100)
    return due_minor


def merchant_capture(amount_minor: int, rng: random.Random) -> int | None:
    """What the merchant captures: usually all, sometimes part; None = cancels the order;
    0 = forgets (the authorisation expires at the end of the capture window)."""
    roll = rng.random()
    if roll < 0.03:
        return None
    if roll < 0.04:
        return 0
    if roll < 0.08 and amount_minor >= 200:
        return amount_minor * rng.randint(50, 95) // 100
    return amount_minor


def refund_request(merchant: Merchant, captured_minor: int, rng: random.Random
                   ) -> tuple[int, int] | None:
    """(days later, amount) of a refund of this capture, or None."""
    if rng.random() >= merchant.category.refund_share:
        return None
    amount = captured_minor if rng.random() < 0.6 else max(1, captured_minor // 2)
    return rng.randint(1, 6), amount


# Daily chance that an unhappy consumer complains, by what went wrong.
COMPLAINT_PROPENSITY = {"credit_decision": 0.12, "repayment_and_billing": 0.02}


def complains(consumer: Consumer, category: str, rng: random.Random) -> bool:
    return rng.random() < COMPLAINT_PROPENSITY[category]


def complaint_outcome(rng: random.Random) -> str:
    return rng.choices(("not_upheld", "partially_upheld", "upheld", "withdrawn_by_customer"),
                       (0.55, 0.2, 0.15, 0.1))[0]


def referral_verdict(features: dict[str, Any], offered_limit_minor: int
                     ) -> tuple[Verdict, int | None, str | None]:
    """What the simulated risk analyst decides on a referred application, from the stored
    features: recent delinquencies or debts taking over half the income decline (with the
    reason the consumer reads); otherwise approve at half the policy's limit, a cautious
    start for a customer with little history. Returns (verdict, limit_minor, reason_code)."""
    if (features.get("bureau_delinquencies_24m") or 0) >= 2:
        return "decline", None, "REVIEW_CREDIT_REPORT"
    if (features.get("debt_service_ratio") or 0) > 0.5:
        return "decline", None, "REVIEW_AFFORDABILITY"
    return "approve", max(1, offered_limit_minor // 2), None
