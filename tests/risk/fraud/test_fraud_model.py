import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditpay.errors import ValidationError
from creditpay.risk.fraud.features import FeatureConfig, compute_features_offline
from creditpay.risk.fraud.model import DecisionPolicy, FraudModel, train_model


@pytest.fixture(scope="module")
def trained(mixed_events):
    cfg = FeatureConfig()
    x = compute_features_offline(mixed_events, cfg)
    y = mixed_events["is_fraud"].to_numpy()
    model = train_model(x[:12_000], y[:12_000], cfg, num_boost_round=40)
    return model, x[12_000:14_000]


def test_compiled_forest_equals_lightgbm_exactly(trained):
    model, x = trained
    x = x.copy()
    x[::7, 5] = np.nan  # force missing-value paths
    ours = np.array([model.forest.raw_score(row) for row in x])
    theirs = model.booster().predict(x, raw_score=True)
    np.testing.assert_array_equal(ours, theirs)
    probs = np.array([model.probability(row) for row in x])
    np.testing.assert_allclose(probs, model.predict_batch(x), rtol=0, atol=1e-15)
    assert model.forest.depth <= 6


def test_save_load_roundtrip_without_pickle(trained, tmp_path):
    model, x = trained
    path = model.save(tmp_path / "m")
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "model.txt"]
    loaded = FraudModel.load(path)
    assert loaded.version == model.version
    assert [loaded.probability(r) for r in x[:50]] == [model.probability(r) for r in x[:50]]
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["feature_names"] = manifest["feature_names"][:-1]
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValidationError) as err:
        FraudModel.load(path)
    assert err.value.field == "feature_names"
    (path / "model.txt").write_text(model.model_text.replace("Tree=1", "Tree=9", 1))
    manifest["feature_names"] = list(model.feature_names)
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValidationError) as err:
        FraudModel.load(path)
    assert err.value.field == "model_version"


def test_reasons_are_top_shap_contributions(trained):
    model, x = trained
    row = x[int(np.argmax([model.probability(r) for r in x]))]
    reasons = model.top_reasons(row, k=3, method="shap")
    assert 1 <= len(reasons) <= 3
    contrib = model.booster().predict(row[None, :], pred_contrib=True)[0, :-1]
    best = model.feature_names[int(np.argmax(contrib))]
    assert reasons[0].startswith(best + "=")
    # The serving default (path attribution) names the same leading feature here.
    assert model.top_reasons(row, k=3)[0].startswith(best + "=")
    with pytest.raises(ValidationError) as err:
        model.top_reasons(row, method="lime")
    assert err.value.field == "method"


def _reference_path_contributions(dump: dict, row: np.ndarray) -> np.ndarray:
    """Independent walk of LightGBM's JSON dump, one tree and one node at a time."""
    total = np.zeros(len(row) + 1)
    for tree in dump["tree_info"]:
        node = tree["tree_structure"]
        total[-1] += node.get("internal_value", node.get("leaf_value", 0.0))
        while "split_index" in node:
            value = row[node["split_feature"]]
            if np.isnan(value) and node["missing_type"] == "NaN":
                left = node["default_left"]
            else:
                value = 0.0 if np.isnan(value) else value
                left = value <= node["threshold"]
            child = node["left_child"] if left else node["right_child"]
            child_value = child.get("internal_value", child.get("leaf_value"))
            total[node["split_feature"]] += child_value - node["internal_value"]
            node = child
    return total


def test_path_contributions_match_a_reference_walk_and_sum_to_the_raw_score(trained):
    model, x = trained
    x = x[:200].copy()
    x[::5, 5] = np.nan
    dump = model.booster().dump_model()
    for row in x:
        ours = model.contributions(row)
        np.testing.assert_allclose(ours, _reference_path_contributions(dump, row),
                                   rtol=1e-9, atol=1e-12)
        assert ours.sum() == pytest.approx(model.forest.raw_score(row), rel=1e-9, abs=1e-12)


def test_thresholds_by_scenario_and_amount_band():
    policy = DecisionPolicy.from_dict({"version": "t1", "rows": [
        {"scenario": "p2p", "amount_minor_max": None, "challenge": 0.1, "review": 0.2,
         "decline": 0.3},
        {"scenario": "*", "amount_minor_max": 10_000, "challenge": 0.5, "review": 0.7,
         "decline": 0.9},
        {"scenario": "*", "amount_minor_max": None, "challenge": 0.2, "review": 0.4,
         "decline": 0.6},
    ]})
    assert policy.decide(0.25, "p2p", 100) == "review"
    assert policy.decide(0.25, "online", 100) == "approve"
    assert policy.decide(0.25, "online", 10_001) == "challenge"
    assert policy.decide(0.65, "rental", 50_000) == "decline"
    with pytest.raises(ValidationError) as err:
        DecisionPolicy.from_dict({"version": "t", "rows": [
            {"scenario": "*", "amount_minor_max": None, "challenge": 0.5, "review": 0.4,
             "decline": 0.9}]})
    assert err.value.field == "rows[0]"
    with pytest.raises(ValidationError) as err:
        DecisionPolicy.from_dict({"version": "t", "rows": [
            {"scenario": "online", "amount_minor_max": None, "challenge": 0.1, "review": 0.4,
             "decline": 0.9}]})
    assert err.value.field == "rows"


# --------------------------------------------------------------------------- ensembles
@pytest.fixture(scope="module")
def ensemble(mixed_events):
    cfg = FeatureConfig()
    x = compute_features_offline(mixed_events, cfg)
    y = mixed_events["is_fraud"].to_numpy()
    members = [train_model(x[:12_000], y[:12_000], cfg, num_boost_round=25,
                           params={"seed": 3 + i}) for i in range(3)]
    model = train_model(x[:12_000], y[:12_000], cfg, num_boost_round=25, params={"seed": 3},
                        n_models=3)
    return model, members, x[12_000:14_000]


def test_seed_average_is_one_forest_of_the_mean_raw_score(ensemble):
    model, members, x = ensemble
    x = x[:500].copy()
    x[::6, 5] = np.nan
    assert model.manifest["ensemble"] == {"n_models": 3, "seeds": [3, 4, 5],
                                          "combine": "mean of raw scores (log-odds)"}
    assert len(model.forest.roots) == 3 * 25
    member_raw = np.array([m.booster().predict(x, raw_score=True) for m in members])
    # The seeds matter (bagging / feature fraction < 1): members disagree.
    assert np.abs(member_raw[0] - member_raw[1]).max() > 1e-3
    served_raw = model.booster().predict(x, raw_score=True)
    np.testing.assert_allclose(served_raw, member_raw.mean(axis=0), rtol=0, atol=1e-12)
    # Compiled forest and LightGBM on the merged model text agree exactly.
    np.testing.assert_array_equal([model.forest.raw_score(r) for r in x], served_raw)
    probs = np.array([model.probability(r) for r in x])
    np.testing.assert_allclose(probs, model.predict_batch(x), rtol=0, atol=1e-15)
    np.testing.assert_allclose(probs, 1 / (1 + np.exp(-member_raw.mean(axis=0))), atol=1e-12)
    # Not the mean of the members' probabilities (documented choice).
    mean_prob = (1 / (1 + np.exp(-member_raw))).mean(axis=0)
    assert np.abs(probs - mean_prob).max() > 1e-6
    # Path attribution still sums to the (averaged) raw score.
    for row in x[:50]:
        assert model.contributions(row).sum() == pytest.approx(model.forest.raw_score(row),
                                                               rel=1e-9, abs=1e-12)


def test_seed_average_survives_save_and_load(ensemble, tmp_path):
    model, _members, x = ensemble
    loaded = FraudModel.load(model.save(tmp_path / "e"))
    assert loaded.version == model.version
    assert [loaded.probability(r) for r in x[:50]] == [model.probability(r) for r in x[:50]]
    np.testing.assert_array_equal(loaded.predict_batch(x[:50]), model.predict_batch(x[:50]))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_compiled_ensemble_equals_lightgbm_on_any_row(ensemble, data):
    model, _members, x = ensemble
    base = x[data.draw(st.integers(0, len(x) - 1))].copy()
    n = len(base)
    for i in data.draw(st.lists(st.integers(0, n - 1), max_size=12)):
        base[i] = data.draw(st.one_of(
            st.just(np.nan), st.just(0.0), st.just(np.inf), st.just(-np.inf),
            st.floats(-1e6, 1e6, allow_nan=False)))
    assert model.forest.raw_score(base) == float(
        model.booster().predict(base[None, :], raw_score=True)[0])


def test_default_training_is_one_plain_booster(mixed_events):
    """The simulator's weekly retraining calls train_model with the defaults: it must stay
    one LightGBM booster, the same text as calling LightGBM directly."""
    import lightgbm as lgb

    from creditpay.risk.fraud.features import feature_names
    from creditpay.risk.fraud.model import DEFAULT_LGBM_PARAMS

    cfg = FeatureConfig()
    x = compute_features_offline(mixed_events, cfg)[:6_000]
    y = mixed_events["is_fraud"].to_numpy()[:6_000]
    model = train_model(x, y, cfg, num_boost_round=15)
    direct = lgb.train(DEFAULT_LGBM_PARAMS, lgb.Dataset(x, label=y.astype(np.int64),
                                                        feature_name=list(feature_names(cfg))),
                       num_boost_round=15)
    assert model.model_text == direct.model_to_string()
    assert model.manifest["ensemble"]["n_models"] == 1
    assert model.manifest["early_stopping"] is None


def test_early_stopping_on_the_latest_rows_then_refit(mixed_events):
    cfg = FeatureConfig()
    x = compute_features_offline(mixed_events, cfg)[:12_000]
    y = mixed_events["is_fraud"].to_numpy()[:12_000]
    day = mixed_events["day"].to_numpy()[:12_000]
    holdout = day >= day.max() - 4
    model = train_model(x, y, cfg, num_boost_round=120, holdout=holdout,
                        early_stopping_rounds=10, n_models=2)
    info = model.manifest["early_stopping"]
    assert info["holdout_rows"] == int(holdout.sum()) and info["max_rounds"] == 120
    assert 1 <= info["best_iteration"] <= 120
    assert 0.0 < info["best_score"] <= 1.0
    # Refit on every row (hold-out included) with the chosen round count, per member.
    assert model.manifest["num_boost_round"] == info["best_iteration"]
    assert len(model.forest.roots) == 2 * info["best_iteration"]
    assert model.manifest["training"]["rows"] == len(y)
    with pytest.raises(ValidationError) as err:
        train_model(x, y, cfg, num_boost_round=5, holdout=holdout[:-1])
    assert err.value.field == "holdout"
    with pytest.raises(ValidationError) as err:
        train_model(x, y, cfg, num_boost_round=5, holdout=np.zeros(len(y), dtype=bool))
    assert err.value.field == "holdout"
    with pytest.raises(ValidationError) as err:
        train_model(x, y, cfg, num_boost_round=5, n_models=0)
    assert err.value.field == "n_models"


def test_average_model_texts_rejects_mismatched_models(trained, ensemble):
    from creditpay.risk.fraud.model import average_model_texts

    model, _x = trained
    assert average_model_texts([model.model_text]) == model.model_text
    other = model.model_text.replace("objective=binary sigmoid:1",
                                     "objective=binary sigmoid:2", 1)
    with pytest.raises(ValidationError) as err:
        average_model_texts([model.model_text, other])
    assert err.value.field == "models"
    with pytest.raises(ValidationError):
        average_model_texts([])


def test_zero_as_missing_models_use_the_general_path(mixed_events):
    cfg = FeatureConfig()
    x = compute_features_offline(mixed_events, cfg)[:8_000]
    y = mixed_events["is_fraud"].to_numpy()[:8_000]
    model = train_model(x, y, cfg, num_boost_round=20, n_models=2,
                        params={"zero_as_missing": True})
    assert model.forest.has_zero_missing
    rows = x[:300].copy()
    rows[::4, 2] = 0.0
    rows[::5, 5] = np.nan
    np.testing.assert_array_equal([model.forest.raw_score(r) for r in rows],
                                  model.booster().predict(rows, raw_score=True))
