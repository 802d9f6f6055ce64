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
from creditpay.risk.features.compute import EVENT_KINDS, normalise_events, validate_application
from creditpay.risk.features.synthetic import synthetic_population

from .conftest import GOOD_APPLICATION, clean_bureau, good_events

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
    offline = build_training_set(observations, pl.DataFrame(events, infer_schema_length=None))
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
    # Not vacuous: every declared feature varies across this sample (missing counts as a value).
    for name in names:
        assert offline[name].nunique(dropna=False) > 1, name


def test_the_synthetic_history_really_contains_future_events():
    # Otherwise the leakage tests below would prove nothing.
    observations, events = synthetic_population(50, seed=4, bureau_seed=4)
    as_of = {o["customer_id"]: o["as_of"] for o in observations}
    assert sum(e["occurred_at"] >= as_of[e["customer_id"]] for e in events) > 50


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400 * 86_400), st.sampled_from(sorted(EVENT_KINDS)),
                          st.integers(0, 10**7)), max_size=30))
def test_events_at_or_after_as_of_never_change_a_value(future):
    bureau = SimulatedBureau(1).fetch("c1", AS_OF).to_json()
    past = normalise_events(good_events("c1", AS_OF)[:60] + _device_events("c1", AS_OF),
                            customer_id="c1")
    base = compute_features(as_of=AS_OF, application=GOOD_APPLICATION, events=past,
                            bureau=bureau)
    extra = [{"customer_id": "c1", "occurred_at": AS_OF + dt.timedelta(seconds=s), "kind": k,
              "amount_minor": 0 if k == "device_seen" else a,
              "merchant_category": None if k == "device_seen" else "travel",
              "device_id": f"future-{a % 3}" if k == "device_seen" else None}
             for s, k, a in future]
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
    ({"housing": "castle"}, "application.housing"),
    ({"declared_monthly_obligations_minor": -1}, "application.declared_monthly_obligations_minor"),
    ({"declared_monthly_obligations_minor": 10.5},
     "application.declared_monthly_obligations_minor"),
    ({"declared_monthly_obligations_minor": True},
     "application.declared_monthly_obligations_minor"),
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
    ({"kind": "device_seen"}, "platform_events[0].device_id"),  # a sighting names its device
    ({"kind": "device_seen", "device_id": "x" * 65}, "platform_events[0].device_id"),
    ({"device_id": "phone-1"}, "platform_events[0].device_id"),  # only sightings carry one
])
def test_bad_events_are_named(patch, field):
    event = {"customer_id": "c1", "occurred_at": AS_OF, "kind": "payment",
             "amount_minor": 100, "merchant_category": None}
    with pytest.raises(ValidationError) as error:
        normalise_events([{**event, **patch}], customer_id="c1")
    assert error.value.field == field


def _device_events(customer_id, now, devices=("old", "new"), switch_days_ago=12):
    """Sightings every 7 days over 200 days; the second device from ``switch_days_ago``."""
    rows = []
    for days_ago in range(200, 0, -7):
        device = devices[1] if days_ago <= switch_days_ago else devices[0]
        rows.append({"customer_id": customer_id, "kind": "device_seen", "amount_minor": 0,
                     "occurred_at": now - dt.timedelta(days=days_ago), "device_id": device,
                     "merchant_category": None})
    return rows


def _event(kind, days_ago, amount=1_000, **extra):
    return {"customer_id": "c1", "occurred_at": AS_OF - dt.timedelta(days=days_ago),
            "kind": kind, "amount_minor": amount, "merchant_category": None, **extra}


def test_optional_application_fields_are_missing_when_not_declared():
    plain = compute_features(as_of=AS_OF, application=GOOD_APPLICATION, events=(), bureau=None)
    assert plain["housing"] is None and plain["declared_monthly_obligations_minor"] is None
    assert plain["debt_service_ratio"] is None  # neither obligations nor bureau known
    # An application that does not declare them validates to exactly what it did before.
    assert validate_application({**GOOD_APPLICATION, "housing": None}) == \
        validate_application(GOOD_APPLICATION)
    declared = {**GOOD_APPLICATION, "housing": "mortgage",
                "declared_monthly_obligations_minor": 500_000}
    values = compute_features(as_of=AS_OF, application=declared, events=(),
                              bureau=clean_bureau(monthly_repayment_minor=300_000))
    assert values["housing"] == "mortgage"
    assert values["debt_service_ratio"] == 0.2  # max(500 000, 300 000) / 2 500 000
    higher_bureau = compute_features(as_of=AS_OF, application=declared, events=(),
                                     bureau=clean_bureau(monthly_repayment_minor=750_000))
    assert higher_bureau["debt_service_ratio"] == 0.3


def test_top_ups_failed_payments_and_devices():
    events = normalise_events([
        _event("top_up", 10, 20_000), _event("top_up", 89, 5_000),
        _event("top_up", 91, 7_000),                       # outside the 90-day window
        _event("top_up_failed", 3, 9_000), _event("payment_declined", 40, 4_000),
        _event("payment", 5, 3_000), _event("payment", 6, 3_000),
        *_device_events("c1", AS_OF, switch_days_ago=12),
    ], customer_id="c1")
    values = compute_features(as_of=AS_OF, application=GOOD_APPLICATION, events=events,
                              bureau=None)
    assert values["top_ups_count_90d"] == 2 and values["top_ups_amount_minor_90d"] == 25_000
    assert values["failed_payments_count_90d"] == 2
    assert values["failed_payments_share_90d"] == round(2 / 6, 6)  # 2 failed of 6 attempts
    assert values["devices_count_90d"] == 2
    # The "new" device was first seen on the first sighting at or after 12 days ago.
    first_new = min(e.occurred_at for e in events if e.device_id == "new")
    assert values["current_device_age_days"] == (AS_OF - first_new).days
    quiet = compute_features(as_of=AS_OF, application=GOOD_APPLICATION, events=(), bureau=None)
    assert quiet["failed_payments_share_90d"] == 0.0 and quiet["devices_count_90d"] == 0
    assert quiet["current_device_age_days"] is None and quiet["spend_volatility_6m"] is None


monthly_spend = st.lists(st.integers(0, 10**7), min_size=6, max_size=6)


@settings(max_examples=60, deadline=None)
@given(monthly_spend, st.integers(1, 50))
def test_spend_volatility_is_the_coefficient_of_variation_and_scale_free(spend, factor):
    def history(scale):
        rows = [_event("device_seen", 200, 0, device_id="d")]  # tenure: over 6 months
        rows += [_event("payment", 30 * month + 15, amount * scale)
                 for month, amount in enumerate(spend) if amount]
        return normalise_events(rows, customer_id="c1")

    value = compute_features(as_of=AS_OF, application=GOOD_APPLICATION, events=history(1),
                             bureau=None)["spend_volatility_6m"]
    mean = sum(spend) / 6
    if mean == 0:
        assert value is None
        return
    expected = (sum((s - mean) ** 2 for s in spend) / 6) ** 0.5 / mean
    assert value == pytest.approx(expected, abs=1e-6) and value >= 0.0
    scaled = compute_features(as_of=AS_OF, application=GOOD_APPLICATION,
                              events=history(factor), bureau=None)["spend_volatility_6m"]
    assert scaled == pytest.approx(value, abs=2e-6)


def test_spend_volatility_counts_only_months_of_tenure():
    # Joined 75 days ago, steady 1 000 a month: two full months, no phantom zero months.
    events = normalise_events([_event("payment", d, 1_000) for d in (74, 45, 15)],
                              customer_id="c1")
    values = compute_features(as_of=AS_OF, application=GOOD_APPLICATION, events=events,
                              bureau=None)
    assert values["spend_volatility_6m"] == 0.0
    young = normalise_events([_event("payment", 40, 1_000)], customer_id="c1")
    assert compute_features(as_of=AS_OF, application=GOOD_APPLICATION, events=young,
                            bureau=None)["spend_volatility_6m"] is None  # one month only


_ZONES = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8)),
                         dt.timezone(dt.timedelta(hours=-5, minutes=-30))])


@st.composite
def _event_rows(draw):
    """Event rows in every accepted spelling: aware times in any zone or as ISO text,
    numpy integers, empty categories, NaN devices off device events."""
    import numpy as np

    kind = draw(st.sampled_from(sorted(EVENT_KINDS)))
    at = draw(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2030, 1, 1),
                           timezones=_ZONES))
    amount = draw(st.integers(0, 10**12))
    device = (draw(st.text("abcdef0123", min_size=1, max_size=64)) if kind == "device_seen"
              else draw(st.sampled_from([None, float("nan")])))
    return {"customer_id": "c1",
            "occurred_at": draw(st.sampled_from([at, at.isoformat(), at.astimezone(dt.UTC)])),
            "kind": kind,
            "amount_minor": draw(st.sampled_from([amount, np.int64(amount)])),
            "merchant_category": draw(st.sampled_from([None, "", "food", "电子"])),
            "device_id": device}


@settings(max_examples=150, deadline=None)
@given(st.lists(_event_rows(), max_size=25))
def test_the_fast_path_accepts_exactly_what_the_field_checks_accept(rows):
    from creditpay.risk.features.compute import _checked_event, _event_order

    fast = normalise_events(rows, customer_id="c1")
    checked = sorted((_checked_event(r, "x", "c1") for r in rows), key=_event_order)
    assert fast == checked
    assert all(type(e.amount_minor) is int and e.occurred_at.tzinfo is dt.UTC for e in fast)


@settings(max_examples=150, deadline=None)
@given(st.lists(_event_rows(), max_size=25))
def test_a_stored_history_reads_back_as_the_same_events(rows):
    from creditpay.risk.features.compute import history_document, history_from_document

    events = normalise_events(rows, customer_id="c1")
    text = history_document("c1", events)
    assert history_from_document(text) == events
    # Canonical: the same events given in another order store as the same text.
    assert history_document("c1", normalise_events(rows[::-1], customer_id="c1")) == text


def test_a_history_holds_one_customer_and_a_foreign_document_is_refused():
    from creditpay.risk.features.compute import history_document, history_from_document

    events = normalise_events(good_events("c1", AS_OF)[:5], customer_id="c1")
    with pytest.raises(ValidationError) as refused:
        history_document("c2", events)
    assert refused.value.field == "platform_events"
    with pytest.raises(ValidationError) as refused:
        history_from_document('{"format": "platform-events/1"}')
    assert refused.value.field == "document"


@settings(max_examples=300, deadline=None)
@given(born=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2010, 12, 31)),
       as_of=st.datetimes(min_value=dt.datetime(2011, 1, 1), max_value=dt.datetime(2099, 12, 31),
                          timezones=st.just(dt.UTC)))
def test_a_stored_application_keeps_the_age_and_not_the_birthday(born, as_of):
    from creditpay.risk.features.compute import application_from_store, application_to_store

    application = validate_application({**GOOD_APPLICATION, "date_of_birth": born.isoformat()})
    stored = application_to_store(application, as_of)
    assert "date_of_birth" not in stored and born.isoformat() not in str(stored)
    replayed = application_from_store(stored, as_of)
    features = {name: compute_features(as_of=as_of, application=app, events=[], bureau=None)
                for name, app in (("live", application), ("replayed", replayed))}
    assert features["live"] == features["replayed"]
    assert stored["age_years"] == features["live"]["age_years"]
