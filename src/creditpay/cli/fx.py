"""``creditpay fx``: FX quotes, the stored mid rates, the day's refresh and the daily FX
position (issue #21; docs/fx.md).

``fx quote`` and ``fx refresh`` write; ``fx rates`` and ``fx position`` only read and never
create a database. Bad input exits with code 2 and a message naming the option on stderr;
stdout stays empty so scripts reading ``--json`` never parse an error as a result.
"""

from __future__ import annotations

import datetime as dt
import json

import typer

from creditpay.cli.common import DbOption, fail, services

__all__ = ["register", "fx_app"]

fx_app = typer.Typer(help="Foreign exchange: quotes locked 30 minutes, mid rates, the FX "
                          "position.", no_args_is_help=True)

_FIELD_OPTIONS = {"sell_currency": "--sell", "buy_currency": "--buy",
                  "buy_amount_minor": "--buy-amount-minor", "customer_id": "--customer",
                  "amount_minor": "--buy-amount-minor", "date": "--date"}


def _day(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail("--date: must be a date YYYY-MM-DD") from None


def _refused(exc: Exception) -> typer.Exit:
    field = getattr(exc, "field", None)
    detail = getattr(exc, "detail", str(exc))
    return fail(f"{_FIELD_OPTIONS.get(field or '', field or 'error')}: {detail}")


@fx_app.command("quote")
def quote_command(
    sell: str = typer.Option(..., "--sell", help="The currency paid, e.g. CNY."),
    buy: str = typer.Option(..., "--buy", help="The currency bought, e.g. JPY."),
    buy_amount_minor: int = typer.Option(..., "--buy-amount-minor",
                                         help="The amount bought, in its minor units "
                                              "(yen have none: 100000 is JPY 100,000)."),
    customer: str | None = typer.Option(None, "--customer",
                                        help="The customer the quote is for (checked "
                                             "against their limits; only they can use it)."),
    db: DbOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print the quote as JSON."),
) -> None:
    """Quote an amount of a foreign currency, locked for 30 minutes."""
    from creditpay.errors import DomainError
    from creditpay.fx.quotes import create_quote

    built = services(db, read_only=False)
    try:
        quote = built.uow.run(lambda tx: create_quote(
            tx, sell_currency=sell, buy_currency=buy, buy_amount_minor=buy_amount_minor,
            customer_id=customer, config=built.fx_config, source=built.fx_rate_source))
    except DomainError as exc:
        raise _refused(exc) from None
    finally:
        built.close()
    body = quote.as_dict()
    if as_json:
        typer.echo(json.dumps(body))
        return
    typer.echo(f"{body['quote_id']}: {quote.buy_amount_minor} {quote.buy_currency} minor "
               f"units cost {quote.sell_amount_minor} {quote.sell_currency} minor units at "
               f"{body['client_rate']} (mid {body['mid_rate']} + {quote.markup_bps} bps), "
               f"locked until {body['expires_at']}")


@fx_app.command("rates")
def rates_command(
    date: str | None = typer.Option(None, "--date",
                                    help="The day (YYYY-MM-DD; default: the latest stored)."),
    db: DbOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print the rates as JSON."),
) -> None:
    """The stored mid rates of a day (read-only: never creates a database)."""
    from creditpay.fx.rates import stored_rates

    day = _day(date)
    built = services(db, read_only=True)
    try:
        with built.uow.connect() as conn:
            rates = stored_rates(conn, day)
    finally:
        built.close()
    rows = [rate.as_dict() for rate in rates]
    if as_json:
        typer.echo(json.dumps({"date": rows[0]["as_of"] if rows else date, "rates": rows}))
        return
    if not rows:
        typer.echo("no rates stored" + (f" for {date}" if date else ""))
    for row in rows:
        typer.echo(f"{row['as_of']}  1 {row['base_currency']} = {row['mid_rate']} "
                   f"{row['quote_currency']}  ({row['source']}, {row['fetched_at']})")


@fx_app.command("refresh")
def refresh_command(
    date: str | None = typer.Option(None, "--date",
                                    help="The day (YYYY-MM-DD; default: the business date)."),
    db: DbOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print the rates stored as JSON."),
) -> None:
    """Fetch the day's mid rates from the configured source (CREDITPAY_FX_RATE_SOURCE) and
    store them (a rate already stored for the day is kept)."""
    from creditpay.errors import DomainError
    from creditpay.fx.rates import refresh_rates

    day = _day(date)
    built = services(db, read_only=False)
    try:
        rates = built.uow.run(lambda tx: refresh_rates(tx, built.fx_rate_source, day))
    except DomainError as exc:
        raise _refused(exc) from None
    finally:
        built.close()
    rows = [rate.as_dict() for rate in rates]
    if as_json:
        typer.echo(json.dumps({"stored": len(rows), "rates": rows}))
        return
    typer.echo(f"{len(rows)} rates stored")


@fx_app.command("position")
def position_command(
    date: str = typer.Option(..., "--date", help="The business date (YYYY-MM-DD)."),
    db: DbOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """The FX position stored for a day by the nightly run: per currency the fx_position
    balance, its CNY value at the day's mid, the revaluation and the FX revenue (read-only).
    Exit 1 when no report is stored for the day."""
    from creditpay.fx.position import position_summary, stored_position

    day = _day(date)
    assert day is not None
    built = services(db, read_only=True)
    try:
        with built.uow.connect() as conn:
            lines = stored_position(conn, day)
        home = built.fx_config.home_currency
    finally:
        built.close()
    if not lines:
        raise fail(f"--date: no FX position stored for {day} (the nightly run writes it: "
                   f"creditpay nightly --date {day})", code=1)
    summary = position_summary(day, lines, home)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    for line in summary["lines"]:
        typer.echo(f"{line['currency']}  balance {line['balance_minor']}  mid "
                   f"{line['mid_rate']}  value {line['value_home_minor']} {home}  "
                   f"revaluation {line['revaluation_home_minor']}  revenue "
                   f"{line['realised_revenue_home_minor']}")
    typer.echo(f"total value {summary['value_home_minor']} {home}, revaluation "
               f"{summary['revaluation_home_minor']}, FX revenue "
               f"{summary['realised_revenue_home_minor']}")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.add_typer(fx_app, name="fx")
