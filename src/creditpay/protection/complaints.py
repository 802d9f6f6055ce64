"""Complaints: tickets with a category, SLA timers on business time, escalation when a timer
is breached, an outcome, and statistics for regulatory reports.

Lifecycle: ``open`` -> ``acknowledged`` -> ``resolved`` (resolving an open complaint also
acknowledges it). Due times are set when the complaint is opened, from the SLA policy in
force (its version is stored): acknowledge within ``acknowledge_hours``, resolve within
``resolve_days`` (per category where the policy says so). :func:`escalate_overdue` (run
from the scheduler / close of business) raises the escalation level of complaints whose
timers have run out: level 1 when acknowledgement is late, level 2 when resolution is late.
Every change appends an audit record (subject ``complaint``) and an outbox event; the
complaint names the account or other subject it is about (``subject_type``/``subject_id``).

Statistics (:func:`complaint_stats`) for complaints opened in a period: counts by category
and by status, breach rates and the median time to resolve. A timer counts as *decided*
once it was met or its due time has passed; the breach rate is breached / decided.
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
import statistics
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar

from sqlalchemy import Connection, func, select, update

from creditpay.db.uow import Tx
from creditpay.errors import IdempotencyConflictError, NotFoundError, StateError, ValidationError
from creditpay.i18n import NC_, translate
from creditpay.money import validate_currency
from creditpay.platform import audit
from creditpay.platform.validators import (
    check_aware,
    check_choice,
    check_minor,
    check_reference,
)
from creditpay.protection.tables import complaints

__all__ = [
    "complaint_queue", "sla_clocks", "SlaClock", "QUEUE_MAX",
    "Category",
    "Outcome",
    "CHANNELS",
    "SlaPolicy",
    "DEFAULT_SLA_POLICY",
    "Complaint",
    "ComplaintStats",
    "open_complaint",
    "acknowledge_complaint",
    "resolve_complaint",
    "escalate_overdue",
    "get_complaint",
    "customer_complaints",
    "complaint_stats",
    "CATEGORY_NAMES",
    "ComplaintSubjects",
]

CHANNELS = ("app", "phone", "email", "web", "letter", "regulator_referral")
ESCALATION_BATCH_MAX = 1_000
STATS_ROWS_MAX = 1_000_000


class Category(enum.StrEnum):
    FEES_AND_CHARGES = "fees_and_charges"
    DISCLOSURE = "disclosure"
    CREDIT_DECISION = "credit_decision"
    REPAYMENT_AND_BILLING = "repayment_and_billing"
    COLLECTIONS_CONDUCT = "collections_conduct"
    PRIVACY_AND_CONSENT = "privacy_and_consent"
    FRAUD_DISPUTE = "fraud_dispute"
    SERVICE_QUALITY = "service_quality"
    OTHER = "other"


# A category's name: English msgids of the gettext catalogs (creditpay.i18n), in the
# context "complaint category" (short labels such as "Other" mean something else elsewhere).
_CATEGORY_CONTEXT = "complaint category"
_CATEGORY_MESSAGES: dict[Category, str] = {
    Category.FEES_AND_CHARGES: NC_("complaint category", "Fees and charges"),
    Category.DISCLOSURE: NC_("complaint category", "Disclosure"),
    Category.CREDIT_DECISION: NC_("complaint category", "Credit decision"),
    Category.REPAYMENT_AND_BILLING: NC_("complaint category", "Repayment and billing"),
    Category.COLLECTIONS_CONDUCT: NC_("complaint category", "Collections conduct"),
    Category.PRIVACY_AND_CONSENT: NC_("complaint category", "Privacy and consent"),
    Category.FRAUD_DISPUTE: NC_("complaint category", "Fraud and disputed transactions"),
    Category.SERVICE_QUALITY: NC_("complaint category", "Service quality"),
    Category.OTHER: NC_("complaint category", "Other"),
}
# (zh-CN, en) of each category.
CATEGORY_NAMES: dict[Category, tuple[str, str]] = {
    category: (translate(message, "zh-CN", context=_CATEGORY_CONTEXT), message)
    for category, message in _CATEGORY_MESSAGES.items()}


class Outcome(enum.StrEnum):
    UPHELD = "upheld"
    PARTIALLY_UPHELD = "partially_upheld"
    NOT_UPHELD = "not_upheld"
    WITHDRAWN_BY_CUSTOMER = "withdrawn_by_customer"


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Service levels, as data; a complaint keeps the version it was opened under."""

    version: int = 1
    acknowledge_hours: int = 24
    resolve_days: int = 15
    # Conduct and disputed-payment complaints harm the consumer while they wait.
    resolve_days_by_category: dict[str, int] = field(default_factory=lambda: {
        Category.COLLECTIONS_CONDUCT.value: 7, Category.FRAUD_DISPUTE.value: 7})

    def __post_init__(self) -> None:
        for name, value, high in (("version", self.version, 10**6),
                                  ("acknowledge_hours", self.acknowledge_hours, 24 * 30),
                                  ("resolve_days", self.resolve_days, 365)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise ValidationError(f"must be an integer from 1 to {high}", field=name)
        for category, days in self.resolve_days_by_category.items():
            check_choice(category, [c.value for c in Category], "resolve_days_by_category")
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
                raise ValidationError("must be an integer from 1 to 365",
                                      field=f"resolve_days_by_category.{category}")

    def resolve_days_for(self, category: Category) -> int:
        return self.resolve_days_by_category.get(category.value, self.resolve_days)


DEFAULT_SLA_POLICY = SlaPolicy()


@dataclass(frozen=True, slots=True)
class Complaint:
    id: str
    customer_id: str
    subject_type: str
    subject_id: str
    category: Category
    channel: str
    status: str
    opened_at: dt.datetime
    acknowledge_due_at: dt.datetime
    resolve_due_at: dt.datetime
    acknowledged_at: dt.datetime | None
    resolved_at: dt.datetime | None
    escalation_level: int
    escalated_at: dt.datetime | None
    outcome: Outcome | None
    remedy_minor: int | None
    remedy_currency: str | None
    sla_policy_version: int

    def acknowledge_breached(self, now: dt.datetime) -> bool:
        done = self.acknowledged_at
        return (done or now) > self.acknowledge_due_at

    def resolve_breached(self, now: dt.datetime) -> bool:
        return (self.resolved_at or now) > self.resolve_due_at

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {key: value.isoformat() if isinstance(value, dt.datetime) else
                (str(value) if isinstance(value, enum.Enum) else value)
                for key, value in data.items()}


def _complaint(row: Any) -> Complaint:
    return Complaint(
        id=row.id, customer_id=row.customer_id, subject_type=row.subject_type,
        subject_id=row.subject_id, category=Category(row.category), channel=row.channel,
        status=row.status, opened_at=row.opened_at,
        acknowledge_due_at=row.acknowledge_due_at,
        resolve_due_at=row.resolve_due_at, acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at, escalation_level=row.escalation_level,
        escalated_at=row.escalated_at,
        outcome=Outcome(row.outcome) if row.outcome else None, remedy_minor=row.remedy_minor,
        remedy_currency=row.remedy_currency, sla_policy_version=row.sla_policy_version)


_StrEnumT = TypeVar("_StrEnumT", bound=enum.StrEnum)


def _parse(enum_type: type[_StrEnumT], value: object, field_name: str) -> _StrEnumT:
    if isinstance(value, str):
        try:
            return enum_type(value)
        except ValueError:
            pass
    raise ValidationError(f"unknown {field_name} {value!r}; use one of "
                          f"{', '.join(m.value for m in enum_type)}", field=field_name)


def _subject_type(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 32 or \
            not value.replace("_", "").isalpha() or not value.islower():
        raise ValidationError("must be a lower-case name like 'credit_line' (1-32 chars)",
                              field="subject_type")
    return value


def _event(tx: Tx, actor_type: str, actor_id: str, action: str, complaint: Complaint,
           extra: dict[str, Any]) -> None:
    payload = {"customer_id": complaint.customer_id, "subject_type": complaint.subject_type,
               "subject_id": complaint.subject_id, "category": complaint.category.value,
               "status": complaint.status, "escalation_level": complaint.escalation_level,
               **extra}
    audit.append(tx, actor_type, actor_id, action, "complaint", complaint.id, payload)
    tx.emit(action, "complaint", complaint.id, payload)


@dataclass(frozen=True)
class ComplaintSubjects:
    """What a customer may complain about, and whose each one is.

    ``owners`` maps a subject type (``payment_intent``, ``credit_account``...) to a read of
    the domain that owns it: ``owners[type](conn, subject_id)`` is the ids of the customers
    the subject belongs to (a transfer: payer and payee), empty when there is no such
    subject. The domains' reads are wired in by the application (compliance reads no other
    domain's tables)."""

    owners: Mapping[str, Callable[[Connection, str], Collection[str]]]

    def check(self, conn: Connection, customer_id: str, subject_type: str,
              subject_id: str) -> None:
        """A customer's complaint names one of the customer's own subjects: another
        party's payment or account is answered as not found (its id cannot be probed)."""
        owner_of = self.owners.get(subject_type)
        if owner_of is None:
            raise ValidationError(f"unknown subject_type {subject_type!r}; use one of "
                                  f"{', '.join(sorted(self.owners))}", field="subject_type")
        if customer_id not in owner_of(conn, subject_id):
            raise NotFoundError(f"you have no {subject_type} {subject_id!r}",
                                field="subject_id")


def open_complaint(tx: Tx, *, customer_id: str, subject_type: str, subject_id: str,
                   category: Category | str, channel: str, request_id: str | None = None,
                   policy: SlaPolicy = DEFAULT_SLA_POLICY,
                   subjects: ComplaintSubjects | None = None) -> Complaint:
    """Open a complaint at business time ``tx.now`` with its SLA due times.

    ``request_id`` is the idempotency key: a retry returns the complaint first opened with it
    (IdempotencyConflictError if the retry differs). ``subjects``: when the customer opens
    it themself (the app), the subject must be theirs (:class:`ComplaintSubjects`); staff
    recording a complaint received by phone or letter may leave it out.
    """
    check_reference(customer_id, "customer_id")
    _subject_type(subject_type)
    check_reference(subject_id, "subject_id")
    if subjects is not None:
        subjects.check(tx.conn, customer_id, subject_type, subject_id)
    category = _parse(Category, category, "category")
    check_choice(channel, CHANNELS, "channel")
    if not isinstance(policy, SlaPolicy):
        raise ValidationError("must be an SlaPolicy", field="policy")
    if request_id is not None:
        check_reference(request_id, "request_id")
        row = tx.conn.execute(select(complaints).where(
            complaints.c.request_id == request_id)).first()
        if row is not None:
            earlier = _complaint(row)
            if (earlier.customer_id, earlier.subject_type, earlier.subject_id,
                    earlier.category, earlier.channel) != (customer_id, subject_type,
                                                           subject_id, category, channel):
                raise IdempotencyConflictError("this request_id opened a different complaint",
                                               field="request_id")
            return earlier
    now = tx.now
    values = {
        "id": "cmp_" + secrets.token_hex(12), "request_id": request_id,
        "customer_id": customer_id, "subject_type": subject_type, "subject_id": subject_id,
        "category": category.value, "channel": channel, "status": "open", "opened_at": now,
        "acknowledge_due_at": now + dt.timedelta(hours=policy.acknowledge_hours),
        "resolve_due_at": now + dt.timedelta(days=policy.resolve_days_for(category)),
        "acknowledged_at": None, "resolved_at": None, "escalation_level": 0,
        "escalated_at": None, "outcome": None, "remedy_minor": None, "remedy_currency": None,
        "sla_policy_version": policy.version,
    }
    tx.conn.execute(complaints.insert().values(**values))
    complaint = _complaint(_Values(values))
    _event(tx, "customer", customer_id, "complaint.opened", complaint,
           {"channel": channel, "acknowledge_due_at": complaint.acknowledge_due_at.isoformat(),
            "resolve_due_at": complaint.resolve_due_at.isoformat(),
            "sla_policy_version": policy.version})
    return complaint


class _Values:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _load_for_update(tx: Tx, complaint_id: str) -> Complaint:
    check_reference(complaint_id, "complaint_id")
    query = select(complaints).where(complaints.c.id == complaint_id)
    if tx.dialect == "postgresql":
        query = query.with_for_update()
    row = tx.conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"no complaint {complaint_id}", field="complaint_id")
    return _complaint(row)


def get_complaint(conn: Connection, complaint_id: str) -> Complaint:
    check_reference(complaint_id, "complaint_id")
    row = conn.execute(select(complaints).where(complaints.c.id == complaint_id)).first()
    if row is None:
        raise NotFoundError(f"no complaint {complaint_id}", field="complaint_id")
    return _complaint(row)


def customer_complaints(conn: Connection, customer_id: str, *, limit: int) -> list[Complaint]:
    """The customer's complaints, oldest first (opening time, then id), at most ``limit``
    (one statement, however many complaints)."""
    c = complaints.c
    return [_complaint(row) for row in conn.execute(
        select(complaints).where(c.customer_id == customer_id)
        .order_by(c.opened_at, c.id).limit(limit))]


QUEUE_MAX = 200
_QUEUE_STATUSES = {"active": ("open", "acknowledged"), "open": ("open",),
                   "acknowledged": ("acknowledged",), "resolved": ("resolved",)}


def complaint_queue(conn: Connection, *, status: str = "active", limit: int = 50
                    ) -> tuple[list[Complaint], int]:
    """The staff's complaint queue: complaints of ``status`` (``active`` = open or
    acknowledged, or one status), the one due to be resolved soonest first (then id), at
    most ``limit`` (1..QUEUE_MAX), and how many there are in all."""
    if status not in _QUEUE_STATUSES:
        raise ValidationError(f"must be one of {sorted(_QUEUE_STATUSES)}", field="status")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= QUEUE_MAX:
        raise ValidationError(f"must be 1..{QUEUE_MAX}", field="limit")
    c = complaints.c
    where = c.status.in_(_QUEUE_STATUSES[status])
    total = int(conn.execute(select(func.count()).select_from(complaints).where(where))
                .scalar_one())
    rows = conn.execute(select(complaints).where(where)
                        .order_by(c.resolve_due_at, c.id).limit(limit))
    return [_complaint(row) for row in rows], total


@dataclass(frozen=True, slots=True)
class SlaClock:
    """One service-level clock of a complaint: ``seconds_left`` until ``due_at`` (negative:
    overdue by that much); ``done_at`` when the step was done (then ``met`` says whether in
    time and the clock is stopped: ``seconds_left`` is counted to ``done_at``)."""

    step: str  # acknowledge | resolve
    due_at: dt.datetime
    done_at: dt.datetime | None
    seconds_left: int
    met: bool | None  # None while the step is not done

    @property
    def overdue(self) -> bool:
        return self.seconds_left < 0


def sla_clocks(complaint: Complaint, now: dt.datetime) -> tuple[SlaClock, SlaClock]:
    """The acknowledge and resolve clocks of ``complaint`` at ``now`` (pure): a step not
    done yet counts down to its due time from ``now``; a step done counts to when it was
    done, and says whether that was in time. Whole seconds, rounded towards the due time
    (a clock never shows more time left than there is)."""
    def clock(step: str, due: dt.datetime, done: dt.datetime | None) -> SlaClock:
        left = (due - (done or now)) // dt.timedelta(seconds=1)  # floor, exact
        return SlaClock(step, due, done, left, None if done is None else done <= due)

    return (clock("acknowledge", complaint.acknowledge_due_at, complaint.acknowledged_at),
            clock("resolve", complaint.resolve_due_at, complaint.resolved_at))


def acknowledge_complaint(tx: Tx, complaint_id: str, staff_id: str) -> Complaint:
    """Acknowledge an open complaint (a second acknowledgement changes nothing)."""
    check_reference(staff_id, "staff_id")
    complaint = _load_for_update(tx, complaint_id)
    if complaint.status != "open":
        if complaint.status == "acknowledged":
            return complaint
        raise StateError("a resolved complaint cannot be acknowledged", field="complaint_id",
                         rule="complaint.already_resolved")
    tx.conn.execute(update(complaints).where(complaints.c.id == complaint.id)
                    .values(status="acknowledged", acknowledged_at=tx.now))
    updated = get_complaint(tx.conn, complaint.id)
    _event(tx, "staff", staff_id, "complaint.acknowledged", updated,
           {"acknowledge_breached": updated.acknowledge_breached(tx.now)})
    return updated


def resolve_complaint(tx: Tx, complaint_id: str, staff_id: str, outcome: Outcome | str, *,
                      remedy_minor: int | None = None, remedy_currency: str | None = None
                      ) -> Complaint:
    """Close a complaint with its outcome (and the money paid back, if any)."""
    check_reference(staff_id, "staff_id")
    outcome = _parse(Outcome, outcome, "outcome")
    if (remedy_minor is None) != (remedy_currency is None):
        raise ValidationError("give both remedy_minor and remedy_currency, or neither",
                              field="remedy_currency")
    if remedy_minor is not None:
        check_minor(remedy_minor, "remedy_minor")
        validate_currency(remedy_currency, "remedy_currency")
        if outcome in (Outcome.NOT_UPHELD, Outcome.WITHDRAWN_BY_CUSTOMER) and remedy_minor:
            raise ValidationError(f"a {outcome.value} complaint has no remedy",
                                  field="remedy_minor")
    complaint = _load_for_update(tx, complaint_id)
    if complaint.status == "resolved":
        raise StateError("the complaint is already resolved", field="complaint_id",
                         rule="complaint.already_resolved")
    tx.conn.execute(update(complaints).where(complaints.c.id == complaint.id).values(
        status="resolved", resolved_at=tx.now, outcome=outcome.value,
        acknowledged_at=complaint.acknowledged_at or tx.now, remedy_minor=remedy_minor,
        remedy_currency=remedy_currency))
    updated = get_complaint(tx.conn, complaint.id)
    _event(tx, "staff", staff_id, "complaint.resolved", updated,
           {"outcome": outcome.value, "remedy_minor": remedy_minor,
            "remedy_currency": remedy_currency,
            "resolve_breached": updated.resolve_breached(tx.now)})
    return updated


def escalate_overdue(tx: Tx, *, limit: int = ESCALATION_BATCH_MAX) -> list[tuple[str, int]]:
    """Escalate complaints whose timers ran out by ``tx.now``: level 1 for a late
    acknowledgement, level 2 for a late resolution. Returns ``[(complaint_id, level)]`` of
    the complaints escalated now; re-running at the same time escalates nothing more."""
    if isinstance(limit, bool) or not isinstance(limit, int) or \
            not 1 <= limit <= ESCALATION_BATCH_MAX:
        raise ValidationError(f"must be from 1 to {ESCALATION_BATCH_MAX}", field="limit")
    now = tx.now
    c = complaints.c
    query = (select(complaints)
             .where(c.status != "resolved",
                    ((c.status == "open") & (c.acknowledge_due_at < now)
                     & (c.escalation_level < 1))
                    | ((c.resolve_due_at < now) & (c.escalation_level < 2)))
             .order_by(c.resolve_due_at, c.id).limit(limit))
    if tx.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    escalated = []
    for row in tx.conn.execute(query).all():
        complaint = _complaint(row)
        level = 2 if now > complaint.resolve_due_at else 1
        tx.conn.execute(update(complaints).where(c.id == complaint.id)
                        .values(escalation_level=level, escalated_at=now))
        updated = get_complaint(tx.conn, complaint.id)
        reason = "resolve_overdue" if level == 2 else "acknowledge_overdue"
        _event(tx, "system", "complaints-sla", "complaint.escalated", updated,
               {"reason": reason, "from_level": complaint.escalation_level})
        escalated.append((complaint.id, level))
    return escalated


@dataclass(frozen=True, slots=True)
class ComplaintStats:
    as_of: dt.datetime
    opened_from: dt.datetime | None
    opened_to: dt.datetime | None
    total: int
    by_category: dict[str, int]
    by_status: dict[str, int]
    by_outcome: dict[str, int]
    escalated: int
    acknowledge_decided: int
    acknowledge_breached: int
    resolve_decided: int
    resolve_breached: int
    acknowledge_breach_rate: float | None
    resolve_breach_rate: float | None
    median_hours_to_resolve: float | None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("as_of", "opened_from", "opened_to"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return data


def _as_of(item: Complaint, moment: dt.datetime) -> Complaint:
    """The complaint as it stood at ``moment``: steps taken later are not yet taken, so
    statistics as of a past time come out the same whenever they are computed. Only the
    latest escalation's time is stored: an escalation after ``moment`` counts as none then,
    even where an earlier level had been reached (docs/regulatory-reports.md)."""
    acknowledged = item.acknowledged_at if item.acknowledged_at is not None and \
        item.acknowledged_at <= moment else None
    resolved = item.resolved_at if item.resolved_at is not None and \
        item.resolved_at <= moment else None
    escalated = item.escalated_at is not None and item.escalated_at <= moment
    status = "resolved" if resolved is not None else \
        "acknowledged" if acknowledged is not None else "open"
    return replace(item, acknowledged_at=acknowledged, resolved_at=resolved, status=status,
                   outcome=item.outcome if resolved is not None else None,
                   escalation_level=item.escalation_level if escalated else 0,
                   escalated_at=item.escalated_at if escalated else None)


def complaint_stats(conn: Connection, as_of: dt.datetime, *,
                    opened_from: dt.datetime | None = None,
                    opened_to: dt.datetime | None = None) -> ComplaintStats:
    """Statistics of complaints opened in ``[opened_from, opened_to)`` as of ``as_of``
    (business time; timers still running at ``as_of`` are not counted as decided)."""
    check_aware(as_of, "as_of")
    query = select(complaints)
    if opened_from is not None:
        query = query.where(complaints.c.opened_at >= check_aware(opened_from, "opened_from"))
    if opened_to is not None:
        query = query.where(complaints.c.opened_at < check_aware(opened_to, "opened_to"))
    if opened_from is not None and opened_to is not None and opened_to <= opened_from:
        raise ValidationError("must be after opened_from", field="opened_to")
    rows = conn.execute(query.order_by(complaints.c.opened_at).limit(STATS_ROWS_MAX)).all()
    now = as_of.astimezone(dt.UTC)
    items = [_as_of(_complaint(row), now) for row in rows]
    by_category = {category.value: 0 for category in Category}
    by_status = {"open": 0, "acknowledged": 0, "resolved": 0}
    by_outcome = {outcome.value: 0 for outcome in Outcome}
    ack_decided = ack_breached = res_decided = res_breached = escalated = 0
    hours: list[float] = []
    for item in items:
        by_category[item.category.value] += 1
        by_status[item.status] += 1
        if item.outcome is not None:
            by_outcome[item.outcome.value] += 1
        escalated += item.escalation_level > 0
        if item.acknowledged_at is not None or now > item.acknowledge_due_at:
            ack_decided += 1
            ack_breached += item.acknowledge_breached(now)
        if item.resolved_at is not None or now > item.resolve_due_at:
            res_decided += 1
            res_breached += item.resolve_breached(now)
        if item.resolved_at is not None:
            hours.append((item.resolved_at - item.opened_at).total_seconds() / 3600)
    return ComplaintStats(
        as_of=now, opened_from=opened_from, opened_to=opened_to, total=len(items),
        by_category=by_category, by_status=by_status, by_outcome=by_outcome,
        escalated=escalated, acknowledge_decided=ack_decided,
        acknowledge_breached=ack_breached, resolve_decided=res_decided,
        resolve_breached=res_breached,
        acknowledge_breach_rate=round(ack_breached / ack_decided, 6) if ack_decided else None,
        resolve_breach_rate=round(res_breached / res_decided, 6) if res_decided else None,
        median_hours_to_resolve=round(statistics.median(hours), 4) if hours else None)
