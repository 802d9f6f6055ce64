"""``creditpay hardship options``: the hardship options of a plan, cash loan or line, as the
consumer would see them today (docs/hardship.md), for staff and scripts.

Bad input exits with code 2 and a message naming the option on stderr; stdout stays empty
so scripts reading ``--json`` never parse an error as a result.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from creditpay.cli.common import DbOption, services

__all__ = ["register", "hardship_app"]

hardship_app = typer.Typer(help="Hardship help: payment holidays, longer terms and reduced "
                                "rates within each product's rules.", no_args_is_help=True)


def _bad(option: str, message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=f"'{option}'")


@hardship_app.command("options")
def options_command(
    account: str = typer.Option(..., "--account", help="The plan's or loan's account id."),
    db: DbOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print the options as JSON."),
) -> None:
    """The options of an account today, each with its new schedule and full cost."""
    from creditpay.credit import hardship
    from creditpay.credit.accounts_repo import account_customer
    from creditpay.errors import DomainError

    built = services(db, read_only=True)
    try:
        with built.uow.connect() as conn:
            customer = account_customer(conn, account)
            if customer is None:
                raise _bad("--account", f"no credit account {account!r}")
            view = hardship.options_for(conn, customer_id=customer, account_id=account,
                                        today=built.uow.clock.today(),
                                        catalogue=built.catalogue)
    except DomainError as exc:
        raise _bad("--account", exc.detail) from None
    finally:
        built.close()
    options: list[dict[str, Any]] = [view.figures(option) for option in view.options]
    if as_json:
        typer.echo(json.dumps({"account_id": view.account_id, "currency": view.currency,
                               "dpd": view.dpd, "principal_minor": view.principal_minor,
                               "current_total_minor": view.current_total_minor,
                               "options": options}, ensure_ascii=False))
        return
    typer.echo(f"{view.account_id}: {view.principal_minor} {view.currency} unbilled, "
               f"{view.current_total_minor} still to repay, dpd {view.dpd}")
    for figures in options:
        typer.echo(f"  {figures['option_id']} {figures['kind']:<16} {figures['cycles']:>2}"
                   f"  {figures['installments']:>3} x {figures['installment_minor']}"
                   f"  extra {figures['extra_cost_minor']}  APR {figures['apr_percent']} %")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.add_typer(hardship_app, name="hardship")
