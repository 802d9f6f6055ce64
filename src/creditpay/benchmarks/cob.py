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
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from creditpay import ledger as L
from creditpay.clock import SimulatedClock
from creditpay.credit import products as P
from creditpay.credit.cob import run_close_of_business
from creditpay.credit.cob_vectorised import accrue_and_age, random_state
from creditpay.credit.lines import RECEIVABLE_CODES, platform_ledger_accounts
from creditpay.db.engine import make_engine
from creditpay.db.schema import migrate
from creditpay.db.uow import UnitOfWork
from creditpay.ledger.chart import party_key
from creditpay.protection.auto_debit_consents import ReferencedAutoDebitConsents

__all__ = ["run_benchmark", "seed_accounts"]

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


def _iso(day: dt.date) -> str:
    return day.isoformat()


def _open_ledger(uow: UnitOfWork, specs: list[L.AccountSpec]) -> list[int]:
    ids: list[int] = []
    size = L.service.BATCH_SIZE_MAX
    for start in range(0, len(specs), size):
        with uow.begin() as tx:
            ids.extend(a.id for a in L.open_accounts(tx, specs[start:start + size]))
    return ids


def _post(uow: UnitOfWork, requests: list[L.TransferRequest]) -> None:
    size = L.service.BATCH_SIZE_MAX
    for start in range(0, len(requests), size):
        with uow.begin() as tx:
            L.create_transfers(tx, requests[start:start + size])


def seed_accounts(uow: UnitOfWork, count: int, seed: int = 20250618,
                  progress: Any = None, *, catalogue: P.Catalogue) -> dict[str, int]:
    """Bulk-seed ``count`` active accounts of ``catalogue``'s products as of the benchmark's
    business date."""
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
    if progress:
        progress("ledger accounts")
    day = BUSINESS_DATE
    # Each customer owns one line; plans and loans belong to random customers.
    owner = np.concatenate([np.arange(n_lines), rng.integers(0, n_lines, n_plans + n_loans)])
    kind = np.array(["line"] * n_lines + ["plan"] * n_plans + ["loan"] * n_loans, dtype=object)
    principal = np.where(kind == "line", rng.integers(0, 300_000, count),
                         rng.integers(50_000, 2_000_000, count)).astype(np.int64)
    late = rng.random(count) < 0.06
    dpd = np.where(late, rng.integers(1, 185, count), 0)
    past_due = np.where(late, principal // 4, 0).astype(np.int64)
    current = principal - past_due
    opened_days_ago = rng.integers(1, 330, count)
    opened = [day - dt.timedelta(days=int(d)) for d in opened_days_ago]
    statement_day = rng.integers(1, 29, count)
    auto_debit = (kind != "line") & (rng.random(count) < 0.2)
    now = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    rows = []
    items: list[tuple[Any, ...]] = []
    limit_use = np.zeros(n_lines, dtype=np.int64)
    billed_fee = np.zeros(n_lines, dtype=np.int64)  # fees posted when today's items billed
    np.add.at(limit_use, owner[kind != "loan"], principal[kind != "loan"])
    # Auto-debit is switched on only where it acts today (an installment falls due; the
    # close of business looks at nothing else), each under a consent recorded through the
    # compliance domain, which the close of business checks again before debiting.
    debits_today_at = {i for i in np.flatnonzero(auto_debit).tolist()
                       if _next_due(opened[i], day) == day}
    consent_refs = _grant_auto_debit_consents(
        uow, sorted({customers[int(owner[i])] for i in debits_today_at}))
    for i in range(count):
        k = kind[i]
        product = line_product if k == "line" else plan_product if k == "plan" \
            else loan_product
        o = int(owner[i])
        receivable = ledger_ids[o]
        anchor = opened[i].day
        next_due = _next_due(opened[i], day)
        billed_now = int(current[i]) // 2 if k != "line" and next_due == day else 0
        debits_today = i in debits_today_at
        if billed_now and k == "plan":
            billed_fee[o] += 300
        oldest = day - dt.timedelta(days=int(dpd[i])) if late[i] else None
        rate = 0 if k != "loan" else P.rate_micro(loan_product.annual_rate)
        base = 1 if k == "loan" else 0
        rows.append((
            f"{k}_{i}" if k != "line" else f"line_{customers[o]}", k, customers[o],
            CURRENCY, f"line_{customers[o]}" if k != "loan" else None, product.code,
            product.version, None if k == "line" else ("flat" if k == "plan" else
                                                       "equal_installment"),
            "no_revolve" if k == "line" else None, "active", _iso(opened[i]),
            int(principal[i]), rate, P.rate_micro(product.penalty_annual_rate), 365, base,
            product.grace_days, product.late_fee_minor, product.write_off_dpd,
            int(statement_day[i]) if k == "line" else None,
            int(current[i]) - billed_now, billed_now, int(past_due[i]), 0, 0, 0, 0, 0, 0,
            300 if billed_now and k == "plan" else 0,
            _iso(oldest) if oldest else None, _iso(oldest) if oldest else None, None,
            None if k == "line" else _iso(next_due), int(dpd[i]), "M0", 0, 0, None,
            debits_today, consent_refs.get(customers[o]) if debits_today else None,
            int(receivable[5]) if debits_today else None, product.prepayment_rule,
            "customer", 0, None, anchor, int(receivable[0]), int(receivable[1]),
            int(receivable[2]), int(receivable[3]),
            int(receivable[4]) if k != "loan" else None, None, now))
        seq = i + 1
        number = 1
        if oldest is not None:  # (late)
            items.append((seq, number, _iso(oldest), "past_due", int(past_due[i]), 0, 0, 0,
                          0, 0, int(past_due[i]), None))
            number += 1
        if k != "line" and current[i]:
            first = int(current[i]) // 2
            fee = 300 if k == "plan" else 0
            for part, due in ((first, next_due),
                              (int(current[i]) - first, _add_month(next_due, anchor))):
                # An installment due today was billed by yesterday's close of business.
                status = "billed" if due == day else "scheduled"
                items.append((seq, number, _iso(due), status, part, 0, fee, 0, 0, 0,
                              part + fee, None))
                number += 1
    with uow.begin() as tx:
        conn = tx.conn.connection.driver_connection
        assert conn is not None  # checked out for this transaction
        placeholders = ", ".join(["?"] * len(_ACCOUNT_COLUMNS))
        conn.executemany(f"INSERT INTO credit_accounts ({', '.join(_ACCOUNT_COLUMNS)})"
                         f" VALUES ({placeholders})",  # nosec B608
                         [r[:-1] + (r[-1].isoformat(),) for r in rows])
        conn.executemany(
            "INSERT INTO credit_installments (account_seq, number, due_date, status,"
            " principal_minor, interest_minor, fee_minor, principal_paid_minor,"
            " interest_paid_minor, fee_paid_minor, minimum_minor, statement_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", items)
        conn.executemany(
            "INSERT INTO credit_lines (line_id, customer_id, currency, product_code,"
            " product_version, limit_minor, limit_version, available_account_id, status,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, 'active', ?, ?)",
            [(f"line_{c}", c, CURRENCY, line_product.code, line_product.version,
              int(limit_use[k]) + 1_000_000, int(ledger_ids[k][4]), now.isoformat(),
              now.isoformat()) for k, c in enumerate(customers)])
    if progress:
        progress("credit rows")
    customer_principal = np.zeros(n_lines, dtype=np.int64)
    np.add.at(customer_principal, owner, principal)
    requests: list[L.TransferRequest] = []
    for k, customer in enumerate(customers):
        ids = ledger_ids[k]
        requests.append(L.TransferRequest(f"seed:{customer}:limit", "credit.limit_grant",
                                          debit_account_id=platform["credit_limit_control"],
                                          credit_account_id=int(ids[4]),
                                          amount_minor=int(limit_use[k]) + 1_000_000))
        if limit_use[k]:
            requests.append(L.TransferRequest(
                f"seed:{customer}:use", "credit.purchase", debit_account_id=int(ids[4]),
                credit_account_id=platform["credit_limit_control"],
                amount_minor=int(limit_use[k])))
        if customer_principal[k]:
            requests.append(L.TransferRequest(
                f"seed:{customer}:principal", "credit.purchase", debit_account_id=int(ids[0]),
                credit_account_id=merchant, amount_minor=int(customer_principal[k])))
        if billed_fee[k]:
            requests.append(L.TransferRequest(
                f"seed:{customer}:fee", "credit.fee_posted", debit_account_id=int(ids[2]),
                credit_account_id=platform["fee_income"], amount_minor=int(billed_fee[k])))
        requests.append(L.TransferRequest(
            f"seed:{customer}:wallet", "wallet.topup",
            debit_account_id=platform["bank_settlement"], credit_account_id=int(ids[5]),
            amount_minor=int(rng.integers(0, 3_000_000))))
    requests = [r for r in requests if r.amount_minor]
    _post(uow, requests)
    if progress:
        progress("ledger postings")
    return {"accounts": count, "lines": n_lines, "plans": n_plans, "loans": n_loans,
            "installments": len(items), "ledger_accounts": len(specs),
            "ledger_transfers": len(requests)}


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


def _add_month(day: dt.date, anchor: int) -> dt.date:
    from creditpay.credit.calendar import add_months

    return add_months(day, 1, anchor)


def _next_due(opened: dt.date, today: dt.date) -> dt.date:
    """The first monthly anniversary of ``opened`` after ``today`` (the next due date)."""
    from creditpay.credit.calendar import add_months

    months = 1
    due = add_months(opened, months)
    while due < today:
        months += 1
        due = add_months(opened, months)
    return due


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


def run_benchmark(*, accounts: int, chunk_size: int = 50_000, seed: int = 20250618,
                  progress: bool = False, db_path: str | None = None) -> dict[str, Any]:
    from rich.console import Console

    console = Console(stderr=True)
    say = (lambda what: console.log(f"seeded {what}")) if progress else None
    with tempfile.TemporaryDirectory(prefix="creditpay-cob-") as folder:
        path = Path(db_path) if db_path else Path(folder) / "cob.db"
        engine = make_engine(f"sqlite:///{path}")
        # Every branch: the close of business checks each auto-debit's consent in the
        # compliance domain's records before it debits.
        migrate(engine)
        clock = SimulatedClock(dt.datetime.combine(BUSINESS_DATE, dt.time(12), tzinfo=dt.UTC))
        uow = UnitOfWork(engine, clock)
        started = time.perf_counter()
        catalogue = P.load_catalogue()
        seeded = seed_accounts(uow, accounts, seed, say, catalogue=catalogue)
        seed_seconds = time.perf_counter() - started
        clock.set(dt.datetime.combine(BUSINESS_DATE + dt.timedelta(days=1), dt.time(0, 30),
                                      tzinfo=dt.UTC))
        started = time.perf_counter()
        # A throwaway database: its seal needs no checkpoint outside it.
        report = run_close_of_business(uow, BUSINESS_DATE, progress=progress,
                                       chunk_size=chunk_size, audit_checkpointer=None,
                                       auto_debit_consents=ReferencedAutoDebitConsents(),
                                       catalogue=catalogue)
        seconds = time.perf_counter() - started
        with engine.connect() as conn:
            verified = L.verify_ledger(conn).ok if accounts <= 200_000 else None
        engine.dispose()
    reference_seconds = _reference(accounts)
    rate = accounts / seconds
    reference_rate = accounts / reference_seconds
    return {
        "benchmark": "cob", "store": "sqlite", "accounts": accounts,
        "business_date": BUSINESS_DATE.isoformat(), "seconds": round(seconds, 3),
        "accounts_per_s": round(rate), "reference": "accrue_and_age in bare numpy, no I/O",
        "reference_seconds": round(reference_seconds, 4),
        "reference_accounts_per_s": round(reference_rate), "ratio": round(rate / reference_rate,
                                                                           5),
        "seed_seconds": round(seed_seconds, 1), "seeded": seeded,
        "report": {k: v for k, v in report.as_dict().items() if k != "by_bucket"},
        "by_bucket": report.by_bucket, "ledger_verified": verified,
    }
