"""The behaviour score retrained from the platform's own matured history (issue 18, item 7),
on both stores."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest
from sqlalchemy import select

from creditpay.credit.tables import credit_day_end_positions
from creditpay.errors import ValidationError
from creditpay.platform.tables import audit_records
from creditpay.risk.decisions import registry
from creditpay.risk.decisions.behaviour_retrain import (
    BAD_DPD,
    build_behaviour_training_set,
    retrain_behaviour,
)
from creditpay.risk.decisions.limit_review import review_limits
from creditpay.risk.decisions.policy import active_policy
from creditpay.risk.decisions.tables import limit_review_actions

FIRST_REVIEW = dt.date(2024, 6, 1)
REVIEWS = [FIRST_REVIEW + dt.timedelta(days=30 * k) for k in range(3)]
WINDOW = 90
AS_OF = dt.date(2025, 2, 28)  # the clock's business date is 2025-03-01


def _position(customer_id, day, *, dpd=0, status="active", seq=None):
    return {"business_date": day, "account_seq": seq if seq is not None else
            abs(hash((customer_id, day))) % 10**12, "account_id": f"acc-{customer_id}",
            "kind": "line", "customer_id": customer_id, "currency": "CNY",
            "product_code": "huabei", "product_version": 1, "status": status,
            "opened_on": dt.date(2024, 1, 1), "dpd": dpd, "bucket": "M0" if dpd == 0 else "M3",
            "principal_minor": 0, "interest_due_minor": 0, "fee_due_minor": 0,
            "penalty_due_minor": 0, "accrued_minor": 0, "written_off_minor": 0,
            "recovered_minor": 0, "written_off_on": None, "interest_rate_micro": 0,
            "line_id": None, "undrawn_minor": 0, "last_due_date": None}


def _observation(policy_hash, day, customer_id, features):
    return {"review_date": day, "account_id": f"line-{customer_id}",
            "customer_id": customer_id, "action": "keep", "current_limit_minor": 1_000_000,
            "new_limit_minor": 1_000_000, "score": 600.0, "pd": 0.05, "grade": "B",
            "reasons": [], "features": features, "model_name": "behaviour",
            "model_version": 1, "policy_hash": policy_hash,
            "created_at": dt.datetime(2024, 6, 1, tzinfo=dt.UTC)}


def _features(rng, risk):
    """Features of a line whose customer has latent ``risk`` in [0, 1]: here risk shows in
    credit hunger (accounts opened in 90 days) and a shorter time on book, which the
    synthetic champion was not trained on."""
    return {"account_id": "x", "customer_id": "x", "current_limit_minor": 1_000_000,
            "other_exposure_minor": 0, "utilisation": round(rng.uniform(0.1, 0.9), 4),
            "dpd_current": 0, "dpd_max_6m": 0, "on_time_share_6m": 1.0,
            "months_on_book": max(1, int(24 - 18 * risk + rng.gauss(0, 3))),
            "payments_count_90d": max(0, int(2 + 25 * risk + rng.gauss(0, 3)))}


def _history(uow, *, customers=450, seed=5, positions_to=dt.date(2025, 2, 27)):
    """Observations of ``customers`` lines on three review dates, each customer's
    performance after each review: bad (60+ dpd on a day inside the window) with a
    probability rising with its latent risk. Returns {(review_date, customer): bad}."""
    rng = random.Random(seed)
    with uow.connect() as conn:
        policy_hash = active_policy(conn, "limit_review").content_hash
    observations, positions, bad_days = [], [], {}
    seq = 0
    for i in range(customers):
        customer = f"c{i:04d}"
        risk = rng.random()
        for review in REVIEWS:
            observations.append(_observation(policy_hash, review, customer,
                                             _features(rng, risk)))
            bad = rng.random() < 1 / (1 + math.exp(-(-4.6 + 4.0 * risk)))
            day = review + dt.timedelta(days=rng.randint(40, WINDOW))
            if bad and day <= positions_to:  # no close of business after positions_to
                seq += 1
                positions.append(_position(customer, day, dpd=BAD_DPD + 1, seq=seq))
                bad_days.setdefault(customer, []).append(day)
    # The expected label, written out: any 60+ day in (review, review + window].
    truth = {(review, o["customer_id"]): any(
        review < d <= review + dt.timedelta(days=WINDOW)
        for d in bad_days.get(o["customer_id"], []))
        for o in observations for review in [o["review_date"]]}
    # The performance history spans the reviews to positions_to.
    positions.append(_position("bookend", REVIEWS[0], seq=10**9))
    positions.append(_position("bookend", positions_to, seq=10**9 + 1))
    with uow.begin() as tx:
        tx.conn.execute(limit_review_actions.insert(), observations)
        tx.conn.execute(credit_day_end_positions.insert(), positions)
    return truth


def test_only_matured_observations_are_labelled(risk_store):
    """Positions end 2024-09-15: only the first review (window to 2024-08-30) has
    matured; the 2024-07-01 and 2024-07-31 windows end after it (09-29, 10-29) and must
    not be labelled (labelling them good would be a false good)."""
    uow = risk_store
    truth = _history(uow, customers=60, positions_to=dt.date(2024, 9, 15))
    with uow.connect() as conn:
        data = build_behaviour_training_set(conn, AS_OF, window_days=WINDOW)
    assert set(data.frame["review_date"]) == {REVIEWS[0]}
    assert data.rows == 60 and data.unmatured == 120
    assert data.performance_to == dt.date(2024, 9, 15)
    labels = {(r.review_date, r.customer_id): bool(r.bad) for r in data.frame.itertuples()}
    assert labels == {k: v for k, v in truth.items() if k[0] == REVIEWS[0]}
    # as_of bounds the history too: nothing has matured 89 days after the first review.
    with uow.connect() as conn:
        early = build_behaviour_training_set(conn, REVIEWS[0] + dt.timedelta(days=WINDOW - 1),
                                             window_days=WINDOW)
    assert early.rows == 0 and early.unmatured == 3 * 60


def test_the_window_bounds_are_exact_and_defaults_are_left_out(risk_store):
    uow = risk_store
    review = REVIEWS[0]
    with uow.connect() as conn:
        policy_hash = active_policy(conn, "limit_review").content_hash
    rng = random.Random(1)
    cases = {"on_review_day": review, "first_day": review + dt.timedelta(days=1),
             "last_day": review + dt.timedelta(days=WINDOW),
             "after_window": review + dt.timedelta(days=WINDOW + 1)}
    with uow.begin() as tx:
        rows = [_observation(policy_hash, review, c, _features(rng, 0.2)) for c in cases]
        in_default = _features(rng, 0.9) | {"dpd_current": BAD_DPD}
        rows.append(_observation(policy_hash, review, "already_bad", in_default))
        tx.conn.execute(limit_review_actions.insert(), rows)
        tx.conn.execute(credit_day_end_positions.insert(), [
            _position(c, day, dpd=BAD_DPD, seq=k) for k, (c, day) in enumerate(cases.items())
        ] + [_position("bookend", review + dt.timedelta(days=200), seq=99)])
    with uow.connect() as conn:
        data = build_behaviour_training_set(conn, AS_OF, window_days=WINDOW)
    labels = dict(zip(data.frame["customer_id"], data.frame["bad"], strict=True))
    assert labels == {"on_review_day": 0, "first_day": 1, "last_day": 1, "after_window": 0}
    assert data.in_default == 1


def test_retrain_refuses_with_too_few_bads_and_changes_nothing(risk_store):
    uow = risk_store
    _history(uow, customers=12, positions_to=dt.date(2024, 10, 15))
    with uow.connect() as conn:
        before = len(registry.list_models(conn, "behaviour"))
    with pytest.raises(ValidationError) as error:
        retrain_behaviour(uow, AS_OF, actor="tests", window_days=WINDOW)
    assert error.value.field == "bads" and "at least 20" in str(error.value)
    with uow.connect() as conn:
        assert len(registry.list_models(conn, "behaviour")) == before
        assert registry.current_assignment(conn, "behaviour").champion_version == 1
    with pytest.raises(ValidationError) as error:
        retrain_behaviour(uow, AS_OF, actor="tests", window_days=10)
    assert error.value.field == "window_days"
    with pytest.raises(ValidationError) as error:
        retrain_behaviour(uow, dt.date(2025, 3, 2), actor="tests", window_days=WINDOW,
                          bads_min=1)
    assert error.value.field == "as_of"


def test_a_promoted_model_drives_the_limits_and_no_riskier_score_is_raised(risk_store):
    uow = risk_store
    _history(uow)
    report = retrain_behaviour(uow, AS_OF, actor="tests", window_days=WINDOW)
    assert report.trained and report.rows == 3 * 450 and report.bads >= 20
    assert report.oot_from == REVIEWS[-1].isoformat() and report.oot_rows == 450
    assert report.auc_oot is not None and report.auc_oot > 0.6
    assert report.promoted and report.version == 2, report.reason
    with uow.connect() as conn:
        assert registry.current_assignment(conn, "behaviour").champion_version == 2
        audited = conn.execute(select(audit_records).where(
            audit_records.c.action == "risk.behaviour_model.retrained")).all()
    assert len(audited) == 1
    again = retrain_behaviour(uow, AS_OF, actor="tests", window_days=WINDOW)
    assert again.version == 2 and again.promoted  # same data: same artifact, no new version
    with uow.connect() as conn:
        assert len(registry.list_models(conn, "behaviour")) == 2

    rng = random.Random(9)
    accounts = []
    for i in range(120):
        features = _features(rng, rng.random()) | {"dpd_max_6m": 0, "dpd_current": 0,
                                                   "months_on_book": 12}
        features["utilisation"] = max(features["utilisation"], 0.5)
        accounts.append(features | {"account_id": f"a{i}", "customer_id": f"cust{i}",
                                    "current_limit_minor": 1_000_000 + 10_000 * i,
                                    "other_exposure_minor": 0 if i % 7 else 19_000_000})
    actions = review_limits(uow, dt.date(2025, 3, 1), accounts)
    assert {a.model_version for a in actions} == {2}
    raised = [a for a in actions if a.action == "increase"]
    not_raised = [a for a in actions if a.action != "increase"]
    assert raised and not_raised, sorted((round(a.score), a.grade, a.action) for a in actions)
    # Limits follow the score: every raised line scores at least as well as every line
    # that was not raised, except lines held back by the exposure cap.
    capped = {f"a{i}" for i in range(120) if i % 7 == 0}
    assert min(a.score for a in raised) >= max(a.score for a in not_raised
                                               if a.account_id not in capped)
    by_id = {a["account_id"]: a for a in accounts}
    for action in raised:
        account = by_id[action.account_id]
        assert action.grade in ("A", "B")
        assert account["current_limit_minor"] < action.new_limit_minor \
            <= account["current_limit_minor"] + 2_000_000
        assert action.new_limit_minor + account["other_exposure_minor"] <= 20_000_000


def test_a_weaker_challenger_or_a_thin_out_of_time_sample_keeps_the_champion(risk_store):
    uow = risk_store
    _history(uow)
    report = retrain_behaviour(uow, AS_OF, actor="tests", window_days=WINDOW,
                               oot_bads_min=10_000)
    assert report.trained and not report.promoted and "kept the champion" in report.reason
    with uow.connect() as conn:
        current = registry.current_assignment(conn, "behaviour")
    assert current.champion_version == 1 and current.challenger_version == report.version
    assert current.challenger_share_bps == 0


def test_a_raise_the_caps_leave_at_the_current_limit_is_stored_as_keep(risk_store):
    """The exposure cap already reached: the policy's raise comes out at the current limit,
    which was stored as an "increase" that changed nothing (and counted as a raise)."""
    good = {"utilisation": 0.8, "dpd_current": 0, "dpd_max_6m": 0, "on_time_share_6m": 1.0,
            "months_on_book": 24, "payments_count_90d": 40}
    accounts = [{"account_id": "free", "customer_id": "c1", "current_limit_minor": 1_000_000,
                 "other_exposure_minor": 0, **good},
                {"account_id": "capped", "customer_id": "c2",
                 "current_limit_minor": 1_000_000, "other_exposure_minor": 19_500_000,
                 **good}]
    actions = {a.account_id: a for a in review_limits(risk_store, dt.date(2025, 3, 1),
                                                      accounts)}
    assert actions["free"].grade == actions["capped"].grade
    if actions["free"].action == "increase":
        assert actions["free"].new_limit_minor > 1_000_000
    capped = actions["capped"]
    assert capped.action == "keep" and capped.new_limit_minor == 1_000_000
    assert capped.reasons[0]["code"] == "LR_NO_CHANGE"


def test_cli_retrain_behaviour_refuses_too_few_bads_naming_the_option(tmp_path):
    from typer.testing import CliRunner

    from creditpay.cli import app

    runner = CliRunner()
    db = str(tmp_path / "retrain.db")
    result = runner.invoke(app, ["model", "retrain-behaviour", "--db", db, "--as-of",
                                 "2025-01-01", "--json"])
    assert result.exit_code == 2, result.output
    assert "--min-bads" in result.output
    assert "0 bads in 0 matured observations" in result.output
    result = runner.invoke(app, ["model", "retrain-behaviour", "--db", db, "--as-of",
                                 "01/01/2025"])
    assert result.exit_code == 2 and "--as-of" in result.output
    result = runner.invoke(app, ["model", "retrain-behaviour", "--db", db, "--as-of",
                                 "2025-01-01", "--window-days", "5"])
    assert result.exit_code == 2 and "--window-days" in result.output


def test_the_simulator_retrains_once_its_window_allows_and_reports_limit_changes(risk_store):
    from creditpay.risk.decisions.limit_review import apply_limit_actions
    from creditpay.sim import behaviour_model as BM

    uow = risk_store
    start = REVIEWS[0]
    figures = BM.figures(uow, None, 70)
    assert figures["behaviour_model"]["trained"] is False
    assert "never reached a month end" in figures["behaviour_model"]["why"]
    assert figures["limit_changes"] == []
    # Too early (60 days) or not a month end: nothing is attempted.
    assert BM.retrain_when_due(uow, dt.date(2024, 7, 31), start, None) is None
    assert BM.retrain_when_due(uow, dt.date(2024, 9, 15), start, None) is None
    refused = BM.retrain_when_due(uow, dt.date(2024, 8, 31), start, None)
    assert refused is not None and refused["trained"] is False and "bads" in refused["why"]
    _history(uow)
    state = BM.retrain_when_due(uow, AS_OF, start, refused)  # retried after a refusal
    assert state is not None and state["trained"] and state["when"] == AS_OF.isoformat()
    assert state["rows"] > 0 and state["bads"] >= 20 and state["auc_oot"] is not None
    assert isinstance(state["promoted"], bool) and state["why"]
    assert BM.retrain_when_due(uow, dt.date(2025, 3, 31), start, state) is state  # once

    accounts = [{"account_id": "up", "customer_id": "c-up", "current_limit_minor": 1_000_000,
                 "other_exposure_minor": 0, "utilisation": 0.7, "dpd_current": 0,
                 "dpd_max_6m": 0, "on_time_share_6m": 1.0, "months_on_book": 20,
                 "payments_count_90d": 3},
                {"account_id": "late", "customer_id": "c-late",
                 "current_limit_minor": 1_000_000, "other_exposure_minor": 0,
                 "utilisation": 0.7, "dpd_current": 10, "dpd_max_6m": 10,
                 "on_time_share_6m": 0.5, "months_on_book": 20, "payments_count_90d": 3},
                {"account_id": "bad", "customer_id": "c-bad",
                 "current_limit_minor": 1_000_000, "other_exposure_minor": 0,
                 "utilisation": 0.7, "dpd_current": 40, "dpd_max_6m": 40,
                 "on_time_share_6m": 0.2, "months_on_book": 20, "payments_count_90d": 3}]
    actions = {a.account_id: a for a in review_limits(uow, dt.date(2025, 3, 1), accounts)}
    apply_limit_actions(uow, dt.date(2025, 3, 1), lambda tx, action: None)
    (march,) = [m for m in BM.figures(uow, state, 120)["limit_changes"]
                if m["month"] == "2025-03"]
    assert march["decreases"] == 1 and march["decrease_minor"] == 500_000
    assert march["freezes"] == 1 and march["freeze_minor"] == 1_000_000
    raised = actions["up"].action == "increase"
    assert march["increases"] == int(raised)
    assert march["increase_minor"] == (actions["up"].new_limit_minor - 1_000_000
                                       if raised else 0)
