"""Model registry: versioned model artifacts in the database, champion/challenger, rollback.

A registered model is the whole model directory (manifest + JSON / LightGBM text files, no
pickle) stored in ``risk_models`` under a name ("application", "behaviour") and a version
number, with its provenance: training-data SHA-256, features, metrics, author. Loading
re-checks every file's SHA-256 through :func:`creditpay.risk.scoring.artifact.load_model`, so
a row edited in the database is refused, and decisions replay against exactly the model that
made them.

Which version decides is an append-only assignment history (``risk_model_assignments``): the
newest row names the champion and optionally a challenger with a share of traffic in basis
points. The split is a deterministic hash of the application id, so a retried or replayed
application always meets the same model. :func:`rollback` re-appends the previous assignment.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, StateError, ValidationError
from creditpay.platform.approvals import StaleProposalError
from creditpay.risk.features.declarations import FEATURES
from creditpay.risk.scoring.artifact import LoadedModel, load_model

__all__ = [
    "Assignment",
    "ModelVersion",
    "assign",
    "current_assignment",
    "list_models",
    "load_registered",
    "model_by_artifact",
    "promote",
    "promotion_proposal",
    "promote_proposed",
    "register_model",
    "rollback",
    "route",
    "select_model",
]

_BPS = 10_000
_CACHE_MAX = 16
_DECLARED = {f.name: f.kind for f in FEATURES}
_BEHAVIOUR = {"utilisation", "dpd_current", "dpd_max_6m", "on_time_share_6m", "months_on_book",
              "payments_count_90d"}


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: int
    kind: str
    artifact_sha256: str
    training_data_sha256: str | None
    features: tuple[str, ...]
    metrics: Mapping[str, Any]
    author: str
    registered_at: Any
    registered_by: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "kind": self.kind,
                "artifact_sha256": self.artifact_sha256,
                "training_data_sha256": self.training_data_sha256,
                "features": list(self.features), "metrics": dict(self.metrics),
                "author": self.author, "registered_at": str(self.registered_at),
                "registered_by": self.registered_by}


@dataclass(frozen=True, slots=True)
class Assignment:
    name: str
    champion_version: int
    challenger_version: int | None
    challenger_share_bps: int
    assigned_at: Any
    actor: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "champion_version": self.champion_version,
                "challenger_version": self.challenger_version,
                "challenger_share_bps": self.challenger_share_bps,
                "assigned_at": str(self.assigned_at), "actor": self.actor, "reason": self.reason}


def _tables() -> Any:
    from creditpay.risk.decisions import tables
    return tables


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or len(name) > 64:
        raise ValidationError("model name must be 1-64 characters", field="name")
    return name


def register_model(tx: Tx, directory: str | Path, *, name: str, registered_by: str
                   ) -> ModelVersion:
    """Validate a model directory and store it as the next version of ``name``.

    Registering the same artifact again returns the existing version (idempotent). The
    model's features must be declared features (see :mod:`creditpay.risk.features`) of the
    same kind, or behaviour features for behaviour models, so serving can compute them.
    """
    t = _tables()
    _check_name(name)
    if not isinstance(registered_by, str) or not registered_by.strip():
        raise ValidationError("registered_by must be named", field="registered_by")
    directory = Path(directory)
    loaded = load_model(directory)  # validates manifest and every file's SHA-256
    for spec in loaded.model.feature_specs:
        declared = _DECLARED.get(spec.name)
        if declared is None and spec.name not in _BEHAVIOUR:
            raise ValidationError(f"model feature {spec.name!r} is not a declared feature",
                                  field=f"model_features.{spec.name}")
        if declared is not None and declared != spec.kind:
            raise ValidationError(f"model feature {spec.name!r} is {spec.kind}, declared "
                                  f"{declared}", field=f"model_features.{spec.name}")
    manifest_bytes = (directory / "manifest.json").read_bytes()
    artifact = hashlib.sha256(manifest_bytes).hexdigest()
    existing = tx.conn.execute(select(t.risk_models).where(
        t.risk_models.c.name == name, t.risk_models.c.artifact_sha256 == artifact)).first()
    if existing is not None:
        return _version(existing)
    files = {n: (directory / n).read_bytes().decode("utf-8")
             for n in [*loaded.manifest["files"], "manifest.json"]}
    version = (tx.conn.execute(select(func.max(t.risk_models.c.version)).where(
        t.risk_models.c.name == name)).scalar() or 0) + 1
    manifest = loaded.manifest
    tx.conn.execute(t.risk_models.insert().values(
        name=name, version=version, kind=loaded.kind, artifact_sha256=artifact,
        training_data_sha256=manifest["training_data"].get("sha256"),
        features=[f["name"] for f in manifest["model_features"]],
        metrics=manifest["metrics"], author=manifest["author"], manifest=dict(manifest),
        files=files, registered_at=tx.now, registered_by=registered_by))
    tx.emit("risk.model.registered", "risk_model", f"{name}:{version}",
            {"name": name, "version": version, "artifact_sha256": artifact})
    row = tx.conn.execute(select(t.risk_models).where(
        t.risk_models.c.name == name, t.risk_models.c.version == version)).one()
    return _version(row)


def _version(row: Any) -> ModelVersion:
    return ModelVersion(row.name, int(row.version), row.kind, row.artifact_sha256,
                        row.training_data_sha256, tuple(row.features), row.metrics, row.author,
                        row.registered_at, row.registered_by)


def list_models(conn: Connection, name: str | None = None) -> list[ModelVersion]:
    t = _tables()
    query = select(*[c for c in t.risk_models.c if c.name not in ("files", "manifest")])
    if name is not None:
        query = query.where(t.risk_models.c.name == name)
    return [_version(r) for r in conn.execute(query.order_by(t.risk_models.c.name,
                                                             t.risk_models.c.version))]


def current_assignment(conn: Connection, name: str) -> Assignment:
    t = _tables()
    row = conn.execute(select(t.risk_model_assignments)
                       .where(t.risk_model_assignments.c.name == name)
                       .order_by(t.risk_model_assignments.c.id.desc()).limit(1)).first()
    if row is None:
        raise NotFoundError(f"no {name!r} model is in force; register and promote one",
                            field="model")
    return _assignment(row)


def _assignment(row: Any) -> Assignment:
    return Assignment(row.name, int(row.champion_version), row.challenger_version,
                      int(row.challenger_share_bps), row.assigned_at, row.actor, row.reason)


def _require_version(conn: Connection, name: str, version: int, field: str) -> None:
    t = _tables()
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValidationError("version must be an integer", field=field)
    found = conn.execute(select(t.risk_models.c.id).where(
        t.risk_models.c.name == name, t.risk_models.c.version == version)).first()
    if found is None:
        raise NotFoundError(f"{name} version {version} is not registered", field=field)


def assign(tx: Tx, name: str, *, champion_version: int, challenger_version: int | None = None,
           challenger_share_bps: int = 0, actor: str, reason: str) -> Assignment:
    """Put a champion (and optionally a challenger with a traffic share) in force."""
    t = _tables()
    _check_name(name)
    _require_version(tx.conn, name, champion_version, "champion_version")
    if challenger_version is not None:
        _require_version(tx.conn, name, challenger_version, "challenger_version")
        if challenger_version == champion_version:
            raise ValidationError("challenger must differ from the champion",
                                  field="challenger_version")
    if isinstance(challenger_share_bps, bool) or not isinstance(challenger_share_bps, int) \
            or not 0 <= challenger_share_bps <= 5_000:
        # Above half the traffic the "challenger" is the champion: promote it instead.
        raise ValidationError("challenger share must be 0..5000 basis points",
                              field="challenger_share_bps")
    if challenger_version is None and challenger_share_bps:
        raise ValidationError("a share needs a challenger", field="challenger_share_bps")
    for label, value in (("actor", actor), ("reason", reason)):
        if not isinstance(value, str) or not value.strip() or len(value) > 255:
            raise ValidationError(f"{label} must be 1-255 characters", field=label)
    tx.conn.execute(t.risk_model_assignments.insert().values(
        name=name, champion_version=champion_version, challenger_version=challenger_version,
        challenger_share_bps=challenger_share_bps, assigned_at=tx.now, actor=actor,
        reason=reason))
    tx.emit("risk.model.assigned", "risk_model", name,
            {"champion_version": champion_version, "challenger_version": challenger_version,
             "challenger_share_bps": challenger_share_bps, "actor": actor, "reason": reason})
    return current_assignment(tx.conn, name)


def promote(tx: Tx, name: str, version: int, *, actor: str, reason: str,
            as_challenger_bps: int | None = None) -> Assignment:
    """Make ``version`` the champion, or the challenger on ``as_challenger_bps`` of traffic."""
    try:
        current: Assignment | None = current_assignment(tx.conn, name)
    except NotFoundError:
        current = None
    if as_challenger_bps is None:
        return assign(tx, name, champion_version=version, actor=actor, reason=reason)
    if current is None:
        raise StateError("a challenger needs a champion first", field="version")
    return assign(tx, name, champion_version=current.champion_version,
                  challenger_version=version, challenger_share_bps=as_challenger_bps,
                  actor=actor, reason=reason)


def _assignments_count(conn: Connection, name: str) -> int:
    t = _tables()
    return int(conn.execute(select(func.count()).select_from(t.risk_model_assignments).where(
        t.risk_model_assignments.c.name == name)).scalar_one())


def promotion_proposal(conn: Connection, name: str, version: int, *, reason: str,
                       as_challenger_bps: int | None = None) -> dict[str, Any]:
    """The payload of a four-eyes ``model.promote`` proposal, once the promotion is checked
    as :func:`promote` would run it (nothing written): ``version`` of ``name`` registered,
    a challenger only beside a champion, other than it, on 1..5000 basis points, a reason
    of 1-255 characters. It carries the assignment in force and how many assignments
    ``name`` has had, which :func:`promote_proposed` must still find."""
    _check_name(name)
    _require_version(conn, name, version, "version")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 255:
        raise ValidationError("reason must be 1-255 characters", field="reason")
    try:
        current: Assignment | None = current_assignment(conn, name)
    except NotFoundError:
        current = None
    if as_challenger_bps is not None:
        if current is None:
            raise StateError("a challenger needs a champion first", field="version")
        if version == current.champion_version:
            raise ValidationError("challenger must differ from the champion", field="version")
        if isinstance(as_challenger_bps, bool) or not isinstance(as_challenger_bps, int) or \
                not 1 <= as_challenger_bps <= 5_000:
            raise ValidationError("challenger share must be 1..5000 basis points",
                                  field="challenger_share_bps")
    in_force = None if current is None else {
        "champion_version": current.champion_version,
        "challenger_version": current.challenger_version,
        "challenger_share_bps": current.challenger_share_bps}
    return {"name": name, "version": version, "challenger_share_bps": as_challenger_bps,
            "reason": reason.strip(), "in_force": in_force,
            "assignments_seen": _assignments_count(conn, name)}


def promote_proposed(tx: Tx, payload: Mapping[str, Any], *, actor: str) -> Assignment:
    """Execute an approved ``model.promote`` proposal (:func:`promotion_proposal`'s payload)
    as ``actor`` (its proposer). When ``name``'s assignments changed since it was proposed
    (another promotion or a rollback), the checker approved a change from an assignment that
    no longer holds: StaleProposalError (409 naming ``name``), nothing written."""
    name = _check_name(payload["name"])
    seen = int(payload["assignments_seen"])
    if _assignments_count(tx.conn, name) != seen:
        raise StaleProposalError(f"the {name!r} model assignment changed since the proposal: "
                                 "propose again", field="name")
    bps = payload.get("challenger_share_bps")
    return promote(tx, name, int(payload["version"]), actor=actor,
                   reason=str(payload["reason"]),
                   as_challenger_bps=None if bps is None else int(bps))


def rollback(tx: Tx, name: str, *, actor: str, reason: str) -> Assignment:
    """Restore the assignment in force before the current one (appended, never deleted)."""
    t = _tables()
    rows = [_assignment(r) for r in tx.conn.execute(
        select(t.risk_model_assignments).where(t.risk_model_assignments.c.name == name)
        .order_by(t.risk_model_assignments.c.id.desc()))]
    if not rows:
        raise NotFoundError(f"no {name!r} assignment to roll back", field="name")
    key = (rows[0].champion_version, rows[0].challenger_version, rows[0].challenger_share_bps)
    for previous in rows[1:]:
        if (previous.champion_version, previous.challenger_version,
                previous.challenger_share_bps) != key:
            return assign(tx, name, champion_version=previous.champion_version,
                          challenger_version=previous.challenger_version,
                          challenger_share_bps=previous.challenger_share_bps, actor=actor,
                          reason=f"rollback: {reason}")
    raise StateError(f"{name!r} has no earlier assignment to roll back to", field="name")


def route(application_id: str, name: str, share_bps: int) -> bool:
    """True when ``application_id`` falls in the challenger's share (deterministic)."""
    digest = hashlib.sha256(f"{name}:{application_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _BPS < share_bps


def select_model(conn: Connection, name: str, application_id: str
                 ) -> tuple[int, str, LoadedModel]:
    """``(version, role, model)`` deciding ``application_id`` under the current assignment."""
    current = current_assignment(conn, name)
    if current.challenger_version is not None and route(application_id, name,
                                                        current.challenger_share_bps):
        version, role = current.challenger_version, "challenger"
    else:
        version, role = current.champion_version, "champion"
    return version, role, load_registered(conn, name, version)


def model_by_artifact(conn: Connection, name: str, version: int, artifact_sha256: str
                      ) -> LoadedModel:
    """:func:`load_registered` when the caller already read the version's artifact hash
    (the decision service reads it in its one statement per decision): no read at all when
    that content is cached, a full verified load otherwise."""
    cached = _cache.get(artifact_sha256)
    if cached is not None:
        _cache.move_to_end(artifact_sha256)
        return cached
    return load_registered(conn, name, version)


# Pure memo (kept): keyed by the artifact's content hash, so a hit is that very model; which
# model is in force is read from the database (the assignment), never from this cache.
_cache: OrderedDict[str, LoadedModel] = OrderedDict()


def load_registered(conn: Connection, name: str, version: int) -> LoadedModel:
    """Load a registered model, verified file by file; cached by content hash."""
    t = _tables()
    artifact = conn.execute(select(t.risk_models.c.artifact_sha256).where(
        t.risk_models.c.name == name, t.risk_models.c.version == version)).scalar_one_or_none()
    if artifact is None:
        raise NotFoundError(f"{name} version {version} is not registered", field="model")
    # The cache is keyed by the artifact hash, i.e. by content: a hit can only be that model.
    if artifact in _cache:
        _cache.move_to_end(artifact)
        return _cache[artifact]
    files = conn.execute(select(t.risk_models.c.files).where(
        t.risk_models.c.name == name, t.risk_models.c.version == version)).scalar_one()
    if hashlib.sha256(files["manifest.json"].encode()).hexdigest() != artifact:
        raise ValidationError(f"{name} version {version}: stored manifest does not match its "
                              "hash (modified?)", field="model")
    with tempfile.TemporaryDirectory(prefix="creditpay-model-") as folder:
        for file_name, text in files.items():
            if "/" in file_name or "\\" in file_name or file_name.startswith("."):
                raise ValidationError(f"bad file name {file_name!r}", field="model")
            Path(folder, file_name).write_bytes(text.encode("utf-8"))  # byte-exact
        loaded = load_model(folder)
    _cache[artifact] = loaded
    while len(_cache) > _CACHE_MAX:
        _cache.popitem(last=False)
    return loaded
