"""``creditpay demo``: the simulated economy (:mod:`creditpay.demo`) from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from creditpay.cli.common import DB_HELP, fail
from creditpay.demo import CUSTOMERS_DEFAULT, DAYS_DEFAULT, MERCHANTS_DEFAULT

__all__ = ["register"]

DEMO_DB = "var/demo.db"


def _sqlite_path(db: str) -> Path:
    """The SQLite file of ``--db`` (a path or a ``sqlite:///`` URL): the demo deletes and
    recreates it, so a server database is refused."""
    from sqlalchemy.engine import make_url

    from creditpay.config import parse_database_url
    from creditpay.errors import DomainError

    try:
        parsed = make_url(parse_database_url(db))
    except DomainError as exc:
        raise fail(str(exc)) from None
    database = parsed.database or ""
    if (parsed.get_backend_name() != "sqlite" or database in ("", ":memory:")
            or database.startswith("file:")):
        raise fail("--db: the demo (re)creates a SQLite file; give a path or sqlite:///PATH")
    return Path(database)


def _training_data_line(labels: dict[str, int], path: Path) -> str:
    """What the demo's applications.csv holds and whether a model can be trained on it:
    only matured approvals are labelled, and training refuses below the minimum bads
    (creditpay.risk.scoring.validation), so the line says so instead of pointing at a file
    the next command would refuse."""
    from creditpay.risk.scoring.validation import MIN_BADS_TRAINING, MIN_BADS_VALIDATION

    counts = ", ".join(f"{labels.get(k, 0)} {k}" for k in ("good", "bad", "declined",
                                                             "unmatured"))
    line = (f"Applications with matured labels for `creditpay model train --data {path} "
            f"--target bad`: {counts}.")
    if labels.get("bad", 0) < MIN_BADS_TRAINING + MIN_BADS_VALIDATION:
        line += (f" Too few bads to train honestly (at least {MIN_BADS_TRAINING} to train on "
                 f"and {MIN_BADS_VALIDATION} to validate): train refuses unless --allow-small; "
                 "a longer, larger run (--customers, --days) labels more.")
    return line


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("demo")
    def demo_command(
        customers: Annotated[int, typer.Option(min=1, max=1_000_000,
                                               help="Consumers in the simulated economy.")]
        = CUSTOMERS_DEFAULT,
        merchants: Annotated[int, typer.Option(min=1, max=100_000)] = MERCHANTS_DEFAULT,
        days: Annotated[int, typer.Option(min=1, max=3650, help="Business days.")]
        = DAYS_DEFAULT,
        seed: Annotated[int, typer.Option(help="Same seed, same figures.")] = 42,
        db: Annotated[str, typer.Option(
            "--db", help=DB_HELP + " The demo (re)creates it: SQLite only.",
            show_default=False)] = DEMO_DB,
        out: Annotated[Path, typer.Option(help="Folder for figures.json and report.html.")]
        = Path("var/demo-report"),
        shock: Annotated[str | None, typer.Option(
            help="A shock from --shock-day on: 'unemployment' (a share of the employed lose "
                 "their income).")] = None,
        shock_day: Annotated[int | None, typer.Option(
            min=0, help="Business day the shock and the fraud ring start (default: half-way).")]
        = None,
        fraud_ring: Annotated[bool, typer.Option(
            "--fraud-ring", help="A fraud ring takes over many accounts from --shock-day.")]
        = False,
        policy: Annotated[Path | None, typer.Option(
            exists=True, dir_okay=False, readable=True,
            help="Application credit policy to run under (zen-engine JSON; default: the "
                 "bundled one).")] = None,
        json_output: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Run the simulated economy on SQLite and print the portfolio's figures."""
        from creditpay.demo import run_demo, write_key_file
        from creditpay.sim.report import print_table, write_reports

        db_path = _sqlite_path(db)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        figures, timings = run_demo(db_path, customers=customers, merchants=merchants, days=days,
                                    seed=seed, progress=not json_output, shock=shock,
                                    shock_day=shock_day, fraud_ring=fraud_ring, policy=policy,
                                    training_data=out / "applications.csv")
        # The hosted checkout's link carries a random token: printed with the instructions,
        # not part of the reproducible figures (figures.json, --json).
        checkout = figures.pop("demo_checkout", None)
        paths = write_reports(figures, out)
        key_file = write_key_file(db_path, seed)
        if json_output:
            typer.echo(json.dumps(figures))
        else:
            print_table(figures, db_path)
            typer.echo(f"Figures written to {paths['figures']}, report to {paths['report']}"
                       f" ({timings['total']:.0f} s)")
            typer.echo(_training_data_line(figures.get("training_data_labels") or {},
                                           out / "applications.csv"))
            typer.echo("Serve the HTTP API and the apps over this database at its own "
                       "business date (docs/api.md, docs/apps.md; the development inbox at "
                       "/v1/dev/inbox?to=PHONE shows the codes sent): "
                       f"CREDITPAY_MASTER_KEY_FILE={key_file} CREDITPAY_DEV_INBOX=true "
                       f"creditpay serve --db {db_path} --business-date db")
            login = figures.get("demo_login")
            if login:
                typer.echo(
                    "Then open the consumer app at http://127.0.0.1:8000/app/ and log in as a "
                    f"simulated consumer{' with an installment plan' if login['has_plan'] else ''}"
                    f": {login['phone']}, password '{login['password']}' (development data; "
                    "a new browser's code is at http://127.0.0.1:8000/app/dev/inbox). The API's "
                    "documentation: http://127.0.0.1:8000/docs")
            if checkout and checkout.get("path"):
                typer.echo(
                    "A purchase of "
                    f"{checkout['amount_minor'] // 100}.{checkout['amount_minor'] % 100:02d} "
                    "CNY waits at a demo merchant's hosted checkout, open for the first 30 "
                    "minutes of that server (business time starts at 09:00 of "
                    f"{checkout['business_date']}): http://127.0.0.1:8000{checkout['path']}")
            typer.echo(
                "The operator console is at http://127.0.0.1:8000/console/: create yourself an "
                f"operator with CREDITPAY_MASTER_KEY_FILE={key_file} creditpay operator-create "
                f"--name YOUR_NAME --role admin --db {db_path} (it prints your operator id, "
                "a password and the TOTP secret to add to an authenticator app), and a second "
                "one to approve what the first proposes (four-eyes).")
            if checkout and checkout.get("merchant_id"):
                typer.echo(
                    "The merchant dashboard is at http://127.0.0.1:8000/merchant/: create a "
                    "user of that demo merchant with CREDITPAY_MASTER_KEY_FILE="
                    f"{key_file} creditpay merchant-user-create --merchant "
                    f"{checkout['merchant_id']} --name YOUR_NAME --db {db_path} (it prints "
                    "the user id, a password and the TOTP secret for an authenticator app).")
        if not figures["ledger_ok"]:
            raise typer.Exit(1)
