"""The PostgreSQL job queue: procrastinate (its tables live in creditpay's database, created
by migration ``0038_jobs_queue``).

Queues, and who runs them:

* ``webhooks``: :func:`deliver_webhooks`, two rounds at once per worker (a round keeps up
  to the dispatcher's ``in_flight_max`` requests in flight, each within its deadline, and
  waits for them; while a slow merchant holds one round, the next one delivers everyone
  else's). A queue of its own with its own worker loop, so a merchant's slow server never
  holds a slot the other jobs need.
* ``jobs``: the card rail's callbacks and the audit seal (``--concurrency`` at once).
* ``nightly``: the night's batch, one at a time (lock ``nightly``).

``creditpay worker`` runs one procrastinate worker per queue in one process (all three by
default). ``creditpay scheduler`` defers the periodic jobs (procrastinate's periodic
deferrer: the database refuses a second defer of the same task for the same second, so two
schedulers never double a job; each periodic task also has a queueing lock, so a stopped
worker leaves one job waiting, not a pile) and retries stalled jobs: a job whose worker
stopped sending heartbeats (SIGKILL, power loss) for ``stalled_after_s`` goes back to the
queue and runs again. Every job is idempotent (:mod:`creditpay.jobs.functions`), so the
run that died and the retry together have the effect of one run.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import signal
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from creditpay.jobs import functions as F

if TYPE_CHECKING:
    import procrastinate

    from creditpay.bootstrap import Services
    from creditpay.config import Settings

__all__ = ["QUEUES", "QUEUE_WEBHOOKS", "QUEUE_JOBS", "QUEUE_NIGHTLY", "TASK_NAMES",
           "build_app", "conninfo", "is_postgres", "run_workers", "run_scheduler",
           "retry_stalled_jobs", "queue_depth", "jobs_ready", "status", "defer_nightly",
           "schema_sql", "retry_failed"]

log = logging.getLogger("creditpay.jobs")

QUEUE_WEBHOOKS = "webhooks"
QUEUE_JOBS = "jobs"
QUEUE_NIGHTLY = "nightly"
QUEUES = (QUEUE_WEBHOOKS, QUEUE_JOBS, QUEUE_NIGHTLY)
TASK_NAMES = ("deliver_webhooks", "apply_rail_callbacks", "seal_audit", "nightly",
              "nightly_tick")
WEBHOOK_ROUNDS_MAX = 2  # webhook rounds at once per worker (see the module docstring)
STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")
# How often (seconds) the scheduler looks for jobs of dead workers; a worker's heartbeat
# comes every few seconds (below), so a stalled job waits at most stalled_after_s + this.
STALLED_CHECK_S_MAX = 10.0
PRUNE_EVERY_S = 600.0  # how often the scheduler deletes old finished jobs
FINISHED_JOBS_KEPT_HOURS = 24


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres"))


def conninfo(url: str) -> str:
    """libpq's form of a creditpay database URL (``postgresql+psycopg://`` is SQLAlchemy's)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def schema_sql() -> str:
    """procrastinate's schema (tables, types, functions, triggers), as its version ships it."""
    from procrastinate.schema import SchemaManager

    return str(SchemaManager.get_schema())


def _cron_every(seconds: int) -> str:
    # croniter's sixth field is seconds; a period that does not divide 60 restarts each
    # minute (e.g. 7 s: :00, :07 ... :56, then :00).
    return f"* * * * * */{seconds}"


def build_app(settings: Settings, services: Services | None = None, *,
              schedule: F.JobSchedule | None = None,
              periodic: bool = False) -> procrastinate.App:
    """The procrastinate app on ``settings.database_url``. Its tasks run the job functions
    on ``services`` (a worker's; None in a process that only defers, such as the
    scheduler). ``periodic``: register the schedule (the scheduler only, so workers run no
    deferrer of their own)."""
    import procrastinate

    schedule = schedule or F.JobSchedule.from_settings(settings)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        # A worker holds one listening connection per queue; the rest fetch and finish jobs.
        conninfo=conninfo(settings.database_url), min_size=1, max_size=10))

    def built() -> Services:
        if services is None:
            raise RuntimeError("this process defers jobs; only creditpay worker runs them")
        return services

    @app.task(name="deliver_webhooks", queue=QUEUE_WEBHOOKS, queueing_lock="deliver_webhooks")
    async def deliver_webhooks(timestamp: int | None = None) -> dict[str, int]:
        return await F.deliver_webhooks(built())

    @app.task(name="apply_rail_callbacks", queue=QUEUE_JOBS,
              queueing_lock="apply_rail_callbacks")
    def apply_rail_callbacks(timestamp: int | None = None) -> dict[str, int]:
        return F.apply_rail_callbacks(built())

    @app.task(name="seal_audit", queue=QUEUE_JOBS, queueing_lock="seal_audit")
    def seal_audit(timestamp: int | None = None) -> dict[str, Any]:
        return F.seal_audit(built())

    @app.task(name="nightly", queue=QUEUE_NIGHTLY, lock="nightly")
    def nightly(business_date: str) -> dict[str, Any]:
        return F.nightly(built(), dt.date.fromisoformat(business_date))

    @app.task(name="nightly_tick", queue=QUEUE_NIGHTLY, lock="nightly",
              queueing_lock="nightly_tick")
    def nightly_tick(timestamp: int | None = None) -> dict[str, Any] | None:
        return F.nightly_tick(built(), schedule)

    if periodic:
        app.periodic(cron=_cron_every(schedule.period_s), periodic_id="webhooks")(
            deliver_webhooks)
        app.periodic(cron=_cron_every(schedule.period_s), periodic_id="rail_callbacks")(
            apply_rail_callbacks)
        app.periodic(cron=_cron_every(schedule.seal_period_s), periodic_id="seal")(seal_audit)
        # Every minute: the tick runs the nightly batch once its time of day has passed in
        # business time (which a served database may shift: CREDITPAY_BUSINESS_DATE), and
        # catches up a night a stopped scheduler missed.
        app.periodic(cron="* * * * *", periodic_id="nightly")(nightly_tick)
    return app


async def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def run_workers(settings: Settings, services: Services, *,
                      queues: Iterable[str] = QUEUES, concurrency: int = 2,
                      schedule: F.JobSchedule | None = None,
                      stop: asyncio.Event | None = None) -> None:
    """``creditpay worker`` on PostgreSQL: one procrastinate worker per queue in
    ``queues`` (``jobs`` runs ``concurrency`` jobs at once, ``webhooks`` two rounds,
    ``nightly`` one), until SIGTERM
    or SIGINT (or ``stop``): then no new job is taken and the running ones finish."""
    schedule = schedule or F.JobSchedule.from_settings(settings)
    chosen = list(dict.fromkeys(queues))
    if stop is None:
        stop = asyncio.Event()
        await _stop_on_signals(stop)
    app = build_app(settings, services, schedule=schedule)
    # Heartbeats well inside the stalled limit, so a live worker is never taken for dead.
    heartbeat_s = max(0.5, schedule.stalled_after_s / 4)
    async with app.open_async():
        workers = [app._worker(  # noqa: SLF001 - App.run_worker_async builds the same
            queues=[queue], name=f"creditpay-{queue}",
            concurrency=_concurrency(queue, concurrency),
            install_signal_handlers=False, listen_notify=True,
            fetch_job_polling_interval=min(1.0, schedule.period_s / 2),
            update_heartbeat_interval=heartbeat_s,
            stalled_worker_timeout=float(schedule.stalled_after_s))
            for queue in chosen]
        runs = [asyncio.create_task(worker.run()) for worker in workers]
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([*runs, stopper], return_when=asyncio.FIRST_COMPLETED)
        for worker in workers:
            worker.stop()
        stopper.cancel()
        results = await asyncio.gather(*runs, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and \
                    not isinstance(result, asyncio.CancelledError):
                raise result


def _concurrency(queue: str, jobs_concurrency: int) -> int:
    if queue == QUEUE_JOBS:
        return jobs_concurrency
    return WEBHOOK_ROUNDS_MAX if queue == QUEUE_WEBHOOKS else 1


async def retry_stalled_jobs(app: procrastinate.App, stalled_after_s: float) -> list[int]:
    """Put back in the queue every job whose worker sent no heartbeat for
    ``stalled_after_s`` (it was killed); returns their ids. A periodic job whose next run
    is already queued (its queueing lock is taken) is not queued twice: it is ended as
    ``aborted``, and the queued run does its work (every job is idempotent)."""
    from procrastinate.exceptions import ConnectorException
    from procrastinate.jobs import Status

    retried = []
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_s):
        assert job.id is not None
        try:
            await app.job_manager.retry_job(job)
        except ConnectorException:
            if job.queueing_lock is None:
                raise
            await app.job_manager.finish_job(job, status=Status.ABORTED, delete_job=False)
            log.warning("job %s (%s) of a dead worker ended: its next run is queued",
                        job.id, job.task_name)
            continue
        retried.append(job.id)
        log.warning("job %s (%s) of a dead worker retried", job.id, job.task_name)
    return retried


async def run_scheduler(settings: Settings, *, schedule: F.JobSchedule | None = None,
                        stop: asyncio.Event | None = None) -> None:
    """``creditpay scheduler``: defer the periodic jobs on schedule and retry stalled jobs,
    until SIGTERM or SIGINT (or ``stop``)."""
    from procrastinate.periodic import PeriodicDeferrer

    schedule = schedule or F.JobSchedule.from_settings(settings)
    if stop is None:
        stop = asyncio.Event()
        await _stop_on_signals(stop)
    app = build_app(settings, None, schedule=schedule, periodic=True)
    check_s = min(STALLED_CHECK_S_MAX, schedule.stalled_after_s / 2)
    async with app.open_async():
        deferrer = asyncio.create_task(
            PeriodicDeferrer(registry=app.periodic_registry, **app.periodic_defaults).worker())

        async def stalled() -> None:
            last_prune = -math.inf
            while True:
                try:
                    await retry_stalled_jobs(app, schedule.stalled_after_s)
                    if time.monotonic() - last_prune >= PRUNE_EVERY_S:
                        # Periodic jobs add ~60,000 rows a day: finished ones are kept a
                        # day (for jobs status), failed ones until a person deletes them.
                        await app.job_manager.delete_old_jobs(
                            nb_hours=FINISHED_JOBS_KEPT_HOURS, include_cancelled=True,
                            include_aborted=True)
                        last_prune = time.monotonic()
                except Exception:  # noqa: BLE001 - logged; the next check tries again
                    log.exception("stalled-job check failed")
                await asyncio.sleep(check_s)

        checker = asyncio.create_task(stalled())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([deferrer, checker, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in (deferrer, checker, stopper):
            task.cancel()
        for task in (deferrer, checker, stopper):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if deferrer.done() and not deferrer.cancelled() and deferrer.exception():
            raise deferrer.exception()  # type: ignore[misc]


def _connect(settings: Settings) -> Any:
    import psycopg

    return psycopg.connect(conninfo(settings.database_url), connect_timeout=5,
                           autocommit=True)


def status(settings: Settings, *, failed_max: int = 50) -> dict[str, Any]:
    """The queue's state: job counts by queue and status, and the latest failed jobs (id,
    task, queue, arguments, attempts, when it failed). PostgreSQL only."""
    with _connect(settings) as conn:
        counts = conn.execute(
            "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs "
            "GROUP BY queue_name, status ORDER BY queue_name, status").fetchall()
        failed = conn.execute(
            "SELECT j.id, j.task_name, j.queue_name, j.args, j.attempts, "
            "(SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id) "
            "FROM procrastinate_jobs j WHERE j.status = 'failed' "
            "ORDER BY j.id DESC LIMIT %s", (failed_max,)).fetchall()
        workers = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
    by_queue: dict[str, dict[str, int]] = {}
    for queue, job_status, count in counts:
        by_queue.setdefault(queue, dict.fromkeys(STATUSES, 0))[job_status] = int(count)
    return {"store": "postgresql", "queues": by_queue,
            "workers": int(workers[0]) if workers else 0,
            "failed": [{"id": row[0], "task": row[1], "queue": row[2], "args": row[3],
                        "attempts": row[4],
                        "failed_at": row[5].isoformat() if row[5] else None}
                       for row in failed]}


def queue_depth(settings: Settings) -> dict[str, int]:
    """Jobs waiting (``todo``) per queue, every queue named (0 when empty): the
    ``/metrics`` gauge. SQLite has no queue (the in-process runner): all zeros."""
    depth = dict.fromkeys(QUEUES, 0)
    if not is_postgres(settings.database_url):
        return depth
    with _connect(settings) as conn:
        for queue, count in conn.execute(
                "SELECT queue_name, count(*) FROM procrastinate_jobs WHERE status = 'todo' "
                "GROUP BY queue_name").fetchall():
            depth[queue] = int(count)
    return depth


def jobs_ready(settings: Settings) -> str | None:
    """The readiness check of the job queue: None when its tables exist and answer (always
    None on SQLite, whose runner is in process), else what is wrong."""
    if not is_postgres(settings.database_url):
        return None
    try:
        with _connect(settings) as conn:
            conn.execute("SELECT 1 FROM procrastinate_jobs LIMIT 1").fetchall()
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure as text
        return f"job queue unavailable: {type(exc).__name__}: {str(exc).strip()[:200]}"
    return None


def defer_nightly(settings: Settings, business_date: dt.date) -> int:
    """Queue the nightly batch for ``business_date`` (a worker runs it); returns the job id."""
    app = build_app(settings)
    with app.open():
        return int(app.configure_task("nightly").defer(business_date=business_date.isoformat()))


def retry_failed(settings: Settings, job_id: int) -> None:
    """Put a failed job back in the queue (it runs again as soon as a worker is free).
    Refused (ValidationError naming ``job_id``) when no failed job has that id."""
    from creditpay.errors import ValidationError

    with _connect(settings) as conn:
        row = conn.execute("SELECT status::text FROM procrastinate_jobs WHERE id = %s",
                           (job_id,)).fetchone()
        if row is None or row[0] != "failed":
            raise ValidationError("no failed job has this id", field="job_id")
        conn.execute("SELECT procrastinate_retry_job_v2(%s, now(), NULL, NULL, NULL)",
                     (job_id,)).fetchall()
