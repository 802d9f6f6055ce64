"""``creditpay ledger``: inspect accounts, balances and the journal; verify; export."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from creditpay.cli.common import DbOption, services

if TYPE_CHECKING:
    from sqlalchemy import Engine

ledger_app = typer.Typer(help="Double-entry ledger: accounts, balances, transfers, verify.",
                         no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _open(db: str | None) -> Engine:
    # Every ledger command only reads: a missing database is an error, never created.
    return services(db, read_only=True).engine


@ledger_app.command("accounts")
def accounts_command(db: DbOption = None, owner: Annotated[str | None, typer.Option(
        help="Only accounts of this owner id.")] = None,
        limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
        json_output: JsonOption = False) -> None:
    """List accounts with their balances."""
    from rich.console import Console
    from rich.table import Table

    from creditpay.formatting import money_text
    from creditpay.ledger.queries import list_accounts

    engine = _open(db)
    with engine.connect() as conn:
        rows = list_accounts(conn, owner_id=owner, limit=limit)
    if json_output:
        typer.echo(json.dumps([{"id": a.id, "key": a.key, "code": a.code,
                                "currency": a.currency, "owner_type": a.owner_type,
                                "owner_id": a.owner_id, "normal_side": str(a.normal_side),
                                "balance_minor": a.balance_minor,
                                "available_minor": a.available_minor} for a in rows]))
        return
    table = Table("id", "key", "code", "owner", "balance", "available")
    for a in rows:
        table.add_row(str(a.id), a.key, a.code, f"{a.owner_type}:{a.owner_id}",
                      money_text(a.balance_minor, a.currency),
                      money_text(a.available_minor, a.currency))
    Console().print(table)


@ledger_app.command("balance")
def balance_command(account: Annotated[str, typer.Argument(help="Account id or key.")],
                    db: DbOption = None,
                    as_of: Annotated[str | None, typer.Option(
                        help="Business time (ISO 8601) to compute the balance at.")] = None,
                    json_output: JsonOption = False) -> None:
    """Balance of one account, now or as of a past business time."""
    from creditpay.errors import DomainError
    from creditpay.ledger import service

    engine = _open(db)
    try:
        when = dt.datetime.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise typer.BadParameter("must be an ISO 8601 time", param_hint="--as-of") from None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    try:
        with engine.connect() as conn:
            found = service.get_account(conn, int(account)) if account.isdigit() else \
                service.get_account_by_key(conn, account)
            result = service.balance(conn, found.id, as_of=when)
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_output:
        typer.echo(json.dumps(result.as_dict()))
    else:
        for name, value in result.as_dict().items():
            typer.echo(f"{name:>16}: {value}")


@ledger_app.command("transfers")
def transfers_command(db: DbOption = None,
                      account: Annotated[int | None, typer.Option(help="Account id.")] = None,
                      after: Annotated[int, typer.Option(help="Cursor: journal seq.")] = 0,
                      limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
                      json_output: JsonOption = False) -> None:
    """Journal entries in order, optionally of one account (cursor pagination by seq)."""
    from rich.console import Console
    from rich.table import Table

    from creditpay.ledger import service

    engine = _open(db)
    with engine.connect() as conn:
        rows = service.list_transfers(conn, account_id=account, after_seq=after, limit=limit)
    if json_output:
        typer.echo(json.dumps([t.as_dict() for t in rows]))
        return
    table = Table("seq", "id", "kind", "debit", "credit", "amount_minor", "code", "at")
    for t in rows:
        table.add_row(str(t.seq), t.id, str(t.kind), str(t.debit_account_id),
                      str(t.credit_account_id), str(t.amount_minor), t.code,
                      t.created_at.isoformat())
    Console().print(table)


@ledger_app.command("verify")
def verify_command(db: DbOption = None, json_output: JsonOption = False) -> None:
    """Recompute every balance from the journal; exit 1 if anything disagrees."""
    from creditpay.ledger.verify import verify_ledger

    engine = _open(db)
    with engine.connect() as conn:
        report = verify_ledger(conn)
    if json_output:
        typer.echo(json.dumps(report.as_dict()))
    else:
        typer.echo(f"{'OK' if report.ok else 'BROKEN'}: {report.accounts} accounts,"
                   f" {report.transfers} transfers, debits posted {report.debits_posted} ="
                   f" credits posted {report.credits_posted}")
        for problem in report.problems:
            typer.echo(f"  - {problem}")
    raise typer.Exit(0 if report.ok else 1)


@ledger_app.command("export")
def export_command(out: Annotated[Path, typer.Option(help="Output .csv or .parquet file.")],
                   db: DbOption = None) -> None:
    """Export the journal to CSV or Parquet."""
    from creditpay.errors import ValidationError
    from creditpay.ledger.export import export_journal

    engine = _open(db)
    try:
        with engine.connect() as conn:
            rows = export_journal(conn, out)
    except ValidationError:
        raise typer.BadParameter("must end in .csv or .parquet", param_hint="--out") from None
    typer.echo(f"wrote {rows} transfers to {out}")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.add_typer(ledger_app, name="ledger")

    @bench_app.command("ledger")
    def bench_ledger(json_output: JsonOption = False,
                     single: Annotated[int, typer.Option(help="Single transfers to time.")]
                     = 2000,
                     batches: Annotated[int, typer.Option(help="Batches of 1,000 to time.")]
                     = 30,
                     stores: Annotated[str, typer.Option(help="Comma-separated stores.")]
                     = "sqlite,postgresql") -> None:
        """Transfers/s, single and batched, vs the same store's raw inserts."""
        from creditpay.benchmarks.ledger import run

        run(stores=[s.strip() for s in stores.split(",") if s.strip()], single=single,
            batches=batches, json_output=json_output)
