"""Model directory: ``manifest.json`` plus plain-data model files (no pickle).

Layout::

    model-dir/
      manifest.json     what the model is, what it was trained on, how well it did
      scorecard.json    (kind "scorecard") bins, WoE and points of every characteristic
      model.txt         (kind "gbm") LightGBM's own text model
      gbm.json          (kind "gbm") feature encoding, calibrator parameters, scaling
      baseline.json     development-sample distributions of the score and features (PSI)

Loading never executes code from the directory: every file is JSON or LightGBM text, each
file's SHA-256 is checked against the manifest (a changed file is refused), and the manifest
and model contents are validated before a model object is returned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from creditpay.errors import ValidationError
from creditpay.risk.scoring.dataset import CreditDataset, FeatureSpec
from creditpay.risk.scoring.metrics import psi_baseline
from creditpay.risk.scoring.scorecard import PointsScaling, Scorecard

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LoadedModel",
    "development_baseline",
    "load_model",
    "save_model",
]

FORMAT = "creditpay.risk-model"
FORMAT_VERSION = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_LIBRARIES = ("creditpay", "numpy", "pandas", "scikit-learn", "lightgbm", "optbinning")


@dataclass(frozen=True)
class LoadedModel:
    """A validated model and its manifest."""

    model: Any  # Scorecard | GbmModel
    manifest: Mapping[str, Any]
    baseline: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries a model depends on (None when not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def development_baseline(model: Any, data: CreditDataset, n_bins: int = 10) -> dict[str, Any]:
    """Score and feature distributions of the development sample, for later PSI."""
    features = {spec.name: psi_baseline(data.frame[spec.name].to_numpy(), spec.kind, n_bins)
                for spec in model.feature_specs}
    return {"score": psi_baseline(model.score(data.frame), "numeric", n_bins),
            "features": features, "rows": data.n_rows}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_json(path: Path, data: Any) -> None:
    # allow_nan=False: a NaN/inf in a model is a bug; refuse to write it rather than emit
    # non-standard JSON.
    path.write_text(json.dumps(data, indent=1, allow_nan=False, sort_keys=False) + "\n",
                    encoding="utf-8")


def _model_files(model: Any) -> dict[str, str]:
    """File name → text content of the model itself."""
    if model.kind == "scorecard":
        return {"scorecard.json": json.dumps(model.to_json(), indent=1, allow_nan=False) + "\n"}
    encoding = {
        "features": [f.to_json() for f in model.features],
        "vocabularies": {k: list(v) for k, v in model.vocabularies.items()},
        "calibrator": model.calibrator.to_json(),
        "scaling": model.scaling.to_json(),
        "labels": dict(model.labels),
        "config": dict(model.config),
        "max_reasons": model.max_reasons,
    }
    return {"model.txt": model.booster.model_to_string(),
            "gbm.json": json.dumps(encoding, indent=1, allow_nan=False) + "\n"}


def save_model(
    directory: str | Path,
    model: Any,
    *,
    data: CreditDataset,
    created_at: str,
    author: str,
    model_version: str = "1",
    metrics: Mapping[str, Any] | None = None,
    baseline: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` to ``directory`` (created; must be empty if it exists).

    ``created_at`` is passed in (ISO 8601) because the core never reads the clock; ``data``
    is the training data set, whose SHA-256, size and target go into the manifest.
    """
    directory = Path(directory)
    _parse_time(created_at)
    if directory.exists() and any(directory.iterdir()):
        raise ValidationError(f"{str(directory)!r} exists and is not empty", field="out")
    directory.mkdir(parents=True, exist_ok=True)
    files = _model_files(model)
    files["baseline.json"] = json.dumps(
        baseline if baseline is not None else development_baseline(model, data),
        allow_nan=False) + "\n"
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": model.kind,
        "model_version": model_version,
        "created_at": created_at,
        "author": author,
        "training_data": {"sha256": data.sha256, "rows": data.n_rows,
                          "bad_rate": data.bad_rate},
        "target": {"column": data.target, "bad_value": data.bad_value},
        "features": [f.to_json() for f in data.features],
        "model_features": [f.to_json() for f in model.feature_specs],
        "metrics": _plain(metrics or {}),
        "libraries": library_versions(),
        "files": {name: _sha256(directory / name) for name in sorted(files)},
    }
    _write_json(directory / "manifest.json", manifest)
    return directory


def _plain(value: Any) -> Any:
    """numpy scalars → Python numbers so the manifest is plain JSON."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _parse_time(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"created_at {text!r} is not ISO 8601", field="created_at") from exc
    if moment.tzinfo is None:
        raise ValidationError("created_at needs a timezone", field="created_at")
    return moment


def _require(condition: bool, detail: str) -> None:
    if not condition:
        raise ValidationError(f"invalid model manifest: {detail}", field="model")


def _validate_manifest(manifest: Any) -> None:
    _require(isinstance(manifest, dict), "not a JSON object")
    _require(manifest.get("format") == FORMAT, f"format is not {FORMAT!r}")
    _require(manifest.get("format_version") == FORMAT_VERSION,
             f"format_version {manifest.get('format_version')!r} is not {FORMAT_VERSION}")
    _require(manifest.get("kind") in ("scorecard", "gbm"), "kind must be scorecard or gbm")
    for key in ("model_version", "created_at", "author"):
        _require(isinstance(manifest.get(key), str), f"{key} must be a string")
    _parse_time(manifest["created_at"])
    training = manifest.get("training_data")
    _require(isinstance(training, dict), "training_data missing")
    sha = training.get("sha256")
    _require(sha is None or (isinstance(sha, str) and bool(_SHA256.match(sha))),
             "training_data.sha256 must be 64 hex digits")
    _require(isinstance(training.get("rows"), int) and training["rows"] > 0,
             "training_data.rows must be a positive integer")
    target = manifest.get("target")
    _require(isinstance(target, dict) and isinstance(target.get("column"), str)
             and isinstance(target.get("bad_value"), str), "target needs column and bad_value")
    for key in ("features", "model_features"):
        specs = manifest.get(key)
        _require(isinstance(specs, list) and bool(specs), f"{key} must be a non-empty list")
        for spec in specs:
            _require(isinstance(spec, dict) and isinstance(spec.get("name"), str)
                     and spec.get("kind") in ("numeric", "categorical"),
                     f"{key} entries need a name and a kind")
    _require(isinstance(manifest.get("metrics"), dict), "metrics must be an object")
    files = manifest.get("files")
    _require(isinstance(files, dict) and bool(files), "files must list the model files")
    expected = ({"scorecard.json"} if manifest["kind"] == "scorecard"
                else {"model.txt", "gbm.json"}) | {"baseline.json"}
    _require(set(files) == expected, f"files must be exactly {sorted(expected)}")


def load_model(directory: str | Path) -> LoadedModel:
    """Read and validate a model directory written by :func:`save_model`."""
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise ValidationError(f"{str(directory)!r} has no manifest.json", field="model")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"manifest.json is not JSON: {exc}", field="model") from exc
    _validate_manifest(manifest)
    for name, digest in manifest["files"].items():
        path = directory / name
        _require(path.is_file(), f"{name} is missing")
        _require(_sha256(path) == digest, f"{name} does not match its SHA-256 (modified?)")
    try:
        baseline = json.loads((directory / "baseline.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"baseline.json is not JSON: {exc}", field="model") from exc

    if manifest["kind"] == "scorecard":
        model: Any = Scorecard.from_json(_read_json(directory / "scorecard.json"))
    else:
        model = _load_gbm(directory)
    declared = [FeatureSpec(f["name"], f["kind"]) for f in manifest["model_features"]]
    _require(list(model.feature_specs) == declared,
             "model_features differ from the features the model file uses")
    return LoadedModel(model, manifest, baseline)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path.name} is not JSON: {exc}", field="model") from exc


def _load_gbm(directory: Path) -> Any:
    import lightgbm as lgb

    from creditpay.risk.scoring.gbm import Calibrator, GbmModel

    encoding = _read_json(directory / "gbm.json")
    try:
        features = tuple(FeatureSpec(f["name"], f["kind"]) for f in encoding["features"])
        vocabularies = {str(k): tuple(str(c) for c in v)
                        for k, v in encoding["vocabularies"].items()}
        calibrator = Calibrator.from_json(encoding["calibrator"])
        scaling = PointsScaling(**{k: float(v) for k, v in encoding["scaling"].items()})
        labels = {str(k): str(v) for k, v in encoding.get("labels", {}).items()}
        config = dict(encoding.get("config", {}))
        max_reasons = int(encoding.get("max_reasons", 4))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(f"gbm.json is malformed: {exc!r}", field="model") from exc
    categorical = {f.name for f in features if f.kind == "categorical"}
    _require(set(vocabularies) == categorical, "vocabularies must cover the categorical features")
    try:
        booster = lgb.Booster(model_str=(directory / "model.txt").read_text(encoding="utf-8"))
    except lgb.basic.LightGBMError as exc:
        raise ValidationError(f"model.txt is not a LightGBM model: {exc}", field="model") from exc
    _require(booster.num_feature() == len(features),
             "LightGBM model and gbm.json disagree on the number of features")
    return GbmModel(booster, features, vocabularies, calibrator, scaling, labels, config,
                    max_reasons)
