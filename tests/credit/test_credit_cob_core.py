"""The close of business's pure core: daily accrual, ageing, buckets (no I/O)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from creditpay.credit.cob_vectorised import (
    NO_DATE,
    accrue_and_age,
    day_number,
    random_state,
    round_half_up_div,
    to_day_numbers,
)
from creditpay.credit.delinquency import bucket_for, buckets_vectorised


def _one(**overrides):
    base = dict(interest_base=1, interest_rate_micro=182_500, penalty_rate_micro=109_500,
                grace_days=3, late_fee_minor=2_000, write_off_dpd=180,
                principal_current=1_000_000, principal_past_due=0,
                principal_original=1_000_000, interest_num=0, penalty_num=0,
                oldest_past_due=NO_DATE, latest_past_due=NO_DATE, late_fee_through=NO_DATE)
    base.update(overrides)
    return {k: np.asarray([v], dtype=np.int64) for k, v in base.items()}


def test_ten_days_of_interest_are_exact():
    day = day_number(dt.date(2025, 3, 1))
    state = _one()
    for k in range(10):
        result = accrue_and_age(day=day + k, **state)
        state["interest_num"] = result.interest_num
    # 1,000,000 x 18.25 % x 10 / 365 = 5,000 exactly, no drift from daily rounding.
    assert state["interest_num"][0] == 1_000_000 * 182_500 * 10
    assert round_half_up_div(state["interest_num"], np.int64(1_000_000 * 365))[0] == 5_000


@pytest.mark.parametrize("base, expected", [(0, 0), (1, 600_000), (2, 400_000),
                                            (3, 1_000_000)])
def test_interest_bases(base, expected):
    state = _one(interest_base=base, principal_current=600_000, principal_past_due=400_000)
    result = accrue_and_age(day=day_number(dt.date(2025, 3, 1)), **state)
    assert result.interest_added_num[0] == expected * 182_500


def test_penalty_late_fee_and_write_off_wait_for_grace_and_dpd():
    due = day_number(dt.date(2025, 4, 10))
    state = _one(principal_past_due=50_000, oldest_past_due=due, latest_past_due=due)
    within = accrue_and_age(day=due + 3, **state)
    assert (within.penalty_added_num[0], within.late_fee_due[0], within.dpd[0]) == (0, False, 3)
    after = accrue_and_age(day=due + 4, **state)
    assert after.penalty_added_num[0] == 50_000 * 109_500 and after.late_fee_due[0]
    charged = accrue_and_age(day=due + 5, **{**state, "late_fee_through": np.asarray([due])})
    assert not charged.late_fee_due[0]  # once per missed due date
    assert not accrue_and_age(day=due + 179, **state).write_off[0]
    assert accrue_and_age(day=due + 180, **state).write_off[0]


def test_buckets():
    assert [bucket_for(d) for d in (0, 1, 30, 31, 60, 61, 180, 181)] == \
        ["M0", "M1", "M1", "M2", "M2", "M3", "M6", "M6+"]
    assert list(buckets_vectorised(np.asarray([0, 45, 200]))) == ["M0", "M2", "M6+"]


def test_day_numbers_from_strings_dates_and_none():
    numbers = to_day_numbers(["2025-01-02", dt.date(2025, 1, 3), None])
    assert list(numbers) == [day_number(dt.date(2025, 1, 2)), day_number(dt.date(2025, 1, 3)),
                             NO_DATE]


def test_reference_state_runs():
    state = random_state(1000)
    day = int(state.pop("day"))
    result = accrue_and_age(day=day, **state)
    assert (result.interest_num >= 0).all() and (result.dpd >= 0).all()
