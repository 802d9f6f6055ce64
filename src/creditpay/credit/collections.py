"""Fair collections workflow: reminders before the due date, DPD-based actions, promises to
pay, settlement offers and hand-over to an external agency.

The credit domain owns delinquency, so the workflow lives here; every contact goes through
the contact rules passed in (:class:`ContactRules`; consumer protection's
:class:`~creditpay.protection.collections_rules.ContactRuleGate`, wired by
:func:`creditpay.protection.collections_rules.run_collections`), which apply
the contact rules (debtor only, verified channels, quiet hours in the consumer's time zone,
daily cap) and logs the attempt, allowed or refused. A refused contact is never sent: its
action stays pending and is retried on a later run (at most one attempt per business date).

What to do is data: a versioned strategy (``collections_strategies/<code>_v<n>.yaml``,
validated on load) lists the reminders (days before the due date) and the DPD steps (contact,
settlement offer, hand-over), each with its channel and template code. Every case and action
records the strategy version that decided it.

:func:`run_collections` is the daily run: idempotent per business date and currency (a second
run of a done date returns its report; a crashed run resumes), accounts processed in bounded
batches, one transaction per batch. It reads accounts only through the credit facade
(:func:`creditpay.credit.service.portfolio`, ``get_account_view``, ``payoff_amount``) and the
consumer's time zone and verified channels through the parties domain (:class:`PartiesDirectory`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import bindparam, func, select, update

from creditpay.credit import service as credit
from creditpay.credit.collections_tables import (
    collection_actions,
    collection_cases,
    collection_handovers,
    collection_promises,
    collection_runs,
    collection_settlements,
)
from creditpay.credit.pauses import paused_account_ids
from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import NotFoundError, StateError, ValidationError, field_path
from creditpay.money import validate_currency
from creditpay.platform import audit
from creditpay.platform.validators import check_date, check_minor

__all__ = [
    "case_queue", "case_file", "CASE_QUEUE_MAX",
    "STRATEGIES_DIR", "DEFAULT_TIME_ZONE", "ReminderStep", "DpdStep", "CollectionsStrategy",
    "parse_strategy", "load_strategy_file", "default_strategy", "ContactProfile",
    "ContactDirectory", "PartiesDirectory", "CollectionsReport", "run_collections",
    "record_promise", "offer_settlement", "settlement_limits", "SettlementLimits",
]

STRATEGIES_DIR = Path(__file__).parent / "collections_strategies"
DEFAULT_TIME_ZONE = "Asia/Shanghai"
BATCH_SIZE_MAX = 10_000
# The channels a strategy may name; the contact rules check them again at every attempt
# (consumer protection's CHANNELS: a test keeps the two equal).
CONTACT_CHANNELS = ("phone", "sms", "app_push", "email", "letter")


@dataclass(frozen=True)
class ContactRequest:
    """A contact the workflow wants to make with the debtor of ``account_id``."""

    customer_id: str
    account_id: str
    collector_id: str
    channel: str
    channel_ref: str  # blind index of the verified number / address, or "unverified"
    time_zone: str  # the consumer's IANA zone


class ContactVerdict(Protocol):
    """What the contact rules decided: allowed or not, and the first failing rule."""

    @property
    def allowed(self) -> bool: ...
    @property
    def rule(self) -> str: ...


class ContactRules(Protocol):
    """The fair-contact rules (consumer protection owns them; credit sits below it)."""

    def attempt(self, tx: Tx, request: ContactRequest, *,
                verified_channel_refs: frozenset[str]) -> ContactVerdict:
        """Decide, log and audit one attempt at business time ``tx.now``; ValidationError
        naming the field, before anything is written, for data it cannot vouch for."""
        ...
_CODE = r"^[a-z][a-z0-9_]{1,47}$"
_TEMPLATE = r"^[a-z][a-z0-9_.]{1,63}$"


# ----------------------------------------------------------------------------- strategy
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReminderStep(_Model):
    """A reminder ``days_before_due`` days before the next due date (current accounts)."""

    code: str = Field(pattern=_CODE)
    days_before_due: int = Field(ge=1, le=30)
    channel: Literal["phone", "sms", "app_push", "email", "letter"]
    template_code: str = Field(pattern=_TEMPLATE)


class DpdStep(_Model):
    """An action once the account is ``dpd`` days past due."""

    code: str = Field(pattern=_CODE)
    dpd: int = Field(ge=1, le=1_000)
    kind: Literal["contact", "settlement_offer", "hand_over"]
    channel: Literal["phone", "sms", "app_push", "email", "letter"] | None = None
    template_code: str = Field(pattern=_TEMPLATE)
    agency_name: str | None = Field(default=None, min_length=2, max_length=128)

    @model_validator(mode="after")
    def _by_kind(self) -> DpdStep:
        if self.kind == "hand_over":
            if not self.agency_name:
                raise ValueError("agency_name: a hand-over names the agency")
        elif self.channel is None:
            raise ValueError(f"channel: a {self.kind} step contacts the consumer on a channel")
        elif self.agency_name is not None:
            raise ValueError("agency_name: only a hand_over step names an agency")
        return self


class PromiseTerms(_Model):
    days_max: int = Field(default=14, ge=1, le=60)


class SettlementTerms(_Model):
    # Share of the principal a settlement must still collect (1 = principal never waived).
    principal_floor_ratio: Decimal = Decimal(1)
    offer_days: int = Field(default=14, ge=1, le=90)
    offer_days_max: int = Field(default=30, ge=1, le=180)

    @field_validator("principal_floor_ratio", mode="before")
    @classmethod
    def _ratio(cls, value: object) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise ValueError("write the ratio as a string (\"0.9\"); floats are refused")
        try:
            ratio = Decimal(value)
        except ArithmeticError:
            raise ValueError("must be a decimal number") from None
        if not ratio.is_finite() or not 0 <= ratio <= 1:
            raise ValueError("must be from 0 to 1")
        return ratio

    @model_validator(mode="after")
    def _days(self) -> SettlementTerms:
        if self.offer_days > self.offer_days_max:
            raise ValueError("offer_days: must not exceed offer_days_max")
        return self


class CollectionsStrategy(_Model):
    code: str = Field(pattern=_CODE)
    version: int = Field(ge=1, le=10_000)
    status: Literal["active", "draft", "retired"] = "active"
    currency: str = "CNY"
    collector_id: str = Field(default="system:collections", pattern=r"^system:[a-z_]{1,40}$")
    batch_size: int = Field(default=200, ge=1, le=BATCH_SIZE_MAX)
    contact_retry_days: int = Field(default=5, ge=0, le=30)
    reminders: tuple[ReminderStep, ...] = ()
    dpd_actions: tuple[DpdStep, ...] = Field(min_length=1, max_length=32)
    promise: PromiseTerms = PromiseTerms()
    settlement: SettlementTerms = SettlementTerms()

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return validate_currency(value)

    @model_validator(mode="after")
    def _steps(self) -> CollectionsStrategy:
        codes = [s.code for s in self.reminders] + [s.code for s in self.dpd_actions]
        if len(set(codes)) != len(codes):
            raise ValueError("dpd_actions: step codes must be unique")
        days = [r.days_before_due for r in self.reminders]
        if len(set(days)) != len(days):
            raise ValueError("reminders: one reminder per days_before_due")
        dpds = [s.dpd for s in self.dpd_actions]
        if any(b <= a for a, b in zip(dpds, dpds[1:], strict=False)):
            raise ValueError("dpd_actions: dpd must increase strictly")
        hand_overs = [i for i, s in enumerate(self.dpd_actions) if s.kind == "hand_over"]
        if hand_overs and hand_overs != [len(self.dpd_actions) - 1]:
            raise ValueError("dpd_actions: at most one hand_over, and it is the last step")
        return self

    @property
    def hand_over(self) -> DpdStep | None:
        last = self.dpd_actions[-1]
        return last if last.kind == "hand_over" else None


def _field_of(error: Mapping[str, Any], message: str) -> str:
    """The field an error is about: its location, plus the field a cross-field check names
    at the start of its message ("channel: ...")."""
    parts = field_path(error.get("loc"))
    head = message.split(":", 1)[0]
    if ":" in message and re.fullmatch(r"[a-z_]+", head) and (not parts or parts[-1] != head):
        parts.append(head)
    return ".".join(parts) or "strategy"


def parse_strategy(document: Mapping[str, Any]) -> CollectionsStrategy:
    """Validate one strategy document; raise ValidationError naming the first bad field."""
    if not isinstance(document, Mapping):
        raise ValidationError("must be a mapping", field="strategy")
    try:
        return CollectionsStrategy.model_validate(dict(document))
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
        raise ValidationError(message, field=_field_of(first, message)) from None


def load_strategy_file(path: Path) -> CollectionsStrategy:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read {path.name}: {exc}", field="strategy") from None
    return parse_strategy(document)


@lru_cache(maxsize=8)
def default_strategy(code: str = "standard") -> CollectionsStrategy:
    """The latest active packaged version of strategy ``code``."""
    found = [s for s in (load_strategy_file(p) for p in sorted(STRATEGIES_DIR.glob("*.yaml")))
             if s.code == code and s.status == "active"]
    if not found:
        raise NotFoundError(f"no active collections strategy {code!r}", field="strategy")
    return max(found, key=lambda s: s.version)


# ----------------------------------------------------------------------------- consumers
@dataclass(frozen=True)
class ContactProfile:
    """Where and when a debtor may be contacted: their IANA zone and, per channel, the
    reference (blind index or app account) of a channel they verified themselves."""

    time_zone: str
    channel_refs: Mapping[str, str]


class ContactDirectory(Protocol):
    def profile(self, conn: Any, customer_id: str) -> ContactProfile | None: ...


@dataclass
class PartiesDirectory:
    """Contact profiles from the parties domain's public reads: the customer's time zone
    (:meth:`Parties.get_time_zone`) and their own login channels (phone and email blind
    indexes, checked by one-time code; the app account of an active customer, which also
    receives formal letters as documents). Never anyone else's number."""

    parties: Any = None  # creditpay.parties.service.Parties; only its key-free reads are used

    def __post_init__(self) -> None:
        if self.parties is None:
            from creditpay.parties.service import Parties

            self.parties = Parties(vault=None, indexer=None, signer=None)  # type: ignore[arg-type]

    def profile(self, conn: Any, customer_id: str) -> ContactProfile | None:
        try:
            row = self.parties.get_customer(conn, customer_id)
        except NotFoundError:
            return None
        refs: dict[str, str] = {}
        if row.phone_bidx:
            refs["phone"] = refs["sms"] = row.phone_bidx
        if row.email_bidx:
            refs["email"] = row.email_bidx
        if row.status == "active":
            refs["app_push"] = refs["letter"] = f"app:{row.id}"
        return ContactProfile(self.parties.get_time_zone(conn, customer_id), refs)


# ----------------------------------------------------------------------------- report
@dataclass
class CollectionsReport:
    business_date: str
    currency: str
    strategy: str
    accounts_seen: int = 0
    cases_opened: int = 0
    cases_closed: dict[str, int] = field(default_factory=dict)  # by reason
    contacts_sent: int = 0
    reminders_sent: int = 0
    refused_by_rule: dict[str, int] = field(default_factory=dict)
    promises_kept: int = 0
    promises_broken: int = 0
    paused_by_promise: int = 0
    paused_by_hardship: int = 0  # accounts under a hardship arrangement: no contact
    settlement_offers: int = 0
    handed_over: int = 0
    actions_superseded: int = 0
    actions_expired: int = 0
    batches: int = 0
    already_done: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def add(self, counts: Counter[str]) -> None:
        for key, value in counts.items():
            if key.startswith("refused:"):
                rule = key.removeprefix("refused:")
                self.refused_by_rule[rule] = self.refused_by_rule.get(rule, 0) + value
            elif key.startswith("closed:"):
                reason = key.removeprefix("closed:")
                self.cases_closed[reason] = self.cases_closed.get(reason, 0) + value
            else:
                setattr(self, key, getattr(self, key) + value)


@dataclass
class _Run:
    day: dt.date
    strategy: CollectionsStrategy
    directory: ContactDirectory
    rules: ContactRules
    currency: str
    counts: Counter[str] = field(default_factory=Counter)
    # The batch being worked: its accounts under a hardship arrangement, and its open cases.
    under_arrangement: frozenset[str] = frozenset()
    open_cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Read once for the batch (see _batch_reads): the actions of the keys in
    # ``action_keys_read`` that exist, the open promise of each case in
    # ``promise_cases_read`` that has one, the accounts among the batch's handed over.
    action_keys_read: frozenset[str] = frozenset()
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    promise_cases_read: frozenset[str] = frozenset()
    open_promises: dict[str, dict[str, Any]] = field(default_factory=dict)
    handed_over: frozenset[str] = frozenset()


# ----------------------------------------------------------------------------- daily run
def run_collections(uow: UnitOfWork, business_date: dt.date, *, rules: ContactRules,
                    currency: str = "CNY", strategy: CollectionsStrategy | None = None,
                    directory: ContactDirectory | None = None,
                    batch_size: int | None = None) -> CollectionsReport:
    """Run the collections of ``business_date`` (run it at the start of that business day,
    after the close of business of the day before: it sees the dpd that close produced and
    the next due dates still ahead). Idempotent per (business date, currency); resumes a
    crashed run. Contacts happen at business time ``tx.now``, under the contact ``rules``
    (callers use :func:`creditpay.protection.collections_rules.run_collections`, which
    passes consumer protection's)."""
    check_date(business_date, "business_date")
    validate_currency(currency)
    strategy = strategy or default_strategy()
    if not isinstance(strategy, CollectionsStrategy):
        raise ValidationError("must be a CollectionsStrategy", field="strategy")
    if strategy.currency != currency:
        raise ValidationError(f"strategy {strategy.code} v{strategy.version} is for "
                              f"{strategy.currency}, not {currency}", field="currency")
    size = strategy.batch_size if batch_size is None else batch_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= BATCH_SIZE_MAX:
        raise ValidationError(f"must be from 1 to {BATCH_SIZE_MAX}", field="batch_size")
    label = f"{strategy.code} v{strategy.version}"
    r = collection_runs.c
    with uow.begin() as tx:
        if business_date > tx.today:
            raise ValidationError(f"{business_date} has not begun (business date is"
                                  f" {tx.today})", field="business_date")
        run = tx.conn.execute(select(collection_runs).where(
            r.business_date == business_date, r.currency == currency)).mappings().first()
        if run is not None and run["status"] == "done":
            return CollectionsReport(**{**run["report"], "already_done": True})
        if run is None:
            report = CollectionsReport(business_date.isoformat(), currency, label)
            tx.conn.execute(collection_runs.insert().values(
                business_date=business_date, currency=currency, status="running",
                report=report.as_dict(), strategy_code=strategy.code,
                strategy_version=strategy.version, started_at=tx.now))
    with uow.connect() as conn:
        accounts, _ = credit.portfolio(conn, currency)
        open_accounts = set(conn.execute(select(collection_cases.c.account_id).where(
            collection_cases.c.status == "open",
            collection_cases.c.currency == currency)).scalars())
        # Disputes (issue #20): no contact about a plan paused while its purchase is disputed.
        paused_by_dispute = paused_account_ids(conn)
    work = [a for a in accounts if a.account_id not in paused_by_dispute and (
            a.account_id in open_accounts or
            (a.status == "active" and (a.dpd > 0 or _may_get_reminder(a))))]
    context = _Run(business_date, strategy, directory or PartiesDirectory(), rules,
                   currency)
    for start in range(0, len(work), size):
        uow.run(partial(_batch, context=context, batch=work[start:start + size]))
    with uow.begin() as tx:
        row = tx.conn.execute(select(collection_runs).where(
            r.business_date == business_date, r.currency == currency)).mappings().one()
        report = CollectionsReport(**row["report"])
        tx.conn.execute(update(collection_runs).where(r.id == row["id"]).values(
            status="done", finished_at=tx.now))
        audit.append(tx, "system", strategy.collector_id, "collections.run_done",
                     "collection_run", f"{currency}:{business_date.isoformat()}",
                     {k: v for k, v in report.as_dict().items() if k != "already_done"})
    return report


def _may_get_reminder(account: credit.PortfolioAccount) -> bool:
    # A line owes something on its due date only once a statement billed it; a plan or loan
    # bills its installment the day before it falls due, so its principal is what counts.
    if account.dpd != 0:
        return False
    return account.billed_unpaid_minor > 0 if account.kind == "line" \
        else account.principal_minor > 0


def _batch(tx: Tx, context: _Run, batch: list[credit.PortfolioAccount]) -> None:
    r = collection_runs.c
    # Take the run row first: batches of concurrent runners of one date serialise here, so
    # no action is attempted twice on a day.
    row = tx.conn.execute(select(collection_runs).where(
        r.business_date == context.day, r.currency == context.currency).with_for_update()
    ).mappings().one()
    context.counts = Counter()
    # The batch's hardship arrangements and open cases, read once for the batch in its
    # transaction: working one account writes only that account's case and actions, so
    # what was read for the others stays true while the batch runs.
    from creditpay.credit.hardship import accounts_under_arrangement

    ids = [account.account_id for account in batch]
    context.under_arrangement = accounts_under_arrangement(tx.conn, ids)
    context.open_cases = _open_cases(tx, ids)
    _batch_reads(tx, context, batch)
    for account in batch:
        context.counts["accounts_seen"] += 1
        _process_account(tx, context, account)
    report = CollectionsReport(**row["report"])
    report.add(context.counts)
    report.batches += 1
    tx.conn.execute(update(collection_runs).where(r.id == row["id"]).values(
        report=report.as_dict()))


def _process_account(tx: Tx, context: _Run, account: credit.PortfolioAccount) -> None:
    if account.status == "active" and account.account_id in context.under_arrangement:
        # Collections contact (reminders and DPD steps) is suspended while a hardship
        # arrangement runs on the account (credit.hardship; docs/hardship.md).
        context.counts["paused_by_hardship"] += 1
        return
    case = context.open_cases.get(account.account_id)
    if account.status != "active" or account.dpd == 0:
        if case is not None:
            reason = "written_off" if account.status == "written_off" else "paid"
            _close_case(tx, context, case, reason)
        if account.status == "active":
            _reminders(tx, context, account)
        return
    if case is None:
        if account.account_id in context.handed_over:
            return  # the agency works it until it is paid or written off
        case = _new_case(tx, context, account)
        # A new case has no settlement offer to expire.
    else:
        tx.conn.execute(_UPDATE_CASE, {"b_case_id": case["case_id"], "dpd": account.dpd,
                                       "bucket": account.bucket, "updated_at": tx.now})
        # Its offers past their date were expired for the whole batch (_batch_reads).
    if _promise_pauses(tx, context, case, account):
        context.counts["paused_by_promise"] += 1
        return
    _dpd_step(tx, context, case, account)


def _works_case(context: _Run, account: credit.PortfolioAccount) -> bool:
    """Whether :func:`_process_account` reaches the DPD workflow of ``account``'s case
    (the same tests, in the same order)."""
    if account.status == "active" and account.account_id in context.under_arrangement:
        return False
    return account.status == "active" and account.dpd != 0


def _reminder_step(context: _Run, account: credit.PortfolioAccount
                   ) -> tuple[ReminderStep, dt.date] | None:
    """The reminder ``account`` is due today and its due date, if any (pure)."""
    if not context.strategy.reminders or not _may_get_reminder(account):
        return None
    # The next due date as the book was read at the start of the run (with dpd and the
    # billed amounts above): only the close of business moves it, never a collections day.
    due = account.next_due_date
    if due is None:
        return None
    days = (due - context.day).days
    applicable = [r for r in context.strategy.reminders if 1 <= days <= r.days_before_due]
    if not applicable:
        return None
    return min(applicable, key=lambda r: r.days_before_due), due  # the one nearest the due date


def _dpd_due_step(context: _Run, account: credit.PortfolioAccount) -> DpdStep | None:
    due_steps = [s for s in context.strategy.dpd_actions if s.dpd <= account.dpd]
    # The latest step due supersedes any earlier one still pending.
    return due_steps[-1] if due_steps else None


def _batch_reads(tx: Tx, context: _Run, batch: list[credit.PortfolioAccount]) -> None:
    """Read, in a few set-based statements, what working the batch's accounts one by one
    reads: the actions the workflow will look up by key, the open promise of each case it
    works, which accounts without an open case were handed over; and expire, in one
    statement, the settlement offers past their date of every case it works (what each
    case's turn did first). Working one account touches only that account's case, actions,
    promises and offers, so what is read here for the others stays true while the batch
    runs; a key or case not read here is read on its own (:func:`_action`,
    :func:`_promise_pauses`)."""
    keys: list[str] = []
    worked_cases: list[str] = []  # open cases the DPD workflow reaches
    promise_cases: list[str] = []  # those and the cases it will open
    no_case: list[str] = []
    for account in batch:
        if account.status == "active" and account.account_id in context.under_arrangement:
            continue
        case = context.open_cases.get(account.account_id)
        if account.status != "active" or account.dpd == 0:
            if account.status == "active":
                reminder = _reminder_step(context, account)
                if reminder is not None:
                    keys.append(_reminder_key(account, reminder[1], reminder[0]))
            continue
        if case is None:
            no_case.append(account.account_id)
            case_id = _case_id(account.account_id, context.day)
        else:
            case_id = case["case_id"]
            worked_cases.append(case_id)
        promise_cases.append(case_id)
        step = _dpd_due_step(context, account)
        if step is not None:
            keys.append(f"{case_id}:{step.code}")
    context.handed_over = frozenset(tx.conn.execute(
        _HANDED_OVER, {"account_ids": no_case}).scalars()) if no_case else frozenset()
    context.action_keys_read = frozenset(keys)
    context.actions = {row["action_key"]: dict(row) for row in tx.conn.execute(
        _ACTIONS_BY_KEYS, {"keys": keys}).mappings()} if keys else {}
    context.promise_cases_read = frozenset(promise_cases)
    promises: dict[str, dict[str, Any]] = {}
    if promise_cases:
        for row in tx.conn.execute(_OPEN_PROMISES, {"case_ids": promise_cases}).mappings():
            promises.setdefault(row["case_id"], dict(row))
    context.open_promises = promises
    if worked_cases:
        tx.conn.execute(_EXPIRE_SETTLEMENTS, {"case_ids": worked_cases, "day": context.day})


# ----------------------------------------------------------------------------- cases
def _open_cases(tx: Tx, account_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The open case of each of ``account_ids`` that has one (at most one per account)."""
    if not account_ids:
        return {}
    return {row["account_id"]: dict(row) for row in tx.conn.execute(
        _OPEN_CASES, {"account_ids": account_ids}).mappings()}


# Constant statements (read for every account the daily run works): compiled once, their
# cache keys remembered, instead of statements built per account.
_OPEN_CASES = select(collection_cases).where(
    collection_cases.c.account_id.in_(bindparam("account_ids", expanding=True)),
    collection_cases.c.status == "open")
_HANDED_OVER = select(collection_handovers.c.account_id).where(
    collection_handovers.c.account_id.in_(bindparam("account_ids", expanding=True))
).distinct()
_ACTIONS_BY_KEYS = select(collection_actions).where(
    collection_actions.c.action_key.in_(bindparam("keys", expanding=True)))
# No ORDER BY, as the one-case read it replaces (``.first()``): a case has at most one open
# promise (record_promise refuses a second).
_OPEN_PROMISES = select(collection_promises).where(
    collection_promises.c.case_id.in_(bindparam("case_ids", expanding=True)),
    collection_promises.c.status == "open")
_EXPIRE_SETTLEMENTS = update(collection_settlements).where(
    collection_settlements.c.case_id.in_(bindparam("case_ids", expanding=True)),
    collection_settlements.c.status == "offered",
    collection_settlements.c.expires_on < bindparam("day")).values(status="expired")
# Writes of every account worked: the SET clause is the parameters' own keys (one compiled
# form per set of keys), the row by a ``b_``-named parameter.
_UPDATE_CASE = update(collection_cases).where(
    collection_cases.c.case_id == bindparam("b_case_id"))
_UPDATE_ACTION = update(collection_actions).where(
    collection_actions.c.id == bindparam("b_id"))
_UPDATE_PROMISE = update(collection_promises).where(
    collection_promises.c.promise_id == bindparam("b_promise_id"))
_INSERT_CASE = collection_cases.insert()
_SUPERSEDE_REMINDERS = update(collection_actions).where(
    collection_actions.c.account_id == bindparam("b_account_id"),
    collection_actions.c.kind == "reminder", collection_actions.c.status == "pending",
    collection_actions.c.action_key != bindparam("b_keep_key")).values(status="superseded")
_SUPERSEDE_CASE = update(collection_actions).where(
    collection_actions.c.case_id == bindparam("b_case_id"),
    collection_actions.c.status == "pending",
    collection_actions.c.action_key != bindparam("b_keep_key")).values(status="superseded")
_CLOSE_CASE_ACTIONS = update(collection_actions).where(
    collection_actions.c.case_id == bindparam("b_case_id"),
    collection_actions.c.status == "pending").values(status="expired")
_CLOSE_CASE_PROMISES = update(collection_promises).where(
    collection_promises.c.case_id == bindparam("b_case_id"),
    collection_promises.c.status == "open")
_WITHDRAW_OFFERS = update(collection_settlements).where(
    collection_settlements.c.case_id == bindparam("b_case_id"),
    collection_settlements.c.status == "offered").values(status="withdrawn")


def _case_id(account_id: str, opened_on: dt.date) -> str:
    digest = hashlib.sha256(f"{account_id}:{opened_on.isoformat()}".encode()).hexdigest()
    return f"cc_{digest[:24]}"


def _new_case(tx: Tx, context: _Run, account: credit.PortfolioAccount) -> dict[str, Any]:
    values: dict[str, Any] = {
        "case_id": _case_id(account.account_id, context.day), "account_id": account.account_id,
        "customer_id": account.customer_id, "currency": context.currency,
        "status": "open", "opened_on": context.day, "dpd_at_open": account.dpd,
        "dpd": account.dpd, "bucket": account.bucket, "closed_on": None,
        "close_reason": None, "strategy_code": context.strategy.code,
        "strategy_version": context.strategy.version, "created_at": tx.now,
        "updated_at": tx.now}
    tx.conn.execute(_INSERT_CASE, values)
    context.counts["cases_opened"] += 1
    audit.append(tx, "system", context.strategy.collector_id, "collections.case_opened",
                 "collection_case", values["case_id"],
                 {"account_id": account.account_id, "dpd": account.dpd,
                  "bucket": account.bucket, "strategy_version": context.strategy.version})
    tx.emit("credit.collections.case_opened", "collection_case", values["case_id"],
            {"account_id": account.account_id, "customer_id": account.customer_id,
             "dpd": account.dpd})
    return values


def _close_case(tx: Tx, context: _Run, case: Mapping[str, Any], reason: str) -> None:
    case_id = case["case_id"]
    tx.conn.execute(_UPDATE_CASE, {"b_case_id": case_id, "status": "closed",
                                   "closed_on": context.day, "close_reason": reason,
                                   "updated_at": tx.now})
    expired = tx.conn.execute(_CLOSE_CASE_ACTIONS, {"b_case_id": case_id}).rowcount
    context.counts["actions_expired"] += expired or 0
    promise_status = "kept" if reason == "paid" else "cancelled"
    kept = tx.conn.execute(_CLOSE_CASE_PROMISES, {
        "b_case_id": case_id, "status": promise_status,
        "resolved_on": context.day}).rowcount or 0
    if promise_status == "kept":
        context.counts["promises_kept"] += kept
    tx.conn.execute(_WITHDRAW_OFFERS, {"b_case_id": case_id})
    context.counts[f"closed:{reason}"] += 1
    audit.append(tx, "system", context.strategy.collector_id, "collections.case_closed",
                 "collection_case", case_id,
                 {"account_id": case["account_id"], "reason": reason})
    tx.emit("credit.collections.case_closed", "collection_case", case_id,
            {"account_id": case["account_id"], "reason": reason})


def _get_case(conn: Any, case_id: object) -> dict[str, Any]:
    if not isinstance(case_id, str) or not 1 <= len(case_id) <= 32:
        raise ValidationError("must be a collection case id", field="case_id")
    row = conn.execute(select(collection_cases).where(
        collection_cases.c.case_id == case_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no collection case {case_id}", field="case_id")
    return dict(row)


CASE_QUEUE_MAX = 200


def _case_out(conn: Any, row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    # What the consumer owes today (payoff: principal, charges), through the credit
    # domain's own reading; a closed case's account may be gone from the book.
    out["owed_minor"] = (credit.payoff_amount(conn, row["account_id"])
                         if row["status"] == "open" else None)
    return out


def case_queue(conn: Any, *, status: str = "open", limit: int = 50
               ) -> tuple[list[dict[str, Any]], int]:
    """The collectors' queue: cases of ``status`` (open | closed), most days past due first
    (then case id), at most ``limit`` (1..CASE_QUEUE_MAX), each with ``owed_minor`` (the
    payoff today, open cases) and its open promise to pay (``promise``: amount and date,
    or None); and how many cases there are in all."""
    if status not in ("open", "closed"):
        raise ValidationError("must be open or closed", field="status")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= CASE_QUEUE_MAX:
        raise ValidationError(f"must be 1..{CASE_QUEUE_MAX}", field="limit")
    c = collection_cases.c
    total = int(conn.execute(select(func.count()).select_from(collection_cases)
                             .where(c.status == status)).scalar_one())
    rows = conn.execute(select(collection_cases).where(c.status == status)
                        .order_by(c.dpd.desc(), c.case_id).limit(limit)).mappings().all()
    ids = [r["case_id"] for r in rows]
    p = collection_promises.c
    promises = {r["case_id"]: dict(r) for r in conn.execute(
        select(collection_promises).where(p.case_id.in_(ids), p.status == "open")
        .order_by(p.created_at)).mappings()} if ids else {}
    return ([{**_case_out(conn, r), "promise": promises.get(r["case_id"])} for r in rows],
            total)


def case_file(conn: Any, case_id: str) -> dict[str, Any]:
    """One case with ``owed_minor``, its promises to pay, the workflow's actions (steps,
    channels, status) and settlement offers, each newest first (at most 100 of each)."""
    case = _case_out(conn, _get_case(conn, case_id))
    p, a, s = collection_promises.c, collection_actions.c, collection_settlements.c
    case["promises"] = [dict(r) for r in conn.execute(
        select(collection_promises).where(p.case_id == case_id)
        .order_by(p.created_at.desc()).limit(100)).mappings()]
    case["actions"] = [dict(r) for r in conn.execute(
        select(collection_actions).where(a.case_id == case_id)
        .order_by(a.id.desc()).limit(100)).mappings()]
    case["settlements"] = [dict(r) for r in conn.execute(
        select(collection_settlements).where(s.case_id == case_id)
        .order_by(s.created_at.desc()).limit(100)).mappings()]
    return case


# ----------------------------------------------------------------------------- actions
def _action(tx: Tx, context: _Run, *, key: str, case_id: str | None,
            account: credit.PortfolioAccount, code: str, kind: str, channel: str | None,
            template_code: str, expires_on: dt.date) -> dict[str, Any]:
    if key in context.action_keys_read:  # read with the batch (_batch_reads)
        found = context.actions.get(key)
        if found is not None:
            return found
    else:
        row = tx.conn.execute(_ACTION_BY_KEY, {"key": key}).mappings().first()
        if row is not None:
            return dict(row)
    values: dict[str, Any] = dict(
        action_key=key, case_id=case_id, account_id=account.account_id,
        customer_id=account.customer_id, step_code=code, kind=kind, channel=channel,
        template_code=template_code, due_on=context.day, expires_on=expires_on,
        status="pending", attempts=0, strategy_version=context.strategy.version,
        created_at=tx.now)
    action_id = tx.conn.execute(_INSERT_ACTION, values).scalar_one()
    # The row as inserted (the columns not given are NULL), instead of reading it back.
    return {"id": action_id, **values, "last_rule": None, "last_attempt_on": None,
            "completed_at": None}


_ACTION_BY_KEY = select(collection_actions).where(
    collection_actions.c.action_key == bindparam("key"))
_INSERT_ACTION = collection_actions.insert().returning(collection_actions.c.id)


def _supersede(tx: Tx, context: _Run, statement: Any, params: dict[str, Any]) -> None:
    """Mark superseded the pending actions ``statement`` (_SUPERSEDE_REMINDERS of an
    account, _SUPERSEDE_CASE of a case) selects, but the one of key ``b_keep_key``."""
    count = tx.conn.execute(statement, params).rowcount
    context.counts["actions_superseded"] += count or 0


def _ready(tx: Tx, context: _Run, action: Mapping[str, Any]) -> bool:
    """Pending, not yet tried today, and not past its expiry (else expire it)."""
    if action["status"] != "pending" or action["last_attempt_on"] == context.day:
        return False
    if context.day > action["expires_on"]:
        tx.conn.execute(_UPDATE_ACTION, {"b_id": action["id"], "status": "expired"})
        context.counts["actions_expired"] += 1
        return False
    return True


def _contact(tx: Tx, context: _Run, account: credit.PortfolioAccount,
             action: Mapping[str, Any]) -> ContactVerdict | None:
    """One contact attempt through the contact rules; logged there, allowed or not."""
    profile = context.directory.profile(tx.conn, account.customer_id)
    zone = profile.time_zone if profile is not None else DEFAULT_TIME_ZONE
    refs = dict(profile.channel_refs) if profile is not None else {}
    channel = action["channel"]
    # No verified channel of this kind: the attempt is still made and refused (logged under
    # ``verified_channel``), never redirected to another number or person.
    request = ContactRequest(
        customer_id=account.customer_id, account_id=account.account_id,
        collector_id=context.strategy.collector_id, channel=channel,
        channel_ref=refs.get(channel, "unverified"), time_zone=zone)
    try:
        decision = context.rules.attempt(tx, request,
                                         verified_channel_refs=frozenset(refs.values()))
    except ValidationError as exc:
        # Data the contact rules cannot vouch for (an odd id, a stored zone zoneinfo does
        # not know): no contact at all, and one account cannot stop the whole run.
        context.counts[f"refused:invalid_{exc.field}"] += 1
        tx.conn.execute(_UPDATE_ACTION, {"b_id": action["id"],
                                         "last_rule": f"invalid_{exc.field}"[:48],
                                         "last_attempt_on": context.day})
        return None
    values: dict[str, Any] = {"attempts": action["attempts"] + 1, "last_rule": decision.rule,
                              "last_attempt_on": context.day}
    if decision.allowed:
        values.update(status="sent", completed_at=tx.now)
        context.counts["contacts_sent"] += 1
        if action["kind"] == "reminder":
            context.counts["reminders_sent"] += 1
        # The message itself is delivered by whoever tails the outbox (SMS gateway, push).
        tx.emit("credit.collections.contact", "credit_account", account.account_id,
                {"action_key": action["action_key"], "case_id": action["case_id"],
                 "customer_id": account.customer_id, "step_code": action["step_code"],
                 "channel": channel, "template_code": action["template_code"]})
    else:
        context.counts[f"refused:{decision.rule}"] += 1
    tx.conn.execute(_UPDATE_ACTION, {"b_id": action["id"], **values})
    return decision


def _reminder_key(account: credit.PortfolioAccount, due: dt.date, step: ReminderStep) -> str:
    return f"{account.account_id}:{due.isoformat()}:{step.code}"


def _reminders(tx: Tx, context: _Run, account: credit.PortfolioAccount) -> None:
    reminder = _reminder_step(context, account)
    if reminder is None:
        return
    step, due = reminder
    key = _reminder_key(account, due, step)
    action = _action(tx, context, key=key, case_id=None, account=account, code=step.code,
                     kind="reminder", channel=step.channel, template_code=step.template_code,
                     expires_on=due - dt.timedelta(days=1))
    _supersede(tx, context, _SUPERSEDE_REMINDERS,
               {"b_account_id": account.account_id, "b_keep_key": key})
    if _ready(tx, context, action):
        _contact(tx, context, account, action)


def _dpd_step(tx: Tx, context: _Run, case: Mapping[str, Any],
              account: credit.PortfolioAccount) -> None:
    step = _dpd_due_step(context, account)
    if step is None:
        return
    key = f"{case['case_id']}:{step.code}"
    action = _action(tx, context, key=key, case_id=case["case_id"], account=account,
                     code=step.code, kind=step.kind, channel=step.channel,
                     template_code=step.template_code,
                     expires_on=context.day + dt.timedelta(
                         days=context.strategy.contact_retry_days))
    _supersede(tx, context, _SUPERSEDE_CASE, {"b_case_id": case["case_id"], "b_keep_key": key})
    if step.kind == "hand_over":
        if action["status"] == "pending":
            _hand_over(tx, context, case, account, step, action)
        return
    if not _ready(tx, context, action):
        return
    decision = _contact(tx, context, account, action)
    if decision is not None and decision.allowed and step.kind == "settlement_offer":
        _automatic_offer(tx, context, case)


# ----------------------------------------------------------------------------- promises
def _promise_pauses(tx: Tx, context: _Run, case: Mapping[str, Any],
                    account: credit.PortfolioAccount) -> bool:
    """Resolve the case's open promise (kept / broken); True while it still pauses."""
    if case["case_id"] in context.promise_cases_read:  # read with the batch (_batch_reads)
        promise: Mapping[str, Any] | None = context.open_promises.get(case["case_id"])
    else:
        row = tx.conn.execute(_OPEN_PROMISE, {"case_id": case["case_id"]}).mappings().first()
        promise = dict(row) if row is not None else None
    if promise is None:
        return False
    paid_minor = _paid_since(tx.conn, account, promise["created_at"])
    if paid_minor >= promise["amount_minor"]:
        status = "kept"
    elif context.day > promise["promised_date"]:
        status = "broken"
    else:
        return True
    tx.conn.execute(_UPDATE_PROMISE, {"b_promise_id": promise["promise_id"],
                                      "status": status, "resolved_on": context.day})
    context.counts[f"promises_{status}"] += 1
    audit.append(tx, "system", context.strategy.collector_id, f"collections.promise_{status}",
                 "collection_case", case["case_id"],
                 {"promise_id": promise["promise_id"], "amount_minor": promise["amount_minor"],
                  "paid_minor": max(0, paid_minor),
                  "promised_date": promise["promised_date"].isoformat()})
    return False


_OPEN_PROMISE = select(collection_promises).where(
    collection_promises.c.case_id == bindparam("case_id"),
    collection_promises.c.status == "open")


def _paid_since(conn: Any, account: credit.PortfolioAccount, since: dt.datetime) -> int:
    """Minor units the debtor's repayments since ``since`` applied to ``account``.

    The credit facade has no repayment-history query yet, so this reads the credit domain's
    own ``credit_repayments`` (read-only; collections is part of the credit domain). Measuring
    the fall of the payoff instead would count the penalty accrued meanwhile against the
    debtor, and mark a promise paid in full as broken.
    """
    from creditpay.credit.tables import credit_repayments

    r = credit_repayments.c
    paid = 0
    for result in conn.execute(select(r.result).where(
            r.customer_id == account.customer_id, r.created_at >= since)).scalars():
        for part in result.get("accounts", ()):
            if part.get("account_id") == account.account_id:
                paid += sum(int(part.get(k, 0)) for k in
                            ("principal", "interest", "fee", "penalty", "recovery"))
    return paid


def _check_staff(staff_id: object) -> str:
    if not isinstance(staff_id, str) or not 1 <= len(staff_id) <= 64 or \
            not all(ch.isalnum() or ch in "_.:-" for ch in staff_id):
        raise ValidationError("must be the staff id (1-64 of A-Za-z0-9_.:-)", field="staff_id")
    return staff_id


def _open_for_work(tx: Tx, case_id: object) -> dict[str, Any]:
    case = _get_case(tx.conn, case_id)
    if case["status"] != "open":
        raise StateError(f"case {case_id} is closed ({case['close_reason']})", field="case_id")
    return case


def record_promise(tx: Tx, case_id: str, amount_minor: int, promised_date: dt.date,
                   staff_id: str, *, strategy: CollectionsStrategy | None = None
                   ) -> dict[str, Any]:
    """Record the debtor's promise to pay ``amount_minor`` (minor units) by
    ``promised_date``. While it is open, DPD actions pause; it is kept when the amount owed
    falls by ``amount_minor`` (or the account is cured), broken when the date passes first."""
    strategy = strategy or default_strategy()
    _check_staff(staff_id)
    check_minor(amount_minor, "amount_minor", minimum=1)
    check_date(promised_date, "promised_date")
    case = _open_for_work(tx, case_id)
    if not tx.today <= promised_date <= tx.today + dt.timedelta(
            days=strategy.promise.days_max):
        raise ValidationError(f"must be from today to {strategy.promise.days_max} days ahead",
                              field="promised_date")
    owed = credit.payoff_amount(tx.conn, case["account_id"])
    if amount_minor > owed:
        raise ValidationError(f"must not exceed what is owed ({owed} minor units)",
                              field="amount_minor")
    p = collection_promises.c
    if tx.conn.execute(select(p.promise_id).where(
            p.case_id == case_id, p.status == "open")).first() is not None:
        raise StateError("the case already has an open promise to pay", field="case_id")
    promise = {"promise_id": f"ptp_{secrets.token_hex(10)}", "case_id": case_id,
               "account_id": case["account_id"], "amount_minor": amount_minor,
               "promised_date": promised_date, "owed_at_promise_minor": owed,
               "staff_id": staff_id, "status": "open", "created_on": tx.today,
               "resolved_on": None, "created_at": tx.now}
    tx.conn.execute(collection_promises.insert().values(**promise))
    audit.append(tx, "staff", staff_id, "collections.promise_recorded", "collection_case",
                 case_id, {"promise_id": promise["promise_id"], "amount_minor": amount_minor,
                           "promised_date": promised_date.isoformat()})
    tx.emit("credit.collections.promise_recorded", "collection_case", case_id,
            {"promise_id": promise["promise_id"], "amount_minor": amount_minor,
             "promised_date": promised_date.isoformat()})
    return promise


# ----------------------------------------------------------------------------- settlement
@dataclass(frozen=True)
class SettlementLimits:
    owed_minor: int  # payoff today
    principal_minor: int
    principal_floor_minor: int  # a settlement collects at least this much
    discount_max_minor: int  # charges (interest, fees, penalty) + principal above the floor


def settlement_limits(conn: Any, account_id: str,
                      strategy: CollectionsStrategy | None = None) -> SettlementLimits:
    """How much a settlement may waive today: every charge, and principal only down to the
    strategy's ``principal_floor_ratio`` (rounded up to the minor unit)."""
    strategy = strategy or default_strategy()
    owed = credit.payoff_amount(conn, account_id)
    principal = credit.get_account_view(conn, account_id).principal_minor
    floor = int((Decimal(principal) * strategy.settlement.principal_floor_ratio)
                .to_integral_value(rounding=ROUND_CEILING))
    floor = min(floor, owed)
    return SettlementLimits(owed, principal, floor, owed - floor)


def _insert_offer(tx: Tx, case: Mapping[str, Any], limits: SettlementLimits,
                  discount_minor: int, expires_on: dt.date, staff_id: str,
                  strategy: CollectionsStrategy) -> dict[str, Any]:
    s = collection_settlements.c
    tx.conn.execute(update(collection_settlements).where(
        s.case_id == case["case_id"], s.status == "offered").values(status="withdrawn"))
    offer = {"settlement_id": f"cso_{secrets.token_hex(10)}", "case_id": case["case_id"],
             "account_id": case["account_id"], "owed_minor": limits.owed_minor,
             "principal_minor": limits.principal_minor,
             "principal_floor_minor": limits.principal_floor_minor,
             "discount_minor": discount_minor,
             "settle_minor": limits.owed_minor - discount_minor, "expires_on": expires_on,
             "staff_id": staff_id, "status": "offered", "strategy_version": strategy.version,
             "created_at": tx.now}
    tx.conn.execute(collection_settlements.insert().values(**offer))
    actor = "system" if staff_id.startswith("system:") else "staff"
    audit.append(tx, actor, staff_id, "collections.settlement_offered", "collection_case",
                 case["case_id"], {"settlement_id": offer["settlement_id"],
                                   "discount_minor": discount_minor,
                                   "settle_minor": offer["settle_minor"],
                                   "expires_on": expires_on.isoformat()})
    tx.emit("credit.collections.settlement_offered", "collection_case", case["case_id"],
            {"settlement_id": offer["settlement_id"], "settle_minor": offer["settle_minor"],
             "discount_minor": discount_minor, "expires_on": expires_on.isoformat()})
    return offer


def offer_settlement(tx: Tx, case_id: str, discount_minor: int, expires_on: dt.date,
                     staff_id: str, *, strategy: CollectionsStrategy | None = None
                     ) -> dict[str, Any]:
    """Offer to settle the case's account for what is owed minus ``discount_minor`` (minor
    units) until ``expires_on``. The discount may waive charges (interest, fees, penalty)
    but never principal below the configured floor. Replaces an earlier open offer.
    Acceptance (paying ``settle_minor`` and waiving the rest) is not implemented here."""
    strategy = strategy or default_strategy()
    _check_staff(staff_id)
    check_minor(discount_minor, "discount_minor", minimum=1)
    check_date(expires_on, "expires_on")
    case = _open_for_work(tx, case_id)
    days_max = strategy.settlement.offer_days_max
    if not tx.today < expires_on <= tx.today + dt.timedelta(days=days_max):
        raise ValidationError(f"must be after today and at most {days_max} days ahead",
                              field="expires_on")
    limits = settlement_limits(tx.conn, case["account_id"], strategy)
    if discount_minor > limits.discount_max_minor:
        raise ValidationError(
            f"must be at most {limits.discount_max_minor} minor units: a settlement waives "
            f"charges, never principal below {limits.principal_floor_minor}",
            field="discount_minor")
    return _insert_offer(tx, case, limits, discount_minor, expires_on, staff_id, strategy)


def _automatic_offer(tx: Tx, context: _Run, case: Mapping[str, Any]) -> None:
    limits = settlement_limits(tx.conn, case["account_id"], context.strategy)
    if limits.discount_max_minor <= 0:
        return  # nothing to waive: the message still invites the debtor to talk
    _insert_offer(tx, case, limits, limits.discount_max_minor,
                  context.day + dt.timedelta(days=context.strategy.settlement.offer_days),
                  context.strategy.collector_id, context.strategy)
    context.counts["settlement_offers"] += 1


# ----------------------------------------------------------------------------- hand-over
def _hand_over(tx: Tx, context: _Run, case: Mapping[str, Any],
               account: credit.PortfolioAccount, step: DpdStep,
               action: Mapping[str, Any]) -> None:
    assert step.agency_name is not None
    owed = credit.payoff_amount(tx.conn, account.account_id)
    handover_id = "ho_" + hashlib.sha256(case["case_id"].encode()).hexdigest()[:24]
    tx.conn.execute(collection_handovers.insert().values(
        handover_id=handover_id, case_id=case["case_id"], account_id=account.account_id,
        agency_name=step.agency_name, dpd=account.dpd, owed_minor=owed,
        handed_over_on=context.day, template_code=step.template_code,
        strategy_version=context.strategy.version, created_at=tx.now))
    tx.conn.execute(update(collection_actions).where(
        collection_actions.c.id == action["id"]).values(
        status="done", attempts=action["attempts"] + 1, last_attempt_on=context.day,
        completed_at=tx.now))
    context.counts["handed_over"] += 1
    audit.append(tx, "system", context.strategy.collector_id, "collections.handed_over",
                 "collection_case", case["case_id"],
                 {"handover_id": handover_id, "agency_name": step.agency_name,
                  "dpd": account.dpd, "owed_minor": owed})
    tx.emit("credit.collections.handed_over", "collection_case", case["case_id"],
            {"handover_id": handover_id, "account_id": account.account_id,
             "agency_name": step.agency_name, "owed_minor": owed,
             "template_code": step.template_code})
    _close_case(tx, context, case, "handed_over")
