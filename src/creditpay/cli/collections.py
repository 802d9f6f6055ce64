"""``creditpay collections run``: the daily collections run for a business date.

Prints the counts (cases opened, contacts sent, refused by rule, promises kept and broken,
handed over). Bad input exits with code 2 and a message naming the option on stderr; stdout
stays empty so scripts reading ``--json`` never parse an error as a result.
"""

from __future__ import annotations

import datetime as dt
import json

import typer

from creditpay.cli.common import DbOption, services

__all__ = ["register", "collections_app"]

collections_app = typer.Typer(help="Fair collections: reminders, DPD actions, promises to "
                                   "pay, settlement offers, hand-over.", no_args_is_help=True)


def _bad(option: str, message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=f"'{option}'")


@collections_app.command("run")
def collections_run_command(
    date: str = typer.Option(..., "--date", help="Business date, YYYY-MM-DD (run it after "
                                                 "the close of business of the day before)."),
    db: DbOption = None,
    currency: str = typer.Option("CNY", "--currency", help="Book to work (ISO 4217)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run the collections of a date (idempotent per date; resumes after a crash)."""
    from creditpay.errors import DomainError
    from creditpay.protection.collections_rules import run_collections

    try:
        business_date = dt.date.fromisoformat(date)
    except ValueError:
        raise _bad("--date", f"{date!r} is not a date (YYYY-MM-DD)") from None
    built = services(db, read_only=False)
    try:
        report = run_collections(built.uow, business_date, currency=currency)
    except DomainError as exc:
        option = "--currency" if exc.field == "currency" else "--date"
        raise _bad(option, exc.detail) from None
    finally:
        built.close()
    result = report.as_dict()
    if as_json:
        typer.echo(json.dumps(result))
        return
    refused = sum(report.refused_by_rule.values())
    typer.echo(f"collections {report.business_date} {report.currency} ({report.strategy})"
               + (" already done" if report.already_done else ""))
    for label, value in (
            ("cases opened", report.cases_opened),
            ("cases closed", sum(report.cases_closed.values())),
            ("contacts sent", report.contacts_sent),
            ("refused by rule", refused),
            ("promises kept", report.promises_kept),
            ("promises broken", report.promises_broken),
            ("settlement offers", report.settlement_offers),
            ("handed over", report.handed_over)):
        typer.echo(f"  {label:<18} {value}")
    for rule, count in sorted(report.refused_by_rule.items()):
        typer.echo(f"    {rule:<22} {count}")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:  # noqa: ARG001
    """Add the ``collections`` sub-commands."""
    app.add_typer(collections_app, name="collections")
