"""Fraud rules as versioned, audited documents (issue #6, "rules hot-swap").

A rules document (the shape :mod:`creditpay.risk.fraud.rules` parses) is stored in
``fraud_rule_sets`` under its own ``version`` with the SHA-256 of its canonical JSON, its
author and creation time. :func:`load` validates it with the rules parser first: a bad
document is refused with an error naming the field, and nothing is stored. :func:`activate`
makes a stored version the live one; every activation takes the next ``activation_seq``,
and the active set is the one with the highest. Running screeners poll that number
(:func:`active_marker`, one indexed ``max``) every few seconds and swap the rules in
without a restart; each screening records the rules version it used. Loading and activating
are appended to the audit trail (version and hash, not the content: block lists hold ids).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select, update

from creditpay.db.uow import Tx
from creditpay.errors import ConflictError, NotFoundError, ValidationError
from creditpay.platform import audit
from creditpay.risk.fraud.features import FeatureConfig, feature_names
from creditpay.risk.fraud.rules import RuleSet
from creditpay.risk.fraud.tables import fraud_rule_sets

__all__ = ["load", "activate", "check_activation", "active", "active_marker", "history", "get",
           "ruleset_of", "document_sha256", "default_feature_names", "VERSION_CHARS_MAX",
           "HISTORY_LIMIT_MAX"]

VERSION_CHARS_MAX = 64  # a version is the audit subject id (64 characters at most)
ACTOR_CHARS_MAX = 64
HISTORY_LIMIT_MAX = 200
DOCUMENT_BYTES_MAX = 16 * 1024 * 1024


def default_feature_names() -> tuple[str, ...]:
    """Feature names of the default feature configuration (what rules are checked against
    when no model is loaded)."""
    return feature_names(FeatureConfig())


def _canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def document_sha256(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the document's canonical JSON (sorted keys, no spaces, UTF-8)."""
    return hashlib.sha256(_canonical(document)).hexdigest()


def _check_actor(value: Any, name: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= ACTOR_CHARS_MAX \
            or not value.isprintable():
        raise ValidationError(f"must be an id of 1..{ACTOR_CHARS_MAX} characters", field=name)
    return value


def _check_version(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > VERSION_CHARS_MAX \
            or not value.isprintable():
        raise ValidationError(f"must be a non-empty printable string of at most "
                              f"{VERSION_CHARS_MAX} characters", field="version")
    return value


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _view(row: Any, active_seq: int | None, *, content: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "version": row.version, "sha256": row.sha256, "author": row.author,
        "created_at": _iso(row.created_at), "activated_at": _iso(row.activated_at),
        "activated_by": row.activated_by,
        "active": active_seq is not None and row.activation_seq == active_seq,
        "rules": len(row.content.get("rules", [])),
    }
    if content:
        view["content"] = row.content
    return view


def ruleset_of(document: Mapping[str, Any], names: Sequence[str] | None = None) -> RuleSet:
    """Validate and compile a stored document against ``names`` (default feature set)."""
    return RuleSet.from_dict(document, names if names is not None else default_feature_names())


def active_marker(conn: Connection) -> int | None:
    """The activation number of the live rule set (None: none activated yet)."""
    value = conn.execute(select(func.max(fraud_rule_sets.c.activation_seq))).scalar_one()
    return None if value is None else int(value)


def _row(conn: Connection, version: str) -> Any:
    return conn.execute(select(fraud_rule_sets).where(
        fraud_rule_sets.c.version == version)).first()


def get(conn: Connection, version: str) -> dict[str, Any]:
    """One stored version with its content."""
    row = _row(conn, _check_version(version))
    if row is None:
        raise NotFoundError(f"no fraud rule set {version}", field="version")
    return _view(row, active_marker(conn))


def active(conn: Connection) -> dict[str, Any] | None:
    """The live rule set with its content and ``activation_seq`` (None: none activated,
    the screeners use their configured document)."""
    seq = active_marker(conn)
    if seq is None:
        return None
    row = conn.execute(select(fraud_rule_sets).where(
        fraud_rule_sets.c.activation_seq == seq)).one()
    return {**_view(row, seq), "activation_seq": seq}


def history(conn: Connection, *, limit: int = HISTORY_LIMIT_MAX) -> list[dict[str, Any]]:
    """Stored versions, newest first, without their content."""
    if isinstance(limit, bool) or not isinstance(limit, int) or \
            not 1 <= limit <= HISTORY_LIMIT_MAX:
        raise ValidationError(f"must be from 1 to {HISTORY_LIMIT_MAX}", field="limit")
    seq = active_marker(conn)
    rows = conn.execute(select(fraud_rule_sets).order_by(fraud_rule_sets.c.id.desc())
                        .limit(limit)).all()
    return [_view(r, seq, content=False) for r in rows]


def load(tx: Tx, document: Any, *, author: str,
         names: Sequence[str] | None = None) -> dict[str, Any]:
    """Validate ``document`` and store it as a new version (not yet active).

    Loading the same version with the same content again returns it (``duplicate``);
    the same version with other content is a conflict (versions are immutable).
    """
    _check_actor(author, "author")
    ruleset = ruleset_of(document, names)  # raises naming the field; nothing stored
    version = _check_version(ruleset.version)
    try:
        canonical = _canonical(document)
    except (TypeError, ValueError) as exc:
        raise ValidationError("the rules document must be plain JSON data",
                              field="rules") from exc
    if b"\\u0000" in canonical or b"\x00" in canonical:  # PostgreSQL JSON refuses NUL
        raise ValidationError("the rules document must not contain NUL characters",
                              field="rules")
    if len(canonical) > DOCUMENT_BYTES_MAX:
        raise ValidationError(f"the rules document exceeds {DOCUMENT_BYTES_MAX} bytes",
                              field="rules")
    sha = hashlib.sha256(canonical).hexdigest()
    existing = _row(tx.conn, version)
    if existing is not None:
        if existing.sha256 != sha:
            raise ConflictError(f"rule set version {version} exists with other content; "
                                "give the new document a new version", field="version")
        return {**_view(existing, active_marker(tx.conn)), "duplicate": True}
    tx.conn.execute(fraud_rule_sets.insert().values(
        version=version, content=json.loads(canonical), sha256=sha, author=author,
        created_at=tx.now))
    audit.append(tx, "staff", author, "fraud_rules.loaded", "fraud_rule_set", version,
                 {"sha256": sha, "rules": len(ruleset.rules),
                  "blocklist_entries": sum(len(v) for v in ruleset.blocklists.values())})
    return {**_view(_row(tx.conn, version), active_marker(tx.conn)), "duplicate": False}


def check_activation(conn: Any, version: str, names: Sequence[str] | None = None) -> None:
    """Refuse, changing nothing, what :func:`activate` would refuse: an unknown version (404
    on ``version``) or a stored set that does not fit ``names`` (the running model's
    features). A four-eyes proposal to activate is checked with it."""
    row = _row(conn, _check_version(version))
    if row is None:
        raise NotFoundError(f"no fraud rule set {version}", field="version")
    ruleset_of(row.content, names)


def activate(tx: Tx, version: str, *, operator: str,
             names: Sequence[str] | None = None) -> dict[str, Any]:
    """Make a stored version the live rule set (already live: returned unchanged).

    The stored document is validated again against ``names`` (the running model's
    features): a set that does not fit them is refused and nothing changes.
    """
    _check_actor(operator, "operator")
    row = _row(tx.conn, _check_version(version))
    if row is None:
        raise NotFoundError(f"no fraud rule set {version}", field="version")
    ruleset_of(row.content, names)
    current = active(tx.conn)
    if current is not None and current["version"] == version:
        return {**current, "changed": False}
    seq = (current["activation_seq"] if current is not None else 0) + 1
    tx.conn.execute(update(fraud_rule_sets).where(fraud_rule_sets.c.id == row.id).values(
        activation_seq=seq, activated_at=tx.now, activated_by=operator))
    audit.append(tx, "staff", operator, "fraud_rules.activated", "fraud_rule_set", version,
                 {"sha256": row.sha256, "activation_seq": seq,
                  "previous_version": current["version"] if current else None})
    tx.emit("risk.fraud_rules.activated", "fraud_rule_set", version,
            {"version": version, "sha256": row.sha256, "activation_seq": seq})
    return {**(active(tx.conn) or {}), "changed": True}
