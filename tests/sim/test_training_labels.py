"""applications.csv labels: only matured applications are good or bad, by what happened
within the performance window; declined and unmatured rows are told apart."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from creditpay.sim.labels import PERFORMANCE_WINDOW_DAYS, application_label

DAY = dt.date(2025, 1, 10)
WINDOW_END = DAY + dt.timedelta(days=PERFORMANCE_WINDOW_DAYS)


def test_declined_and_unmatured_have_no_label():
    assert application_label(DAY, False, [DAY], WINDOW_END) == ("declined", None)
    one_day_short = WINDOW_END - dt.timedelta(days=1)
    # Even a bad already seen does not label an application whose window is still open.
    assert application_label(DAY, True, [DAY + dt.timedelta(days=40)], one_day_short) == (
        "unmatured", None)
    assert application_label(DAY, True, [], None) == ("unmatured", None)


def test_bad_only_within_the_window():
    later = WINDOW_END + dt.timedelta(days=200)
    assert application_label(DAY, True, [WINDOW_END], later) == ("bad", 1)
    assert application_label(DAY, True, [WINDOW_END + dt.timedelta(days=1)], later) == (
        "good", 0)
    # A delinquency before this application is history, not its outcome.
    assert application_label(DAY, True, [DAY - dt.timedelta(days=1)], later) == ("good", 0)
    assert application_label(DAY, True, [], WINDOW_END) == ("good", 0)


@given(st.integers(0, 400), st.integers(0, 400), st.booleans())
def test_label_does_not_depend_on_how_long_the_run_went_on(bad_after, observed_more, seen):
    went_bad = [DAY + dt.timedelta(days=bad_after)] if seen else []
    first = application_label(DAY, True, went_bad, WINDOW_END)
    later = application_label(DAY, True, went_bad, WINDOW_END + dt.timedelta(days=observed_more))
    assert first == later
    assert first[0] in ("good", "bad") and (first[1] == 1) == (first[0] == "bad")
