"""The process's Prometheus metrics (prometheus-client), in one place.

Domains record an event at the one place it happens, through the small functions below
(they take labels, never ids or personal data: a label value is one of a few words). The
API serves them at ``GET /metrics`` (:func:`render_metrics`).

Metric families (all prefixed ``creditpay_``):

=============================================  =========  =================================
name                                           kind       labels
=============================================  =========  =================================
``http_requests_total``                        counter    method, route (template), status_class
``http_request_duration_seconds``              histogram  method, route
``checkouts_total``                            counter    step (confirm, capture), outcome, payment_method
``credit_decisions_total``                     counter    outcome
``fraud_screening_duration_seconds``           histogram  (none)
``fraud_screenings_total``                     counter    outcome
``webhook_deliveries_total``                   counter    outcome (delivered, failed_attempt, given_up)
``job_queue_depth``                            gauge      queue (from :func:`set_queue_depth_source`)
``close_of_business_duration_seconds``         histogram  engine
=============================================  =========  =================================

**Several processes.** With ``PROMETHEUS_MULTIPROC_DIR`` set before this module is first
imported (``creditpay serve --workers N`` sets it through
:func:`prepare_multiprocess_metrics`), every process writes its samples to files there and
``/metrics``, whichever worker answers, aggregates all of them (prometheus-client's
multiprocess mode).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["HTTP_REQUESTS", "HTTP_REQUEST_SECONDS", "CHECKOUTS", "CREDIT_DECISIONS",
           "FRAUD_SCREENING_SECONDS", "FRAUD_SCREENINGS", "WEBHOOK_DELIVERIES",
           "CLOSE_OF_BUSINESS_SECONDS", "MULTIPROC_DIR_ENV", "observe_request",
           "record_checkout", "record_decision", "observe_screening",
           "record_webhook_delivery", "observe_close_of_business", "set_queue_depth_source",
           "render_metrics", "prepare_multiprocess_metrics", "CONTENT_TYPE_LATEST"]

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_log = logging.getLogger("creditpay.metrics")

# Request latency: 1 ms .. 10 s (an API call is some milliseconds; a report, seconds).
_HTTP_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0)
# A screening is a model predict and some rules: 50 us .. 250 ms.
_SCREENING_BUCKETS_S = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                        0.025, 0.05, 0.1, 0.25)
# A close of business: a second (a test book) .. 2 hours (a large book).
_COB_BUCKETS_S = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0)

HTTP_REQUESTS = Counter(
    "creditpay_http_requests", "HTTP requests answered, by route template, method and "
    "status class (2xx, 4xx, ...).", ["method", "route", "status_class"])
HTTP_REQUEST_SECONDS = Histogram(
    "creditpay_http_request_duration_seconds", "Time to answer an HTTP request, by route "
    "template and method.", ["method", "route"], buckets=_HTTP_BUCKETS_S)
CHECKOUTS = Counter(
    "creditpay_checkouts", "Checkout steps committed: confirm (approved, in_review, "
    "declined, ...) and capture, by payment method (wallet, card, pay_later, installments).",
    ["step", "outcome", "payment_method"])
CREDIT_DECISIONS = Counter(
    "creditpay_credit_decisions", "Credit application decisions stored, by outcome.",
    ["outcome"])
FRAUD_SCREENING_SECONDS = Histogram(
    "creditpay_fraud_screening_duration_seconds", "Time of one fraud screening (features, "
    "model, rules, the screening row).", buckets=_SCREENING_BUCKETS_S)
FRAUD_SCREENINGS = Counter(
    "creditpay_fraud_screenings", "Fraud screenings, by outcome (approve, challenge, review, "
    "decline).", ["outcome"])
WEBHOOK_DELIVERIES = Counter(
    "creditpay_webhook_deliveries", "Webhook delivery attempts recorded, by outcome "
    "(delivered, failed_attempt, given_up).", ["outcome"])
CLOSE_OF_BUSINESS_SECONDS = Histogram(
    "creditpay_close_of_business_duration_seconds", "Wall time of a close of business run, "
    "by engine (local, spark).", ["engine"], buckets=_COB_BUCKETS_S)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """One HTTP request answered (``route``: the template, never the raw path)."""
    HTTP_REQUESTS.labels(method, route, f"{status // 100}xx").inc()
    HTTP_REQUEST_SECONDS.labels(method, route).observe(seconds)


def record_checkout(step: str, outcome: str, payment_method: str) -> None:
    CHECKOUTS.labels(step, outcome, payment_method).inc()


def record_decision(outcome: str) -> None:
    CREDIT_DECISIONS.labels(outcome).inc()


def observe_screening(seconds: float, outcome: str) -> None:
    FRAUD_SCREENING_SECONDS.observe(seconds)
    FRAUD_SCREENINGS.labels(outcome).inc()


def record_webhook_delivery(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(outcome).inc()


def observe_close_of_business(seconds: float, engine: str) -> None:
    CLOSE_OF_BUSINESS_SECONDS.labels(engine).observe(seconds)


# ---------------------------------------------------------------- job queue depth (a gauge)
QueueDepthSource = Callable[[], Mapping[str, int]]


class _QueueDepthCollector(Collector):
    """``creditpay_job_queue_depth{queue}``: read from the job queue at scrape time (one
    query per scrape, none per request), so every worker reports the same shared queue."""

    def __init__(self) -> None:
        self.source: QueueDepthSource | None = None

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("creditpay_job_queue_depth",
                                  "Jobs waiting in the job queue, by queue.", labels=["queue"])
        source = self.source
        if source is not None:
            try:
                depths = dict(source())
            except Exception:  # noqa: BLE001 - a scrape must answer; readiness reports it
                _log.warning("job queue depth unavailable", exc_info=True)
                depths = {}
            for queue, depth in sorted(depths.items()):
                gauge.add_metric([queue], float(depth))
        yield gauge


_QUEUE_DEPTH = _QueueDepthCollector()
REGISTRY.register(_QUEUE_DEPTH)


def set_queue_depth_source(source: QueueDepthSource | None) -> None:
    """Where ``creditpay_job_queue_depth`` comes from: ``source()`` returns the number of
    waiting jobs by queue name (the job queue's own count). None: no samples."""
    _QUEUE_DEPTH.source = source


# ---------------------------------------------------------------- exposition
def render_metrics() -> tuple[bytes, str]:
    """The Prometheus text exposition of this process (or, in multiprocess mode, of every
    process writing to ``PROMETHEUS_MULTIPROC_DIR``) and its content type."""
    if os.environ.get(MULTIPROC_DIR_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_QUEUE_DEPTH)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def prepare_multiprocess_metrics(workers: int) -> None:
    """Before starting ``workers`` server processes: with more than one, make sure
    ``PROMETHEUS_MULTIPROC_DIR`` names an empty directory (a fresh temporary one, removed
    when this process exits, unless the operator set one: its stale sample files from an
    earlier run are deleted, as prometheus-client requires). The workers inherit the
    variable, so their metrics aggregate. One worker and no variable: nothing to do.

    Call it in the parent process before the workers start (they must import
    prometheus-client with the variable already set)."""
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    if workers <= 1 and not directory:
        return
    if not directory:
        created = tempfile.mkdtemp(prefix="creditpay-metrics-")
        atexit.register(shutil.rmtree, created, True)
        os.environ[MULTIPROC_DIR_ENV] = created
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
