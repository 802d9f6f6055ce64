"""``creditpay worker``, ``creditpay scheduler`` and ``creditpay jobs ...``: the background
jobs (:mod:`creditpay.jobs`; docs/operations.md, "Jobs")."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from creditpay.cli.common import DbOption, fail, settings_for

if TYPE_CHECKING:
    from creditpay.config import Settings

__all__ = ["register"]

QUEUES_HELP = ("Queues to run, comma separated: webhooks, jobs, nightly (default: all). "
               "PostgreSQL only; on SQLite the worker runs every job in process.")


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _log_setup(settings: Settings) -> None:
    """JSON lines (the PII masking included) for the worker's, the scheduler's and
    procrastinate's records, as every creditpay process logs."""
    from creditpay.platform.logs import configure_logging

    configure_logging(settings)


def _postgres_or_exit(settings: Settings, command: str) -> None:
    from creditpay.jobs.queue import is_postgres

    if not is_postgres(settings.database_url):
        raise fail(f"{command} needs the PostgreSQL job queue; on SQLite creditpay worker "
                   "runs every job in process and there is no queue to look at")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:  # noqa: ARG001
    jobs_app = typer.Typer(help="The background job queue: status, failed jobs, retries.",
                           no_args_is_help=True)
    app.add_typer(jobs_app, name="jobs")

    @app.command("worker")
    def worker(
        db: DbOption = None,
        queues: str | None = typer.Option(None, "--queues", help=QUEUES_HELP),
        concurrency: int = typer.Option(2, "--concurrency", min=1, max=32,
                                        help="jobs of the 'jobs' queue run at once"),
    ) -> None:
        """Run background jobs until SIGTERM or SIGINT (then take no new job and let the
        running ones finish): merchant webhook delivery, the card rail's callbacks, the
        audit seal, the nightly batch. On PostgreSQL it takes them from the job queue
        (creditpay scheduler defers them; run as many workers as you like); on SQLite it
        runs them on their schedule in this process (one worker)."""
        import asyncio
        import logging

        from creditpay.bootstrap import ServiceOptions, build_services, serving_clock
        from creditpay.errors import DomainError
        from creditpay.jobs.functions import JobSchedule, prepare
        from creditpay.jobs.queue import QUEUES, is_postgres

        settings = settings_for(db)
        chosen = list(QUEUES) if queues is None else \
            [name.strip() for name in queues.split(",") if name.strip()]
        unknown = sorted(set(chosen) - set(QUEUES))
        if not chosen or unknown:
            raise fail(f"--queues: unknown queue {', '.join(unknown) or '(none given)'} "
                       f"(choose from {', '.join(QUEUES)})")
        postgres = is_postgres(settings.database_url)
        if not postgres and queues is not None:
            raise fail("--queues: SQLite has no job queue (the worker runs every job)")
        _log_setup(settings)
        try:
            schedule = JobSchedule.from_settings(settings)
            built = build_services(settings, serving_clock(settings),
                                   ServiceOptions(pool_size=concurrency + 2))
        except DomainError as exc:
            raise fail(str(exc)) from None
        log = logging.getLogger("creditpay.jobs")
        try:
            prepare(built)  # seals must be able to write their checkpoint, and so on
            if postgres:
                from creditpay.jobs.queue import run_workers

                log.info("creditpay worker started: store postgresql (%s), queues %s, "
                         "concurrency %d", _shown(settings.database_url), ",".join(chosen),
                         concurrency)
                asyncio.run(run_workers(settings, built, queues=chosen,
                                        concurrency=concurrency, schedule=schedule))
            else:
                log.info("creditpay worker started: store sqlite (%s), in-process runner, "
                         "every job; periods %d s, seal %d s, nightly at %s",
                         _shown(settings.database_url), schedule.period_s,
                         schedule.seal_period_s, settings.nightly_at)
                asyncio.run(_run_in_process(built, schedule))
        except DomainError as exc:
            raise fail(str(exc)) from None
        finally:
            built.close()
        log.info("creditpay worker stopped")

    @app.command("scheduler")
    def scheduler(db: DbOption = None) -> None:
        """Defer the periodic jobs on schedule (webhooks and rail callbacks every
        CREDITPAY_JOBS_PERIOD_S, the audit seal every CREDITPAY_AUDIT_SEAL_PERIOD_S, the
        nightly batch at CREDITPAY_NIGHTLY_AT) and put back in the queue the jobs of a
        worker that died, until SIGTERM or SIGINT. PostgreSQL only. Run one; a second one
        is harmless (a job is never deferred twice for the same time)."""
        import asyncio
        import logging

        from creditpay.errors import DomainError
        from creditpay.jobs.functions import JobSchedule
        from creditpay.jobs.queue import run_scheduler

        settings = settings_for(db)
        _postgres_or_exit(settings, "creditpay scheduler")
        _log_setup(settings)
        try:
            schedule = JobSchedule.from_settings(settings)
        except DomainError as exc:
            raise fail(str(exc)) from None
        log = logging.getLogger("creditpay.jobs")
        log.info("creditpay scheduler started: store postgresql (%s); webhooks and rail "
                 "callbacks every %d s, seal every %d s, nightly at %s; stalled after %d s",
                 _shown(settings.database_url), schedule.period_s, schedule.seal_period_s,
                 settings.nightly_at, schedule.stalled_after_s)
        asyncio.run(run_scheduler(settings, schedule=schedule))
        log.info("creditpay scheduler stopped")

    @jobs_app.command("status")
    def jobs_status(
        db: DbOption = None,
        as_json: bool = typer.Option(False, "--json", help="print JSON only"),
    ) -> None:
        """Jobs by queue and status (todo is the queue depth), live workers, and the latest
        failed jobs (retry one with creditpay jobs retry ID)."""
        from creditpay.jobs.queue import status

        settings = settings_for(db)
        _postgres_or_exit(settings, "creditpay jobs status")
        try:
            result = status(settings)
        except Exception as exc:  # noqa: BLE001 - any failure to reach the queue: exit 2
            raise fail(f"the job queue cannot be read: {type(exc).__name__}: {exc}") from None
        typer.echo(json.dumps(result, indent=None if as_json else 2, default=str))

    @jobs_app.command("retry")
    def jobs_retry(job_id: int = typer.Argument(..., min=1, help="a failed job's id"),
                   db: DbOption = None) -> None:
        """Put a failed job back in the queue: a worker runs it again (jobs are
        idempotent)."""
        from creditpay.errors import DomainError
        from creditpay.jobs.queue import retry_failed

        settings = settings_for(db)
        _postgres_or_exit(settings, "creditpay jobs retry")
        try:
            retry_failed(settings, job_id)
        except DomainError as exc:
            raise fail(f"job {job_id}: {exc}") from None
        typer.echo(json.dumps({"retried": job_id}))

    @jobs_app.command("nightly")
    def jobs_nightly(
        date: str = typer.Option(..., "--date", help="Business date to close, YYYY-MM-DD."),
        db: DbOption = None,
    ) -> None:
        """Queue the nightly batch for a business date (a worker runs it; creditpay
        nightly runs it in this process instead)."""
        import datetime as dt

        from creditpay.jobs.queue import defer_nightly

        try:
            business_date = dt.date.fromisoformat(date)
        except ValueError:
            raise typer.BadParameter("must be a date YYYY-MM-DD", param_hint="--date") from None
        settings = settings_for(db)
        _postgres_or_exit(settings, "creditpay jobs nightly")
        typer.echo(json.dumps({"job_id": defer_nightly(settings, business_date),
                               "business_date": business_date.isoformat()}))


async def _run_in_process(built: object, schedule: object) -> None:
    """The SQLite worker: the in-process runner until SIGTERM or SIGINT."""
    import asyncio
    import signal

    from creditpay.bootstrap import Services
    from creditpay.jobs.functions import JobSchedule
    from creditpay.jobs.inprocess import InProcessRunner

    assert isinstance(built, Services) and isinstance(schedule, JobSchedule)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = asyncio.create_task(InProcessRunner(built, schedule).run())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([runner, stopper], return_when=asyncio.FIRST_COMPLETED)
    runner.cancel()
    stopper.cancel()
    await asyncio.gather(runner, stopper, return_exceptions=True)
