"""The daily early-warning job on both stores: metrics against hand-computed values,
idempotency per date, an alert after an injected shift and not before, PSI of live scores."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest
from sqlalchemy import func, select
from tests.catalogues import CATALOGUE
from tests.risk.early_warning.conftest import (
    AT,
    DAY,
    add_decision,
    add_intent,
    set_account,
)

from creditpay.db.tables import outbox_events
from creditpay.errors import ValidationError
from creditpay.payments.reporting import daily_screening_counts
from creditpay.risk.early_warning import job
from creditpay.risk.early_warning.job import Minimums, run_early_warning
from creditpay.risk.early_warning.tables import (
    ew_alerts,
    ew_bucket_snapshots,
    ew_metric_values,
    ew_runs,
)

SMALL = Minimums(decisions=10, screened=20, cohort=5, roll_base=2, psi_scores=50, lines=1)


def _values(uow, day):
    with uow.connect() as conn:
        return {(r.metric, r.segment): r for r in conn.execute(
            select(ew_metric_values).where(ew_metric_values.c.day == day))}


def _counts(uow):
    with uow.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (ew_metric_values, ew_alerts, ew_runs, ew_bucket_snapshots,
                               outbox_events))


def _seed_day(uow):
    """D's applications and screened payments (hand-counted in the test)."""
    with uow.begin() as tx:
        for i in range(12):  # credit_line: 9 approved of 12
            add_decision(tx, f"x{i}", "approve" if i < 9 else "decline",
                         grade="A" if i < 9 else "E")
        add_decision(tx, "y0", "approve", product_code="cash_loan")
        add_decision(tx, "y1", "refer", product_code="cash_loan", grade="D")
        online = (["approve"] * 20 + ["challenge"] * 2 + ["review", "approved_by_review",
                                                          "decline"])
        for outcome in online:
            add_intent(tx, outcome)
        for outcome in ("approve", "approve", "approve", "declined_by_review"):
            add_intent(tx, outcome, scenario="offline_qr")
        add_intent(tx, None)  # never screened: not counted
        add_intent(tx, "decline", at=AT - dt.timedelta(days=1))  # yesterday's


def test_metrics_match_hand_computed_values(book):
    uow, customers = book
    c = {f"c{i}": who for i, who in enumerate(customers)}
    set_account(uow, c["c8"].line_id, bucket="M1", dpd=5)
    set_account(uow, c["c9"].line_id, bucket="M1", dpd=5)
    before = run_early_warning(uow, DAY - dt.timedelta(days=1),
                               screening=daily_screening_counts, minimums=SMALL)
    assert not before.already_ran
    assert "roll rates: no bucket snapshot of the previous business day" in before.notes
    # Overnight: c0 and c1 fall one day behind, c8 reaches 31 days past due.
    set_account(uow, c["c0"].line_id, bucket="M1", dpd=1)
    set_account(uow, c["c1"].line_id, bucket="M1", dpd=1)
    set_account(uow, c["c8"].line_id, bucket="M2", dpd=31)
    _seed_day(uow)
    report = run_early_warning(uow, DAY, screening=daily_screening_counts, minimums=SMALL)
    v = _values(uow, DAY)

    def value(metric, segment="all"):
        return v[(metric, segment)].value

    assert value("approval_rate") == pytest.approx(10 / 14)
    assert value("approval_rate", "product:credit_line") == pytest.approx(9 / 12)
    cash = v[("approval_rate", "product:cash_loan")]
    assert cash.value is None and (cash.numerator, cash.denominator) == (1, 2)  # < 10
    # 29 screened: online 25 (2 challenges, 2 reviews, 1 decline), offline 4 (1 reviewed).
    assert value("fraud_rate") == pytest.approx(6 / 29)
    assert value("fraud_hold_rate") == pytest.approx(4 / 29)
    assert value("fraud_rate", "scenario:online") == pytest.approx(5 / 25)
    assert value("fraud_rate", "scenario:offline_qr") is None  # 4 screened < 20
    # First installments due 2025-01-25 (in [D-36, D-30]); c0-c2 unpaid.
    assert value("first_payment_default") == pytest.approx(3 / 10)
    assert value("first_payment_default", "product:huabei") == pytest.approx(3 / 10)
    assert value("first_payment_default", "grade:A") == pytest.approx(3 / 5)
    assert value("first_payment_default", "grade:B") == 0.0
    # Drawn 50,000 x (1+..+10) of 10 x 1,000,000; A = c0-c4, B = c5-c9.
    assert value("utilisation") == pytest.approx(2_750_000 / 10_000_000)
    assert v[("utilisation", "all")].numerator == 2_750_000
    assert value("utilisation", "grade:A") == pytest.approx(750_000 / 5_000_000)
    assert value("utilisation", "grade:B") == pytest.approx(2_000_000 / 5_000_000)
    # Yesterday M0: c0-c7 (2 rolled); M1: c8, c9 (c8 rolled to M2).
    assert value("roll_rate_m0_m1") == pytest.approx(2 / 8)
    assert value("roll_rate_m1_m2") == pytest.approx(1 / 2)
    assert value("roll_rate_m0_m1", "grade:A") == pytest.approx(2 / 5)
    assert value("roll_rate_m0_m1", "grade:B") == 0.0
    assert value("roll_rate_m1_m2", "grade:B") == pytest.approx(1 / 2)
    # 14 scored decisions in the last 7 days < 50: PSI not measurable, but counted.
    assert value("score_psi") is None and v[("score_psi", "all")].denominator == 14
    assert any(metric.startswith("feature_psi:") for metric, _ in v)
    assert report.metrics == len(v) and report.measured == sum(
        1 for r in v.values() if r.value is not None)
    with uow.connect() as conn:  # only the latest snapshot is kept
        assert conn.execute(select(ew_bucket_snapshots.c.day)).scalars().all() == [DAY]


def test_rerun_of_a_date_changes_nothing(book):
    uow, _ = book
    _seed_day(uow)
    first = run_early_warning(uow, DAY, screening=daily_screening_counts)
    counts = _counts(uow)
    with uow.begin() as tx:  # more activity after the run must not be picked up
        add_intent(tx, "decline")
    again = run_early_warning(uow, DAY, screening=daily_screening_counts)
    assert again.already_ran and not first.already_ran
    assert {**again.as_dict(), "already_ran": False} == first.as_dict()
    assert _counts(uow) == counts


def test_bad_arguments_are_refused_naming_the_field(book):
    uow, _ = book
    with pytest.raises(ValidationError) as error:
        run_early_warning(uow, dt.datetime(2025, 3, 1), screening=daily_screening_counts)
    assert error.value.field == "business_date"
    with pytest.raises(ValidationError) as error:
        run_early_warning(uow, DAY, screening=daily_screening_counts, fpd_days=0)
    assert error.value.field == "fpd_days"
    assert _counts(uow)[:4] == (0, 0, 0, 0)


def _history(uow, days, metric="fraud_rate", segment="all", seed=3):
    """Stored values of the ``days`` days before D-1 (a month of quiet history)."""
    rng = random.Random(seed)
    with uow.begin() as tx:
        tx.conn.execute(ew_metric_values.insert(), [
            {"day": DAY - dt.timedelta(days=k), "metric": metric, "segment": segment,
             "value": 0.05 + rng.uniform(-0.01, 0.01), "numerator": None,
             "denominator": 100.0, "computed_at": AT} for k in range(2, days + 2)])


def test_alert_after_an_injected_shift_and_not_before(book):
    uow, _ = book
    _history(uow, 30)
    with uow.begin() as tx:  # D-1: 1 flagged of 30 (30: the monitors' minimum sample), in line with the history
        for i in range(30):
            add_intent(tx, "decline" if i == 0 else "approve", at=AT - dt.timedelta(days=1))
    quiet = run_early_warning(uow, DAY - dt.timedelta(days=1), screening=daily_screening_counts)
    assert [a for a in quiet.alerts if a["metric"] == "fraud_rate"] == []
    with uow.begin() as tx:  # D: a fraud ring, 10 of 30 held
        for i in range(30):
            add_intent(tx, "review" if i < 10 else "approve")
    report = run_early_warning(uow, DAY, screening=daily_screening_counts)
    raised = [a for a in report.alerts if a["monitor"] == "fraud_rate"
              and a["segment"] == "all"]
    assert len(raised) == 1 and raised[0]["playbook"] == "review_fraud_rules"
    with uow.connect() as conn:
        row = conn.execute(select(ew_alerts).where(ew_alerts.c.id == raised[0]["id"])).one()
        events = conn.execute(select(outbox_events.c.aggregate_id).where(
            outbox_events.c.topic == "risk.early_warning.alert")).scalars().all()
    assert row.status == "open" and row.day == DAY and row.method == "ewma"
    assert row.value == pytest.approx(10 / 30) and row.statistic > row.upper_bound
    assert row.evidence["recent_values"][-1] == pytest.approx(10 / 30, abs=1e-6)
    assert row.id == job.alert_id_for("fraud_rate", "fraud_rate", "all", DAY)
    assert raised[0]["id"] in events


@pytest.fixture(scope="module")
def scored_population(model_dirs):
    """Synthetic applicants scored by the registered application model: (scores, features)."""
    from creditpay.risk.features.compute import build_training_set
    from creditpay.risk.features.synthetic import (
        APPLICATION_MODEL_FEATURES,
        synthetic_population,
    )
    from creditpay.risk.scoring.artifact import load_model

    model = load_model(model_dirs["application"]).model
    observations, events = synthetic_population(300, seed=99, bureau_seed=99)
    frame = build_training_set(observations, events)
    scores = model.score(frame)
    rows = frame[list(APPLICATION_MODEL_FEATURES)].to_dict(orient="records")
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
             for r in rows]
    return [float(s) for s in scores], clean


def test_score_psi_of_live_scores_against_the_development_distribution(book,
                                                                        scored_population):
    from creditpay.risk.decisions.registry import load_registered
    from creditpay.risk.scoring.metrics import psi_against_baseline

    uow, _ = book
    scores, features = scored_population
    shifted = [s - 60 for s in scores]  # a population the model scores much lower
    with uow.begin() as tx:
        for i, (score, row) in enumerate(zip(scores, features, strict=True)):
            add_decision(tx, f"s{i}", "approve", score=score, features=row,
                         at=AT - dt.timedelta(days=8))
        for i, (score, row) in enumerate(zip(shifted, features, strict=True)):
            add_decision(tx, f"t{i}", "approve", score=score, features=row)
    run_early_warning(uow, DAY - dt.timedelta(days=2), screening=daily_screening_counts)
    run_early_warning(uow, DAY, screening=daily_screening_counts)
    with uow.connect() as conn:
        baseline = load_registered(conn, "application", 1).baseline
    # D-2's window (D-8..D-2) holds the unshifted applicants; D's (D-6..D) the shifted.
    quiet = _values(uow, DAY - dt.timedelta(days=2))[("score_psi", "all")]
    live = _values(uow, DAY)[("score_psi", "all")]
    assert quiet.value == pytest.approx(psi_against_baseline(baseline["score"], scores).psi)
    assert live.value == pytest.approx(psi_against_baseline(baseline["score"], shifted).psi)
    assert quiet.value < 0.1 < 0.25 < live.value
    feature = next(iter(sorted(baseline["features"])))
    row = _values(uow, DAY)[(f"feature_psi:{feature}", "all")]
    assert row.value is not None and row.value < 0.1  # same applicants, same features


def test_nightly_runs_the_job_after_the_close(book, clock):
    from creditpay.nightly import run_nightly

    uow, _ = book
    _seed_day(uow)
    clock.set(dt.datetime(2025, 3, 2, 0, 30, tzinfo=dt.UTC))
    report = run_nightly(uow, DAY, audit_checkpointer=None, catalogue=CATALOGUE).as_dict()
    ew = report["early_warning"]
    assert ew["business_date"] == DAY.isoformat() and ew["already_ran"] is False
    assert _values(uow, DAY)[("approval_rate", "all")].value == pytest.approx(10 / 14)
    assert run_nightly(uow, DAY, audit_checkpointer=None, catalogue=CATALOGUE).as_dict()[
        "early_warning"]["already_ran"] is True


def test_screening_counts_refuse_bad_ranges(book):
    from creditpay.payments.reporting import daily_screening_counts

    uow, _ = book
    with uow.connect() as conn:
        for start, end, field in ((DAY, DAY - dt.timedelta(days=1), "end"),
                                  (DAY, DAY + dt.timedelta(days=400), "end"),
                                  (AT, DAY, "start")):
            with pytest.raises(ValidationError) as error:
                daily_screening_counts(conn, start, end)
            assert error.value.field == field
        assert daily_screening_counts(conn, DAY, DAY) == []


def test_every_default_monitor_watches_a_metric_the_job_stores(book):
    uow, _ = book
    _seed_day(uow)
    # Roll rates need yesterday.
    run_early_warning(uow, DAY - dt.timedelta(days=1), screening=daily_screening_counts)
    run_early_warning(uow, DAY, screening=daily_screening_counts)
    stored = set(_values(uow, DAY))
    for monitor in job.default_monitors():
        assert any(monitor.covers(metric, segment) for metric, segment in stored), monitor.name


def test_fraud_rate_comes_from_the_screening_source_the_caller_passes(book):
    """Risk reads no payments table: the counts are whatever the given source reports."""
    from creditpay.risk.early_warning.ports import ScreeningCounts

    uow, _ = book
    asked: list[tuple[dt.date, dt.date]] = []

    def source(conn, start, end):
        asked.append((start, end))
        return [ScreeningCounts(start, "online", approve=30, challenge=5, review=3, decline=2)]

    run_early_warning(uow, DAY, screening=source)
    v = _values(uow, DAY)
    assert asked == [(DAY, DAY)]
    assert v[("fraud_rate", "all")].value == pytest.approx(10 / 40)
    assert v[("fraud_hold_rate", "scenario:online")].value == pytest.approx(5 / 40)
