import json

import numpy as np
import pytest

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
