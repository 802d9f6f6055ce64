"""``creditpay bureau ...``: monthly credit-bureau reporting (docs/bureau-reporting.md).

Exit codes: 0 success; 2 the command could not run or was refused (a malformed month, a
month whose month end is not closed, a rejected submission, a missing database), with one
``error:`` line naming the option and nothing changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from creditpay.cli.common import DbOption

__all__ = ["register", "bureau_app"]

bureau_app = typer.Typer(help="Credit-bureau reporting (征信报送): monthly submissions.",
                         no_args_is_help=True)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:  # noqa: ARG001
    """Add the ``bureau`` sub-commands."""
    app.add_typer(bureau_app, name="bureau")


@bureau_app.command("report")
def bureau_report(
    month: Annotated[str, typer.Option("--month", help="YYYY-MM of a month whose last day "
                                                       "is closed.")],
    out: Annotated[Path | None, typer.Option(
        "--out", file_okay=False, help="Directory for the submission's CSV file (created if "
                                       "missing); without it no file is written.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    db: DbOption = None,
) -> None:
    """Report a month's credit accounts of consenting customers to the bureau; run again,
    report only the corrections. Prints {"month", "submission_id", "records",
    "corrections", "skipped_no_consent", "file"}."""
    from creditpay.cli.audit import _fail, _handled
    from creditpay.cli.common import open_services
    from creditpay.reporting.bureau_reporting import parse_month, report_month
    from creditpay.risk.bureau import BureauFurnishing

    with _handled():
        parse_month(month)  # a malformed month is refused before the database is opened
        with open_services(db, read_only=True) as built:
            bureau = built.bureau
            if not isinstance(bureau, BureauFurnishing):
                raise _fail("the configured bureau adapter takes no submissions")
            result = built.uow.run(lambda tx: report_month(tx, month=month, bureau=bureau,
                                                           actor="cli"))
        path = None
        if out is not None and result.csv is not None and result.file_name is not None:
            out.mkdir(parents=True, exist_ok=True)
            path = out / result.file_name
            path.write_text(result.csv, encoding="utf-8")
    document = {"month": result.month, "submission_id": result.submission_id,
                "records": result.records, "corrections": result.corrections,
                "skipped_no_consent": result.skipped_no_consent,
                "file": str(path) if path is not None else None}
    if as_json:
        typer.echo(json.dumps(document))
    else:
        typer.echo(f"{result.month}: submission {result.submission_id or '(nothing to report)'}"
                   f", {result.records} records ({result.corrections} corrections), "
                   f"{result.skipped_no_consent} accounts without consent"
                   + (f", wrote {path}" if path is not None else ""))
