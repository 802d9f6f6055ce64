"""``creditpay nightly``: the night's batch (:mod:`creditpay.nightly`) on the bootstrap's
services."""

from __future__ import annotations

import datetime as dt
import json

import typer

from creditpay.cli.common import DbOption, checkpointer_or_exit, services

__all__ = ["register"]


def register(app: typer.Typer, bench_app: typer.Typer) -> None:  # noqa: ARG001

    @app.command("nightly")
    def nightly_command(
        date: str = typer.Option(..., "--date", help="Business date to close, YYYY-MM-DD."),
        db: DbOption = None,
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """The night's batch: close of business, limit review when due, risk early warning,
        complaint escalation, audit seal (each idempotent for the date)."""
        from creditpay.errors import DomainError
        from creditpay.nightly import run_nightly
        from creditpay.platform.checkpoints import AuditChainBrokenError

        try:
            business_date = dt.date.fromisoformat(date)
        except ValueError:
            raise typer.BadParameter("must be a date YYYY-MM-DD",
                                     param_hint="--date") from None
        built = services(db, read_only=False)
        checkpointer = checkpointer_or_exit(built)
        try:
            report = run_nightly(built.uow, business_date,
                                 progress=not as_json, audit_checkpointer=checkpointer,
                                 catalogue=built.catalogue, bureau=built.bureau,
                                 fx_config=built.fx_config,
                                 fx_rate_source=built.fx_rate_source)
        except AuditChainBrokenError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except DomainError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        finally:
            built.close()
        typer.echo(json.dumps(report.as_dict(), default=str))
