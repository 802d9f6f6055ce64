"""Validation split (out of time when dated), minimum bads, fairness table, reject
inference: the pure functions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.errors import ValidationError
from creditpay.risk.scoring import fairness as f
from creditpay.risk.scoring import reject_inference as ri
from creditpay.risk.scoring import validation as v

# -- out-of-time split ---------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 11), min_size=2, max_size=300), st.floats(0.05, 0.85))
def test_out_of_time_validation_is_the_latest_whole_periods(months, fraction):
    dates = [f"2025-{m + 1:02d}-15" for m in months]
    result = v.out_of_time_split(dates, fraction, "application_date")
    if len(set(months)) < 2:
        assert result is None
        return
    assert result is not None
    development, validation, _, _ = result
    assert sorted([*development, *validation]) == list(range(len(months)))
    dev_months = {months[i] for i in development}
    val_months = {months[i] for i in validation}
    assert dev_months and val_months
    assert max(dev_months) < min(val_months)  # every validation row is later
    # The smallest set of latest whole periods reaching the share (one period kept back).
    n = len(months)
    if len(dev_months) > 1:
        without_first = validation.size - sum(1 for m in months if m == min(val_months))
        assert without_first < fraction * n


def test_split_falls_back_to_stratified_when_one_period_and_names_the_scheme():
    bad = np.array([0, 1] * 50)
    split = v.split_for_validation(bad, 0.2, 0, ["2025-01"] * 100, "application_month")
    assert split.scheme == "stratified_random" and "same" in split.note
    assert split.validation.size == 20 and bad[split.validation].sum() == 10
    dated = v.split_for_validation(bad, 0.2, 0, [f"2025-{1 + i // 25:02d}" for i in range(100)],
                                   "application_month")
    assert dated.scheme == "out_of_time" and dated.validation_from == "2025-04"
    assert dated.development_until == "2025-03" and list(dated.validation) == list(range(75,
                                                                                         100))
    undated = v.split_for_validation(bad, 0.2, 0)
    assert undated.scheme == "stratified_random" and undated.note is None


def test_time_column_detection_and_bad_dates_name_the_column():
    assert v.detect_time_column(["x", "application_month", "application_date"]) == \
        "application_date"
    assert v.detect_time_column(["x"]) is None
    with pytest.raises(ValidationError) as error:
        v.detect_time_column(["x"], "when")
    assert error.value.field == "time_column" and "'when'" in error.value.detail
    with pytest.raises(ValidationError) as error:
        v.out_of_time_split(["2025-01-01", "soon"], 0.5, "decided")
    assert "'decided'" in error.value.detail
    with pytest.raises(ValidationError) as error:
        v.out_of_time_split(["2025-01-01", None], 0.5, "decided")
    assert "missing" in error.value.detail


def test_minimum_bads_refuses_or_warns_naming_the_target_and_counts():
    assert v.check_bad_counts("bad", 50, 20, allow_small=False) is None
    with pytest.raises(ValidationError) as error:
        v.check_bad_counts("default_flag", 49, 20, allow_small=False)
    assert error.value.field == "target"
    assert "'default_flag'" in error.value.detail and "49" in error.value.detail
    with pytest.raises(ValidationError) as error:
        v.check_bad_counts("bad", 60, 19, allow_small=False)
    assert "19 bad(s) in validation" in error.value.detail
    warning = v.check_bad_counts("bad", 6, 1, allow_small=True)
    assert warning is not None and "6 bad(s)" in warning and "1 bad(s)" in warning
    assert v.MIN_BADS_TRAINING == 50 and v.MIN_BADS_VALIDATION == 20


# -- fairness ------------------------------------------------------------------------------


def test_age_bands():
    assert f.age_bands([17, 18, 24.9, 25, 44, 64, 65, 90, None]) == [
        "under 18", "18-24", "18-24", "25-34", "35-44", "55-64", "65+", "65+", "missing"]
    with pytest.raises(ValidationError) as error:
        f.age_bands([30, "thirty"], "age_years")
    assert error.value.field == "age_years"


def test_group_rates_and_the_four_fifths_rule():
    groups = ["a"] * 100 + ["b"] * 100 + ["c"] * 10 + ["missing"] * 5
    approved = [1] * 90 + [0] * 10 + [1] * 60 + [0] * 40 + [0] * 10 + [1] * 5
    bad = [0] * 95 + [1] * 5 + [0] * 80 + [1] * 20 + [1] * 10 + [0] * 5
    rows = {r["group"]: r for r in f.group_rates(groups, approved, bad)}
    assert [r["group"] for r in f.group_rates(groups, approved, bad)] == ["a", "b", "c",
                                                                          "missing"]
    assert rows["a"]["approval_rate"] == 0.9 and rows["a"]["air"] == 1.0
    assert rows["b"]["air"] == pytest.approx(60 / 90) and rows["b"]["flagged"]
    assert rows["b"]["bad_rate"] == 0.2 and rows["b"]["bads"] == 20
    # Too small to flag; the missing group is reported, never the reference or flagged.
    assert rows["c"]["air"] == 0.0 and not rows["c"]["flagged"]
    assert rows["missing"]["approval_rate"] == 1.0 and not rows["missing"]["flagged"]


def test_approval_cutoff_approves_the_share():
    pd = np.linspace(0.0, 1.0, 101)
    assert (pd <= f.approval_cutoff(pd, 0.8)).mean() == pytest.approx(81 / 101)


# -- reject inference ----------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=1, max_size=50),
       st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50))
def test_fuzzy_augmentation_weights(accept_bad, declined_pd):
    rows, bad, weight = ri.fuzzy_augment(accept_bad, declined_pd)
    n_a, n_d = len(accept_bad), len(declined_pd)
    assert rows.size == n_a + 2 * n_d
    # Every declined row weighs one in total, its bad weight is its PD.
    assert weight.sum() == pytest.approx(n_a + n_d)
    assert float((weight * bad).sum()) == pytest.approx(sum(accept_bad) + sum(declined_pd))
    for j, pd in enumerate(declined_pd):
        mine = rows == n_a + j
        assert weight[mine & (bad == 1)].sum() == pytest.approx(pd)
        assert weight[mine & (bad == 0)].sum() == pytest.approx(1 - pd)
    copies, copied_bad = ri.replicate_by_weight(rows, bad, weight, resolution=10)
    assert copies.size == int(np.rint(weight * 10).sum())
    assert np.all(copied_bad[copies < n_a] == np.repeat(accept_bad, 10))


def test_parcelling_labels_each_band_at_its_bad_rate_times_the_factor():
    rng = np.random.default_rng(0)
    accept_pd = rng.uniform(0.0, 0.4, 2000)
    accept_bad = (rng.uniform(size=2000) < accept_pd).astype(int)
    declined_pd = rng.uniform(0.1, 0.6, 500)
    inferred, table = ri.parcel(accept_pd, accept_bad, declined_pd, factor=2.0, seed=3)
    assert sum(r["declined"] for r in table) == 500
    assert int(inferred.sum()) == sum(r["declined_bads"] for r in table)
    for row in table:
        assert row["inferred_bad_rate"] == pytest.approx(min(1.0,
                                                             2.0 * row["accept_bad_rate"]))
        assert row["declined_bads"] == round(row["inferred_bad_rate"] * row["declined"])
    again, _ = ri.parcel(accept_pd, accept_bad, declined_pd, factor=2.0, seed=3)
    assert np.array_equal(inferred, again)  # seeded
    capped, table = ri.parcel(accept_pd, accept_bad, declined_pd, factor=100.0)
    assert all(r["inferred_bad_rate"] <= 1.0 for r in table)
    with pytest.raises(ValidationError):
        ri.parcel(accept_pd, accept_bad, declined_pd, factor=0.0)
    with pytest.raises(ValidationError):
        ri.fuzzy_augment([0, 1], [0.5, 1.5])


def test_sex_from_a_combined_column_as_german_credit_has_it():
    """UCI German credit has no ``sex`` column but ``personal_status_and_sex`` ("male :
    single", "female : divorced/separated/married"): the fairness table groups by its leading
    word; a word merely containing the letters (essex) is not taken for it."""
    from creditpay.risk.scoring import fairness as f

    assert f.sex_column(["age", "personal_status_and_sex", "x"]) == "personal_status_and_sex"
    assert f.sex_column(["gender", "personal_status_and_sex"]) == "gender"
    assert f.sex_column(["essex_branch", "age"]) is None
    assert f.sex_labels(["male : single", "female : divorced/separated/married",
                         "Male : married/widowed", None, float("nan"), "X"]) == [
        "male", "female", "male", "missing", "missing", "X"]
