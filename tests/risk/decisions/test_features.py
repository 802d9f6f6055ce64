"""Features: one definition, identical online and offline, never reading the future."""

from __future__ import annotations

import datetime as dt

import hypothesis.strategies as st
import polars as pl
import pytest
from hypothesis import given, settings

from creditpay.errors import ValidationError
from creditpay.risk.bureau import SimulatedBureau
from creditpay.risk.features import FEATURES, build_training_set, compute_features
from creditpay.risk.features.compute import normalise_events, validate_application
from creditpay.risk.features.synthetic import synthetic_population

from .conftest import GOOD_APPLICATION, good_events

AS_OF = dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)


def test_every_feature_is_declared_once_with_source_and_labels():
    names = [f.name for f in FEATURES]
    assert len(names) == len(set(names))
    for f in FEATURES:
        assert f.source in ("application", "platform", "bureau", "derived")
        assert f.label_en and f.label_zh and f.description
        if f.actionable:
            assert f.improve_en and f.improve_zh


def test_online_equals_offline_for_the_same_customer_and_date():
    observations, events = synthetic_population(150, seed=4, bureau_seed=4)
    offline = build_training_set(observations, pl.DataFrame(events))  # the table as polars
    by_customer = {}
    for event in events:
        by_customer.setdefault(event["customer_id"], []).append(event)
    names = [f.name for f in FEATURES]
    for observation, row in zip(observations, offline.to_dict(orient="records"), strict=True):
        online = compute_features(
            as_of=observation["as_of"], application=observation["application"],
            events=normalise_events(by_customer.get(observation["customer_id"], []),
                                    customer_id=observation["customer_id"]),
            bureau=observation["bureau"])
        offline_values = {n: (None if row[n] is None or row[n] != row[n] else row[n])
                          for n in names}  # pandas turns None into NaN in float columns
        assert offline_values == pytest.approx(online, nan_ok=False), observation["customer_id"]


def test_the_synthetic_history_really_contains_future_events():
    # Otherwise the leakage tests below would prove nothing.
    observations, events = synthetic_population(50, seed=4, bureau_seed=4)
    as_of = {o["customer_id"]: o["as_of"] for o in observations}
    assert sum(e["occurred_at"] >= as_of[e["customer_id"]] for e in events) > 50


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400 * 86_400), st.sampled_from(
    ["payment", "refund", "credit_drawdown", "repayment", "repayment_late"]),
    st.integers(0, 10**7)), max_size=30))
def test_events_at_or_after_as_of_never_change_a_value(future):
    bureau = SimulatedBureau(1).fetch("c1", AS_OF).to_json()
    past = normalise_events(good_events("c1", AS_OF)[:60], customer_id="c1")
    base = compute_features(as_of=AS_OF, application=GOOD_APPLICATION, events=past,
                            bureau=bureau)
    extra = [{"customer_id": "c1", "occurred_at": AS_OF + dt.timedelta(seconds=s), "kind": k,
              "amount_minor": a, "merchant_category": "travel"} for s, k, a in future]
    everything = normalise_events([e.to_json() for e in past] + extra, customer_id="c1")
    assert compute_features(as_of=AS_OF, application=GOOD_APPLICATION, events=everything,
                            bureau=bureau) == base


def test_windows_are_half_open_and_consent_gates_platform_features():
    events = normalise_events([
        {"customer_id": "c1", "occurred_at": AS_OF - dt.timedelta(days=90), "kind": "payment",
         "amount_minor": 500, "merchant_category": "dining"},      # first instant: inside
        {"customer_id": "c1", "occurred_at": AS_OF - dt.timedelta(days=90, seconds=1),
         "kind": "payment", "amount_minor": 700, "merchant_category": "travel"},  # outside
        {"customer_id": "c1", "occurred_at": AS_OF, "kind": "payment", "amount_minor": 900,
         "merchant_category": "games"},                              # as-of instant: excluded
    ], customer_id="c1")
    values = compute_features(as_of=AS_OF, application=GOOD_APPLICATION, events=events,
                              bureau=None)
    assert values["payments_count_90d"] == 1
    assert values["payments_amount_minor_90d"] == 500
    assert values["merchant_categories_90d"] == 1
    assert values["platform_tenure_months"] == 3
    assert values["age_years"] == 34  # born 1990-05-17, before the 2025 birthday
    assert values["bureau_debt_minor"] is None and values["debt_to_income"] is None
    hidden = compute_features(as_of=AS_OF, application=GOOD_APPLICATION, events=events,
                              bureau=None, platform_consented=False)
    assert all(hidden[f.name] is None for f in FEATURES if f.source == "platform")


@pytest.mark.parametrize(("patch", "field"), [
    ({"date_of_birth": "17/05/1990"}, "application.date_of_birth"),
    ({"monthly_income_minor": 1.5}, "application.monthly_income_minor"),
    ({"monthly_income_minor": 0}, "application.monthly_income_minor"),
    ({"employment_type": "pirate"}, "application.employment_type"),
    ({"kyc_verified": "yes"}, "application.kyc_verified"),
    ({"favourite_colour": "red"}, "application.favourite_colour"),
])
def test_bad_application_fields_are_named(patch, field):
    with pytest.raises(ValidationError) as error:
        validate_application({**GOOD_APPLICATION, **patch})
    assert error.value.field == field


@pytest.mark.parametrize(("patch", "field"), [
    ({"kind": "teleport"}, "platform_events[0].kind"),
    ({"amount_minor": 1.25}, "platform_events[0].amount_minor"),
    ({"amount_minor": -1}, "platform_events[0].amount_minor"),
    ({"occurred_at": "2025-01-01T00:00:00"}, "platform_events[0].occurred_at"),
    ({"customer_id": "someone-else"}, "platform_events[0].customer_id"),
])
def test_bad_events_are_named(patch, field):
    event = {"customer_id": "c1", "occurred_at": AS_OF, "kind": "payment",
             "amount_minor": 100, "merchant_category": None}
    with pytest.raises(ValidationError) as error:
        normalise_events([{**event, **patch}], customer_id="c1")
    assert error.value.field == field
