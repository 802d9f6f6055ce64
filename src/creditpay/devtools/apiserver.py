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
from pathlib import Path

__all__ = ["free_port", "running_api_server"]

# Key settings of the calling shell that would override the master key given here.
_KEY_VARIABLES = ("CREDITPAY_MASTER_KEY_FILE", "CREDITPAY_TOKEN_KEY",
                  "CREDITPAY_BLIND_INDEX_KEY", "CREDITPAY_BLIND_INDEX_KEY_FILE")
# The source tree this module was imported from: the server imports the same code.
_SRC = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_api_server(url: str, master_key: str, *, env: Mapping[str, str] | None = None,
                       start_timeout_s: float = 120) -> Iterator[str]:
    """``creditpay serve --db URL --no-jobs`` with the encoded ``master_key`` (and ``env``
    added to the environment); yields its base URL once ``/v1/health`` answers, stops it on
    exit. RuntimeError with the end of its log if it does not start."""
    import httpx

    port = free_port()
    # The child inherits this process's environment (no setting is read here), with the
    # source tree first on its import path.
    environment = dict(os.environ)
    environment.update(CREDITPAY_MASTER_KEY=master_key, **(env or {}), PYTHONPATH=os.pathsep.join(
        [str(_SRC), environment.get("PYTHONPATH", "")]))
    for name in _KEY_VARIABLES:
        environment.pop(name, None)
    log = tempfile.TemporaryFile()  # an unread pipe would fill up and block the server
    process = subprocess.Popen(  # nosec B603 - our own CLI
        [sys.executable, "-m", "creditpay.cli", "serve", "--db", url, "--port", str(port),
         "--no-jobs"], env=environment, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError("creditpay serve did not start: "
                                   + log.read().decode(errors="replace")[-3000:])
            time.sleep(0.1)  # polling for readiness
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
