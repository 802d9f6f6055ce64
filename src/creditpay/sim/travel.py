"""Travel and study abroad (issue #21): some consumers pay foreign merchants in their
currency (JPY, USD, EUR, THB, KRW) from their CNY wallet, card or credit line, at a locked FX
quote they see first; some of those payments are refunded at the original rate.

Who travels is drawn from the seed: students abroad (a share of the student consumers) pay
now and then on any day; tourists take one trip of a few days at a random point of the run
and pay more often then. Every payment goes through the same use cases as the API: the
foreign merchant's intent, the consumer's FX quote (``fx_quote``), credit offers on the CNY
amount when the consumer wants credit, the confirm naming the quote, the merchant's capture
and later refunds. The figures (``cross_border`` in figures.json) are read back from the
payments' own cross-border report, not tallied on the side.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from creditpay.sim.economy import Agent, Economy

__all__ = ["ForeignMerchant", "FOREIGN_MERCHANTS", "TRAVEL_CURRENCIES", "Travel"]

STUDENT_ABROAD_SHARE = 0.25  # of the student consumers, studying abroad
TOURIST_SHARE = 0.04  # of everyone else, one trip abroad during the run
STUDENT_DAILY_RATE = 0.05  # chance a student abroad pays a foreign merchant on a day
TRIP_DAYS = (4, 8)
TOURIST_DAILY_RATE = 0.6  # chance a tourist pays on a trip day
CREDIT_SHARE = 0.35  # of payments by consumers with a line, financed when offered
REFUND_SHARE = 0.08  # of captured payments, refunded (in full or half) a few days later


@dataclass(frozen=True)
class ForeignMerchant:
    name: str
    mcc: str
    country: str  # ISO 3166-1 alpha-2
    currency: str  # its settlement currency
    typical_minor: int  # a typical ticket in its currency's minor units
    discount_rate: str = "0.01"


FOREIGN_MERCHANTS = (
    ForeignMerchant("Kyoto Machiya Inn", "7011", "JP", "JPY", 18_000),
    ForeignMerchant("Osaka Drugstore", "5912", "JP", "JPY", 6_000),
    ForeignMerchant("Campus Store Boston", "5942", "US", "USD", 6_500),
    ForeignMerchant("Musee Boutique Paris", "5999", "FR", "EUR", 4_500),
    ForeignMerchant("Chiang Mai Market", "5499", "TH", "THB", 90_000),
    ForeignMerchant("Myeongdong Cosmetics", "5977", "KR", "KRW", 45_000),
)
TRAVEL_CURRENCIES = tuple(sorted({m.currency for m in FOREIGN_MERCHANTS}))
# Where a student studies: the merchants of that country.
_STUDY_COUNTRIES = ("JP", "US", "FR", "KR")


@dataclass
class Traveller:
    agent_index: int
    country: str
    trip: tuple[int, int] | None  # (first day, last day) for a tourist; None: a student
    merchants: tuple[int, ...]  # indexes into FOREIGN_MERCHANTS


class Travel:
    """The travel scenario of one :class:`~creditpay.sim.economy.Economy` run."""

    def __init__(self, economy: Economy) -> None:
        self.economy = economy
        self.merchant_principals: list[Any] = []
        self.travellers: list[Traveller] = []
        self.refunds_due: dict[int, list[tuple[int, str, int]]] = defaultdict(list)

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        """Onboard the foreign merchants and draw who travels (seeded)."""
        from creditpay.parties.service import Principal

        e = self.economy
        for merchant in FOREIGN_MERCHANTS:
            def onboard(tx: Any, m: ForeignMerchant = merchant) -> dict[str, Any]:
                return e.parties.onboard_merchant(
                    tx, e.operator, name=m.name, mcc=m.mcc, discount_rate=m.discount_rate,
                    settlement_currency=m.currency, country=m.country)

            view = e.uow.run(onboard)
            self.merchant_principals.append(Principal("merchant", view["merchant"]["id"]))
        rng = random.Random(f"{e.config.seed}:travel")
        days = e.config.days
        for agent_index, agent in enumerate(e.agents):
            student = agent.consumer.employment_type == "student"
            if student and rng.random() < STUDENT_ABROAD_SHARE:
                country = rng.choice(_STUDY_COUNTRIES)
                trip = None
            elif not student and rng.random() < TOURIST_SHARE:
                country = rng.choice(sorted({m.country for m in FOREIGN_MERCHANTS}))
                length = rng.randint(*TRIP_DAYS)
                first = rng.randint(0, max(0, days - length))
                trip = (first, first + length - 1)
            else:
                continue
            merchants = tuple(i for i, m in enumerate(FOREIGN_MERCHANTS) if m.country == country)
            self.travellers.append(Traveller(agent_index, country, trip, merchants))

    # ------------------------------------------------------------------ one day
    def run_day(self, day: int) -> None:
        """Today's payments abroad (in the afternoon), then the refunds due today."""
        e = self.economy
        rng = random.Random(f"{e.config.seed}:travel:{day}")
        for traveller in self.travellers:
            if traveller.trip is None:
                pays = rng.random() < STUDENT_DAILY_RATE
            else:
                first, last = traveller.trip
                pays = first <= day <= last and rng.random() < TOURIST_DAILY_RATE
            if pays:
                self._pay(traveller, f"abroad-{day}-{traveller.agent_index}", rng, day)
        for merchant_index, intent_id, amount in self.refunds_due.pop(day, []):
            mp = self.merchant_principals[merchant_index]

            def refund(tx: Any, i: str = intent_id, n: int = amount, m: Any = mp) -> Any:
                return e.payments.refund(tx, m, i, amount_minor=n, reason="customer_return")

            e._attempt("abroad.refund", refund)

    def _amount(self, merchant: ForeignMerchant, rng: random.Random) -> int:
        return max(1, round(merchant.typical_minor * math.exp(rng.gauss(0.0, 0.6))))

    def _pay(self, traveller: Traveller, order_id: str, rng: random.Random, day: int) -> None:
        from creditpay.sim import behaviour as B

        e = self.economy
        agent: Agent = e.agents[traveller.agent_index]
        merchant_index = rng.choice(traveller.merchants)
        merchant = FOREIGN_MERCHANTS[merchant_index]
        mp = self.merchant_principals[merchant_index]
        pay = e.payments
        amount = self._amount(merchant, rng)
        principal = e._principal(agent, agent.consumer.devices[0])
        intent = e._attempt("abroad.intent", lambda tx: pay.create_intent(
            tx, mp, amount_minor=amount, currency=merchant.currency, order_id=order_id))
        if intent is None:
            return
        # The consumer sees the CNY cost (a locked quote) before choosing how to pay.
        fx = e._attempt("abroad.quote", lambda tx: pay.fx_quote(tx, principal, intent["id"]))
        if fx is None:
            return
        cny = int(fx["sell_amount_minor"])
        available = e._wallet_available(agent)
        choice = B.fallback_funding(cny, available)
        if agent.has_line and rng.random() < CREDIT_SHARE:
            offers = e._attempt("abroad.offers", lambda tx: pay.quote_offers(
                tx, principal, intent["id"]))
            line = [o for o in (offers or {}).get("offers", [])
                    if o["funding"] == "credit_line"]
            if offers is not None and line:
                fx = offers.get("fx") or fx  # the same locked quote, or its refresh
                choice = B.Choice("credit_line", offer_id=line[0]["offer_id"],
                                  key_facts_sha256=line[0]["key_facts_sha256"])
        choice = B.Choice(choice.funding, offer_id=choice.offer_id,
                          key_facts_sha256=choice.key_facts_sha256, quote_id=fx["quote_id"])
        outcome = e._confirm(agent, principal, intent, choice, None)
        if outcome == "refused" and choice.offer_id is not None:
            fallback = B.fallback_funding(cny, available)
            choice = B.Choice(fallback.funding, quote_id=fx["quote_id"])
            outcome = e._confirm(agent, principal, intent, choice, None)
        if outcome != "authorised":
            return
        if e._attempt("abroad.capture", lambda tx: pay.capture(tx, mp, intent["id"])) is None:
            return
        if choice.offer_id is not None:
            agent.has_credit = True
        if rng.random() < REFUND_SHARE:
            refund_minor = amount if rng.random() < 0.5 else max(1, amount // 2)
            self.refunds_due[day + rng.randint(1, 5)].append(
                (merchant_index, intent["id"], refund_minor))

    # ------------------------------------------------------------------ figures
    def figures(self, start: dt.date, end: dt.date) -> dict[str, Any]:
        """``cross_border`` of figures.json: payments abroad captured over the run, their
        volume by currency (minor units) and in CNY, the FX revenue (the markup of the
        captured payments, CNY) and the refunds, from payments' cross-border report."""
        from creditpay.payments.reporting import cross_border_totals

        with self.economy.uow.connect() as conn:
            totals = cross_border_totals(conn, start, end)
        volume: dict[str, int] = defaultdict(int)
        for t in totals:
            volume[t.currency] += t.amount_minor
        return {"payments": sum(t.payments for t in totals),
                "volume_by_currency": dict(sorted(volume.items())),
                "volume_cny_minor": sum(t.home_amount_minor for t in totals),
                "fx_revenue_cny_minor": sum(t.fx_markup_home_minor for t in totals),
                "refunds": sum(t.refunds for t in totals),
                "refunded_cny_minor": sum(t.refunded_home_minor for t in totals),
                "travellers": len(self.travellers),
                "by_country": [{"merchant_country": t.merchant_country, "currency": t.currency,
                                "payments": t.payments, "amount_minor": t.amount_minor,
                                "cny_minor": t.home_amount_minor} for t in totals]}
