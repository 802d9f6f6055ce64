"""``creditpay serve`` in a subprocess on a free loopback port, for the benchmarks and the
browser tests (one way to start it, wait for it and stop it)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess  # nosec B404 - runs our own CLI
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["free_port", "running_api_server", "running_api_process", "ApiProcess"]

# Key settings of the calling shell that would override the master key given here.
_KEY_VARIABLES = ("CREDITPAY_MASTER_KEY_FILE", "CREDITPAY_TOKEN_KEY",
                  "CREDITPAY_BLIND_INDEX_KEY", "CREDITPAY_BLIND_INDEX_KEY_FILE")
# The source tree this module was imported from: the server imports the same code.
_SRC = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ApiProcess:
    """A running ``creditpay serve``: its base URL and the pid of its main process (with
    ``--workers`` above 1, uvicorn's supervisor: the workers are its children)."""

    base: str
    pid: int


@contextlib.contextmanager
def running_api_server(url: str, master_key: str, *, env: Mapping[str, str] | None = None,
                       start_timeout_s: float = 120, workers: int = 1) -> Iterator[str]:
    """``creditpay serve --db URL --no-jobs [--workers N]`` with the encoded ``master_key``
    (and ``env`` added to the environment); yields its base URL once ``/v1/health``
    answers, stops it on exit. RuntimeError with the end of its log if it does not start."""
    with running_api_process(url, master_key, env=env, start_timeout_s=start_timeout_s,
                             workers=workers) as server:
        yield server.base


@contextlib.contextmanager
def running_api_process(url: str, master_key: str, *, env: Mapping[str, str] | None = None,
                        start_timeout_s: float = 120, workers: int = 1
                        ) -> Iterator[ApiProcess]:
    """:func:`running_api_server`, yielding the process too (its pid, for CPU figures).
    With ``workers`` above 1 it also waits until every worker has finished its start-up
    (uvicorn logs "Application startup complete." once per process)."""
    import httpx

    port = free_port()
    # The child inherits this process's environment (no setting is read here), with the
    # source tree first on its import path.
    environment = dict(os.environ)
    environment.update(CREDITPAY_MASTER_KEY=master_key, **(env or {}), PYTHONPATH=os.pathsep.join(
        [str(_SRC), environment.get("PYTHONPATH", "")]))
    for name in _KEY_VARIABLES:
        environment.pop(name, None)
    # A file, not a pipe (an unread pipe would fill up and block the server), appended to
    # by the server and read here through a descriptor of its own.
    folder = tempfile.TemporaryDirectory(prefix="creditpay-serve-")
    log_path = Path(folder.name) / "serve.log"
    log = log_path.open("ab")
    process = subprocess.Popen(  # nosec B603 - our own CLI
        [sys.executable, "-m", "creditpay.cli", "serve", "--db", url, "--port", str(port),
         "--no-jobs", "--workers", str(workers)], env=environment,
        stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                if (httpx.get(f"{base}/v1/health", timeout=2).status_code == 200
                        and _started(log_path, workers)):
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("creditpay serve did not start: "
                                   + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.1)  # polling for readiness
        yield ApiProcess(base, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15 + 5 * workers)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        folder.cleanup()


def _started(log_path: Path, workers: int) -> bool:
    """Every one of ``workers`` processes has finished its start-up."""
    return workers == 1 or log_path.read_text(errors="replace").count(
        "Application startup complete") >= workers
