"""The close of business's pure steps (credit/cob_steps.py), without a database.

Random chunks whose rows are consistent (an account's billed and past-due principal is what
its open installments still owe) go through the steps in their declared order; the
properties: no step changes its input arrays, no step makes a balance or an accrual
negative, accrual never goes down and dpd is never negative, every transfer request moves a
positive amount between two different accounts, and what the requests post matches what the
account rows record (written off, repaid, interest, fees and penalty posted).
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditpay.credit import cob_steps as S
from creditpay.credit.cob_vectorised import NO_DATE, day_number
from creditpay.credit.lines import CLEARING_CODE
from tests.catalogues import CATALOGUE

CATALOGUE = CATALOGUE
PLATFORM = {code: 900_000 + k for k, code in enumerate((
    CLEARING_CODE, "credit_limit_control", "fee_income", "interest_income", "penalty_income",
    "write_off_expense"))}
PRODUCTS = {"line": ("huabei", "revolver"), "plan": ("baitiao", "apr_plan"),
            "loan": ("jiebei", "flat_loan")}
BALANCES = ("principal_unbilled_minor", "principal_billed_minor", "principal_past_due_minor",
            "penalty_unpaid_minor", "late_fee_unpaid_minor", "interest_accrual_num",
            "penalty_accrual_num", "interest_posted_minor", "penalty_posted_minor",
            "fee_posted_minor", "written_off_minor", "dpd")

money = st.integers(0, 2_000_000)
# Due today (auto-debit, roll) often enough, else up to 60 days ago.
item = st.tuples(st.sampled_from(("billed", "past_due")),
                 st.one_of(st.just(0), st.integers(-60, 0)), money,
                 st.integers(0, 20_000), st.integers(0, 3_000), st.integers(0, 100))
account = st.fixed_dictionaries({
    "kind": st.sampled_from(("line", "plan", "loan")),
    "product": st.integers(0, 1),
    "unbilled": money,
    "due_tomorrow": st.one_of(st.none(), st.integers(0, 1)),
    "rate": st.integers(0, 365_000),
    "penalty_rate": st.integers(0, 200_000),
    "base": st.integers(0, 3),
    "grace": st.integers(0, 5),
    "late_fee": st.integers(0, 5_000),
    "write_off_dpd": st.integers(20, 200),
    "statement_day": st.one_of(st.none(), st.integers(1, 28)),  # None: cut one today
    "late_by": st.one_of(st.none(), st.integers(1, 250)),
    "interest_num": st.integers(0, 10**12),
    "penalty_num": st.integers(0, 10**12),
    "penalty_unpaid": st.integers(0, 50_000),
    "late_fee_unpaid": st.integers(0, 10_000),
    "auto_debit": st.booleans(),
    "collected": st.booleans(),
    "consent_refused": st.booleans(),
    "items": st.lists(item, max_size=3),
})
days = st.dates(dt.date(2025, 1, 1), dt.date(2026, 12, 31))


def build(accounts: list[dict], today: dt.date) -> tuple[S.ChunkState, S.DayInputs]:
    """A chunk of ``accounts`` (seq 1..n) and the day's inputs, consistent by construction."""
    day = day_number(today)
    n = len(accounts)
    a: dict[str, list] = {}
    items: list[tuple] = []
    due_items: list[tuple] = []
    scheduled: list[tuple[int, int]] = []
    item_id = 0

    def put(name, value):
        a.setdefault(name, []).append(value)

    for k, acc in enumerate(accounts):
        seq = k + 1
        kind = acc["kind"]
        product = CATALOGUE.get(PRODUCTS[kind][acc["product"]])
        billed = past = 0
        number = 0
        for status, due_offset, principal, interest, fee, paid_pct in acc["items"]:
            item_id += 1
            number += 1
            paid = principal * paid_pct // 100
            if status == "billed":
                billed += principal - paid
            else:
                past += principal - paid
            items.append((item_id, seq, number, day + due_offset, status, principal, interest,
                          fee, paid, 0, 0, (principal + interest + fee) // 10))
        unbilled = acc["unbilled"]
        if acc["due_tomorrow"] is not None and kind != "line":
            item_id += 1
            number += 1
            part = unbilled // 2
            due_items.append((item_id, seq, number, day + acc["due_tomorrow"], "scheduled",
                              part, 0, 300, 0, 0, 0, 0))
            scheduled.append((seq, day + acc["due_tomorrow"]))
            scheduled.append((seq, day + 31))
        late = acc["late_by"]
        values = {
            "seq": seq, "account_id": f"{kind}_{seq}", "kind": kind, "customer_id": f"c{seq}",
            "currency": "CNY", "line_id": f"line_{seq}" if kind != "loan" else None,
            "product_code": product.code, "product_version": product.version,
            "style": getattr(product, "style", None) and product.style.value,
            "principal_original_minor": unbilled + billed + past, "principal_prepaid_minor": 0,
            "interest_rate_micro": acc["rate"], "penalty_rate_micro": acc["penalty_rate"],
            "year_basis_days": 365, "interest_base": acc["base"], "grace_days": acc["grace"],
            "late_fee_minor": acc["late_fee"], "write_off_dpd": acc["write_off_dpd"],
            "statement_day": (acc["statement_day"] or today.day) if kind == "line" else 0,
            "principal_unbilled_minor": unbilled, "principal_billed_minor": billed,
            "principal_past_due_minor": past, "penalty_unpaid_minor": acc["penalty_unpaid"],
            "late_fee_unpaid_minor": acc["late_fee_unpaid"],
            "interest_accrual_num": acc["interest_num"],
            "penalty_accrual_num": acc["penalty_num"], "interest_posted_minor": 0,
            "penalty_posted_minor": 0, "fee_posted_minor": 0,
            "oldest_past_due_date": day - late if late else NO_DATE,
            "latest_past_due_date": day - late // 2 if late else NO_DATE,
            "late_fee_through_date": NO_DATE, "next_due_date": NO_DATE, "dpd": 0,
            "bucket": "M0", "auto_debit_enabled": int(acc["auto_debit"]),
            "auto_debit_account_id": 100 * seq + 6 if acc["auto_debit"] else 0,
            "principal_account_id": 100 * seq + 1, "interest_account_id": 100 * seq + 2,
            "fee_account_id": 100 * seq + 3, "penalty_account_id": 100 * seq + 4,
            "line_available_account_id": 100 * seq + 5 if kind != "loan" else 0,
            "status": "active", "written_off_minor": 0, "written_off_on": NO_DATE,
            "event": False}
        for name, value in values.items():
            put(name, value)
    arrays = {name: np.asarray(values, dtype=object if name in (
        "account_id", "kind", "customer_id", "currency", "line_id", "product_code", "style",
        "bucket", "status") else bool if name == "event" else np.int64)
        for name, values in a.items()}
    state = S.ChunkState(arrays, _items(items, arrays["seq"]))
    refused = np.asarray([("consent.revoked" if acc["consent_refused"] else None)
                          for acc in accounts], dtype=object)
    inputs = S.DayInputs(
        day=day, platform=PLATFORM, catalogue=CATALOGUE, consent_refusal=refused,
        consent_reference=np.full(n, "consent:1", dtype=object),
        collected=np.asarray([acc["collected"] for acc in accounts], dtype=bool),
        due_items=_items(due_items, arrays["seq"]),
        scheduled_seq=np.asarray([s for s, _ in scheduled], dtype=np.int64),
        scheduled_due=np.asarray([d for _, d in scheduled], dtype=np.int64),
        installment_numbers={}, plan_installments={})
    return state, inputs


def _items(rows: list[tuple], seq: np.ndarray) -> dict[str, np.ndarray]:
    names = ("id", "account_seq", "number", "due_date", "status", "principal_minor",
             "interest_minor", "fee_minor", "principal_paid_minor", "interest_paid_minor",
             "fee_paid_minor", "minimum_minor")
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    v = {name: np.asarray(values, dtype=object if name == "status" else np.int64)
         for name, values in zip(names, columns, strict=True)}
    v["pos"], v["valid"] = S.positions(seq, v["account_seq"])
    v["changed"] = np.zeros(len(rows), dtype=bool)
    return v


def _copy(state: S.ChunkState) -> tuple[dict, dict]:
    return ({k: x.copy() for k, x in state.a.items()}, {k: x.copy() for k, x in state.v.items()})


def _same(arrays: dict, saved: dict) -> bool:
    return all(np.array_equal(arrays[k], saved[k]) for k in saved)


def _posted(requests, code: str, *, credit: int | None = None, debit: int | None = None) -> int:
    return sum(r.amount_minor for r in requests if r.code == code and
               (credit is None or r.credit_account_id == credit) and
               (debit is None or r.debit_account_id == debit))


PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.lists(account, min_size=1, max_size=8), days)
def test_steps_are_pure_and_keep_balances_non_negative(accounts, today):
    state, inputs = build(accounts, today)
    for step in S.STEPS:
        saved_a, saved_v = _copy(state)
        out = step.run(state, inputs)
        assert _same(dict(state.a), saved_a) and _same(dict(state.v), saved_v), step.name
        for name in BALANCES:
            assert (out.state.a[name] >= 0).all(), (step.name, name)
        for component in ("principal", "interest", "fee"):
            v = out.state.v
            owed = v[f"{component}_minor"] - v[f"{component}_paid_minor"]
            assert (owed[v["valid"]] >= 0).all(), (step.name, component)
        for request in out.requests:
            assert request.amount_minor > 0 and \
                request.debit_account_id != request.credit_account_id, step.name
        state = out.state


@PROPERTY
@given(st.lists(account, min_size=1, max_size=8), days)
def test_accrual_grows_and_ages(accounts, today):
    state, inputs = build(accounts, today)
    out = S.accrue_and_age_step(state, inputs)
    a0, a = state.a, out.state.a
    assert (a["interest_accrual_num"] >= a0["interest_accrual_num"]).all()
    assert (a["penalty_accrual_num"] >= a0["penalty_accrual_num"]).all()
    late = a0["oldest_past_due_date"] != NO_DATE
    assert (a["dpd"][late] == inputs.day - a0["oldest_past_due_date"][late]).all()
    assert (a["dpd"][~late] == 0).all()
    # No past-due principal, no penalty accrual.
    none_past = a0["principal_past_due_minor"] == 0
    assert (a["penalty_added_num"][none_past] == 0).all()


@PROPERTY
@given(st.lists(account, min_size=1, max_size=8), days)
def test_postings_match_what_the_rows_record(accounts, today):
    state, inputs = build(accounts, today)
    out = S.run_steps(state, inputs)
    a0, a = state.a, out.state.a
    requests = out.requests
    # Written off: every receivable moved to write_off_expense, as recorded on the row.
    assert _posted(requests, "credit.write_off") == int(a["written_off_minor"].sum()) == \
        out.counts.get("written_off_minor", 0)
    # Interest, fees and penalty posted to the receivables are what the rows added.
    for code, column in (("credit.interest_posted", "interest_posted_minor"),
                         ("credit.penalty_posted", "penalty_posted_minor")):
        assert _posted(requests, code) == int((a[column] - a0[column]).sum())
    fees = _posted(requests, "credit.fee_posted") + _posted(requests, "credit.late_fee")
    assert fees == int((a["fee_posted_minor"] - a0["fee_posted_minor"]).sum())
    # Auto-debit: the repayments posted add up to what the wallets paid.
    assert _posted(requests, "credit.repayment") == out.counts.get("auto_debit_minor", 0) == \
        sum(r["amount_minor"] for r in out.writes.repayments)


@PROPERTY
@given(st.lists(account, min_size=1, max_size=8), days)
def test_auto_debit_is_all_or_nothing_and_honours_consent(accounts, today):
    state, inputs = build(accounts, today)
    debit, pulls = S.auto_debit_pulls(state, inputs)
    candidates = S.auto_debit_candidates(state, inputs.day)
    refused = {int(i) for i in candidates if inputs.consent_refusal[i] is not None}
    assert not refused & {int(i) for i in debit}
    out = S.auto_debit(state, inputs)
    assert set(out.writes.auto_debit_stops) == {int(state.a["seq"][i]) for i in refused}
    assert [e.payload["reason"] for e in out.events] == ["consent.revoked"] * len(refused)
    totals = S.auto_debit_amounts(state, inputs.day)["total"]
    for i, pull in zip(debit, pulls, strict=True):
        assert pull.amount_minor == totals[i]
        paid = [r for r in out.writes.repayments
                if r["result"]["account_id"] == state.a["account_id"][i]]
        if inputs.collected[i]:
            assert [r["amount_minor"] for r in paid] == [totals[i]]
            assert out.state.a["penalty_unpaid_minor"][i] == 0
        else:
            assert paid == []  # a short wallet pays nothing: left for collections


def test_steps_are_listed_once_in_order():
    assert [s.name for s in S.STEPS] == [
        "auto_debit", "accrue_and_age", "roll", "waive_residues", "late_fees", "write_off",
        "bill", "statements", "month_end", "close_settled", "buckets"]


def test_credit_does_not_import_consumer_protection():
    """Layers: the close of business takes the consent check as a port; credit never imports
    creditpay.protection (import-linter checks it for the whole package too)."""
    root = Path(__file__).resolve().parents[2] / "src" / "creditpay" / "credit"
    for path in (root / "cob.py", root / "cob_steps.py", root / "accounts_repo.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("creditpay.protection"), path
            elif isinstance(node, ast.Import):
                assert not any(n.name.startswith("creditpay.protection") for n in node.names)
