"""Model directories (manifest, no pickle, tamper check) and the HTML/JSON report."""

from __future__ import annotations

import json

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

from creditpay.errors import ValidationError
from creditpay.risk.scoring.artifact import load_model, save_model
from creditpay.risk.scoring.report import build_report, write_report

CREATED = "2025-03-01T09:00:00+00:00"


@pytest.fixture(params=["scorecard", "gbm"])
def saved(request, tmp_path, german, german_scorecard, german_gbm):
    model = german_scorecard if request.param == "scorecard" else german_gbm
    directory = save_model(tmp_path / "model", model, data=german, created_at=CREATED,
                           author="risk team", metrics={"training": {"auc": 0.8}})
    return directory, model


def test_round_trip_scores_identically(saved, german):
    directory, model = saved
    loaded = load_model(directory)
    np.testing.assert_array_equal(loaded.model.predict_pd(german.frame),
                                  model.predict_pd(german.frame))
    manifest = loaded.manifest
    assert manifest["kind"] == model.kind and manifest["created_at"] == CREATED
    assert manifest["training_data"]["sha256"] == german.sha256
    assert manifest["training_data"]["rows"] == 1000
    assert manifest["target"] == {"column": "creditability", "bad_value": "bad"}
    assert {"numpy", "lightgbm", "optbinning", "scikit-learn", "python"} <= set(
        manifest["libraries"])
    assert len(manifest["features"]) == 20
    # Plain data only: JSON and LightGBM text, nothing that unpickles.
    for path in directory.iterdir():
        assert path.suffix in (".json", ".txt")
        assert not path.read_bytes().startswith(b"\x80")


def test_tampered_file_is_refused(saved):
    directory, model = saved
    name = "scorecard.json" if model.kind == "scorecard" else "gbm.json"
    path = directory / name
    path.write_text(path.read_text().replace("0", "1", 1))
    with pytest.raises(ValidationError) as info:
        load_model(directory)
    assert info.value.field == "model" and "SHA-256" in info.value.detail


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [("format_version", 99, "format_version"), ("kind", "neural", "kind"),
     ("created_at", "yesterday", "ISO"), ("features", [], "features")],
)
def test_invalid_manifest_is_refused(saved, key, value, fragment):
    directory, _ = saved
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest[key] = value
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValidationError) as info:
        load_model(directory)
    assert fragment in info.value.detail


def test_save_refuses_bad_time_and_non_empty_directory(tmp_path, german, german_scorecard):
    with pytest.raises(ValidationError) as info:
        save_model(tmp_path / "a", german_scorecard, data=german, created_at="2025-03-01T09:00",
                   author="x")
    assert info.value.field == "created_at"
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "other").write_text("x")
    with pytest.raises(ValidationError) as info:
        save_model(tmp_path / "b", german_scorecard, data=german, created_at=CREATED,
                   author="x")
    assert info.value.field == "out"


def test_report_html_is_self_contained_and_json_mirrors_it(saved, german, tmp_path):
    directory, model = saved
    loaded = load_model(directory)
    baseline = german.subset(np.arange(500))
    report = build_report(loaded, german.subset(np.arange(500, 1000)), baseline)
    html_path, json_path = write_report(report, tmp_path / "out" / "report.html")
    text = html_path.read_text()
    assert "<script src=" not in text  # plotly.js inline: opens offline
    document = json.loads(json_path.read_text())
    expected = {"roc", "ks", "score_distribution", "calibration", "decile_table", "psi_table"}
    assert expected <= set(document["figures"])
    assert ("points_table" in document["figures"]) == (model.kind == "scorecard")
    for name in document["figures"]:
        assert f'id="figure-{name}"' in text
    assert document["tables"]["psi"]["source"] == "baseline data set"
    psi_names = {row["variable"] for row in document["tables"]["psi"]["rows"]}
    assert psi_names == {"score", *(f.name for f in model.feature_specs)}
    assert document["summary"]["rows"] == 500
    deciles = document["tables"]["deciles"]
    assert sum(r["count"] for r in deciles) == 500


def test_report_psi_defaults_to_stored_development_sample(saved, german, tmp_path):
    directory, _ = saved
    report = build_report(load_model(directory), german)
    psi = report.tables["psi"]
    assert psi["source"].startswith("development sample")
    # Same data as development: every PSI is ~0.
    assert max(row["psi"] for row in psi["rows"]) < 1e-9


def test_period_labels_month_quarter_week_and_missing():
    from creditpay.risk.scoring.report import MISSING_PERIOD, period_labels

    values = ["2025-03-31T23:30:00+00:00", "2025-04", None, "2024-12-30"]
    assert period_labels(values, "month") == ["2025-03", "2025-04", MISSING_PERIOD, "2024-12"]
    assert period_labels(values, "quarter") == ["2025-Q1", "2025-Q2", MISSING_PERIOD, "2024-Q4"]
    # ISO weeks: 2024-12-30 is in week 1 of 2025.
    assert period_labels(values, "week")[3] == "2025-W01"
    with pytest.raises(ValidationError) as error:
        period_labels(["yesterday-ish"], "month")
    assert error.value.field == "time_column"
    with pytest.raises(ValidationError):
        period_labels(values, "fortnight")


@given(st.lists(st.tuples(st.sampled_from(["2025-01", "2025-02", "2025-03"]),
                          st.integers(0, 1), st.floats(0.01, 0.99)), min_size=1, max_size=60))
def test_stability_rows_partition_the_data(rows):
    from creditpay.risk.scoring.report import stability_over_time

    periods = [p for p, _, _ in rows]
    bad = np.array([b for _, b, _ in rows])
    pd_ = np.array([q for _, _, q in rows])
    seen = []
    table = stability_over_time(bad, pd_, -pd_, periods,
                                lambda scores: seen.append(len(scores)) or 0.0)
    assert [r["period"] for r in table] == sorted(set(periods))
    assert sum(r["rows"] for r in table) == len(rows) == sum(seen)
    for r in table:
        mask = np.array(periods) == r["period"]
        assert r["bads"] == int(bad[mask].sum())
        assert r["bad_rate"] == pytest.approx(bad[mask].mean())
        assert r["mean_pd"] == pytest.approx(pd_[mask].mean())
        single_class = r["bads"] in (0, r["rows"])
        assert (r["auc"] is None) == single_class == (r["ks"] is None)
