"""Observability (issue #19): JSON log lines from a real ``creditpay serve``, request ids,
``/metrics`` in Prometheus format, the health probes, tracing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from creditpay.api.observability import install_tracing
from creditpay.config import Settings
from creditpay.devtools.apiserver import free_port
from creditpay.devtools.pgserver import PostgresServer
from creditpay.errors import ValidationError
from creditpay.platform.keys import encode_key, generate_key_bytes
from tests.api.helpers import GOOD_PAN, PASSWORD, build_app, running_api

SRC = Path(__file__).resolve().parents[2] / "src"
PHONE, ID_NUMBER, EMAIL = "13912345678", "110101199003077777", "ada.lovelace@example.com"


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A copy of the suite's migrated SQLite template (migrating afresh costs seconds)."""
    path = tmp_path / "observability.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


# ------------------------------------------------------------------ a real creditpay serve
@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
           ) -> Iterator[dict[str, Any]]:
    """``creditpay serve`` in a subprocess (SQLite), its stdout and stderr kept in files."""
    folder = tmp_path_factory.mktemp("served")
    shutil.copyfile(sqlite_template, folder / "served.db")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDITPAY_", "OTEL_"))}
    env.update(CREDITPAY_MASTER_KEY=encode_key(generate_key_bytes()),
               CREDITPAY_LOG_LEVEL="INFO",
               PYTHONPATH=os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]))
    out, err = folder / "stdout.log", folder / "stderr.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "creditpay.cli", "serve", "--db",
             f"sqlite:///{folder / 'served.db'}", "--port", str(port), "--no-jobs"],
            env=env, stdout=stdout, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health/live", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, "creditpay serve did not start"
            time.sleep(0.1)
        yield {"base": base, "process": process, "stdout": out, "stderr": err}
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)


def test_every_log_line_of_a_real_server_is_json_with_request_ids(served):
    with httpx.Client(base_url=served["base"], timeout=10) as http:
        ok = http.get("/v1/health", headers={"X-Request-ID": "obs-health-1"})
        assert ok.headers["x-request-id"] == "obs-health-1"
        missing = http.get("/v1/no-such-route", headers={"X-Request-ID": "obs-404"})
        assert missing.status_code == 404
        assert missing.json()["request_id"] == "obs-404"  # problem+json carries it
        # Personal data in bodies: a login by phone, one by ID number, a registration.
        login = http.post("/v1/auth/login", headers={"X-Request-ID": "obs-login",
                                                      "Idempotency-Key": "obs-login-1"},
                          json={"identifier": PHONE, "password": PASSWORD,
                                "device_id": "obs-device-1"})
        assert login.status_code == 401
        http.post("/v1/auth/login", headers={"Idempotency-Key": "obs-login-2"},
                  json={"identifier": ID_NUMBER, "password": f"pw {PHONE} {EMAIL}",
                        "device_id": "obs-device-1"})
        registered = http.post("/v1/customers", headers={"Idempotency-Key": "obs-reg-1",
                                                          "X-Request-ID": "obs-register"},
                               json={"phone": PHONE, "password": PASSWORD,
                                     "device_id": "obs-device-1"})
        assert registered.status_code == 202, registered.text
        bad = http.post("/v1/customers", headers={"Idempotency-Key": "obs-reg-2"},
                        json={"phone": PHONE, "email": EMAIL, "password": "short",
                              "device_id": "x"})
        assert bad.status_code == 422
        # An unsafe id is replaced, never echoed into the logs.
        replaced = http.get("/v1/health", headers={"X-Request-ID": f"id-{PHONE}"})
        assert replaced.headers["x-request-id"] != f"id-{PHONE}"
        assert len(replaced.headers["x-request-id"]) == 32
    served["process"].terminate()
    served["process"].wait(timeout=15)
    lines: list[dict[str, Any]] = []
    for name in ("stderr", "stdout"):
        text = served[name].read_text(encoding="utf-8")
        for personal in (PHONE, ID_NUMBER, EMAIL):
            assert personal not in text, f"{personal} in {name}"
        for line in text.splitlines():
            if line.strip():
                lines.append(json.loads(line))  # every line is one JSON object
    assert lines
    for entry in lines:
        assert {"timestamp", "level", "logger", "event"} <= entry.keys(), entry
        assert entry["timestamp"].endswith("Z")
    access = {entry["request_id"]: entry for entry in lines
              if entry["logger"] == "creditpay.access"}
    assert access["obs-health-1"]["route"] == "/v1/health"
    assert access["obs-health-1"]["status"] == 200
    assert access["obs-404"]["status"] == 404
    assert access["obs-404"]["route"] == "unmatched"
    assert access["obs-login"]["route"] == "/v1/auth/login"
    assert access["obs-register"]["status"] == 202
    assert all(isinstance(entry["duration_ms"], float) for entry in access.values())
    # uvicorn's own lines come out as JSON too; one access line per request (the API's).
    assert any(entry["logger"].startswith("uvicorn") for entry in lines)
    assert not [entry for entry in lines if entry["logger"] == "uvicorn.access"]


# ------------------------------------------------------------------ /metrics
def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_parse_and_count_a_checkout(sqlite_url, clock):
    with running_api(sqlite_url, clock) as api:
        before = _samples(api.client.get("/metrics").text)
        admin = api.operator("admin")
        mkey = api.merchant(admin)["api_key"]["key"]
        dana = api.customer("13800000001")
        card = api.post("/v1/me/cards", {"pan": GOOD_PAN, "expiry_month": 1,
                                         "expiry_year": 2031}, dana, expect=201).json()
        intent = api.post("/v1/payment_intents", {"amount_minor": 8_800, "currency": "CNY",
                                                  "order_id": "m-1"}, mkey, expect=201).json()
        api.post(f"/v1/payment_intents/{intent['id']}/confirm",
                 {"funding": "card", "card_id": card["id"]}, dana, expect=200)
        api.post(f"/v1/payment_intents/{intent['id']}/capture", {}, mkey, expect=200)
        response = api.client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        after = _samples(response.text)
    name = "creditpay_checkouts_total"
    for step, outcome in (("confirm", "approved"), ("capture", "captured")):
        labels = {"step": step, "outcome": outcome, "payment_method": "card"}
        assert _value(after, name, **labels) - _value(before, name, **labels) == 1
    route = "/v1/payment_intents/{intent_id}/confirm"
    counted = {"method": "POST", "route": route, "status_class": "2xx"}
    assert _value(after, "creditpay_http_requests_total", **counted) - \
        _value(before, "creditpay_http_requests_total", **counted) == 1
    assert _value(after, "creditpay_http_request_duration_seconds_count",
                  method="POST", route=route) >= 1
    # Route templates only: no intent id in any label.
    assert not any(intent["id"] in str(labels) for _, labels in after)
    # Every family the brief names is exposed.
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"creditpay_http_requests", "creditpay_http_request_duration_seconds",
            "creditpay_checkouts", "creditpay_credit_decisions",
            "creditpay_fraud_screening_duration_seconds", "creditpay_webhook_deliveries",
            "creditpay_job_queue_depth",
            "creditpay_close_of_business_duration_seconds"} <= names


def test_metrics_can_be_turned_off_and_stay_out_of_openapi(sqlite_url, clock):
    from creditpay.api.app import create_app
    from tests.api.helpers import api_config

    app = create_app(Settings.of(database_url=sqlite_url,
                                 metrics_enabled=False), clock, config=api_config())
    try:
        client = TestClient(app)
        assert client.get("/metrics").status_code == 404
        assert client.get("/health/live").json() == {"status": "live"}
        paths = client.get("/openapi.json").json()["paths"]
        assert not {"/metrics", "/health/live", "/health/ready"} & paths.keys()
    finally:
        app.state.runtime.close()


def test_queue_depth_comes_from_the_registered_source(sqlite_url, clock):
    from creditpay.platform.metrics import set_queue_depth_source

    with running_api(sqlite_url, clock) as api:
        set_queue_depth_source(lambda: {"default": 3, "webhooks": 0})
        api.client.get("/openapi.json")
        try:
            samples = _samples(api.client.get("/metrics").text)
        finally:
            set_queue_depth_source(None)
    assert _value(samples, "creditpay_job_queue_depth", queue="default") == 3
    assert _value(samples, "creditpay_job_queue_depth", queue="webhooks") == 0
    # A plain (non-API) route is labelled by its template too.
    assert _value(samples, "creditpay_http_requests_total", method="GET",
                  route="/openapi.json", status_class="2xx") >= 1


def test_multiprocess_metrics_aggregate_across_processes(tmp_path):
    """Two processes record requests into one PROMETHEUS_MULTIPROC_DIR; a third renders the
    sum (what /metrics answers under ``serve --workers 2``)."""
    directory = tmp_path / "multiproc"
    directory.mkdir()
    (directory / "counter_stale.db").write_bytes(b"")
    env = {**os.environ, "PYTHONPATH": str(SRC), "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    prepare = ("from creditpay.platform.metrics import prepare_multiprocess_metrics\n"
               "prepare_multiprocess_metrics(2)\n")
    subprocess.run([sys.executable, "-c", prepare], env=env, check=True)
    assert not (directory / "counter_stale.db").exists()  # stale samples wiped
    record = ("from creditpay.platform.metrics import observe_request\n"
              "observe_request('GET', '/v1/health', 200, 0.004)\n")
    for _ in range(2):
        subprocess.run([sys.executable, "-c", record], env=env, check=True)
    render = ("from creditpay.platform.metrics import render_metrics\n"
              "print(render_metrics()[0].decode())\n")
    text = subprocess.run([sys.executable, "-c", render], env=env, check=True,
                          capture_output=True, text=True).stdout
    samples = _samples(text)
    assert _value(samples, "creditpay_http_requests_total", method="GET", route="/v1/health",
                  status_class="2xx") == 2


# ------------------------------------------------------------------ health probes
def test_ready_at_head_and_503_when_behind(sqlite_url, clock):
    from alembic import command

    from creditpay.db.schema import alembic_config

    app = build_app(sqlite_url, clock)
    try:
        client = TestClient(app)
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready"
        assert body["checks"]["database"]["status"] == "ok"
        assert body["checks"]["migrations"]["status"] == "ok"
        # The database one revision behind on one branch: a deploy ran before its upgrade.
        with app.state.runtime.uow.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0026_fraud_screenings_time@-1")
        behind = client.get("/health/ready", headers={"X-Request-ID": "probe-1"})
        assert behind.status_code == 503
        assert behind.headers["content-type"] == "application/problem+json"
        problem = behind.json()
        assert problem["failing"] == ["migrations"]
        assert "0026_fraud_screenings_time" in problem["detail"]
        assert problem["request_id"] == "probe-1"
        assert client.get("/health/live").status_code == 200  # alive, just not ready
    finally:
        app.state.runtime.close()


def test_ready_503_when_postgres_is_down_and_checks_can_be_added(clock):
    from creditpay.api.observability import ReadinessFailure, register_readiness_check

    server = PostgresServer(fsync=False).start()
    try:
        app = build_app(server.create_database("ready_probe"), clock)
        try:
            client = TestClient(app)
            assert client.get("/health/ready").status_code == 200

            def queue() -> str:
                raise ReadinessFailure("job queue unreachable")

            register_readiness_check(app, "job_queue", queue)
            failing = client.get("/health/ready")
            assert failing.status_code == 503
            assert failing.json()["failing"] == ["job_queue"]
            app.state.readiness.checks.pop("job_queue")
            server.stop()
            started = time.monotonic()
            down = client.get("/health/ready")
            assert time.monotonic() - started < 10  # bounded (timeout 2 s per check)
            assert down.status_code == 503
            problem = down.json()
            assert "database" in problem["failing"]
            assert problem["checks"]["database"]["status"] == "failing"
            assert client.get("/health/live").status_code == 200
        finally:
            app.state.runtime.close()
    finally:
        server.stop()


# ------------------------------------------------------------------ tracing
def test_tracing_with_the_console_exporter_emits_a_span_per_request(sqlite_url, clock, capsys):
    from creditpay.api.app import create_app
    from tests.api.helpers import api_config

    settings = Settings.of(database_url=sqlite_url, otel_enabled=True,
                           otel_exporter="console")
    app = create_app(settings, clock, config=api_config())
    try:
        with TestClient(app) as client:
            assert client.get("/v1/health", headers={"X-Request-ID": "traced"}).status_code \
                == 200
        app.state.tracer_provider.force_flush()
    finally:
        app.state.runtime.close()
    spans = [json.loads(line) for line in capsys.readouterr().out.splitlines()
             if line.startswith("{")]
    names = {span["name"] for span in spans}
    assert "GET /v1/health" in names, names
    server_span = next(span for span in spans if span["name"] == "GET /v1/health")
    assert server_span["kind"] == "SpanKind.SERVER"
    assert len(server_span["context"]["trace_id"]) == 34  # 0x + 32 hex


def test_tracing_without_the_extra_names_the_setting_and_the_pip_command(monkeypatch):
    from fastapi import FastAPI

    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.fastapi", None)
    with pytest.raises(ValidationError) as raised:
        install_tracing(FastAPI(), exporter="console")
    assert raised.value.field == "CREDITPAY_OTEL_ENABLED"
    assert "pip install 'creditpay[otel]'" in str(raised.value)


# ------------------------------------------------------------------ request ids, logs
def test_request_ids_taken_when_sane_else_made(sqlite_url, clock):
    with running_api(sqlite_url, clock) as api:
        client = api.client
        assert client.get("/v1/health", headers={"X-Request-ID": "a.B_c-9"}) \
            .headers["x-request-id"] == "a.B_c-9"
        for bad in ("x" * 129, "has space", "semi;colon", "ünï".encode()):
            made = client.get("/v1/health", headers={"X-Request-ID": bad})
            assert len(made.headers["x-request-id"]) == 32, bad
        first = client.get("/v1/health").headers["x-request-id"]
        assert first != client.get("/v1/health").headers["x-request-id"]


def test_configured_logging_masks_every_value_and_binds_the_request_id(capsys):
    import logging

    import structlog

    from creditpay.platform.logs import bind_request_id, configure_logging, reset_request_id

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging(Settings.of(log_level="DEBUG"))
        bound = bind_request_id("req-42")
        try:
            logging.getLogger("creditpay.test").info(
                "customer %s", PHONE, extra={"nested": {"email": EMAIL, "ids": [ID_NUMBER]},
                                             "card_number": int(GOOD_PAN)})
            structlog.get_logger("creditpay.test").warning("structlog line", phone=PHONE,
                                                           password="hunter22")
        finally:
            reset_request_id(bound)
        logging.getLogger("creditpay.test").info("after the request")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        for handler in list(root.handlers):
            if handler.get_name() == "creditpay":
                root.removeHandler(handler)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    text = json.dumps(lines)
    for personal in (PHONE, ID_NUMBER, EMAIL, GOOD_PAN, "hunter22"):
        assert personal not in text
    assert [entry.get("request_id") for entry in lines] == ["req-42", "req-42", None]
    assert lines[0]["nested"]["email"] != EMAIL
    assert lines[1]["level"] == "warning" and lines[1]["event"] == "structlog line"


def test_console_format_and_bad_values_are_refused():
    with pytest.raises(ValidationError) as raised:
        Settings.of(log_format="xml")
    assert raised.value.field == "CREDITPAY_LOG_FORMAT"
    with pytest.raises(ValidationError) as raised:
        Settings.of(log_level="loud")
    assert raised.value.field == "CREDITPAY_LOG_LEVEL"
    assert Settings.of(log_level="WARNING").log_level == "warning"

