"""``creditpay serve`` (the HTTP API on uvicorn), ``creditpay operator-create`` (bootstrap an
operator: token, TOTP enrolment, password) and ``creditpay bench checkout``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from creditpay.cli.common import (
    DbOption,
    fail,
    initial_password,
    services,
    settings_for,
    with_business_date,
)

__all__ = ["register"]


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        db: DbOption = None,
        host: str = typer.Option("127.0.0.1", "--host"),
        port: int = typer.Option(8000, "--port"),
        workers: int = typer.Option(
            1, "--workers", help="API processes on the one port (uvicorn workers). Above 1 "
                                 "needs PostgreSQL, and the background jobs then run in no "
                                 "API process"),
        jobs: bool | None = typer.Option(
            None, "--jobs/--no-jobs",
            help="run the background jobs in this process (webhook delivery, card rail "
                 "callbacks, audit seal): the default in development mode "
                 "(CREDITPAY_SERVE_JOBS); refused in production mode and off with --workers "
                 "above 1, where creditpay worker and creditpay scheduler run them"),
        business_date: str | None = typer.Option(
            None, "--business-date",
            help="serve the database at its own business date: YYYY-MM-DD, or 'db' for "
                 "the day after its last close of business (a demo's next day); business "
                 "time starts at 09:00 UTC and runs with the wall clock "
                 "(CREDITPAY_BUSINESS_DATE)"),
    ) -> None:
        """Run the HTTP API with uvicorn (needs CREDITPAY_MASTER_KEY or _FILE).
        CREDITPAY_WEBHOOKS_ALLOW_PRIVATE=true lets merchant webhooks target loopback and
        private addresses (development only)."""
        import os

        import uvicorn

        from creditpay.platform.logs import configure_logging
        from creditpay.platform.metrics import prepare_multiprocess_metrics

        settings = settings_for(db)
        if business_date is not None:
            settings = with_business_date(settings, business_date)
        if workers < 1:
            raise fail("--workers must be at least 1")
        if workers > 1 and settings.database_url.startswith("sqlite"):
            # SQLite lets one process write at a time: N processes would queue on its lock
            # (and each could keep the other waiting up to the busy timeout), for no gain.
            raise fail(f"--workers {workers} needs PostgreSQL: SQLite has one writer at a "
                       "time, so more than one API process on it only queue on its lock. "
                       "Serve SQLite with --workers 1, or --db postgresql://...")
        if jobs and settings.mode == "production":
            raise fail("--jobs: production mode runs no background loop in the API "
                       "process; run creditpay worker and creditpay scheduler")
        run_jobs = (settings.serve_jobs and settings.mode == "development") if jobs is None \
            else jobs
        if workers > 1 and run_jobs:
            typer.echo(f"--workers {workers}: the API processes run no background jobs "
                       "(rail callbacks, audit sealing, webhook delivery would run "
                       f"{workers} times); run creditpay worker and creditpay scheduler",
                       err=True)
            run_jobs = False
        # JSON lines for every record (uvicorn's included: log_config=None keeps uvicorn
        # from installing its own plain-text handlers); the access line is the API's own
        # (creditpay.access: route template, status, duration, request id). Each worker
        # process configures its own again (app_from_environment).
        configure_logging(settings)
        if workers > 1:
            # Bring the database to the current schema once, here, before the workers
            # start: N processes migrating one database at the same moment would race.
            built = services(settings.database_url, read_only=False)
            built.close()
        # /metrics sums every worker's samples (prometheus-client's multiprocess mode).
        prepare_multiprocess_metrics(workers)
        # Every worker builds its app from the environment (uvicorn's factory), so every
        # one is configured identically: serve's options go there as CREDITPAY_* values.
        os.environ.update({
            "CREDITPAY_DATABASE_URL": settings.database_url,
            "CREDITPAY_SERVE_JOBS": "true" if run_jobs else "false",
            **({"CREDITPAY_BUSINESS_DATE": settings.business_date}
               if settings.business_date else {})})
        # uvicorn's supervisor restarts a worker that dies and, on SIGTERM or SIGINT, stops
        # them gracefully (each finishes its requests in flight and runs its shutdown).
        uvicorn.run("creditpay.api.app:app_from_environment", factory=True, workers=workers,
                    host=host, port=port, log_config=None, log_level=settings.log_level,
                    access_log=False, proxy_headers=False, server_header=False,
                    timeout_graceful_shutdown=30)

    @app.command("operator-create")
    def operator_create(
        name: str = typer.Option(..., "--name"),
        role: str = typer.Option(..., "--role", help="admin | risk_analyst | "
                                 "collections_agent | compliance_officer | support"),
        password_file: Path | None = typer.Option(
            None, "--password-file", dir_okay=False,
            help="File holding the operator's login password (first line, 10..128 "
                 "characters); it is never printed. Without it a random password is "
                 "generated and printed once."),
        db: DbOption = None,
    ) -> None:
        """Create an operator (the bootstrap of a deployment's staff) and print, once, as
        JSON: its id, its cpo_ token (the machine credential for scripts and the CLI's
        --token; store it in a secret manager), its TOTP enrolment (totp_secret and an
        otpauth:// totp_uri for an authenticator app) and, when generated, its password.
        Staff log in with id + password + TOTP code (POST /v1/operator/auth/login). Needs
        CREDITPAY_MASTER_KEY or _FILE (the TOTP secret is kept encrypted)."""
        from creditpay.errors import DomainError

        password, generated = initial_password(password_file)
        built = services(db, read_only=False)
        try:
            parties = built.parties
            password_hash = parties.passwords.hash(password)  # argon2 before the write lock
            parties.vault.ensure_active_key()
            result = built.uow.run(lambda tx: parties.create_operator(
                tx, name=name, role=role, password_hash=password_hash))
        except DomainError as exc:
            field = "--password-file" if getattr(exc, "field", None) == "password" else None
            typer.echo(f"error: {field + ': ' if field else ''}{exc}", err=True)
            raise typer.Exit(2) from None
        finally:
            built.close()
        if generated is not None:
            result["password"] = generated
        typer.echo(json.dumps(result))

    @bench_app.command("web")
    def bench_web(
        as_json: bool = typer.Option(False, "--json", help="print JSON only"),
        rounds: int = typer.Option(300, "--rounds", min=20,
                                   help="requests per page (and per JSON route)"),
    ) -> None:
        """Consumer pages (/app/...) vs the JSON routes that read the same data, on a warm
        server over loopback, one client: p50/p99 per page (issue #15: p99 <= 100 ms)."""
        from creditpay.benchmarks.web import run

        run(rounds=rounds, json_output=as_json)

    @bench_app.command("checkout")
    def bench_checkout(
        as_json: bool = typer.Option(False, "--json", help="print JSON only"),
        stores: str = typer.Option("sqlite,postgresql", "--stores"),
        payments: int = typer.Option(200, "--payments", help="payments per in-process run"),
        http_payments: int = typer.Option(200, "--http-payments"),
        concurrency: int = typer.Option(8, "--concurrency"),
    ) -> None:
        """Pay-with-credit checkout (intent -> confirm 6 installments -> capture): in process
        and over HTTP on loopback, vs the store's raw durable commits/s."""
        from creditpay.benchmarks.checkout import run

        result = run(stores=[s.strip() for s in stores.split(",") if s.strip()],
                     payments=payments, http_payments=http_payments, concurrency=concurrency,
                     progress=not as_json)
        typer.echo(json.dumps(result, indent=None if as_json else 2))
