"""The day loop of the simulated economy, driven through the real services.

Setup: an operator onboards the merchants with their discount rates; consumers register on
their phone, verify their identity (KYC) and link a card; the risk models and policies are
trained, registered and put in force the way ``creditpay risk bootstrap`` does; consumers who
want credit consent to the bureau inquiry and apply for a pay-later line, each application is
decided by ``decide`` and the approved ones get ``open_credit_line`` with the decided limit.

Each business day (business time from a :class:`~creditpay.clock.SimulatedClock`): yesterday
is settled to merchants (T+1), wallets are topped up through the card rail (callbacks
delivered), bills are repaid from the wallet when the consumer's latent creditworthiness says
so, purchases go through payment intents confirmed with balance, card, or an explicit credit
offer (pay-later line or installment plan), merchants capture, cancel or forget, refunds come
back days later, stale intents expire, and the close of business runs at night.

Nothing here writes a table: every change is a service call in a unit of work.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from creditpay.sim import behaviour as B
from creditpay.sim.population import Consumer, Population, build_population

__all__ = ["EconomyConfig", "Economy", "run_economy", "CURRENCY", "LINE_PRODUCT"]

CURRENCY = "CNY"
LINE_PRODUCT = "huabei"
START = "2025-01-01T08:00:00+00:00"
SIM_PASSWORD = "simulated consumer password"  # nosec B105 - synthetic consumers only
REVENUE_ACCOUNTS = (("merchant_fees", "merchant_fee_income"), ("interest", "interest_income"),
                    ("credit_fees", "fee_income"), ("penalty", "penalty_income"),
                    ("recoveries", "recovery_income"))


@dataclass(frozen=True)
class EconomyConfig:
    customers: int
    merchants: int
    days: int
    seed: int
    database_url: str
    start: str = START
    durability: str = "normal"  # a run is reproducible from its seed (see db/engine.py)
    snapshot_every_days: int = 0  # 0: about 30 points over the run
    progress: bool = True


@dataclass
class Agent:
    """A consumer as the platform knows them (ids) plus the simulation's own state."""

    consumer: Consumer
    customer_id: str
    principal: Any
    card_id: str
    wallet_account_id: int
    has_line: bool = False
    has_credit: bool = False  # has used credit, so may owe something
    complained: bool = False


@dataclass
class Tally:
    applications: int = 0
    approvals: int = 0
    by_grade: dict[str, list[int]] = field(default_factory=dict)  # grade: [applied, approved]
    limit_granted_minor: int = 0
    topups: int = 0
    topups_minor: int = 0
    topups_failed: int = 0
    purchases: Counter[str] = field(default_factory=Counter)
    purchases_minor: Counter[str] = field(default_factory=Counter)
    plans_by_periods: Counter[int] = field(default_factory=Counter)
    captures_minor: int = 0
    cancels: int = 0
    uncaptured: int = 0
    refunds: int = 0
    refunds_minor: int = 0
    repayments: int = 0
    repayments_minor: int = 0
    missed_repayment_days: int = 0
    settlements: int = 0
    settled_net_minor: int = 0
    intents_expired: int = 0
    refused: Counter[str] = field(default_factory=Counter)


class Economy:
    """One run: ``setup()`` then ``run_day()`` per day, then ``figures()``."""

    def __init__(self, config: EconomyConfig) -> None:
        self.config = config
        self.tally = Tally()
        self.series: list[dict[str, Any]] = []
        self.timings_s: dict[str, float] = defaultdict(float)
        self.refunds_due: dict[int, list[tuple[Any, str, int]]] = defaultdict(list)
        self.complaints_open: list[tuple[str, int]] = []  # (complaint id, day opened)
        self.agents: list[Agent] = []
        self.day = 0
        self._build_runtime()
        self.population: Population = build_population(
            config.customers, config.merchants, config.seed, self.clock.today())
        self._merchant_weights = list(accumulate(m.popularity
                                                 for m in self.population.merchants))

    # ------------------------------------------------------------------ wiring
    def _build_runtime(self) -> None:
        """The services an API process holds (``api.runtime.build_runtime``), with keys
        derived from the seed so a run needs no key files and replays exactly."""
        from creditpay.clock import SimulatedClock
        from creditpay.compliance.keys import LocalMasterKey
        from creditpay.compliance.vault import BlindIndexer, Vault
        from creditpay.db.schema import open_database
        from creditpay.db.uow import UnitOfWork
        from creditpay.ledger.chart import ensure_platform_accounts
        from creditpay.parties.security import PasswordPolicy, TokenSigner
        from creditpay.parties.service import Parties
        from creditpay.payments.rail import CardRail
        from creditpay.payments.service import Payments

        def key(purpose: str) -> bytes:
            return hashlib.sha256(f"creditpay-sim/{purpose}/{self.config.seed}".encode()
                                  ).digest()

        url = self.config.database_url
        durability = self.config.durability if url.startswith("sqlite") else "full"
        self.engine = open_database(url, pool_size=2, durability=durability)
        self.clock = SimulatedClock(self.config.start)
        self.uow = UnitOfWork(self.engine, self.clock)
        vault = Vault(self.uow, LocalMasterKey(key("master")))
        vault.ensure_active_key()
        # Cheapest argon2 parameters: the simulated consumers never log in.
        self.parties = Parties(vault=vault, indexer=BlindIndexer(key("blind-index")),
                               signer=TokenSigner(key("tokens")),
                               passwords=PasswordPolicy(time_cost=1, memory_cost_kib=1024))
        self.payments = Payments(parties=self.parties, rail=CardRail(key("rail"), delay_s=0))
        self.uow.run(lambda tx: ensure_platform_accounts(tx, CURRENCY))

    def close(self) -> None:
        self.engine.dispose()

    def _timed(self, name: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return fn()
        finally:
            self.timings_s[name] += time.perf_counter() - started

    def _at(self, hour: int, minute: int = 0) -> None:
        now = self.clock.now()
        self.clock.set(now.replace(hour=hour, minute=minute, second=0, microsecond=0))

    def _attempt(self, label: str, use_case: Callable[[Any], Any]) -> Any:
        """Run one use case; a domain refusal is counted (and nothing was written)."""
        from creditpay.errors import DomainError

        try:
            return self.uow.run(use_case)
        except DomainError as exc:
            self.tally.refused[f"{label}:{getattr(exc, 'type_slug', type(exc).__name__)}"] += 1
            return None

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        self._timed("setup.models", self._bootstrap_risk)
        self._timed("setup.merchants", self._onboard_merchants)
        self._timed("setup.consumers", self._onboard_consumers)
        self._timed("setup.applications", self._decide_applications)

    def _bootstrap_risk(self) -> None:
        """What ``creditpay risk bootstrap`` does, with the business clock and the seed."""
        import tempfile

        from creditpay.risk.decisions import registry
        from creditpay.risk.decisions.policy import (
            activate_policy,
            bundled_policy_path,
            load_policy_file,
        )
        from creditpay.risk.features.synthetic import train_synthetic_models

        actor = "simulation"
        with tempfile.TemporaryDirectory(prefix="creditpay-sim-models-") as folder:
            # The synthetic training history grows with the economy (600 to 3,000 people):
            # a small run should not spend its time training.
            history = max(600, min(3000, 6 * self.config.customers))
            dirs = train_synthetic_models(folder, seed=self.config.seed, author=actor,
                                          n_customers=history,
                                          created_at=self.clock.now().isoformat())
            with self.uow.begin() as tx:
                for name in ("application", "behaviour"):
                    version = registry.register_model(tx, dirs[name], name=name,
                                                      registered_by=actor)
                    registry.promote(tx, name, version.version, actor=actor,
                                     reason="bootstrap")
                registry.register_model(tx, dirs["application_challenger"],
                                        name="application", registered_by=actor)
                for kind in ("application", "limit_review"):
                    activate_policy(tx, load_policy_file(bundled_policy_path(kind)),
                                    actor=actor)

    def _onboard_merchants(self) -> None:
        from creditpay.parties.service import MERCHANT_SCOPES, Principal

        admin = self.uow.run(lambda tx: self.parties.create_operator(
            tx, name="simulation operator", role="admin"))
        self.operator = Principal("operator", admin["id"], role="admin")
        self.merchant_principals = []
        for merchant in self.population.merchants:
            view = self.uow.run(lambda tx, m=merchant: self.parties.onboard_merchant(
                tx, self.operator, name=m.name, mcc=m.category.mcc,
                discount_rate=m.category.discount_rate))
            self.merchant_principals.append(Principal(
                "merchant", view["merchant"]["id"], scopes=frozenset(MERCHANT_SCOPES)))

    def _onboard_consumers(self) -> None:
        from creditpay.ledger.chart import party_key
        from creditpay.ledger.service import get_account_by_key
        from creditpay.parties.service import Principal
        from creditpay.payments.rail import DECLINE_PANS

        password_hash = self.parties.passwords.hash(SIM_PASSWORD)
        decline_pan = sorted(DECLINE_PANS)[0]
        for c in self.population.consumers:
            def onboard(tx: Any, c: Consumer = c) -> Agent:
                view = self.parties.register(tx, phone=c.phone, email=None,
                                             password_hash=password_hash,
                                             device_id=c.devices[0])
                principal = Principal("customer", view["id"], device_id=c.devices[0])
                self.parties.verify_kyc(tx, principal, legal_name=c.legal_name,
                                        id_number=c.resident_id, date_of_birth=c.date_of_birth)
                card = self.payments.rail.tokenise(
                    tx, decline_pan if c.card_declines else "4242424242424242", 12, 2099)
                linked = self.parties.add_card(tx, principal, rail_token=card.token,
                                               brand=card.brand, last4=card.last4,
                                               expiry_month=12, expiry_year=2099)
                wallet = get_account_by_key(tx.conn, party_key("wallet", view["id"], CURRENCY))
                return Agent(c, view["id"], principal, linked["id"], wallet.id)

            self.agents.append(self.uow.run(onboard))

    def _decide_applications(self) -> None:
        from creditpay.compliance.consent import Purpose, consent_text, grant_consent
        from creditpay.risk.bureau import SimulatedBureau
        from creditpay.risk.decisions.service import decide

        # The bureau reports what other lenders know, which the simulation drew for each
        # consumer (the same whatever random id the platform gave them).
        bureau = SimulatedBureau(self.config.seed, overrides={
            a.customer_id: a.consumer.bureau for a in self.agents})
        texts = {p: consent_text(p, "zh-CN") for p in (Purpose.BUREAU_INQUIRY,
                                                        Purpose.CREDIT_ASSESSMENT)}
        rng = random.Random(f"{self.config.seed}:applications")
        for agent in self.agents:
            c = agent.consumer
            if not c.applies_for_credit:
                continue

            def apply(tx: Any, agent: Agent = agent, c: Consumer = c) -> Any:
                refs = {p: grant_consent(tx, customer_id=agent.customer_id, purpose=p,
                                         language="zh-CN", text_version=t.version,
                                         text_sha256=t.sha256, channel="app").id
                        for p, t in texts.items()}
                decision = decide(
                    tx, application_id=f"sim-app-{c.index}", customer_id=agent.customer_id,
                    product_code="credit_line",
                    application={"date_of_birth": c.date_of_birth.isoformat(),
                                 "monthly_income_minor": c.monthly_income_minor,
                                 "employment_type": c.employment_type, "kyc_verified": True},
                    bureau=bureau,
                    bureau_consent_reference=f"consent:{refs[Purpose.BUREAU_INQUIRY]}",
                    platform_consent_reference=f"consent:{refs[Purpose.CREDIT_ASSESSMENT]}")
                if decision.outcome != "decline" and decision.limit_minor:
                    self.payments.open_credit_line(tx, self.operator, agent.customer_id,
                                                   limit_minor=decision.limit_minor,
                                                   product_code=LINE_PRODUCT)
                return decision

            decision = self.uow.run(apply)
            approved = decision.outcome != "decline" and bool(decision.limit_minor)
            if not approved and B.complains(c, "credit_decision", rng):
                self._complain(agent, "credit_application", f"sim-app-{c.index}",
                               "credit_decision")
            self.tally.applications += 1
            grade = self.tally.by_grade.setdefault(decision.grade, [0, 0])
            grade[0] += 1
            if approved:
                grade[1] += 1
                self.tally.approvals += 1
                self.tally.limit_granted_minor += decision.limit_minor
                agent.has_line = True

    # ------------------------------------------------------------------ one day
    def run_day(self) -> None:
        day = self.day
        rng = random.Random(f"{self.config.seed}:day:{day}")
        today = self.clock.today()
        self._at(8)
        if day > 0:
            self._timed("settle", lambda: self._settle(today - dt.timedelta(days=1)))
        self._at(9)
        self._timed("topups", lambda: self._top_ups(rng))
        self._at(10)
        self._timed("repayments", lambda: self._repayments(rng))
        self._at(12)
        self._timed("purchases", lambda: self._purchases(rng))
        self._at(17)
        self._timed("complaints", lambda: self._handle_complaints(rng))
        self._at(18)
        self._timed("refunds", lambda: self._refunds(day))
        self._at(23, 30)
        self._timed("expiry", self._expire)
        self._at(23, 50)
        self._timed("close_of_business", lambda: self._close_of_business(today))
        every = self.config.snapshot_every_days or max(1, self.config.days // 30)
        if day % every == every - 1 or day == self.config.days - 1:
            self._timed("snapshots", lambda: self.series.append(self.snapshot()))
        self.clock.set((self.clock.now() + dt.timedelta(days=1)).replace(hour=7, minute=0))
        self.day += 1

    def _complain(self, agent: Agent, subject_type: str, subject_id: str, category: str
                  ) -> None:
        """The consumer opens a complaint in the app (at most one each in this slice)."""
        from creditpay.compliance.complaints import open_complaint

        if agent.complained:
            return
        complaint = self._attempt("complaint", lambda tx: open_complaint(
            tx, customer_id=agent.customer_id, subject_type=subject_type,
            subject_id=subject_id, category=category, channel="app",
            request_id=f"sim-cmp-{agent.consumer.index}"))
        if complaint is not None:
            agent.complained = True
            self.complaints_open.append((complaint.id, self.day))

    def _handle_complaints(self, rng: random.Random) -> None:
        """Staff acknowledge the day's complaints and resolve those three days old."""
        from creditpay.compliance.complaints import acknowledge_complaint, resolve_complaint

        staff = self.operator.id
        still_open = []
        for complaint_id, opened in self.complaints_open:
            self._attempt("complaint", lambda tx, c=complaint_id: acknowledge_complaint(
                tx, c, staff))
            if self.day - opened < 3:
                still_open.append((complaint_id, opened))
                continue
            outcome = B.complaint_outcome(rng)
            self._attempt("complaint", lambda tx, c=complaint_id, o=outcome: resolve_complaint(
                tx, c, staff, o))
        self.complaints_open = still_open

    def _settle(self, business_date: dt.date) -> None:
        for view in self.uow.run(lambda tx: self.payments.settle(tx, business_date)):
            self.tally.settlements += 1
            self.tally.settled_net_minor += max(0, view["net_minor"])

    def _wallet_available(self, agent: Agent) -> int:
        with self.uow.connect() as conn:
            return int(self.payments.wallet_balance(conn, agent.customer_id, CURRENCY)
                       ["available_minor"])

    def _top_up(self, agent: Agent, amount_minor: int) -> None:
        view = self._attempt("topup", lambda tx: self.payments.top_up(
            tx, agent.principal, card_id=agent.card_id, amount_minor=amount_minor))
        if view is None:
            return
        self._deliver_rail_callbacks()
        with self.uow.connect() as conn:
            status = self.payments.history(conn, agent.customer_id, before_seq=None,
                                           limit=1)[0][0]["status"]
        if status == "succeeded":
            self.tally.topups += 1
            self.tally.topups_minor += amount_minor
        else:
            self.tally.topups_failed += 1

    def _deliver_rail_callbacks(self) -> None:
        while True:
            with self.uow.connect() as conn:
                due = self.payments.rail.due_callbacks(conn, self.clock.now())
            for callback in due:
                self.uow.run(lambda tx, c=callback: self.payments.handle_rail_callback(
                    tx, c["operation_id"]))
            if len(due) < 100:
                return

    def _top_ups(self, rng: random.Random) -> None:
        for agent in self.agents:
            amount = B.top_up_amount(agent.consumer, self._wallet_available(agent), rng)
            if amount:
                self._top_up(agent, amount)

    def _owed_today(self, agent: Agent) -> tuple[int, bool]:
        """(billed and unpaid, any of it past due) over the consumer's open accounts."""
        from creditpay.credit.plans import load_account
        from creditpay.credit.repayments import amount_owed
        from creditpay.credit.service import list_accounts

        with self.uow.connect() as conn:
            views = [v for v in list_accounts(conn, agent.customer_id) if v.status == "active"]
            owed = sum(amount_owed(conn, load_account(conn, v.account_id),
                                   include_unbilled=False) for v in views)
            return owed, any(v.dpd > 0 for v in views)

    def _repayments(self, rng: random.Random) -> None:
        from creditpay.credit.service import repay

        for agent in self.agents:
            if not agent.has_credit:
                continue
            owed, past_due = self._owed_today(agent)
            if owed <= 0:
                continue
            c = agent.consumer
            if not B.repayment_today(c, owed, past_due, rng):
                self.tally.missed_repayment_days += past_due
                if past_due and B.complains(c, "repayment_and_billing", rng):
                    self._complain(agent, "customer", agent.customer_id,
                                   "repayment_and_billing")
                continue
            amount = B.repayment_amount(c, owed, rng)
            available = self._wallet_available(agent)
            if available < amount and c.creditworthiness >= 0.8:
                self._top_up(agent, amount - available)  # good payers fund the bill
                available = self._wallet_available(agent)
            amount = min(amount, available)
            if amount <= 0:
                self.tally.refused["repayment:wallet_empty"] += 1
                continue
            result = self._attempt("repayment", lambda tx, a=agent, n=amount: repay(
                tx, repayment_id=f"sim-rp-{self.day}-{a.consumer.index}",
                customer_id=a.customer_id, currency=CURRENCY, amount_minor=n,
                source_account_id=a.wallet_account_id))
            if result is not None:
                self.tally.repayments += 1
                self.tally.repayments_minor += amount

    def _purchases(self, rng: random.Random) -> None:
        merchants = self.population.merchants
        for agent in self.agents:
            for k in range(B.purchases_today(agent.consumer, rng)):
                merchant = B.pick_merchant(merchants, self._merchant_weights, rng)
                self._checkout(agent, merchant, B.purchase_amount(agent.consumer, merchant,
                                                                  rng), k, rng)

    def _checkout(self, agent: Agent, merchant: Any, amount: int, k: int,
                  rng: random.Random) -> None:
        mp = self.merchant_principals[merchant.index]
        pay = self.payments
        intent = self._attempt("intent", lambda tx: pay.create_intent(
            tx, mp, amount_minor=amount, currency=CURRENCY,
            order_id=f"sim-{self.day}-{agent.consumer.index}-{k}",
            scenario=merchant.category.intent_scenario))
        if intent is None:
            return
        available = self._wallet_available(agent)
        choice = B.fallback_funding(amount, available)
        if agent.has_line and B.wants_credit(agent.consumer, amount, available, rng):
            quote = self._attempt("offers", lambda tx: pay.quote_offers(
                tx, agent.principal, intent["id"]))
            if quote is not None:
                choice = B.choose_funding(agent.consumer, amount, available, quote["offers"],
                                          rng)

        def confirm(tx: Any, choice: B.Choice) -> Any:
            card = agent.card_id if choice.funding == "card" else None
            if "qr_payload" in intent:  # offline: the consumer scans the merchant's code
                return pay.pay_qr(tx, agent.principal, qr_payload=intent["qr_payload"],
                                  funding=choice.funding, card_id=card,
                                  offer_id=choice.offer_id)
            return pay.confirm(tx, agent.principal, intent["id"], funding=choice.funding,
                               card_id=card, offer_id=choice.offer_id)

        confirmed = self._attempt(f"confirm.{choice.funding}", lambda tx: confirm(tx, choice))
        if confirmed is None and choice.offer_id is not None:
            # Credit refused (exposure, limit): the consumer pays another way.
            choice = B.fallback_funding(amount, available)
            confirmed = self._attempt(f"confirm.{choice.funding}",
                                      lambda tx: confirm(tx, choice))
        if confirmed is None:
            return
        self.tally.purchases[choice.funding] += 1
        self.tally.purchases_minor[choice.funding] += amount
        if choice.funding == "installment_plan" and choice.periods:
            self.tally.plans_by_periods[choice.periods] += 1
        if choice.offer_id is not None:
            agent.has_credit = True
        captured = B.merchant_capture(amount, rng)
        if captured is None:
            if self._attempt("cancel", lambda tx: pay.cancel(tx, mp, intent["id"])):
                self.tally.cancels += 1
            return
        if captured == 0:
            self.tally.uncaptured += 1
            return
        if self._attempt("capture", lambda tx: pay.capture(tx, mp, intent["id"],
                                                           amount_minor=captured)) is None:
            return
        self.tally.captures_minor += captured
        refund = B.refund_request(merchant, captured, rng)
        if refund is not None:
            days_later, refund_minor = refund
            self.refunds_due[self.day + days_later].append((mp, intent["id"], refund_minor))

    def _refunds(self, day: int) -> None:
        for mp, intent_id, amount in self.refunds_due.pop(day, []):
            done = self._attempt("refund", lambda tx, m=mp, i=intent_id, n=amount:
                                 self.payments.refund(tx, m, i, amount_minor=n,
                                                      reason="customer_return"))
            if done is not None:
                self.tally.refunds += 1
                self.tally.refunds_minor += amount

    def _expire(self) -> None:
        result = self.uow.run(lambda tx: self.payments.expire_due(tx))
        self.tally.intents_expired += result["intents_expired"]

    def _close_of_business(self, today: dt.date) -> None:
        from creditpay.credit.cob import run_close_of_business

        run_close_of_business(self.uow, today)

    # ------------------------------------------------------------------ figures
    def snapshot(self) -> dict[str, Any]:
        """The portfolio now: outstanding by product, delinquency by bucket, revenue."""
        from creditpay.credit.service import list_accounts

        outstanding: Counter[str] = Counter()
        accounts: Counter[str] = Counter()
        buckets: dict[str, list[int]] = {}
        written_off = 0
        with self.uow.connect() as conn:
            for agent in self.agents:
                if not agent.has_credit:
                    continue
                for view in list_accounts(conn, agent.customer_id):
                    product = {"line": "credit_line", "plan": "installment_plan"}.get(
                        view.kind, view.kind)
                    if view.status == "written_off":
                        written_off += 1
                        continue
                    if view.status != "active":
                        continue
                    accounts[product] += 1
                    outstanding[product] += view.principal_minor
                    if view.principal_minor > 0 or view.dpd > 0:
                        entry = buckets.setdefault(view.bucket, [0, 0])
                        entry[0] += 1
                        entry[1] += view.principal_minor
            revenue = self._platform_balances(conn)
        return {"day": self.day + 1, "date": self.clock.today().isoformat(),
                "outstanding_minor": dict(sorted(outstanding.items())),
                "open_accounts": dict(sorted(accounts.items())),
                "delinquency": {b: {"accounts": v[0], "principal_minor": v[1]}
                                for b, v in sorted(buckets.items())},
                "written_off_accounts": written_off, **revenue}

    def _platform_balances(self, conn: Any) -> dict[str, Any]:
        from creditpay.ledger.chart import platform_key
        from creditpay.ledger.service import get_account_by_key

        def balance(code: str) -> int:
            return int(get_account_by_key(conn, platform_key(code, CURRENCY)).balance_minor)

        return {"revenue_minor": {name: balance(code) for name, code in REVENUE_ACCOUNTS},
                "write_offs_minor": balance("write_off_expense")}

    def _complaint_figures(self, conn: Any) -> dict[str, Any]:
        from creditpay.compliance.complaints import complaint_stats

        stats = complaint_stats(conn, self.clock.now())
        return {"total": stats.total,
                "by_category": {k: v for k, v in stats.by_category.items() if v},
                "by_status": {k: v for k, v in stats.by_status.items() if v},
                "by_outcome": {k: v for k, v in stats.by_outcome.items() if v},
                "acknowledge_breached": stats.acknowledge_breached,
                "resolve_breached": stats.resolve_breached}

    def figures(self) -> dict[str, Any]:
        from creditpay.ledger.verify import verify_ledger

        t = self.tally
        last = self.series[-1] if self.series else self.snapshot()
        with self.uow.connect() as conn:
            verified = verify_ledger(conn)
            complaints = self._complaint_figures(conn)
            wallets = sum(self.payments.wallet_balance(conn, a.customer_id, CURRENCY)
                          ["balance_minor"] for a in self.agents)
        plans = sum(t.plans_by_periods.values())
        return {
            "customers": self.config.customers, "merchants": self.config.merchants,
            "days": self.config.days, "seed": self.config.seed,
            "start_date": dt.date.fromisoformat(self.config.start[:10]).isoformat(),
            "applications": t.applications, "approvals": t.approvals,
            "declines": t.applications - t.approvals,
            "approval_rate": round(t.approvals / t.applications, 4) if t.applications else 0.0,
            "approval_by_grade": {g: {"applications": v[0], "approved": v[1],
                                      "rate": round(v[1] / v[0], 4)}
                                  for g, v in sorted(t.by_grade.items())},
            "credit_lines": t.approvals, "credit_limit_granted_minor": t.limit_granted_minor,
            "installment_plans": plans,
            "installment_plans_by_periods": {str(k): v for k, v in
                                             sorted(t.plans_by_periods.items())},
            "purchases": dict(sorted(t.purchases.items())),
            "purchases_minor": dict(sorted(t.purchases_minor.items())),
            "purchases_credit_minor": t.purchases_minor["credit_line"]
            + t.purchases_minor["installment_plan"],
            "captured_minor": t.captures_minor, "canceled": t.cancels,
            "left_uncaptured": t.uncaptured, "intents_expired": t.intents_expired,
            "refunds": t.refunds, "refunds_minor": t.refunds_minor,
            "topups": t.topups, "topups_minor": t.topups_minor,
            "topups_failed": t.topups_failed,
            "repayments": t.repayments, "repayments_minor": t.repayments_minor,
            "missed_repayment_days": t.missed_repayment_days,
            "settlements": t.settlements, "settled_net_minor": t.settled_net_minor,
            "outstanding_by_product_minor": last["outstanding_minor"],
            "open_accounts_by_product": last["open_accounts"],
            "delinquency_by_bucket": last["delinquency"],
            "write_offs": {"accounts": last["written_off_accounts"],
                           "amount_minor": last["write_offs_minor"]},
            "revenue_by_source_minor": last["revenue_minor"],
            "complaints": complaints,
            "refused": dict(sorted(t.refused.items())),
            "balances": {"wallets_total": wallets},
            "transfers": verified.transfers, "ledger_ok": bool(verified.ok),
            "series": self.series,
        }


def run_economy(config: EconomyConfig) -> tuple[dict[str, Any], dict[str, float]]:
    """Set up, run every day, return (figures, seconds spent per phase)."""
    from rich.progress import Progress

    economy = Economy(config)
    started = time.perf_counter()
    try:
        with Progress(disable=not config.progress, transient=True) as bar:
            task = bar.add_task("setting up", total=config.days + 1)
            economy.setup()
            bar.advance(task)
            for day in range(config.days):
                bar.update(task, description=f"business day {day + 1}/{config.days}")
                economy.run_day()
                bar.advance(task)
        figures = economy.figures()
    finally:
        economy.close()
    timings = {k: round(v, 2) for k, v in sorted(economy.timings_s.items())}
    timings["total"] = round(time.perf_counter() - started, 2)
    return figures, timings
