"""Credit lines and the credit domain's ledger accounts.

Ledger account plan (see docs/servicing.md):

* per customer and currency, four receivables (debit-normal, may never go below zero):
  ``credit_principal_receivable``, ``credit_interest_receivable``, ``credit_fee_receivable``,
  ``credit_penalty_receivable``;
* per line, ``credit_line_available`` (credit-normal, ``debits_must_not_exceed_credits``): the
  limit is granted into it from the platform's ``credit_limit_control``; purchases hold and
  then post against it, principal repaid flows back, so the ledger itself refuses any use
  beyond the limit;
* platform accounts from :mod:`creditpay.ledger.chart` plus ``credit_repayment_clearing``
  (auto-debits land there before they are spread over receivables).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from creditpay import ledger as L
from creditpay.credit import products as P
from creditpay.credit.tables import credit_accounts, credit_lines
from creditpay.db.prepared import Prepared
from creditpay.db.uow import Tx
from creditpay.errors import (
    IdempotencyConflictError,
    InsufficientFundsError,
    LimitExceededError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditpay.ledger.chart import (
    PLATFORM_ACCOUNTS,
    party_key,
    platform_key,
)
from creditpay.money import validate_currency
from creditpay.platform.validators import check_minor

__all__ = [
    "CreditLineView",
    "RECEIVABLE_CODES",
    "INCOME_CODES",
    "customer_ledger_accounts",
    "platform_ledger_accounts",
    "platform_and_receivable_accounts",
    "open_credit_line",
    "set_credit_limit",
    "customer_line_states",
    "freeze_lines_by_customer",
    "unfreeze_lines_by_customer",
    "LineFreeze",
    "FROZEN_BY_CUSTOMER",
    "get_line",
    "check_id",
    "new_account_row",
]

RECEIVABLE_CODES = {
    "principal": "credit_principal_receivable",
    "interest": "credit_interest_receivable",
    "fee": "credit_fee_receivable",
    "penalty": "credit_penalty_receivable",
}
INCOME_CODES = {"interest": "interest_income", "fee": "fee_income", "penalty": "penalty_income"}
CLEARING_CODE = "credit_repayment_clearing"
# credit_lines.frozen_reason of a freeze the consumer asked for (and may lift themself).
FROZEN_BY_CUSTOMER = "customer_request"
ID_MAX = 96


def check_id(value: object, field: str) -> str:
    """A caller-supplied id (idempotency key): 1-96 ledger-safe characters."""
    L.model.validate_id(value, field)
    assert isinstance(value, str)
    if len(value) > ID_MAX:
        raise ValidationError(f"must be at most {ID_MAX} characters", field=field)
    return value


def _receivable_specs(customer: str, currency: str) -> list[L.AccountSpec]:
    return [L.AccountSpec(party_key(code, customer, currency), currency, code, "customer",
                          customer, L.NormalSide.DEBIT, credits_must_not_exceed_debits=True)
            for code in RECEIVABLE_CODES.values()]


def _platform_specs(currency: str, codes: Collection[str] | None = None
                    ) -> list[L.AccountSpec]:
    """Every platform account of ``currency`` (the chart's plus the repayment clearing), or
    those of ``codes`` only (in the chart's order; an unknown code is a programming error)."""
    specs = [L.AccountSpec(platform_key(a.code, currency), currency, a.code, "platform",
                           "platform", a.normal_side) for a in PLATFORM_ACCOUNTS] + [
        L.AccountSpec(platform_key(CLEARING_CODE, currency), currency, CLEARING_CODE,
                      "platform", "platform", L.NormalSide.DEBIT)]
    if codes is None:
        return specs
    chosen = [spec for spec in specs if spec.code in codes]
    assert len(chosen) == len(set(codes)), codes
    return chosen


def customer_ledger_accounts(tx: Tx, customers: list[str], currency: str
                             ) -> dict[str, dict[str, int]]:
    """The four receivable accounts of each customer (opened idempotently), by component."""
    result: dict[str, dict[str, int]] = {}
    unique = sorted(set(customers))
    per_call = L.service.BATCH_SIZE_MAX // len(RECEIVABLE_CODES)
    for start in range(0, len(unique), per_call):
        part = unique[start:start + per_call]
        specs = [spec for customer in part for spec in _receivable_specs(customer, currency)]
        accounts = iter(L.open_accounts(tx, specs))
        for customer in part:
            result[customer] = {component: next(accounts).id for component in RECEIVABLE_CODES}
    return result


def platform_ledger_accounts(tx: Tx, currency: str, codes: Collection[str] | None = None
                             ) -> dict[str, int]:
    """The platform's account ids in ``currency`` by code, every one or those of ``codes``
    (opened idempotently; one statement when they exist)."""
    specs = _platform_specs(currency, codes)
    return {spec.code: account.id for spec, account in zip(specs, L.open_accounts(tx, specs),
                                                           strict=True)}


def platform_and_receivable_accounts(tx: Tx, customer_id: str, currency: str,
                                     codes: Collection[str] | None = None
                                     ) -> tuple[dict[str, int], dict[str, int]]:
    """The platform's account ids by code (every one, or those of ``codes``: a use case
    asks for the ones it posts to, as reading and checking each costs) and the customer's
    receivable ids by component, opened idempotently in one call: one statement when they
    exist (a purchase, a loan)."""
    platform_specs = _platform_specs(currency, codes)
    accounts = L.open_accounts(tx, platform_specs + _receivable_specs(customer_id, currency))
    platform = {spec.code: account.id for spec, account in zip(
        platform_specs, accounts[:len(platform_specs)], strict=True)}
    receivables = {component: account.id for component, account in zip(
        RECEIVABLE_CODES, accounts[len(platform_specs):], strict=True)}
    return platform, receivables


@dataclass(frozen=True)
class CreditLineView:
    line_id: str
    customer_id: str
    currency: str
    product_code: str
    product_version: int
    limit_minor: int
    available_minor: int
    status: str
    available_account_id: int


@dataclass(frozen=True)
class LineFreeze:
    """A consumer's freeze or unfreeze of one of their lines: the line and its status after
    the call, and whether the call changed it (a repeated freeze changes nothing)."""

    line_id: str
    status: str
    frozen_reason: str | None
    changed: bool

    def as_dict(self) -> dict[str, Any]:
        return {"line_id": self.line_id, "status": self.status,
                "frozen_reason": self.frozen_reason, "changed": self.changed}


def _own_lines_locked(tx: Tx, customer_id: str) -> list[dict[str, Any]]:
    query = select(credit_lines).where(credit_lines.c.customer_id == customer_id
                                       ).order_by(credit_lines.c.line_id)
    if tx.dialect == "postgresql":
        query = query.with_for_update()
    return [dict(row) for row in tx.conn.execute(query).mappings()]


def customer_line_states(conn: Any, customer_id: str) -> list[dict[str, Any]]:
    """The customer's lines with their status and who froze a frozen one (a read; the
    consumer's security page shows whether they may lift a freeze themself)."""
    c = credit_lines.c
    return [dict(row) for row in conn.execute(
        select(c.line_id, c.currency, c.status, c.frozen_reason).where(
            c.customer_id == customer_id).order_by(c.line_id)).mappings()]


def freeze_lines_by_customer(tx: Tx, *, customer_id: str, reason: str) -> list[LineFreeze]:
    """Freeze the consumer's own lines at their request (after a fraud report): no new credit
    (purchases, cash loans, bill installments) until lifted; repayments and servicing go on as
    before. One result per line the customer has (none: an empty list). A line already frozen
    (by them or by the lender) or closed is left as it is (``changed`` False)."""
    check_id(customer_id, "customer_id")
    if not isinstance(reason, str) or not 1 <= len(reason) <= 128:
        raise ValidationError("must be 1-128 characters", field="reason")
    results = []
    for line in _own_lines_locked(tx, customer_id):
        if line["status"] != "active":
            results.append(LineFreeze(line["line_id"], line["status"], line["frozen_reason"],
                                      False))
            continue
        tx.conn.execute(credit_lines.update().where(
            credit_lines.c.line_id == line["line_id"], credit_lines.c.status == "active"
        ).values(status="frozen", frozen_reason=FROZEN_BY_CUSTOMER, updated_at=tx.now))
        tx.emit("credit.line.frozen", "credit_line", line["line_id"],
                {"frozen_reason": FROZEN_BY_CUSTOMER, "reason": reason})
        results.append(LineFreeze(line["line_id"], "frozen", FROZEN_BY_CUSTOMER, True))
    return results


def unfreeze_lines_by_customer(tx: Tx, *, customer_id: str) -> list[LineFreeze]:
    """Lift the freezes the consumer asked for (the caller has verified a one-time code).
    Lines the lender froze (a write-off) stay frozen: only staff lift those. NotFoundError
    naming ``customer_id`` without any line; StateError naming ``status`` when no line is
    frozen at the customer's request but one is frozen by the lender (nothing to lift here)."""
    check_id(customer_id, "customer_id")
    lines = _own_lines_locked(tx, customer_id)
    if not lines:
        raise NotFoundError("you have no credit line", field="customer_id")
    mine = [line for line in lines
            if line["status"] == "frozen" and line["frozen_reason"] == FROZEN_BY_CUSTOMER]
    if not mine and any(line["status"] == "frozen" for line in lines):
        raise StateError("your credit line was not frozen at your request; contact customer"
                         " service to have it reviewed", field="status")
    results = []
    for line in lines:
        if line not in mine:
            results.append(LineFreeze(line["line_id"], line["status"], line["frozen_reason"],
                                      False))
            continue
        tx.conn.execute(credit_lines.update().where(
            credit_lines.c.line_id == line["line_id"], credit_lines.c.status == "frozen"
        ).values(status="active", frozen_reason=None, updated_at=tx.now))
        tx.emit("credit.line.unfrozen", "credit_line", line["line_id"],
                {"frozen_reason": FROZEN_BY_CUSTOMER})
        results.append(LineFreeze(line["line_id"], "active", None, True))
    return results

def get_line(conn: Any, line_id: str, *, lock: bool = False) -> dict[str, Any]:
    query = _LINE_LOCKED if lock and conn.dialect.name == "postgresql" else _LINE
    row = conn.execute(query, {"line_id": line_id}).mappings().first()
    if row is None:
        raise NotFoundError(f"no credit line {line_id!r}", field="line_id")
    return dict(row)


# get_line's reads: constant statements built once.
_LINE = select(credit_lines).where(credit_lines.c.line_id == bindparam("line_id"))
_LINE_LOCKED = _LINE.with_for_update()


def line_view(conn: Any, row: dict[str, Any]) -> CreditLineView:
    available = L.get_account(conn, row["available_account_id"]).available_minor
    return CreditLineView(row["line_id"], row["customer_id"], row["currency"],
                          row["product_code"], row["product_version"], row["limit_minor"],
                          available, row["status"], row["available_account_id"])


def new_account_row(*, account_id: str, kind: str, customer_id: str, currency: str,
                    line_id: str | None, product: Any, opened_on: dt.date, now: dt.datetime,
                    principal_minor: int, receivables: dict[str, int],
                    line_available_account_id: int | None, method: str | None,
                    interest_rate: Any, interest_base: int, **extra: Any) -> dict[str, Any]:
    """A credit_accounts row with every balance at zero and the product's terms copied."""
    row = {
        "account_id": account_id, "kind": kind, "customer_id": customer_id,
        "currency": currency, "line_id": line_id, "product_code": product.code,
        "product_version": product.version, "method": method,
        "style": getattr(product, "style", None) and str(product.style),
        "status": "active", "opened_on": opened_on,
        "principal_original_minor": principal_minor,
        "interest_rate_micro": P.rate_micro(interest_rate),
        "penalty_rate_micro": P.rate_micro(product.penalty_annual_rate),
        "year_basis_days": product.year_basis_days, "interest_base": interest_base,
        "grace_days": product.grace_days, "late_fee_minor": product.late_fee_minor,
        "write_off_dpd": product.write_off_dpd,
        "statement_day": getattr(product, "statement_day", None),
        "principal_unbilled_minor": 0, "principal_billed_minor": 0,
        "principal_past_due_minor": 0, "penalty_unpaid_minor": 0, "late_fee_unpaid_minor": 0,
        "interest_accrual_num": 0, "penalty_accrual_num": 0, "interest_posted_minor": 0,
        "penalty_posted_minor": 0, "fee_posted_minor": 0, "oldest_past_due_date": None,
        "latest_past_due_date": None, "late_fee_through_date": None, "next_due_date": None,
        "dpd": 0, "bucket": "M0", "written_off_minor": 0, "recovered_minor": 0,
        "written_off_on": None, "auto_debit_enabled": False, "auto_debit_consent_ref": None,
        "auto_debit_account_id": None, "prepayment_rule": product.prepayment_rule,
        "fee_payer": "customer", "subsidy_fee_minor": 0, "schedule_level_minor": None,
        "principal_account_id": receivables["principal"],
        "interest_account_id": receivables["interest"],
        "fee_account_id": receivables["fee"], "penalty_account_id": receivables["penalty"],
        "line_available_account_id": line_available_account_id,
        "last_cob_date": None, "updated_at": now,
    }
    row.update(extra)
    return row


def open_credit_line(tx: Tx, *, line_id: str, customer_id: str, currency: str,
                     limit_minor: int, product_code: str,
                     catalogue: P.Catalogue) -> CreditLineView:
    """Open a pay-later line (idempotent on ``line_id``) and grant its limit in the ledger."""
    check_id(line_id, "line_id")
    check_id(customer_id, "customer_id")
    validate_currency(currency)
    check_minor(limit_minor, "limit_minor")
    product = catalogue.get(product_code)
    if not isinstance(product, P.CreditLineProduct):
        raise ValidationError(f"{product_code} is not a credit line product",
                              field="product_code")
    if product.currency != currency:
        raise ValidationError(f"{product_code} is a {product.currency} product",
                              field="currency")
    existing = tx.conn.execute(select(credit_lines).where(
        (credit_lines.c.line_id == line_id) | (
            (credit_lines.c.customer_id == customer_id) & (credit_lines.c.currency == currency))
    )).mappings().all()
    for found in existing:
        if found["line_id"] != line_id:
            raise ConflictLine(f"customer {customer_id} already has line {found['line_id']} in"
                               f" {currency}", field="customer_id")
        for name, value in (("customer_id", customer_id), ("currency", currency),
                            ("product_code", product_code)):
            if found[name] != value:
                raise IdempotencyConflictError(f"line {line_id} exists with {name}="
                                               f"{found[name]!r}", field=name)
        return line_view(tx.conn, dict(found))
    platform, receivables = platform_and_receivable_accounts(tx, customer_id, currency)
    available = L.open_account(tx, L.AccountSpec(
        party_key("credit_line_available", line_id, currency), currency,
        "credit_line_available", "customer", customer_id, L.NormalSide.CREDIT,
        debits_must_not_exceed_credits=True))
    if limit_minor:
        L.create_transfer(tx, L.TransferRequest(
            f"credit:{line_id}:limit:1", "credit.limit_grant",
            debit_account_id=platform["credit_limit_control"],
            credit_account_id=available.id, amount_minor=limit_minor, reference=line_id))
    line_row = {"line_id": line_id, "customer_id": customer_id, "currency": currency,
                "product_code": product.code, "product_version": product.version,
                "limit_minor": limit_minor, "limit_version": 1,
                "available_account_id": available.id, "status": "active",
                "created_at": tx.now, "updated_at": tx.now}
    tx.conn.execute(credit_lines.insert(), line_row)
    tx.conn.execute(credit_accounts.insert(), new_account_row(
        account_id=line_id, kind="line", customer_id=customer_id, currency=currency,
        line_id=line_id, product=product, opened_on=tx.today, now=tx.now, principal_minor=0,
        receivables=receivables, line_available_account_id=available.id, method=None,
        interest_rate=product.interest_annual_rate,
        # revolve: interest on what is unpaid after the due date; no_revolve: penalty only.
        interest_base=2 if product.style is P.LineStyle.REVOLVE else 0))
    tx.emit("credit.line.opened", "credit_line", line_id, {
        "customer_id": customer_id, "currency": currency, "limit_minor": limit_minor,
        "product_code": product.code, "product_version": product.version})
    return line_view(tx.conn, line_row)


class ConflictLine(StateError):
    type_slug = "credit-line-exists"
    title = "The customer already has a credit line in this currency"


def set_credit_limit(tx: Tx, *, line_id: str, new_limit_minor: int, reason: str
                     ) -> CreditLineView:
    """Raise or lower a line's limit. A decrease below what is in use is refused
    (LimitExceededError naming ``new_limit_minor``); setting the current limit is a no-op."""
    check_id(line_id, "line_id")
    check_minor(new_limit_minor, "new_limit_minor")
    if not isinstance(reason, str) or not 1 <= len(reason) <= 128:
        raise ValidationError("must be 1-128 characters", field="reason")
    line = get_line(tx.conn, line_id, lock=True)
    if line["status"] == "closed":
        raise StateError(f"line {line_id} is closed", field="line_id")
    delta = new_limit_minor - line["limit_minor"]
    if delta == 0:
        return line_view(tx.conn, line)
    platform = platform_ledger_accounts(tx, line["currency"])
    version = line["limit_version"] + 1
    if delta > 0:
        debit, credit = platform["credit_limit_control"], line["available_account_id"]
    else:
        debit, credit = line["available_account_id"], platform["credit_limit_control"]
    try:
        L.create_transfer(tx, L.TransferRequest(
            f"credit:{line_id}:limit:{version}", "credit.limit_change",
            debit_account_id=debit, credit_account_id=credit, amount_minor=abs(delta),
            reference=reason[:128]))
    except InsufficientFundsError:
        raise LimitExceededError(
            f"the line has less than {-delta} unused; the limit cannot go below what is in"
            " use", field="new_limit_minor") from None
    tx.conn.execute(credit_lines.update().where(credit_lines.c.line_id == line_id).values(
        limit_minor=new_limit_minor, limit_version=version, updated_at=tx.now))
    tx.emit("credit.line.limit_changed", "credit_line", line_id, {
        "old_limit_minor": line["limit_minor"], "new_limit_minor": new_limit_minor,
        "reason": reason})
    line.update(limit_minor=new_limit_minor, limit_version=version)
    return line_view(tx.conn, line)


# A constant statement (read on every credit quote and authorisation): compiled once, its
# cache key remembered, instead of a statement built per call.
_LINE_OF_CUSTOMER = Prepared(select(credit_lines).where(
    credit_lines.c.customer_id == bindparam("customer_id"),
    credit_lines.c.currency == bindparam("currency")))


def customer_line(conn: Any, customer_id: str, currency: str) -> dict[str, Any]:
    row = _LINE_OF_CUSTOMER.first(conn, {"customer_id": customer_id, "currency": currency})
    if row is None:
        raise NotFoundError(f"customer {customer_id} has no {currency} credit line",
                            field="customer_id")
    return dict(row._asdict())


def post(tx: Tx, requests: list[L.TransferRequest]) -> None:
    """Post transfers in linked batches of at most the ledger's batch size (all inside the
    caller's transaction, so the whole use case still commits or rolls back as one)."""
    size = L.service.BATCH_SIZE_MAX
    for start in range(0, len(requests), size):
        L.create_transfers(tx, requests[start:start + size])


def transfer(transfer_id: str, code: str, debit: int, credit: int, amount_minor: int,
             reference: str | None = None) -> L.TransferRequest:
    assert len(transfer_id) <= 128, transfer_id  # ids are bounded by check_id (96) + prefix
    return L.TransferRequest(transfer_id, code, debit_account_id=debit,
                             credit_account_id=credit, amount_minor=amount_minor,
                             reference=reference[:128] if reference else None)
