"""Benchmark: one close-of-business day over N active accounts in the default store (SQLite).

Mix: 40 % pay-later lines (statement days spread over 1-28, so about 1/28 cut a statement
on the day), 35 % installment plans and 25 % cash loans (opened on random past days, so
about 1/30 bill an installment), 6 % delinquent at random depths (penalty accrual, dpd,
late items rolling, a few write-offs), 20 % of plans and loans on auto-debit.

Seeding a million accounts through the per-account services would take hours, so the
accounts are seeded in bulk with the rows the services would have written for accounts in
that state (credit_lines, credit_accounts, credit_installments) and the ledger through
``creditpay.ledger`` batches, aggregated per customer: one limit grant, one posted limit use
and one principal posting per customer instead of one hold/post/principal per purchase
(the balances are the same; the journal is shorter).

The reference, measured in the same run: the same daily arithmetic
(:func:`creditpay.credit.cob_vectorised.accrue_and_age`) in bare numpy on in-memory arrays
of N accounts, no I/O. ``ratio = accounts_per_s / reference_accounts_per_s``.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, event

from creditpay import ledger as L
from creditpay.clock import SimulatedClock
from creditpay.credit import products as P
from creditpay.credit.cob import run_close_of_business
from creditpay.credit.cob_vectorised import accrue_and_age, day_number, random_state
from creditpay.credit.lines import RECEIVABLE_CODES, platform_ledger_accounts
from creditpay.db.engine import driver_connection, make_engine
from creditpay.db.schema import migrate
from creditpay.db.uow import UnitOfWork
from creditpay.ledger.chart import party_key
from creditpay.protection.auto_debit_consents import ReferencedAutoDebitConsents

__all__ = ["run_benchmark", "seed_accounts", "seed_database", "seeding_engine",
           "next_due_days", "compare_books", "ENGINES"]

ENGINES = ("local", "spark")

BUSINESS_DATE = dt.date(2025, 6, 18)
CURRENCY = "CNY"
_ACCOUNT_COLUMNS = (
    "account_id", "kind", "customer_id", "currency", "line_id", "product_code",
    "product_version", "method", "style", "status", "opened_on", "principal_original_minor",
    "interest_rate_micro", "penalty_rate_micro", "year_basis_days", "interest_base",
    "grace_days", "late_fee_minor", "write_off_dpd", "statement_day",
    "principal_unbilled_minor", "principal_billed_minor", "principal_past_due_minor",
    "penalty_unpaid_minor", "late_fee_unpaid_minor", "interest_accrual_num",
    "penalty_accrual_num", "interest_posted_minor", "penalty_posted_minor",
    "fee_posted_minor", "oldest_past_due_date", "latest_past_due_date",
    "late_fee_through_date", "next_due_date", "dpd", "bucket", "written_off_minor",
    "recovered_minor", "written_off_on", "auto_debit_enabled", "auto_debit_consent_ref",
    "auto_debit_account_id", "prepayment_rule", "fee_payer", "subsidy_fee_minor",
    "schedule_level_minor", "anchor_day", "principal_account_id", "interest_account_id",
    "fee_account_id", "penalty_account_id", "line_available_account_id", "last_cob_date",
    "updated_at")


def _post(uow: UnitOfWork, requests: list[L.TransferRequest]) -> None:
    """Post in the ledger's largest linked batches, several batches a transaction."""
    size = L.service.BATCH_SIZE_MAX
    for start in range(0, len(requests), size * _BATCHES_PER_TX):
        with uow.begin() as tx:
            for part in range(start, min(start + size * _BATCHES_PER_TX, len(requests)), size):
                L.create_transfers(tx, requests[part:part + size])


def _open_ledger(uow: UnitOfWork, specs: list[L.AccountSpec]) -> list[int]:
    ids: list[int] = []
    size = L.service.BATCH_SIZE_MAX
    for start in range(0, len(specs), size * _BATCHES_PER_TX):
        with uow.begin() as tx:
            for part in range(start, min(start + size * _BATCHES_PER_TX, len(specs)), size):
                ids.extend(a.id for a in L.open_accounts(tx, specs[part:part + size]))
    return ids


# Seeding only: several ledger batches share one commit (the journal is the same; the
# commits were a visible share of seeding).
_BATCHES_PER_TX = 8


# ----------------------------------------------------------------------------- dates
def _month_index(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of day numbers (days since 1970-01-01)."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _day_of(month_index: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Day number of day ``anchor`` of each month, the month's last day when it is shorter
    (:func:`creditpay.credit.calendar.add_months`' rule, on arrays)."""
    first = month_index.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    following = (month_index + 1).astype("datetime64[M]").astype("datetime64[D]")
    length = following.astype(np.int64) - first
    return first + np.minimum(anchor, length) - 1


def next_due_days(opened: np.ndarray, today: int) -> tuple[np.ndarray, np.ndarray]:
    """Per account opened on day ``opened`` (before ``today``): the first monthly
    anniversary of the opening on or after ``today`` and the anniversary after it, as day
    numbers (what ``add_months(opened, m)`` gives for the smallest m >= 1 that is not
    before ``today``, then m + 1)."""
    anchor = opened - _month_index(opened).astype("datetime64[M]").astype(
        "datetime64[D]").astype(np.int64) + 1
    opened_month = _month_index(opened)
    months = np.maximum(_month_index(np.asarray([today]))[0] - opened_month, 1)
    months += _day_of(opened_month + months, anchor) < today
    return (_day_of(opened_month + months, anchor),
            _day_of(opened_month + months + 1, anchor))


def _iso_days(days: np.ndarray, present: np.ndarray | None = None) -> list[str | None]:
    """ISO dates of day numbers (None where ``present`` is False), as SQLite stores them."""
    text = np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)
    if present is not None:
        text[~present] = None
    return list(text.tolist())


def _pick(kind: np.ndarray, line: object, plan: object, loan: object) -> np.ndarray:
    """Per account, the value for its kind (0 line, 1 plan, 2 loan)."""
    return np.asarray([line, plan, loan], dtype=object)[kind]


# ----------------------------------------------------------------------------- seeding
def seed_accounts(uow: UnitOfWork, count: int, seed: int = 20250618,
                  progress: Callable[[str], None] | None = None, *,
                  catalogue: P.Catalogue) -> dict[str, int]:
    """Bulk-seed ``count`` active accounts of ``catalogue``'s products as of the benchmark's
    business date (SQLite).

    The rows are built as columns (numpy arrays, then one list per column) and written with
    one ``executemany`` per table; the ledger is opened and posted through its own API in
    its largest batches. Same random draws, in the same order, as the per-account loop this
    replaced, so a seed gives the same books."""
    rng = np.random.default_rng(seed)
    line_product = catalogue.get("huabei")
    plan_product = catalogue.get("baitiao")
    loan_product = catalogue.get("jiebei")
    assert isinstance(loan_product, P.CashLoanProduct)  # the packaged cash loan
    n_lines = max(1, int(count * 0.40))
    n_plans = int(count * 0.35)
    n_loans = count - n_lines - n_plans
    customers = [f"bc{i}" for i in range(n_lines)]
    with uow.begin() as tx:
        platform = platform_ledger_accounts(tx, CURRENCY)
        merchant = L.open_account(tx, L.AccountSpec(
            party_key("merchant_payable", "bench_merchant", CURRENCY), CURRENCY,
            "merchant_payable", "merchant", "bench_merchant", L.NormalSide.CREDIT)).id
    specs: list[L.AccountSpec] = []
    for customer in customers:
        specs.extend(L.AccountSpec(party_key(code, customer, CURRENCY), CURRENCY, code,
                                   "customer", customer, L.NormalSide.DEBIT,
                                   credits_must_not_exceed_debits=True)
                     for code in RECEIVABLE_CODES.values())
        specs.append(L.AccountSpec(party_key("credit_line_available", f"line_{customer}",
                                             CURRENCY), CURRENCY, "credit_line_available",
                                   "customer", customer, L.NormalSide.CREDIT,
                                   debits_must_not_exceed_credits=True))
        specs.append(L.AccountSpec(party_key("wallet", customer, CURRENCY), CURRENCY,
                                   "wallet", "customer", customer, L.NormalSide.CREDIT,
                                   debits_must_not_exceed_credits=True))
    ledger_ids = np.asarray(_open_ledger(uow, specs), dtype=np.int64).reshape(n_lines, 6)
    del specs
    if progress:
        progress("ledger accounts")
    day = day_number(BUSINESS_DATE)
    # Each customer owns one line; plans and loans belong to random customers.
    owner = np.concatenate([np.arange(n_lines), rng.integers(0, n_lines, n_plans + n_loans)])
    kind = np.repeat(np.arange(3), (n_lines, n_plans, n_loans))  # 0 line, 1 plan, 2 loan
    is_line, is_plan, is_loan = kind == 0, kind == 1, kind == 2
    line_principal = rng.integers(0, 300_000, count)
    principal = np.where(is_line, line_principal,
                         rng.integers(50_000, 2_000_000, count)).astype(np.int64)
    late = rng.random(count) < 0.06
    dpd = np.where(late, rng.integers(1, 185, count), 0)
    past_due = np.where(late, principal // 4, 0).astype(np.int64)
    current = principal - past_due
    opened = day - rng.integers(1, 330, count)
    statement_day = rng.integers(1, 29, count)
    auto_debit = ~is_line & (rng.random(count) < 0.2)
    now = dt.datetime.combine(BUSINESS_DATE, dt.time(12), tzinfo=dt.UTC)
    next_due, second_due = next_due_days(opened, day)
    due_today = ~is_line & (next_due == day)
    billed_now = np.where(due_today, current // 2, 0)
    plan_fee_now = np.where(due_today & is_plan & (billed_now > 0), 300, 0)
    limit_use = np.zeros(n_lines, dtype=np.int64)
    np.add.at(limit_use, owner[~is_loan], principal[~is_loan])
    billed_fee = np.zeros(n_lines, dtype=np.int64)  # fees posted when today's items billed
    np.add.at(billed_fee, owner, plan_fee_now)
    # Auto-debit is switched on only where it acts today (an installment falls due; the
    # close of business looks at nothing else), each under a consent recorded through the
    # consumer-protection domain, which the close of business checks again before debiting.
    debits_today = auto_debit & due_today
    consent_refs = _grant_auto_debit_consents(
        uow, sorted({customers[o] for o in owner[debits_today].tolist()}))
    receivable = ledger_ids[owner]  # per account: its customer's six ledger accounts
    owner_names = np.asarray(customers, dtype=object)[owner]
    line_ids = np.asarray([f"line_{c}" for c in customers], dtype=object)
    account_ids = np.asarray([f"{('line', 'plan', 'loan')[k]}_{i}" for i, k in
                              enumerate(kind.tolist())], dtype=object)
    account_ids[is_line] = line_ids
    oldest = day - dpd
    products = (line_product, plan_product, loan_product)
    consent = np.asarray([consent_refs.get(c) for c in owner_names[debits_today].tolist()]
                         + [None], dtype=object)
    consent_at = np.full(count, len(consent) - 1)
    consent_at[debits_today] = np.arange(int(debits_today.sum()))
    none = np.full(count, None, dtype=object)
    columns: dict[str, list[Any]] = {
        "account_id": account_ids.tolist(),
        "kind": _pick(kind, "line", "plan", "loan").tolist(),
        "customer_id": owner_names.tolist(),
        "currency": [CURRENCY] * count,
        "line_id": np.where(is_loan, none, line_ids[owner]).tolist(),
        "product_code": _pick(kind, *(p.code for p in products)).tolist(),
        "product_version": _pick(kind, *(p.version for p in products)).tolist(),
        "method": _pick(kind, None, "flat", "equal_installment").tolist(),
        "style": _pick(kind, "no_revolve", None, None).tolist(),
        "status": ["active"] * count,
        "opened_on": _iso_days(opened),
        "principal_original_minor": principal.tolist(),
        "interest_rate_micro": np.where(is_loan, P.rate_micro(loan_product.annual_rate),
                                        0).tolist(),
        "penalty_rate_micro": _pick(kind, *(P.rate_micro(p.penalty_annual_rate)
                                            for p in products)).tolist(),
        "year_basis_days": [365] * count,
        "interest_base": is_loan.astype(np.int64).tolist(),
        "grace_days": _pick(kind, *(p.grace_days for p in products)).tolist(),
        "late_fee_minor": _pick(kind, *(p.late_fee_minor for p in products)).tolist(),
        "write_off_dpd": _pick(kind, *(p.write_off_dpd for p in products)).tolist(),
        "statement_day": np.where(is_line, statement_day.astype(object), none).tolist(),
        "principal_unbilled_minor": (current - billed_now).tolist(),
        "principal_billed_minor": billed_now.tolist(),
        "principal_past_due_minor": past_due.tolist(),
        **{name: [0] * count for name in (
            "penalty_unpaid_minor", "late_fee_unpaid_minor", "interest_accrual_num",
            "penalty_accrual_num", "interest_posted_minor", "penalty_posted_minor")},
        "fee_posted_minor": plan_fee_now.tolist(),
        "oldest_past_due_date": _iso_days(oldest, late),
        "latest_past_due_date": _iso_days(oldest, late),
        "late_fee_through_date": [None] * count,
        "next_due_date": _iso_days(next_due, ~is_line),
        "dpd": dpd.tolist(),
        "bucket": ["M0"] * count,
        "written_off_minor": [0] * count,
        "recovered_minor": [0] * count,
        "written_off_on": [None] * count,
        "auto_debit_enabled": debits_today.tolist(),
        "auto_debit_consent_ref": consent[consent_at].tolist(),
        "auto_debit_account_id": np.where(debits_today, receivable[:, 5].astype(object),
                                          none).tolist(),
        "prepayment_rule": _pick(kind, *(p.prepayment_rule for p in products)).tolist(),
        "fee_payer": ["customer"] * count,
        "subsidy_fee_minor": [0] * count,
        "schedule_level_minor": [None] * count,
        "anchor_day": (opened - _month_index(opened).astype("datetime64[M]").astype(
            "datetime64[D]").astype(np.int64) + 1).tolist(),
        "principal_account_id": receivable[:, 0].tolist(),
        "interest_account_id": receivable[:, 1].tolist(),
        "fee_account_id": receivable[:, 2].tolist(),
        "penalty_account_id": receivable[:, 3].tolist(),
        "line_available_account_id": np.where(is_loan, none,
                                              receivable[:, 4].astype(object)).tolist(),
        "last_cob_date": [None] * count,
        "updated_at": [now.isoformat()] * count,
    }
    assert tuple(columns) == _ACCOUNT_COLUMNS
    items = _installments(kind, late, oldest, past_due, current, next_due, second_due, day)
    with uow.begin() as tx:
        conn = driver_connection(tx.conn)
        # Bulk-load practice: the secondary indexes are dropped and built again after the
        # inserts from their own stored definitions (a sorted build instead of a million
        # random inserts into each); the schema after seeding is the one migrations made.
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name IN ('credit_accounts', 'credit_installments', 'credit_lines')"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        placeholders = ", ".join(["?"] * len(_ACCOUNT_COLUMNS))
        conn.executemany(f"INSERT INTO credit_accounts ({', '.join(_ACCOUNT_COLUMNS)})"
                         f" VALUES ({placeholders})",  # nosec B608
                         zip(*columns.values(), strict=True))
        del columns
        conn.executemany(
            "INSERT INTO credit_installments (account_seq, number, due_date, status,"
            " principal_minor, interest_minor, fee_minor, principal_paid_minor,"
            " interest_paid_minor, fee_paid_minor, minimum_minor, statement_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)", items)
        conn.executemany(
            "INSERT INTO credit_lines (line_id, customer_id, currency, product_code,"
            " product_version, limit_minor, limit_version, available_account_id, status,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, 'active', ?, ?)",
            zip(line_ids.tolist(), customers, [CURRENCY] * n_lines,
                [line_product.code] * n_lines, [line_product.version] * n_lines,
                (limit_use + 1_000_000).tolist(), ledger_ids[:, 4].tolist(),
                [now.isoformat()] * n_lines, [now.isoformat()] * n_lines, strict=True))
        for _, sql in indexes:
            conn.execute(sql)
    n_items = len(items)
    del items
    if progress:
        progress("credit rows")
    customer_principal = np.zeros(n_lines, dtype=np.int64)
    np.add.at(customer_principal, owner, principal)
    wallet_topup = rng.integers(0, 3_000_000, n_lines)  # the draws the loop made one by one
    requests = _seed_transfers(customers, ledger_ids, platform, merchant, limit_use,
                               customer_principal, billed_fee, wallet_topup)
    _post(uow, requests)
    if progress:
        progress("ledger postings")
    return {"accounts": count, "lines": n_lines, "plans": n_plans, "loans": n_loans,
            "installments": n_items, "ledger_accounts": 6 * n_lines,
            "ledger_transfers": len(requests)}


def _installments(kind: np.ndarray, late: np.ndarray, oldest: np.ndarray,
                  past_due: np.ndarray, current: np.ndarray, next_due: np.ndarray,
                  second_due: np.ndarray, day: int) -> list[tuple[Any, ...]]:
    """The installment rows, ordered by account then number (the ids the old loop gave):
    a past-due item for each late account, then for plans and loans owing current
    principal the next two installments (the first billed if due today: yesterday's close
    of business billed it)."""
    seq = np.arange(1, len(kind) + 1)
    fee = np.where(kind == 1, 300, 0)
    scheduled = (kind != 0) & (current != 0)
    first = current // 2
    late_number = np.ones(len(kind), dtype=np.int64)
    parts = []
    for rows, number, due, status, amount, item_fee in (
            (late, late_number, oldest, np.full(len(kind), "past_due", dtype=object),
             past_due, np.zeros(len(kind), dtype=np.int64)),
            (scheduled, 1 + late, next_due,
             np.where(next_due == day, "billed", "scheduled").astype(object), first, fee),
            (scheduled, 2 + late, second_due,
             np.where(second_due == day, "billed", "scheduled").astype(object),
             current - first, fee)):
        at = np.flatnonzero(rows)
        parts.append((seq[at], number[at], due[at], status[at], amount[at], item_fee[at]))
    seqs, numbers, dues, statuses, amounts, fees = (np.concatenate(c) for c in zip(*parts,
                                                                                  strict=True))
    order = np.lexsort((numbers, seqs))
    seqs, numbers, dues, statuses, amounts, fees = (
        c[order] for c in (seqs, numbers, dues, statuses, amounts, fees))
    zeros = [0] * len(seqs)
    return list(zip(seqs.tolist(), numbers.tolist(), _iso_days(dues), statuses.tolist(),
                    amounts.tolist(), zeros, fees.tolist(), zeros, zeros, zeros,
                    (amounts + fees).tolist(), strict=True))


def _seed_transfers(customers: list[str], ledger_ids: np.ndarray, platform: dict[str, int],
                    merchant: int, limit_use: np.ndarray, customer_principal: np.ndarray,
                    billed_fee: np.ndarray, wallet_topup: np.ndarray
                    ) -> list[L.TransferRequest]:
    """Per customer, in order: the limit grant, the limit used, the principal owed to the
    merchant, the fees billed today, the wallet top-up (the amounts that are not 0)."""
    control, fee_income = platform["credit_limit_control"], platform["fee_income"]
    bank = platform["bank_settlement"]
    requests: list[L.TransferRequest] = []
    add = requests.append
    for customer, ids, use, owed, fee, topup in zip(
            customers, ledger_ids.tolist(), limit_use.tolist(), customer_principal.tolist(),
            billed_fee.tolist(), wallet_topup.tolist(), strict=True):
        add(L.TransferRequest(f"seed:{customer}:limit", "credit.limit_grant",
                              debit_account_id=control, credit_account_id=ids[4],
                              amount_minor=use + 1_000_000))
        if use:
            add(L.TransferRequest(f"seed:{customer}:use", "credit.purchase",
                                  debit_account_id=ids[4], credit_account_id=control,
                                  amount_minor=use))
        if owed:
            add(L.TransferRequest(f"seed:{customer}:principal", "credit.purchase",
                                  debit_account_id=ids[0], credit_account_id=merchant,
                                  amount_minor=owed))
        if fee:
            add(L.TransferRequest(f"seed:{customer}:fee", "credit.fee_posted",
                                  debit_account_id=ids[2], credit_account_id=fee_income,
                                  amount_minor=fee))
        if topup:
            add(L.TransferRequest(f"seed:{customer}:wallet", "wallet.topup",
                                  debit_account_id=bank, credit_account_id=ids[5],
                                  amount_minor=topup))
    return requests


def _grant_auto_debit_consents(uow: UnitOfWork, customers: list[str]) -> dict[str, str]:
    """Each customer's auto-debit consent, granted as the app would; their references."""
    from creditpay.protection.consent import Purpose, consent_text, grant_consent
    from creditpay.protection.consent_refs import reference_of

    text = consent_text(Purpose.AUTO_DEBIT, "zh-CN")
    refs: dict[str, str] = {}
    for start in range(0, len(customers), 2000):
        with uow.begin() as tx:
            for customer in customers[start:start + 2000]:
                refs[customer] = reference_of(grant_consent(
                    tx, customer_id=customer, purpose=Purpose.AUTO_DEBIT, language="zh-CN",
                    text_version=text.version, text_sha256=text.sha256, channel="app"))
    return refs


_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
# Seeding only: SQLite's page cache for the bulk inserts, 1 GiB (in KiB: PRAGMA cache_size
# takes a negative size): the indexes of a million accounts stay in memory while built.
_SEED_CACHE_KIB = 1_048_576


def seeding_engine(url: str) -> Engine:
    """An engine for SEEDING a throw-away benchmark file: ``synchronous=OFF`` (a power cut
    loses the file, which is re-seeded), a large page cache and temporary tables in memory.
    Never for the measured run, which opens its own engine with the store's durable
    settings (:func:`creditpay.db.engine.make_engine`)."""
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _bulk_settings(dbapi_connection: Any, _record: object) -> None:
        # Runs after make_engine's own hook (listeners run in order), so these win.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute(f"PRAGMA cache_size=-{_SEED_CACHE_KIB}")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    return engine


def seed_database(url: str, accounts: int, clock: SimulatedClock, *, seed: int = 20250618,
                  progress: Callable[[str], None] | None = None,
                  catalogue: P.Catalogue) -> dict[str, int]:
    """Create the schema at ``url`` (a new SQLite file) and seed ``accounts`` accounts with
    the seeding settings; the write-ahead log is checkpointed into the file and emptied at
    the end, so the measured run starts from a settled database."""
    engine = seeding_engine(url)
    try:
        migrate(engine)
        seeded = seed_accounts(UnitOfWork(engine, clock), accounts, seed, progress,
                               catalogue=catalogue)
        with engine.connect() as conn:
            driver_connection(conn).execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    return seeded


def _reference(count: int, repeats: int = 3) -> float:
    """Seconds of the same daily arithmetic in bare numpy over ``count`` accounts."""
    state = random_state(count)
    day = int(state.pop("day"))
    arrays = {name: value for name, value in state.items() if isinstance(value, np.ndarray)}
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        result = accrue_and_age(day=day, **arrays)
        assert len(result.dpd) == count
        best = min(best, time.perf_counter() - started)
    return best


# Keys of the close of business's report (stored in credit_cob_runs and in the payload of
# its completion event) that say how it ran, not what it did: left out of the comparison.
_HOW_IT_RAN = ("seconds", "engine", "chunks_resumed")
_JSON_REPORTS = {"credit_cob_runs": "report", "outbox_events": "payload"}


def _tables(conn: sqlite3.Connection, schema: str) -> list[str]:
    return [row[0] for row in conn.execute(
        f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table'"  # nosec B608
        " AND name NOT LIKE 'sqlite_%' ORDER BY name")]


def _without_how(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k not in _HOW_IT_RAN}
    return json.dumps(value, sort_keys=True)


def compare_books(path_a: str | Path, path_b: str | Path, *, first: int = 3
                  ) -> dict[str, Any]:
    """Compare two SQLite books table by table, every row and column (the ledger's accounts
    with their balances and its transfers, every credit table, the outbox events, the audit
    records): ``matches`` and, per group, how many rows were compared, and the first
    differences if any. The report's timing and engine are left out (:data:`_HOW_IT_RAN`).
    Set differences run in SQLite (``EXCEPT``), so a million-account book compares in
    seconds."""
    conn = sqlite3.connect(str(path_a))
    try:
        conn.execute("ATTACH DATABASE ? AS other", (str(path_b),))
        names_a, names_b = _tables(conn, "main"), _tables(conn, "other")
        differences: list[dict[str, Any]] = []
        if names_a != names_b:
            differences.append({"table": "*", "only_in_a": sorted(set(names_a) - set(names_b)),
                                "only_in_b": sorted(set(names_b) - set(names_a))})
        compared: dict[str, int] = {"ledger_accounts": 0, "ledger_transfers": 0,
                                    "credit_rows": 0, "events": 0, "other_rows": 0}
        for name in sorted(set(names_a) & set(names_b)):
            rows = int(conn.execute(f"SELECT count(*) FROM main.{name}"  # nosec B608
                                    ).fetchone()[0])
            group = (name if name in ("ledger_accounts", "ledger_transfers")
                     else "credit_rows" if name.startswith("credit_")
                     else "events" if name == "outbox_events" else "other_rows")
            compared[group] += rows
            if name in _JSON_REPORTS:
                query = f"SELECT * FROM {{}}.{name} ORDER BY 1"  # nosec B608
                a_rows = [tuple(_without_how(x) for x in r)
                          for r in conn.execute(query.format("main"))]
                b_rows = [tuple(_without_how(x) for x in r)
                          for r in conn.execute(query.format("other"))]
                only_a = [r for r in a_rows if r not in set(b_rows)][:first]
                only_b = [r for r in b_rows if r not in set(a_rows)][:first]
            else:
                only_a = conn.execute(f"SELECT * FROM main.{name} EXCEPT"  # nosec B608
                                      f" SELECT * FROM other.{name} LIMIT {first}").fetchall()
                only_b = conn.execute(f"SELECT * FROM other.{name} EXCEPT"  # nosec B608
                                      f" SELECT * FROM main.{name} LIMIT {first}").fetchall()
                rows_b = conn.execute(f"SELECT count(*) FROM other.{name}"  # nosec B608
                                      ).fetchone()[0]
                if rows_b != rows and not only_a and not only_b:
                    only_a = [("row count", rows)]
                    only_b = [("row count", rows_b)]
            if only_a or only_b:
                differences.append({"table": name,
                                    "only_in_a": [list(map(str, r)) for r in only_a],
                                    "only_in_b": [list(map(str, r)) for r in only_b]})
    finally:
        conn.close()
    return {"matches": not differences, "compared": compared,
            "differences": differences[:first * 3]}


def _timed_run(path: Path, clock: SimulatedClock, chunk_size: int, catalogue: P.Catalogue,
               progress: bool, engine: str, partitions: int | None = None
               ) -> tuple[float, Any, str]:
    """Run the close of business on the book at ``path`` with ``engine``; seconds, report,
    the synchronous setting of the run."""
    db = make_engine(f"sqlite:///{path}")
    uow = UnitOfWork(db, clock)
    with db.connect() as conn:
        synchronous = _SYNCHRONOUS[driver_connection(conn).execute(
            "PRAGMA synchronous").fetchone()[0]]
    started = time.perf_counter()
    common: dict[str, Any] = {
        "progress": progress, "chunk_size": chunk_size,
        # A throwaway database: its seal needs no checkpoint outside it.
        "audit_checkpointer": None, "auto_debit_consents": ReferencedAutoDebitConsents(),
        "catalogue": catalogue}
    if engine == "spark":
        from creditpay.spark.cob import run_close_of_business_on_spark

        report = run_close_of_business_on_spark(uow, BUSINESS_DATE, partitions=partitions,
                                                **common)
    else:
        report = run_close_of_business(uow, BUSINESS_DATE, **common)
    seconds = time.perf_counter() - started
    db.dispose()
    return seconds, report, synchronous


def _verified(path: Path, clock: SimulatedClock, accounts: int) -> bool | None:
    if accounts > 200_000:
        return None
    db = make_engine(f"sqlite:///{path}")
    try:
        with db.connect() as conn:
            return L.verify_ledger(conn).ok
    finally:
        db.dispose()


def run_benchmark(*, accounts: int, chunk_size: int = 50_000, seed: int = 20250618,
                  progress: bool = False, db_path: str | None = None,
                  engine: str = "local", partitions: int | None = None) -> dict[str, Any]:
    """One close-of-business day over ``accounts`` seeded accounts. With ``engine="spark"``
    the seeded book is copied, the local engine closes one copy and Spark the other (local
    mode, the session started before the timed run and timed apart), and the two books are
    compared row by row (:func:`compare_books`): ``matches_local``. ``seconds_spark``
    leaves out the session's start (JVM, Python workers): ``spark_start_seconds``."""
    from rich.console import Console

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}")
    console = Console(stderr=True)
    say = (lambda what: console.log(f"seeded {what}")) if progress else None
    with tempfile.TemporaryDirectory(prefix="creditpay-cob-") as folder:
        path = Path(db_path) if db_path else Path(folder) / "cob.db"
        url = f"sqlite:///{path}"
        clock = SimulatedClock(dt.datetime.combine(BUSINESS_DATE, dt.time(12), tzinfo=dt.UTC))
        started = time.perf_counter()
        catalogue = P.load_catalogue()
        seeded = seed_database(url, accounts, clock, seed=seed, progress=say,
                               catalogue=catalogue)
        seed_seconds = time.perf_counter() - started
        spark_copy = Path(folder) / "cob-spark.db"
        if engine == "spark":
            shutil.copyfile(path, spark_copy)
        # The measured run: a new engine with the store's normal, durable settings.
        clock.set(dt.datetime.combine(BUSINESS_DATE + dt.timedelta(days=1), dt.time(0, 30),
                                      tzinfo=dt.UTC))
        seconds, report, synchronous = _timed_run(path, clock, chunk_size, catalogue,
                                                  progress, "local")
        verified = _verified(path, clock, accounts)
        spark: dict[str, Any] = {}
        if engine == "spark":
            from creditpay.spark.engine import warm_up
            from creditpay.spark.session import spark_session

            started = time.perf_counter()
            session = spark_session()
            # The JVM and the Python workers start before the measured run (a session is
            # started once per process and serves every chunk and every date after).
            warm_up(session)
            spark_start = time.perf_counter() - started
            seconds_spark, spark_report, _ = _timed_run(spark_copy, clock, chunk_size,
                                                        catalogue, progress, "spark",
                                                        partitions)
            comparison = compare_books(path, spark_copy)
            spark = {
                "engine": "spark", "spark_master": session.sparkContext.master,
                "spark_partitions_per_chunk": partitions or
                session.sparkContext.defaultParallelism,
                "spark_start_seconds": round(spark_start, 3),
                "seconds_spark": round(seconds_spark, 3), "seconds_local": round(seconds, 3),
                "spark_to_local_ratio": round(seconds_spark / seconds, 3),
                "accounts_per_s_spark": round(accounts / seconds_spark),
                "matches_local": comparison["matches"] and
                spark_report.as_dict() | {"seconds": 0, "engine": ""} ==
                report.as_dict() | {"seconds": 0, "engine": ""},
                "compared": comparison["compared"],
                "differences": comparison["differences"],
                "ledger_verified_spark": _verified(spark_copy, clock, accounts)}
    reference_seconds = _reference(accounts)
    rate = accounts / seconds
    reference_rate = accounts / reference_seconds
    return {
        "benchmark": "cob", "store": "sqlite", "accounts": accounts, "engine": engine,
        "business_date": BUSINESS_DATE.isoformat(), "seconds": round(seconds, 3),
        "accounts_per_s": round(rate), "reference": "accrue_and_age in bare numpy, no I/O",
        "reference_seconds": round(reference_seconds, 4),
        "reference_accounts_per_s": round(reference_rate), "ratio": round(rate / reference_rate,
                                                                           5),
        "seed_seconds": round(seed_seconds, 1), "seeded": seeded,
        "run_synchronous": synchronous,
        "report": {k: v for k, v in report.as_dict().items() if k != "by_bucket"},
        "by_bucket": report.by_bucket, "ledger_verified": verified, **spark,
    }
