"""Reversing a write-off made by mistake (issue #16; always four-eyes, kind
``write_off.reverse``; docs/servicing.md, "Reversing a write-off").

The close of business writes an account off at its ``write_off_dpd``: every receivable to
``write_off_expense`` (transfers ``cob:<date>:<account>:write_off:<component>``), balances
and accruals zeroed, open installments cancelled, the line frozen; and it keeps what it
changed in ``credit_write_offs``. :func:`reverse_write_off` undoes exactly that, in one
transaction: each of those transfers is posted back (debit the receivable it credited,
credit ``write_off_expense``, the same amount; ``credit.write_off_reversal``), so every
ledger balance is as if the write-off had not been posted; the account gets back its status
(active), balances, accrual numerators and next due date; its installments their status and
amounts; the line its status. The record is marked reversed; an event and an audit record
name the operator.

What it does not do: the close of business ages the restored account like any other, so an
account that is still at or past its ``write_off_dpd`` is written off again that night
unless what made the write-off a mistake is corrected first (the missing repayment applied,
the right terms). The loss allowance (provisions) is a portfolio figure posted per business
date: the next provisioning run counts the account again; dates already posted stay as they
were. An account that received recoveries since (``recovered_minor`` > 0) is refused: the
money was booked as recovery income and would have to be re-allocated as a repayment, which
is a correction of its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from creditpay import ledger as L
from creditpay.credit.lines import check_id
from creditpay.credit.tables import (
    credit_accounts,
    credit_installments,
    credit_lines,
    credit_write_offs,
)
from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, StateError, ValidationError
from creditpay.platform import audit
from creditpay.platform.approvals import StaleProposalError

__all__ = ["check_reversal", "reverse_write_off", "reversal_proposal", "COMPONENTS",
           "REASON_CHARS_MAX"]

COMPONENTS = ("principal", "interest", "fee", "penalty")
REASON_CHARS_MAX = 500
_ITEM_FIELDS = ("interest_minor", "principal_paid_minor", "interest_paid_minor",
                "fee_paid_minor", "minimum_minor")


def _reason(reason: object) -> str:
    if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= REASON_CHARS_MAX:
        raise ValidationError(f"must be 1..{REASON_CHARS_MAX} characters", field="reason")
    return reason.strip()


def write_off_transfer_id(account_id: str, day: dt.date, component: str) -> str:
    """The id of the close of business's write-off transfer of ``component`` (cob_steps)."""
    return f"cob:{day.isoformat()}:{account_id}:write_off:{component}"


def check_reversal(conn: Any, account_id: str, reason: str, *, lock: bool = False
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(account row, write-off record) when account ``account_id``'s write-off can be
    reversed for ``reason``; else, changing nothing: NotFoundError (no such account),
    StateError naming ``account_id`` (not written off, recoveries received since, no record
    of the write-off), ValidationError naming ``reason``."""
    _reason(reason)
    check_id(account_id, "account_id")
    query = select(credit_accounts).where(credit_accounts.c.account_id == account_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    account = conn.execute(query).mappings().first()
    if account is None:
        raise NotFoundError(f"no credit account {account_id!r}", field="account_id")
    if account["status"] != "written_off":
        raise StateError(f"account {account_id} is {account['status']}, not written off",
                         field="account_id")
    if account["recovered_minor"]:
        raise StateError(f"account {account_id} received {account['recovered_minor']} in "
                         "recoveries since its write-off: reversing it would need them "
                         "re-allocated as repayments", field="account_id")
    record = conn.execute(select(credit_write_offs).where(
        credit_write_offs.c.account_seq == account["seq"],
        credit_write_offs.c.written_off_on == account["written_off_on"],
        credit_write_offs.c.reversed_at.is_(None)).order_by(
        credit_write_offs.c.id.desc())).mappings().first()
    if record is None:
        raise StateError(f"account {account_id}'s write-off of {account['written_off_on']} "
                         "has no record of what it changed (written off before records were "
                         "kept): it cannot be reversed exactly", field="account_id")
    return dict(account), dict(record)


def reversal_proposal(account: dict[str, Any], reason: str) -> dict[str, Any]:
    """The payload of a ``write_off.reverse`` proposal (what the checker sees, and the
    write-off the approval must still find)."""
    return {"account_id": account["account_id"], "customer_id": account["customer_id"],
            "currency": account["currency"], "kind": account["kind"],
            "written_off_on": account["written_off_on"].isoformat(),
            "written_off_minor": account["written_off_minor"], "reason": _reason(reason)}


def reverse_write_off(tx: Tx, operator_id: str, account_id: str, *, reason: str,
                      expected_written_off_on: dt.date | None = None) -> dict[str, Any]:
    """Reverse account ``account_id``'s write-off as staff ``operator_id`` (see the module
    docstring). ``expected_written_off_on``: the write-off a proposal was made for; another
    state now (reversed already, written off again, recoveries) is
    :class:`StaleProposalError` (409) and nothing changes."""
    try:
        account, record = check_reversal(tx.conn, account_id, reason, lock=True)
    except StateError as exc:
        if expected_written_off_on is None:
            raise
        raise StaleProposalError(f"{exc.detail} (changed since the proposal)",
                                 field="account_id") from None
    day = account["written_off_on"]
    if expected_written_off_on is not None and day != expected_written_off_on:
        raise StaleProposalError(
            f"account {account_id} was written off on {day}, not on "
            f"{expected_written_off_on} as proposed", field="account_id")
    reversed_by_component: dict[str, int] = {}
    requests: list[L.TransferRequest] = []
    for component in COMPONENTS:
        try:
            original = L.get_transfer(tx.conn, write_off_transfer_id(account_id, day,
                                                                     component))
        except NotFoundError:
            continue  # a zero component is not posted
        requests.append(L.TransferRequest(
            f"credit:{account_id}:wo_reversal:{record['id']}:{component}",
            "credit.write_off_reversal", debit_account_id=original.credit_account_id,
            credit_account_id=original.debit_account_id, amount_minor=original.amount_minor,
            reference=account_id))
        reversed_by_component[component] = original.amount_minor
    if sum(reversed_by_component.values()) != account["written_off_minor"]:
        # The ledger and the account disagree about what was written off: refuse rather
        # than restore one of them.
        raise StateError(f"account {account_id}'s write-off transfers sum to "
                         f"{sum(reversed_by_component.values())}, not the "
                         f"{account['written_off_minor']} it records", field="account_id")
    if requests:
        L.create_transfers(tx, requests)
    state = dict(record["state"])
    due = state.pop("next_due_date", None)
    tx.conn.execute(credit_accounts.update().where(
        credit_accounts.c.seq == account["seq"]).values(
        status="active", written_off_minor=0, written_off_on=None,
        next_due_date=None if due is None else dt.date.fromisoformat(str(due)),
        updated_at=tx.now, **{name: int(value) for name, value in state.items()}))
    for item in record["installments"]:
        values: dict[str, object] = {"status": str(item["status"])}
        values.update((name, int(item[name])) for name in _ITEM_FIELDS if name in item)
        tx.conn.execute(credit_installments.update().where(
            credit_installments.c.id == int(item["id"]),
            credit_installments.c.account_seq == account["seq"],
            credit_installments.c.status == "cancelled").values(**values))
    if record["line_id"] is not None and record["line_status"] is not None:
        tx.conn.execute(credit_lines.update().where(
            credit_lines.c.line_id == record["line_id"],
            credit_lines.c.status == "frozen").values(
                status=record["line_status"], updated_at=tx.now,
                # Back to active: no freeze left. Back to frozen (the consumer had frozen it
                # before the write-off): kept as the lender's, lifted by staff, not by code.
                frozen_reason=None if record["line_status"] == "active"
                else credit_lines.c.frozen_reason))
    tx.conn.execute(credit_write_offs.update().where(
        credit_write_offs.c.id == record["id"]).values(reversed_at=tx.now,
                                                       reversed_by=operator_id))
    result = {"account_id": account_id, "customer_id": account["customer_id"],
              "currency": account["currency"], "status": "active",
              "written_off_on": day.isoformat(),
              "reversed_minor": sum(reversed_by_component.values()),
              "reversed_by_component": {c: reversed_by_component.get(c, 0)
                                        for c in COMPONENTS}}
    tx.emit("credit.write_off.reversed", "credit_account", account_id,
            {k: v for k, v in result.items() if k != "status"})
    # The reason is free text: the record says one was given (as approvals do).
    audit.append(tx, "staff", operator_id, "credit_account.write_off_reversed",
                 "credit_account", account_id,
                 {"written_off_on": day.isoformat(),
                  "reversed_minor": result["reversed_minor"], "reason_given": True})
    return result
