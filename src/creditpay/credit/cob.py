"""Close of business (COB): one business date's servicing over every active account.

For business date D, per chunk of accounts (by ``seq`` range; one transaction per chunk,
recorded in ``credit_cob_chunks`` in that same transaction, so a crash resumes at the first
chunk not recorded and a date run twice changes nothing):

1. auto-debit: accounts with auto-debit on and an item due on D are debited from the wallet
   for everything due by D (all or nothing: a short wallet is left for collections), if the
   auto-debit consent they were switched on under is still in force; if it was revoked
   since, the account is not debited and its auto-debit is switched off (outbox event
   ``credit.auto_debit.changed`` with the refusal rule);
2. accrue and age (vectorised, :mod:`creditpay.credit.cob_vectorised`): interest for day D,
   penalty interest after the grace days, dpd, bucket;
3. roll: billed items due on or before D and unpaid become past due (after the accrual:
   the due date is the last day to pay); a revolving line is late only on a statement whose
   minimum is unpaid; accounts that owe no principal more drop the sub-minor remainder of
   their accruals (never rounded up against the customer);
4. late fees (once per missed due date, after the grace days);
5. write-off at the product's dpd (default 180), receivables to ``write_off_expense``;
6. billing: installments due on D+1 are billed, posting the interest accrued for their period
   (so a customer paying on the due date sees the exact amount); lines whose statement day
   is D get their statement (a revolving line's balances in good standing are carried onto
   it, due on its due date, with their share of its minimum); on the last day of a month
   accrued penalty is posted;
7. after the chunks, expired authorisation holds are released (ledger ``expire_holds``).

The arithmetic is numpy over arrays loaded in bulk; writes are executemany batches and one
ledger batch per chunk (split at the ledger's batch limit). Only the sparse events (a due
date, a statement, a late fee) build per-account rows in Python, to hand them to the store.
"""

from __future__ import annotations

import calendar
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy import Connection, func, select

from creditpay import ledger as L
from creditpay.credit import products as P
from creditpay.credit.cob_vectorised import (
    MICRO,
    NO_DATE,
    accrue_and_age,
    day_number,
    round_half_up_div,
    to_day_numbers,
)
from creditpay.credit.delinquency import buckets_vectorised
from creditpay.credit.lines import CLEARING_CODE, platform_ledger_accounts, post, transfer
from creditpay.credit.offers import line_due_date
from creditpay.credit.statements import revolving_minimum_shares
from creditpay.credit.tables import credit_accounts, credit_cob_chunks, credit_cob_runs
from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import StateError, ValidationError

if TYPE_CHECKING:
    from creditpay.platform.checkpoints import AuditCheckpointer

__all__ = ["AutoDebitConsents", "CobReport", "run_close_of_business", "CHUNK_SIZE_DEFAULT",
           "process_chunk"]


class AutoDebitConsents(Protocol):
    """The auto-debit consent check (consumer protection implements it above credit:
    ``creditpay.protection.auto_debit_consents.ReferencedAutoDebitConsents``)."""

    def refusals(self, conn: Connection, wanted: Sequence[tuple[str, str | None]]
                 ) -> list[str | None]:
        """For each ``(customer_id, consent reference)``: None when the auto-debit consent
        the reference names is still in force, else the refusal rule. Writes nothing."""
        ...

CHUNK_SIZE_DEFAULT = 50_000
HOLDS_CHUNK = -1  # the chunk number recording the hold-expiry step

_ACCOUNT_COLUMNS = (
    "seq", "account_id", "kind", "customer_id", "currency", "line_id", "product_code",
    "product_version", "style", "principal_original_minor", "principal_prepaid_minor",
    "interest_rate_micro",
    "penalty_rate_micro", "year_basis_days", "interest_base", "grace_days", "late_fee_minor",
    "write_off_dpd", "statement_day", "principal_unbilled_minor", "principal_billed_minor",
    "principal_past_due_minor", "penalty_unpaid_minor", "late_fee_unpaid_minor",
    "interest_accrual_num", "penalty_accrual_num", "interest_posted_minor",
    "penalty_posted_minor", "fee_posted_minor", "oldest_past_due_date",
    "latest_past_due_date", "late_fee_through_date", "next_due_date", "dpd", "bucket",
    "auto_debit_enabled", "auto_debit_account_id", "principal_account_id",
    "interest_account_id", "fee_account_id", "penalty_account_id",
    "line_available_account_id",
)
_TEXT = {"account_id", "kind", "customer_id", "currency", "line_id", "product_code", "style",
         "bucket"}
_DATES = {"oldest_past_due_date", "latest_past_due_date", "late_fee_through_date",
          "next_due_date"}
_ITEM_COLUMNS = ("id", "account_seq", "number", "due_date", "status", "principal_minor",
                 "interest_minor", "fee_minor", "principal_paid_minor", "interest_paid_minor",
                 "fee_paid_minor", "minimum_minor")
_FULL_UPDATE = ("principal_unbilled_minor", "principal_billed_minor",
                "principal_past_due_minor", "penalty_unpaid_minor", "late_fee_unpaid_minor",
                "interest_accrual_num", "penalty_accrual_num", "interest_posted_minor",
                "penalty_posted_minor", "fee_posted_minor", "oldest_past_due_date",
                "latest_past_due_date", "late_fee_through_date", "next_due_date", "dpd",
                "bucket", "status", "written_off_minor", "written_off_on", "last_cob_date")
_NARROW_UPDATE = ("interest_accrual_num", "penalty_accrual_num", "dpd", "bucket",
                  "last_cob_date")


@dataclass
class CobReport:
    business_date: str
    accounts: int = 0
    interest_accrued_minor: int = 0  # whole minor units of the day's accrual (rounded sum)
    penalty_accrued_minor: int = 0
    auto_debits: int = 0
    auto_debit_minor: int = 0
    auto_debits_failed: int = 0
    auto_debits_stopped_no_consent: int = 0
    rolled_past_due: int = 0
    late_fees: int = 0
    write_offs: int = 0
    written_off_minor: int = 0
    installments_billed: int = 0
    statements: int = 0
    transfers: int = 0
    holds_expired: int = 0
    authorisations_expired: int = 0
    chunks: int = 0
    chunks_resumed: int = 0
    already_done: bool = False
    seconds: float = 0.0
    by_bucket: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def add(self, counts: dict[str, Any]) -> None:
        for key, value in counts.items():
            if key == "by_bucket":
                for bucket, n in value.items():
                    self.by_bucket[bucket] = self.by_bucket.get(bucket, 0) + n
            elif hasattr(self, key):
                setattr(self, key, getattr(self, key) + value)


# ----------------------------------------------------------------------------- helpers
def _sql(conn: Any, text: str) -> str:
    return text if conn.dialect.name == "sqlite" else text.replace("?", "%s")


def _date_param(conn: Any, number: int) -> Any:
    day = dt.date(1970, 1, 1) + dt.timedelta(days=int(number))
    return day.isoformat() if conn.dialect.name == "sqlite" else day


def _iso(number: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=int(number))).isoformat()


def _date_or_none(conn: Any, number: int) -> Any:
    return None if number == NO_DATE else _date_param(conn, number)


def _int_column(values: Any, n: int) -> np.ndarray:
    """An int64 array from a column of ints (None, in nullable columns, becomes 0)."""
    try:
        return np.fromiter(values, dtype=np.int64, count=n)
    except TypeError:  # a None: the slow path, only for the nullable columns
        return np.asarray([0 if v is None else int(v) for v in values], dtype=np.int64)


class _Chunk:
    """The chunk's accounts as arrays (one entry per account, ordered by seq)."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.n = len(rows)
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(_ACCOUNT_COLUMNS)
        self.a: dict[str, np.ndarray] = {}
        for name, values in zip(_ACCOUNT_COLUMNS, columns, strict=True):
            if name in _TEXT:
                self.a[name] = np.asarray(values, dtype=object)
            elif name in _DATES:
                self.a[name] = to_day_numbers(list(values)) if self.n else \
                    np.zeros(0, dtype=np.int64)
            else:
                self.a[name] = _int_column(values, self.n)
        self.status = np.full(self.n, "active", dtype=object)
        self.written_off_minor = np.zeros(self.n, dtype=np.int64)
        self.written_off_on = np.full(self.n, NO_DATE, dtype=np.int64)
        self.event = np.zeros(self.n, dtype=bool)  # rows needing the full update

    def positions(self, seqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``seqs`` in the chunk, and which of them are loaded here."""
        seq = self.a["seq"]
        if self.n == 0:
            return np.zeros(len(seqs), dtype=np.int64), np.zeros(len(seqs), dtype=bool)
        pos = np.clip(np.searchsorted(seq, seqs), 0, self.n - 1)
        return pos, seq[pos] == seqs


class _Items:
    """Installments loaded for the chunk, as arrays, with the rows changed today."""

    def __init__(self, rows: list[tuple[Any, ...]], chunk: _Chunk) -> None:
        self.n = len(rows)
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(_ITEM_COLUMNS)
        self.v: dict[str, np.ndarray] = {}
        for name, values in zip(_ITEM_COLUMNS, columns, strict=True):
            if name == "status":
                self.v[name] = np.asarray(values, dtype=object)
            elif name == "due_date":
                self.v[name] = to_day_numbers(list(values)) if self.n else \
                    np.zeros(0, dtype=np.int64)
            else:
                self.v[name] = np.asarray(values, dtype=np.int64)
        self.pos, self.valid = chunk.positions(self.v["account_seq"])
        self.changed = np.zeros(self.n, dtype=bool)

    def due(self, component: str) -> np.ndarray:
        return self.v[f"{component}_minor"] - self.v[f"{component}_paid_minor"]

    @property
    def total_due(self) -> np.ndarray:
        return self.due("principal") + self.due("interest") + self.due("fee")


def _sum_by_account(n: int, pos: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(n, dtype=np.int64)
    np.add.at(out, pos, values.astype(np.int64))
    return out


# ----------------------------------------------------------------------------- steps
_SEQS_PER_QUERY = 1_000  # bound on an IN list


def _with_live_consent(tx: Tx, c: _Chunk, candidates: np.ndarray, counts: dict[str, Any],
                       consents: AutoDebitConsents) -> np.ndarray:
    """The candidates whose auto-debit consent (the reference stored when auto-debit was
    switched on) is still in force. The others are not debited: their auto-debit is
    switched off, each with an outbox event naming the refusal rule."""
    a = c.a
    seqs = [int(a["seq"][i]) for i in candidates]
    refs: dict[int, str | None] = {}
    for start in range(0, len(seqs), _SEQS_PER_QUERY):
        refs.update((int(seq), ref) for seq, ref in tx.conn.execute(
            select(credit_accounts.c.seq, credit_accounts.c.auto_debit_consent_ref).where(
                credit_accounts.c.seq.in_(seqs[start:start + _SEQS_PER_QUERY]))))
    rules = consents.refusals(
        tx.conn, [(str(a["customer_id"][i]), refs.get(int(a["seq"][i]))) for i in candidates])
    stopped = [(int(i), rule) for i, rule in zip(candidates, rules, strict=True)
               if rule is not None]
    if not stopped:
        return candidates
    stopped_seqs = [int(a["seq"][i]) for i, _ in stopped]
    for start in range(0, len(stopped_seqs), _SEQS_PER_QUERY):
        tx.conn.execute(credit_accounts.update().where(
            credit_accounts.c.seq.in_(stopped_seqs[start:start + _SEQS_PER_QUERY])).values(
            auto_debit_enabled=False, auto_debit_consent_ref=None, auto_debit_account_id=None,
            updated_at=tx.now))
    for i, rule in stopped:
        a["auto_debit_enabled"][i] = 0
        a["auto_debit_account_id"][i] = 0
        tx.emit("credit.auto_debit.changed", "credit_account", a["account_id"][i],
                {"enabled": False, "reason": rule,
                 "consent_reference": refs.get(int(a["seq"][i]))})
    counts["auto_debits_stopped_no_consent"] = \
        counts.get("auto_debits_stopped_no_consent", 0) + len(stopped)
    keep = {i for i, _ in stopped}
    return np.asarray([i for i in candidates if int(i) not in keep], dtype=np.int64)


def _auto_debit(tx: Tx, day: int, c: _Chunk, items: _Items, platform: dict[str, int],
                requests: list[L.TransferRequest], counts: dict[str, Any],
                repayments: list[dict[str, Any]], consents: AutoDebitConsents) -> None:
    a, v = c.a, items.v
    owed = items.valid & np.isin(v["status"], ("billed", "past_due")) & \
        (v["due_date"] <= day) & (items.total_due > 0)
    # Due today: a billed item, or a revolving balance carried to a statement due today.
    due_today = owed & (v["due_date"] == day)
    has_due = np.zeros(c.n, dtype=bool)
    has_due[items.pos[due_today]] = True
    candidates = np.flatnonzero(has_due & (a["auto_debit_enabled"] == 1)
                                & (a["auto_debit_account_id"] > 0))
    if len(candidates) == 0:
        return
    candidates = _with_live_consent(tx, c, candidates, counts, consents)
    if len(candidates) == 0:
        return
    principal = _sum_by_account(c.n, items.pos[owed], items.due("principal")[owed])
    interest = _sum_by_account(c.n, items.pos[owed], items.due("interest")[owed])
    fee = _sum_by_account(c.n, items.pos[owed], items.due("fee")[owed])
    fee = fee + a["late_fee_unpaid_minor"]
    penalty = a["penalty_unpaid_minor"]
    total = principal + interest + fee + penalty
    date_text = _iso(day)
    pulls = [transfer(f"cob:{date_text}:{a['account_id'][i]}:autodebit", "credit.auto_debit",
                      int(a["auto_debit_account_id"][i]), platform[CLEARING_CODE],
                      int(total[i]), a["account_id"][i]) for i in candidates]
    outcomes: list[Any] = []
    size = L.service.BATCH_SIZE_MAX
    for start in range(0, len(pulls), size):
        outcomes.extend(L.create_transfers_unlinked(tx, pulls[start:start + size]))
    succeeded = np.asarray([i for i, o in zip(candidates, outcomes, strict=True)
                            if isinstance(o, L.Transfer)], dtype=np.int64)
    counts["auto_debits_failed"] += len(candidates) - len(succeeded)
    if len(succeeded) == 0:
        return
    for i in succeeded:
        account_id = a["account_id"][i]
        tag = f"cob:{date_text}:{account_id}:autodebit"
        for component, amounts in (("principal", principal), ("interest", interest),
                                   ("fee", fee), ("penalty", penalty)):
            if amounts[i]:
                requests.append(transfer(f"{tag}:{component}", "credit.repayment",
                                         platform[CLEARING_CODE],
                                         int(a[f"{component}_account_id"][i]),
                                         int(amounts[i]), account_id))
        if principal[i] and a["line_available_account_id"][i]:
            requests.append(transfer(f"{tag}:limit", "credit.limit_restore",
                                     platform["credit_limit_control"],
                                     int(a["line_available_account_id"][i]),
                                     int(principal[i]), account_id))
        repayments.append({
            "repayment_id": f"autodebit:{account_id}:{date_text}",
            "request_hash": "auto_debit", "customer_id": a["customer_id"][i],
            "currency": a["currency"][i], "amount_minor": int(total[i]),
            "channel": "auto_debit", "created_at": tx.now,
            "result": {"account_id": account_id, "principal_minor": int(principal[i]),
                       "interest_minor": int(interest[i]), "fee_minor": int(fee[i]),
                       "penalty_minor": int(penalty[i])}})
    paid_mask = owed & np.isin(items.pos, succeeded)
    billed_mask = paid_mask & (v["status"] == "billed")
    past_mask = paid_mask & (v["status"] == "past_due")
    billed_paid = _sum_by_account(c.n, items.pos[billed_mask],
                                  items.due("principal")[billed_mask])
    past_paid = _sum_by_account(c.n, items.pos[past_mask], items.due("principal")[past_mask])
    for component in ("principal", "interest", "fee"):
        v[f"{component}_paid_minor"][paid_mask] = v[f"{component}_minor"][paid_mask]
    v["status"][paid_mask] = "paid"
    items.changed |= paid_mask
    # What was paid came off the billed and past-due principal; charges are settled.
    a["principal_billed_minor"] -= billed_paid
    a["principal_past_due_minor"] -= past_paid
    a["penalty_unpaid_minor"][succeeded] = 0
    a["late_fee_unpaid_minor"][succeeded] = 0
    a["oldest_past_due_date"][succeeded] = NO_DATE
    a["latest_past_due_date"][succeeded] = NO_DATE
    c.event[succeeded] = True
    counts["auto_debits"] += len(succeeded)
    counts["auto_debit_minor"] += int(total[succeeded].sum())


def _roll(day: int, c: _Chunk, items: _Items, counts: dict[str, Any]) -> None:
    """Billed items due on or before ``day`` and still unpaid become past due."""
    a, v = c.a, items.v
    roll = items.valid & (v["status"] == "billed") & (v["due_date"] <= day) & \
        (items.total_due > 0)
    # A revolving balance carried to a later statement stays past due (it bears interest)
    # and takes that statement's due date and minimum: it is checked on that date.
    carried = items.valid & (v["status"] == "past_due") & (v["due_date"] == day) & \
        (items.total_due > 0)
    if not (roll.any() or carried.any()):
        return
    moved = _sum_by_account(c.n, items.pos[roll], items.due("principal")[roll])
    a["principal_billed_minor"] -= moved
    a["principal_past_due_minor"] += moved
    paid_total = v["principal_paid_minor"] + v["interest_paid_minor"] + v["fee_paid_minor"]
    revolve = a["style"][items.pos] == "revolve"
    # A revolving line is late only when the minimum payment was missed.
    late = (roll | carried) & (~revolve | (paid_total < v["minimum_minor"]))
    oldest = np.where(a["oldest_past_due_date"] == NO_DATE, np.iinfo(np.int64).max,
                      a["oldest_past_due_date"])
    np.minimum.at(oldest, items.pos[late], v["due_date"][late])
    a["oldest_past_due_date"] = np.where(oldest == np.iinfo(np.int64).max, NO_DATE, oldest)
    np.maximum.at(a["latest_past_due_date"], items.pos[late], v["due_date"][late])
    v["status"][roll] = "past_due"
    items.changed |= roll
    c.event[items.pos[roll | late]] = True
    counts["rolled_past_due"] += int(roll.sum())


def _waive_residues(c: _Chunk) -> None:
    """Accounts that owe no principal more accrue nothing more: the sub-minor remainder of
    their interest and penalty accruals is dropped before anything is posted (statement,
    billing, month end), so it is never rounded up against the customer. Whole minor units
    still accrued stay owed. (A repayment does the same when it pays the principal off.)"""
    a = c.a
    denominator = MICRO * a["year_basis_days"]
    principal = (a["principal_unbilled_minor"] + a["principal_billed_minor"]
                 + a["principal_past_due_minor"])
    residue = (c.status == "active") & (principal == 0) & (
        (a["interest_accrual_num"] % denominator != 0)
        | (a["penalty_accrual_num"] % denominator != 0))
    rows = np.flatnonzero(residue)
    if len(rows) == 0:
        return
    for which in ("interest", "penalty"):
        name = f"{which}_accrual_num"
        a[name][rows] -= a[name][rows] % denominator[rows]
    c.event[rows] = True


def _bounds_labels(c: _Chunk, dpd: np.ndarray) -> np.ndarray:
    """Buckets by each account's product bounds (few products: one pass per product)."""
    labels = np.empty(c.n, dtype=object)
    keys = c.a["product_code"] + ":" + c.a["product_version"].astype(str)
    for key in np.unique(keys) if c.n else []:
        code, version = key.rsplit(":", 1)
        bounds = P.default_catalogue().get(code, int(version)).bucket_bounds
        mask = keys == key
        labels[mask] = buckets_vectorised(dpd[mask], bounds)
    return labels


def _post_accrual(c: _Chunk, rows: np.ndarray, which: str) -> np.ndarray:
    """Round the accrued interest (or penalty) of ``rows`` half-up and clear it: the amount
    posted to the ledger now (the period's one rounding, as in the schedules)."""
    denominator = MICRO * c.a["year_basis_days"][rows]
    amount = round_half_up_div(c.a[f"{which}_accrual_num"][rows], denominator)
    c.a[f"{which}_accrual_num"][rows] = 0
    c.a[f"{which}_posted_minor"][rows] += amount
    return amount


def _posting(requests: list[L.TransferRequest], tag: str, code: str, debit: int, credit: int,
             amount: int, reference: str) -> None:
    if amount > 0:
        requests.append(transfer(tag, code, debit, credit, amount, reference))


def _late_fees(day: int, c: _Chunk, result: Any, platform: dict[str, int],
               requests: list[L.TransferRequest], counts: dict[str, Any]) -> None:
    a = c.a
    rows = np.flatnonzero(result.late_fee_due)
    for i in rows:
        _posting(requests, f"cob:{_iso(day)}:{a['account_id'][i]}:late_fee", "credit.late_fee",
                 int(a["fee_account_id"][i]), platform["fee_income"],
                 int(a["late_fee_minor"][i]), a["account_id"][i])
    a["late_fee_unpaid_minor"][rows] += a["late_fee_minor"][rows]
    a["fee_posted_minor"][rows] += a["late_fee_minor"][rows]
    a["late_fee_through_date"][rows] = a["latest_past_due_date"][rows]
    c.event[rows] = True
    counts["late_fees"] += len(rows)


def _write_offs(tx: Tx, day: int, c: _Chunk, items: _Items, result: Any,
                platform: dict[str, int], requests: list[L.TransferRequest],
                counts: dict[str, Any]) -> np.ndarray:
    a, v = c.a, items.v
    rows = np.flatnonzero(result.write_off)
    if len(rows) == 0:
        return rows
    open_items = items.valid & np.isin(v["status"], ("billed", "past_due"))
    interest = _sum_by_account(c.n, items.pos[open_items], items.due("interest")[open_items])
    fee = _sum_by_account(c.n, items.pos[open_items], items.due("fee")[open_items])
    principal = (a["principal_unbilled_minor"] + a["principal_billed_minor"]
                 + a["principal_past_due_minor"])
    components = {"principal": principal, "interest": interest,
                  "fee": fee + a["late_fee_unpaid_minor"], "penalty": a["penalty_unpaid_minor"]}
    for i in rows:
        for component, amounts in components.items():
            _posting(requests, f"cob:{_iso(day)}:{a['account_id'][i]}:write_off:{component}",
                     "credit.write_off", platform["write_off_expense"],
                     int(a[f"{component}_account_id"][i]), int(amounts[i]),
                     a["account_id"][i])
    total = sum(amounts[rows] for amounts in components.values())
    c.written_off_minor[rows] = total
    c.written_off_on[rows] = day
    c.status[rows] = "written_off"
    for name in ("principal_unbilled_minor", "principal_billed_minor",
                 "principal_past_due_minor", "penalty_unpaid_minor", "late_fee_unpaid_minor",
                 "interest_accrual_num", "penalty_accrual_num"):
        a[name][rows] = 0  # accruals stop: a written-off account is non-accrual
    a["next_due_date"][rows] = NO_DATE
    c.event[rows] = True
    seqs = [int(s) for s in a["seq"][rows]]
    from creditpay.credit.tables import credit_installments, credit_lines

    for start in range(0, len(seqs), 1000):
        part = seqs[start:start + 1000]
        tx.conn.execute(credit_installments.update().where(
            credit_installments.c.account_seq.in_(part),
            credit_installments.c.status.in_(("scheduled", "billed", "past_due"))
        ).values(status="cancelled"))
    line_ids = [a["line_id"][i] for i in rows if a["kind"][i] == "line"]
    if line_ids:
        tx.conn.execute(credit_lines.update().where(credit_lines.c.line_id.in_(line_ids))
                        .values(status="frozen", updated_at=tx.now))
    in_memory = np.isin(items.pos, rows) & items.valid
    items.valid &= ~in_memory  # their items are cancelled above; nothing else touches them
    counts["write_offs"] += len(rows)
    counts["written_off_minor"] += int(total.sum())
    return rows


def _bill(tx: Tx, day: int, c: _Chunk, platform: dict[str, int],
          requests: list[L.TransferRequest], counts: dict[str, Any],
          item_updates: list[tuple[Any, ...]]) -> None:
    """Bill installments due tomorrow, posting their period's interest and fees."""
    conn = tx.conn
    a = c.a
    if c.n == 0:
        return
    rows = conn.exec_driver_sql(_sql(conn, (
        "SELECT " + ", ".join(_ITEM_COLUMNS) + " FROM credit_installments"  # nosec B608 - constant column lists
        # "+ 0" keeps SQLite on the (status, due_date) index: the due items are few, the
        # scheduled items of a chunk many.
        " WHERE status = 'scheduled' AND due_date <= ? AND account_seq + 0 BETWEEN ? AND ?"
        " ORDER BY account_seq, number")),
        (_date_param(conn, day + 1), int(a["seq"][0]), int(a["seq"][-1]))).fetchall()
    items = _Items(rows, c)
    live = items.valid & (c.status[items.pos] == "active")
    if not live.any():
        return
    v = items.v
    pos = items.pos[live]
    accounts = np.unique(pos)
    # The first item billed for an account takes the whole accrued interest of its period.
    first = np.zeros(items.n, dtype=bool)
    live_index = np.flatnonzero(live)
    _, first_of = np.unique(pos, return_index=True)
    first[live_index[first_of]] = True
    bearing = np.isin(a["interest_base"][accounts], (1, 3))
    interest = np.zeros(c.n, dtype=np.int64)
    interest[accounts[bearing]] = _post_accrual(c, accounts[bearing], "interest")
    penalty = np.zeros(c.n, dtype=np.int64)
    penalty[accounts] = _post_accrual(c, accounts, "penalty")
    v["interest_minor"][live] = np.where(np.isin(items.pos[live], accounts[bearing]),
                                         np.where(first[live], interest[items.pos[live]], 0),
                                         v["interest_minor"][live])
    principal = _sum_by_account(c.n, pos, v["principal_minor"][live])
    fee = _sum_by_account(c.n, pos, v["fee_minor"][live])
    a["principal_unbilled_minor"] -= principal
    a["principal_billed_minor"] += principal
    a["fee_posted_minor"] += fee
    a["penalty_unpaid_minor"] += penalty
    date_text = _iso(day)
    for i in accounts:
        account_id = a["account_id"][i]
        tag = f"cob:{date_text}:{account_id}:bill"
        _posting(requests, f"{tag}:interest", "credit.interest_posted",
                 int(a["interest_account_id"][i]), platform["interest_income"],
                 int(interest[i]), account_id)
        _posting(requests, f"{tag}:fee", "credit.fee_posted", int(a["fee_account_id"][i]),
                 platform["fee_income"], int(fee[i]), account_id)
        _posting(requests, f"{tag}:penalty", "credit.penalty_posted",
                 int(a["penalty_account_id"][i]), platform["penalty_income"],
                 int(penalty[i]), account_id)
    total = v["principal_minor"] + v["interest_minor"] + v["fee_minor"]
    for k in live_index:
        item_updates.append(("billed", int(v["interest_minor"][k]), 0, 0, 0, int(total[k]),
                             _date_param(conn, v["due_date"][k]), int(v["id"][k])))
    # The next due date is the earliest installment still scheduled after tomorrow.
    seqs = [int(s) for s in a["seq"][accounts]]
    a["next_due_date"][accounts] = NO_DATE
    from creditpay.credit.tables import credit_installments as ci

    for start in range(0, len(seqs), 1000):
        # By account only (the (status, account_seq) index); the date filter is applied
        # here: in SQL it would lead SQLite to scan every later scheduled item by date.
        found = conn.execute(select(ci.c.account_seq, ci.c.due_date).where(
            ci.c.status == "scheduled", ci.c.account_seq.in_(seqs[start:start + 1000]))
        ).all()
        if not found:
            continue
        found_pos, _ = c.positions(np.asarray([r[0] for r in found], dtype=np.int64))
        dues = to_day_numbers([r[1] for r in found])
        later = dues > day + 1
        earliest = np.full(c.n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(earliest, found_pos[later], dues[later])
        has = earliest != np.iinfo(np.int64).max
        a["next_due_date"][has] = earliest[has]
    c.event[accounts] = True
    counts["installments_billed"] += int(live.sum())


def _statements(tx: Tx, day: int, c: _Chunk, items: _Items, platform: dict[str, int],
                requests: list[L.TransferRequest], counts: dict[str, Any],
                item_inserts: list[dict[str, Any]], statement_rows: list[dict[str, Any]]
                ) -> None:
    """Cut the statements of lines whose statement day is today: the line's own new
    principal, interest and penalty, plus the installments of the customer's plans on the
    line that fall due before the next statement (see :func:`_plan_installments_in_cycle`)."""
    a = c.a
    today = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    due_lines = (a["kind"] == "line") & (a["statement_day"] == today.day) & \
        (c.status == "active")
    if not due_lines.any():
        return
    rows = np.flatnonzero(due_lines)
    v = items.v
    open_items = items.valid & np.isin(v["status"], ("billed", "past_due"))
    paid_total = v["principal_paid_minor"] + v["interest_paid_minor"] + v["fee_paid_minor"]
    principal_due, charges_due = items.due("principal"), items.due("interest") + items.due("fee")
    total_due = principal_due + charges_due
    # Revolving balances in good standing (past their due date, minimum paid) are carried
    # onto the statement: 10 % of them is in its minimum.
    carried = open_items & (v["status"] == "past_due") & (total_due > 0) & \
        (a["style"][items.pos] == "revolve") & (paid_total >= v["minimum_minor"])
    carried_principal = _sum_by_account(c.n, items.pos[carried], principal_due[carried])
    denominator = MICRO * a["year_basis_days"][rows]
    pending = (a["principal_unbilled_minor"][rows] + carried_principal[rows]
               + round_half_up_div(a["interest_accrual_num"][rows], denominator)
               + round_half_up_div(a["penalty_accrual_num"][rows], denominator))
    plan_lines = _plan_installments_in_cycle(tx.conn, [a["line_id"][i] for i in rows], today)
    has_plans = np.asarray([a["line_id"][i] in plan_lines for i in rows], dtype=bool)
    rows = rows[(pending > 0) | has_plans]
    if len(rows) == 0:
        return
    charges = _sum_by_account(c.n, items.pos[open_items], charges_due[open_items])
    opening = (a["principal_billed_minor"] + a["principal_past_due_minor"]
               + a["penalty_unpaid_minor"] + a["late_fee_unpaid_minor"] + charges)[rows]
    interest = _post_accrual(c, rows, "interest")
    penalty = _post_accrual(c, rows, "penalty")
    principal = a["principal_unbilled_minor"][rows].copy()
    a["principal_unbilled_minor"][rows] = 0
    a["principal_billed_minor"][rows] += principal
    a["penalty_unpaid_minor"][rows] += penalty
    from creditpay.credit.tables import credit_installments as ci

    seqs = [int(s) for s in a["seq"][rows]]
    numbers: dict[int, int] = {}
    for start in range(0, len(seqs), 1000):
        numbers.update(tx.conn.execute(select(ci.c.account_seq, func.max(ci.c.number)).where(
            ci.c.account_seq.in_(seqs[start:start + 1000])).group_by(ci.c.account_seq)).all())
    line_items: dict[int, list[int]] = {}
    for k in np.flatnonzero(open_items & np.isin(items.pos, rows)):
        line_items.setdefault(int(items.pos[k]), []).append(int(k))
    date_text = today.isoformat()
    statement_tags: list[tuple[str, int]] = []
    for k, i in enumerate(rows):
        account_id = a["account_id"][i]
        product = P.default_catalogue().get(a["product_code"][i], int(a["product_version"][i]))
        assert isinstance(product, P.CreditLineProduct)
        due = line_due_date(product, today)
        own = int(principal[k] + interest[k])
        mine = sorted(line_items.get(int(i), []),
                      key=lambda j: (int(v["due_date"][j]), int(v["number"][j])))
        rolled = [j for j in mine if carried[j]]
        if product.style is P.LineStyle.REVOLVE:
            share, shares = revolving_minimum_shares(
                P.rate_micro(product.minimum_payment_rate), int(principal[k]),
                [int(principal_due[j]) for j in rolled])
            minimum = min(own, share + int(interest[k]))
            for j, part in zip(rolled, shares, strict=True):
                # Carried to this statement: due on its due date, with what it already owes
                # in interest and fees and its share of the principal part.
                v["minimum_minor"][j] = int(paid_total[j] + charges_due[j]) + part
                v["due_date"][j] = day_number(due)
                items.changed[j] = True
        else:
            minimum = own
        # What must be paid by the due date: each open statement's minimum not yet paid
        # (a missed one in full), the new one's, the charges and the plans' installments.
        owed_minimum = sum(min(int(total_due[j]), max(0, int(v["minimum_minor"][j]
                                                            - paid_total[j])))
                           for j in mine)
        statement_id = f"{account_id}:{date_text}"
        number = 0  # a statement of penalty only has no due item of its own
        if own:
            number = (numbers.get(int(a["seq"][i])) or 0) + 1
            item_inserts.append({
                "account_seq": int(a["seq"][i]), "number": number, "due_date": due,
                "status": "billed", "principal_minor": int(principal[k]),
                "interest_minor": int(interest[k]), "fee_minor": 0, "principal_paid_minor": 0,
                "interest_paid_minor": 0, "fee_paid_minor": 0, "minimum_minor": minimum,
                "statement_id": statement_id})
        plans = plan_lines.get(a["line_id"][i], [])
        plans_minor = sum(amount for _, _, amount in plans)
        # Installments due by the statement's due date are part of what must be paid by it;
        # those due later in the cycle are shown (and in the balance) but not yet owed.
        plans_due_minor = sum(amount for _, due_on, amount in plans if due_on <= due)
        closing = int(opening[k] + principal[k] + interest[k] + penalty[k]) + plans_minor
        statement_rows.append({
            "statement_id": statement_id, "account_seq": int(a["seq"][i]),
            "statement_date": today, "due_date": due,
            "opening_balance_minor": int(opening[k]), "new_principal_minor": int(principal[k]),
            "interest_minor": int(interest[k]), "penalty_minor": int(penalty[k]),
            "fee_minor": 0, "closing_balance_minor": closing,
            "minimum_payment_minor": minimum + owed_minimum + int(a["penalty_unpaid_minor"][i])
            + int(a["late_fee_unpaid_minor"][i]) + plans_due_minor,
            "installment_number": number, "converted_minor": 0, "created_at": tx.now})
        statement_tags.extend((statement_id, item_id) for item_id, _, _ in plans)
        tag = f"cob:{date_text}:{account_id}:statement"
        _posting(requests, f"{tag}:interest", "credit.interest_posted",
                 int(a["interest_account_id"][i]), platform["interest_income"],
                 int(interest[k]), account_id)
        _posting(requests, f"{tag}:penalty", "credit.penalty_posted",
                 int(a["penalty_account_id"][i]), platform["penalty_income"],
                 int(penalty[k]), account_id)
        current = a["next_due_date"][i]
        if own or rolled:
            a["next_due_date"][i] = day_number(due) if current == NO_DATE or current < day \
                else min(current, day_number(due))
    _tag_plan_installments(tx.conn, statement_tags)
    c.event[rows] = True
    counts["statements"] += len(rows)


def _plan_installments_in_cycle(conn: Any, line_ids: list[str], statement_date: dt.date
                                ) -> dict[str, list[tuple[int, dt.date, int]]]:
    """Open installments of the active plans on ``line_ids`` that fall due in the cycle the
    statement of ``statement_date`` opens (after it, up to the next statement date), as
    ``{line_id: [(installment id, due date, amount due minor)]}``. Consecutive cycles do not
    overlap, so each plan installment is on exactly one of its line's statements."""
    from creditpay.credit.calendar import add_months
    from creditpay.credit.tables import credit_installments as ci

    cycle_end = add_months(statement_date, 1)
    found: dict[str, list[tuple[int, dt.date, int]]] = {}
    for start in range(0, len(line_ids), 1000):
        query = select(credit_accounts.c.line_id, ci.c.id, ci.c.due_date,
                       ci.c.principal_minor + ci.c.interest_minor + ci.c.fee_minor
                       - ci.c.principal_paid_minor - ci.c.interest_paid_minor
                       - ci.c.fee_paid_minor).join(
            credit_accounts, credit_accounts.c.seq == ci.c.account_seq).where(
            credit_accounts.c.line_id.in_(line_ids[start:start + 1000]),
            credit_accounts.c.kind == "plan", credit_accounts.c.status == "active",
            ci.c.status.in_(("scheduled", "billed")), ci.c.due_date > statement_date,
            ci.c.due_date <= cycle_end).order_by(ci.c.due_date, ci.c.id)
        for line_id, item_id, due_on, amount in conn.execute(query):
            if amount > 0:
                found.setdefault(line_id, []).append((int(item_id), due_on, int(amount)))
    return found


def _tag_plan_installments(conn: Any, tags: list[tuple[str, int]]) -> None:
    """Record on each plan installment the line statement that shows it."""
    if tags:
        conn.exec_driver_sql(_sql(conn, "UPDATE credit_installments SET statement_id = ?"
                                  " WHERE id = ?"), tags)


def _month_end(day: int, c: _Chunk, platform: dict[str, int],
               requests: list[L.TransferRequest]) -> None:
    """On the last day of a month, post the penalty accrued so far (a matured, delinquent
    loan has no more due dates to post it on)."""
    today = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    if today.day != calendar.monthrange(today.year, today.month)[1]:
        return
    a = c.a
    rows = np.flatnonzero((a["penalty_accrual_num"] > 0) & (c.status == "active"))
    if len(rows) == 0:
        return
    amounts = _post_accrual(c, rows, "penalty")
    a["penalty_unpaid_minor"][rows] += amounts
    for k, i in enumerate(rows):
        _posting(requests, f"cob:{today.isoformat()}:{a['account_id'][i]}:month_end:penalty",
                 "credit.penalty_posted", int(a["penalty_account_id"][i]),
                 platform["penalty_income"], int(amounts[k]), a["account_id"][i])
    c.event[rows] = True


def _close_settled(c: _Chunk, items: _Items) -> None:
    """Plans and loans that owe nothing more (paid by today's auto-debit) are closed; the
    sub-minor remainder of their accrual is waived, never rounded up against the customer."""
    a, v = c.a, items.v
    open_due = items.valid & np.isin(v["status"], ("billed", "past_due"))
    due = _sum_by_account(c.n, items.pos[open_due], items.total_due[open_due])
    denominator = MICRO * a["year_basis_days"]
    # The sub-minor remainder was waived by _waive_residues; whole units are still owed.
    settled = ((a["kind"] != "line") & (c.status == "active") & (due == 0)
               & (a["principal_unbilled_minor"] + a["principal_billed_minor"]
                  + a["principal_past_due_minor"] + a["penalty_unpaid_minor"]
                  + a["late_fee_unpaid_minor"] == 0)
               & (a["interest_accrual_num"] < denominator)
               & (a["penalty_accrual_num"] < denominator))
    rows = np.flatnonzero(settled)
    c.status[rows] = "closed"
    a["interest_accrual_num"][rows] = 0
    a["penalty_accrual_num"][rows] = 0
    a["next_due_date"][rows] = NO_DATE
    c.event[rows] = True


# ----------------------------------------------------------------------------- one chunk
def _load_chunk(conn: Any, day: int, lo: int, hi: int) -> _Chunk:
    rows = conn.exec_driver_sql(_sql(conn, (
        "SELECT " + ", ".join(_ACCOUNT_COLUMNS) + " FROM credit_accounts"  # nosec B608 - constant column lists
        " WHERE seq BETWEEN ? AND ? AND status = 'active' AND opened_on <= ? ORDER BY seq")),
        (lo, hi, _date_param(conn, day))).fetchall()
    return _Chunk(rows)


def _load_open_items(conn: Any, c: _Chunk) -> _Items:
    if c.n == 0:
        return _Items([], c)
    rows = conn.exec_driver_sql(_sql(conn, (
        "SELECT " + ", ".join(_ITEM_COLUMNS) + " FROM credit_installments"  # nosec B608 - constant column lists
        " WHERE status IN ('billed', 'past_due') AND account_seq BETWEEN ? AND ?"
        " ORDER BY account_seq, number")), (int(c.a["seq"][0]), int(c.a["seq"][-1]))
    ).fetchall()
    return _Items(rows, c)


def process_chunk(tx: Tx, business_date: dt.date, lo: int, hi: int,
                  consents: AutoDebitConsents) -> dict[str, Any]:
    """Run every per-account step of ``business_date`` for accounts with seq in [lo, hi]
    inside ``tx``; returns the chunk's counts."""
    conn = tx.conn
    day = day_number(business_date)
    counts: dict[str, Any] = {k: 0 for k in (
        "accounts", "interest_accrued_minor", "penalty_accrued_minor", "auto_debits",
        "auto_debit_minor", "auto_debits_failed", "rolled_past_due", "late_fees",
        "write_offs", "written_off_minor", "installments_billed", "statements",
        "transfers")}
    c = _load_chunk(conn, day, lo, hi)
    counts["accounts"] = c.n
    if c.n == 0:
        counts["by_bucket"] = {}
        return counts
    old_dpd = c.a["dpd"].copy()
    old_bucket = c.a["bucket"].copy()
    currencies = set(c.a["currency"].tolist())
    if len(currencies) != 1:
        # One platform account set per currency: run the currencies one after the other.
        raise StateError("a chunk holds one currency; use chunk boundaries per currency",
                         field="currency")
    platform = platform_ledger_accounts(tx, currencies.pop())
    items = _load_open_items(conn, c)
    requests: list[L.TransferRequest] = []
    repayments: list[dict[str, Any]] = []
    _auto_debit(tx, day, c, items, platform, requests, counts, repayments, consents)
    a = c.a
    # Day D accrues before D's unpaid items roll to past due: the due date is the last day
    # to pay, so revolving interest and past-due treatment start the day after.
    result = accrue_and_age(
        day=day, interest_base=a["interest_base"], interest_rate_micro=a["interest_rate_micro"],
        penalty_rate_micro=a["penalty_rate_micro"], grace_days=a["grace_days"],
        late_fee_minor=a["late_fee_minor"], write_off_dpd=a["write_off_dpd"],
        principal_current=a["principal_unbilled_minor"] + a["principal_billed_minor"],
        principal_past_due=a["principal_past_due_minor"],
        # A flat loan's interest is on the principal lent less what was prepaid.
        principal_original=a["principal_original_minor"] - a["principal_prepaid_minor"],
        interest_num=a["interest_accrual_num"],
        penalty_num=a["penalty_accrual_num"], oldest_past_due=a["oldest_past_due_date"],
        latest_past_due=a["latest_past_due_date"],
        late_fee_through=a["late_fee_through_date"])
    a["interest_accrual_num"] = result.interest_num
    a["penalty_accrual_num"] = result.penalty_num
    a["dpd"] = result.dpd
    _roll(day, c, items, counts)
    _waive_residues(c)
    denominators = MICRO * a["year_basis_days"]
    counts["interest_accrued_minor"] = int(round_half_up_div(
        result.interest_added_num, denominators).sum())
    counts["penalty_accrued_minor"] = int(round_half_up_div(
        result.penalty_added_num, denominators).sum())
    _late_fees(day, c, result, platform, requests, counts)
    _write_offs(tx, day, c, items, result, platform, requests, counts)
    item_updates: list[tuple[Any, ...]] = []
    item_inserts: list[dict[str, Any]] = []
    statement_rows: list[dict[str, Any]] = []
    _bill(tx, day, c, platform, requests, counts, item_updates)
    _statements(tx, day, c, items, platform, requests, counts, item_inserts, statement_rows)
    _month_end(day, c, platform, requests)
    _close_settled(c, items)
    a["bucket"] = _bounds_labels(c, a["dpd"])
    if requests:
        post(tx, requests)
    counts["transfers"] = len(requests) + counts["auto_debits"] + counts["auto_debits_failed"]
    _write(tx, day, c, items, item_updates, item_inserts, statement_rows, repayments,
           old_dpd, old_bucket, result)
    labels, sizes = np.unique(a["bucket"][c.status == "active"].astype(str),
                              return_counts=True)
    counts["by_bucket"] = {str(k): int(n) for k, n in zip(labels, sizes, strict=True)}
    return counts


def _write(tx: Tx, day: int, c: _Chunk, items: _Items, item_updates: list[tuple[Any, ...]],
           item_inserts: list[dict[str, Any]], statement_rows: list[dict[str, Any]],
           repayments: list[dict[str, Any]], old_dpd: np.ndarray, old_bucket: np.ndarray,
           result: Any) -> None:
    conn = tx.conn
    a = c.a
    from creditpay.credit.tables import credit_installments, credit_repayments, credit_statements

    v = items.v
    for k in np.flatnonzero(items.changed & items.valid):
        item_updates.append((v["status"][k], int(v["interest_minor"][k]),
                             int(v["principal_paid_minor"][k]), int(v["interest_paid_minor"][k]),
                             int(v["fee_paid_minor"][k]), int(v["minimum_minor"][k]),
                             _date_param(conn, v["due_date"][k]), int(v["id"][k])))
    if item_updates:
        # Billing rows carry zero paid amounts: a scheduled item has none yet.
        conn.exec_driver_sql(_sql(conn, (
            "UPDATE credit_installments SET status = ?, interest_minor = ?,"
            " principal_paid_minor = ?, interest_paid_minor = ?, fee_paid_minor = ?,"
            " minimum_minor = ?, due_date = ? WHERE id = ?")), item_updates)
    if item_inserts:
        conn.execute(credit_installments.insert(), item_inserts)
    if statement_rows:
        conn.execute(credit_statements.insert(), statement_rows)
    if repayments:
        conn.execute(credit_repayments.insert(), repayments)
    cob_date = _date_param(conn, day)
    full = np.flatnonzero(c.event)
    if len(full):
        params = []
        for i in full:
            params.append((
                *(int(a[name][i]) for name in _FULL_UPDATE[:10]),
                *(_date_or_none(conn, a[name][i]) for name in _FULL_UPDATE[10:14]),
                int(a["dpd"][i]), a["bucket"][i], c.status[i], int(c.written_off_minor[i]),
                _date_or_none(conn, c.written_off_on[i]), cob_date, int(a["seq"][i])))
        assignments = ", ".join(f"{name} = ?" for name in _FULL_UPDATE)
        conn.exec_driver_sql(_sql(conn, f"UPDATE credit_accounts SET {assignments}"  # nosec B608
                                  " WHERE seq = ?"), params)
    narrow = ~c.event & ((result.interest_added_num > 0) | (result.penalty_added_num > 0)
                         | (a["dpd"] != old_dpd) | (a["bucket"] != old_bucket))
    rows = np.flatnonzero(narrow)
    if len(rows):
        params = list(zip(a["interest_accrual_num"][rows].tolist(),
                          a["penalty_accrual_num"][rows].tolist(), a["dpd"][rows].tolist(),
                          a["bucket"][rows].tolist(), [cob_date] * len(rows),
                          a["seq"][rows].tolist(), strict=True))
        assignments = ", ".join(f"{name} = ?" for name in _NARROW_UPDATE)
        conn.exec_driver_sql(_sql(conn, f"UPDATE credit_accounts SET {assignments}"  # nosec B608
                                  " WHERE seq = ?"), params)


# ----------------------------------------------------------------------------- the run
def _previous_done(conn: Any) -> dt.date | None:
    return conn.execute(select(func.max(credit_cob_runs.c.business_date)).where(
        credit_cob_runs.c.status == "done")).scalar()


def _chunk_bounds(conn: Any, chunk_size: int) -> tuple[int, list[tuple[int, int]]]:
    """Chunks of ``chunk_size`` consecutive seqs, split further at currency changes so each
    chunk has one currency (and so one set of platform accounts)."""
    seq_max = conn.execute(select(func.coalesce(func.max(credit_accounts.c.seq), 0))
                           ).scalar_one()
    currencies = conn.execute(select(credit_accounts.c.currency,
                                     func.min(credit_accounts.c.seq),
                                     func.max(credit_accounts.c.seq))
                              .group_by(credit_accounts.c.currency)).all()
    bounds: list[tuple[int, int]] = []
    if len(currencies) <= 1:
        for lo in range(1, int(seq_max) + 1, chunk_size):
            bounds.append((lo, min(lo + chunk_size - 1, int(seq_max))))
        return int(seq_max), bounds
    raise StateError("the close of business runs one currency per database for now",
                     field="currency")


def run_close_of_business(uow: UnitOfWork, business_date: dt.date, *, progress: bool = False,
                          chunk_size: int = CHUNK_SIZE_DEFAULT,
                          _after_chunk: Callable[[int], None] | None = None,
                          audit_checkpointer: AuditCheckpointer | None,
                          auto_debit_consents: AutoDebitConsents) -> CobReport:
    """Run (or resume, or replay as a no-op) the close of business for ``business_date``.

    Dates run in order: the date after the last one done, or any date for the first run.
    ``_after_chunk`` is a test hook called after each committed chunk (to simulate a crash).
    The run ends with an audit seal that checkpoints through ``audit_checkpointer`` (required,
    no default: None only where a checkpointing seal follows, as in tests).
    ``auto_debit_consents`` checks, before any wallet is debited, that each auto-debit's
    consent is still in force (consumer protection implements it; credit may not import it).
    """
    if not isinstance(business_date, dt.date) or isinstance(business_date, dt.datetime):
        raise ValidationError("must be a date", field="business_date")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or \
            not 1 <= chunk_size <= 1_000_000:
        raise ValidationError("must be from 1 to 1,000,000", field="chunk_size")
    started = time.perf_counter()
    with uow.begin() as tx:
        if business_date > tx.today:
            raise ValidationError(f"{business_date} has not begun (business date is"
                                  f" {tx.today})", field="business_date")
        run = tx.conn.execute(select(credit_cob_runs).where(
            credit_cob_runs.c.business_date == business_date)).mappings().first()
        if run is not None and run["status"] == "done":
            report = CobReport(**{**run["report"], "already_done": True})
            return report
        last = _previous_done(tx.conn)
        if run is None:
            if last is not None and business_date != last + dt.timedelta(days=1):
                raise StateError(f"the close of business of {last + dt.timedelta(days=1)}"
                                 f" must run before {business_date}" if business_date > last
                                 else f"{business_date} is before the last run ({last})",
                                 field="business_date")
            seq_max, _ = _chunk_bounds(tx.conn, chunk_size)
            tx.conn.execute(credit_cob_runs.insert(), {
                "business_date": business_date, "status": "running", "chunk_size": chunk_size,
                "seq_max": seq_max, "report": None, "started_at": tx.now})
            run = {"chunk_size": chunk_size, "seq_max": seq_max}
    chunk_size = run["chunk_size"]
    seq_max = run["seq_max"]
    bounds = [(lo, min(lo + chunk_size - 1, seq_max)) for lo in range(1, seq_max + 1,
                                                                        chunk_size)]
    report = CobReport(business_date=business_date.isoformat())
    with uow.connect() as conn:
        done = {row[0]: row[1] for row in conn.execute(
            select(credit_cob_chunks.c.chunk, credit_cob_chunks.c.counts).where(
                credit_cob_chunks.c.business_date == business_date))}
    bar = _progress(progress, len(bounds) + 1, business_date)
    try:
        for number, (lo, hi) in enumerate(bounds):
            if number in done:
                report.add(done[number])
                report.chunks_resumed += 1
            else:
                def one(tx: Tx, number: int = number, lo: int = lo, hi: int = hi
                        ) -> dict[str, Any]:
                    counts = process_chunk(tx, business_date, lo, hi, auto_debit_consents)
                    tx.conn.execute(credit_cob_chunks.insert(), {
                        "business_date": business_date, "chunk": number, "counts": counts,
                        "finished_at": tx.now})
                    return counts

                report.add(uow.run(one))
                if _after_chunk is not None:
                    _after_chunk(number)
            report.chunks += 1
            if bar is not None:
                bar[0].advance(bar[1])
        if HOLDS_CHUNK not in done:
            def holds(tx: Tx) -> dict[str, Any]:
                expired = 0
                while True:
                    batch = L.expire_holds(tx)
                    expired += batch
                    if batch < 10_000:
                        break
                counts = {"holds_expired": expired,
                          "authorisations_expired": _close_expired_authorisations(tx)}
                tx.conn.execute(credit_cob_chunks.insert(), {
                    "business_date": business_date, "chunk": HOLDS_CHUNK, "counts": counts,
                    "finished_at": tx.now})
                return counts

            report.add(uow.run(holds))
        else:
            report.add(done[HOLDS_CHUNK])
        if bar is not None:
            bar[0].advance(bar[1])
    finally:
        if bar is not None:
            bar[0].stop()
    report.seconds = round(time.perf_counter() - started, 3)
    with uow.begin() as tx:
        tx.conn.execute(credit_cob_runs.update().where(
            credit_cob_runs.c.business_date == business_date).values(
            status="done", report=report.as_dict(), finished_at=tx.now))
        tx.emit("credit.cob.completed", "credit_cob_run", business_date.isoformat(),
                report.as_dict())
        # One audit record per business date (counts and totals), not one per posting.
        from creditpay.platform.audit import append

        append(tx, "system", "close_of_business", "credit.cob.completed", "credit_cob_run",
               business_date.isoformat(),
               {k: v for k, v in report.as_dict().items()
                if k not in ("seconds", "already_done", "chunks_resumed")})
    # The nightly batch also seals the audit chain, so no record of the day stays outside
    # the hash chain past the night (docs/security.md, "protection window").
    from creditpay.platform.audit import seal

    seal(uow, audit_checkpointer)
    return report


_AUTHORISATIONS_PER_BATCH = 1_000


def _close_expired_authorisations(tx: Tx) -> int:
    """Mark voided the credit authorisations whose ledger hold expired (the limit is back on
    the line; the authorisation can no longer be captured), so that nothing, the exposure
    check included, counts an expired hold as live. Returns how many."""
    from creditpay.credit.service import HOLD_TIMEOUT_SECONDS
    from creditpay.credit.tables import credit_authorisations as ca

    # Only authorisations older than the timeout can have an expired hold.
    cutoff = tx.now - dt.timedelta(seconds=HOLD_TIMEOUT_SECONDS)
    closed = 0
    after = ""
    while True:
        rows = tx.conn.execute(select(ca.c.authorisation_id, ca.c.hold_transfer_id).where(
            ca.c.status == "authorised", ca.c.created_at <= cutoff,
            ca.c.authorisation_id > after).order_by(ca.c.authorisation_id).limit(
            _AUTHORISATIONS_PER_BATCH)).all()
        expired = [auth_id for auth_id, hold_id in rows
                   if L.get_transfer(tx.conn, hold_id).hold_status == L.HoldStatus.EXPIRED]
        if expired:
            tx.conn.execute(ca.update().where(ca.c.authorisation_id.in_(expired)).values(
                status="voided", updated_at=tx.now))
            for auth_id in expired:
                tx.emit("credit.purchase.expired", "credit_authorisation", auth_id, {})
        closed += len(expired)
        if len(rows) < _AUTHORISATIONS_PER_BATCH:
            return closed
        after = rows[-1][0]


def _progress(enabled: bool, total: int, business_date: dt.date) -> Any:
    if not enabled:
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn(f"close of business {business_date}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total} chunks"), TimeElapsedColumn())
    bar.start()
    return bar, bar.add_task("cob", total=total)
