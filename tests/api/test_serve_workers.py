"""``creditpay serve --workers N``: a real server with two worker processes on PostgreSQL
(both answer, they share one rate limit, SIGTERM stops them cleanly) and the refusal of
``--workers 2`` on SQLite."""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404 - runs our own CLI
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from creditpay.cli import app as cli_app
from creditpay.devtools.apiserver import free_port
from creditpay.platform.keys import encode_key, generate_key_bytes

SRC = Path(__file__).resolve().parents[2] / "src"
CREDENTIAL_BURST = 30


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    """uvicorn's worker processes (multiprocessing spawns them; its resource tracker is
    not one)."""
    return [child for child in parent.children()
            if "spawn_main" in " ".join(child.cmdline())]


def _established_on(process: psutil.Process, port: int) -> int:
    return sum(1 for conn in process.net_connections(kind="tcp")
               if conn.status == psutil.CONN_ESTABLISHED and conn.laddr
               and conn.laddr.port == port)


@pytest.fixture(scope="module")
def two_workers(pg_server: Any) -> Iterator[tuple[subprocess.Popen[bytes], int, Any]]:
    """``creditpay serve --workers 2`` on a fresh, migrated PostgreSQL database, with a
    small per-credential limit; yields (process, port, log file)."""
    url = pg_server.create_database(f"serve_workers_{os.getpid()}",
                                    template="creditpay_template")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITPAY_")}
    env.update(CREDITPAY_MASTER_KEY=encode_key(generate_key_bytes()),
               CREDITPAY_RATE_LIMIT_CREDENTIAL=f"{CREDENTIAL_BURST},0.001",
               PYTHONPATH=os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]))
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(  # nosec B603 - our own CLI
        [sys.executable, "-m", "creditpay.cli", "serve", "--db", url, "--port", str(port),
         "--workers", "2"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail("serve --workers 2 did not start: "
                            + log.read().decode(errors="replace")[-3000:])
            time.sleep(0.1)
        yield process, port, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def test_two_workers_answer_share_one_rate_limit_and_stop_cleanly(two_workers):
    process, port, log = two_workers
    parent = psutil.Process(process.pid)
    # Wait until both workers have started (the second may still be importing).
    deadline = time.monotonic() + 60
    while len(workers := _workers(parent)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) == 2 and len({w.pid for w in workers}) == 2
    # Keep-alive connections until each worker holds some: the kernel hands each new
    # connection to whichever worker accepts first, so both end up with some.
    clients: list[httpx.Client] = []
    try:
        while time.monotonic() < deadline:
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
            clients.append(client)
            assert client.get("/v1/health").status_code == 200
            if len(clients) >= 4 and all(_established_on(w, port) for w in workers):
                break
        held = {w.pid: _established_on(w, port) for w in workers}
        assert all(held.values()), held  # both workers answered requests

        # One credential's limit (30 at once, no refill to speak of) across both workers:
        # requests round-robin over the connections of both; in-process limits would let
        # 30 through EACH worker.
        statuses = []
        for n in range(2 * CREDENTIAL_BURST + 10):
            response = clients[n % len(clients)].get(
                "/v1/me", headers={"Authorization": "Bearer shared-limit-test-token"})
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["Retry-After"]) >= 1
        assert statuses.count(401) == CREDENTIAL_BURST, statuses  # admitted, then refused
        assert statuses.count(429) == CREDENTIAL_BURST + 10, statuses
        # Every connection's worker served some of those requests (keep-alive).
        assert {w.pid: _established_on(w, port) for w in workers} == held
    finally:
        for client in clients:
            client.close()

    # SIGTERM: uvicorn's supervisor stops both workers gracefully and exits 0.
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=40) == 0
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    log.seek(0)
    output = log.read().decode(errors="replace")
    assert "no background jobs" in output  # --workers 2 turned the jobs off, and said so
    assert output.count("Application shutdown complete") == 2, output[-3000:]


def test_two_workers_on_sqlite_are_refused_naming_the_flag(tmp_path):
    result = CliRunner().invoke(cli_app, ["serve", "--workers", "2", "--db",
                                          str(tmp_path / "one.db")])
    assert result.exit_code == 2
    assert "--workers 2 needs PostgreSQL" in result.output
    assert not (tmp_path / "one.db").exists()  # refused before anything was opened
