"""Public facade of the credit domain.

Other domains (the payments checkout, the API, the simulator) call these functions inside
their own transaction ``tx`` and never touch the credit tables. Every mutating function
takes the caller's id as its idempotency key: a retry with the same content returns the
first result and moves no money twice; the same id with other content is refused
(IdempotencyConflictError naming the field). Bad input raises a typed error naming the field
before anything is written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BindParameter, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from creditpay import ledger as L
from creditpay.credit import accounts_repo as repo
from creditpay.credit import products as P
from creditpay.credit import quotes as Q
from creditpay.credit.caps import check_all_in_cost, check_all_in_cost_value, check_exposure
from creditpay.credit.funding import Funding, fund_loan
from creditpay.credit.lines import (
    CreditLineView,
    check_id,
    get_line,
    line_view,
    new_account_row,
    open_credit_line,
    platform_and_receivable_accounts,
    platform_ledger_accounts,
    post,
    set_credit_limit,
    transfer,
)
from creditpay.credit.loans import disburse_cash_loan
from creditpay.credit.offers import (
    Offer,
    capture_split,
    exact_rates,
    plan_schedules,
    price_offers,
)
from creditpay.credit.offers import quote_offers as compute_offers
from creditpay.credit.plans import (
    Item,
    insert_account,
    insert_schedule,
    interest_base_for,
    load_account,
    load_items,
    refresh_account,
    reschedule_unbilled,
    save_items,
    scale_fee,
)
from creditpay.credit.repayments import RepaymentResult, amount_owed, bill_in_full_minor, repay
from creditpay.credit.statements import (
    StatementView,
    convert_statement_to_installments,
    get_statement,
    list_statements,
)
from creditpay.credit.tables import (
    credit_accounts,
    credit_authorisations,
    credit_lines,
    credit_purchases,
    credit_refunds,
    credit_statements,
)
from creditpay.db.idempotency import find_replay, replay_or_new, request_hash
from creditpay.db.prepared import Prepared
from creditpay.db.uow import Tx
from creditpay.errors import (
    DomainError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditpay.ledger.queries import available_of
from creditpay.platform.validators import check_minor

__all__ = [
    "CreditLineView", "Offer", "CreditAuthorisation", "CreditPurchase", "RefundResult",
    "RepaymentResult", "AccountView", "auto_debit_enabled", "open_credit_line", "set_credit_limit", "quote_offers",
    "authorise_purchase", "capture_purchase", "void_authorisation", "refund_purchase",
    "repay", "disburse_cash_loan", "convert_statement_to_installments", "set_auto_debit",
    "StatementView", "get_statement", "list_statements",
    "get_account_view", "list_accounts", "exposure_minor", "payoff_amount",
    "account_customers", "statement_customers", "InstallmentView", "account_installments",
    "PortfolioAccount", "PortfolioLine", "portfolio", "portfolio_frames", "line_of",
    "HOLD_TIMEOUT_SECONDS", "quote", "Quote", "borrower_position", "BorrowerPosition",
    "MyCreditLine", "ProductExposure", "my_credit_line", "bill_in_full_minor",
]

HOLD_TIMEOUT_SECONDS = 7 * 24 * 3600  # an authorisation not captured in 7 days expires


@dataclass(frozen=True)
class CreditAuthorisation:
    authorisation_id: str
    customer_id: str
    line_id: str
    currency: str
    amount_minor: int
    held_minor: int
    captured_minor: int
    offer_id: str
    status: str
    hold_transfer_id: str


@dataclass(frozen=True)
class CreditPurchase:
    purchase_id: str
    authorisation_id: str
    funding: str
    account_id: str
    amount_minor: int
    financed_minor: int
    merchant_fee_minor: int


@dataclass(frozen=True)
class BorrowerPosition:
    """What the credit domain knows of a borrower in one currency (minor units)."""

    currency: str
    credit_limit_minor: int  # 0 without a line
    used_minor: int  # limit - available: drawn and held
    exposure_minor: int  # principal outstanding on open accounts + open authorisation holds
    open_plans: int  # active installment plans
    has_line: bool


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    purchase_id: str
    amount_minor: int
    principal_reduced_minor: int
    fee_reversed_minor: int
    merchant_fee_reversed_minor: int
    to_customer_minor: int  # already repaid: the payments side returns it to the wallet
    interest_reversed_minor: int = 0  # billed, unpaid interest of a plan, pro rata

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AccountView:
    account_id: str
    kind: str
    status: str
    product_code: str
    product_version: int
    principal_minor: int
    principal_past_due_minor: int
    interest_accrued_minor: int
    penalty_accrued_minor: int
    dpd: int
    bucket: str
    next_due_date: dt.date | None


# ----------------------------------------------------------------------------- account ids
def _platform_account_id(tx: Tx, code: str, currency: str) -> int:
    """The id of platform account ``code`` in ``currency``: one read by key (the platform's
    accounts are opened at start-up; opened here if a bare test store lacks them)."""
    from creditpay.ledger.chart import platform_key

    try:
        return L.get_account_by_key(tx.conn, platform_key(code, currency)).id
    except NotFoundError:
        return platform_ledger_accounts(tx, currency)[code]


# ----------------------------------------------------------------------------- queries
def _position_statements() -> tuple[Any, Any, Any]:
    """borrower_position's constant statements (the borrower's line with its exposure and
    plans; the exposure alone when there is no line; the line alone): built once and run
    on the driver as prepared statements (this runs on every credit quote and
    authorisation)."""
    a, ln = credit_accounts.c, credit_lines.c
    customer: BindParameter[str] = bindparam("customer_id")
    currency: BindParameter[str] = bindparam("currency")
    owed, held = _exposure_subqueries(customer, currency)
    plans = select(func.count()).select_from(credit_accounts).where(
        a.customer_id == customer, a.kind == "plan", a.status == "active"
    ).scalar_subquery()
    with_line = select(ln.limit_minor, ln.available_account_id, owed.label("principal"),
                       held.label("held"), plans.label("plans")).where(
        ln.customer_id == customer, ln.currency == currency)
    line_only = select(ln.limit_minor, ln.available_account_id).where(
        ln.customer_id == customer, ln.currency == currency)
    return with_line, select(owed, held), line_only


def _exposure_subqueries(customer: Any, currency: Any) -> tuple[Any, Any]:
    """The borrower's exposure as two scalar subqueries: principal owed on active accounts
    (with the lines' disputed buckets, issue #20, which are owed still) and the open holds."""
    a, h = credit_accounts.c, credit_authorisations.c
    principal = select(func.coalesce(func.sum(
        a.principal_unbilled_minor + a.principal_billed_minor + a.principal_past_due_minor),
        0)).where(a.customer_id == customer, a.currency == currency,
                  a.status == "active").scalar_subquery()
    held = select(func.coalesce(func.sum(h.held_minor), 0)).where(
        h.customer_id == customer, h.currency == currency,
        h.status == "authorised").scalar_subquery()
    return principal + _disputed_subquery(customer, currency), held


def _disputed_subquery(customer: Any, currency: Any) -> Any:
    from creditpay.credit.pauses import disputed_subquery

    return disputed_subquery(customer, currency)


_POSITION_WITH_LINE, _EXPOSURE, _LINE_ONLY = (Prepared(statement)
                                             for statement in _position_statements())


def _authorisable_statements() -> tuple[Any, Any]:
    """The authorisation's read of the customer's line with its exposure (principal on
    active accounts, the lines' disputed buckets, open holds): one constant statement, and
    its PostgreSQL form locking the line, built once (it runs on every credit checkout)."""
    ln = credit_lines.c
    customer: BindParameter[str] = bindparam("customer_id")
    currency: BindParameter[str] = bindparam("currency")
    owed, held = _exposure_subqueries(customer, currency)
    query = select(credit_lines, owed.label("exposure_principal"),
                   held.label("exposure_held")).where(ln.customer_id == customer,
                                                       ln.currency == currency)
    return query, query.with_for_update(of=credit_lines)


_LINE_WITH_EXPOSURE, _LINE_WITH_EXPOSURE_LOCKED = (Prepared(statement)
                                                   for statement in _authorisable_statements())


def _borrower_line_statements() -> tuple[Any, Any]:
    """borrower_line's read: the authorisation's line with its exposure plus the count of
    active plans and what the line's ledger account can still draw (what the affordability
    check needs besides), and its PostgreSQL form locking the line; built once."""
    a = credit_accounts.c
    customer: BindParameter[str] = bindparam("customer_id")
    plans = select(func.count()).select_from(credit_accounts).where(
        a.customer_id == customer, a.kind == "plan", a.status == "active"
    ).scalar_subquery()
    query = _LINE_WITH_EXPOSURE.statement.add_columns(
        plans.label("open_plans"),
        available_of(credit_lines.c.available_account_id).label("line_available"))
    return query, query.with_for_update(of=credit_lines)


_BORROWER_LINE, _BORROWER_LINE_LOCKED = (Prepared(statement)
                                         for statement in _borrower_line_statements())


@dataclass(frozen=True)
class BorrowerLine:
    """The borrower's line in ``currency`` as a credit checkout reads it once, for its
    affordability check and its authorisation (:func:`borrower_line`): the line's row
    (None without a line), the exposure (principal owed on active accounts with the lines'
    disputed buckets; open holds) and the active plans, minor units."""

    customer_id: str
    currency: str
    line: Mapping[str, Any] | None
    exposure_principal_minor: int
    exposure_held_minor: int
    open_plans: int
    # What the line's ledger account can still draw (Account.available_minor), read with
    # the line; 0 without a line.
    available_minor: int


def borrower_line(tx: Tx, customer_id: str, currency: str) -> BorrowerLine:
    """The borrower's line with its exposure and plans, read once (the line locked on
    PostgreSQL, as the authorisation locks it): what :func:`borrower_position` and
    :func:`authorise_purchase` would each read, passed to both by a checkout. Without a
    line, the exposure alone is read."""
    params = {"customer_id": customer_id, "currency": currency}
    query = _BORROWER_LINE_LOCKED if tx.dialect == "postgresql" else _BORROWER_LINE
    found = query.first(tx.conn, params)
    if found is None:
        exposure = _EXPOSURE.one(tx.conn, params)
        return BorrowerLine(customer_id, currency, None, int(exposure[0]), int(exposure[1]),
                            0, 0)
    line = found._asdict()
    principal, held = int(line.pop("exposure_principal")), int(line.pop("exposure_held"))
    plans = int(line.pop("open_plans"))
    available = int(line.pop("line_available"))
    return BorrowerLine(customer_id, currency, line, principal, held, plans, available)


def borrower_position(conn: Any, customer_id: str, currency: str, *,
                      with_accounts: bool = True,
                      line: BorrowerLine | None = None) -> BorrowerPosition:
    """What the credit domain knows of the borrower in ``currency`` (minor units), in one
    statement plus the line's ledger balance: ``credit_limit_minor``, ``used_minor``
    (limit - available: drawn and held), ``exposure_minor`` (principal outstanding on open
    accounts plus open authorisation holds) and ``open_plans`` (active plans); without a
    line in ``currency``, limit, use and plans are 0 and ``has_line`` is False.
    ``with_accounts=False`` reads the line only (exposure and plans are then 0): what the
    utilisation nudge needs, without summing the borrower's accounts and holds. ``line``:
    the borrower's line as :func:`borrower_line` read it in this transaction (the same
    figures, not read again)."""
    params = {"customer_id": customer_id, "currency": currency}
    if line is not None and with_accounts and (line.customer_id, line.currency) == (
            customer_id, currency):
        exposure = line.exposure_principal_minor + line.exposure_held_minor
        if line.line is None:
            return BorrowerPosition(currency, 0, 0, exposure, 0, False)
        limit = int(line.line["limit_minor"])
        return BorrowerPosition(currency, limit, max(0, limit - line.available_minor), exposure,
                                line.open_plans, True)
    if not with_accounts:
        found = _LINE_ONLY.first(conn, params)
        if found is None:
            return BorrowerPosition(currency, 0, 0, 0, 0, False)
        free = L.get_account(conn, found.available_account_id).available_minor
        return BorrowerPosition(currency, int(found.limit_minor),
                                max(0, int(found.limit_minor) - free), 0, 0, True)
    row = _POSITION_WITH_LINE.first(conn, params)
    if row is None:
        exposure = _EXPOSURE.one(conn, params)
        return BorrowerPosition(currency, 0, 0, int(exposure[0]) + int(exposure[1]), 0, False)
    available = L.get_account(conn, row.available_account_id).available_minor
    return BorrowerPosition(currency, int(row.limit_minor),
                            max(0, int(row.limit_minor) - available),
                            int(row.principal) + int(row.held), int(row.plans), True)


@dataclass(frozen=True)
class ProductExposure:
    """Principal outstanding (minor units) on a customer's open accounts of one product."""

    product_code: str
    kind: str  # line | plan | loan
    accounts: int
    principal_minor: int  # unbilled + billed + past due
    principal_past_due_minor: int


@dataclass(frozen=True)
class MyCreditLine:
    """A customer's own credit line as they see it (minor units): the limit, what is free
    to use now, what is used (drawn and held), open authorisation holds, and the principal
    they owe by product (the line's own purchases, installment plans and cash loans all use
    the one limit)."""

    line_id: str
    currency: str
    product_code: str
    status: str
    limit_minor: int
    available_minor: int
    used_minor: int
    held_minor: int
    exposure_minor: int  # principal outstanding on open accounts + open holds
    exposure_by_product: tuple[ProductExposure, ...]
    # The line's principal held while purchases on it are disputed (issue #20): owed, in
    # the exposure, but not due while the disputes are investigated.
    disputed_minor: int = 0


def my_credit_line(conn: Any, customer_id: str, currency: str = "CNY") -> MyCreditLine:
    """The customer's line in ``currency`` (NotFoundError naming ``currency`` without one):
    one read of the line, its ledger balance, the open holds, and one grouped read of the
    open accounts."""
    found = conn.execute(select(credit_lines).where(
        credit_lines.c.customer_id == customer_id,
        credit_lines.c.currency == currency)).mappings().first()
    if found is None:
        raise NotFoundError(f"you have no {currency} credit line", field="currency")
    view = line_view(conn, dict(found))
    a, h = credit_accounts.c, credit_authorisations.c
    held = int(conn.execute(select(func.coalesce(func.sum(h.held_minor), 0)).where(
        h.customer_id == customer_id, h.currency == currency,
        h.status == "authorised")).scalar_one())
    principal = a.principal_unbilled_minor + a.principal_billed_minor + a.principal_past_due_minor
    rows = conn.execute(select(
        a.product_code, a.kind, func.count().label("accounts"),
        func.coalesce(func.sum(principal), 0).label("principal"),
        func.coalesce(func.sum(a.principal_past_due_minor), 0).label("past_due")).where(
        a.customer_id == customer_id, a.currency == currency, a.status == "active").group_by(
        a.product_code, a.kind).order_by(a.kind, a.product_code)).all()
    by_product = tuple(ProductExposure(r.product_code, r.kind, int(r.accounts),
                                       int(r.principal), int(r.past_due)) for r in rows)
    disputed = int(conn.execute(select(_disputed_subquery(customer_id, currency)))
                   .scalar_one())
    return MyCreditLine(
        line_id=view.line_id, currency=currency, product_code=view.product_code,
        status=view.status, limit_minor=view.limit_minor,
        available_minor=view.available_minor,
        used_minor=max(0, view.limit_minor - view.available_minor), held_minor=held,
        exposure_minor=held + disputed + sum(p.principal_minor for p in by_product),
        exposure_by_product=by_product, disputed_minor=disputed)


def exposure_minor(conn: Any, customer_id: str, currency: str) -> int:
    """Unsecured exposure: principal outstanding on every open account plus open holds."""
    row = _EXPOSURE.one(conn, {"customer_id": customer_id, "currency": currency})
    return int(row[0]) + int(row[1])


def account_customers(conn: Any, account_id: str) -> tuple[str, ...]:
    """The customer of credit account (line, plan or loan) ``account_id``, if it exists."""
    customer = repo.account_customer(conn, account_id)
    return (customer,) if customer else ()


def statement_customers(conn: Any, statement_id: str) -> tuple[str, ...]:
    """The customer whose line statement ``statement_id`` is, if it exists."""
    customer = conn.execute(select(credit_accounts.c.customer_id).join(
        credit_statements, credit_statements.c.account_seq == credit_accounts.c.seq).where(
        credit_statements.c.statement_id == statement_id)).scalar_one_or_none()
    return (customer,) if customer else ()


def get_account_view(conn: Any, account_id: str) -> AccountView:
    from creditpay.credit.plans import accrued_minor

    a = load_account(conn, account_id)
    return AccountView(a["account_id"], a["kind"], a["status"], a["product_code"],
                       a["product_version"], a["principal_unbilled_minor"]
                       + a["principal_billed_minor"] + a["principal_past_due_minor"],
                       a["principal_past_due_minor"], accrued_minor(a, "interest"),
                       accrued_minor(a, "penalty"), a["dpd"], a["bucket"],
                       a["next_due_date"])


def list_accounts(conn: Any, customer_id: str) -> list[AccountView]:
    return [get_account_view(conn, account_id)
            for account_id in repo.account_ids(conn, customer_id)]


@dataclass(frozen=True)
class PortfolioAccount:
    """One credit account as portfolio monitoring sees it (amounts in minor units)."""

    account_id: str
    customer_id: str
    kind: str  # line | plan | loan
    status: str  # active | closed | written_off
    product_code: str
    line_id: str | None
    opened_on: dt.date
    principal_minor: int  # unbilled + billed + past due
    billed_unpaid_minor: int  # billed and past-due principal plus posted, unpaid charges
    dpd: int
    bucket: str
    # The next installment not yet billed (the account's ``next_due_date``), None without
    # one: what the collections' reminders look at, read with the book instead of per account.
    next_due_date: dt.date | None = None


@dataclass(frozen=True)
class PortfolioLine:
    line_id: str
    customer_id: str
    limit_minor: int
    status: str


def portfolio(conn: Any, currency: str) -> tuple[list[PortfolioAccount], list[PortfolioLine]]:
    """Every credit account and line in ``currency``, read in two statements (monitoring,
    reports and the simulator look at the whole book daily; per-account views would be
    one read per account)."""
    params = {"currency": currency}
    accounts = [PortfolioAccount(
        account_id, customer_id, kind, status, product_code, line_id, opened_on,
        unbilled + billed + past_due, billed + past_due + penalty_unpaid + late_fee_unpaid,
        dpd, bucket, next_due_date)
        for (account_id, customer_id, kind, status, product_code, line_id, opened_on,
             unbilled, billed, past_due, penalty_unpaid, late_fee_unpaid, dpd, bucket,
             next_due_date) in conn.execute(_PORTFOLIO_ACCOUNTS, params)]
    lines = [PortfolioLine(line_id, customer_id, limit_minor, status)
             for line_id, customer_id, limit_minor, status
             in conn.execute(_PORTFOLIO_LINES, params)]
    return accounts, lines


# portfolio's two reads: constant statements built once (read daily by the simulator,
# monitoring and reports); rows are unpacked as tuples, cheaper than by attribute.
_PORTFOLIO_ACCOUNTS = select(
    credit_accounts.c.account_id, credit_accounts.c.customer_id, credit_accounts.c.kind,
    credit_accounts.c.status, credit_accounts.c.product_code, credit_accounts.c.line_id,
    credit_accounts.c.opened_on, credit_accounts.c.principal_unbilled_minor,
    credit_accounts.c.principal_billed_minor, credit_accounts.c.principal_past_due_minor,
    credit_accounts.c.penalty_unpaid_minor, credit_accounts.c.late_fee_unpaid_minor,
    credit_accounts.c.dpd, credit_accounts.c.bucket, credit_accounts.c.next_due_date).where(
    credit_accounts.c.currency == bindparam("currency")).order_by(credit_accounts.c.seq)
_PORTFOLIO_LINES = select(
    credit_lines.c.line_id, credit_lines.c.customer_id, credit_lines.c.limit_minor,
    credit_lines.c.status).where(credit_lines.c.currency == bindparam("currency")).order_by(
    credit_lines.c.line_id)


def portfolio_frames(conn: Any, currency: str) -> tuple[Any, Any]:
    """The whole book in ``currency`` as two columnar polars DataFrames (risk monitoring
    reads a million accounts daily; no per-account objects). Read-only.

    accounts: account_id, customer_id, kind, status, product_code, line_id, opened_on,
    principal_minor (unbilled + billed + past due), dpd (days), bucket, first_due_date and
    first_due_status: the account's first installment (statement item for a line) falling
    due after the day it was opened (a down payment, paid at checkout, is not one), not
    cancelled; its status scheduled | billed | past_due | paid (null: none yet).
    lines: line_id, customer_id, product_code, limit_minor, status (active|frozen|closed).
    """
    import polars as pl

    from creditpay.credit.tables import credit_installments

    a, i = credit_accounts.c, credit_installments.c
    first = (select(i.account_seq, func.min(i.number).label("number"))
             .select_from(credit_installments.join(credit_accounts,
                                                   credit_accounts.c.seq == i.account_seq))
             .where(a.currency == currency, i.status != "cancelled", i.due_date > a.opened_on)
             .group_by(i.account_seq).subquery())
    firsts = (select(i.account_seq, i.due_date, i.status)
              .join(first, (first.c.account_seq == i.account_seq)
                    & (first.c.number == i.number)).subquery())
    accounts = _frame(conn, select(
        a.account_id, a.customer_id, a.kind, a.status, a.product_code, a.line_id, a.opened_on,
        a.principal_unbilled_minor + a.principal_billed_minor + a.principal_past_due_minor,
        a.dpd, a.bucket, firsts.c.due_date, firsts.c.status)
        .select_from(credit_accounts.outerjoin(firsts, firsts.c.account_seq == a.seq))
        .where(a.currency == currency), {
        "account_id": pl.String, "customer_id": pl.String, "kind": pl.String,
        "status": pl.String, "product_code": pl.String, "line_id": pl.String,
        "opened_on": pl.Date, "principal_minor": pl.Int64, "dpd": pl.Int64,
        "bucket": pl.String, "first_due_date": pl.Date, "first_due_status": pl.String})
    c = credit_lines.c
    lines = _frame(conn, select(c.line_id, c.customer_id, c.product_code, c.limit_minor,
                                c.status).where(c.currency == currency), {
        "line_id": pl.String, "customer_id": pl.String, "product_code": pl.String,
        "limit_minor": pl.Int64, "status": pl.String})
    return accounts, lines


def _frame(conn: Any, statement: Any, schema: dict[str, Any]) -> Any:
    """Run ``statement`` on the connection's driver cursor (same transaction) and build a
    polars frame: a million rows skip SQLAlchemy's per-row result processing. Dates come
    back as ISO text from SQLite and are parsed column-wise."""
    import polars as pl

    compiled = statement.compile(dialect=conn.dialect)
    values = compiled.construct_params()
    args = (tuple(values[name] for name in compiled.positiontup) if compiled.positional
            else values)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(str(compiled), args)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    dates = [name for name, kind in schema.items() if kind == pl.Date]
    raw = {name: (pl.String if name in dates and conn.dialect.name == "sqlite" else kind)
           for name, kind in schema.items()}
    frame = pl.DataFrame(rows, schema=raw, orient="row")
    if conn.dialect.name == "sqlite":
        frame = frame.with_columns(pl.col(name).str.slice(0, 10).str.to_date("%Y-%m-%d")
                                   for name in dates)
    return frame


def auto_debit_enabled(conn: Any, account_id: str, customer_id: str) -> bool:
    """Whether auto-debit from the wallet is on for ``customer_id``'s own account
    ``account_id`` (the switch's state, as My credit shows it); another customer's account
    is NotFoundError naming ``account_id``, as if it did not exist."""
    check_id(account_id, "account_id")
    account = load_account(conn, account_id)
    if account["customer_id"] != customer_id:
        raise NotFoundError(f"no credit account {account_id!r}", field="account_id")
    return bool(account["auto_debit_enabled"])


def payoff_amount(conn: Any, account_id: str) -> int:
    """What ``repay(..., target=account_id)`` must be to settle the account today."""
    return amount_owed(conn, load_account(conn, account_id))


@dataclass(frozen=True)
class InstallmentView:
    """One installment of a plan or loan as the consumer is shown it (minor units)."""

    number: int
    due_date: dt.date
    status: str  # scheduled | billed | past_due | paid
    principal_minor: int
    interest_minor: int
    fee_minor: int
    total_minor: int
    paid_minor: int


def account_installments(conn: Any, account_id: str) -> list[InstallmentView]:
    """The installments of a plan or loan by due date, those of a schedule replaced by a
    prepayment or refund left out. A scheduled row is what the close of business bills on
    the day before its due date (interest, fee and principal, to the minor unit) when every
    installment is paid on its due date (docs/credit-math.md, "Prepayment")."""
    account = load_account(conn, account_id)
    rows = [i for i in load_items(conn, account["seq"], open_only=False)
            if i.status != "cancelled"]
    return [InstallmentView(i.number, i.due_date, i.status, i.principal_minor,
                            i.interest_minor, i.fee_minor,
                            i.principal_minor + i.interest_minor + i.fee_minor, i.paid_total)
            for i in sorted(rows, key=lambda i: (i.due_date, i.number))]


CONSENT_REFERENCE_CHARS_MAX = 128  # a stored consent reference (``consent:<id>``)


def set_auto_debit(tx: Tx, *, account_id: str, enabled: bool, wallet_account_id: int | None,
                   consent_reference: str | None) -> AccountView:
    """Switch auto-debit on the due day on or off. Switching on stores
    ``consent_reference`` (``consent:<id>``, required: ValidationError naming it otherwise)
    and debits ledger account ``wallet_account_id``.

    Whether that consent is live is consumer protection's rule, not credit's: call
    :func:`creditpay.protection.auto_debit.set_auto_debit_with_consent` (or the consumer's
    use case :func:`creditpay.protection.auto_debit.switch_auto_debit`), which checks it in
    this transaction first; the close of business checks it again before every debit."""
    check_id(account_id, "account_id")
    if not isinstance(enabled, bool):
        raise ValidationError("must be true or false", field="enabled")
    if enabled:
        if not isinstance(consent_reference, str) or \
                not 1 <= len(consent_reference) <= CONSENT_REFERENCE_CHARS_MAX:
            raise ValidationError("auto-debit needs the consumer's consent reference",
                                  field="consent_reference")
        if isinstance(wallet_account_id, bool) or not isinstance(wallet_account_id, int) or \
                wallet_account_id <= 0:
            raise ValidationError("must be the wallet's ledger account id",
                                  field="wallet_account_id")
        L.get_account(tx.conn, wallet_account_id)  # NotFoundError if there is none
    account = load_account(tx.conn, account_id, lock=True)
    repo.update_account(tx.conn, account["seq"], {
        "auto_debit_enabled": enabled,
        "auto_debit_consent_ref": consent_reference if enabled else None,
        "auto_debit_account_id": wallet_account_id if enabled else None,
        "updated_at": tx.now})
    tx.emit("credit.auto_debit.changed", "credit_account", account_id,
            {"enabled": enabled, "consent_reference": consent_reference})
    return get_account_view(tx.conn, account_id)


# ----------------------------------------------------------------------------- checkout
def _auth_view(row: Any) -> CreditAuthorisation:
    return CreditAuthorisation(row["authorisation_id"], row["customer_id"], row["line_id"],
                               row["currency"], row["amount_minor"], row["held_minor"],
                               row["captured_minor"], row["offer_id"], row["status"],
                               row["hold_transfer_id"])


def _load_auth_statements() -> dict[tuple[bool, bool], Prepared]:
    """_load_auth's constant statements by (with the purchase's hash, locked), run on the
    driver (a capture runs one)."""
    statements = {}
    for with_purchase in (False, True):
        columns: list[Any] = [credit_authorisations, credit_lines.c.available_account_id.label(
            "line_available_account_id")]
        if with_purchase:
            columns.append(select(credit_purchases.c.request_hash).where(
                credit_purchases.c.purchase_id == bindparam("purchase_id")
            ).scalar_subquery().label("purchase_request_hash"))
        query = select(*columns).join(
            credit_lines, credit_lines.c.line_id == credit_authorisations.c.line_id).where(
            credit_authorisations.c.authorisation_id == bindparam("authorisation_id"))
        statements[with_purchase, False] = Prepared(query)
        statements[with_purchase, True] = Prepared(
            query.with_for_update(of=credit_authorisations))
    return statements


_LOAD_AUTH = _load_auth_statements()
# The authorisation's insert that does nothing when the id exists (insert_new's), by
# dialect, and the capture's writes: constant statements (one checkout each).
_AUTH_COLUMNS = ("authorisation_id", "request_hash", "customer_id", "line_id", "currency",
                 "amount_minor", "held_minor", "captured_minor", "offer_id", "offer",
                 "reference", "status", "hold_transfer_id", "created_at", "updated_at")
_INSERT_AUTH = {
    dialect: Prepared(insert(credit_authorisations).on_conflict_do_nothing(
        index_elements=["authorisation_id"]).returning(
        credit_authorisations.c.authorisation_id), columns=_AUTH_COLUMNS)
    for dialect, insert in (("sqlite", sqlite_insert), ("postgresql", pg_insert))}
_SET_AUTH_CAPTURED = Prepared(credit_authorisations.update().where(
    credit_authorisations.c.authorisation_id == bindparam("b_authorisation_id")).values(
    status=bindparam("b_status"), captured_minor=bindparam("b_captured_minor"),
    updated_at=bindparam("b_updated_at")))
_PURCHASE_COLUMNS = ("purchase_id", "request_hash", "authorisation_id", "customer_id",
                     "currency", "funding", "account_id", "amount_minor", "refunded_minor",
                     "merchant_payable_account_id", "created_at")
_INSERT_PURCHASE = Prepared(credit_purchases.insert(), columns=_PURCHASE_COLUMNS)
# The platform accounts a capture and a refund post to (opened by key: read and checked).
_CAPTURE_PLATFORM_CODES = ("subsidy_receivable", "fee_income")
_REFUND_PLATFORM_CODES = ("credit_limit_control", "fee_income", "interest_income",
                          "subsidy_receivable")


def _load_auth(conn: Any, authorisation_id: str, *, lock: bool = False,
               purchase_id: str | None = None) -> dict[str, Any]:
    """The authorisation's row plus its line's ``line_available_account_id`` (what a
    capture books against) and, given ``purchase_id``, the ``purchase_request_hash`` of a
    purchase already stored under that id (None if none): one statement; locked on
    PostgreSQL (the authorisation's row only) when ``lock``."""
    query = _LOAD_AUTH[purchase_id is not None,
                       lock and conn.dialect.name == "postgresql"]
    params = {"authorisation_id": authorisation_id}
    if purchase_id is not None:
        params["purchase_id"] = purchase_id
    row = query.first(conn, params)
    if row is None:
        raise NotFoundError(f"no authorisation {authorisation_id!r}",
                            field="authorisation_id")
    return row._asdict()


def quote_offers(tx: Any, *, customer_id: str, amount_minor: int, currency: str,
                 product_codes: list[str] | None = None, reference: str | None = None,
                 ttl_seconds: int = Q.QUOTE_TTL_SECONDS,
                 key_facts: Q.KeyFactsHash | None = None,
                 key_facts_languages: dict[str, Q.KeyFactsHash] | None = None,
                 within_limit_only: bool = False, catalogue: P.Catalogue) -> list[Any]:
    """Every offer for paying ``amount_minor`` with the customer's line (see
    :func:`quote`): stored once when ``tx`` is a Tx; a read-only Connection (with
    ``as_of`` unknown) is not accepted by the quoting itself."""
    if not isinstance(tx, Tx):
        return compute_offers(tx, customer_id=customer_id, amount_minor=amount_minor,
                              currency=currency, product_codes=product_codes,
                              catalogue=catalogue)
    return list(quote(tx, customer_id=customer_id, amount_minor=amount_minor,
                      currency=currency, product_codes=product_codes, reference=reference,
                      ttl_seconds=ttl_seconds, key_facts=key_facts,
                      key_facts_languages=key_facts_languages,
                      within_limit_only=within_limit_only, catalogue=catalogue).offers)


@dataclass(frozen=True)
class Quote:
    """An offer set as quoted and stored (``credit_quotes``): its id, expiry, offers."""

    quote_id: str
    expires_at: dt.datetime
    offers: tuple[Any, ...]


def quote(tx: Tx, *, customer_id: str, amount_minor: int, currency: str,
          product_codes: list[str] | None = None, reference: str | None = None,
          ttl_seconds: int = Q.QUOTE_TTL_SECONDS, key_facts: Q.KeyFactsHash | None = None,
          key_facts_languages: dict[str, Q.KeyFactsHash] | None = None,
          key_facts_by_language: Q.KeyFactsHashes | None = None,
          shown_language: str | None = None,
          within_limit_only: bool = False, catalogue: P.Catalogue) -> Quote:
    """Quote every offer for paying ``amount_minor`` (minor units) with the customer's
    line once and store the set (one ``credit_quotes`` row, :func:`authorise_purchase`
    uses the stored figures). ``key_facts`` gives the SHA-256 of an offer's key-facts
    document as shown (stored with it; ``key_facts_languages``: its hash in each language
    it may be read in; ``key_facts_by_language`` gives them all in one call, given the
    offer's figures and the :class:`~creditpay.credit.offers.OfferCosts` they were priced
    from, and the hash shown is then the one of ``shown_language``); ``within_limit_only``
    leaves out offers above the available limit.
    """
    priced = price_offers(tx, customer_id=customer_id, amount_minor=amount_minor,
                          currency=currency, product_codes=product_codes,
                          catalogue=catalogue, reference=reference)
    if within_limit_only:
        priced = [(o, c) for o, c in priced if o.within_available_limit]
    offers = [o for o, _ in priced]
    shown = []
    for offer, costs in priced:
        figures = _offer_json(offer)
        figures["currency"] = currency
        if costs is not None and key_facts_by_language is not None:
            # Solved once here and stored: acceptance and authorisation read them.
            figures["exact_rates"] = exact_rates(costs)
        # The document gets the schedule and all-in cost pricing just solved (no re-solve).
        by_language = key_facts_by_language(dict(figures), costs) if key_facts_by_language \
            else {language: render(figures)
                  for language, render in (key_facts_languages or {}).items()}
        if key_facts is not None:
            figures["key_facts_sha256"] = key_facts(figures)
        elif shown_language is not None and shown_language in by_language:
            figures["key_facts_sha256"] = by_language[shown_language]
        if by_language:
            figures["key_facts_sha256_by_language"] = by_language
        shown.append(figures)
    quote_id, expires_at = Q.record_quote(
        tx, customer_id=customer_id, currency=currency, amount_minor=amount_minor,
        reference=reference, offers=shown, ttl_seconds=ttl_seconds)
    return Quote(quote_id, expires_at, tuple(
        _QuotedOffer(o, quote_id, expires_at, f) for o, f in zip(offers, shown, strict=True)))


class _QuotedOffer:
    """An offer as quoted and stored: the Offer's attributes plus its quote id, expiry and
    the stored JSON figures (``as_dict``)."""

    def __init__(self, offer: Offer, quote_id: str, expires_at: dt.datetime,
                 figures: dict[str, Any]) -> None:
        self._offer, self.quote_id, self.expires_at = offer, quote_id, expires_at
        self.figures = figures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._offer, name)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.figures, quote_id=self.quote_id)


def _offer_json(offer: Offer) -> dict[str, Any]:
    """An offer's figures as a JSON object (ints and strings; the schedule as rows)."""
    return offer.figures()


def authorise_purchase(tx: Tx, *, authorisation_id: str, customer_id: str, amount_minor: int,
                       currency: str, offer_id: str, reference: str | None = None,
                       quote_id: str | None = None, key_facts_sha256: str | None = None,
                       key_facts_language: str | None = None,
                       stored: Q.StoredOffer | None = None, catalogue: P.Catalogue,
                       line: BorrowerLine | None = None) -> CreditAuthorisation:
    """Hold the financed amount of the accepted offer on the customer's line.

    The offer is the one stored when it was quoted (:func:`quote_offers`; in quote
    ``quote_id`` when given, else the customer's newest quote holding it, or ``stored`` as
    the caller already read it in this transaction): it is refused with StateError on
    ``offer_id`` when it was never quoted for this price, has expired, or its product
    version is no longer current, and with ValidationError on ``key_facts_sha256`` when the
    hash given is not that of the document shown (in ``key_facts_language``, when given:
    see :func:`creditpay.credit.quotes.check_usable`). Nothing is quoted again. Caps are
    checked again (CapExceededError names the cap); the hold itself is refused by the
    ledger if the line's available credit is short. ``line``: the customer's line as
    :func:`borrower_line` read it in this transaction (not read again).
    """
    check_id(authorisation_id, "authorisation_id")
    fingerprint = request_hash(customer_id=customer_id, amount_minor=amount_minor,
                               currency=currency, offer_id=offer_id, reference=reference)

    def replay() -> CreditAuthorisation | None:
        """The first result of a retry (IdempotencyConflictError if the content differs):
        read only when this call would refuse or its row exists already."""
        existing = find_replay(
            tx.conn, credit_authorisations.c.authorisation_id, authorisation_id, fingerprint,
            field="authorisation_id",
            conflict=f"authorisation {authorisation_id} exists with other content")
        if existing is None:
            return None
        return _auth_view(existing)

    try:
        checked = _authorisable(tx, customer_id=customer_id, amount_minor=amount_minor,
                                currency=currency, offer_id=offer_id, reference=reference,
                                quote_id=quote_id, key_facts_sha256=key_facts_sha256,
                                key_facts_language=key_facts_language,
                                stored=stored, catalogue=catalogue, line=line)
    except DomainError:
        first = replay()  # a retry of an authorisation made while the offer was good
        if first is not None:
            return first
        raise
    stored, offer, line_row, financed = checked
    hold_id = f"credit:auth:{authorisation_id}"
    row = {"authorisation_id": authorisation_id, "request_hash": fingerprint,
           "customer_id": customer_id, "line_id": line_row["line_id"], "currency": currency,
           "amount_minor": amount_minor, "held_minor": financed,
           "captured_minor": 0, "offer_id": offer_id,
           "offer": {k: v for k, v in offer.items() if k != "schedule"},
           "reference": reference, "status": "authorised", "hold_transfer_id": hold_id,
           "created_at": tx.now, "updated_at": tx.now}
    # Insert first (nothing if the id exists): a retry is told apart without a read.
    assert tuple(row) == _AUTH_COLUMNS, "an authorisation's columns changed"
    inserted = _INSERT_AUTH[tx.dialect].first(tx.conn, row)
    if inserted is None:
        first = replay()
        assert first is not None
        return first
    limit_control = _platform_account_id(tx, "credit_limit_control", currency)
    L.create_transfer(tx, L.TransferRequest(
        hold_id, "credit.purchase_hold", kind=L.TransferKind.PENDING,
        debit_account_id=line_row["available_account_id"],
        credit_account_id=limit_control, amount_minor=financed,
        timeout_seconds=HOLD_TIMEOUT_SECONDS, reference=reference))
    tx.emit("credit.purchase.authorised", "credit_authorisation", authorisation_id, {
        "customer_id": customer_id, "amount_minor": amount_minor, "offer_id": offer_id,
        "quote_id": stored.quote_id, "funding": offer["funding"],
        "product_code": offer["product_code"], "product_version": offer["product_version"]})
    return _auth_view(row)


def _authorisable(tx: Tx, *, customer_id: str, amount_minor: int, currency: str,
                  offer_id: str, reference: str | None, quote_id: str | None,
                  key_facts_sha256: str | None, stored: Q.StoredOffer | None,
                  catalogue: P.Catalogue, key_facts_language: str | None = None,
                  line: BorrowerLine | None = None
                  ) -> tuple[Q.StoredOffer, dict[str, Any], dict[str, Any], int]:
    """(stored offer, its figures, the customer's line, financed minor units) when the
    offer can be authorised now: stored and usable, the line active, caps and exposure
    within bounds. The line and the exposure are read in one statement (the line locked on
    PostgreSQL)."""
    if not isinstance(offer_id, str) or not offer_id:
        raise ValidationError("must be the id of an offer from quote_offers", field="offer_id")
    if reference is not None and (not isinstance(reference, str) or len(reference) > 128):
        raise ValidationError("must be at most 128 characters", field="reference")
    if stored is None or stored.offer_id != offer_id:
        stored = Q.find_offer(tx.conn, customer_id=customer_id, offer_id=offer_id,
                              quote_id=quote_id)
    if stored is not None and (stored.customer_id != customer_id or stored.currency != currency
                               or stored.amount_minor != amount_minor):
        stored = None  # quoted for another purchase
    stored = Q.check_usable(stored, tx.now, key_facts_sha256=key_facts_sha256,
                            key_facts_language=key_facts_language, catalogue=catalogue)
    offer = stored.offer
    if line is not None and (line.customer_id, line.currency) == (customer_id, currency):
        # Read (and locked) once for the checkout's affordability check and this.
        exposure_principal, exposure_held = line.exposure_principal_minor, \
            line.exposure_held_minor
        found: Any = line.line
    else:
        query = _LINE_WITH_EXPOSURE_LOCKED if tx.dialect == "postgresql" \
            else _LINE_WITH_EXPOSURE
        found = query.first(tx.conn, {"customer_id": customer_id, "currency": currency})
        if found is not None:
            found = found._asdict()
            exposure_principal = int(found.pop("exposure_principal"))
            exposure_held = int(found.pop("exposure_held"))
    if found is None:
        raise NotFoundError(f"customer {customer_id} has no {currency} credit line",
                            field="customer_id")
    row = dict(found)
    if row["status"] != "active":
        raise StateError(f"line {row['line_id']} is {row['status']}", field="customer_id")
    product = catalogue.get(offer["product_code"], offer["product_version"])
    caps = catalogue.caps(product.jurisdiction)
    financed = int(offer["financed_minor"])
    if offer["funding"] == "plan":
        # The caps of today, on the cost of the plan as quoted (solved once, stored with
        # the offer); a quote stored without it is priced again.
        stored_cost = (offer.get("exact_rates") or {}).get("all_in_annual_cost")
        if stored_cost is not None:
            check_all_in_cost_value(Decimal(stored_cost), caps, what="this plan")
        else:
            check_all_in_cost(plan_schedules(product, int(offer["periods"]), financed,
                                             tx.today, currency,
                                             offer["down_payment_rate"])[1],
                              caps, what="this plan")
    check_exposure(exposure_principal + exposure_held, financed, caps, currency)
    return stored, offer, row, financed


def void_authorisation(tx: Tx, *, authorisation_id: str) -> CreditAuthorisation:
    """Release the hold (idempotent: voiding a voided authorisation returns it)."""
    check_id(authorisation_id, "authorisation_id")
    auth = _load_auth(tx.conn, authorisation_id, lock=True)
    if auth["status"] == "voided":
        return _auth_view(auth)
    if auth["status"] != "authorised":
        raise StateError(f"authorisation is {auth['status']}", field="authorisation_id")
    try:
        L.create_transfer(tx, L.TransferRequest(
            f"{auth['hold_transfer_id']}:void", "credit.purchase_hold",
            kind=L.TransferKind.VOID, pending_id=auth["hold_transfer_id"]))
    except StateError:
        pass  # the hold already expired: the limit is released either way
    tx.conn.execute(credit_authorisations.update().where(
        credit_authorisations.c.authorisation_id == authorisation_id).values(
        status="voided", updated_at=tx.now))
    tx.emit("credit.purchase.voided", "credit_authorisation", authorisation_id, {})
    auth["status"] = "voided"
    return _auth_view(auth)


def _derived_id(prefix: str, source: str) -> str:
    """A short stable account id derived from a caller id (which may be up to 96 chars)."""
    return f"{prefix}_{hashlib.sha256(source.encode()).hexdigest()[:24]}"


def capture_purchase(tx: Tx, *, authorisation_id: str, capture_id: str, amount_minor: int,
                     merchant_payable_account_id: int, catalogue: P.Catalogue,
                     funding: Funding | None = None) -> CreditPurchase:
    """Capture (fully or partly) an authorised purchase: post the hold, originate the line
    purchase or the installment plan, and post principal receivable -> merchant payable
    (plus the merchant's subsidy for a merchant-paid plan fee). With a down payment the
    plan is the financed part only (the payments side posts the down payment from the
    wallet to the merchant), and the down payment is recorded as its installment 1, paid."""
    check_id(capture_id, "capture_id")
    check_id(authorisation_id, "authorisation_id")
    check_minor(amount_minor, "amount_minor", minimum=1)
    if isinstance(merchant_payable_account_id, bool) or \
            not isinstance(merchant_payable_account_id, int) or merchant_payable_account_id <= 0:
        raise ValidationError("must be a ledger account id", field="merchant_payable_account_id")
    fingerprint = request_hash(authorisation_id=authorisation_id, amount_minor=amount_minor,
                               merchant=merchant_payable_account_id)
    try:
        # The replay check rides on the authorisation's read (a capture is one per id).
        auth = _load_auth(tx.conn, authorisation_id, lock=True, purchase_id=capture_id)
        stored_hash = auth["purchase_request_hash"]
    except NotFoundError:
        auth, stored_hash = None, tx.conn.execute(select(credit_purchases.c.request_hash).where(
            credit_purchases.c.purchase_id == capture_id)).scalar()
        if stored_hash is None:
            raise
    if replay_or_new(stored_hash, fingerprint, field="capture_id",
                     conflict=f"capture {capture_id} exists with other content"):
        existing = tx.conn.execute(select(credit_purchases).where(
            credit_purchases.c.purchase_id == capture_id)).mappings().one()
        return _purchase_view(tx.conn, dict(existing))
    assert auth is not None
    if auth["status"] != "authorised":
        raise StateError(f"authorisation is {auth['status']}", field="authorisation_id")
    if amount_minor > auth["amount_minor"]:
        raise ValidationError(f"must not exceed the authorised {auth['amount_minor']}",
                              field="amount_minor")
    offer = auth["offer"]
    product = catalogue.get(offer["product_code"], offer["product_version"])
    currency, customer_id = auth["currency"], auth["customer_id"]
    down = 0
    if offer["funding"] == "plan" and offer["down_payment_minor"]:
        # A partial capture keeps the down payment's share of the price (largest remainder:
        # the parts add up to the capture); the payments side collects that share from the
        # wallet with the same split (offers.capture_split).
        down = capture_split(offer["down_payment_minor"], auth["amount_minor"],
                             amount_minor)[0]
    financed = amount_minor - down
    if financed <= 0:
        raise ValidationError("leaves nothing financed: capture more, or cancel",
                              field="amount_minor")
    merchant = L.get_account(tx.conn, merchant_payable_account_id)
    if merchant.currency != currency:
        raise ValidationError(f"is a {merchant.currency} account",
                              field="merchant_payable_account_id")
    # The accounts a capture posts to only (a merchant-paid plan fee's two), not the
    # platform's whole chart.
    platform, receivables = platform_and_receivable_accounts(
        tx, customer_id, currency, _CAPTURE_PLATFORM_CODES)
    requests = [L.TransferRequest(f"{auth['hold_transfer_id']}:post", "credit.purchase_hold",
                                  kind=L.TransferKind.POST,
                                  pending_id=auth["hold_transfer_id"], amount_minor=financed)]
    requests.append(transfer(f"credit:capture:{capture_id}:principal", "credit.purchase",
                             receivables["principal"], merchant_payable_account_id, financed,
                             capture_id))
    merchant_fee = 0
    if offer["funding"] == "line":
        account = load_account(tx.conn, auth["line_id"], lock=True)
        account_id = account["account_id"]
    else:
        assert isinstance(product, P.InstallmentPlanProduct)  # only plans fund by plan
        schedule, consumer = plan_schedules(product, offer["periods"], financed, tx.today,
                                            currency, offer.get("down_payment_rate"))
        customer_pays = product.fee_payer == "customer"
        caps = catalogue.caps(product.jurisdiction)
        stored_cost = (offer.get("exact_rates") or {}).get("all_in_annual_cost")
        if stored_cost is not None and financed == int(offer["financed_minor"]) \
                and tx.today.isoformat() == offer.get("quoted_on"):
            # The plan as quoted (same amount, same day: the same schedule): its cost was
            # solved when it was quoted; today's caps are checked on it.
            check_all_in_cost_value(Decimal(stored_cost), caps, what="this plan")
        else:
            check_all_in_cost(consumer, caps, what="this plan")
        merchant_fee = 0 if customer_pays else schedule.totals.fee_minor
        account_id = _derived_id("plan", capture_id)
        # Partner funding (docs/partner-lending.md): the funders are chosen, and each
        # partner decides, before any money moves; a product that falls back to decline
        # refuses the capture here.
        arrangement = catalogue.arrangement(product.code, product.version)
        routed = funding.route(tx, reference=capture_id, customer_id=customer_id,
                               product=product, principal_minor=financed, caps=caps,
                               arrangement=arrangement) \
            if funding is not None and arrangement is not None else None
        if merchant_fee:
            requests.append(transfer(f"credit:capture:{capture_id}:subsidy",
                                     "credit.merchant_subsidy", platform["subsidy_receivable"],
                                     platform["fee_income"], merchant_fee, capture_id))
    try:
        post(tx, requests)
    except StateError as exc:
        raise StateError(f"the hold cannot be captured: {exc.detail}",
                         field="authorisation_id") from None
    if offer["funding"] == "line":
        repo.add_unbilled_principal(tx.conn, account["seq"], financed, tx.now)
    else:
        assert isinstance(product, P.InstallmentPlanProduct)  # only plans fund by plan
        first_due = schedule.installments[0].due_date
        account = insert_account(tx, new_account_row(
            account_id=account_id, kind="plan", customer_id=customer_id, currency=currency,
            line_id=auth["line_id"], product=product, opened_on=tx.today, now=tx.now,
            principal_minor=financed, receivables=receivables,
            line_available_account_id=auth["line_available_account_id"],
            method=str(product.method), interest_rate=product.annual_rate,
            interest_base=interest_base_for(product.method, product.pricing == "apr"),
            fee_payer=product.fee_payer, subsidy_fee_minor=merchant_fee,
            schedule_level_minor=schedule.level_payment_minor or
            schedule.installments[0].principal_minor,
            anchor_day=tx.today.day, principal_unbilled_minor=financed,
            next_due_date=first_due))
        # The down payment, paid from the wallet at checkout, is installment 1 (paid); it
        # is not credit: the plan's principal and the receivables are the financed part.
        paid = [Item(None, 1, tx.today, "paid", down, 0, 0, principal_paid_minor=down,
                     minimum_minor=down)] if down else []
        insert_schedule(tx, account, schedule, customer_pays_fee=customer_pays, before=paid)
        if routed is not None:
            fund_loan(tx, routed, account_id=account_id, customer_id=customer_id,
                      product=product, principal_minor=financed, reference=capture_id)
    _SET_AUTH_CAPTURED.run(tx.conn, {
        "b_authorisation_id": authorisation_id, "b_status": "captured",
        "b_captured_minor": amount_minor, "b_updated_at": tx.now})
    row = {"purchase_id": capture_id, "request_hash": fingerprint,
           "authorisation_id": authorisation_id, "customer_id": customer_id,
           "currency": currency, "funding": offer["funding"], "account_id": account_id,
           "amount_minor": financed, "refunded_minor": 0,
           "merchant_payable_account_id": merchant_payable_account_id, "created_at": tx.now}
    assert tuple(row) == _PURCHASE_COLUMNS, "a purchase's columns changed"
    _INSERT_PURCHASE.run(tx.conn, row)
    tx.emit("credit.purchase.captured", "credit_purchase", capture_id, {
        "authorisation_id": authorisation_id, "account_id": account_id,
        "funding": offer["funding"], "financed_minor": financed,
        "down_payment_minor": down, "merchant_fee_minor": merchant_fee})
    return CreditPurchase(capture_id, authorisation_id, offer["funding"], account_id,
                          amount_minor, financed, merchant_fee)


def _purchase_view(conn: Any, row: dict[str, Any]) -> CreditPurchase:
    auth = _load_auth(conn, row["authorisation_id"])
    account = load_account(conn, row["account_id"])
    fee = account["subsidy_fee_minor"] if account["kind"] == "plan" else 0
    return CreditPurchase(row["purchase_id"], row["authorisation_id"], row["funding"],
                          row["account_id"], auth["captured_minor"], row["amount_minor"], fee)


# ----------------------------------------------------------------------------- refunds
def refund_purchase(tx: Tx, *, refund_id: str, purchase_id: str, amount_minor: int,
                    catalogue: P.Catalogue) -> RefundResult:
    """Refund part or all of a captured purchase: the principal it financed is reduced
    (not-yet-due principal first, then billed, newest first), fees not yet earned and a
    plan's billed, unpaid interest are reversed pro rata, the schedule is recomputed, the limit restored. What the customer
    already repaid of it comes back as ``to_customer_minor`` for the payments side to
    return to the wallet (from the merchant payable)."""
    check_id(refund_id, "refund_id")
    check_id(purchase_id, "purchase_id")
    check_minor(amount_minor, "amount_minor", minimum=1)
    fingerprint = request_hash(purchase_id=purchase_id, amount_minor=amount_minor)
    stored = find_replay(tx.conn, credit_refunds.c.refund_id, refund_id, fingerprint,
                         field="refund_id", conflict=f"refund {refund_id} exists with other content")
    if stored is not None:
        return RefundResult(**stored["result"])
    query = select(credit_purchases).where(credit_purchases.c.purchase_id == purchase_id)
    if tx.dialect == "postgresql":
        query = query.with_for_update()
    purchase = tx.conn.execute(query).mappings().first()
    if purchase is None:
        raise NotFoundError(f"no purchase {purchase_id!r}", field="purchase_id")
    refundable = purchase["amount_minor"] - purchase["refunded_minor"]
    if amount_minor > refundable:
        raise ValidationError(f"exceeds the {refundable} still refundable",
                              field="amount_minor")
    account = load_account(tx.conn, purchase["account_id"], lock=True)
    if account["status"] == "written_off":
        raise StateError("the purchase's account is written off", field="purchase_id")
    items = load_items(tx.conn, account["seq"])
    reduce_left = amount_minor
    new_items: list[Any] = []
    fee_reversed = interest_reversed = 0
    merchant_fee_reversed = 0
    if account["kind"] == "line":
        from_unbilled = min(reduce_left, account["principal_unbilled_minor"])
        account["principal_unbilled_minor"] -= from_unbilled
        reduce_left -= from_unbilled
    else:
        base = account["principal_original_minor"]
        unbilled = sum(i.principal_due for i in items if i.status == "scheduled")
        from_unbilled = min(reduce_left, unbilled)
        reduce_left -= from_unbilled
        # Unearned charges: future installments' fees, and billed-unpaid fees and interest,
        # shrink with the principal; what was already paid was earned and stays.
        keep, drop = base - amount_minor, base
        fee_reversed, interest_reversed = _reverse_billed_charges(items, keep, drop)
        # The principal lent shrinks first: a flat rate's interest is on it (less what was
        # prepaid) from today. What was prepaid cannot exceed what is still lent: a refund
        # beyond it goes back to the wallet.
        account["principal_original_minor"] = base - amount_minor
        account["principal_prepaid_minor"] = min(account["principal_prepaid_minor"],
                                                 base - amount_minor)
        if from_unbilled:
            new_items = reschedule_unbilled(
                account, items, unbilled - from_unbilled, tx.today, "reduce_installment",
                catalogue=catalogue, billed_ahead_until=repo.billed_ahead_until(
                    tx.conn, account["seq"], tx.today))
            for item in new_items:
                item.fee_minor = scale_fee(item.fee_minor, keep, drop)
                item.minimum_minor = item.principal_minor + item.interest_minor + \
                    item.fee_minor
        if account["subsidy_fee_minor"]:
            merchant_fee_reversed = scale_fee(account["subsidy_fee_minor"], amount_minor,
                                              base)
            account["subsidy_fee_minor"] -= merchant_fee_reversed
    # Then billed principal still unpaid, newest first.
    for item in sorted((i for i in items if i.status in ("billed", "past_due")),
                       key=lambda i: i.number, reverse=True):
        if reduce_left == 0:
            break
        cut = min(reduce_left, item.principal_due)
        if cut:
            item.principal_minor -= cut
            item.minimum_minor = max(0, item.minimum_minor - cut)
            item.dirty = True
            reduce_left -= cut
            if item.total_due == 0:
                item.status = "paid"
    principal_reduced = amount_minor - reduce_left
    platform = platform_ledger_accounts(tx, account["currency"], _REFUND_PLATFORM_CODES)
    tag = f"credit:refund:{refund_id}"
    requests = []
    if principal_reduced:
        requests.append(transfer(f"{tag}:principal", "credit.refund",
                                 purchase["merchant_payable_account_id"],
                                 account["principal_account_id"], principal_reduced,
                                 purchase_id))
        if account["line_available_account_id"]:
            requests.append(transfer(f"{tag}:limit", "credit.limit_restore",
                                     platform["credit_limit_control"],
                                     account["line_available_account_id"], principal_reduced,
                                     purchase_id))
    if fee_reversed:
        requests.append(transfer(f"{tag}:fee", "credit.fee_reversal", platform["fee_income"],
                                 account["fee_account_id"], fee_reversed, purchase_id))
        account["fee_posted_minor"] -= fee_reversed
    if interest_reversed:
        requests.append(transfer(f"{tag}:interest", "credit.interest_reversal",
                                 platform["interest_income"], account["interest_account_id"],
                                 interest_reversed, purchase_id))
        account["interest_posted_minor"] -= interest_reversed
    if merchant_fee_reversed:
        requests.append(transfer(f"{tag}:subsidy", "credit.merchant_subsidy_reversal",
                                 platform["fee_income"], platform["subsidy_receivable"],
                                 merchant_fee_reversed, purchase_id))
    if requests:
        post(tx, requests)
    items = items + new_items
    save_items(tx, account["seq"], items)
    refresh_account(tx, account, items, tx.today, catalogue=catalogue)
    tx.conn.execute(credit_purchases.update().where(
        credit_purchases.c.purchase_id == purchase_id).values(
        refunded_minor=purchase["refunded_minor"] + amount_minor))
    result = RefundResult(refund_id, purchase_id, amount_minor, principal_reduced,
                          fee_reversed, merchant_fee_reversed, reduce_left, interest_reversed)
    tx.conn.execute(credit_refunds.insert(), {
        "refund_id": refund_id, "request_hash": fingerprint, "purchase_id": purchase_id,
        "amount_minor": amount_minor, "result": result.as_dict(), "created_at": tx.now})
    tx.emit("credit.purchase.refunded", "credit_purchase", purchase_id, result.as_dict())
    from creditpay.platform import audit

    audit.append(tx, "system", "credit.refunds", "credit.refund", "credit_purchase",
                 purchase_id, result.as_dict())  # amounts and ids only, no personal data
    return result


def _reverse_billed_charges(items: list[Any], keep: int, drop: int) -> tuple[int, int]:
    """Scale the unpaid fee and interest of billed and past-due items by ``keep / drop``
    (half-up); returns (fee reversed, interest reversed), in minor units."""
    fee_reversed = interest_reversed = 0
    for item in items:
        if item.status not in ("billed", "past_due"):
            continue
        if item.fee_due:
            new_fee = item.fee_paid_minor + scale_fee(item.fee_due, keep, drop)
            fee_reversed += item.fee_minor - new_fee
            item.fee_minor, item.dirty = new_fee, True
        if item.interest_due:
            new_interest = item.interest_paid_minor + scale_fee(item.interest_due, keep, drop)
            interest_reversed += item.interest_minor - new_interest
            item.interest_minor, item.dirty = new_interest, True
        item.minimum_minor = min(item.minimum_minor, item.principal_minor
                                 + item.interest_minor + item.fee_minor)
    return fee_reversed, interest_reversed


def line_of(conn: Any, line_id: str) -> CreditLineView:
    """A line's limit and what is still available on it (limit - available = in use)."""
    from creditpay.credit.lines import line_view

    return line_view(conn, get_line(conn, line_id))
