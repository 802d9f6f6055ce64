"""Exactly-once requests (DESIGN.md invariant 3), written once.

A retry carries the same key (an ``Idempotency-Key`` header, an authorisation id, a
repayment id...) and the same request; the first result is returned and nothing moves twice.
The same key with a different request is refused. Every such check hashes the request with
:func:`canonical_hash` and decides with :func:`replay_or_new` (or :func:`find_replay`, which
also loads the stored row by its key). The ``idempotency_keys`` table of the HTTP API is
owned here; the API reads and writes it only through the functions below.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import Column, Connection, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from creditpay.db.prepared import Prepared
from creditpay.db.tables import idempotency_keys
from creditpay.errors import IdempotencyConflictError

__all__ = ["canonical_hash", "request_hash", "http_request_hash", "replay_or_new",
           "find_replay", "stored_key", "claim_key", "complete_key", "delete_key"]


def canonical_hash(value: Any, prefix: str = "") -> str:
    """SHA-256 (hex, 64 characters) of ``prefix`` + ``value`` as canonical JSON: sorted keys,
    no whitespace, ASCII, ``str()`` for what JSON cannot hold (dates, Decimals). Stored
    hashes depend on these bytes: changing them makes every retry of an older request
    a conflict."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prefix}{text}".encode()).hexdigest()


def request_hash(**fields: Any) -> str:
    """Fingerprint of a domain request given by its fields, to tell a retry from a reuse
    of the same id."""
    return canonical_hash(fields)


def http_request_hash(method: str, path: str, body: Any) -> str:
    """Fingerprint of an HTTP request: method, path and JSON body."""
    return canonical_hash(body, prefix=f"{method} {path}\n")


def replay_or_new(stored_hash: str | None, request_hash: str, *, conflict: str,
                  field: str) -> bool:
    """``False`` when nothing is stored under the key (a new request), ``True`` when the
    stored request is this one (replay the stored result); a different stored request
    raises IdempotencyConflictError with message ``conflict`` on ``field``."""
    if stored_hash is None:
        return False
    if stored_hash != request_hash:
        raise IdempotencyConflictError(conflict, field=field)
    return True


def find_replay(conn: Connection, key_column: Column[Any], key: str, request_hash: str, *,
                conflict: str, field: str) -> dict[str, Any] | None:
    """The stored row whose ``key_column`` is ``key`` when it holds this request (a replay),
    ``None`` when there is none (a new request); a row for another request raises
    IdempotencyConflictError. The row's table keeps the hash in ``request_hash``."""
    found = _replay_read(key_column).first(conn, {"key": key})
    row = None if found is None else found._asdict()
    stored = None if row is None else row["request_hash"]
    return row if replay_or_new(stored, request_hash, conflict=conflict, field=field) else None


# find_replay's read per key column, built once and run on the driver (every repayment
# and authorisation looks for a replay).
_REPLAY_READS: dict[Column[Any], Prepared] = {}


def _replay_read(key_column: Column[Any]) -> Prepared:
    found = _REPLAY_READS.get(key_column)
    if found is None:
        found = _REPLAY_READS[key_column] = Prepared(
            select(key_column.table).where(key_column == bindparam("key")))
    return found


# The Idempotency-Key row's statements, built once and run on the driver (every POST of
# the HTTP API claims a key and stores its response).
_KEY = (idempotency_keys.c.scope == bindparam("scope"),
        idempotency_keys.c.key == bindparam("key"))
_STORED_KEY = Prepared(select(idempotency_keys).where(*_KEY))
_CLAIM_COLUMNS = ("scope", "key", "request_hash", "created_at", "size_bytes")
_CLAIM_KEY = {
    dialect: Prepared(insert(idempotency_keys).on_conflict_do_nothing(
        index_elements=["scope", "key"]).returning(idempotency_keys.c.id),
        columns=_CLAIM_COLUMNS)
    for dialect, insert in (("sqlite", sqlite_insert), ("postgresql", pg_insert))}
_COMPLETE_KEY = Prepared(update(idempotency_keys).where(*_KEY).values(
    status_code=bindparam("status_code"), response=bindparam("response"),
    completed_at=bindparam("completed_at"), size_bytes=bindparam("size_bytes")))
_DELETE_KEY = Prepared(delete(idempotency_keys).where(*_KEY))


def stored_key(conn: Connection, scope: str, key: str) -> Any | None:
    """The ``idempotency_keys`` row of ``(scope, key)`` (``status_code`` is None until the
    first request completes), or None."""
    return _STORED_KEY.first(conn, {"scope": scope, "key": key})


def claim_key(conn: Connection, scope: str, key: str, request_hash: str,
              now: dt.datetime) -> bool:
    """Claim ``(scope, key)`` for this request: True when claimed, False when the key is
    taken (by a committed request; a concurrent claim waits for the first one's commit,
    on the unique index on PostgreSQL and on the write lock on SQLite, and is then
    taken, or claimed if the first one rolled back)."""
    values = {"scope": scope, "key": key, "request_hash": request_hash, "created_at": now,
              "size_bytes": 0}
    return _CLAIM_KEY[conn.dialect.name].first(conn, values) is not None


def complete_key(conn: Connection, scope: str, key: str, *, status_code: int,
                 response: Any, now: dt.datetime, size_bytes: int) -> None:
    """Store the response of the claimed ``(scope, key)``, in the use case's transaction."""
    _COMPLETE_KEY.run(conn, {"scope": scope, "key": key, "status_code": status_code,
                             "response": response, "completed_at": now,
                             "size_bytes": size_bytes})


def delete_key(conn: Connection, scope: str, key: str) -> None:
    """Release the claim on ``(scope, key)`` (an error whose effects commit without a stored
    response, so a retry runs again)."""
    _DELETE_KEY.run(conn, {"scope": scope, "key": key})
