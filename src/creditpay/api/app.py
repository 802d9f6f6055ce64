"""The FastAPI application: ``create_app(settings, clock=None)``.

All routes live under ``/v1``; OpenAPI is served at ``/openapi.json``. Every error is an
RFC 9457 problem (``application/problem+json``); the OpenAPI document says so for every
error status, so schema-based fuzzing checks what clients actually receive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from creditpay.api import (
    routes_approvals,
    routes_assistant,
    routes_catalogue,
    routes_consumer_credit,
    routes_credit_control,
    routes_credit_referrals,
    routes_credit_score,
    routes_customers,
    routes_dashboard,
    routes_disputes,
    routes_early_warning,
    routes_fraud_cases,
    routes_fraud_reports,
    routes_merchants,
    routes_operators,
    routes_partners,
    routes_payments,
)
from creditpay.api.access import (
    GuardMiddleware,
    Limit,
    LoginThrottle,
    MemoryRateLimits,
    RateLimiter,
)
from creditpay.api.body import BodyGuardMiddleware
from creditpay.api.common import PROBLEM_STATUSES
from creditpay.api.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers
from creditpay.api.runtime import ApiConfig, Runtime, build_runtime
from creditpay.api.schemas import Problem
from creditpay.clock import Clock
from creditpay.config import Settings
from creditpay.db.engine import is_postgres
from creditpay.jobs.functions import JobSchedule
from creditpay.jobs.inprocess import InProcessRunner

__all__ = ["create_app", "app_from_environment", "ApiConfig"]

log = logging.getLogger("creditpay.api")


def create_app(settings: Settings, clock: Clock | None = None, *,
               config: ApiConfig | None = None) -> FastAPI:
    """Build the app on ``settings.database_url`` (migrated on start) with business ``clock``.

    Services come from :func:`creditpay.bootstrap.build_services` (see
    :mod:`creditpay.api.runtime`); keys from ``settings`` unless ``config`` carries them
    (tests).
    """
    config = config or ApiConfig()
    rt = build_runtime(settings, clock, config)

    run_jobs = config.background_jobs
    if run_jobs and settings.mode == "production":
        # Production: jobs belong to creditpay worker and creditpay scheduler (the queue
        # survives this process and scales apart from it); the API runs no background loop.
        log.warning("background jobs requested in production mode: ignored (run creditpay "
                    "worker and creditpay scheduler)")
        run_jobs = False

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Development: the embedded runner (creditpay.jobs.inprocess) in this process, its
        # webhook deliveries in a task of their own, never in the loop that applies
        # card-rail callbacks and seals the audit chain.
        tasks: list[asyncio.Task[None]] = []
        if run_jobs:
            assert rt.services is not None, "a runtime is built by build_runtime"
            runner = InProcessRunner(rt.services, JobSchedule.from_settings(settings),
                                     nightly=False)
            tasks.append(asyncio.create_task(runner.run()))
        app.state.background_tasks = tasks
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            rt.close()

    app = FastAPI(title="creditpay API", version="1.0.0", lifespan=lifespan,
                  description="Wallet, checkout, pay-later credit and installments. Amounts "
                              "are integer minor units; every POST takes an Idempotency-Key.",
                  generate_unique_id_function=operation_id,
                  # FastAPI's own /docs and /redoc load their scripts from a CDN, which the
                  # CSP blocks (a blank page): creditpay.web serves them from the package.
                  docs_url=None, redoc_url=None)
    app.state.runtime = rt
    limiter, shared = _rate_limiter(rt, config)
    app.state.rate_limiter = limiter
    app.state.login_buckets = LoginThrottle(
        limiter, Limit(*(config.login_bucket or settings.rate_limit_login)))
    # Added first, so it runs inside the guard: a refused body still gets the security
    # headers, and a rate-limited client's body is never buffered.
    app.add_middleware(BodyGuardMiddleware, body_bytes_max=config.body_bytes_max)
    app.add_middleware(GuardMiddleware, limiter=limiter,
                       ip_limit=Limit(*(config.ip_bucket or settings.rate_limit_ip)),
                       credential_limit=Limit(*(config.credential_bucket
                                                or settings.rate_limit_credential)),
                       blocking=shared)
    install_problem_handlers(app)
    for module in (routes_customers, routes_payments, routes_merchants, routes_operators,
                   routes_credit_score):
        app.include_router(module.router)
    app.include_router(routes_fraud_cases.router)  # fraud case queue (issue #6)
    app.include_router(routes_early_warning.router)  # early-warning alerts (issue #6)
    app.include_router(routes_dashboard.router)  # portfolio dashboard (issue #16)
    app.include_router(routes_approvals.router)  # four-eyes proposals (issue #16)
    app.include_router(routes_credit_control.router)  # four-eyes credit changes (#16)
    app.include_router(routes_catalogue.router)  # four-eyes product and caps changes (#16)
    app.include_router(routes_consumer_credit.router)  # credit journey (#3, #4, #5)
    app.include_router(routes_credit_referrals.router)  # referred applications (#5)
    app.include_router(routes_partners.router)  # partner lenders' API and staff routes (#17)
    app.include_router(routes_fraud_reports.router)  # consumer fraud reports, freeze (#20)
    app.include_router(routes_assistant.router)  # the customer-service assistant (#20)
    from creditpay.api import routes_hardship

    app.include_router(routes_hardship.router)  # hardship options and requests (#20)
    app.include_router(routes_disputes.router)  # disputes of a payment (#20)
    from creditpay.api import routes_fx

    app.include_router(routes_fx.router)  # FX quotes, configuration and position (#21)
    if rt.dev_inbox:
        from creditpay.api import routes_dev

        log.warning("DEVELOPMENT INBOX ON (CREDITPAY_DEV_INBOX): GET /v1/dev/inbox shows "
                    "every one-time code sent; development only, never in production")
        app.include_router(routes_dev.router)
    # The browser app (issue #15): pages at /app/ on the same runtime (creditpay.web).
    from creditpay.web import mount

    mount(app, dev_inbox=rt.dev_inbox)
    from creditpay.api.webhook_events import add_webhooks

    add_webhooks(app.webhooks)  # the events merchants receive, in /openapi.json
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    # Last, so it is the outermost layer: request ids, access log, request metrics,
    # /metrics, /health/live, /health/ready and tracing (creditpay.api.observability).
    from creditpay.api.observability import install_observability

    install_observability(app, settings, rt.uow.engine)
    _install_job_queue_probes(app, settings, rt)
    return app


def _install_job_queue_probes(app: FastAPI, settings: Settings, rt: Runtime) -> None:
    """On PostgreSQL, ``/health/ready`` also checks the job queue (procrastinate's tables
    answer) and ``/metrics`` reports its depth; SQLite's jobs run in process (no queue)."""
    from creditpay.api.observability import ReadinessFailure, register_readiness_check
    from creditpay.jobs.queue import jobs_ready, queue_depth
    from creditpay.platform.metrics import set_queue_depth_source

    if not is_postgres(rt.uow.engine):
        return

    def job_queue() -> str:
        problem = jobs_ready(settings)
        if problem is not None:
            raise ReadinessFailure(problem)
        return "procrastinate tables answer"

    register_readiness_check(app, "job_queue", job_queue)
    set_queue_depth_source(lambda: queue_depth(settings))


def app_from_environment() -> FastAPI:
    """The app of ``creditpay serve``, built from the process's settings (the environment):
    uvicorn's factory (``creditpay.api.app:app_from_environment``), so that each of
    ``--workers N`` processes builds its own app, configured identically (serve passes its
    options to them as CREDITPAY_* variables)."""
    from creditpay.platform.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings)  # a spawned worker inherits no logging set-up
    return create_app(settings, config=ApiConfig(background_jobs=settings.serve_jobs))


def _rate_limiter(rt: Runtime, config: ApiConfig) -> tuple[RateLimiter, bool]:
    """The rate limits' store (``ApiConfig.rate_limits``) and whether it is the database
    (shared by every API process; its check does I/O)."""
    where = config.rate_limits
    if where == "auto":
        where = "database" if is_postgres(rt.uow.engine) else "memory"
    clock = config.rate_limit_clock
    if where == "database":
        from creditpay.platform.rate_limits import RateLimits

        return RateLimits(rt.uow, now_s=clock or time.time), True
    return MemoryRateLimits(now_s=clock or time.monotonic), False


def operation_id(route: APIRoute) -> str:
    """A route's OpenAPI operationId: its function's name (``create_intent``, ``confirm``),
    which a generated client turns into a readable function. Unique across the API
    (tests/api/test_openapi_client.py)."""
    return route.name


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with every error response declared as problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes, webhooks=app.webhooks.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    problem = {"content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status in PROBLEM_STATUSES:
                responses[str(status)] = {"description": "problem (RFC 9457)", **problem}
    # Webhooks are requests creditpay sends: the merchant's endpoint answers 2xx, and the
    # validation error FastAPI documents for a request body (whose schema is removed above)
    # has no meaning there.
    for path_item in schema.get("webhooks", {}).values():
        for operation in path_item.values():
            operation.get("responses", {}).pop("422", None)
    app.openapi_schema = schema
    return schema
