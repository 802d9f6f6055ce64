"""The vectorised roll rate equals the reference :func:`roll_rate` (property-based)."""

from __future__ import annotations

import math

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.risk.early_warning.monitors import (
    Monitor,
    matches,
    roll_counts,
    roll_rate,
    roll_rate_of,
)

BUCKETS = st.sampled_from(["M0", "M1", "M2", "M3"])
BOOK = st.dictionaries(st.integers(0, 60).map(lambda i: f"a{i}"), BUCKETS, max_size=40)


def _frame(book, groups=None):
    ids = sorted(book)
    data = {"account_id": ids, "bucket": [book[i] for i in ids]}
    if groups is not None:
        data["grade"] = [groups[i] for i in ids]
    return pl.DataFrame(data, schema={k: pl.String for k in data})


@settings(max_examples=150, deadline=None)
@given(BOOK, BOOK, BUCKETS, BUCKETS)
def test_vectorised_roll_rate_equals_the_reference(previous, current, source, target):
    counts = roll_counts(_frame(previous), _frame(current))
    row = roll_rate_of(counts, source, target).row(0, named=True)
    expected = roll_rate(previous, current, source, target)
    if math.isnan(expected):
        assert row["base"] == 0
    else:
        assert row["rolled"] / row["base"] == expected


@settings(max_examples=100, deadline=None)
@given(BOOK, BOOK, st.data())
def test_grouped_roll_rates_equal_the_reference_per_group(previous, current, data):
    groups = {a: data.draw(st.sampled_from("AB")) for a in previous}
    counts = roll_counts(_frame(previous, groups), _frame(current), by=("grade",))
    per = {r["grade"]: r for r in roll_rate_of(counts, "M0", "M1", by=("grade",))
           .iter_rows(named=True)}
    for grade in "AB":
        mine = {a: b for a, b in previous.items() if groups[a] == grade}
        expected = roll_rate(mine, current, "M0", "M1")
        if math.isnan(expected):
            assert grade not in per or per[grade]["base"] == 0
        else:
            assert per[grade]["rolled"] / per[grade]["base"] == expected


def test_monitor_patterns_cover_series_by_prefix():
    monitor = Monitor("feature_psi", "feature_psi:*", segment="all")
    assert monitor.covers("feature_psi:age_years", "all")
    assert not monitor.covers("score_psi", "all")
    assert not monitor.covers("feature_psi:age_years", "grade:A")
    assert matches("*", "product:huabei") and matches("grade:A", "grade:A")
    assert not matches("grade:A", "grade:B")
