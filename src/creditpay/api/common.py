"""Helpers shared by the routers: the runtime, idempotent POSTs, cursor pagination."""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from typing import Any

from fastapi import Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter

from creditpay.api.idempotency import fingerprint, run_idempotent
from creditpay.api.runtime import Runtime
from creditpay.db.uow import Tx
from creditpay.errors import ValidationError

__all__ = ["runtime", "post", "IdempotencyKey", "Cursor", "Limit", "decode_cursor",
           "encode_cursor", "PROBLEM_STATUSES"]

PROBLEM_STATUSES = (400, 401, 402, 403, 404, 409, 413, 422, 429, 500, 503)

IdempotencyKey = Header(
    alias="Idempotency-Key", min_length=8, max_length=255, pattern=r"^[\x21-\x7e]+$",
    description="unique per operation (a UUID); a retry with the same key and body returns "
                "the first response; with another body, 409")
Cursor = Query(None, max_length=64, description="next_cursor from the previous page")
Limit = Query(20, ge=1, le=100)


def runtime(request: Request) -> Runtime:
    """The app's runtime, its catalogue brought up to date first when another process
    activated a product or caps version (one index read at most every
    ``catalogue_check_every_s``: Services.refresh_catalogue)."""
    rt: Runtime = request.app.state.runtime
    if rt.services is not None:
        rt.services.refresh_catalogue()
    return rt


# Pure memo (kept): one validator per response model class, no configuration in it.
@functools.lru_cache(maxsize=256)
def _adapter(model: Any) -> TypeAdapter[Any]:
    """One validator per response model (building one costs more than using it)."""
    return TypeAdapter(model)


def post(request: Request, scope: str, body: BaseModel | None, use_case: Callable[[Tx], Any],
         *, status_code: int = 200, secret_fields: frozenset[str] = frozenset(),
         fingerprint_body: dict[str, Any] | None = None,
         response_model: Any = None) -> JSONResponse:
    """Run a mutating use case exactly once for this caller's Idempotency-Key.

    ``fingerprint_body`` replaces the body in the request hash when the body holds secrets
    or card numbers (they must not be hashed unkeyed into the idempotency table).
    ``response_model`` replaces the route's when this answer has another shape (a four-eyes
    proposal's 202).
    """
    payload = fingerprint_body if fingerprint_body is not None else (
        body.model_dump(mode="json") if body is not None else {})
    route = request.scope.get("route")
    model = response_model or getattr(route, "response_model", None)
    serialize = None
    if model is not None:
        adapter = _adapter(model)

        def serialize(value: Any) -> Any:
            return adapter.dump_python(adapter.validate_python(value), mode="json")

    return run_idempotent(
        runtime(request).uow, scope=scope, key=request.headers.get("idempotency-key"),
        request_hash=fingerprint(request.method, request.url.path, payload),
        path=request.url.path, use_case=use_case, status_code=status_code,
        secret_fields=secret_fields, serialize=serialize)


def encode_cursor(seq: int | None) -> str | None:
    if seq is None:
        return None
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        seq = int(value)
        if kind != "seq" or seq < 0:
            raise ValueError
        return seq
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("is not a cursor this API returned", field="cursor") from exc
