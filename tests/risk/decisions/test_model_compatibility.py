"""A model trained before the newer features existed still loads, decides and replays: it
scores only the features in its manifest, while the decision stores every declared one."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from creditpay.risk.decisions import registry, service
from creditpay.risk.decisions.policy import activate_policy, bundled_policy_path, load_policy_file
from creditpay.risk.decisions.tables import credit_decisions
from creditpay.risk.features import FEATURES, build_training_set
from creditpay.risk.features.synthetic import synthetic_population
from creditpay.risk.scoring.artifact import save_model
from creditpay.risk.scoring.dataset import dataset_from_frame
from creditpay.risk.scoring.scorecard import ScorecardConfig, fit_scorecard

from .conftest import CONSENT, GOOD_APPLICATION, allow_all, bureau_for, good_events

# The application model's characteristics before housing, obligations, spend volatility,
# top-ups, failed payments and devices were declared.
OLD_FEATURES = ("age_years", "monthly_income_minor", "employment_type", "payments_count_90d",
                "payments_amount_minor_90d", "refund_share_90d", "merchant_categories_90d",
                "late_repayments_180d", "platform_tenure_months",
                "platform_credit_balance_minor", "bureau_debt_minor", "bureau_inquiries_6m",
                "bureau_lenders_in_use", "bureau_delinquencies_24m", "debt_to_income")


@pytest.fixture(scope="module")
def old_model_dir(tmp_path_factory):
    observations, events = synthetic_population(1500, seed=21, bureau_seed=21)
    frame = build_training_set(observations, events)[[*OLD_FEATURES, "bad"]]
    data = dataset_from_frame(frame, "bad", categorical=["employment_type"],
                              numeric=[f for f in OLD_FEATURES if f != "employment_type"])
    model = fit_scorecard(data, ScorecardConfig(seed=21))
    return save_model(tmp_path_factory.mktemp("old") / "application", model, data=data,
                      created_at="2024-06-01T00:00:00+00:00", author="before-the-change")


def test_old_model_decides_on_its_own_features_and_replays(uow, old_model_dir):
    with uow.begin() as tx:
        registry.register_model(tx, old_model_dir, name="application", registered_by="tests")
        registry.promote(tx, "application", 1, actor="tests", reason="old model")
        activate_policy(tx, load_policy_file(bundled_policy_path("application")), actor="tests")
    application = {**GOOD_APPLICATION, "housing": "own",
                   "declared_monthly_obligations_minor": 200_000}
    with uow.begin() as tx:
        decision = service.decide(
            tx, application_id="old-1", customer_id="c1", product_code="credit_line",
            application=application, bureau=bureau_for("c1"),
            platform_events=good_events("c1", tx.now), bureau_consent_reference=CONSENT,
            platform_consent_reference=CONSENT, consent_checker=allow_all)
    assert set(decision.features) == {f.name for f in FEATURES}
    assert decision.features["housing"] == "own"
    with uow.connect() as conn:
        loaded = registry.load_registered(conn, "application", 1)
        assert {s.name for s in loaded.model.feature_specs} <= set(OLD_FEATURES)
        stored = conn.execute(select(credit_decisions.c.model_output).where(
            credit_decisions.c.id == decision.decision_id)).scalar_one()
        assert set(stored["points"]) <= set(OLD_FEATURES)
        replay = service.replay_decision(conn, decision.decision_id)
    assert replay.matches, replay.differences
