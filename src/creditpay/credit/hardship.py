"""Hardship: a consumer in difficulty asks for help with a plan or cash loan; the account's
unbilled installments are replaced by the option they accepted (docs/hardship.md). A
pay-later line's balance moves into a hardship plan on the line instead
(:mod:`creditpay.credit.hardship_lines`, docs/hardship.md "A pay-later line").

Use cases, each in the caller's one transaction:

* :func:`options_for`: the options the product's policy (``hardship`` in the product YAML,
  :class:`creditpay.credit.products.HardshipPolicy`) allows for the consumer's account
  today, built by the pure core (:mod:`creditpay.credit.hardship_core`);
* :func:`request_hardship`: the consumer accepts an option by its id and the SHA-256 of the
  key-facts document they read (rendered by the caller's ``render``: consumer protection's
  :mod:`creditpay.protection.hardship`, which credit may not import). Approved at once
  within the product's auto-approval policy (the arrangement starts in the same
  transaction), otherwise referred to an operator;
* :func:`resolve_request`: an operator approves (the same option on today's state; refused
  if its figures are no longer those disclosed) or declines a referred request;
* :func:`end_arrangements`: the close of business's daily step: restores the contract rate
  when a holiday whose interest was waived ends, and ends arrangements completed (the new
  schedule repaid, or the account closed) or broken (a new installment still unpaid
  ``broken_after_days`` after its due date, or the account written off). Idempotent.

While an arrangement is active, collections contact for the account is suspended
(:func:`under_arrangement`, read by :mod:`creditpay.credit.collections`) and bureau
reporting carries its special-arrangement code (:func:`arrangements_at`).

Approval replaces the unbilled installments in one transaction: they are cancelled and the
new schedule inserted after them; no ledger posting is needed, because interest and fees
are recognised when an installment is billed (the close of business posts what each new
installment bills) and the principal receivable is unchanged. A reduced rate, or a holiday
whose interest is waived (rate 0 until the holiday ends), changes the account's accrual
rate from the schedule's start. Amounts are minor units.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, union, update

from creditpay.credit import accounts_repo as repo
from creditpay.credit import products as P
from creditpay.credit.daycount import DayCount
from creditpay.credit.hardship_core import (
    BUREAU_CODES,
    HardshipAccount,
    HardshipOption,
    ScheduledInstallment,
    auto_decision,
    check_reason,
    hardship_options,
)
from creditpay.credit.hardship_line_core import LineHardshipAccount, line_hardship_options
from creditpay.credit.hardship_lines import (
    LINE_PLAN_PREFIX,
    after_line_arrangement,
    line_snapshot,
    start_line_arrangement,
)
from creditpay.credit.hardship_tables import (
    credit_hardship_arrangements,
    credit_hardship_requests,
)
from creditpay.credit.plans import Item, accrual_denominator, refresh_account
from creditpay.credit.schedule import Method
from creditpay.credit.tables import credit_accounts
from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, StateError, ValidationError
from creditpay.i18n import LANGUAGES
from creditpay.platform import audit
from creditpay.platform.notes import Notes
from creditpay.platform.validators import check_choice, check_reference

__all__ = ["options_for", "OptionsView", "HardshipRequest", "HardshipRequestResult",
           "request_hardship", "resolve_request", "list_requests", "get_request",
           "end_arrangements", "under_arrangement", "arrangements_at", "option_figures",
           "DocumentRenderer", "STATEMENT_MAX_CHARS", "DECISIONS", "BUREAU_CODES",
           "arrangement_of", "customer_arrangements"]

STATEMENT_MAX_CHARS = 1000
DECISIONS = ("approve", "decline")

# Renders the key-facts document of an option's figures in a language (UTF-8 HTML bytes).
DocumentRenderer = Callable[[Mapping[str, Any], str], bytes]


# ------------------------------------------------------------------------------- reading
def _start_date(account: Mapping[str, Any]) -> dt.date:
    """The first day servicing has not accrued: the day after the last close of business
    that processed the account, else the day it opened."""
    last = account["last_cob_date"]
    return account["opened_on"] if last is None else last + dt.timedelta(days=1)


def _arrangement_counts(conn: Connection, account_id: str, since: dt.date
                        ) -> tuple[int, bool, bool]:
    """(arrangements started since ``since``, one is active, a request is referred)."""
    a = credit_hardship_arrangements.c
    # An arrangement's id is its request's: a line's runs on its hardship plan.
    requested = select(credit_hardship_requests.c.request_id).where(
        credit_hardship_requests.c.account_id == account_id)
    rows = conn.execute(select(a.started_on, a.status).where(
        or_(a.account_id == account_id, a.arrangement_id.in_(requested)))).all()
    referred = conn.execute(select(func.count()).select_from(credit_hardship_requests).where(
        credit_hardship_requests.c.account_id == account_id,
        credit_hardship_requests.c.status == "referred")).scalar_one()
    return (sum(1 for started, _ in rows if started >= since),
            any(status == "active" for _, status in rows), bool(referred))


def _snapshot(conn: Connection, account: Mapping[str, Any], items: list[Item],
              product: P.Product, today: dt.date, *, pending_ok: bool = False
              ) -> HardshipAccount | LineHardshipAccount:
    policy = getattr(product, "hardship", None)
    window = policy.eligibility.window_months if policy is not None else 12
    from creditpay.credit.calendar import add_months

    in_window, active, referred = _arrangement_counts(conn, account["account_id"],
                                                      add_months(today, -window))
    if referred and not pending_ok:
        raise StateError("a hardship request for this account awaits an operator's decision",
                         field="account_id", rule="hardship.pending")
    if account["kind"] == "line":
        return line_snapshot(account, items, start=_start_date(account), in_window=in_window,
                             active=active)
    interest_bearing = account["interest_base"] == 1 and account["interest_rate_micro"] > 0
    if account["interest_base"] == 3:  # flat interest on the principal lent: not offered
        interest_bearing, method = True, Method.FLAT
    else:
        method = Method(account["method"]) if account["method"] else Method.EQUAL_PRINCIPAL
    accrued = Fraction(account["interest_accrual_num"], accrual_denominator(dict(account))) \
        if interest_bearing else Fraction(0)
    scheduled = tuple(ScheduledInstallment(i.number, i.due_date, i.principal_due,
                                           i.interest_due, i.fee_due)
                      for i in items if i.status == "scheduled")
    return HardshipAccount(
        account_id=account["account_id"], kind=account["kind"], status=account["status"],
        currency=account["currency"], dpd=account["dpd"], method=method,
        interest_bearing=interest_bearing,
        annual_rate=Decimal(account["interest_rate_micro"]) / P.MICRO,
        day_count=DayCount.ACT_360 if account["year_basis_days"] == 360 else DayCount.ACT_365,
        start_date=_start_date(account), accrued_interest_minor=accrued,
        anchor_day=account["anchor_day"], scheduled=scheduled,
        billed_unpaid=any(i.status == "billed" for i in items),
        arrangements_in_window=in_window, arrangement_active=active,
        product_code=account["product_code"], product_version=account["product_version"])


def _customer_account(conn: Connection, customer_id: str, account_id: object, *,
                      lock: bool = False) -> dict[str, Any]:
    """The account if it is the customer's, else NotFoundError naming ``account_id`` (the
    same answer whether it does not exist or is someone else's)."""
    check_reference(customer_id, "customer_id")
    account_id = check_reference(account_id, "account_id")
    try:
        account = repo.load_account(conn, account_id, lock=lock)
    except NotFoundError:
        account = None
    if account is None or account["customer_id"] != customer_id:
        raise NotFoundError(f"no credit account {account_id!r}", field="account_id")
    return account


@dataclass(frozen=True)
class OptionsView:
    """The options of an account today, with what the disclosure needs besides them."""

    account_id: str
    currency: str
    product_code: str
    product_version: int
    product_name: Mapping[str, str]
    dpd: int
    principal_minor: int
    current_total_minor: int
    current_installments: int
    holiday_interest: str
    options: tuple[HardshipOption, ...]
    auto_approval_reasons: tuple[str, ...]
    auto_approval_dpd_max: int
    broken_after_days: int
    # A pay-later line (docs/hardship.md, "A pay-later line"): its balance moves into a
    # hardship plan, the line is frozen, the charges already on its statements stay owed.
    is_line: bool = False
    line_charges_minor: int = 0

    def figures(self, option: HardshipOption) -> dict[str, Any]:
        return option_figures(self, option)

    def find(self, option_id: object) -> HardshipOption:
        for option in self.options:
            if option.option_id == option_id:
                return option
        raise ValidationError("is not one of this account's hardship options today; ask "
                              "for the options again", field="option_id")


def options_for(conn: Connection, *, customer_id: str, account_id: object, today: dt.date,
                catalogue: P.Catalogue, lock: bool = False, pending_ok: bool = False
                ) -> OptionsView:
    """The hardship options of ``customer_id``'s account ``account_id`` on ``today``
    (NotFoundError for another customer's account; StateError naming ``account_id`` with
    the ``hardship.*`` rule when it has none)."""
    account = _customer_account(conn, customer_id, account_id, lock=lock)
    product = catalogue.get(account["product_code"], account["product_version"])
    items = repo.load_items(conn, account["seq"])
    snapshot = _snapshot(conn, account, items, product, today, pending_ok=pending_ok)
    policy = getattr(product, "hardship", None)
    # A line has no installments of its own; its interest and fees already billed stay
    # owed on its statements (shown as line_charges_minor).
    if isinstance(snapshot, LineHardshipAccount):
        options = line_hardship_options(snapshot, policy)
        is_line, installments, line_charges = True, 0, snapshot.charges_minor
        bearing = bool(snapshot.annual_rate)
    else:
        options = hardship_options(snapshot, policy)
        is_line, installments, line_charges = False, len(snapshot.scheduled), 0
        bearing = snapshot.interest_bearing
    assert policy is not None  # both option functions refuse a product without one
    return OptionsView(
        account_id=snapshot.account_id, currency=snapshot.currency,
        product_code=product.code, product_version=product.version,
        product_name=dict(product.name), dpd=snapshot.dpd,
        principal_minor=snapshot.principal_minor,
        current_total_minor=snapshot.current_total_minor, current_installments=installments,
        holiday_interest=policy.holiday_interest if bearing else "none",
        options=tuple(options), auto_approval_reasons=tuple(policy.auto_approval.reasons),
        auto_approval_dpd_max=policy.auto_approval.dpd_max,
        broken_after_days=policy.broken_after_days, is_line=is_line,
        line_charges_minor=line_charges)


def _percent(rate: Decimal) -> str:
    from creditpay.formatting import percent_string

    return percent_string(rate)


def option_figures(view: OptionsView, option: HardshipOption) -> dict[str, Any]:
    """The figures an option discloses (JSON-ready; amounts minor units, rates as percent
    strings): what the key-facts document shows, what the API returns and what a request
    stores."""
    schedule = option.schedule
    figures = {
        "option_id": option.option_id, "kind": option.kind, "cycles": option.cycles,
        "account_id": view.account_id, "currency": view.currency,
        "product_code": view.product_code, "product_version": view.product_version,
        "principal_minor": view.principal_minor,
        "annual_rate_percent": _percent(option.annual_rate),
        "apr_percent": _percent(option.apr),
        "installments": option.installments, "installment_minor": option.installment_minor,
        "first_due_date": option.first_due_date.isoformat(),
        "last_due_date": option.last_due_date.isoformat(),
        "total_interest_minor": schedule.totals.interest_minor,
        "total_fee_minor": schedule.totals.fee_minor,
        "new_total_minor": option.new_total_minor,
        "current_total_minor": option.current_total_minor,
        "current_installments": view.current_installments,
        "extra_cost_minor": option.extra_cost_minor,
        "holiday_interest": view.holiday_interest if option.kind == "payment_holiday"
        else None,
        "rate_restored_on": option.rate_restored_on.isoformat()
        if option.rate_restored_on else None,
        "bureau_code": BUREAU_CODES[option.kind],
        "collections_contact_suspended": True,
        "broken_after_days": view.broken_after_days,
        "schedule": [{"number": i.number, "due_date": i.due_date.isoformat(),
                      "principal_minor": i.principal_minor,
                      "interest_minor": i.interest_minor, "fee_minor": i.fee_minor,
                      "total_minor": i.total_minor,
                      "balance_after_minor": i.balance_after_minor}
                     for i in schedule.installments],
    }
    if view.is_line:
        # The line's own figures: frozen while the arrangement runs, and the interest and
        # fees already on its statements, which stay owed there.
        figures.update(line=True, line_frozen=True,
                       line_charges_minor=view.line_charges_minor)
    return figures


# ------------------------------------------------------------------------------- requests
@dataclass(frozen=True)
class HardshipRequest:
    """A consumer's request: the option they accept by its id and the SHA-256 of the
    key-facts document they read (in either language)."""

    request_id: str
    customer_id: str
    account_id: str
    reason: str
    option_id: str
    key_facts_hash: str
    statement: str | None = None

    def __post_init__(self) -> None:
        check_reference(self.request_id, "request_id")
        check_reference(self.customer_id, "customer_id")
        check_reference(self.account_id, "account_id")
        check_reason(self.reason)
        if not isinstance(self.option_id, str) or not self.option_id.startswith("hs-") \
                or len(self.option_id) != 27:
            raise ValidationError("must be an option id from the options (hs-...)",
                                  field="option_id")
        digest = self.key_facts_hash
        if not isinstance(digest, str) or len(digest) != 64 or \
                any(c not in "0123456789abcdef" for c in digest):
            raise ValidationError("must be the SHA-256 (64 lowercase hex) of the key-facts "
                                  "document shown", field="key_facts_hash")
        if self.statement is not None and (not isinstance(self.statement, str) or
                                           len(self.statement) > STATEMENT_MAX_CHARS):
            raise ValidationError(f"must be text of at most {STATEMENT_MAX_CHARS} characters",
                                  field="statement")


@dataclass(frozen=True)
class HardshipRequestResult:
    request_id: str
    status: str  # approved | referred | declined
    account_id: str
    option_id: str
    option_kind: str
    language: str
    figures: Mapping[str, Any]
    arrangement_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "status": self.status,
                "account_id": self.account_id, "option_id": self.option_id,
                "option_kind": self.option_kind, "language": self.language,
                "arrangement_id": self.arrangement_id, "figures": dict(self.figures)}


def _matching_language(figures: Mapping[str, Any], digest: str, render: DocumentRenderer
                       ) -> tuple[str, bytes]:
    for language in LANGUAGES:
        document = render(figures, language)
        if hashlib.sha256(document).hexdigest() == digest:
            return language, document
    raise ValidationError("is not the SHA-256 of this option's key-facts document in "
                          "zh-CN or en; show the consumer the current document",
                          field="key_facts_hash")


def _note(tx: Tx, notes: Notes | None, text: str | None, *, kind: str, request_id: str,
          author_id: str, customer_id: str, field: str) -> str | None:
    """``text`` kept in the notes vault (encrypted, erasable): its reference, or None."""
    if text is None or not text.strip():
        return None
    if notes is None:
        raise ValidationError("free text needs the notes vault, which this process lacks",
                              field=field)
    return notes.store(tx, text=text, kind=kind, about_type="credit_hardship_request",
                       about_id=request_id, author_id=author_id, customer_id=customer_id,
                       field=field)


def request_hardship(tx: Tx, request: HardshipRequest, *, catalogue: P.Catalogue,
                     render: DocumentRenderer, notes: Notes | None = None
                     ) -> HardshipRequestResult:
    """Record ``request`` and decide it: approved (the arrangement starts now) within the
    product's auto-approval policy, else referred. Refused, changing nothing: another
    customer's account (NotFoundError), an account without options (StateError), an option
    id that is not one of today's (ValidationError ``option_id``), a hash that is not the
    option's document (ValidationError ``key_facts_hash``)."""
    if not isinstance(request, HardshipRequest):
        raise ValidationError("must be a HardshipRequest", field="request")
    existing = tx.conn.execute(select(credit_hardship_requests).where(
        credit_hardship_requests.c.request_id == request.request_id)).mappings().first()
    if existing is not None:
        if existing["customer_id"] != request.customer_id or \
                existing["option_id"] != request.option_id:
            raise StateError("this request id was used for another request",
                             field="request_id", rule="hardship.request_id_used")
        return _result(dict(existing))
    view = options_for(tx.conn, customer_id=request.customer_id,
                       account_id=request.account_id, today=tx.today, catalogue=catalogue,
                       lock=True)
    option = view.find(request.option_id)
    figures = option_figures(view, option)
    language, document = _matching_language(figures, request.key_facts_hash, render)
    product = catalogue.get(view.product_code, view.product_version)
    policy = getattr(product, "hardship", None)
    assert policy is not None
    account = repo.load_account(tx.conn, view.account_id)
    snapshot_dpd = account["dpd"]
    decision = auto_decision(snapshot_dpd, policy, request.reason)
    statement_note_id = _note(tx, notes, request.statement, kind="hardship.statement",
                              request_id=request.request_id, author_id=request.customer_id,
                              customer_id=request.customer_id, field="statement")
    tx.conn.execute(credit_hardship_requests.insert().values(
        request_id=request.request_id, customer_id=request.customer_id,
        account_id=view.account_id, currency=view.currency, product_code=view.product_code,
        product_version=view.product_version, reason=request.reason,
        statement_note_id=statement_note_id, option_id=option.option_id,
        option_kind=option.kind,
        cycles=option.cycles, annual_rate_micro=P.rate_micro(option.annual_rate),
        figures=figures, language=language, key_facts_sha256=request.key_facts_hash,
        key_facts_html=document.decode("utf-8"), status=decision,
        decided_by="policy" if decision == "approved" else None, decision_note_id=None,
        dpd_at_request=snapshot_dpd, created_at=tx.now,
        decided_at=tx.now if decision == "approved" else None))
    audit.append(tx, "customer", request.customer_id, "credit.hardship.requested",
                 "credit_hardship_request", request.request_id, {
                     "account_id": view.account_id, "reason": request.reason,
                     "option_kind": option.kind, "cycles": option.cycles,
                     "extra_cost_minor": option.extra_cost_minor,
                     "key_facts_sha256": request.key_facts_hash, "language": language,
                     "status": decision, "dpd": snapshot_dpd})
    arrangement_id = None
    if decision == "approved":
        arrangement_id = _start(tx, request.request_id, account, option, policy,
                                actor=("system", "hardship_policy"), catalogue=catalogue)
    else:
        tx.emit("credit.hardship.referred", "credit_hardship_request", request.request_id,
                {"account_id": view.account_id, "customer_id": request.customer_id,
                 "option_kind": option.kind})
    return HardshipRequestResult(request.request_id, decision, view.account_id,
                                 option.option_id, option.kind, language, figures,
                                 arrangement_id)


def _start(tx: Tx, arrangement_id: str, account: dict[str, Any], option: HardshipOption,
           policy: P.HardshipPolicy, *, actor: tuple[str, str], catalogue: P.Catalogue
           ) -> str:
    """Replace the account's unbilled installments by ``option``'s schedule and start the
    arrangement (one transaction: the caller's). A line's balance moves into a hardship
    plan on the line instead (:mod:`creditpay.credit.hardship_lines`), which carries the
    arrangement."""
    from creditpay.credit.plans import schedule_items

    if account["kind"] == "line":
        plan = start_line_arrangement(tx, arrangement_id, account, option,
                                      catalogue=catalogue)
        return _record_arrangement(tx, arrangement_id, plan, option, policy, actor=actor,
                                   first=1, cancelled=0, line_id=account["account_id"])
    items = repo.load_items(tx.conn, account["seq"])
    scheduled = [i for i in items if i.status == "scheduled"]
    for item in scheduled:
        item.status = "cancelled"
        item.dirty = True
    first = repo.next_number(tx.conn, account["seq"])
    new_items = schedule_items(option.schedule, first)
    repo.save_items(tx.conn, account["seq"], [*scheduled, *new_items])
    level = option.schedule.level_payment_minor or option.schedule.level_principal_minor
    rate_micro = account["interest_rate_micro"]
    if option.kind == "reduced_rate":
        rate_micro = P.rate_micro(option.annual_rate)
    elif option.rate_during_holiday is not None:
        rate_micro = P.rate_micro(option.rate_during_holiday)
    if rate_micro != account["interest_rate_micro"]:
        repo.update_account(tx.conn, account["seq"], {"interest_rate_micro": rate_micro})
    kept = [i for i in items if i.status != "cancelled"]
    refresh_account(tx, account, [*kept, *new_items], tx.today, catalogue=catalogue,
                    schedule_level_minor=level if level is not None
                    else account["schedule_level_minor"])
    return _record_arrangement(tx, arrangement_id, account, option, policy, actor=actor,
                               first=first, cancelled=len(scheduled))


def _record_arrangement(tx: Tx, arrangement_id: str, account: Mapping[str, Any],
                        option: HardshipOption, policy: P.HardshipPolicy, *,
                        actor: tuple[str, str], first: int, cancelled: int,
                        line_id: str | None = None) -> str:
    """Insert the arrangement on ``account`` (whose installments from ``first`` are the
    option's), audited and announced."""
    restore = option.rate_restored_on
    tx.conn.execute(credit_hardship_arrangements.insert().values(
        arrangement_id=arrangement_id, account_id=account["account_id"],
        customer_id=account["customer_id"], option_kind=option.kind, cycles=option.cycles,
        started_on=tx.today, first_number=first, last_due_date=option.last_due_date,
        broken_after_days=policy.broken_after_days, rate_restore_on=restore,
        restore_rate_micro=P.rate_micro(option.annual_rate) if restore else None,
        rate_restored=restore is None, status="active", ended_on=None, created_at=tx.now,
        updated_at=tx.now))
    payload = {"account_id": account["account_id"], "customer_id": account["customer_id"],
               "option_kind": option.kind, "cycles": option.cycles,
               "installments": option.installments,
               "installment_minor": option.installment_minor,
               "first_due_date": option.first_due_date.isoformat(),
               "extra_cost_minor": option.extra_cost_minor,
               "cancelled_installments": cancelled, "first_number": first}
    if line_id is not None:
        payload.update(line_id=line_id, plan_account_id=account["account_id"])
    audit.append(tx, actor[0], actor[1], "credit.hardship.arrangement_started",
                 "credit_hardship_arrangement", arrangement_id, payload)
    tx.emit("credit.hardship.approved", "credit_hardship_arrangement", arrangement_id,
            payload)
    return arrangement_id


def _result(row: Mapping[str, Any]) -> HardshipRequestResult:
    arrangement = row["request_id"] if row["status"] == "approved" else None
    return HardshipRequestResult(row["request_id"], row["status"], row["account_id"],
                                 row["option_id"], row["option_kind"], row["language"],
                                 row["figures"], arrangement)


def resolve_request(tx: Tx, *, request_id: object, decision: object, operator_id: str,
                    note: str | None, catalogue: P.Catalogue, notes: Notes | None = None
                    ) -> HardshipRequestResult:
    """An operator's decision on a referred request. ``approve`` applies the same option on
    today's state when its figures are still those the consumer accepted (else StateError
    ``hardship.changed``: decline it, the consumer chooses again); ``decline`` closes it.
    The operator's note is kept in the notes vault (``notes``, required with one)."""
    request_id = check_reference(request_id, "request_id")
    decision = check_choice(decision, DECISIONS, "decision")
    check_reference(operator_id, "operator_id")
    if note is not None and (not isinstance(note, str) or len(note) > STATEMENT_MAX_CHARS):
        raise ValidationError(f"must be text of at most {STATEMENT_MAX_CHARS} characters",
                              field="note")
    r = credit_hardship_requests.c
    query = select(credit_hardship_requests).where(r.request_id == request_id)
    if tx.conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = tx.conn.execute(query).mappings().first()
    if row is None:
        raise NotFoundError(f"no hardship request {request_id!r}", field="request_id")
    if row["status"] != "referred":
        raise StateError(f"the request is {row['status']}, not referred", field="request_id",
                         rule="hardship.not_referred")
    arrangement_id = None
    if decision == "approve":
        # Today's options (the request being decided does not block them here).
        account = repo.load_account(tx.conn, row["account_id"], lock=True)
        product = catalogue.get(account["product_code"], account["product_version"])
        policy = getattr(product, "hardship", None)
        view = options_for(tx.conn, customer_id=row["customer_id"],
                           account_id=row["account_id"], today=tx.today,
                           catalogue=catalogue, pending_ok=True)
        same = [o for o in view.options if o.kind == row["option_kind"] and
                o.cycles == row["cycles"] and
                P.rate_micro(o.annual_rate) == row["annual_rate_micro"]]
        if not same or option_figures(view, same[0])["schedule"] != row["figures"]["schedule"]:
            raise StateError("the account changed since the request: the option's figures "
                             "are no longer those the consumer accepted; decline it so they "
                             "can choose again", field="request_id", rule="hardship.changed")
        assert policy is not None
        arrangement_id = _start(tx, request_id, account, same[0], policy,
                                actor=("staff", operator_id), catalogue=catalogue)
    status = "approved" if decision == "approve" else "declined"
    note_id = _note(tx, notes, note, kind="hardship.decision_note", request_id=request_id,
                    author_id=operator_id, customer_id=row["customer_id"], field="note")
    tx.conn.execute(update(credit_hardship_requests).where(r.request_id == request_id).values(
        status=status, decided_by=operator_id, decision_note_id=note_id, decided_at=tx.now))
    audit.append(tx, "staff", operator_id, f"credit.hardship.{status}",
                 "credit_hardship_request", request_id,
                 {"account_id": row["account_id"], "decision": decision})
    if status == "declined":
        tx.emit("credit.hardship.declined", "credit_hardship_request", request_id,
                {"account_id": row["account_id"], "customer_id": row["customer_id"]})
    stored = dict(row, status=status)
    result = _result(stored)
    return HardshipRequestResult(result.request_id, status, result.account_id,
                                 result.option_id, result.option_kind, result.language,
                                 result.figures, arrangement_id)


def _request_out(row: Mapping[str, Any]) -> dict[str, Any]:
    figures = row["figures"]
    return {"request_id": row["request_id"], "customer_id": row["customer_id"],
            "account_id": row["account_id"], "reason": row["reason"],
            "status": row["status"], "option_id": row["option_id"],
            "option_kind": row["option_kind"], "cycles": row["cycles"],
            "currency": row["currency"], "dpd_at_request": row["dpd_at_request"],
            "extra_cost_minor": figures["extra_cost_minor"],
            "installments": figures["installments"],
            "installment_minor": figures["installment_minor"],
            "language": row["language"], "key_facts_sha256": row["key_facts_sha256"],
            "decided_by": row["decided_by"], "decision_note_id": row["decision_note_id"],
            "statement_note_id": row["statement_note_id"],
            "created_at": row["created_at"].isoformat(),
            "decided_at": row["decided_at"].isoformat() if row["decided_at"] else None}


def list_requests(conn: Connection, *, customer_id: str | None = None,
                  status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Requests newest first: a customer's (``customer_id``), or the operators' queue
    (``status``: approved | referred | declined)."""
    r = credit_hardship_requests.c
    query = select(credit_hardship_requests).order_by(r.created_at.desc(),
                                                      r.request_id).limit(limit)
    if customer_id is not None:
        query = query.where(r.customer_id == check_reference(customer_id, "customer_id"))
    if status is not None:
        query = query.where(r.status == check_choice(
            status, ("approved", "referred", "declined"), "status"))
    return [_request_out(dict(row)) for row in conn.execute(query).mappings()]


def get_request(conn: Connection, request_id: object) -> dict[str, Any]:
    """One request with its figures (NotFoundError naming ``request_id``)."""
    request_id = check_reference(request_id, "request_id")
    row = conn.execute(select(credit_hardship_requests).where(
        credit_hardship_requests.c.request_id == request_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no hardship request {request_id!r}", field="request_id")
    return {**_request_out(dict(row)), "figures": row["figures"]}


def new_request_id() -> str:
    return "hr_" + secrets.token_hex(12)


# --------------------------------------------------------------------------- arrangements
def _line_plans(line_id: str) -> Any:
    """The hardship plans of a line's arrangements (a subquery of account ids)."""
    c = credit_accounts.c
    return select(c.account_id).where(
        c.line_id == line_id, c.account_id.startswith(LINE_PLAN_PREFIX, autoescape=True))


def under_arrangement(conn: Connection, account_id: str) -> bool:
    """Whether a hardship arrangement runs on ``account_id`` now, or on the hardship plan of
    the line ``account_id`` (collections contact is suspended while it does)."""
    return account_id in accounts_under_arrangement(conn, [account_id])


def accounts_under_arrangement(conn: Connection, account_ids: Sequence[str]) -> frozenset[str]:
    """Those of ``account_ids`` for which :func:`under_arrangement` holds, in one statement
    (the collections run reads its batch's with it)."""
    if not account_ids:
        return frozenset()
    ids = list(account_ids)
    return frozenset(conn.execute(_UNDER_ARRANGEMENT_OF_MANY,
                                  {"account_ids": ids, "line_ids": ids}).scalars())


_h, _a = credit_hardship_arrangements.c, credit_accounts.c
# Two cases: an arrangement on the account itself, or on the hardship plan
# (LINE_PLAN_PREFIX) of the line that is the account. One constant statement (compiled once).
_UNDER_ARRANGEMENT_OF_MANY = union(
    select(_h.account_id).where(_h.status == "active",
                                _h.account_id.in_(bindparam("account_ids", expanding=True))),
    select(_a.line_id).join(credit_hardship_arrangements, _h.account_id == _a.account_id).where(
        _h.status == "active", _a.line_id.in_(bindparam("line_ids", expanding=True)),
        _a.account_id.startswith(LINE_PLAN_PREFIX, autoescape=True)))


def customer_arrangements(conn: Connection, customer_id: str, *, limit: int = 10_000
                          ) -> list[dict[str, Any]]:
    """The customer's arrangements, newest first (JSON-ready: dates ISO): what a
    data-subject export shows (one statement)."""
    a = credit_hardship_arrangements.c
    rows = conn.execute(select(credit_hardship_arrangements).where(
        a.customer_id == check_reference(customer_id, "customer_id")).order_by(
        a.created_at.desc(), a.arrangement_id).limit(limit)).mappings().all()
    return [{key: value.isoformat() if isinstance(value, dt.date) else value
             for key, value in row.items()} for row in rows]


def arrangement_of(conn: Connection, account_id: str) -> dict[str, Any] | None:
    """The arrangement running on ``account_id``, or None."""
    a = credit_hardship_arrangements.c
    row = conn.execute(select(credit_hardship_arrangements).where(
        a.account_id == account_id, a.status == "active")).mappings().first()
    return dict(row) if row is not None else None


def arrangements_at(conn: Connection, day: dt.date) -> dict[str, str]:
    """Option kind by account id of the arrangements running at the end of ``day`` (started
    by then and not ended by then): what bureau reporting marks."""
    a = credit_hardship_arrangements.c
    c = credit_accounts.c
    rows = conn.execute(select(a.account_id, a.option_kind, c.line_id).join(
        credit_accounts, c.account_id == a.account_id).where(
        a.started_on <= day, or_(a.ended_on.is_(None), a.ended_on > day))).all()
    marked = {account_id: kind for account_id, kind, _ in rows}
    # A line's arrangement runs on its hardship plan: the line is marked too.
    marked.update({line_id: kind for account_id, kind, line_id in rows
                   if line_id and account_id.startswith(LINE_PLAN_PREFIX)})
    return marked


def end_arrangements(tx: Tx, business_date: dt.date) -> dict[str, int]:
    """The close of business's hardship step for ``business_date`` (after the accounts'
    chunks): restore the contract rate of holidays whose interest was waived when the
    holiday ends tomorrow, and end the arrangements completed or broken. Idempotent: an
    ended arrangement is never looked at again, a restored rate never restored twice."""
    a = credit_hardship_arrangements.c
    counts = {"hardship_completed": 0, "hardship_broken": 0, "hardship_rates_restored": 0}
    rows = tx.conn.execute(select(credit_hardship_arrangements).where(
        a.status == "active").order_by(a.arrangement_id)).mappings().all()
    tomorrow = business_date + dt.timedelta(days=1)
    for row in rows:
        account = repo.load_account(tx.conn, row["account_id"])
        values: dict[str, Any] = {}
        if not row["rate_restored"] and row["rate_restore_on"] is not None and \
                row["rate_restore_on"] <= tomorrow:
            repo.update_account(tx.conn, account["seq"],
                                {"interest_rate_micro": row["restore_rate_micro"]})
            values["rate_restored"] = True
            counts["hardship_rates_restored"] += 1
        end = _ending(tx.conn, account, dict(row), business_date)
        if end is not None:
            values.update(status=end, ended_on=business_date)
            counts[f"hardship_{end}"] += 1
            payload = {"account_id": row["account_id"], "customer_id": row["customer_id"],
                       "status": end, "option_kind": row["option_kind"]}
            audit.append(tx, "system", "close_of_business", f"credit.hardship.{end}",
                         "credit_hardship_arrangement", row["arrangement_id"], payload)
            tx.emit(f"credit.hardship.{end}", "credit_hardship_arrangement",
                    row["arrangement_id"], payload)
            after_line_arrangement(tx, account, end)
        if values:
            tx.conn.execute(update(credit_hardship_arrangements).where(
                a.arrangement_id == row["arrangement_id"]).values(updated_at=tx.now,
                                                                   **values))
    return counts


def _ending(conn: Connection, account: Mapping[str, Any], row: Mapping[str, Any],
            business_date: dt.date) -> str | None:
    if account["status"] == "written_off":
        return "broken"
    if account["status"] == "closed":
        return "completed"
    items = [i for i in repo.load_items(conn, account["seq"], open_only=False)
             if i.number >= row["first_number"]]
    grace = row["broken_after_days"]
    if any(i.status == "past_due" and (business_date - i.due_date).days > grace
           for i in items):
        return "broken"
    if items and all(i.status in ("paid", "cancelled") for i in items):
        return "completed"
    return None
