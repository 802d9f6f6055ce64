"""Consumer credit score: bounds, monotone in PD, factors, advice, deposit waiver."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given

from creditpay.errors import ValidationError
from creditpay.risk.decisions.credit_score import (
    CREDIT_SCORE_MAX,
    CREDIT_SCORE_MIN,
    consumer_credit_score,
    credit_score_for_decision,
    credit_score_from_pd,
    deposit_waiver,
)
from creditpay.risk.scoring.artifact import load_model

from .conftest import CONSENT, GOOD_APPLICATION, allow_all, bureau_for, good_events

probabilities = st.floats(min_value=1e-15, max_value=1 - 1e-15, allow_nan=False)


@given(probabilities, probabilities)
def test_higher_pd_never_gives_a_higher_score_and_bounds_hold(a, b):
    low, high = min(a, b), max(a, b)
    assert CREDIT_SCORE_MIN <= credit_score_from_pd(high) <= credit_score_from_pd(low) \
        <= CREDIT_SCORE_MAX


def test_anchor_points_of_the_scale():
    assert credit_score_from_pd(1 / 21) == 600  # odds 20:1
    assert credit_score_from_pd(1 / 41) == 650  # one doubling
    assert credit_score_from_pd(0.5) == 384
    assert credit_score_from_pd(1e-12) == CREDIT_SCORE_MAX
    assert credit_score_from_pd(1 - 1e-12) == CREDIT_SCORE_MIN


@pytest.mark.parametrize("pd", [0.0, 1.0, -0.1, float("nan"), "0.1", True])
def test_pd_outside_the_open_interval_is_refused(pd):
    with pytest.raises(ValidationError):
        credit_score_from_pd(pd)


def _risky_features():
    # Risky but not off the bottom of the scale, so single improvements still show.
    return {"age_years": 25, "monthly_income_minor": 600_000, "employment_type": "self_employed",
            "kyc_verified": True, "housing": "rent",
            "declared_monthly_obligations_minor": 120_000, "payments_count_90d": 0,
            "payments_amount_minor_90d": 0, "refund_share_90d": 0.0,
            "merchant_categories_90d": 0, "late_repayments_180d": 1,
            "platform_tenure_months": 1, "platform_credit_balance_minor": 200_000,
            "spend_volatility_6m": 0.9, "top_ups_count_90d": 1,
            "top_ups_amount_minor_90d": 50_000, "failed_payments_count_90d": 2,
            "failed_payments_share_90d": 0.2, "devices_count_90d": 2,
            "current_device_age_days": 20, "bureau_debt_minor": 3_000_000,
            "bureau_monthly_repayment_minor": 150_000, "bureau_inquiries_6m": 4,
            "bureau_lenders_in_use": 3, "bureau_delinquencies_24m": 1, "debt_to_income": 0.25,
            "debt_service_ratio": 0.25, "existing_exposure_minor": 3_200_000}


def test_factors_and_improvements_of_a_risky_customer(model_dirs):
    loaded = load_model(model_dirs["application"])
    result = consumer_credit_score(loaded, _risky_features())
    assert CREDIT_SCORE_MIN <= result.score < 600 and result.band_en in ("poor", "fair")
    assert 1 <= len(result.factors) <= 4 and all(f["en"] and f["zh"] for f in result.factors)
    assert 1 <= len(result.improvements) <= 3
    gains = [i["points"] for i in result.improvements]
    assert gains == sorted(gains, reverse=True) and gains[0] > 0
    for item in result.improvements:  # acting on the advice really adds those points
        assert item["en"].endswith(f"+{item['points']} points)") and item["zh"]


def test_deposit_waiver_threshold_is_configurable():
    assert deposit_waiver(650).eligible and not deposit_waiver(649).eligible
    assert deposit_waiver(700, threshold=720).eligible is False
    assert "免押" in deposit_waiver(800).zh
    with pytest.raises(ValidationError) as error:
        deposit_waiver(600, threshold=1000)
    assert error.value.field == "threshold"


def test_credit_score_of_a_stored_decision(risk_store):
    from creditpay.risk.decisions import service

    with risk_store.begin() as tx:
        decision = service.decide(
            tx, application_id="a1", customer_id="c1", product_code="credit_line",
            application=GOOD_APPLICATION, bureau=bureau_for("c1"),
            platform_events=good_events("c1", tx.now), bureau_consent_reference=CONSENT,
            platform_consent_reference=CONSENT, consent_checker=allow_all)
    with risk_store.connect() as conn:
        result = credit_score_for_decision(conn, decision.decision_id)
    assert result.score == credit_score_from_pd(decision.pd)
