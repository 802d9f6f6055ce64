"""The day loop of the simulated economy, driven through the real services.

Setup: an operator onboards the merchants with their discount rates; consumers register on
their phone, verify their identity (KYC) and link a card; the risk models and policies are
trained, registered and put in force the way ``creditpay risk bootstrap`` does; consumers who
want credit consent to the bureau inquiry and apply for a pay-later line through the API's own
use case (:func:`creditpay.risk.decisions.applications.apply_for_credit_line`: identity, one
line per customer, consents, decision, the line an approval opens, the audit record). Three
partner lenders are onboarded with funding arrangements on the plan and cash-loan products,
and some applicants also consent to share their payment data with them
(:mod:`creditpay.sim.partners`); plans and cash loans are then funded with partners by the
runtime's own routing, and the nightly batch settles the partners.

Each business day (business time from a :class:`~creditpay.clock.SimulatedClock`): yesterday
is settled to merchants (T+1), analysts work the fraud review queue, the day's credit
applications are decided, wallets are topped up through the card rail (callbacks delivered),
bills are repaid from the wallet when the consumer's latent creditworthiness says so, a few
consumers with a line take a cash loan (offers shown, one accepted with its key facts), then
the day's purchases and fraud attempts run in time order through payment intents confirmed
with balance, card, or an explicit credit offer (pay-later line or installment plan); every
confirm is screened for fraud (rules as data, streaming features), a challenge sends a
one-time code to the consumer's phone (the fraudster has none), a review waits for an
analyst. Merchants capture, cancel or forget; victims report fraud that got through a few
days later (a chargeback and a label for the fraud features), refunds come back, stale
intents expire, and the close of business runs at night. At the end of each day the
platform's early-warning job (run nightly with :data:`creditpay.sim.monitoring.SIM_MONITORS`)
stores the metrics and alerts the report shows.

Shocks (``shock="unemployment"``, ``fraud_ring=True``) start on ``shock_day``: a share of
the employed lose their income (they repay less, want more credit, and their new
applications say so), or a fraud ring takes over many accounts at once.

Nothing here writes a table: every change is a service call in a unit of work.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creditpay.sim import aftercare as AF
from creditpay.sim import behaviour as B
from creditpay.sim import behaviour_model as BM
from creditpay.sim import partners as SP
from creditpay.sim.fraud import Attack, FraudPlanner
from creditpay.sim.monitoring import (
    BAD_DPD,
    SIM_MONITORS,
    MonitorBoard,
    apr_band,
    vintage_curves,
)
from creditpay.sim.pnl import FUNDING_RATE_BPS_DEFAULT, LGD_BPS_DEFAULT
from creditpay.sim.population import Consumer, Merchant, Population, build_population
from creditpay.sim.travel import TRAVEL_CURRENCIES, Travel

if TYPE_CHECKING:
    from creditpay.db.uow import Tx
    from creditpay.risk.decisions.referrals import ReviewReferral

__all__ = ["EconomyConfig", "Economy", "run_economy", "CURRENCY", "LINE_PRODUCT", "SHOCKS",
           "SimPhone", "master_key_bytes"]

CURRENCY = "CNY"
LINE_PRODUCT = "paylater_m3"  # huabei's terms, written off at M3 (90 DPD)
# Mid-December: the first statement falls on 1 January, so a run of about four months
# reaches 90 days past due and write-off.
START = "2024-12-16T08:00:00+00:00"
SIM_PASSWORD = "simulated consumer password"  # nosec B105 - synthetic consumers only
SHOCKS = ("unemployment",)
FRAUD_RULES = Path(__file__).with_name("fraud_rules.json")
APPLY_AT_START_SHARE = 0.5  # of those who want credit, apply on day 0; the rest later
SECOND_DEVICE_SHARE = 0.2  # of a two-phone consumer's payments, made from the other phone
UNEMPLOYMENT_SHARE = 0.3  # of the employed, out of work from the shock day
ANALYST_ACCURACY = 0.9  # reviews that reach the right verdict
REPORT_DAYS = (1, 6)  # a victim reports a fraud that got through this many days later
PURCHASE_WINDOW_S = (9 * 3600, 21 * 3600)  # business hours of the day's payments
# The fraud model is trained on the platform's own labelled screenings (chargebacks, analyst
# verdicts, step-ups never completed), first after two weeks, then weekly; a row is used once
# its label had time to arrive.
FRAUD_TRAIN_FIRST_DAY = 14
FRAUD_TRAIN_EVERY_DAYS = 7
FRAUD_LABEL_WAIT_DAYS = REPORT_DAYS[1]
FRAUD_TRAIN_ROWS_MIN = 300
FRAUD_TRAIN_POSITIVES_MIN = 12
FRAUD_TRAIN_WINDOW_DAYS = 42  # the most recent six weeks of labelled screenings
FRAUD_TRAIN_ROUNDS = 100  # boosting rounds: retraining stays a small share of the run
# One LightGBM thread (as creditpay.risk.scoring.gbm below SINGLE_THREAD_ROWS_MAX): on a few
# thousand rows a second OpenMP worker saves little on a quiet machine, and on a busy one
# the two spin-wait on each other: 100 rounds on 9,000 rows took 8 to 30 s of wall time and
# 5 to 9 s of CPU with two threads, 0.9 to 4 s and 0.7 s with one (load average 5). With
# ``deterministic`` and ``force_row_wise`` the trees are the same either way; only the
# model text's parameter line, and so the model's version hash, says 1 instead of 2.
FRAUD_TRAIN_THREADS = 1
# A consumer with a line takes a cash loan (借呗) on a given day with this chance times their
# credit appetite; the amounts (minor units) they ask for, within their line's headroom.
CASH_LOAN_DAILY_RATE = 0.01
CASH_LOAN_AMOUNTS_MINOR = (100_000, 200_000, 300_000, 500_000, 800_000)
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
    # The application credit policy (a zen-engine decision document, as `creditpay policy`
    # takes); None: the bundled one. The strategy sandbox runs one population under several.
    policy_path: Path | None = None
    shock: str | None = None  # "unemployment", from shock_day on
    fraud_ring: bool = False  # a fraud ring from shock_day on
    shock_day: int | None = None  # None: half-way through the run
    fraud: bool = True  # fraud attacks (the handbook's scenarios) and screening at checkout
    # Payments abroad (sim/travel.py, issue #21): students and tourists paying foreign
    # merchants; off for a run that studies a domestic shock in isolation.
    travel: bool = True
    # Where to write the labelled applications (features as decided, and whether the
    # consumer went bad) for `creditpay model train`; None: not written.
    training_data_path: Path | None = None
    # After the last day: a payment intent of the first merchant, open at 09:00 of the next
    # business day, whose hosted checkout link the demo prints (figures["demo_checkout"]).
    demo_checkout: bool = False
    # Where the nightly seal writes audit checkpoints; None: the default for the database
    # (``creditpay.config.default_checkpoint_dir``).
    audit_checkpoint_dir: Path | None = None
    # The P&L (creditpay.sim.pnl): the platform's annual cost of the money it lends itself
    # (basis points a year, actual/365, on its own-funded outstanding principal each day), and
    # the loss given default applied to the expected loss on balances still outstanding at
    # the end (basis points of the exposure).
    funding_rate_bps: int = FUNDING_RATE_BPS_DEFAULT
    lgd_bps: int = LGD_BPS_DEFAULT

    def __post_init__(self) -> None:
        from creditpay.errors import ValidationError

        for name in ("funding_rate_bps", "lgd_bps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
                raise ValidationError("must be an integer 0..10000 (basis points)", field=name)
        if self.shock is not None and self.shock not in SHOCKS:
            raise ValidationError(f"must be one of {list(SHOCKS)}", field="shock")
        if self.shock_day is not None and not 0 <= self.shock_day < self.days:
            raise ValidationError(f"must be a day of the run, 0 to {self.days - 1}",
                                  field="shock_day")

    @property
    def shock_starts(self) -> int | None:
        """The day the shock (or the fraud ring) starts, or None without one."""
        if self.shock is None and not self.fraud_ring:
            return None
        return self.shock_day if self.shock_day is not None else self.days // 2


@dataclass
class Agent:
    """A consumer as the platform knows them (ids) plus the simulation's own state."""

    consumer: Consumer
    customer_id: str
    principal: Any
    card_id: str
    wallet_account_id: int
    apply_day: int | None = None  # None: does not apply for credit
    has_line: bool = False
    has_credit: bool = False  # has used credit, so may owe something
    complained: bool = False
    out_of_work: bool = False  # hit by the unemployment shock
    principals: dict[str, Any] = field(default_factory=dict)  # device id -> Principal


@dataclass
class Tally:
    applications: int = 0
    approvals: int = 0
    by_grade: dict[str, list[int]] = field(default_factory=dict)  # grade: [applied, approved]
    limit_granted_minor: int = 0
    referrals: Counter[str] = field(default_factory=Counter)  # referred, approved, declined
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
    applications_detail: list[dict[str, Any]] = field(default_factory=list)
    accepted_apr: dict[str, list[int]] = field(default_factory=dict)  # band: [count, minor]
    fraud: Counter[str] = field(default_factory=Counter)
    fraud_by_scenario: dict[str, Counter[str]] = field(default_factory=dict)
    fraud_daily: list[dict[str, Any]] = field(default_factory=list)
    today: Counter[str] = field(default_factory=Counter)  # reset each day
    reviews: Counter[str] = field(default_factory=Counter)
    collections: Counter[str] = field(default_factory=Counter)
    limit_changes: int = 0
    cash_loans: int = 0
    cash_loans_minor: int = 0
    partner_consents: int = 0  # consumers' consents to share data with a partner lender


def master_key_bytes(seed: int) -> bytes:
    """A run's master key, derived from its seed (the people are synthetic), so a run needs
    no key file and replays exactly. Every other key derives from it as in
    ``api.runtime.build_runtime``, so ``creditpay serve`` opens the run's database with it."""
    return hashlib.sha256(f"creditpay-sim/master/{seed}".encode()).digest()


class SimPhone:
    """The consumers' phones, as the platform's :class:`~creditpay.parties.notifier.Notifier`:
    a one-time code sent for a challenge or a registration lands here, where only the
    consumer reads it."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}  # challenge id -> code
        self.registration_codes: dict[str, str] = {}  # registration id -> code
        # (customer id, channel) of each "someone tried to register your phone" notice.
        self.registration_attempts: list[tuple[str, str]] = []

    def send_code(self, tx: Tx, *, customer_id: str, challenge_id: str, purpose: str,
                  code: str) -> None:
        self.codes[challenge_id] = code

    def send_registration_code(self, tx: Tx, *, registration_id: str, channel: str,
                               destination: str, code: str) -> None:
        self.registration_codes[registration_id] = code

    def notify_registration_attempt(self, tx: Tx, *, customer_id: str, channel: str) -> None:
        self.registration_attempts.append((customer_id, channel))


_SEVERITY = {"approve": 0, "challenge": 1, "review": 2, "decline": 3}


class _LoggingGateway:
    """The screening gateway, noting each payment's worst outcome for the day's figures."""

    def __init__(self, inner: Any, log: dict[str, str]) -> None:
        self.inner = inner
        self.log = log

    def screen_payment(self, tx: Any, event: Any) -> Any:
        decision = self.inner.screen_payment(tx, event)
        outcome = str(getattr(decision.outcome, "value", decision.outcome))
        before = self.log.get(event.intent_id, "approve")
        self.log[event.intent_id] = max(before, outcome, key=_SEVERITY.__getitem__)
        return decision


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
        self.travel = Travel(self)  # payments abroad (issue #21)
        self.population: Population = build_population(
            config.customers, config.merchants, config.seed, self.clock.today())
        self._merchant_weights = list(accumulate(m.popularity
                                                 for m in self.population.merchants))
        self.planner = FraudPlanner(config.seed)
        self.reviews_open: list[dict[str, Any]] = []  # payments waiting for an analyst
        self.fraud_reports_due: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.opened_on: dict[str, dt.date] = {}  # credit accounts that were ever drawn
        self.went_bad_on: dict[str, dt.date] = {}  # ... and the day they reached BAD_DPD
        self.bad_customers: set[str] = set()
        self.snapshot_dates: list[dt.date] = []
        self.first_past_due: dt.date | None = None  # the first day any account was past due
        self.attack_intents: set[str] = set()
        self._book: tuple[list[Any], list[Any]] = ([], [])  # the book at the last day's end
        # Each day's end: the book's outstanding principal and the platform's own-funded part
        # of it (minor units), for the funding cost and the net charge-off rate.
        self.outstanding_daily: list[int] = []
        self.own_outstanding_daily: list[int] = []
        # Every screening the platform made (intent id -> unix s, feature vector, score,
        # model generation), what it learned was fraud, and the models it trained.
        self.screenings: dict[str, tuple[int, Any, float, int]] = {}
        self.fraud_labels: set[str] = set()
        self.fraud_models: list[dict[str, Any]] = []
        if self.screening is not None:
            self.screening.recorder = self._keep_screening

    # ------------------------------------------------------------------ wiring
    def _build_runtime(self) -> None:
        """The services an API process holds, from the same bootstrap
        (:func:`creditpay.bootstrap.build_services`): only the simulated clock, the seed's
        master key, the consumers' phones, cheap password hashing and the sim's screening
        gateway differ, and nothing is read from the environment (a run replays exactly)."""
        from creditpay.bootstrap import ServiceOptions, build_services
        from creditpay.clock import SimulatedClock
        from creditpay.config import Settings
        from creditpay.parties.security import PasswordPolicy
        from creditpay.platform.keys import LocalMasterKey

        self.screen_log: dict[str, str] = {}  # today's screenings: intent id -> worst outcome
        url = self.config.database_url
        self.phone = SimPhone()
        self.screening = None
        risk = None
        if self.config.fraud:
            from creditpay.payments.fraud import FraudScreeningConfig, ScreeningRiskGateway

            self.screening = ScreeningRiskGateway.from_config(
                FraudScreeningConfig(rules_path=FRAUD_RULES))
            risk = _LoggingGateway(self.screening, self.screen_log)
        settings = Settings.of(database_url=url,
                               audit_checkpoint_dir=self.config.audit_checkpoint_dir)
        options = ServiceOptions(
            pool_size=2, durability=self.config.durability if url.startswith("sqlite")
            else "full", master_key=LocalMasterKey(master_key_bytes(self.config.seed)),
            # Cheapest argon2 parameters: the simulated consumers never log in.
            passwords=PasswordPolicy(time_cost=1, memory_cost_kib=1024), notifier=self.phone,
            rail_delay_s=0, risk=risk, currencies=(CURRENCY, *TRAVEL_CURRENCIES),
            # A run without fraud is a run without screening (said, not defaulted).
            fraud_screening=None if self.config.fraud else False)
        self.clock = SimulatedClock(self.config.start)
        self.services = build_services(settings, self.clock, options)
        self.services.start()  # first data key, platform accounts, audit checkpointer
        self.engine = self.services.engine
        self.uow = self.services.uow
        # The platform's nightly seal checkpoints the audit chain, as in production.
        self.audit_checkpointer = self.services.audit_checkpointer
        self.notes = self.services.notes  # the analysts' case notes, as in the API
        self.parties = self.services.parties
        self.payments = self.services.payments

    def close(self) -> None:
        if getattr(self, "aftercare", None) is not None:
            self.aftercare.close()  # its assistant process
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
        """Run one use case as the API would (effects of a refusal that must stay, like a
        recorded decline, commit); a domain refusal is counted and None returned."""
        from creditpay.errors import DomainError

        try:
            return self.uow.run_keeping_effects(use_case)
        except DomainError as exc:
            self._refused(label, exc)
            return None

    def _refused(self, label: str, exc: Exception) -> None:
        self.tally.refused[f"{label}:{getattr(exc, 'type_slug', type(exc).__name__)}"] += 1

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        # After-care actors (issue #20): the assistant trains in its own process meanwhile.
        self.aftercare = AF.Aftercare(self)
        self._timed("setup.models", self._bootstrap_risk)
        self._timed("setup.merchants", self._onboard_merchants)
        self._timed("setup.partners", self._onboard_partners)
        self._timed("setup.consumers", self._onboard_consumers)
        if self.config.travel:
            self._timed("setup.travel", self.travel.setup)
        self._bureau()

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
                    path = (self.config.policy_path
                            if kind == "application" and self.config.policy_path is not None
                            else bundled_policy_path(kind))
                    policy = load_policy_file(path)
                    activate_policy(tx, policy, actor=actor)
                    if kind == "application":
                        self.policy_hash = policy.content_hash

    def _onboard_merchants(self) -> None:
        from creditpay.parties.service import MERCHANT_SCOPES, Principal

        admin = self.uow.run(lambda tx: self.parties.create_operator(
            tx, name="simulation operator", role="admin"))
        self.operator = Principal("operator", admin["id"], role="admin")
        self.merchant_principals = []
        for merchant in self.population.merchants:
            def onboard(tx: Tx, m: Merchant = merchant) -> dict[str, Any]:
                return self.parties.onboard_merchant(tx, self.operator, name=m.name,
                                                     mcc=m.category.mcc,
                                                     discount_rate=m.category.discount_rate)

            view = self.uow.run(onboard)
            self.merchant_principals.append(Principal(
                "merchant", view["merchant"]["id"], scopes=frozenset(MERCHANT_SCOPES)))

    def _onboard_partners(self) -> None:
        """The operator onboards the partner lenders and sets the products' funding
        arrangements (:mod:`creditpay.sim.partners`), as ``creditpay partners`` does."""
        self.partners = SP.onboard_partners(self.uow, self.operator.id, self.services.catalogue,
                                            self.config.customers)
        # The catalogue carries the arrangements in force: the services route by them from
        # now on (as a serving process does once its catalogue is refreshed).
        self.services.refresh_catalogue(force=True)

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
                return Agent(c, view["id"], principal, linked["id"], wallet.id,
                             apply_day=self._apply_day(c))

            self.agents.append(self.uow.run(onboard))

    def _apply_day(self, c: Consumer) -> int | None:
        """Half of those who want credit apply on the first day, the rest spread over the
        run (so approvals, vintages and the approval-rate monitor have a daily flow)."""
        if not c.applies_for_credit:
            return None
        rng = random.Random(f"{self.config.seed}:apply:{c.index}")
        if rng.random() < APPLY_AT_START_SHARE or self.config.days == 1:
            return 0
        return rng.randrange(1, self.config.days)

    def _bureau(self) -> None:
        from creditpay.protection.consent import Purpose, consent_text
        from creditpay.risk.bureau import SimulatedBureau

        # The bureau reports what other lenders know, which the simulation drew for each
        # consumer (the same whatever random id the platform gave them).
        self.bureau = SimulatedBureau(self.config.seed, overrides={
            a.customer_id: a.consumer.bureau for a in self.agents})
        self.consent_texts = {p: consent_text(p, "zh-CN") for p in (
            Purpose.BUREAU_INQUIRY, Purpose.CREDIT_ASSESSMENT)}

    def _applications(self, rng: random.Random) -> None:
        """Today's applicants consent and apply through the very use case the API's
        application route runs (identity, one line, consents, decision, line, audit)."""
        from creditpay.errors import DomainError
        from creditpay.payments.history import customer_activity
        from creditpay.protection.consent import grant_consent
        from creditpay.risk.decisions.applications import (
            ApplyForCreditLine,
            apply_for_credit_line,
        )

        for agent in self.agents:
            if agent.apply_day != self.day:
                continue
            c = agent.consumer

            def apply(tx: Any, agent: Agent = agent, c: Consumer = c) -> Any:
                # The consents the app asks for before the application (as POST
                # /v1/me/consents would record them), then the application itself.
                for p, t in self.consent_texts.items():
                    grant_consent(tx, customer_id=agent.customer_id, purpose=p,
                                  language="zh-CN", text_version=t.version,
                                  text_sha256=t.sha256, channel="app")
                # Some also let the platform share their payment data with its partner
                # lenders; the others' credit stays the platform's own.
                if SP.consents_to_partners(self.config.seed, c.index):
                    self.tally.partner_consents += SP.grant_partner_consents(
                        tx, agent.customer_id, self.partners)
                return apply_for_credit_line(tx, ApplyForCreditLine(
                    application_id=f"sim-app-{c.index}", customer_id=agent.customer_id,
                    monthly_income_minor=c.monthly_income_minor,
                    employment_type=c.employment_type, housing=c.housing,
                    declared_monthly_obligations_minor=c.monthly_obligations_minor,
                    line_product_code=LINE_PRODUCT, currency=CURRENCY),
                    identities=self.parties, bureau=self.bureau,
                    open_line=self.services.origination.open_credit_line,
                    activity=customer_activity).decision

            try:
                decision = self.uow.run(apply)
            except DomainError as exc:  # as the API would refuse it (e.g. a line exists)
                self._refused("application", exc)
                continue
            if decision.outcome == "refer":
                self.tally.referrals["referred"] += 1
            approved = decision.outcome == "approve" and bool(decision.limit_minor)
            if not approved and B.complains(c, "credit_decision", rng):
                self._complain(agent, "credit_application", f"sim-app-{c.index}",
                               "credit_decision")
            t = self.tally
            t.applications += 1
            t.today["applications"] += 1
            t.applications_detail.append({"customer_id": agent.customer_id,
                                          "grade": decision.grade,
                                          "score": round(float(decision.score), 2),
                                          "approved": approved, "day": self.day,
                                          "date": self.clock.today().isoformat(),
                                          "features": dict(decision.features)})
            grade = t.by_grade.setdefault(decision.grade, [0, 0])
            grade[0] += 1
            if approved:
                grade[1] += 1
                t.approvals += 1
                t.today["approvals"] += 1
                t.limit_granted_minor += decision.limit_minor
                agent.has_line = True

    # ------------------------------------------------------------------ one day
    def run_day(self) -> None:
        day = self.day
        rng = random.Random(f"{self.config.seed}:day:{day}")
        today = self.clock.today()
        self.tally.today.clear()
        if day == self.config.shock_starts:
            self._start_shock(rng)
        self._at(8)
        if day > 0:
            self._timed("settle", lambda: self._settle(today - dt.timedelta(days=1)))
        self._at(8, 5)
        self._timed("collections", lambda: self._collections(today))
        self._at(8, 10)
        self._timed("reviews", lambda: self._work_reviews(rng))
        self._timed("fraud_model", self._retrain_fraud_model)
        self._at(8, 15)
        self._timed("referrals", self._work_referrals)
        self._at(8, 20)
        self._timed("applications", lambda: self._applications(rng))
        self._at(8, 30)
        self._timed("topups", lambda: self._top_ups(rng))
        self._at(8, 45)
        self._timed("repayments", lambda: self._repayments(rng))
        self._timed("cash_loans", self._cash_loans)
        self._timed("purchases", lambda: self._purchases(rng))
        self._at(21, 15)  # after the day's payments at home (which end at 21:00)
        if self.config.travel:
            self._timed("travel", lambda: self.travel.run_day(day))
        self._at(21, 30)
        self._timed("fraud_reports", lambda: self._fraud_reports(day))
        self._at(22)
        self._timed("complaints", lambda: self._handle_complaints(rng))
        self._at(22, 30)
        self._timed("refunds", lambda: self._refunds(day))
        self._at(22, 45)
        self._timed("aftercare", self.aftercare.run_day)
        self._at(23, 30)
        self._timed("expiry", self._expire)
        self._at(23, 50)
        self._timed("close_of_business", lambda: self._close_of_business(today))
        self._timed("monitoring", lambda: self._monitor(today))
        self._timed("funding_book", self._track_funding)
        every = self.config.snapshot_every_days or max(1, self.config.days // 30)
        if day % every == every - 1 or day == self.config.days - 1:
            self._timed("snapshots", lambda: self.series.append(self.snapshot()))
        self.clock.set((self.clock.now() + dt.timedelta(days=1)).replace(hour=7, minute=0))
        self.day += 1

    def _keep_screening(self, event: Any, result: Any) -> None:
        self.screenings[event.transaction_id] = (
            event.timestamp_s, result.feature_vector.astype("float32"), float(result.score),
            len(self.fraud_models))

    def _retrain_fraud_model(self) -> None:
        """Train LightGBM on the labelled screenings and put it in force next to the rules
        (a rule can still raise a decision above the model's)."""
        import numpy as np

        from creditpay.risk.fraud.model import train_model

        if self.screening is None:
            return
        day = self.day
        if day < FRAUD_TRAIN_FIRST_DAY or (day - FRAUD_TRAIN_FIRST_DAY) % FRAUD_TRAIN_EVERY_DAYS:
            return
        cutoff = int(self.clock.now().timestamp()) - FRAUD_LABEL_WAIT_DAYS * 86_400
        oldest = cutoff - FRAUD_TRAIN_WINDOW_DAYS * 86_400
        # In the order the payments happened (ids are random: sorting by them would make the
        # bagging of the training, and so the run, differ from one run to the next).
        ids = [i for i, row in self.screenings.items() if oldest < row[0] <= cutoff]
        y = np.array([i in self.fraud_labels for i in ids], dtype=np.int64)
        if len(ids) < FRAUD_TRAIN_ROWS_MIN or int(y.sum()) < FRAUD_TRAIN_POSITIVES_MIN:
            return
        x = np.stack([self.screenings[i][1] for i in ids]).astype(np.float64)
        config = self.screening.screener.model.feature_config
        model = train_model(x, y, config, num_boost_round=FRAUD_TRAIN_ROUNDS,
                            params={"num_threads": FRAUD_TRAIN_THREADS}, training_info={
            "source": "simulated economy", "business_date": self.clock.today().isoformat()})
        self.screening.swap_model(model)
        self.fraud_models.append({"version": model.version, "day": day,
                                  "date": self.clock.today().isoformat(), "rows": len(ids),
                                  "positives": int(y.sum())})

    def _fraud_model_figures(self) -> dict[str, Any]:
        """How the trained models did on the screenings they made (the truth is the
        simulation's): AUC ROC and average precision, against the rules alone before."""
        from sklearn.metrics import average_precision_score, roc_auc_score

        def scored(generation_ok: Callable[[int], bool]) -> dict[str, Any]:
            rows = [(row[2], i in self.attack_intents) for i, row in self.screenings.items()
                    if generation_ok(row[3])]
            frauds = sum(1 for _, is_fraud in rows if is_fraud)
            out: dict[str, Any] = {"screenings": len(rows), "frauds": frauds}
            if frauds and frauds < len(rows):
                scores, truth = [r[0] for r in rows], [r[1] for r in rows]
                out["auc_roc"] = round(float(roc_auc_score(truth, scores)), 4)
                out["average_precision"] = round(float(average_precision_score(truth, scores)),
                                                 4)
            return out

        return {"trained": self.fraud_models,
                "after_training": scored(lambda generation: generation > 0)}

    def _start_shock(self, rng: random.Random) -> None:
        """The shock day: the employed who lose their work, and/or the fraud ring."""
        if self.config.fraud_ring:
            self.planner.start_ring(self.day)
        if self.config.shock != "unemployment":
            return
        for agent in self.agents:
            c = agent.consumer
            if c.employment_type in ("salaried", "self_employed") \
                    and rng.random() < UNEMPLOYMENT_SHARE:
                agent.out_of_work = True
                agent.consumer = B.lose_work(c)

    def _complain(self, agent: Agent, subject_type: str, subject_id: str, category: str
                  ) -> None:
        """The consumer opens a complaint in the app (at most one each in this slice)."""
        from creditpay.protection.complaints import open_complaint

        if agent.complained:
            return
        from creditpay.payments.complaint_subjects import complaint_subjects

        complaint = self._attempt("complaint", lambda tx: open_complaint(
            tx, customer_id=agent.customer_id, subject_type=subject_type,
            subject_id=subject_id, category=category, channel="app",
            request_id=f"sim-cmp-{agent.consumer.index}",
            subjects=complaint_subjects(self.payments)))
        if complaint is not None:
            agent.complained = True
            self.complaints_open.append((complaint.id, self.day))

    def _handle_complaints(self, rng: random.Random) -> None:
        """Staff acknowledge the day's complaints and resolve those three days old."""
        from creditpay.protection.complaints import acknowledge_complaint, resolve_complaint

        staff = self.operator.id
        still_open = []
        for complaint_id, opened in self.complaints_open:
            def acknowledge(tx: Tx, c: str = complaint_id) -> Any:
                return acknowledge_complaint(tx, c, staff)

            self._attempt("complaint", acknowledge)
            if self.day - opened < 3:
                still_open.append((complaint_id, opened))
                continue
            outcome = B.complaint_outcome(rng)

            def resolve(tx: Tx, c: str = complaint_id, o: str = outcome) -> Any:
                return resolve_complaint(tx, c, staff, o)

            self._attempt("complaint", resolve)
        self.complaints_open = still_open

    def _settle(self, business_date: dt.date) -> None:
        for view in self.uow.run(lambda tx: self.payments.settle(tx, business_date)):
            if view["currency"] != CURRENCY:
                continue  # a foreign merchant's, in its currency (figures["cross_border"])
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
        # The top-up's status once the due callbacks are delivered: what its own callback
        # made it, else (not delivered now: a delayed card) as the wallet history shows it.
        status = self._deliver_rail_callbacks().get(view["id"])
        if status is None:
            with self.uow.connect() as conn:
                status = self.payments.history(conn, agent.customer_id, before_seq=None,
                                               limit=1)[0][0]["status"]
        if status == "succeeded":
            self.tally.topups += 1
            self.tally.topups_minor += amount_minor
        else:
            self.tally.topups_failed += 1

    def _deliver_rail_callbacks(self) -> dict[str, str]:
        """Deliver every due card rail callback, each in its own transaction (as the rail's
        HTTP callback is); returns the status each applied one gave its wallet operation,
        by the operation's id."""
        statuses: dict[str, str] = {}
        while True:
            with self.uow.connect() as conn:
                due = self.payments.rail.due_callbacks(conn, self.clock.now())
            for callback in due:
                def handle(tx: Tx, operation_id: str = callback["operation_id"]) -> Any:
                    return self.payments.handle_rail_callback(tx, operation_id)

                result = self.uow.run(handle)
                if result.get("applied") and "status" in result:
                    statuses[callback["reference"]] = result["status"]
            if len(due) < 100:
                return statuses

    def _wallets_available(self) -> dict[int, int]:
        """Every consumer's spendable wallet balance by ledger account id, in one read."""
        from creditpay.ledger.service import get_accounts

        with self.uow.connect() as conn:
            accounts = get_accounts(conn, [a.wallet_account_id for a in self.agents])
        return {account_id: account.available_minor for account_id, account in accounts.items()}

    def _top_ups(self, rng: random.Random) -> None:
        available = self._wallets_available()
        for agent in self.agents:
            amount = B.top_up_amount(agent.consumer, available.get(agent.wallet_account_id, 0),
                                     rng)
            if amount:
                self._top_up(agent, amount)

    def _bills_today(self) -> dict[str, tuple[int, bool]]:
        """customer id -> (billed and unpaid, any of it past due), for those who owe: what
        each owing account of the book takes to pay today, read in one go."""
        from creditpay.credit.bills import bills_owed

        bills: dict[str, tuple[int, bool]] = {}
        with self.uow.connect() as conn:
            owing = bills_owed(conn, CURRENCY)
        for account in owing:
            owed = account.owed_minor
            if account.kind != "line":
                # A repayment without a target pays interest and penalty accrued but not
                # yet posted only on the line (credit.repayments): a plan's or a cash
                # loan's accrual is paid once posted, so it is not part of today's bill.
                owed -= account.accrued_minor
            before, late = bills.get(account.customer_id, (0, False))
            bills[account.customer_id] = (before + owed, late or account.dpd > 0)
        return bills

    def _repayments(self, rng: random.Random) -> None:
        from creditpay.credit.self_service import RepayFromWallet, repay_from_wallet

        bills = self._bills_today()
        for agent in self.agents:
            owed, past_due = bills.get(agent.customer_id, (0, False))
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
            # The API's repayment use case (POST /v1/me/credit_repayments): what is due first.
            command = RepayFromWallet(
                customer_id=agent.customer_id,
                repayment_id=f"sim-rp-{self.day}-{agent.consumer.index}", currency=CURRENCY,
                amount_minor=amount)
            def repay(tx: Tx, command: RepayFromWallet = command) -> Any:
                return repay_from_wallet(tx, command, catalogue=self.services.catalogue)

            result = self._attempt("repayment", repay)
            if result is not None:
                self.tally.repayments += 1
                self.tally.repayments_minor += amount

    def _cash_loans(self) -> None:
        """A few consumers with a line borrow cash: offers shown, then one accepted with the
        hash of its key facts, through the use cases the app's cash-loan page runs
        (:mod:`creditpay.protection.cash_loans`) with the runtime's partner funding, as
        ``POST /v1/me/cash_loans`` passes it. Drawn from their own stream, so the rest of
        the day's draws are those of a run without cash loans."""
        from creditpay.protection.cash_loans import (
            ShowCashLoanOffers,
            TakeCashLoan,
            show_cash_loan_offers,
            take_cash_loan,
        )

        rng = random.Random(f"{self.config.seed}:cash:{self.day}")
        policy = self.payments.policy
        for agent in self.agents:
            if not agent.has_line or \
                    rng.random() >= CASH_LOAN_DAILY_RATE * agent.consumer.credit_appetite:
                continue
            amount = rng.choice(CASH_LOAN_AMOUNTS_MINOR)

            def offers(tx: Tx, a: Agent = agent, n: int = amount) -> Any:
                return show_cash_loan_offers(tx, ShowCashLoanOffers(
                    customer_id=a.customer_id, amount_minor=n, currency=CURRENCY,
                    language="zh-CN", ttl_s=policy.offer_ttl_s,
                    lender_name=policy.lender_name), catalogue=self.services.catalogue)

            shown = self._attempt("cash_loan_offers", offers)
            if shown is None or not shown.offers:
                continue
            # A term at random; for that term, the cheapest offer.
            periods = sorted({int(o["periods"]) for o, _ in shown.offers})
            wanted = periods[min(len(periods) - 1, int(rng.random() * len(periods)))]
            offer, sha256 = min(((o, h) for o, h in shown.offers
                                 if int(o["periods"]) == wanted),
                                key=lambda oh: (int(oh[0]["total_repayable_minor"]),
                                                oh[0]["product_code"]))
            loan_id = f"sim-loan-{self.day}-{agent.consumer.index}"

            def take(tx: Tx, a: Agent = agent, o: dict[str, Any] = offer, h: str = sha256,
                     i: str = loan_id) -> Any:
                return take_cash_loan(tx, TakeCashLoan(
                    customer_id=a.customer_id, offer_id=o["offer_id"], key_facts_sha256=h,
                    loan_id=i, lender_name=policy.lender_name),
                    check_affordability=self.services.origination.check_affordability,
                    catalogue=self.services.catalogue, funding=self.services.funding)

            taken = self._attempt("cash_loan", take)
            if taken is not None:
                agent.has_credit = True
                self.tally.cash_loans += 1
                self.tally.cash_loans_minor += int(offer["amount_minor"])

    def _principal(self, agent: Agent, device_id: str) -> Any:
        """The consumer (or whoever holds their credentials) signed in on ``device_id``."""
        from creditpay.parties.service import Principal

        principal = agent.principals.get(device_id)
        if principal is None:
            principal = agent.principals[device_id] = Principal(
                "customer", agent.customer_id, device_id=device_id)
        return principal

    def _purchases(self, rng: random.Random) -> None:
        """The day's payments and fraud attempts, each at its own time, in time order."""
        merchants = self.population.merchants
        start_s, end_s = PURCHASE_WINDOW_S
        events: list[tuple[int, int, Agent, Any, int, str, Attack | None]] = []
        legit_at_merchant: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for agent in self.agents:
            c = agent.consumer
            for _ in range(B.purchases_today(c, rng)):
                merchant = B.pick_merchant(merchants, self._merchant_weights, rng)
                second = rng.randint(start_s, end_s)
                device = (c.devices[-1] if len(c.devices) > 1
                          and rng.random() < SECOND_DEVICE_SHARE else c.devices[0])
                events.append((second, len(events), agent, merchant,
                               B.purchase_amount(c, merchant, rng), device, None))
                legit_at_merchant[merchant.index].append((c.index, second))
        if self.config.fraud:
            for planned in self.planner.plan_day(self.day, rng, self.population.consumers,
                                                 merchants, PURCHASE_WINDOW_S,
                                                 legit_at_merchant):
                events.append((planned.second_of_day, len(events),
                               self.agents[planned.victim_index],
                               merchants[planned.merchant_index], planned.amount_minor,
                               planned.device_id, planned))
        midnight = self.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        for second, seq, agent, merchant, amount, device, attack in sorted(
                events, key=lambda e: (e[0], e[1])):
            self.clock.set(max(self.clock.now(), midnight + dt.timedelta(seconds=second)))
            self._checkout(agent, merchant, amount, f"sim-{self.day}-{seq}", rng,
                           self._principal(agent, device), attack)
        self._close_fraud_day()

    def _close_fraud_day(self) -> None:
        """Today's screening outcomes, one per payment (a payment confirmed again after a
        code or a review is screened again; its worst outcome counts)."""
        t = self.tally
        log = self.screen_log
        flagged = [i for i, outcome in log.items() if outcome != "approve"]
        flagged_fraud = sum(1 for i in flagged if i in self.attack_intents)
        t.fraud["screened"] += len(log)
        t.fraud["flagged"] += len(flagged)
        t.fraud["flagged_fraud"] += flagged_fraud
        t.fraud["false_positives"] += len(flagged) - flagged_fraud
        # The monitored fraud rate counts what screening held or declined: challenges are
        # mostly honest consumers on a new phone, and their noise would hide an attack.
        t.today["screened"] = len(log)
        t.today["held"] = sum(1 for outcome in log.values() if outcome in ("review", "decline"))
        t.fraud_daily.append({
            "date": self.clock.today().isoformat(), "screened": len(log),
            "attempted": t.today["fraud_attempted"], "caught": t.today["fraud_caught"],
            "flagged": len(flagged), "flagged_fraud": flagged_fraud,
            "held": t.today["held"]})
        log.clear()

    def _checkout(self, agent: Agent, merchant: Any, amount: int, order_id: str,
                  rng: random.Random, principal: Any, attack: Attack | None) -> None:
        mp = self.merchant_principals[merchant.index]
        pay = self.payments
        intent = self._attempt("intent", lambda tx: pay.create_intent(
            tx, mp, amount_minor=amount, currency=CURRENCY, order_id=order_id,
            scenario=merchant.category.intent_scenario))
        if intent is None:
            return
        if attack is not None:
            self._count_fraud(attack, "attempted", amount)
            self.attack_intents.add(intent["id"])
        available = self._wallet_available(agent)
        choice = B.fallback_funding(amount, available)
        wants_credit = (B.attacker_wants_credit() if attack is not None
                        else B.wants_credit(agent.consumer, amount, available, rng))
        if agent.has_line and wants_credit:
            quote = self._attempt("offers", lambda tx: pay.quote_offers(
                tx, principal, intent["id"]))
            if quote is not None:
                choice = B.choose_funding(agent.consumer, amount, available, quote["offers"],
                                          rng)
        outcome = self._confirm(agent, principal, intent, choice, attack)
        if outcome == "refused" and choice.offer_id is not None:
            # Credit refused (exposure, limit): the payer pays another way.
            choice = B.fallback_funding(amount, available)
            outcome = self._confirm(agent, principal, intent, choice, attack)
        if outcome == "review":
            self.reviews_open.append({"agent": agent, "principal": principal,
                                      "intent": intent, "merchant": merchant,
                                      "choice": choice, "attack": attack,
                                      "amount": amount})
            return
        if outcome == "authorised":
            self._after_authorisation(agent, merchant, intent, choice, amount, attack, rng)
        elif attack is not None:
            # Stopped by the platform (declined, a code the attacker lacks), or failed on
            # its own (no money, card declined): only the first counts as caught.
            self._count_fraud(attack, "failed" if outcome == "refused" else "caught", amount)

    def _confirm(self, agent: Agent, principal: Any, intent: dict[str, Any],
                 choice: B.Choice, attack: Attack | None) -> str:
        """Confirm as a person at the checkout would: ``authorised``, ``review``,
        ``declined`` (by screening), ``abandoned`` (a code they could not give) or
        ``refused`` (anything else: card declined, credit unavailable)."""
        from creditpay.errors import DomainError
        from creditpay.parties.service import StepUpRequired
        from creditpay.payments.service import PaymentDeclinedError

        pay = self.payments
        label = f"confirm.{choice.funding}"

        def confirm(tx: Any, challenge_id: str | None = None, code: str | None = None) -> Any:
            card = agent.card_id if choice.funding == "card" else None
            if "qr_payload" in intent:  # offline: the payer scans the merchant's code
                return pay.pay_qr(tx, principal, qr_payload=intent["qr_payload"],
                                  funding=choice.funding, card_id=card,
                                  offer_id=choice.offer_id, step_up_challenge_id=challenge_id,
                                  step_up_code=code, key_facts_sha256=choice.key_facts_sha256)
            return pay.confirm(tx, principal, intent["id"], funding=choice.funding,
                               card_id=card, offer_id=choice.offer_id,
                               step_up_challenge_id=challenge_id, step_up_code=code,
                               key_facts_sha256=choice.key_facts_sha256,
                               quote_id=choice.quote_id)

        try:
            view = self.uow.run_keeping_effects(confirm)
        except StepUpRequired as exc:
            challenge_id = str(exc.extra.get("challenge_id"))
            code = self.phone.codes.pop(challenge_id, None)
            if attack is not None or code is None:
                # The attacker does not hold the victim's phone; a step-up never completed is
                # what the platform sees, and it takes it as a fraud label.
                self.fraud_labels.add(intent["id"])
                return "abandoned"
            try:
                view = self.uow.run_keeping_effects(
                    lambda tx: confirm(tx, challenge_id, code))
            except DomainError as again:
                self._refused(label, again)
                return "refused"
            self.tally.fraud["step_ups_passed"] += 1
        except PaymentDeclinedError as exc:
            if not exc.extra.get("reasons"):
                self._refused(label, exc)
                return "refused"
            return "declined"
        except DomainError as exc:
            self._refused(label, exc)
            return "refused"
        return "review" if view["status"] == "in_review" else "authorised"

    def _count_fraud(self, attack: Attack, what: str, amount_minor: int) -> None:
        t = self.tally
        t.fraud[what] += 1
        t.fraud[f"{what}_minor"] += amount_minor
        t.today[f"fraud_{what}"] += 1
        per = t.fraud_by_scenario.setdefault(attack.scenario, Counter())
        per[what] += 1
        per[f"{what}_minor"] += amount_minor

    def _after_authorisation(self, agent: Agent, merchant: Any, intent: dict[str, Any],
                             choice: B.Choice, amount: int, attack: Attack | None,
                             rng: random.Random) -> None:
        pay = self.payments
        mp = self.merchant_principals[merchant.index]
        t = self.tally
        t.purchases[choice.funding] += 1
        t.purchases_minor[choice.funding] += amount
        if choice.funding == "installment_plan" and choice.periods:
            t.plans_by_periods[choice.periods] += 1
        if choice.offer_id is not None:
            agent.has_credit = True
            if choice.all_in_percent is not None:
                band = t.accepted_apr.setdefault(apr_band(float(choice.all_in_percent)), [0, 0])
                band[0] += 1
                band[1] += amount
        captured = amount if attack is not None else B.merchant_capture(amount, rng)
        if captured is None:
            if self._attempt("cancel", lambda tx: pay.cancel(tx, mp, intent["id"])):
                t.cancels += 1
            return
        if captured == 0:
            t.uncaptured += 1
            return
        if self._attempt("capture", lambda tx: pay.capture(tx, mp, intent["id"],
                                                           amount_minor=captured)) is None:
            return
        t.captures_minor += captured
        if attack is not None:
            self._count_fraud(attack, "lost", captured)
            self.fraud_reports_due[self.day + rng.randint(*REPORT_DAYS)].append({
                "merchant_principal": mp, "intent_id": intent["id"], "amount": captured,
                "attack": attack, "agent": agent, "at": self.clock.now()})
            return
        refund = B.refund_request(merchant, captured, rng)
        if refund is not None:
            days_later, refund_minor = refund
            self.refunds_due[self.day + days_later].append((mp, intent["id"], refund_minor))

    def _work_referrals(self) -> None:
        """A risk analyst works the referred applications of earlier days, oldest first,
        through the risk domain's referral review: an approval opens the line in the same
        transaction, as the operator API does."""
        from creditpay.errors import DomainError
        from creditpay.risk.decisions import referrals

        with self.uow.connect() as conn:
            queue = referrals.list_referrals(conn, limit=referrals.REFERRALS_MAX)
        agents = {a.customer_id: a for a in self.agents}
        # The day's applications are decided at one simulated instant, so the queue's own
        # order within it is the random decision id's: work them in the applicants' order
        # instead, so the lines open in the same order (the same account numbers, the same
        # book order for the report's bootstraps) in every run of a seed.
        sequence = {a.customer_id: i for i, a in enumerate(self.agents)}
        queue.sort(key=lambda r: (r.decided_at, sequence[r.customer_id]))
        for referral in queue:
            verdict, limit_minor, reason = B.referral_verdict(
                referral.features, referral.offered_limit_minor or 0)

            command = referrals.ReviewReferral(
                decision_id=referral.decision_id, reviewer=self.operator, verdict=verdict,
                line_product_code=LINE_PRODUCT, limit_minor=limit_minor, reason_code=reason)

            def resolve(tx: Tx, command: ReviewReferral = command) -> Any:
                return referrals.review_referral(
                    tx, command, open_line=self.services.origination.open_credit_line).referral

            try:  # verdict and line together, or neither
                done = self.uow.run(resolve)
            except DomainError as exc:
                self._refused("referral", exc)
                continue
            t = self.tally
            t.referrals["approved" if verdict == "approve" else "declined"] += 1
            if verdict != "approve":
                continue
            agent = agents[referral.customer_id]
            agent.has_line = True
            t.approvals += 1
            t.limit_granted_minor += done.limit_minor
            t.by_grade.setdefault(referral.grade, [0, 0])[1] += 1
            for detail in t.applications_detail:
                if detail["customer_id"] == referral.customer_id:
                    detail["approved"] = True

    def _work_reviews(self, rng: random.Random) -> None:
        """An analyst works the fraud case queue, most urgent first: takes each case, judges
        it (right most of the time) and resolves it, which approves or declines the held
        payment; an approved payment is confirmed again by whoever started it."""
        from creditpay.risk.fraud import cases

        held = {item["intent"]["id"]: item for item in self.reviews_open}
        self.reviews_open = []
        queue: list[dict[str, Any]] = []
        cursor = None
        with self.uow.connect() as conn:
            while True:
                page, cursor = cases.list_queue(conn, limit=cases.QUEUE_LIMIT_MAX,
                                                cursor=cursor)
                queue += page
                if cursor is None:
                    break
        reviewer = cases.payment_reviewer(self.payments.review, self.operator)
        # Worked in the order the payments were held: the queue's own order breaks ties by
        # random case ids, which would make the analyst's draws differ between runs.
        by_subject = {case["subject_id"]: case for case in queue}
        for intent_id in list(held):
            case = by_subject.get(intent_id)
            if case is None:
                continue  # its case is not open yet (cannot happen: opened with the hold)
            item = held.pop(intent_id)
            attack = item["attack"]
            right = rng.random() < ANALYST_ACCURACY
            approve = (attack is None) == right
            self.tally.reviews["approved" if approve else "rejected"] += 1
            if not approve:
                self.fraud_labels.add(item["intent"]["id"])  # the analyst's verdict
            def review(tx: Tx, case_id: str = case["id"], a: bool = approve) -> Any:
                cases.assign(tx, case_id, self.operator.id)
                return cases.resolve(tx, case_id, self.operator.id,
                                     "legitimate" if a else "fraud",
                                     "simulated analyst verdict", review_payment=reviewer,
                                     notes=self.notes)

            done = self._attempt("review", review)
            if done is None or not approve:
                if attack is not None:
                    self._count_fraud(attack, "caught", item["amount"])
                continue
            choice = B.fallback_funding(item["amount"],
                                        self._wallet_available(item["agent"]))
            if item["choice"].offer_id is None:
                choice = item["choice"]
            outcome = self._confirm(item["agent"], item["principal"], item["intent"], choice,
                                    attack)
            if outcome == "authorised":
                self._after_authorisation(item["agent"], item["merchant"], item["intent"],
                                          choice, item["amount"], attack, rng)
            elif attack is not None:
                self._count_fraud(attack, "caught", item["amount"])
        self.reviews_open = list(held.values())

    def _fraud_reports(self, day: int) -> None:
        """Victims report the frauds that got through: the merchant refunds them (a
        chargeback) and the screening learns the label (merchant and terminal risk)."""
        from creditpay.risk.fraud import cases
        from creditpay.risk.fraud.features import FraudLabel

        for report in self.fraud_reports_due.pop(day, []):
            def charge_back(tx: Tx, r: dict[str, Any] = report) -> Any:
                return self.payments.refund(tx, r["merchant_principal"], r["intent_id"],
                                            amount_minor=r["amount"], reason="fraud_chargeback")

            def ingest(tx: Tx, r: dict[str, Any] = report) -> Any:
                a: Attack = r["attack"]
                return cases.ingest_chargeback(
                    tx, chargeback_id=f"cb-{r['intent_id']}", subject_id=r["intent_id"],
                    customer_id=r["agent"].customer_id,
                    merchant_id=self.merchant_principals[a.merchant_index].id,
                    transaction_at=r["at"], amount_minor=r["amount"], currency=CURRENCY,
                    reason_code="fraud", device_id=a.device_id, recorded_by=self.operator.id)

            done = self._attempt("chargeback", charge_back)
            self.fraud_labels.add(report["intent_id"])
            self._attempt("chargeback", ingest)
            if done is not None:
                self.tally.fraud["charged_back"] += 1
                self.tally.fraud["charged_back_minor"] += report["amount"]
            if self.screening is not None:
                attack = report["attack"]
                label = FraudLabel(
                    transaction_timestamp_s=int(report["at"].timestamp()),
                    label_timestamp_s=int(self.clock.now().timestamp()), is_fraud=True,
                    customer_id=report["agent"].customer_id,
                    merchant_id=self.merchant_principals[attack.merchant_index].id,
                    device_id=attack.device_id)
                def record(tx: Tx, lb: FraudLabel = label,
                           gateway: Any = self.screening) -> bool:
                    return bool(gateway.record_label(tx, lb))

                self.services.uow.run(record)

    def _refunds(self, day: int) -> None:
        for mp, intent_id, amount in self.refunds_due.pop(day, []):
            def refund(tx: Tx, m: Any = mp, i: str = intent_id, n: int = amount) -> Any:
                return self.payments.refund(tx, m, i, amount_minor=n, reason="customer_return")

            done = self._attempt("refund", refund)
            if done is not None:
                self.tally.refunds += 1
                self.tally.refunds_minor += amount

    def _expire(self) -> None:
        result = self.uow.run(lambda tx: self.payments.expire_due(tx))
        self.tally.intents_expired += result["intents_expired"]

    def _close_of_business(self, today: dt.date) -> None:
        from creditpay.nightly import run_nightly

        # The platform's early-warning job runs in the night with the sim's monitors; its
        # stored metrics and alerts are what the report shows (MonitorBoard.load).
        report = run_nightly(self.uow, today, early_warning_monitors=SIM_MONITORS,
                             audit_checkpointer=self.audit_checkpointer,
                             catalogue=self.services.catalogue,
                             fx_config=self.services.fx_config,
                             fx_rate_source=self.services.fx_rate_source)
        if report.limit_review and report.limit_review["applied"]:
            self.tally.limit_changes += report.limit_review["applied"]
        self.behaviour_model = BM.retrain_when_due(
            self.uow, today, dt.date.fromisoformat(self.config.start[:10]),
            getattr(self, "behaviour_model", None))

    def _collections(self, today: dt.date) -> None:
        """The collections team's day: reminders before due dates, actions on the overdue,
        every contact through the contact rules."""
        from creditpay.credit.collections import PartiesDirectory
        from creditpay.protection.collections_rules import run_collections

        # The runtime's parties service, as the API holds it: without one the run builds its
        # own each day, and a new Parties hashes a dummy password with the production
        # argon2 parameters (19 MiB) for its login timing, for reads that need no keys.
        report = run_collections(self.uow, today, currency=CURRENCY,
                                 directory=PartiesDirectory(self.parties))
        t = self.tally
        t.collections["contacts_sent"] += report.contacts_sent
        t.collections["reminders_sent"] += report.reminders_sent
        t.collections["cases_opened"] += report.cases_opened
        t.collections["handed_over"] += report.handed_over
        t.collections["settlement_offers"] += report.settlement_offers
        for rule, count in report.refused_by_rule.items():
            t.collections[f"refused:{rule}"] += count

    # ------------------------------------------------------------------ figures
    def _monitor(self, today: dt.date) -> None:
        """End of day: read the book once, track vintages and bad accounts (the
        early-warning metrics were computed by the nightly job)."""
        from creditpay.credit.service import portfolio

        with self.uow.connect() as conn:
            self._book = portfolio(conn, CURRENCY)
        accounts, _ = self._book
        for account in accounts:
            if account.status == "written_off" or account.dpd >= BAD_DPD:
                self.went_bad_on.setdefault(account.account_id, today)
                self.bad_customers.add(account.customer_id)
            if account.status == "active" and (account.principal_minor > 0 or account.dpd > 0):
                self.opened_on.setdefault(account.account_id, account.opened_on)
            if account.dpd > 0 and self.first_past_due is None:
                self.first_past_due = today
        self.snapshot_dates.append(today)

    def snapshot(self) -> dict[str, Any]:
        """The portfolio now: outstanding by product, delinquency by bucket, revenue."""
        outstanding: Counter[str] = Counter()
        open_accounts: Counter[str] = Counter()
        buckets: dict[str, list[int]] = {}
        written_off = 0
        accounts, _ = self._book
        for account in accounts:
            product = {"line": "credit_line", "plan": "installment_plan",
                       "loan": "cash_loan"}.get(account.kind, account.kind)
            if account.status == "written_off":
                written_off += 1
                continue
            if account.status != "active":
                continue
            open_accounts[product] += 1
            outstanding[product] += account.principal_minor
            if account.principal_minor > 0 or account.dpd > 0:
                entry = buckets.setdefault(account.bucket, [0, 0])
                entry[0] += 1
                entry[1] += account.principal_minor
        with self.uow.connect() as conn:
            revenue = self._platform_balances(conn)
        return {"day": self.day + 1, "date": self.clock.today().isoformat(),
                "outstanding_minor": dict(sorted(outstanding.items())),
                "open_accounts": dict(sorted(open_accounts.items())),
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
        from creditpay.protection.complaints import complaint_stats

        stats = complaint_stats(conn, self.clock.now())
        return {"total": stats.total,
                "by_category": {k: v for k, v in stats.by_category.items() if v},
                "by_status": {k: v for k, v in stats.by_status.items() if v},
                "by_outcome": {k: v for k, v in stats.by_outcome.items() if v},
                "acknowledge_breached": stats.acknowledge_breached,
                "resolve_breached": stats.resolve_breached}

    def _track_funding(self) -> None:
        """End of day, after the nightly batch followed the credit journal for partners: the
        book's outstanding principal (active accounts, as ``outstanding_by_product_minor``)
        and the platform's own-funded part of it (the rest is partner lenders')."""
        from creditpay.credit.funding import partners_report

        accounts, _ = self._book
        total = sum(a.principal_minor for a in accounts if a.status == "active")
        with self.uow.connect() as conn:
            partners = sum(int(p["outstanding_minor"])
                           for p in partners_report(conn)["partners"])
        self.outstanding_daily.append(total)
        self.own_outstanding_daily.append(total - partners)

    def _pnl_figures(self) -> dict[str, Any]:
        """The platform's P&L over the run (creditpay.sim.pnl; docs/simulator.md, "P&L"):
        the ledger's income, contra-income, write-off and recovery accounts (all opened at
        zero when the run starts, so their balances are their movement over the run), the
        funding cost of the daily own-funded principal, and the fraud not charged back."""
        from creditpay.credit.funding import follow_ledger
        from creditpay.ledger.chart import platform_key
        from creditpay.ledger.service import get_account_by_key
        from creditpay.sim import pnl

        # The partners' parts of the last flows (normally followed by the last nightly).
        self.uow.run(follow_ledger)
        with self.uow.connect() as conn:
            def balance(code: str) -> int:
                return int(get_account_by_key(conn, platform_key(code, CURRENCY)).balance_minor)

            income = {name: balance(code) for name, code in REVENUE_ACCOUNTS
                      if name != "recoveries"}
            ledger = {code: balance(code) for code in (
                "partner_income_share", "write_off_expense", "partner_loss_share",
                "recovery_income")}
        fraud = self.tally.fraud
        funding = pnl.funding_cost_minor(self.own_outstanding_daily,
                                         self.config.funding_rate_bps)
        out = pnl.platform_pnl(
            income_by_source_minor=income,
            partner_income_share_minor=ledger["partner_income_share"],
            write_offs_minor=ledger["write_off_expense"],
            partner_loss_share_minor=ledger["partner_loss_share"],
            recoveries_minor=ledger["recovery_income"], funding_cost_minor=funding,
            fraud_lost_minor=int(fraud["lost_minor"]),
            fraud_charged_back_minor=int(fraud["charged_back_minor"]))
        return {**out, "funding_rate_bps": self.config.funding_rate_bps,
                "own_funded_principal_days_minor": sum(self.own_outstanding_daily),
                "days": len(self.own_outstanding_daily)}

    def _receivables_figures(self, pnl_figures: dict[str, Any]) -> dict[str, Any]:
        """The 30+ DPD share of receivables (principal of active accounts 30 or more days
        past due / principal of all active accounts, at the end of the run) and the
        annualised net charge-off rate of the whole book (partner-funded parts included):
        (write-offs − recoveries) / average daily outstanding principal × 365 / days."""
        from creditpay.sim import pnl

        accounts, _ = self._book
        active = [a for a in accounts if a.status == "active"]
        receivables = sum(a.principal_minor for a in active)
        dpd30 = sum(a.principal_minor for a in active if a.dpd >= pnl.DPD30_MIN)
        net = pnl_figures["write_offs_minor"] - pnl_figures["recoveries_minor"]
        nco = pnl.net_charge_off_rate(net, self.outstanding_daily)
        return {"dpd30_share_of_receivables": pnl.share_of(dpd30, receivables),
                "dpd30_principal_minor": dpd30, "receivables_principal_minor": receivables,
                "net_charge_off_rate_annualised": nco["rate"],
                "net_charge_offs": {"net_charge_offs_minor": nco["net_charge_offs_minor"],
                                    "average_outstanding_minor":
                                        nco["average_outstanding_minor"],
                                    "days": nco["days"], "annualised": True}}

    def _expected_loss_figures(self) -> dict[str, Any]:
        """Expected loss on the balances still outstanding at the end: Σ PD × LGD × the
        platform's own-funded outstanding principal of each active account, rounded once.
        PD: 1 for an account already bad (``BAD_DPD`` or more days past due), else the PD of
        the customer's latest credit decision (the application scorecard's, as the platform
        stored it, whether approved outright or referred and approved on review; none stored
        counts as 1). Partners' parts are theirs to lose
        (their first-loss guarantee is not in it)."""
        from decimal import Decimal

        from creditpay.credit.funding import loan_funders
        from creditpay.credit.funding_core import PLATFORM
        from creditpay.sim import pnl

        accounts, _ = self._book
        pds: dict[str, Decimal | None] = {}
        own: list[tuple[int, Decimal]] = []
        book: list[tuple[int, Decimal]] = []
        already_bad = without_pd = 0
        with self.uow.connect() as conn:
            for a in accounts:
                if a.status != "active" or a.principal_minor <= 0:
                    continue
                if a.dpd >= BAD_DPD:
                    pd, already_bad = Decimal(1), already_bad + 1
                else:
                    if a.customer_id not in pds:
                        pds[a.customer_id] = _latest_pd(conn, a.customer_id)
                    found = pds[a.customer_id]
                    pd = Decimal(1) if found is None else found
                    without_pd += found is None
                partners = sum(int(f["outstanding_minor"]) for f in loan_funders(
                    conn, a.account_id) if f["funder_id"] != PLATFORM) \
                    if a.kind in ("plan", "loan") else 0
                book.append((a.principal_minor, pd))
                own.append((a.principal_minor - partners, pd))
        lgd = Decimal(self.config.lgd_bps) / 10_000
        return {"expected_loss_minor": pnl.expected_loss_minor(own, lgd),
                "exposure_minor": sum(e for e, _ in own),
                "book_expected_loss_minor": pnl.expected_loss_minor(book, lgd),
                "book_exposure_minor": sum(e for e, _ in book), "lgd_bps": self.config.lgd_bps,
                "accounts": len(own), "accounts_already_bad": already_bad,
                "accounts_without_pd": without_pd,
                "pd_source": "the customer's latest credit decision (application "
                             f"scorecard); 1 when {BAD_DPD}+ DPD"}

    def figures(self) -> dict[str, Any]:
        from creditpay.ledger.service import get_accounts
        from creditpay.ledger.verify import verify_ledger

        t = self.tally
        last = self.series[-1] if self.series else self.snapshot()
        with self.uow.connect() as conn:
            verified = verify_ledger(conn)
            complaints = self._complaint_figures(conn)
            demo_login = self._demo_login(conn)
            board = MonitorBoard.load(conn, self.snapshot_dates)
            wallets = sum(account.balance_minor for account in get_accounts(
                conn, [a.wallet_account_id for a in self.agents]).values())
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
            "referrals": {k: t.referrals[k] for k in ("referred", "approved", "declined")},
            "installment_plans": plans,
            "installment_plans_by_periods": {str(k): v for k, v in
                                             sorted(t.plans_by_periods.items())},
            "cash_loans": t.cash_loans, "cash_loans_minor": t.cash_loans_minor,
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
            "applications_detail": [
                {"grade": a["grade"], "score": a["score"], "approved": a["approved"],
                 "bad": (a["customer_id"] in self.bad_customers) if a["approved"] else None}
                for a in t.applications_detail],
            "vintage_curves": vintage_curves(self.opened_on, self.went_bad_on,
                                             self.snapshot_dates),
            "roll_rates": board.roll_rates(),
            **self._book_chart_figures(),
            "daily_metrics": board.daily_metrics(),
            "alerts": board.alert_records(),
            "fraud": self._fraud_figures(),
            "fraud_daily": t.fraud_daily,
            "apr_distribution": [{"band": band, "count": v[0], "amount_minor": v[1]}
                                 for band, v in sorted(t.accepted_apr.items(),
                                                       key=lambda kv: _band_order(kv[0]))],
            "analyst_reviews": dict(sorted(t.reviews.items())),
            "fraud_case_queue": self._case_queue_figures(),
            "credit_model_on_run": self._credit_model_figures(),
            "collections": dict(sorted(t.collections.items())),
            "limit_review_changes": t.limit_changes,
            **BM.figures(self.uow, getattr(self, "behaviour_model", None), self.config.days),
            "shock": self._shock_figures(),
            "policy": {"path": str(self.config.policy_path) if self.config.policy_path
                       else None, "hash": self.policy_hash},
            "demo_login": demo_login,
            "partner_consents": t.partner_consents,
            "partners": SP.partner_figures(self.uow),
            **self._risk_manager_figures(),
            **self.aftercare.figures(),
            "cross_border": self.travel.figures(
                dt.date.fromisoformat(self.config.start[:10]), self.clock.today()),
        }

    def _risk_manager_figures(self) -> dict[str, Any]:
        """The P&L, the 30+ DPD share of receivables, the net charge-off rate and the
        expected loss on what is still outstanding (issue #18)."""
        pnl_figures = self._pnl_figures()
        return {"pnl": pnl_figures, **self._receivables_figures(pnl_figures),
                "expected_loss_at_end": self._expected_loss_figures()}

    def open_demo_checkout(self) -> dict[str, Any]:
        """A purchase waiting at the first merchant, for the hosted checkout on the demo's
        data: a payment intent created at 09:00 of the next business day, which is where
        ``creditpay serve --business-date db`` starts the served clock, so the link is open
        for the first 30 minutes of a served session (the link's lifetime). Returns the
        page's path (its token is random: not part of the reproducible figures) and the
        merchant's id (for a merchant dashboard user: ``creditpay merchant-user-create``)."""
        from creditpay.credit.cob import next_business_date

        with self.uow.connect() as conn:
            day = next_business_date(conn) or self.clock.today() + dt.timedelta(days=1)
        self.clock.set(dt.datetime(day.year, day.month, day.day, 9, tzinfo=dt.UTC))
        merchant = self.population.merchants[0]
        principal = self.merchant_principals[merchant.index]
        amount = DEMO_CHECKOUT_AMOUNT_MINOR
        intent = self.uow.run(lambda tx: self.payments.create_intent(
            tx, principal, amount_minor=amount, currency=CURRENCY,
            order_id="demo-hosted-checkout", description="demo purchase",
            scenario=merchant.category.intent_scenario))
        with self.uow.connect() as conn:
            path = self.payments.intents.checkout_path(conn, principal, intent["id"],
                                                       self.clock.now())
        return {"path": path, "intent_id": intent["id"], "amount_minor": amount,
                "business_date": day.isoformat(), "merchant_id": principal.id}

    def _demo_login(self, conn: Any) -> dict[str, Any] | None:
        """A simulated consumer to log in as in the apps (development data only): the first
        with an open installment plan, else the first with a credit line; their phone and
        the password every simulated consumer registered with."""
        from creditpay.credit.service import list_accounts

        with_line = None
        for agent in self.agents:
            if not agent.has_line:
                continue
            kinds = {v.kind for v in list_accounts(conn, agent.customer_id)
                     if v.status == "active"}
            # No customer id: ids are random, and the same seed gives the same figures.
            found = {"phone": agent.consumer.phone, "password": SIM_PASSWORD,
                     "has_plan": "plan" in kinds}
            if "plan" in kinds:
                return found
            with_line = with_line or found
        return with_line

    def _credit_model_figures(self) -> dict[str, Any]:
        """How the application score ranked the approved consumers who later went bad
        (30+ days past due or written off), overall and by month of application: the model
        was trained before the run, so every vintage here is out of time for it."""
        from sklearn.metrics import roc_auc_score

        def auc(rows: list[dict[str, Any]]) -> dict[str, Any]:
            bad = [a["customer_id"] in self.bad_customers for a in rows]
            out: dict[str, Any] = {"approved": len(rows), "bad": sum(bad)}
            if 0 < sum(bad) < len(rows):  # a higher score means a better risk
                out["auc_roc"] = round(float(roc_auc_score(bad, [-a["score"] for a in rows])),
                                       4)
            return out

        approved = [a for a in self.tally.applications_detail if a["approved"]]
        by_vintage: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for a in approved:
            by_vintage[a["date"][:7]].append(a)
        return {**auc(approved),
                "by_vintage": {month: auc(rows) for month, rows in sorted(by_vintage.items())},
                "matured": self._matured_model_figures(approved)}

    def _went_bad_by_customer(self) -> dict[str, list[dt.date]]:
        """The days each customer's accounts went bad: any of their accounts (line draws,
        plans, loans) counts for the customer's application."""
        owner = {account.account_id: account.customer_id for account in self._book[0]}
        went_bad: dict[str, list[dt.date]] = defaultdict(list)
        for account_id, day in self.went_bad_on.items():
            went_bad[owner.get(account_id, "")].append(day)
        return went_bad

    def _matured_model_figures(self, approved: list[dict[str, Any]]) -> dict[str, Any]:
        """The same ranking on matured labels only (creditpay.sim.labels: bad within the
        performance window, window over by the run's end), with a bootstrap 95 % interval:
        the figure above mixes consumers watched for months with some watched for days."""
        from creditpay.risk.scoring.metrics import bootstrap_intervals
        from creditpay.sim.labels import PERFORMANCE_WINDOW_DAYS, application_label

        went_bad = self._went_bad_by_customer()
        observed_until = self.snapshot_dates[-1] if self.snapshot_dates else None
        labelled = []
        for a in approved:
            _, bad = application_label(dt.date.fromisoformat(a["date"]), True,
                                       went_bad.get(a["customer_id"], ()), observed_until)
            if bad is not None:
                labelled.append((bad, -float(a["score"])))  # higher score, better risk
        bads = sum(bad for bad, _ in labelled)
        out: dict[str, Any] = {"window_days": PERFORMANCE_WINDOW_DAYS,
                               "labelled": len(labelled), "bad": bads}
        if 0 < bads < len(labelled):
            intervals = bootstrap_intervals([b for b, _ in labelled], [r for _, r in labelled],
                                            seed=self.config.seed)
            out["auc_roc"] = round(float(intervals["auc"]["estimate"]), 4)
            out["auc_ci95"] = [round(float(intervals["auc"]["low"]), 4),
                               round(float(intervals["auc"]["high"]), 4)]
        return out

    def write_training_data(self, path: Path) -> dict[str, int]:
        """The run's applications as a CSV (one row each: month, grade, score, approved,
        bad, label_status, date, and every feature as decided); no identifier of the person.
        ``bad`` is filled only when the performance window has matured
        (:func:`creditpay.sim.labels.application_label`); ``label_status`` says good, bad,
        declined or unmatured. Returns the number of rows by ``label_status``."""
        import csv

        from creditpay.sim.labels import LABEL_STATUSES, application_label

        rows = self.tally.applications_detail
        names = sorted({name for a in rows for name in a["features"]})
        went_bad = self._went_bad_by_customer()
        observed_until = self.snapshot_dates[-1] if self.snapshot_dates else None
        counts = dict.fromkeys(LABEL_STATUSES, 0)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["application_month", "grade", "score", "approved", "bad",
                             "label_status", "application_date", *names])
            for a in rows:
                status, bad = application_label(
                    dt.date.fromisoformat(a["date"]), a["approved"],
                    went_bad.get(a["customer_id"], ()), observed_until)
                counts[status] += 1
                writer.writerow([a["date"][:7], a["grade"], a["score"], int(a["approved"]),
                                 "" if bad is None else bad, status, a["date"],
                                 *(a["features"].get(n, "") for n in names)])
        return counts

    def _fraud_figures(self) -> dict[str, Any]:
        f = self.tally.fraud
        keys = ("screened", "flagged", "flagged_fraud", "false_positives", "step_ups_passed",
                "attempted", "attempted_minor", "caught", "caught_minor", "failed",
                "failed_minor", "lost", "lost_minor", "charged_back", "charged_back_minor")
        return {**{k: f[k] for k in keys}, "model": self._fraud_model_figures(),
                "by_scenario": {name: {k: per[k] for k in (
                    "attempted", "caught", "failed", "lost", "attempted_minor", "lost_minor")}
                    for name, per in sorted(self.tally.fraud_by_scenario.items())}}

    def _case_queue_figures(self) -> dict[str, Any]:
        """Case management as the platform reports it: precision of the queue (share of
        resolved cases judged fraud) and SLA breaches over the run."""
        from creditpay.risk.fraud import cases

        since = dt.datetime.fromisoformat(self.config.start)
        with self.uow.connect() as conn:
            report = cases.queue_report(conn, now=self.clock.now(), since=since)
        return json.loads(json.dumps(report, default=str))

    def _shock_figures(self) -> dict[str, Any] | None:
        day = self.config.shock_starts
        if day is None:
            return None
        start = dt.date.fromisoformat(self.config.start[:10])
        kinds = [k for k in (self.config.shock,
                             "fraud_ring" if self.config.fraud_ring else None) if k]
        return {"kind": "+".join(kinds), "day": day,
                "date": (start + dt.timedelta(days=day)).isoformat(),
                "out_of_work": sum(1 for a in self.agents if a.out_of_work)}


    def _book_chart_figures(self) -> dict[str, Any]:
        """The report's book charts from the platform's records (creditpay.sim.book_charts):
        ``roll_rate_matrix`` from the month-end cells the nightly batch recorded,
        ``vintage_balance_curves`` from the stored day-end positions at each month end of
        the run and its last day, and ``warnings`` for the charts the run is too short for."""
        from creditpay.credit.bureau_source import month_end_accounts
        from creditpay.credit.portfolio_queries import (
            is_month_end,
            lent_by_line,
            month_end_cells,
        )
        from creditpay.sim import book_charts as BC

        if not self.snapshot_dates:
            return {"roll_rate_matrix": [], "vintage_balance_curves": [], "warnings": [],
                    "chart_rules": {}, "horizon": None}
        start, end = self.snapshot_dates[0], self.snapshot_dates[-1]
        days = sorted({d for d in self.snapshot_dates if is_month_end(d)} | {end})
        observations: dict[dt.date, list[BC.AccountAt]] = {}
        with self.uow.connect() as conn:
            cells = month_end_cells(conn, currency=CURRENCY, month_from=start, month_to=end)
            for day in days:
                # A line's principal lent (its account's original principal is 0): its draws
                # less refunds and conversions into plans, as the console's vintages count it.
                drawn = lent_by_line(conn, day)
                observations[day] = [BC.AccountAt(
                    a.account_id, f"{a.opened_on:%Y-%m}",
                    drawn.get(a.account_id, 0) if a.kind == "line"
                    else a.principal_original_minor,
                    a.written_off_minor if a.status == "written_off"
                    else a.principal_minor if a.status == "active" and a.dpd >= BAD_DPD else 0)
                    for a in month_end_accounts(conn, day) or () if a.currency == CURRENCY]
        curves = BC.vintage_balance_curves(observations, seed=self.config.seed)
        horizon = BC.Horizon(
            start=start, end=end, month_ends=sorted({c.month_end for c in cells}),
            vintage_months_on_book={c["vintage"]: c["curve"][-1]["months_on_book"]
                                    for c in curves},
            approval_dates=[dt.date.fromisoformat(a["date"])
                            for a in self.tally.applications_detail if a["approved"]],
            first_past_due=self.first_past_due, fraud_label_days=REPORT_DAYS[1],
            monitor_window_days=max(m.window for m in SIM_MONITORS))
        return {"roll_rate_matrix": BC.roll_rate_matrices(cells),
                "vintage_balance_curves": curves, "warnings": BC.chart_warnings(horizon),
                "chart_rules": BC.horizon_rules(horizon),
                "horizon": {"start": start.isoformat(), "end": end.isoformat(),
                            "month_ends": [d.isoformat() for d in horizon.month_ends],
                            "fraud_label_days": horizon.fraud_label_days,
                            "monitor_window_days": horizon.monitor_window_days}}


def _latest_pd(conn: Any, customer_id: str) -> Any:
    """The PD (a Decimal of the stored float's shortest repr, 0..1) of the customer's latest
    credit decision that has one, or None."""
    from decimal import Decimal

    from creditpay.risk.decisions.queries import decision_records

    for record in reversed(decision_records(conn, customer_id, limit=1000)):
        if record.pd is not None:
            return Decimal(repr(record.pd))
    return None


def _band_order(band: str) -> int:
    from creditpay.sim.monitoring import APR_BANDS

    return [name for name, _ in APR_BANDS].index(band)


DEMO_CHECKOUT_AMOUNT_MINOR = 359_900  # large enough that every installment plan is offered


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
        if config.demo_checkout:
            figures["demo_checkout"] = economy.open_demo_checkout()
        if config.training_data_path is not None:
            labels = economy.write_training_data(config.training_data_path)
            figures["training_data_rows"] = sum(labels.values())
            figures["training_data_labels"] = labels
    finally:
        economy.close()
    timings = {k: round(v, 2) for k, v in sorted(economy.timings_s.items())}
    timings["total"] = round(time.perf_counter() - started, 2)
    return figures, timings
