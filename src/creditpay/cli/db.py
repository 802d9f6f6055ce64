"""``creditpay db upgrade`` and ``creditpay db current``: the database schema's migrations.

Development mode migrates the embedded database whenever a command opens it; production mode
(``CREDITPAY_MODE=production``) never does, and refuses a database behind this release's
schema: ``creditpay db upgrade`` is then the one step that migrates (docs/operations.md,
"Migrations and upgrades"). The schema has one Alembic head per domain branch, so revisions
are lists.
"""

from __future__ import annotations

import json

import typer

from creditpay.cli.common import DbOption, fail, settings_for

__all__ = ["register"]


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    db_app = typer.Typer(help="The database schema: migrate it to this release "
                              "(upgrade), see where it is (current).",
                         no_args_is_help=True)
    app.add_typer(db_app, name="db")

    @db_app.command("upgrade")
    def upgrade(
        db: DbOption = None,
        as_json: bool = typer.Option(False, "--json",
                                     help="print JSON: from, to, head, upgraded"),
    ) -> None:
        """Migrate the database to this release's schema (every domain branch to its head)
        and print the revisions before and after. Creates a SQLite file that does not exist
        yet; a PostgreSQL database must exist (its role needs CREATE on the schema)."""
        from creditpay.bootstrap import upgrade_database
        from creditpay.errors import DomainError

        settings = settings_for(db)
        try:
            before, after = upgrade_database(settings)
        except DomainError as exc:
            raise fail(str(exc)) from None
        upgraded = before.current != after.current
        if as_json:
            typer.echo(json.dumps({"from": list(before.current), "to": list(after.current),
                                   "head": list(after.head), "upgraded": upgraded}))
            return
        shown_from = ", ".join(before.current) or "(empty database)"
        if upgraded:
            typer.echo(f"upgraded: {shown_from} -> {', '.join(after.current)}")
        else:
            typer.echo(f"already at head: {', '.join(after.current)}")

    @db_app.command("current")
    def current(
        db: DbOption = None,
        as_json: bool = typer.Option(False, "--json",
                                     help="print JSON: current, head, at_head"),
    ) -> None:
        """Print the database's schema revisions, this release's heads and whether they are
        the same. Reads only (never creates or migrates). Exit code 0 at head, 1 behind (or
        ahead: a database of another release), 2 when the database cannot be read."""
        from creditpay.bootstrap import schema_status
        from creditpay.errors import DomainError

        settings = settings_for(db)
        try:
            status = schema_status(settings)
        except DomainError as exc:
            raise fail(str(exc)) from None
        if as_json:
            typer.echo(json.dumps(status.to_json()))
        else:
            typer.echo(f"current: {', '.join(status.current) or '(no creditpay schema)'}")
            typer.echo(f"head:    {', '.join(status.head)}")
            typer.echo("at head" if status.at_head
                       else "behind head: run `creditpay db upgrade`")
        if not status.at_head:
            raise typer.Exit(1)
