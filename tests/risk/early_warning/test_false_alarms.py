"""Early warning without false alarms (issue 18, item 6).

A growing healthy portfolio (accounts ramping up from 0, stable true rates, binomial noise,
utilisation climbing while young lines are drawn) must raise no alert from any configured
monitor; the same portfolio with a rate doubling from some day must still raise one within
days; bands are never outside what the metric can take.
"""

import dataclasses
import datetime as dt
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.risk.early_warning.job import DEFAULT_MONITORS_PATH, default_monitors
from creditpay.risk.early_warning.monitors import (
    DEFAULT_MONITORS,
    METHODS,
    SCALES,
    Monitor,
    evaluate,
    judge,
)
from creditpay.sim.monitoring import SIM_MONITORS

START = dt.date(2026, 1, 1)
DAYS = 120
SEEDS = range(25)
# Stable true rates of the healthy book (daily).
TRUE = {"approval_rate": 0.62, "fraud_rate": 0.03, "fraud_hold_rate": 0.012,
        "first_payment_default": 0.06, "roll_rate_m0_m1": 0.04, "roll_rate_m1_m2": 0.30}


def _days(n=DAYS):
    return [START + dt.timedelta(days=i) for i in range(n)]


def _growing_book(seed, *, shock_metric=None, shock_day=None, days=DAYS):
    """Daily (values, denominators) per metric of a book that starts empty and grows: new
    customers per day ramp from 0 to ~60, so every denominator starts at 0."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    new_lines = rng.poisson(60 / (1 + np.exp(-(t - 35) / 8)))
    opened = np.cumsum(new_lines)
    series = {}
    for metric, p in TRUE.items():
        if metric == "approval_rate":
            n = rng.poisson(new_lines * 1.6)
        elif metric.startswith("fraud"):
            n = rng.poisson(opened * 0.4)
        elif metric == "first_payment_default":
            n = np.concatenate([np.zeros(30, int), new_lines[:-30] * 7])  # 7-day cohorts
        elif metric == "roll_rate_m0_m1":
            n = rng.binomial(opened, 0.7)
        else:
            n = rng.binomial(opened, 0.03)
        rate = np.full(days, p)
        if metric == shock_metric:
            rate[shock_day:] *= 2
        events = rng.binomial(n, rate)
        with np.errstate(invalid="ignore", divide="ignore"):
            series[metric] = (np.where(n > 0, events / np.maximum(n, 1), np.nan),
                              n.astype(float))
    # Utilisation: each line is drawn more as it ages (0 at opening, ~45 % seasoned), so the
    # book's utilisation climbs for months while it grows: the ramp-up the issue saw.
    ages = [np.array([], dtype=float)]
    drawn, limits = [], []
    for day in range(days):
        age = np.concatenate([ages[-1] + 1, np.zeros(new_lines[day])])
        ages.append(age)
        if age.size == 0:
            drawn.append(0.0)
            limits.append(0.0)
            continue
        mean = 0.45 * (1 - np.exp(-age / 25))
        use = rng.beta(2 * mean + 1e-3, 2 * (1 - mean) + 1e-3)
        drawn.append(float(use.sum()))
        limits.append(float(age.size))
    limits_a = np.array(limits)
    with np.errstate(invalid="ignore", divide="ignore"):
        utilisation = np.where(limits_a >= 30, np.array(drawn) / np.maximum(limits_a, 1),
                               np.nan)  # the job's LINES_MIN
    if shock_metric == "utilisation":
        utilisation[shock_day:] = np.minimum(1.0, utilisation[shock_day:] * 1.5)
    series["utilisation"] = (utilisation, limits_a * 100_000)  # a money denominator
    return series


def _configured():
    """Every monitor the platform ships and the simulator runs, with its metric."""
    shipped = [m for m in default_monitors() if not m.metric.startswith(("score_psi",
                                                                          "feature_psi"))]
    return shipped + list(SIM_MONITORS)


def _alerts(series, monitors):
    found = []
    for monitor in monitors:
        metric = monitor.metric
        values, samples = series[metric]
        concrete = dataclasses.replace(monitor, segment="all")
        found += evaluate(concrete, _days(values.size), values, only_last=False,
                          samples=samples)
    return found


def test_a_growing_healthy_book_raises_no_alert():
    monitors = _configured()
    assert {m.metric for m in monitors} >= set(TRUE) - {"fraud_hold_rate"} | {"utilisation"}
    for seed in SEEDS:
        alerts = _alerts(_growing_book(seed), monitors)
        assert alerts == [], (seed, [(a.monitor, a.day, a.value, a.lower, a.upper)
                                     for a in alerts])


@pytest.mark.parametrize("metric", ["roll_rate_m0_m1", "roll_rate_m1_m2",
                                    "first_payment_default", "fraud_rate", "utilisation"])
def test_a_shock_is_still_caught_within_days(metric):
    shock_day = 90
    monitors = [m for m in _configured() if m.metric == metric]
    assert monitors
    for seed in range(5):
        alerts = _alerts(_growing_book(seed, shock_metric=metric, shock_day=shock_day),
                         monitors)
        shock = START + dt.timedelta(days=shock_day)
        assert [a for a in alerts if a.day < shock] == []
        after = sorted(a.day for a in alerts if a.day >= shock)
        assert after and (after[0] - shock).days <= 5, (metric, seed, after)


def test_the_ramp_up_is_warm_up_and_small_samples_are_not_judged():
    series = _growing_book(1)
    monitor = next(m for m in default_monitors() if m.name == "roll_m0_m1")
    values, samples = series["roll_rate_m0_m1"]
    judged = judge(monitor, _days(), values, samples)
    small = [t for t in range(DAYS) if samples[t] < 30 and not np.isnan(values[t])]
    assert small and all(judged.status[t] == "insufficient_sample" for t in small)
    measured = [t for t in range(DAYS) if judged.status[t] not in
                ("insufficient_sample", "no_value")]
    assert all(judged.status[t] == "warm_up" for t in measured[:monitor.warmup])
    assert judged.status[measured[monitor.warmup]] != "warm_up"


def test_the_utilisation_monitor_follows_the_trend_and_the_old_one_did_not():
    """The issue's false alarm: a rolling band over a climbing utilisation fires "lower
    limits" on the ramp-up; the configured trend band does not."""
    old = Monitor("utilisation", "utilisation", method="rolling", window=14, k=3.0,
                  scale="share", warmup_days=14, confirm_days=1, playbook="lower_limits")
    now = next(m for m in SIM_MONITORS if m.metric == "utilisation")
    values, samples = _growing_book(0)["utilisation"]
    assert evaluate(old, _days(), values, only_last=False)  # the defect, reproduced
    assert evaluate(now, _days(), values, only_last=False, samples=samples) == []


def test_shipped_monitors_all_guard_against_the_defect():
    """The class of the defect, checked on every shipped monitor: a scale (so bounds are
    clipped), a warm-up of at least its window, a minimum sample for rates."""
    document = json.loads(DEFAULT_MONITORS_PATH.read_text(encoding="utf-8"))
    for item, monitor in zip(document, default_monitors(), strict=True):
        assert {"scale", "warmup_days", "confirm_days"} <= set(item), item["name"]
        assert monitor.warmup >= monitor.window
        if monitor.scale == "rate":
            assert item["min_sample"] >= 30
    for monitor in (*DEFAULT_MONITORS, *SIM_MONITORS):
        assert monitor.validated().warmup >= monitor.window
        if monitor.metric == "utilisation":
            assert monitor.method == "trend"


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=40,
                       max_size=80),
       samples=st.lists(st.integers(0, 500), min_size=80, max_size=80),
       method=st.sampled_from(METHODS), scale=st.sampled_from(sorted(SCALES)),
       k=st.floats(0.5, 5), window=st.integers(7, 28))
def test_bands_never_leave_what_the_metric_can_take(values, samples, method, scale, k,
                                                     window):
    monitor = Monitor("m", "x", method=method, scale=scale, k=k, window=window,
                      critical_k=max(k, 5.0), playbook="lower_limits").validated()
    n = np.array(samples[:len(values)], dtype=float)
    band = judge(monitor, _days(len(values)), values, n).band
    low, high = SCALES[scale]
    for bound in (band.lower, band.upper):
        ok = ~np.isnan(bound)
        assert (bound[ok] >= low).all() and (bound[ok] <= high).all()
    ok = ~np.isnan(band.lower)
    assert (band.lower[ok] <= band.upper[ok]).all()


@settings(max_examples=40, deadline=None)
@given(level=st.floats(0, 0.02), days=st.integers(30, 90), seed=st.integers(0, 10_000))
def test_a_rare_event_after_quiet_small_days_is_not_an_alert(level, days, seed):
    """A rate near 0 on samples just above the minimum: a single event after a run of
    zero days is ordinary binomial noise, not an alert (σ of a zero history is 0)."""
    rng = np.random.default_rng(seed)
    n = np.full(days, 30.0)
    x = rng.binomial(30, level, days) / 30
    monitor = Monitor("m", "fraud_rate", method="rolling", window=14,
                      playbook="review_fraud_rules")
    x[-1] = 1 / 30
    assert evaluate(monitor, _days(days), x, samples=n) == []


# The simulator's utilisation from a 200-customer demo (2024-12-26 to 2025-01-24): it steps
# from 1.1 % to 1.6 % in two days as bills post, which a 14-day trend band read as 3.7 σ.
DEMO_UTILISATION = [0.007119, 0.008498, 0.008877, 0.010618, 0.010607, 0.011662, 0.012074,
                    0.010763, 0.009313, 0.010491, 0.01188, 0.011228, 0.010228, 0.009563,
                    0.01, 0.010077, 0.010565, 0.010801, 0.011155, 0.013286, 0.015808,
                    0.017476, 0.017691, 0.017968, 0.017989, 0.018505, 0.019531, 0.019703,
                    0.020402, 0.020398]


def test_an_immaterial_utilisation_step_is_not_an_alert():
    monitor = next(m for m in SIM_MONITORS if m.metric == "utilisation")
    days = _days(len(DEMO_UTILISATION))
    assert monitor.min_change == 0.02
    assert evaluate(monitor, days, DEMO_UTILISATION, only_last=False) == []
    # ... and without the materiality floor, the step was an alert.
    assert evaluate(dataclasses.replace(monitor, min_change=0.0), days, DEMO_UTILISATION,
                    only_last=False)
    # A material jump off the trend still is.
    jumped = DEMO_UTILISATION[:-3] + [v + 0.05 for v in DEMO_UTILISATION[-3:]]
    assert evaluate(monitor, days, jumped, only_last=False)


def test_a_one_day_jump_of_a_rate_is_raised_that_day_by_the_ewma_monitor():
    """The Shewhart half of the EWMA chart: 10 of 30 when 5 % of 40 is usual is far out on
    its own (exact binomial tail about 1e-6, 4.8 σ); the smoothed chart alone reads it as a
    breach to confirm on a second day."""
    monitor = dataclasses.replace(
        next(m for m in default_monitors() if m.name == "fraud_rate"), segment="all")
    rng = np.random.default_rng(3)
    n = np.full(40, 40.0)
    values = rng.binomial(40, 0.05, 40) / 40
    n[-1], values[-1] = 30, 10 / 30
    (alert,) = evaluate(monitor, _days(40), values, samples=n)
    assert alert.day == _days(40)[-1] and alert.sigmas >= monitor.shewhart_k
    smoothed_only = judge(dataclasses.replace(monitor, shewhart_k=99.0), _days(40), values, n)
    assert smoothed_only.status[-1] == "breach"
