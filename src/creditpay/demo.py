"""``creditpay demo``: the simulated economy (issue #7) on the embedded default (SQLite).

It creates a fresh database and runs :mod:`creditpay.sim.economy` through the real services:
merchants onboarded, consumers registered and KYC'd, credit applications decided by the risk
engine and lines opened for the approved, then business days of card top-ups, checkouts paid
by balance, card, pay-later line or installment plan (explicit offers), captures, refunds,
repayments whose timing follows each consumer's latent creditworthiness, T+1 merchant
settlement and the close of business each night. It ends with the books verified, the figures
printed, ``figures.json`` and a self-contained ``report.html`` written, and exit code 1 when
the books do not balance. The same seed gives the same figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["run_demo", "register"]

# Defaults finish in a few minutes on a shared 2-core machine; the flags scale the run.
CUSTOMERS_DEFAULT = 400
MERCHANTS_DEFAULT = 40
DAYS_DEFAULT = 60


def run_demo(db_path: Path, *, customers: int, merchants: int, days: int, seed: int,
             progress: bool = True) -> tuple[dict[str, Any], dict[str, float]]:
    """Run the economy into a fresh SQLite database at ``db_path``: (figures, timings_s)."""
    from creditpay.sim.economy import EconomyConfig, run_economy

    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    return run_economy(EconomyConfig(customers=customers, merchants=merchants, days=days,
                                     seed=seed, database_url=f"sqlite:///{db_path}",
                                     progress=progress))


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
        db: Annotated[Path, typer.Option(help="SQLite file to (re)create.")]
        = Path("var/demo.db"),
        out: Annotated[Path, typer.Option(help="Folder for figures.json and report.html.")]
        = Path("var/demo-report"),
        json_output: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Run the simulated economy on SQLite and print the portfolio's figures."""
        from creditpay.sim.report import print_table, write_reports

        db.parent.mkdir(parents=True, exist_ok=True)
        figures, timings = run_demo(db, customers=customers, merchants=merchants, days=days,
                                    seed=seed, progress=not json_output)
        paths = write_reports(figures, out)
        if json_output:
            typer.echo(json.dumps(figures))
        else:
            print_table(figures, db)
            typer.echo(f"Figures written to {paths['figures']}, report to {paths['report']}"
                       f" ({timings['total']:.0f} s)")
        if not figures["ledger_ok"]:
            raise typer.Exit(1)
