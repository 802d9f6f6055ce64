"""A throwaway PostgreSQL server on loopback, for tests and benchmarks.

``initdb`` into a temporary folder, ``pg_ctl start`` on a free port, stopped and removed at
the end. When run as root, the server runs as the ``postgres`` system user (PostgreSQL refuses
to run as root). Nothing here is used in production.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess  # nosec B404 - starting the local database server is the point
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PostgresServer", "find_pg_bin", "running_postgres"]

START_TIMEOUT_S = 60


class PostgresUnavailable(RuntimeError):
    pass


def find_pg_bin() -> Path:
    """Folder holding initdb/pg_ctl: $CREDITPAY_PG_BIN, PATH, or Debian's versioned folders."""
    env = os.environ.get("CREDITPAY_PG_BIN")
    if env and (Path(env) / "initdb").exists():
        return Path(env)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit()
                        else 0, reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise PostgresUnavailable(
        "PostgreSQL's initdb was not found; install Debian's 'postgresql' package"
        " (scripts/ensure-system-deps.sh does it) or set CREDITPAY_PG_BIN")


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """Start with :meth:`start`, stop with :meth:`stop`; ``url`` is a psycopg 3 URL."""

    def __init__(self, *, fsync: bool = True) -> None:
        self.bin = find_pg_bin()
        self.fsync = fsync
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="creditpay-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "server.log"
        self._as_postgres = os.geteuid() == 0
        self.started = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, args: list[str]) -> None:
        command = args
        if self._as_postgres:
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            command = [runuser, "-u", "postgres", "--", *args]
        result = subprocess.run(command, capture_output=True, text=True,  # nosec B603
                                timeout=START_TIMEOUT_S, check=False)
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()}"
                f" {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log.read_text()[-2000:]
        except OSError:
            return ""

    def start(self) -> PostgresServer:
        self.sockets.mkdir(parents=True)
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sockets, "postgres")
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                   "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
                   f" -c max_connections=200 -c fsync={'on' if self.fsync else 'off'}"
                   f" -c shared_buffers=256MB")
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                   "-o", options, "-w", "-t", str(START_TIMEOUT_S), "start"])
        self.started = True
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise PostgresUnavailable(f"server did not listen on {self.port}: {self._log_tail()}")

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(PostgresUnavailable, subprocess.TimeoutExpired):
                self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                           "-w", "stop"])
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            sql = f'CREATE DATABASE "{name}"'
            if template:
                sql += f' TEMPLATE "{template}" STRATEGY FILE_COPY'
            conn.execute(sql)  # nosec B608 - names are generated by the test harness
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # nosec B608


@contextlib.contextmanager
def running_postgres(*, fsync: bool = True) -> Iterator[PostgresServer]:
    server = PostgresServer(fsync=fsync)
    try:
        yield server.start()
    finally:
        server.stop()
