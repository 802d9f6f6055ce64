"""Request bodies: a size limit, and JSON read strictly before any route sees it.

Python's ``json`` (which FastAPI uses) keeps the last of two equal keys and accepts
``NaN`` and ``Infinity``. A body ``{"amount_minor": 1, "amount_minor": 100000}`` would then
mean whatever the last parser in a chain of proxies and services decides, so a duplicate key
or a non-finite number is refused here, once, for every route: 422 naming the field.

The limit is checked on ``Content-Length`` first and again on the bytes actually received
(a chunked body has no length), so a client cannot make the process buffer more than
``body_bytes_max``. This is one ASGI middleware rather than Starlette's body-limit
middleware plus a second layer for JSON, because the strict JSON check needs the whole body
buffered anyway, and the bound must hold before buffering.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditpay.errors import PROBLEM_BASE

__all__ = ["BodyGuardMiddleware", "BODY_BYTES_MAX_DEFAULT", "strict_json_loads",
           "DuplicateKeyError"]

BODY_BYTES_MAX_DEFAULT = 1_048_576  # 1 MiB: the largest legitimate body (a fraud rules
# document with block lists) is far below it.
_JSON_SUBTYPES = ("json",)


class DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKeyError(key)
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def strict_json_loads(body: bytes | str) -> Any:
    """``json.loads`` that refuses duplicate keys (DuplicateKeyError) and NaN/Infinity."""
    return json.loads(body, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower().decode("latin-1")
            kind, _, subtype = media.partition("/")
            return kind == "application" and (subtype == "json" or subtype.endswith("+json"))
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _problem(send: Send, scope: Scope, status: int, slug: str, title: str,
                   detail: str, field: str | None = None) -> None:
    from creditpay.api.problems import problem_response

    problem: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status,
                               "detail": detail, "instance": scope.get("path", "")}
    if field is not None:
        problem["field"] = field
        problem["errors"] = [{"field": field, "message": detail}]

    async def empty_receive() -> Message:  # the body was read (or refused) already
        return {"type": "http.disconnect"}

    await problem_response(problem)(scope, empty_receive, send)


class BodyGuardMiddleware:
    """413 above ``body_bytes_max``; 422 for JSON with a duplicate key or NaN/Infinity."""

    def __init__(self, app: ASGIApp, body_bytes_max: int = BODY_BYTES_MAX_DEFAULT) -> None:
        assert body_bytes_max > 0
        self.app = app
        self.body_bytes_max = body_bytes_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        too_large = (f"the request body is larger than {self.body_bytes_max} bytes",)
        declared = _content_length(scope)
        if declared is not None and declared > self.body_bytes_max:
            await _problem(send, scope, 413, "payload-too-large", "Request body too large",
                           too_large[0])
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away: nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.body_bytes_max:
                await _problem(send, scope, 413, "payload-too-large",
                               "Request body too large", too_large[0])
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(scope):
            try:
                strict_json_loads(body)
            except DuplicateKeyError as exc:
                await _problem(send, scope, 422, "validation-error", "Invalid input",
                               f"{exc.key}: appears more than once in the JSON object",
                               field=exc.key)
                return
            except ValueError as exc:
                if not isinstance(exc, json.JSONDecodeError):
                    await _problem(send, scope, 422, "validation-error", "Invalid input",
                                   f"body: {exc}", field="body")
                    return
                # Malformed JSON: FastAPI's own parser reports it (422 json_invalid).
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
