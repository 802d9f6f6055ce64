"""RFC 9457 ``application/problem+json`` for every error the API returns."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditpay.errors import PROBLEM_BASE, DomainError
from creditpay.platform.logs import current_request_id

__all__ = ["install_problem_handlers", "problem_response", "PROBLEM_MEDIA_TYPE"]

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("creditpay.api")


def problem_response(problem: dict[str, Any], headers: dict[str, str] | None = None
                     ) -> JSONResponse:
    request_id = current_request_id()
    if request_id is not None and "request_id" not in problem:
        # The id of the request (as in its X-Request-ID header and every log line about it),
        # for a support ticket to quote.
        problem = {**problem, "request_id": request_id}
    return JSONResponse(problem, status_code=problem["status"], headers=headers,
                        media_type=PROBLEM_MEDIA_TYPE)


def domain_problem(exc: DomainError, path: str) -> tuple[dict[str, Any], dict[str, str]]:
    problem = exc.to_problem(instance=path)
    headers = {}
    retry_after = exc.extra.get("retry_after_s")
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    return problem, headers


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        problem, headers = domain_problem(exc, request.url.path)
        return problem_response(problem, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        field = _field(tuple(first.get("loc", ())))
        return problem_response({
            "type": PROBLEM_BASE + "validation-error", "title": "Invalid input",
            "status": 422, "detail": f"{field}: {first.get('msg')}", "field": field,
            "instance": request.url.path,
            "errors": [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg")}
                       for e in errors[:20]],
        })

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code,
                                                                 f"http-{exc.status_code}")
        return problem_response({
            "type": PROBLEM_BASE + slug, "title": str(exc.detail), "status": exc.status_code,
            "detail": str(exc.detail), "instance": request.url.path},
            headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged (through the PII filter) with the stack; the client gets no internals.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response({
            "type": PROBLEM_BASE + "internal-error", "title": "Internal error", "status": 500,
            "detail": "an unexpected error occurred; it has been logged",
            "instance": request.url.path})
