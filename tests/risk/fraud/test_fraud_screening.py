import numpy as np
import pytest

from creditpay.errors import ValidationError
from creditpay.risk.fraud.features import (
    FeatureConfig,
    PaymentEvent,
    compute_features_offline,
    iter_stream,
)
from creditpay.risk.fraud.model import DecisionPolicy, train_model
from creditpay.risk.fraud.rules import RuleSet
from creditpay.risk.fraud.screening import Screener

RULES = {"version": "r-test", "blocklists": {"card": ["stolen"]}, "rules": [
    {"name": "huge", "action": "review",
     "when": {"field": "amount_minor", "op": ">", "value": 10_000_000}}]}


@pytest.fixture(scope="module")
def model(mixed_events):
    cfg = FeatureConfig()
    x = compute_features_offline(mixed_events, cfg)
    return train_model(x[:12_000], mixed_events["is_fraud"].to_numpy()[:12_000], cfg,
                       num_boost_round=30)


def _event(**kw):
    base = dict(customer_id="c1", device_id="d1", merchant_id="m1", amount_minor=12_345,
                timestamp_s=1_700_000_000, currency="CNY", scenario="online", card_id="k1",
                grid_x=1.0, grid_y=2.0)
    base.update(kw)
    return PaymentEvent(**base)


def test_screening_matches_offline_features_and_model(model, mixed_events):
    events = mixed_events.head(2_000)
    screener = Screener(model, RuleSet.from_dict(RULES, model.feature_names))
    results = []
    for item in iter_stream(events, model.feature_config):
        if isinstance(item, PaymentEvent):
            results.append(screener.screen(item))
        else:
            screener.record_label(item)
    offline = compute_features_offline(events, model.feature_config)
    online = np.array([r.feature_vector for r in results])
    np.testing.assert_array_equal(np.nan_to_num(online, nan=-7.0),
                                  np.nan_to_num(offline, nan=-7.0))
    np.testing.assert_allclose([r.score for r in results], model.predict_batch(offline),
                               atol=1e-15, rtol=0)
    r = results[-1]
    assert r.versions == {"model": model.version, "features": model.feature_config.version,
                          "rules": "r-test", "thresholds": model.policy.version}
    assert r.features["amount_minor"] == events["amount_minor"][-1]


def test_rules_and_blocklist_override_the_model(model):
    screener = Screener(model, RuleSet.from_dict(RULES, model.feature_names))
    blocked = screener.screen(_event(card_id="stolen"))
    assert blocked.decision == "decline"
    assert blocked.rules_hit == ("blocklist:card",)
    assert blocked.reasons[0] == "rule:blocklist:card"
    assert any(reason.startswith("model:") for reason in blocked.reasons)
    big = screener.screen(_event(amount_minor=20_000_000, timestamp_s=1_700_000_100))
    assert "huge" in big.rules_hit and big.decision in ("review", "decline")


def test_hot_swap_rules_and_thresholds(model):
    screener = Screener(model)
    assert screener.screen(_event()).versions["rules"] == "rules-empty"
    screener.swap_rules(RuleSet.from_dict(RULES, model.feature_names))
    result = screener.screen(_event(card_id="stolen", timestamp_s=1_700_000_010))
    assert result.decision == "decline" and result.versions["rules"] == "r-test"
    strict = DecisionPolicy.from_dict({"version": "everything-reviewed", "rows": [
        {"scenario": "*", "amount_minor_max": None, "challenge": 0.0, "review": 0.0,
         "decline": 1.0}]})
    screener.swap_policy(strict)
    result = screener.screen(_event(timestamp_s=1_700_000_020))
    assert result.decision == "review" and result.versions["thresholds"] == strict.version


def test_state_restore_gives_identical_results(model):
    a = Screener(model)
    for i in range(20):
        a.screen(_event(timestamp_s=1_700_000_000 + 30 * i, amount_minor=1_000 + i))
    b = Screener(model, state=a.state_bytes())
    nxt = _event(timestamp_s=1_700_001_000, device_id="d9")
    ra, rb = a.screen(nxt), b.screen(nxt)
    np.testing.assert_array_equal(ra.feature_vector, rb.feature_vector)
    assert ra.score == rb.score and ra.decision == rb.decision
    other = FeatureConfig(recent_k=4)
    with pytest.raises(ValidationError) as err:
        Screener(train_model(np.zeros((40, len(model.feature_names))),
                             np.arange(40) % 2, other, num_boost_round=2),
                 state=a.state_bytes())
    assert err.value.field == "state"


@pytest.mark.parametrize("change, field", [
    ({"amount_minor": 12.5}, "amount_minor"),
    ({"amount_minor": 0}, "amount_minor"),
    ({"currency": "cny"}, "currency"),
    ({"scenario": "casino"}, "scenario"),
    ({"customer_id": ""}, "customer_id"),
    ({"card_id": 7}, "card_id"),
    ({"timestamp_s": -1}, "timestamp_s"),
    ({"grid_y": None}, "grid_y"),
    ({"grid_x": float("nan")}, "grid_x"),
])
def test_bad_events_are_refused_and_change_nothing(model, change, field):
    screener = Screener(model)
    screener.screen(_event())
    before = screener.state_bytes()
    with pytest.raises(ValidationError) as err:
        screener.screen(_event(**{"timestamp_s": 1_700_000_050, **change}))
    assert err.value.field == field
    assert screener.state_bytes() == before
