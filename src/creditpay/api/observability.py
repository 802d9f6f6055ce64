"""Request ids, the access log, request metrics, ``/metrics``, the health probes and tracing.

:class:`ObservabilityMiddleware` is the outermost layer of the app (a plain ASGI middleware:
Starlette's ``BaseHTTPMiddleware`` would run each request in another task and cost
throughput). For every HTTP request it

- takes the ``X-Request-ID`` header when it is sane (1..128 characters of
  ``[A-Za-z0-9._-]``, holding nothing that reads as personal data), else makes one (uuid4
  hex); binds it for every log line written while the request is served
  (:func:`creditpay.platform.logs.bind_request_id`); returns it in the ``X-Request-ID``
  response header (and problem+json bodies carry it as ``request_id``);
- writes one access line (logger ``creditpay.access``, event ``request``: method, path,
  route template, status, duration_ms, client) and counts the request in
  ``creditpay_http_requests_total`` / ``creditpay_http_request_duration_seconds`` by route
  template (never the raw path: no ids in labels; ``unmatched`` for a path no route
  matched);
- answers the operational endpoints itself, before the rate limits and the routes:
  ``GET /health/live`` (no I/O), ``GET /health/ready`` (the readiness checks) and
  ``GET /metrics`` (Prometheus text; off with ``CREDITPAY_METRICS_ENABLED=false``). They are
  not in the OpenAPI document (docs/api.md lists them): they are for the platform, not for
  API clients, and a scraper or an orchestrator's probe is never rate-limited.

Readiness checks are a list: ``database`` (``SELECT 1``) and ``migrations`` (the database's
Alembic revisions equal this code's heads) are built in; other parts add theirs with
:func:`register_readiness_check` (the job queue: reachable). Each runs in a worker thread,
bounded by :data:`READINESS_TIMEOUT_S`; nothing is cached, so a database that went down is
seen by the next probe.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditpay.errors import PROBLEM_BASE, ValidationError
from creditpay.platform.logging_filter import find_pii
from creditpay.platform.logs import bind_request_id, reset_request_id
from creditpay.platform.metrics import observe_request, render_metrics

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Engine

    from creditpay.config import Settings

__all__ = ["ObservabilityMiddleware", "Readiness", "ReadinessCheck", "ReadinessFailure",
           "register_readiness_check", "install_observability", "install_tracing",
           "REQUEST_ID_HEADER", "READINESS_TIMEOUT_S", "LIVE_PATH", "READY_PATH",
           "METRICS_PATH", "database_checks", "code_heads"]

REQUEST_ID_HEADER = "X-Request-ID"
READINESS_TIMEOUT_S = 2.0
LIVE_PATH, READY_PATH, METRICS_PATH = "/health/live", "/health/ready", "/metrics"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_HEADER_NAME = REQUEST_ID_HEADER.lower().encode("latin-1")
_access_log = logging.getLogger("creditpay.access")

# A readiness check: returns a short detail when the dependency is ready, raises (anything,
# ideally ReadinessFailure with a readable detail) when it is not. Runs in a thread.
ReadinessCheck = Callable[[], str | None]


class ReadinessFailure(Exception):
    """A readiness check's failure, with the detail the probe shows."""


class Readiness:
    """The named checks ``GET /health/ready`` runs, in registration order."""

    def __init__(self, timeout_s: float = READINESS_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.checks: dict[str, ReadinessCheck] = {}

    def register(self, name: str, check: ReadinessCheck) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
            raise ValidationError("a readiness check's name is 1..40 of [a-z0-9_]",
                                  field="name")
        self.checks[name] = check

    async def run(self) -> dict[str, dict[str, str]]:
        """Every check's result: ``{"status": "ok" | "failing", "detail": ...}``."""
        names = list(self.checks)
        results = await asyncio.gather(*(self._one(self.checks[name]) for name in names))
        return dict(zip(names, results, strict=True))

    async def _one(self, check: ReadinessCheck) -> dict[str, str]:
        try:
            detail = await asyncio.wait_for(run_in_threadpool(check), self.timeout_s)
        except TimeoutError:
            return {"status": "failing", "detail": f"no answer within {self.timeout_s:g} s"}
        except ReadinessFailure as exc:
            return {"status": "failing", "detail": str(exc)}
        except Exception as exc:  # noqa: BLE001 - any error means not ready
            first_line = (str(exc).strip().splitlines() or [""])[0][:200]
            return {"status": "failing", "detail": f"{type(exc).__name__}: {first_line}"}
        return {"status": "ok", "detail": detail or "ok"}


def register_readiness_check(app: FastAPI, name: str, check: ReadinessCheck) -> None:
    """Add ``check`` under ``name`` to the app's ``GET /health/ready`` (the job queue's
    "reachable" check, for one)."""
    readiness: Readiness = app.state.readiness
    readiness.register(name, check)


def code_heads() -> frozenset[str]:
    """The Alembic heads of this code's migrations (fixed for the life of the process)."""
    from creditpay.db.schema import head_revisions

    return frozenset(head_revisions())


def database_checks(engine: Engine) -> dict[str, ReadinessCheck]:
    """``database``: the database answers ``SELECT 1``; ``migrations``: its Alembic
    revisions are this code's heads (behind: a ``creditpay db upgrade`` is due)."""

    def database() -> str:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return "ok"

    def migrations() -> str:
        heads = code_heads()
        # Alembic's own table, read directly (alembic's MigrationContext would log two
        # lines on every probe).
        with engine.connect() as conn:
            if not engine.dialect.has_table(conn, "alembic_version"):
                raise ReadinessFailure("the database is not migrated (run creditpay db "
                                       "upgrade)")
            current = frozenset(row[0] for row in conn.exec_driver_sql(
                "SELECT version_num FROM alembic_version"))
        if current == heads:
            return "at head"
        missing = sorted(heads - current)
        unknown = sorted(current - heads)
        if unknown and not missing:
            raise ReadinessFailure(f"the database is ahead of this code (revisions "
                                   f"{', '.join(unknown)} unknown here): deploy the newer "
                                   f"code")
        raise ReadinessFailure(f"the database is behind this code's migrations (missing "
                               f"{', '.join(missing)}): run creditpay db upgrade")

    return {"database": database, "migrations": migrations}


def _new_request_id() -> str:
    while True:
        candidate = uuid.uuid4().hex
        # A random hex id holds 11 decimal digits in a row now and then, which the log
        # masking would take for a phone number: such an id is drawn again, so the id in the
        # logs is always the one the client received.
        if not find_pii(candidate):
            return candidate


def _request_id(scope: Scope) -> str:
    for key, value in scope.get("headers", ()):
        if key == _HEADER_NAME:
            text = bytes(value).decode("latin-1")
            if _REQUEST_ID.fullmatch(text) and not find_pii(text):
                return text
            break
    return _new_request_id()


def _route_template(scope: Scope, root_path: str, plain_routes: dict[Any, str]) -> str:
    """The template of the route that answered (``unmatched`` when none did). FastAPI's API
    routes put themselves in ``scope["route"]``; a plain route of the app (``/openapi.json``)
    is found by its endpoint in ``plain_routes``; a mounted app (the browser app's static
    files) is its mount path followed by ``/{path}``."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    # A route inside a mounted app (the browser app at /app) is relative to the mount.
    mounted = scope.get("root_path", "")
    prefix = mounted[len(root_path):] if mounted.startswith(root_path) else ""
    if isinstance(path, str):
        return prefix + path
    endpoint = scope.get("endpoint")
    if endpoint is not None and not prefix:
        return plain_routes.get(endpoint, "unmatched")
    return prefix + "/{path}" if prefix else "unmatched"


def _json_response(status: int, body: dict[str, Any], media_type: str = "application/json"
                   ) -> tuple[int, bytes, str]:
    return status, json.dumps(body, separators=(",", ":")).encode(), media_type


class ObservabilityMiddleware:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, *, readiness: Readiness, metrics_enabled: bool,
                 routes: Callable[[], list[Any]] = list) -> None:
        self.app = app
        self.readiness = readiness
        self.routes = routes
        self.plain_routes: dict[Any, str] = {}
        self.operational: dict[str, Callable[[], Awaitable[tuple[int, bytes, str]]]] = {
            LIVE_PATH: self._live, READY_PATH: self._ready}
        if metrics_enabled:
            self.operational[METRICS_PATH] = self._metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        bound = bind_request_id(request_id)
        id_header = (_HEADER_NAME, request_id.encode("latin-1"))
        status = 500
        method = scope.get("method", "")
        path = scope.get("path", "")
        root_path = scope.get("root_path", "")

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        operational = self.operational.get(path) if method in ("GET", "HEAD") else None
        try:
            if operational is not None:
                scope["route"] = _Operational(path)
                code, body, media_type = await operational()
                await send_with_id({"type": "http.response.start", "status": code,
                                    "headers": [(b"content-type", media_type.encode()),
                                                (b"content-length", str(len(body)).encode()),
                                                (b"cache-control", b"no-store")]})
                await send_with_id({"type": "http.response.body",
                                    "body": b"" if method == "HEAD" else body})
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            endpoint = scope.get("endpoint")
            if endpoint is not None and "route" not in scope and \
                    endpoint not in self.plain_routes:
                self._index_plain_routes()
            route = _route_template(scope, root_path, self.plain_routes)
            observe_request(method, route, status, seconds)
            if _access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                _access_log.info("request", extra={
                    "method": method, "path": path, "route": route, "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "client": client[0] if client else None})
            reset_request_id(bound)

    def _index_plain_routes(self) -> None:
        """The app's routes that do not name themselves in the scope, by endpoint (indexed
        when one is first met; an app's routes do not change while it serves)."""
        for route in self.routes():
            endpoint = getattr(route, "endpoint", None)
            path = getattr(route, "path_format", None)
            if endpoint is not None and isinstance(path, str):
                self.plain_routes.setdefault(endpoint, path)

    async def _live(self) -> tuple[int, bytes, str]:
        return _json_response(200, {"status": "live"})

    async def _ready(self) -> tuple[int, bytes, str]:
        checks = await self.readiness.run()
        failing = [name for name, result in checks.items() if result["status"] != "ok"]
        if not failing:
            return _json_response(200, {"status": "ready", "checks": checks})
        from creditpay.api.problems import PROBLEM_MEDIA_TYPE
        from creditpay.platform.logs import current_request_id

        detail = "; ".join(f"{name}: {checks[name]['detail']}" for name in failing)
        return _json_response(503, {
            "type": PROBLEM_BASE + "not-ready", "title": "Not ready", "status": 503,
            "detail": detail, "instance": READY_PATH, "failing": failing, "checks": checks,
            "request_id": current_request_id()}, PROBLEM_MEDIA_TYPE)

    async def _metrics(self) -> tuple[int, bytes, str]:
        body, content_type = await run_in_threadpool(render_metrics)
        return 200, body, content_type


class _Operational:
    """The route an operational endpoint reports as (its label in the request metrics)."""

    def __init__(self, path: str) -> None:
        self.path = path


def install_observability(app: FastAPI, settings: Settings, engine: Engine) -> None:
    """Tracing when ``CREDITPAY_OTEL_ENABLED``, the readiness checks and the outermost
    :class:`ObservabilityMiddleware` (call it last in ``create_app``)."""
    if settings.otel_enabled:
        install_tracing(app, exporter=settings.otel_exporter, engine=engine)
    readiness = Readiness()
    for name, check in database_checks(engine).items():
        readiness.register(name, check)
    app.state.readiness = readiness
    app.add_middleware(ObservabilityMiddleware, readiness=readiness,
                       metrics_enabled=settings.metrics_enabled, routes=lambda: app.routes)


_OTEL_MISSING = ("CREDITPAY_OTEL_ENABLED is true but OpenTelemetry is not installed: "
                 "pip install 'creditpay[otel]' (opentelemetry-sdk and "
                 "opentelemetry-instrumentation-fastapi{extra})")


def install_tracing(app: FastAPI, *, exporter: str, engine: Engine | None = None) -> Any:
    """Spans for every request (opentelemetry-instrumentation-fastapi) and every SQL
    statement (opentelemetry-instrumentation-sqlalchemy, when installed), exported to the
    console (one JSON object per span on stdout) or over OTLP/HTTP (the standard
    ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME``... variables apply). Returns the
    tracer provider. A missing package is a ValidationError naming the setting and the pip
    command. Never imported when tracing is off: off costs nothing."""
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
            SpanExporter,
        )
    except ImportError:
        raise ValidationError(_OTEL_MISSING.format(extra=""),
                              field="CREDITPAY_OTEL_ENABLED") from None
    span_exporter: SpanExporter
    if exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise ValidationError(_OTEL_MISSING.format(
                extra=", opentelemetry-exporter-otlp-proto-http"),
                field="CREDITPAY_OTEL_EXPORTER") from None
        span_exporter = OTLPSpanExporter()
        processor: Any = BatchSpanProcessor(span_exporter)
    elif exporter == "console":
        # One line per span, so stdout stays one JSON object per line like the logs.
        span_exporter = ConsoleSpanExporter(
            out=sys.stdout, formatter=lambda span: span.to_json(indent=None) + "\n")
        processor = SimpleSpanProcessor(span_exporter)
    else:
        raise ValidationError("must be console or otlp", field="CREDITPAY_OTEL_EXPORTER")
    # Resource.create() reads OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES; without a name
    # there, the service is "creditpay" rather than the SDK's "unknown_service".
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "creditpay"}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider,
                                       excluded_urls="health/live,health/ready,metrics")
    if engine is not None:
        try:
            from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
        except ImportError:
            pass  # request spans only
        else:
            SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=provider)
    app.state.tracer_provider = provider
    return provider
