"""Fraud model: LightGBM on the streaming features, a numpy single-row scorer, decisions.

* Training uses LightGBM; the model is stored as LightGBM's text format plus a JSON
  manifest (feature configuration, feature names, parameters, thresholds): no pickle.
* Serving does not call LightGBM per payment: :class:`CompiledForest` parses the model text
  into flat numpy arrays and scores one row by walking all trees at once, level by level,
  reading only the node each tree is at (a few gathers per level). It adds leaf values in
  tree order, as LightGBM does, so raw scores equal LightGBM's.
* Opt-in seed averaging (``train_model(n_models=k)``) merges k boosters into one model text
  whose raw score is the mean of theirs (:func:`average_model_texts`); opt-in early
  stopping (``holdout=``) picks the round count on the latest rows, then refits.
* Decisions: score thresholds per payment scenario and amount band
  (:class:`DecisionPolicy`, versioned data), approve < challenge < review < decline.
  Reasons for a non-approve decision are the top path-attribution contributions over the
  compiled forest (:meth:`CompiledForest.path_contributions`, ~0.04 ms); LightGBM's exact
  TreeSHAP (``pred_contrib=True``, ~0.2-4 ms a row) stays available with ``method="shap"``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from creditpay.errors import ValidationError
from creditpay.risk.fraud.features import FeatureConfig, feature_names

__all__ = [
    "SCENARIOS",
    "DECISIONS",
    "DEFAULT_LGBM_PARAMS",
    "DEFAULT_NUM_BOOST_ROUND",
    "DecisionPolicy",
    "ScoringModel",
    "ThresholdRow",
    "CompiledForest",
    "FraudModel",
    "train_model",
    "average_model_texts",
]

SCENARIOS: tuple[str, ...] = ("online", "offline_qr", "social", "rental", "p2p")
DECISIONS: tuple[str, ...] = ("approve", "challenge", "review", "decline")  # by severity
MODEL_FORMAT = "creditpay.fraud.model/1"

# Fixed a priori (not tuned on any test window). Small trees keep single-row scoring cheap:
# max_depth bounds the number of gathers per prediction.
DEFAULT_LGBM_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "max_depth": 6,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_threads": 2,
    "seed": 0,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
DEFAULT_NUM_BOOST_ROUND = 200


# --------------------------------------------------------------------------- thresholds
@dataclass(frozen=True)
class ThresholdRow:
    """Score thresholds for one scenario (``"*"`` = any) up to ``amount_minor_max``
    (inclusive; ``None`` = no upper bound). Scores are probabilities in [0, 1]."""

    scenario: str
    amount_minor_max: int | None
    challenge: float
    review: float
    decline: float


@dataclass(frozen=True)
class DecisionPolicy:
    """Versioned score thresholds; the first row matching scenario and amount applies."""

    version: str
    rows: tuple[ThresholdRow, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecisionPolicy:
        if not isinstance(data, dict):
            raise ValidationError("thresholds document must be an object", field="thresholds")
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise ValidationError("thresholds need a non-empty string version", field="version")
        raw_rows = data.get("rows")
        if not isinstance(raw_rows, list) or not raw_rows:
            raise ValidationError("thresholds need a non-empty list of rows", field="rows")
        rows = []
        for i, raw in enumerate(raw_rows):
            where = f"rows[{i}]"
            if not isinstance(raw, dict):
                raise ValidationError(f"{where} must be an object", field=where)
            unknown = set(raw) - {"scenario", "amount_minor_max", "challenge", "review",
                                  "decline"}
            if unknown:
                raise ValidationError(f"{where}: unknown keys {sorted(unknown)}", field=where)
            scenario = raw.get("scenario", "*")
            if scenario != "*" and scenario not in SCENARIOS:
                raise ValidationError(f"{where}: scenario must be '*' or one of {SCENARIOS}",
                                      field=f"{where}.scenario")
            amount_max = raw.get("amount_minor_max")
            if amount_max is not None and (not isinstance(amount_max, int)
                                           or isinstance(amount_max, bool) or amount_max < 0):
                raise ValidationError(f"{where}: amount_minor_max must be a non-negative int",
                                      field=f"{where}.amount_minor_max")
            levels = []
            for name in ("challenge", "review", "decline"):
                value = raw.get(name)
                if (not isinstance(value, int | float) or isinstance(value, bool)
                        or not 0.0 <= value <= 1.0):
                    raise ValidationError(f"{where}: {name} must be a number in [0, 1]",
                                          field=f"{where}.{name}")
                levels.append(float(value))
            if not levels[0] <= levels[1] <= levels[2]:
                raise ValidationError(f"{where}: need challenge <= review <= decline",
                                      field=where)
            rows.append(ThresholdRow(scenario, amount_max, *levels))
        if not any(r.scenario == "*" and r.amount_minor_max is None for r in rows):
            raise ValidationError("thresholds need a catch-all row (scenario '*', no amount "
                                  "bound)", field="rows")
        return cls(version=version, rows=tuple(rows))

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "rows": [
            {"scenario": r.scenario, "amount_minor_max": r.amount_minor_max,
             "challenge": r.challenge, "review": r.review, "decline": r.decline}
            for r in self.rows]}

    def row_for(self, scenario: str, amount_minor: int) -> ThresholdRow:
        for row in self.rows:
            if row.scenario not in ("*", scenario):
                continue
            if row.amount_minor_max is not None and amount_minor > row.amount_minor_max:
                continue
            return row
        raise AssertionError("validated policies always have a catch-all row")

    def decide(self, score: float, scenario: str, amount_minor: int) -> str:
        row = self.row_for(scenario, amount_minor)
        if score >= row.decline:
            return "decline"
        if score >= row.review:
            return "review"
        if score >= row.challenge:
            return "challenge"
        return "approve"


DEFAULT_POLICY = DecisionPolicy.from_dict({
    "version": "fraud-thresholds-2024.1",
    "rows": [
        # Peer-to-peer transfers are irreversible: step up earlier.
        {"scenario": "p2p", "amount_minor_max": None,
         "challenge": 0.15, "review": 0.4, "decline": 0.8},
        # Small payments: a challenge costs more conversion than the fraud loss.
        {"scenario": "*", "amount_minor_max": 5_000,
         "challenge": 0.5, "review": 0.8, "decline": 0.95},
        {"scenario": "*", "amount_minor_max": 500_000,
         "challenge": 0.25, "review": 0.5, "decline": 0.9},
        {"scenario": "*", "amount_minor_max": None,
         "challenge": 0.1, "review": 0.3, "decline": 0.8},
    ],
})


# --------------------------------------------------------------------------- compiled forest
def _parse_model_text(text: str) -> list[dict[str, str]]:
    trees: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("Tree="):
            current = {}
            trees.append(current)
        elif line.startswith("end of trees"):
            break
        elif current is not None and "=" in line:
            key, value = line.split("=", 1)
            current[key] = value
    return trees


@dataclass(frozen=True)
class CompiledForest:
    """All trees as flat node arrays; leaves point to themselves so every tree can be
    walked for ``depth`` steps at once."""

    split_feature: np.ndarray  # int64 per node (0 for leaves)
    threshold: np.ndarray  # float64 per node (+inf for leaves)
    nan_left: np.ndarray  # bool: where NaN goes at this node
    nan_is_missing: np.ndarray  # bool: missing type NaN (else NaN is compared as 0.0)
    zero_missing: np.ndarray  # bool: node treats |x| <= 1e-35 as missing (default side)
    default_left: np.ndarray  # bool
    left: np.ndarray  # int64 next node if x <= threshold
    right: np.ndarray  # int64 otherwise
    leaf_value: np.ndarray  # float64 per node (0 for internal nodes)
    roots: np.ndarray  # int64 root node per tree
    depth: int
    n_features: int
    sigmoid: float
    has_zero_missing: bool = field(default=False)
    # Expected raw score of every node (LightGBM's ``internal_value`` for internal nodes,
    # the leaf value for leaves): what path attribution differences along the route.
    node_value: np.ndarray | None = field(default=None)

    @classmethod
    def from_model_text(cls, text: str) -> CompiledForest:
        header = text.split("Tree=", 1)[0]
        n_features = 0
        sigmoid = 1.0
        for line in header.splitlines():
            if line.startswith("max_feature_idx="):
                n_features = int(line.split("=", 1)[1]) + 1
            if line.startswith("objective="):
                objective = line.split("=", 1)[1].split()
                if objective[0] != "binary":
                    raise ValidationError("only binary models are supported", field="objective")
                for part in objective[1:]:
                    if part.startswith("sigmoid:"):
                        sigmoid = float(part.split(":", 1)[1])
        feats: list[np.ndarray] = []
        thrs: list[np.ndarray] = []
        nan_lefts: list[np.ndarray] = []
        nan_missing: list[np.ndarray] = []
        zero_missing: list[np.ndarray] = []
        default_lefts: list[np.ndarray] = []
        lefts: list[np.ndarray] = []
        rights: list[np.ndarray] = []
        values: list[np.ndarray] = []
        node_values: list[np.ndarray] = []
        roots: list[int] = []
        depth = 0
        offset = 0
        for tree in _parse_model_text(text):
            n_leaves = int(tree["num_leaves"])
            leaf_vals = np.array(tree["leaf_value"].split(), dtype=np.float64)
            n_internal = n_leaves - 1
            n_nodes = n_internal + n_leaves
            feat = np.zeros(n_nodes, dtype=np.int64)
            thr = np.full(n_nodes, np.inf)
            nan_left = np.zeros(n_nodes, dtype=bool)
            nan_miss = np.zeros(n_nodes, dtype=bool)
            zero_miss = np.zeros(n_nodes, dtype=bool)
            dleft = np.zeros(n_nodes, dtype=bool)
            leaf_index = np.arange(n_leaves)
            node_left = np.zeros(n_nodes, dtype=np.int64)
            node_right = np.zeros(n_nodes, dtype=np.int64)
            value = np.zeros(n_nodes)
            # Leaves live after the internal nodes and loop onto themselves.
            node_left[n_internal:] = offset + n_internal + leaf_index
            node_right[n_internal:] = offset + n_internal + leaf_index
            value[n_internal:] = leaf_vals
            expected = value.copy()
            if n_internal:
                expected[:n_internal] = np.array(tree["internal_value"].split(),
                                                 dtype=np.float64)
            if n_internal:
                decision = np.array(tree["decision_type"].split(), dtype=np.int64)
                if (decision & 1).any():
                    raise ValidationError("categorical splits are not supported",
                                          field="decision_type")
                missing_type = (decision >> 2) & 3  # 0 none, 1 zero, 2 NaN
                dl = (decision & 2) > 0
                feat[:n_internal] = np.array(tree["split_feature"].split(), dtype=np.int64)
                thr[:n_internal] = np.array(tree["threshold"].split(), dtype=np.float64)
                dleft[:n_internal] = dl
                zero_miss[:n_internal] = missing_type == 1
                nan_miss[:n_internal] = missing_type == 2
                # LightGBM: NaN is the "missing" value for type NaN (goes to the default
                # side); for the other types NaN is first converted to 0.0 and compared.
                nan_left[:n_internal] = np.where(missing_type == 0,
                                                 0.0 <= thr[:n_internal], dl)
                for children, target in ((tree["left_child"], node_left),
                                         (tree["right_child"], node_right)):
                    child = np.array(children.split(), dtype=np.int64)
                    # Negative child c is leaf ~c (= -c - 1).
                    target[:n_internal] = np.where(child >= 0, offset + child,
                                                   offset + n_internal + (-child - 1))
                depth = max(depth, _tree_depth(node_left - offset, node_right - offset,
                                               n_internal))
            for lst, arr in ((feats, feat), (thrs, thr), (nan_lefts, nan_left),
                             (nan_missing, nan_miss),
                             (zero_missing, zero_miss), (default_lefts, dleft),
                             (lefts, node_left), (rights, node_right), (values, value),
                             (node_values, expected)):
                lst.append(arr)
            roots.append(offset)  # node 0 (a leaf for a single-leaf tree)
            offset += n_nodes
        if not roots:
            raise ValidationError("model has no trees", field="model")
        zero_all = np.concatenate(zero_missing)
        return cls(split_feature=np.concatenate(feats), threshold=np.concatenate(thrs),
                   nan_left=np.concatenate(nan_lefts),
                   nan_is_missing=np.concatenate(nan_missing), zero_missing=zero_all,
                   default_left=np.concatenate(default_lefts), left=np.concatenate(lefts),
                   right=np.concatenate(rights), leaf_value=np.concatenate(values),
                   roots=np.array(roots, dtype=np.int64), depth=depth,
                   n_features=n_features, sigmoid=sigmoid,
                   has_zero_missing=bool(zero_all.any()),
                   node_value=np.concatenate(node_values))

    @property
    def n_nodes(self) -> int:
        return len(self.split_feature)

    def raw_score(self, x: np.ndarray) -> float:
        """Raw (log-odds) score of one float64 feature row; NaN = missing."""
        if self.has_zero_missing:
            node = self.roots
            for nxt in self._walk(x):
                node = nxt
            leaves = self.leaf_value[node]
        else:
            # _walk's loop with every index doubled (2 * node, arrays repeated twice), so a
            # step is 6 small numpy calls instead of 7: this is the per-payment hot path.
            widened = self._widened_row(x)
            feature, threshold, children, leaf_value = self._doubled
            at = 2 * self.roots
            for _ in range(self.depth):
                at = children[at + (widened[feature[at]] <= threshold[at])]
            leaves = leaf_value[at]
        # Tree order, left to right, like LightGBM's own accumulation.
        return float(np.cumsum(leaves)[-1])

    @property
    def _doubled(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        cached = self.__dict__.get("_doubled_cache")
        if cached is None:
            cached = (np.repeat(self._widened_feature, 2), np.repeat(self.threshold, 2),
                      2 * self._children, np.repeat(self.leaf_value, 2))
            object.__setattr__(self, "_doubled_cache", cached)
        return cached

    def _walk(self, x: np.ndarray) -> Iterator[np.ndarray]:
        """The node of every tree after each of ``depth`` steps from the roots (leaves
        stay put). Only the nodes on the row's paths are read: a step costs a few gathers
        over one entry per tree, so the cost follows trees x depth, not the node count
        (seed-averaged forests have thousands of nodes)."""
        if self.has_zero_missing:
            step = self._step_general(x)
            node = self.roots
            for _ in range(self.depth):
                node = step[node]
                yield node
            return
        widened = self._widened_row(x)
        feature, threshold = self._widened_feature, self.threshold
        children = self._children
        node = self.roots
        for _ in range(self.depth):
            # children[2 * node] is the right child, children[2 * node + 1] the left one.
            go_left = widened[feature[node]] <= threshold[node]
            node = children[2 * node + go_left]
            yield node

    @property
    def _children(self) -> np.ndarray:
        cached = self.__dict__.get("_children_cache")
        if cached is None:
            cached = np.stack([self.right, self.left], axis=1).ravel()
            object.__setattr__(self, "_children_cache", cached)
        return cached

    def path_contributions(self, x: np.ndarray) -> np.ndarray:
        """Path attribution of one row's raw score (log-odds units), length
        ``n_features + 1``: for every split on the row's route through every tree, the
        change of the node's expected raw score from the node to the child taken is
        credited to the split feature; the last entry is the bias (sum of the roots'
        expected values). The entries sum to :meth:`raw_score` up to float rounding.
        One gather and one ``bincount`` per tree level, so it costs about as much as
        scoring (TreeSHAP via LightGBM ``pred_contrib`` costs 10-100 times more)."""
        if self.node_value is None:
            raise ValidationError("model has no node values", field="model")
        node = self.roots
        totals = np.zeros(self.n_features + 1)
        values = self.node_value
        features = self.split_feature
        for nxt in self._walk(x):
            # Leaves loop onto themselves: their difference is 0, so they add nothing.
            totals[:-1] += np.bincount(features[node], weights=values[nxt] - values[node],
                                       minlength=self.n_features)
            node = nxt
        totals[-1] = float(values[self.roots].sum())
        return totals

    def _step(self, x: np.ndarray) -> np.ndarray:
        """Next node of every node for row ``x`` (leaves map to themselves)."""
        if self.has_zero_missing:
            return self._step_general(x)
        return np.where(self._widened_row(x)[self._widened_feature] <= self.threshold,
                        self.left, self.right)

    def _widened_row(self, x: np.ndarray) -> np.ndarray:
        n = self.n_features
        # Three copies of the row in which NaN became 0.0 / -inf / stays NaN: each node reads
        # the copy that sends NaN where LightGBM would (0.0 for missing type None; -inf goes
        # left and NaN goes right (NaN <= t is false) for missing type NaN), so no per-node
        # missing logic remains. (+inf would not do for "right": thresholds can be +inf.)
        widened = np.concatenate((x, x, x), dtype=np.float64)
        missing = np.isnan(x)
        if missing.any():
            widened[:n][missing] = 0.0
            widened[n:2 * n][missing] = -np.inf
        return widened

    @property
    def _widened_feature(self) -> np.ndarray:
        cached = self.__dict__.get("_widened_cache")
        if cached is None:
            # Type-NaN nodes read the -inf copy when NaN goes left, the NaN copy otherwise;
            # type-None nodes read the 0.0 copy.
            variant = np.where(self.nan_is_missing, np.where(self.nan_left, 1, 2), 0)
            cached = self.split_feature + variant * self.n_features
            object.__setattr__(self, "_widened_cache", cached)
        return cached

    def _step_general(self, x: np.ndarray) -> np.ndarray:
        values = x[self.split_feature]
        go_left = values <= self.threshold
        missing = np.isnan(values)
        if missing.any():
            go_left = np.where(missing, self.nan_left, go_left)
        is_zero = self.zero_missing & (np.abs(values) <= 1e-35)
        go_left = np.where(is_zero, self.default_left, go_left)
        return np.where(go_left, self.left, self.right)

    def probability(self, x: np.ndarray) -> float:
        return 1.0 / (1.0 + math.exp(-self.sigmoid * self.raw_score(x)))


def _tree_depth(left: np.ndarray, right: np.ndarray, n_internal: int) -> int:
    """Longest root-to-leaf path (edges) of one tree, nodes numbered from 0."""
    depth = 0
    frontier = [(0, 0)]
    while frontier:
        node, d = frontier.pop()
        if node >= n_internal:
            depth = max(depth, d)
            continue
        frontier.append((int(left[node]), d + 1))
        frontier.append((int(right[node]), d + 1))
    return depth


# --------------------------------------------------------------------------- model
class ScoringModel(Protocol):
    """What a :class:`~creditpay.risk.fraud.screening.Screener` needs of a model: a trained
    :class:`FraudModel`, or a stand-in such as payments' rules-only model."""

    @property
    def feature_config(self) -> FeatureConfig: ...
    @property
    def policy(self) -> DecisionPolicy: ...
    @property
    def version(self) -> str: ...
    @property
    def feature_names(self) -> tuple[str, ...]: ...
    def probability(self, x: np.ndarray) -> float: ...
    def top_reasons(self, x: np.ndarray, k: int = 3) -> tuple[str, ...]: ...


@dataclass
class FraudModel:
    """A trained model: LightGBM text, its manifest and the compiled scorer."""

    model_text: str
    manifest: dict[str, Any]
    forest: CompiledForest
    feature_config: FeatureConfig
    policy: DecisionPolicy
    _booster: Any = field(default=None, repr=False)

    @property
    def version(self) -> str:
        return str(self.manifest["model_version"])

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["feature_names"])

    def probability(self, x: np.ndarray) -> float:
        return self.forest.probability(x)

    def booster(self) -> Any:
        if self._booster is None:
            import lightgbm as lgb

            self._booster = lgb.Booster(model_str=self.model_text)
        return self._booster

    def predict_batch(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for many rows with LightGBM itself (offline evaluation)."""
        return np.asarray(self.booster().predict(x, num_threads=2))

    def contributions(self, x: np.ndarray, method: str = "path") -> np.ndarray:
        """Per-feature contributions to the raw score of one row, plus the bias last.

        ``"path"`` (default, serving): path attribution over the compiled forest
        (:meth:`CompiledForest.path_contributions`, tens of microseconds).
        ``"shap"``: LightGBM's exact TreeSHAP (``pred_contrib=True``; 0.5-5 ms a row)."""
        if method == "path":
            return self.forest.path_contributions(x)
        if method == "shap":
            # One thread: OpenMP workers spinning after a one-row call only steal the core.
            return np.asarray(self.booster().predict(x[None, :], pred_contrib=True,
                                                     num_threads=1))[0]
        raise ValidationError("method must be 'path' or 'shap'", field="method")

    def top_reasons(self, x: np.ndarray, k: int = 3, method: str = "path") -> tuple[str, ...]:
        """The ``k`` features pushing the score up most (see :meth:`contributions`)."""
        contrib = self.contributions(x, method)[:-1]
        order = np.argsort(-contrib, kind="stable")[:k]
        names = self.feature_names
        return tuple(f"{names[i]}={_fmt(x[i])} (+{contrib[i]:.3f})"
                     for i in order if contrib[i] > 0)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / "model.txt").write_text(self.model_text, encoding="utf-8")
        manifest = dict(self.manifest, thresholds=self.policy.to_dict())
        (path / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True),
                                            encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> FraudModel:
        path = Path(directory)
        text = (path / "model.txt").read_text(encoding="utf-8")
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        return cls.from_parts(text, manifest)

    @classmethod
    def from_parts(cls, model_text: str, manifest: dict[str, Any]) -> FraudModel:
        if manifest.get("format") != MODEL_FORMAT:
            raise ValidationError(f"manifest format must be {MODEL_FORMAT}", field="format")
        config = FeatureConfig.from_dict(manifest["feature_config"])
        names = feature_names(config)
        if tuple(manifest.get("feature_names", ())) != names:
            raise ValidationError("manifest feature names do not match its feature config",
                                  field="feature_names")
        if manifest.get("model_version") != _model_version(model_text):
            raise ValidationError("model text does not match the manifest's model_version",
                                  field="model_version")
        forest = CompiledForest.from_model_text(model_text)
        if forest.n_features != len(names):
            raise ValidationError("model feature count differs from the manifest",
                                  field="feature_names")
        policy = DecisionPolicy.from_dict(manifest.get("thresholds") or DEFAULT_POLICY.to_dict())
        return cls(model_text=model_text, manifest=manifest, forest=forest,
                   feature_config=config, policy=policy)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "missing"
    return f"{value:.4g}"


def _model_version(model_text: str) -> str:
    return "lgbm-" + hashlib.sha256(model_text.encode("utf-8")).hexdigest()[:12]


def average_model_texts(texts: list[str]) -> str:
    """One LightGBM model text whose raw score is the **mean of the raw scores** (log-odds)
    of the given binary models: their trees concatenated in order (member 0's trees first),
    every leaf value, internal value and shrinkage multiplied by ``1 / k``.

    So the probability of the result is ``sigmoid(mean_i raw_i)`` (the geometric mean of the
    members' odds), *not* the mean of their probabilities: LightGBM combines trees by adding
    raw scores, and only raw-space averaging keeps the ensemble one additive forest that
    LightGBM itself, :class:`CompiledForest` and the path attribution all read the same way
    (they agree exactly on the result, tested). The members must share their header
    (features, objective); LightGBM's ``tree_sizes`` index and feature importances are
    dropped (they describe one member; LightGBM parses the trees sequentially without the
    index)."""
    if not texts:
        raise ValidationError("need at least one model", field="models")
    if len(texts) == 1:
        return texts[0]
    scale = 1.0 / len(texts)
    headers, bodies = [], []
    for text in texts:
        head, rest = text.split("\nTree=", 1)
        body, _tail = ("Tree=" + rest).split("end of trees", 1)
        headers.append([line for line in head.splitlines()
                        if not line.startswith("tree_sizes=")])
        bodies.append(body)
    if any(h != headers[0] for h in headers[1:]):
        raise ValidationError("models differ in features or objective", field="models")
    tail = texts[0].split("end of trees", 1)[1]
    if "feature_importances:" in tail and "parameters:" in tail:
        before, after = tail.split("feature_importances:", 1)
        tail = before + "parameters:" + after.split("parameters:", 1)[1]
    out = ["\n".join(headers[0]), ""]
    index = 0
    for body in bodies:
        for block in body.split("Tree=")[1:]:
            lines = block.rstrip("\n").split("\n")
            out.append(f"Tree={index}")
            for line in lines[1:]:
                key, _, value = line.partition("=")
                if key in ("leaf_value", "internal_value", "shrinkage") and value:
                    line = key + "=" + " ".join(repr(float(v) * scale)
                                                for v in value.split())
                out.append(line)
            out.append("")
            out.append("")
            index += 1
    return "\n".join(out) + "end of trees" + tail


def train_model(x: np.ndarray, y: np.ndarray, feature_config: FeatureConfig, *,
                params: dict[str, Any] | None = None,
                num_boost_round: int = DEFAULT_NUM_BOOST_ROUND,
                policy: DecisionPolicy | None = None,
                training_info: dict[str, Any] | None = None,
                n_models: int = 1,
                holdout: np.ndarray | None = None,
                early_stopping_rounds: int = 30) -> FraudModel:
    """Train LightGBM on feature rows ``x`` (float64, NaN = missing) and 0/1 labels ``y``.

    Opt-in (the defaults train one booster of ``num_boost_round`` rounds, as before):

    * ``holdout`` (bool mask, the *latest* rows of the window): early stopping. A booster
      is trained on the other rows, evaluated on the hold-out by average precision after
      every round, stopped after ``early_stopping_rounds`` rounds without improvement
      (``num_boost_round`` is then the cap); the model is refitted on *all* rows with the
      best round count.
    * ``n_models`` = k > 1: seed averaging. k boosters with seeds ``seed, seed + 1, ...``
      (bagging and feature fraction below 1 make them differ), the same round count, merged
      by :func:`average_model_texts` into one forest whose raw score is the mean of the
      members' raw scores. Scoring cost grows k-fold (k times the nodes)."""
    import lightgbm as lgb

    names = feature_names(feature_config)
    if x.ndim != 2 or x.shape[1] != len(names):
        raise ValidationError(f"x must have {len(names)} feature columns", field="x")
    if len(y) != len(x):
        raise ValidationError("y must have one label per row", field="y")
    labels = np.asarray(y).astype(np.int64)
    if not set(np.unique(labels).tolist()) <= {0, 1}:
        raise ValidationError("labels must be 0 or 1", field="y")
    if isinstance(n_models, bool) or not isinstance(n_models, int) or not 1 <= n_models <= 16:
        raise ValidationError("n_models must be an integer from 1 to 16", field="n_models")
    merged = dict(DEFAULT_LGBM_PARAMS, **(params or {}))
    if int(merged.get("num_threads", 2)) > 2:
        raise ValidationError("num_threads must be <= 2 on shared machines", field="num_threads")
    early_stopping: dict[str, Any] | None = None
    if holdout is not None:
        mask = np.asarray(holdout, dtype=bool)
        if mask.shape != labels.shape:
            raise ValidationError("holdout must be one boolean per row", field="holdout")
        if early_stopping_rounds < 1:
            raise ValidationError("early_stopping_rounds must be >= 1",
                                  field="early_stopping_rounds")
        if labels[mask].sum() == 0 or labels[~mask].sum() == 0:
            raise ValidationError("holdout and the rest both need a fraud", field="holdout")
        fit = lgb.Dataset(x[~mask], label=labels[~mask], feature_name=list(names))
        valid = lgb.Dataset(x[mask], label=labels[mask], reference=fit)
        probe = lgb.train(dict(merged, metric="average_precision"), fit,
                          num_boost_round=num_boost_round, valid_sets=[valid],
                          callbacks=[lgb.early_stopping(early_stopping_rounds,
                                                        verbose=False)])
        best = int(probe.best_iteration) or num_boost_round
        early_stopping = {"holdout_rows": int(mask.sum()), "metric": "average_precision",
                          "patience": early_stopping_rounds, "max_rounds": num_boost_round,
                          "best_iteration": best,
                          "best_score": float(probe.best_score["valid_0"]
                                              ["average_precision"])}
        num_boost_round = best
    dataset = lgb.Dataset(x, label=labels, feature_name=list(names), free_raw_data=True)
    seed = int(merged.get("seed", 0))
    boosters = [lgb.train(dict(merged, seed=seed + i), dataset, num_boost_round=num_boost_round)
                for i in range(n_models)]
    text = average_model_texts([b.model_to_string() for b in boosters])
    manifest = {
        "format": MODEL_FORMAT,
        "model_version": _model_version(text),
        "feature_config": feature_config.to_dict(),
        "feature_config_version": feature_config.version,
        "feature_names": list(names),
        "lightgbm_params": merged,
        "num_boost_round": num_boost_round,
        "training": dict(training_info or {}, rows=int(len(labels)),
                         frauds=int(labels.sum())),
        "thresholds": (policy or DEFAULT_POLICY).to_dict(),
        "ensemble": {"n_models": n_models, "seeds": [seed + i for i in range(n_models)],
                     "combine": "mean of raw scores (log-odds)"},
        "early_stopping": early_stopping,
    }
    model = FraudModel.from_parts(text, manifest)
    if n_models == 1:
        model._booster = boosters[0]
    return model
