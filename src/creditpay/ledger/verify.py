"""Ledger verification: recompute every account's totals from the journal and compare.

Checks (each names what failed): total debits equal total credits, posted and pending; every
account's running totals equal the sums of its journal rows; no balance flag is broken; every
hold's status agrees with the rows that resolved it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Connection, func, select

from creditpay.ledger.tables import ledger_accounts, ledger_transfers

__all__ = ["VerifyReport", "verify_ledger"]


@dataclass
class VerifyReport:
    accounts: int = 0
    transfers: int = 0
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "accounts": self.accounts, "transfers": self.transfers,
                "debits_posted": self.debits_posted, "credits_posted": self.credits_posted,
                "debits_pending": self.debits_pending, "credits_pending": self.credits_pending,
                "problems": self.problems}


def _journal_sums(conn: Connection,
                  side_column: ColumnElement[int]) -> dict[int, tuple[int, int]]:
    t = ledger_transfers.c
    rows = conn.execute(
        select(
            side_column,
            func.coalesce(func.sum(t.amount_minor).filter(t.kind.in_(("single", "post"))), 0),
            func.coalesce(func.sum(t.amount_minor).filter(t.kind == "pending"), 0)
            - func.coalesce(func.sum(t.pending_released_minor).filter(
                t.kind.in_(("post", "void", "expire"))), 0),
        ).group_by(side_column)
    ).all()
    return {row[0]: (int(row[1]), int(row[2])) for row in rows}


def verify_ledger(conn: Connection, *, problems_max: int = 100) -> VerifyReport:
    report = VerifyReport()
    t = ledger_transfers.c
    report.transfers = conn.execute(select(func.count()).select_from(ledger_transfers)).scalar_one()
    debit_sums = _journal_sums(conn, t.debit_account_id)
    credit_sums = _journal_sums(conn, t.credit_account_id)

    def problem(text: str) -> None:
        if len(report.problems) < problems_max:
            report.problems.append(text)

    for row in conn.execute(select(ledger_accounts).order_by(ledger_accounts.c.id)).mappings():
        report.accounts += 1
        d_posted, d_pending = debit_sums.get(row["id"], (0, 0))
        c_posted, c_pending = credit_sums.get(row["id"], (0, 0))
        report.debits_posted += row["debits_posted"]
        report.credits_posted += row["credits_posted"]
        report.debits_pending += row["debits_pending"]
        report.credits_pending += row["credits_pending"]
        for name, stored, derived in (("debits_posted", row["debits_posted"], d_posted),
                                      ("credits_posted", row["credits_posted"], c_posted),
                                      ("debits_pending", row["debits_pending"], d_pending),
                                      ("credits_pending", row["credits_pending"], c_pending)):
            if stored != derived:
                problem(f"account {row['id']} ({row['key']}): {name} is {stored} but the"
                        f" journal gives {derived}")
        if row["debits_must_not_exceed_credits"] and (
                row["debits_posted"] + row["debits_pending"] > row["credits_posted"]):
            problem(f"account {row['id']} ({row['key']}): debits exceed credits")
        if row["credits_must_not_exceed_debits"] and (
                row["credits_posted"] + row["credits_pending"] > row["debits_posted"]):
            problem(f"account {row['id']} ({row['key']}): credits exceed debits")
    # Every transfer refers to existing accounts of its own currency (no foreign keys: the
    # engine guarantees it, and this proves it).
    a = ledger_accounts.c
    for side in (t.debit_account_id, t.credit_account_id):
        orphans = conn.execute(
            select(t.id, side).select_from(
                ledger_transfers.outerjoin(ledger_accounts, side == a.id))
            .where((a.id.is_(None)) | (a.currency != t.currency)).limit(5)).all()
        for orphan in orphans:
            problem(f"transfer {orphan[0]} refers to account {orphan[1]}, which does not exist"
                    " or has another currency")
    if report.debits_posted != report.credits_posted:
        problem(f"total debits posted {report.debits_posted} != total credits posted"
                f" {report.credits_posted}")
    if report.debits_pending != report.credits_pending:
        problem(f"total debits pending {report.debits_pending} != total credits pending"
                f" {report.credits_pending}")
    # Holds: a pending row is resolved by at most one row, and its status says which.
    resolved = conn.execute(
        select(t.pending_id, func.count(), func.min(t.kind))
        .where(t.kind.in_(("post", "void", "expire"))).group_by(t.pending_id)).all()
    resolution = {row[0]: (row[1], row[2]) for row in resolved}
    expected_status = {"post": "posted", "void": "voided", "expire": "expired"}
    for hold in conn.execute(select(t.id, t.hold_status).where(t.kind == "pending")):
        count, kind = resolution.get(hold.id, (0, None))
        if count > 1:
            problem(f"hold {hold.id} resolved {count} times")
        status = expected_status[kind] if kind else "pending"
        if hold.hold_status != status:
            problem(f"hold {hold.id} has status {hold.hold_status} but its journal says"
                    f" {status}")
    return report
