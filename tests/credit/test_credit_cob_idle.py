"""Idle accounts (accounts_repo.IDLE_CONDITION): the close of business does not read the
accounts for which none of its steps can change anything today. Checked against the steps
themselves: random chunks are stored in a table of the repository's columns, the
repository's own query picks the accounts to read, and then

* every account it leaves out comes out of the steps (run over the whole chunk) unchanged,
  with no transfer, event, row write or installment change about it, and
* the accounts it reads come out the same, with the same transfers, events, writes and
  counts, whether the idle ones were in the chunk or not.

The chunks are drawn so that idle accounts are common (zero rates and accruals, no late
date, installments due later) next to every kind of busy one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import StaticPool

from creditpay.credit import accounts_repo as repo
from creditpay.credit import cob_steps as S
from creditpay.credit.cob_vectorised import NO_DATE, day_number

from .test_credit_cob_steps import build

money = st.integers(0, 2_000_000)
maybe_zero = st.one_of(st.just(0), st.integers(1, 365_000))
# (status, due offset from today, principal, interest, fee, % paid): due later than tomorrow
# too, so that an account with open installments can be idle.
item = st.tuples(st.sampled_from(("billed", "past_due")), st.integers(-5, 40), money,
                 st.integers(0, 20_000), st.integers(0, 3_000), st.integers(0, 100))
account = st.fixed_dictionaries({
    "kind": st.sampled_from(("line", "plan", "loan")),
    "product": st.integers(0, 1),
    "unbilled": st.one_of(st.just(0), money),
    "due_tomorrow": st.one_of(st.none(), st.none(), st.integers(0, 1)),
    "rate": maybe_zero,
    "penalty_rate": maybe_zero,
    "base": st.integers(0, 3),
    "grace": st.integers(0, 5),
    "late_fee": st.integers(0, 5_000),
    "write_off_dpd": st.integers(20, 200),
    "statement_day": st.one_of(st.none(), st.integers(1, 28), st.integers(1, 28)),
    "late_by": st.one_of(st.none(), st.none(), st.none(), st.integers(1, 250)),
    "interest_num": st.one_of(st.just(0), st.integers(1, 10**12)),
    "penalty_num": st.one_of(st.just(0), st.integers(1, 10**12)),
    "penalty_unpaid": st.one_of(st.just(0), st.integers(0, 50_000)),
    "late_fee_unpaid": st.one_of(st.just(0), st.integers(0, 10_000)),
    "auto_debit": st.booleans(),
    "collected": st.booleans(),
    "consent_refused": st.booleans(),
    "items": st.lists(item, max_size=2),
})
# Some accounts start with a stored dpd or bucket that today's ageing must correct, one of
# their two late dates only, or a product that writes off at dpd 0.
stale = st.lists(st.sampled_from(("none",) * 6 + ("dpd", "bucket", "no_oldest", "no_latest",
                                                  "write_off_at_0")), min_size=12,
                 max_size=12)
days = st.dates(dt.date(2025, 1, 1), dt.date(2026, 12, 31))

_TEXT = {"account_id", "kind", "customer_id", "currency", "line_id", "product_code", "style",
         "bucket", "status"}
_DATES = {"oldest_past_due_date", "latest_past_due_date", "late_fee_through_date",
          "next_due_date"}
_STORED = (*repo.ACCOUNT_COLUMNS, "status", "opened_on")
_ENGINE = create_engine("sqlite://", poolclass=StaticPool)
_COMPARED = (*repo.ACCOUNT_COLUMNS, "status", "written_off_minor", "written_off_on", "event")


def _table(conn: Connection) -> None:
    columns = ", ".join(f"{name} {'TEXT' if name in _TEXT | _DATES or name == 'opened_on' else 'INTEGER'}"
                        for name in _STORED)
    conn.exec_driver_sql("DROP TABLE IF EXISTS credit_accounts")
    conn.exec_driver_sql(f"CREATE TABLE credit_accounts ({columns})")
    # The close of business leaves paused accounts out (disputes, issue #20): none here.
    conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS credit_pauses"
                         " (account_seq INTEGER, resumed_on TEXT, account_kind TEXT)")


def _iso(day: int) -> str | None:
    return None if day == NO_DATE else (dt.date(1970, 1, 1) + dt.timedelta(days=int(day))
                                         ).isoformat()


def _store(conn: Connection, a: dict[str, np.ndarray], today: dt.date) -> None:
    """The chunk's accounts as the table holds them: dates as ISO text or NULL, no
    statement day for plans and loans, no line for loans, no auto-debit account as NULL."""
    _table(conn)
    rows = []
    for i in range(len(a["seq"])):
        row: list[Any] = []
        for name in _STORED:
            if name == "opened_on":
                row.append((today - dt.timedelta(days=400)).isoformat())
            elif name in _DATES:
                row.append(_iso(a[name][i]))
            elif name == "statement_day" and a["kind"][i] != "line":
                row.append(None)
            elif name in ("auto_debit_account_id", "line_available_account_id") and \
                    a[name][i] == 0:
                row.append(None)
            else:
                value = a[name][i]
                row.append(value if name in _TEXT else int(value))
        rows.append(tuple(row))
    conn.exec_driver_sql(f"INSERT INTO credit_accounts ({', '.join(_STORED)}) VALUES"  # nosec
                         f" ({', '.join('?' * len(_STORED))})", rows)


def _subset(state: S.ChunkState, inputs: S.DayInputs, keep: np.ndarray
            ) -> tuple[S.ChunkState, S.DayInputs]:
    """The chunk with only the accounts ``keep`` (as the close of business reads it)."""
    a = {name: values[keep] for name, values in state.a.items()}

    def items(v: S.Arrays) -> dict[str, np.ndarray]:
        out = dict(v)
        out["pos"], out["valid"] = S.positions(a["seq"], v["account_seq"])
        out["valid"] &= v["valid"]
        return out

    return (S.ChunkState(a, items(state.v)),
            S.DayInputs(day=inputs.day, platform=inputs.platform, catalogue=inputs.catalogue,
                        consent_refusal=inputs.consent_refusal[keep],
                        consent_reference=inputs.consent_reference[keep],
                        collected=inputs.collected[keep], due_items=items(inputs.due_items),
                        scheduled_seq=inputs.scheduled_seq,
                        scheduled_due=inputs.scheduled_due,
                        installment_numbers=inputs.installment_numbers,
                        plan_installments=inputs.plan_installments))


def _mentions(out: S.ChunkOutput, a: S.Arrays, i: int, item_ids: set[int]) -> list[str]:
    """What in the steps' output is about account ``i``."""
    account_id, seq = str(a["account_id"][i]), int(a["seq"][i])
    ledger_ids = {int(a[name][i]) for name in (
        "principal_account_id", "interest_account_id", "fee_account_id", "penalty_account_id",
        "line_available_account_id", "auto_debit_account_id")} - {0}
    found = [f"transfer {r.id}" for r in out.requests
             if r.reference == account_id or r.debit_account_id in ledger_ids
             or r.credit_account_id in ledger_ids]
    found += [f"event {e.topic}" for e in out.events if e.aggregate_id == account_id]
    w = out.writes
    found += [f"write {name}" for name, hit in (
        ("item_updates", any(row[7] in item_ids for row in w.item_updates)),
        ("item_inserts", any(r["account_seq"] == seq for r in w.item_inserts)),
        ("statements", any(r["account_seq"] == seq for r in w.statements)),
        ("repayments", any(r["result"]["account_id"] == account_id for r in w.repayments)),
        ("auto_debit_stops", seq in w.auto_debit_stops),
        ("written_off", seq in w.written_off),
        ("frozen_lines", a["line_id"][i] in w.frozen_lines),
        ("plan_tags", any(item_id in item_ids for _, item_id in w.plan_tags))) if hit]
    return found


PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.lists(account, min_size=2, max_size=12), stale, days)
def test_idle_accounts_are_untouched_and_leaving_them_out_changes_nothing(accounts, marks,
                                                                          today):
    state, inputs = build(accounts, today)
    day = day_number(today)
    a = {name: values.copy() for name, values in state.a.items()}
    for i, mark in enumerate(marks[:len(accounts)]):
        if mark == "dpd":
            a["dpd"][i] = 7
        elif mark == "bucket":
            a["bucket"][i] = "M2"
        elif mark == "no_oldest":
            a["oldest_past_due_date"][i] = NO_DATE
        elif mark == "no_latest":
            a["latest_past_due_date"][i] = NO_DATE
        elif mark == "write_off_at_0":
            a["write_off_dpd"][i] = 0
    state = S.ChunkState(a, state.v)
    v, due = state.v, inputs.due_items

    def rows(items: S.Arrays) -> list[tuple[Any, ...]]:
        return [tuple(_iso(items[name][k]) if name == "due_date" else items[name][k]
                      for name in repo.ITEM_COLUMNS) for k in range(len(items["id"]))]

    with _ENGINE.connect() as conn:
        _store(conn, a, today)
        idle_filter = repo.IdleFilter(today.day, repo.busy_seqs(rows(v), rows(due), day))
        read = repo.load_chunk(conn, day, 1, len(accounts), skip_idle=idle_filter)
        idle_count = repo.count_idle(conn, day, 1, len(accounts), idle_filter)
    keep = np.isin(a["seq"], read["seq"])
    assert idle_count == int((~keep).sum())
    for name in repo.ACCOUNT_COLUMNS:  # what was read is what the chunk holds
        assert np.array_equal(read[name], a[name][keep]), name

    full = S.run_steps(state, inputs)
    for i in np.flatnonzero(~keep):
        item_ids = {int(x) for x in np.concatenate((v["id"][v["account_seq"] == a["seq"][i]],
                                                    due["id"][due["account_seq"]
                                                              == a["seq"][i]]))}
        for name in _COMPARED:
            assert full.state.a[name][i] == a[name][i], (i, name)
        assert full.state.a["bucket"][i] == repo.CURRENT_BUCKET
        assert full.state.a["interest_added_num"][i] == 0
        assert full.state.a["penalty_added_num"][i] == 0
        mine = np.isin(full.state.v["id"], list(item_ids))
        assert not full.state.v["changed"][mine].any()
        for name in ("status", "due_date", "minimum_minor", "principal_paid_minor"):
            assert np.array_equal(full.state.v[name][mine], v[name][mine]), name
        assert _mentions(full, a, i, item_ids) == [], i

    if keep.any():
        sub_state, sub_inputs = _subset(state, inputs, keep)
        part = S.run_steps(sub_state, sub_inputs)
        assert part.requests == full.requests
        assert part.events == full.events
        assert part.writes == full.writes
        assert dict(part.counts) == dict(full.counts)
        for name in _COMPARED:
            assert np.array_equal(part.state.a[name], full.state.a[name][keep]), name
    else:
        assert full.requests == () and full.events == ()


def test_an_unknown_value_is_not_idle():
    """A NULL in a column the condition reads makes it unknown: the account is read."""
    state, _ = build([{"kind": "plan", "product": 0, "unbilled": 5_000, "due_tomorrow": None,
                       "rate": 0, "penalty_rate": 0, "base": 0, "grace": 0, "late_fee": 0,
                       "write_off_dpd": 90, "statement_day": None, "late_by": None,
                       "interest_num": 0, "penalty_num": 0, "penalty_unpaid": 0,
                       "late_fee_unpaid": 0, "auto_debit": False, "collected": False,
                       "consent_refused": False, "items": []}], dt.date(2025, 3, 3))
    day = day_number(dt.date(2025, 3, 3))
    idle_filter = repo.IdleFilter(3, ())
    with _ENGINE.connect() as conn:
        _store(conn, dict(state.a), dt.date(2025, 3, 3))
        assert repo.count_idle(conn, day, 1, 1, idle_filter) == 1
        conn.exec_driver_sql("UPDATE credit_accounts SET write_off_dpd = NULL")
        assert repo.count_idle(conn, day, 1, 1, idle_filter) == 0
        assert len(repo.load_chunk(conn, day, 1, 1, skip_idle=idle_filter)["seq"]) == 1
