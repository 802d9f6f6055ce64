"""Loading and typing credit data: target encoding, feature kinds, clear errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from creditpay.errors import ValidationError
from creditpay.risk.scoring.dataset import (
    FeatureSpec,
    category_key,
    dataset_from_frame,
    encode_target,
    read_credit_csv,
)


def test_numeric_zero_one_target_defaults_to_one_as_bad():
    bad, text = encode_target(pd.Series([0, 1, 1, 0]), "y", None)
    assert text == "1"
    assert bad.tolist() == [0, 1, 1, 0]


def test_bad_value_matches_as_text_and_as_number():
    assert encode_target(pd.Series([0.0, 1.0]), "y", "1")[0].tolist() == [0, 1]
    assert encode_target(pd.Series(["good", "bad"]), "y", "bad")[0].tolist() == [0, 1]
    # Exact text wins over the numeric reading: "007" is not 7.
    assert encode_target(pd.Series(["007", "7"]), "y", "007")[0].tolist() == [1, 0]
    # Choosing 0 as the bad value flips the labels.
    assert encode_target(pd.Series([0, 1, 1]), "y", "0")[0].tolist() == [1, 0, 0]


@pytest.mark.parametrize(
    ("values", "bad_value", "field", "fragment"),
    [
        (["good", "bad"], None, "bad_value", "--bad-value"),
        ([1, 2], None, "bad_value", "--bad-value"),
        ([0, 1], "2", "bad_value", "does not occur"),
        ([1, 1, 1], None, "target", "single class"),
        ([0, 1, None], None, "target", "missing"),
        (["a", "b", "c"], "a", "target", "binary"),
    ],
)
def test_target_errors_name_the_field(values, bad_value, field, fragment):
    with pytest.raises(ValidationError) as info:
        encode_target(pd.Series(values, dtype=object), "outcome", bad_value)
    assert info.value.field == field
    assert fragment in info.value.detail


def test_missing_target_column_is_named():
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    with pytest.raises(ValidationError) as info:
        dataset_from_frame(frame, "default_flag")
    assert info.value.field == "target"
    assert "'default_flag'" in info.value.detail


def test_feature_kind_rule():
    frame = pd.DataFrame({
        "income": [1000.5, 2000.0, np.nan, 1500.25, 800.0, 900.0],
        "grade": ["A", "B", "A", None, "C", "B"],
        "rating": [1, 2, 3, 4, 1, 2],                       # ≤ 5 integer levels: categorical
        "rating_gappy": [1.0, 2.0, np.nan, 3.0, 1.0, 2.0],  # ints read as float with gaps
        "months": [1, 2, 3, 4, 5, 6],                       # 6 levels: numeric
        "flag": [True, False, True, True, False, False],
        "y": [0, 1, 0, 1, 0, 1],
    })
    data = dataset_from_frame(frame, "y")
    kinds = {f.name: f.kind for f in data.features}
    assert kinds == {"income": "numeric", "grade": "categorical", "rating": "categorical",
                     "rating_gappy": "categorical", "months": "numeric", "flag": "categorical"}
    assert data.frame["rating_gappy"].tolist() == ["1", "2", None, "3", "1", "2"]
    assert data.frame["grade"].tolist()[3] is None
    assert np.isnan(data.frame["income"][2])
    overridden = dataset_from_frame(frame, "y", numeric=["rating"], categorical=["months"],
                                    exclude=["flag"])
    kinds = {f.name: f.kind for f in overridden.features}
    assert kinds["rating"] == "numeric" and kinds["months"] == "categorical"
    assert "flag" not in kinds


def test_unknown_override_column_is_named():
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    with pytest.raises(ValidationError) as info:
        dataset_from_frame(frame, "y", exclude=["nope"])
    assert info.value.field == "nope"


def test_model_features_must_be_present_and_numeric():
    frame = pd.DataFrame({"x": ["a", "b"], "y": [0, 1]})
    with pytest.raises(ValidationError) as info:
        dataset_from_frame(frame, "y", features=[FeatureSpec("z", "numeric")])
    assert info.value.field == "z"
    with pytest.raises(ValidationError) as info:
        dataset_from_frame(frame, "y", features=[FeatureSpec("x", "numeric")])
    assert info.value.field == "x"


def test_category_key_normalises():
    assert category_key(4) == category_key(4.0) == category_key(np.int64(4)) == "4"
    assert category_key(None) is None and category_key(float("nan")) is None
    assert category_key("A") == "A"
    assert category_key(2.5) == "2.5"


def test_read_csv_hashes_the_exact_bytes(tmp_path, german_path):
    data = read_credit_csv(german_path, "creditability", "bad")
    assert data.sha256 == hashlib.sha256(german_path.read_bytes()).hexdigest()
    assert data.n_rows == 1000 and data.bad_rate == pytest.approx(0.3)
    with pytest.raises(ValidationError) as info:
        read_credit_csv(tmp_path / "absent.csv", "creditability", "bad")
    assert info.value.field == "data"
