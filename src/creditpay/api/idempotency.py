"""Exactly-once POSTs: the ``Idempotency-Key`` row is written in the same transaction as the
use case it guards.

1. The key row (scope, key, request hash) is claimed first, inside the use case's
   transaction (an insert that does nothing if the key is taken). A retry of a completed
   request finds the key taken and replays the stored response, without running the use
   case. A concurrent request with the same key blocks on the unique index (PostgreSQL)
   or on the write lock (SQLite) until the first one commits, then finds it taken and
   replays its response; if the first one rolled back, it proceeds.
2. The response is stored in the same row before commit, so "money moved" and "response
   stored" are one atomic fact: a crash cannot leave one without the other.
3. A replay with a different body (or path) is refused with 409 ``idempotency-conflict``.

Only committed outcomes are stored: 2xx results and errors whose effects are deliberately
committed with ``store_response`` (a risk decline). Errors that change nothing (validation,
insufficient funds) roll back with the key, so the client may fix and retry with the same
key. Secrets in a response (tokens, API keys, webhook secrets) are replaced in the stored copy:
they are shown once, never stored in clear.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from creditpay.api.problems import PROBLEM_MEDIA_TYPE, domain_problem
from creditpay.db.idempotency import (
    claim_key,
    complete_key,
    delete_key,
    http_request_hash,
    replay_or_new,
    stored_key,
)
from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import ConflictError, DomainError, ValidationError

__all__ = ["run_idempotent", "fingerprint", "REDACTED"]

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{8,255}$")
REDACTED = "[shown once; not stored]"


class IdempotencyKeyMissing(ValidationError):
    type_slug = "idempotency-key-required"
    status = 400
    title = "Idempotency-Key header required"


class _Raised(Exception):
    """Carries a committed error out of the transaction after commit."""

    commit_effects = True  # UnitOfWork.run_keeping_effects commits, then raises it

    def __init__(self, error: DomainError) -> None:
        self.error = error


def fingerprint(method: str, path: str, body: Any) -> str:
    """The request hash stored with an Idempotency-Key (see db.idempotency)."""
    return http_request_hash(method, path, body)


def _redact(body: Any, secret_fields: frozenset[str]) -> Any:
    if isinstance(body, dict):
        return {k: (REDACTED if k in secret_fields and v is not None else
                    _redact(v, secret_fields)) for k, v in body.items()}
    if isinstance(body, list):
        return [_redact(v, secret_fields) for v in body]
    return body


def _replay(row: Any, request_hash: str) -> JSONResponse:
    replay_or_new(row.request_hash, request_hash, field="Idempotency-Key",
                  conflict="this Idempotency-Key was used with a different request")
    status = int(row.status_code)
    media = PROBLEM_MEDIA_TYPE if status >= 400 else "application/json"
    return JSONResponse(row.response, status_code=status, media_type=media,
                        headers={"Idempotent-Replayed": "true"})


def _stored(uow: UnitOfWork, scope: str, key: str) -> Any | None:
    with uow.connect() as conn:
        return stored_key(conn, scope, key)


def run_idempotent(uow: UnitOfWork, *, scope: str, key: str | None, request_hash: str,
                   path: str, use_case: Callable[[Tx], Any], status_code: int = 200,
                   secret_fields: frozenset[str] = frozenset(),
                   serialize: Callable[[Any], Any] | None = None) -> JSONResponse:
    """Run ``use_case(tx) -> JSON body`` exactly once per (scope, key); ``serialize`` shapes
    the body by the route's response model (inside the transaction: a body that does not
    match the documented schema rolls the use case back instead of being stored)."""
    if key is None or not KEY_PATTERN.match(key):
        raise IdempotencyKeyMissing(
            "send an Idempotency-Key header of 8..255 printable characters (a UUID)",
            field="Idempotency-Key")
    scope = scope[:128]

    def transaction(tx: Tx) -> tuple[int | None, Any]:
        if not claim_key(tx.conn, scope, key, request_hash, tx.now):
            # Taken: a retry of a request that completed (or one that just did, waited
            # for). Replayed below, after this transaction (which wrote nothing) ends.
            return None, stored_key(tx.conn, scope, key)
        try:
            body = use_case(tx)
            if serialize is not None:
                body = serialize(body)
            status = status_code
        except DomainError as exc:
            if not getattr(exc, "commit_effects", False):
                raise
            if not getattr(exc, "store_response", False):
                delete_key(tx.conn, scope, key)
                raise _Raised(exc) from None
            body, _ = domain_problem(exc, path)
            status = exc.status
            stored = json.loads(json.dumps(body, default=str))
            complete_key(tx.conn, scope, key, status_code=status, response=stored,
                         now=tx.now, size_bytes=len(json.dumps(stored)))
            raise _Raised(exc) from None
        encoded = json.dumps(_redact(body, secret_fields) if secret_fields else body,
                             default=str)
        stored = json.loads(encoded)
        complete_key(tx.conn, scope, key, status_code=status, response=stored, now=tx.now,
                     size_bytes=len(encoded))
        # Without secrets the stored copy is the response itself (same JSON round trip).
        return status, (stored if not secret_fields else
                        json.loads(json.dumps(body, default=str)))

    try:
        status, body = _run_committing(uow, transaction)
    except _Raised as raised:
        raise raised.error from None
    except IntegrityError as exc:
        row = _stored(uow, scope, key)
        if row is not None and row.status_code is not None:
            return _replay(row, request_hash)
        raise ConflictError("the request conflicts with a concurrent change; retry it") from exc
    if status is None:
        # A key row is completed or deleted in the transaction that claims it, so a taken
        # key has its response; none (a row another writer removed meanwhile) is retried.
        if body is None or body.status_code is None:
            raise ConflictError("the request conflicts with a concurrent change; retry it",
                                field="Idempotency-Key")
        return _replay(body, request_hash)
    return JSONResponse(body, status_code=status)


def _run_committing(uow: UnitOfWork, transaction: Callable[[Tx], Any]) -> Any:
    """``uow.run`` that commits when the use case raises ``_Raised`` (effects to keep).
    On SQLite, concurrent requests queue on the unit of work's writer gate
    (:func:`creditpay.db.engine.writer_gate`), as every other writer of the process does."""
    return uow.run_keeping_effects(transaction)
