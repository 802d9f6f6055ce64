"""The report's book charts on constructed inputs (pure, fast): the monthly roll-rate matrix
adds up to what each state held, the vintage intervals hold their point and narrow with
more accounts, and each chart warns when its run is too short for it and only then."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.sim import book_charts as BC

PLATFORM_STATES = ("M0", "M1", "M2", "M3", "M4", "M5", "M6+", "WO", "closed")
ACTIVE = PLATFORM_STATES[:7]


@dataclass(frozen=True)
class Cell:
    month_end: dt.date
    from_state: str
    to_state: str
    accounts: int
    from_balance_minor: int


def _cells(month_end: dt.date, moves: list[tuple[str, str, int]]) -> list[Cell]:
    """Per-account moves (from state, to state, receivable at the previous month end)
    aggregated per (from, to) the way the month-end job groups them."""
    grouped: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for source, target, balance in moves:
        grouped[(source, target)][0] += 1
        grouped[(source, target)][1] += balance
    return [Cell(month_end, s, t, n, b) for (s, t), (n, b) in grouped.items()]


MOVES = st.lists(st.tuples(st.sampled_from(("new", *ACTIVE)), st.sampled_from(PLATFORM_STATES),
                           st.integers(0, 5_000_000)), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(first=MOVES, second=MOVES)
def test_each_row_adds_up_to_what_its_state_held_at_the_previous_month_end(first, second):
    jan, feb = dt.date(2025, 1, 31), dt.date(2025, 2, 28)
    # "new" accounts hold nothing at the previous month end.
    second = [(s, t, 0 if s == "new" else b) for s, t, b in second]
    matrices = BC.roll_rate_matrices(_cells(jan, first) + _cells(feb, second))
    assert [m["month_end"] for m in matrices] == ["2025-02-28"]  # the first has no previous
    m = matrices[0]
    for i, state in enumerate(BC.ROLL_FROM_STATES):
        held = [(b, 1) for s, _, b in second if BC.roll_state(s) == state]
        assert sum(m["balance_minor"][i]) == m["from_balance_minor"][i] == sum(
            b for b, _ in held)
        assert sum(m["accounts"][i]) == m["from_accounts"][i] == len(held)
        for key, total in (("balance_share", m["from_balance_minor"][i]),
                           ("accounts_share", m["from_accounts"][i])):
            if total:
                assert sum(m[key][i]) == pytest.approx(1, abs=1e-5)
                assert all(0 <= v <= 1 for v in m[key][i])
            else:
                assert m[key][i] == [None] * len(BC.ROLL_STATES)
    assert m["new_accounts"] == sum(1 for s, _, _ in second if s == "new")


def test_a_matrix_needs_two_month_ends_and_pools_m4_to_m6():
    jan, feb, mar = dt.date(2025, 1, 31), dt.date(2025, 2, 28), dt.date(2025, 3, 31)
    assert BC.roll_rate_matrices(_cells(jan, [("new", "M0", 0)])) == []
    matrices = BC.roll_rate_matrices(
        _cells(jan, [("new", "M0", 0)])
        + _cells(feb, [("M0", "M0", 700), ("M0", "M1", 300), ("M5", "WO", 50)])
        + _cells(mar, [("M6+", "closed", 10), ("M1", "M2", 300)]))
    assert [m["month"] for m in matrices] == ["2025-02", "2025-03"]
    feb_m, mar_m = matrices
    assert feb_m["previous_month_end"] == "2025-01-31"
    assert feb_m["balance_share"][0][:2] == [0.7, 0.3]
    m4 = BC.ROLL_FROM_STATES.index("M4+")
    assert feb_m["balance_minor"][m4][BC.ROLL_STATES.index("written_off")] == 50
    assert mar_m["accounts"][m4][BC.ROLL_STATES.index("closed")] == 1


def _accounts(n: int, bad_every: int, originated: int = 100_000) -> list[BC.AccountAt]:
    return [BC.AccountAt(f"a{i}", "2025-01", originated + 1_000 * (i % 7),
                         (originated // 2) if i % bad_every == 0 else 0) for i in range(n)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10_000_000), st.floats(0, 1)), min_size=1,
                max_size=40), st.integers(0, 2**31))
def test_the_vintage_interval_contains_its_point_estimate(accounts, seed):
    originated = [o for o, _ in accounts]
    bad = [int(o * f) for o, f in accounts]
    low, high = BC.ratio_interval(bad, originated, seed=seed)
    point = sum(bad) / sum(originated)
    assert 0 <= low <= point <= high <= 1


def test_the_vintage_interval_narrows_with_more_accounts():
    widths = []
    for n in (20, 80, 320, 1280):
        accounts = _accounts(n, bad_every=5)
        low, high = BC.ratio_interval([a.bad_minor for a in accounts],
                                      [a.originated_minor for a in accounts], seed=1)
        widths.append(high - low)
    assert widths == sorted(widths, reverse=True) and widths[-1] < widths[0] / 4
    count_widths = [h - lo for lo, h in (BC.wilson_interval(n // 5, n) for n in (20, 80, 320))]
    assert count_widths == sorted(count_widths, reverse=True)


def test_vintage_curves_weight_by_balance_and_start_at_the_opening_month_end():
    jan_end, feb_mid = dt.date(2025, 1, 31), dt.date(2025, 2, 14)
    big_bad = BC.AccountAt("big", "2025-01", 900_000, 900_000)
    small = [BC.AccountAt(f"s{i}", "2025-01", 10_000, 0) for i in range(9)]
    never_drawn = BC.AccountAt("idle", "2025-01", 0, 0)
    february = BC.AccountAt("new", "2025-02", 50_000, 0)
    curves = BC.vintage_balance_curves(
        {jan_end: [big_bad, *small, never_drawn], feb_mid: [big_bad, *small, february]},
        seed=3)
    assert [c["vintage"] for c in curves] == ["2025-01"]  # February's month has not ended
    first, second = curves[0]["curve"]
    assert first["months_on_book"] == 0.0 and first["month_end"] is True
    assert second["months_on_book"] == 0.5 and second["month_end"] is False
    assert first["accounts"] == 10  # the line never drawn lent nothing
    assert first["bad_share"] == pytest.approx(0.9090909, abs=1e-6)  # 900k of 990k lent
    assert first["bad_accounts_share"] == 0.1  # by count: 1 in 10
    assert first["bad_share_low"] <= first["bad_share"] <= first["bad_share_high"]
    assert first["bad_accounts_low"] < 0.1 < first["bad_accounts_high"]
    again = BC.vintage_balance_curves({jan_end: [big_bad, *small]}, seed=3)
    assert again[0]["curve"][0] == first  # seeded: the same inputs, the same interval


def test_months_on_book_counts_from_the_end_of_the_opening_month():
    assert BC.months_on_book("2024-12", dt.date(2024, 12, 31)) == 0
    assert BC.months_on_book("2024-12", dt.date(2025, 3, 31)) == 3
    assert BC.months_on_book("2024-12", dt.date(2025, 2, 14)) == 1.5
    assert BC.months_on_book("2025-02", dt.date(2025, 2, 14)) == -0.5


def _horizon(days: int) -> BC.Horizon:
    start = dt.date(2024, 12, 16)
    end = start + dt.timedelta(days=days - 1)
    month_ends = [d for d in (start + dt.timedelta(days=i) for i in range(days))
                  if (d + dt.timedelta(days=1)).day == 1]
    # A vintage per month with a month end in the run: the youngest always under 3 months.
    vintages = {f"{d:%Y-%m}": BC.months_on_book(f"{d:%Y-%m}", end) for d in month_ends}
    # Approvals on the first four days and one in the last week (a young tail).
    return BC.Horizon(start=start, end=end, month_ends=month_ends,
                      vintage_months_on_book=vintages,
                      approval_dates=[start + dt.timedelta(days=d) for d in range(4)]
                      + [end - dt.timedelta(days=5)],
                      first_past_due=start + dt.timedelta(days=25),
                      fraud_label_days=6, monitor_window_days=14)


def test_a_short_run_warns_on_every_chart_it_is_too_short_for():
    warnings = BC.chart_warnings(_horizon(12))
    assert {w["chart"] for w in warnings} == {"roll_rate_matrix", "vintages", "grade_outcomes",
                                              "fraud", "alerts", "delinquency"}
    rules = BC.horizon_rules(_horizon(12))
    for warning in warnings:
        assert warning["rule"] == rules[warning["chart"]] and warning["message"]
    assert "{" not in rules["fraud"] and "6 days" in rules["fraud"]
    assert "14 days" in rules["alerts"]


def test_a_70_day_run_still_warns_on_vintages_but_not_on_fraud_or_alerts():
    charts = {w["chart"] for w in BC.chart_warnings(_horizon(70))}
    assert charts == {"vintages", "delinquency"}


def test_a_long_enough_run_has_no_warning():
    horizon = _horizon(200)
    assert min(horizon.vintage_months_on_book.values()) < BC.VINTAGE_MONTHS_ON_BOOK_MIN
    assert BC.chart_warnings(horizon) == []  # young vintages and approvals: the usual tail


def test_grade_outcomes_warn_when_young_approvals_are_a_material_share():
    horizon = _horizon(200)
    young = [horizon.end - dt.timedelta(days=d) for d in range(2)]  # 2 more of 7: 3 young
    crowded = BC.Horizon(**{**horizon.__dict__,
                            "approval_dates": [*horizon.approval_dates, *young]})
    assert [w["chart"] for w in BC.chart_warnings(crowded)] == ["grade_outcomes"]
    assert "3 of 7 approvals" in BC.chart_warnings(crowded)[0]["message"]
