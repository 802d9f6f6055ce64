"""``creditpay serve`` (the HTTP API on uvicorn), ``creditpay operator-create`` (bootstrap an
operator token) and ``creditpay bench checkout``."""

from __future__ import annotations

import json

import typer

from creditpay.cli.common import DbOption, services, settings_for, with_business_date

__all__ = ["register"]


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        db: DbOption = None,
        host: str = typer.Option("127.0.0.1", "--host"),
        port: int = typer.Option(8000, "--port"),
        jobs: bool = typer.Option(True, "--jobs/--no-jobs",
                                  help="deliver card rail callbacks and seal the audit chain "
                                       "every second, and run the webhook delivery worker"),
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
        import uvicorn

        from creditpay.api.app import create_app
        from creditpay.api.runtime import ApiConfig

        settings = settings_for(db)
        if business_date is not None:
            settings = with_business_date(settings, business_date)
        application = create_app(settings, config=ApiConfig(background_jobs=jobs))
        uvicorn.run(application, host=host, port=port, log_level="info",
                    proxy_headers=False, server_header=False)

    @app.command("operator-create")
    def operator_create(
        name: str = typer.Option(..., "--name"),
        role: str = typer.Option(..., "--role", help="admin | risk_analyst | "
                                 "collections_agent | compliance_officer | support"),
        db: DbOption = None,
    ) -> None:
        """Create an operator and print its token once (store it in a secret manager)."""
        from creditpay.errors import DomainError
        from creditpay.parties.security import TokenSigner
        from creditpay.parties.service import Parties

        built = services(db, read_only=False)
        try:
            # Creating an operator needs neither the vault nor tokens: no keys are loaded
            # (the bootstrap's Parties would load them), so this one has none.
            parties = Parties(vault=None, indexer=None,  # type: ignore[arg-type]
                              signer=TokenSigner(b"\0" * 32))
            result = built.uow.run(lambda tx: parties.create_operator(tx, name=name, role=role))
        except DomainError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        finally:
            built.close()
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
