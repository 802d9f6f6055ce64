"""``creditpay reports ...`` (regulatory reports, IFRS 9 provisions) and
``creditpay subject ...`` (data-subject access and erasure).

Exit codes: 0 success; 2 the command could not run or was refused (bad input naming the
option, missing database or table, missing key material, a refused erasure naming the
retention duty), with one ``error:`` line and no traceback.

Keys: the loan-level export pseudonymises ids with a key derived from the master key
(``CREDITPAY_MASTER_KEY`` / ``CREDITPAY_MASTER_KEY_FILE``), so the same customer has the same
pseudonym in every report; ``subject export`` needs the master key to decrypt.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from creditpay.cli.audit import _fail, _handled, _open_engine, _uow
from creditpay.cli.common import DbOption, TokenOption

if TYPE_CHECKING:
    from creditpay.platform.keys import LocalMasterKey
    from creditpay.reporting.regulatory import RegulatoryReport

__all__ = ["register", "reports_app", "subject_app"]

_CREDIT_TABLES = ("credit_accounts", "credit_cob_runs", "ledger_transfers", "complaints")

reports_app = typer.Typer(help="Regulatory reports (CSV / Excel) and IFRS 9 provisions.",
                          no_args_is_help=True)
subject_app = typer.Typer(help="Data-subject rights: export and erasure.",
                          no_args_is_help=True)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add the ``reports`` and ``subject`` sub-commands and ``bench console``."""
    app.add_typer(reports_app, name="reports")
    app.add_typer(subject_app, name="subject")
    bench_app.command("console")(bench_console_command)


def bench_console_command(
    accounts: int = typer.Option(1_000_000, "--accounts", min=1, max=20_000_000),
    repeats: int = typer.Option(3, "--repeats", min=1, max=50),
    seed: int = typer.Option(20250618, "--seed"),
    db: str | None = typer.Option(None, "--db", help="SQLite file: reused when it exists "
                                                      "(seeded there otherwise)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Each portfolio-dashboard view over N accounts (SQLite), p50/max vs a full scan."""
    from creditpay.benchmarks.console import run_benchmark

    result = run_benchmark(accounts=accounts, repeats=repeats, seed=seed, db_path=db)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        from rich.console import Console

        Console().print_json(json.dumps(result))


def _date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _fail(f"{option}: not an ISO date (YYYY-MM-DD): {text!r}") from None


# Who may export or erase a person's data from the shell: as the API's unmasking route.
SUBJECT_ROLES = frozenset({"compliance_officer"})


def _staff_id(engine: Any, db: str | None, token: str | None, action: str) -> str:
    """The id of the operator ``token`` (else CREDITPAY_OPERATOR_TOKEN) names, who must be a
    compliance officer: the actor audited; else a DomainError (exit 2), nothing done."""
    from creditpay.cli.common import settings_for
    from creditpay.errors import AuthenticationError
    from creditpay.parties.security import TokenSigner, load_token_key
    from creditpay.parties.service import operator_of_credential, require_role

    settings = settings_for(db)
    given = token or settings.secret("operator_token")
    if not given:
        raise _fail(f"{action} is a staff command: give the operator's token with --token "
                    "or CREDITPAY_OPERATOR_TOKEN")
    signer = None
    if given.startswith("v1."):
        pinned = settings.secret("token_key")
        signer = TokenSigner(load_token_key(None if pinned else _master(), pinned))
    try:
        with engine.connect() as conn:
            who = operator_of_credential(conn, given, signer, dt.datetime.now(dt.UTC))
    except AuthenticationError as exc:
        raise _fail(f"--token: {exc}") from None
    return require_role(who, SUBJECT_ROLES, action).id


def _master() -> LocalMasterKey:
    from creditpay.cli.common import settings_for
    from creditpay.platform.keys import load_master_key

    return load_master_key(settings_for(None).key_sources())


def _pseudonym_key() -> bytes:
    from creditpay.reporting.regulatory import PSEUDONYM_KEY_INFO

    return _master().derive(PSEUDONYM_KEY_INFO)


FormatOption = Annotated[str, typer.Option("--format", help="csv (one file per section) or "
                                                             "xlsx (one workbook).")]
OutDir = Annotated[Path, typer.Option("--out", help="Output directory (created if missing).",
                                      file_okay=False)]


def _write(report: RegulatoryReport, out: Path, fmt: str) -> None:
    from creditpay.reporting.regulatory import REPORT_FORMATS, write_report

    if fmt not in REPORT_FORMATS:
        raise _fail(f"--format: use one of {', '.join(REPORT_FORMATS)}")
    paths = write_report(report, out, fmt)
    for path in paths:
        typer.echo(f"wrote {path}")


@reports_app.command("daily")
def reports_daily(
    date: Annotated[str, typer.Option("--date", help="Any closed business date (its "
                                                     "day-end positions stored).")],
    out: OutDir,
    fmt: FormatOption = "csv",
    db: DbOption = None,
) -> None:
    """Daily report: balances by product and bucket, NPL, originations, write-offs and
    recoveries, complaints, loan-level export (pseudonymous ids)."""
    from creditpay.reporting import regulatory as reports

    with _handled():
        day = _date(date, "--date")
        key = _pseudonym_key()
        engine = _open_engine(db, _CREDIT_TABLES)
        with engine.connect() as conn:
            report = reports.daily_report(conn, day, pseudonym_key=key)
        _write(report, out, fmt)


@reports_app.command("monthly")
def reports_monthly(
    month: Annotated[str, typer.Option("--month", help="YYYY-MM of a closed month (its last "
                                                       "day closed).")],
    out: OutDir,
    fmt: FormatOption = "csv",
    db: DbOption = None,
) -> None:
    """Monthly report: balances at month end, flows over the month."""
    from creditpay.reporting import regulatory as reports

    with _handled():
        try:
            year, number = (int(part) for part in month.split("-"))
            dt.date(year, number, 1)
        except ValueError:
            raise _fail(f"--month: not YYYY-MM: {month!r}") from None
        key = _pseudonym_key()
        engine = _open_engine(db, _CREDIT_TABLES)
        with engine.connect() as conn:
            report = reports.monthly_report(conn, year, number, pseudonym_key=key)
        _write(report, out, fmt)


@reports_app.command("provisions")
def reports_provisions(
    date: Annotated[str, typer.Option("--date", help="Any closed business date; --post: "
                                                     "the last closed one only.")],
    post: Annotated[bool, typer.Option("--post", help="Post the change of the allowance to "
                                                      "the ledger (once per date).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    accounts: Annotated[bool, typer.Option("--accounts", help="Include every account's "
                                                              "figures (JSON).")] = False,
    db: DbOption = None,
) -> None:
    """IFRS 9 stages, ECL by stage and currency; with --post the risk reserve posting."""
    from creditpay.reporting import provisions

    with _handled():
        day = _date(date, "--date")
        engine = _open_engine(db, _CREDIT_TABLES)
        postings = None
        if post:
            with _uow(engine).begin() as tx:
                run, postings = provisions.post_provisions(tx, day)
        else:
            with engine.connect() as conn:
                run = provisions.compute_provisions(conn, day)
        document = run.as_dict(accounts=accounts)
        if postings is not None:
            document["postings"] = [p.as_dict() for p in postings]
        if as_json:
            typer.echo(json.dumps(document, indent=2, sort_keys=True))
            return
        for currency, figures in document["totals"].items():
            typer.echo(f"{currency}: allowance {figures['allowance_minor']} minor units on EAD"
                       f" {figures['ead_minor']}")
            for stage, row in figures["stages"].items():
                typer.echo(f"  stage {stage}: {row['accounts']} accounts, EAD"
                           f" {row['ead_minor']}, ECL {row['ecl_minor']}")
        for p in document.get("postings", []):
            state = "already posted" if p["replayed"] else "posted"
            typer.echo(f"{p['currency']} {state}: change {p['change_minor']}"
                       f" (transfer {p['transfer_id']})")


@subject_app.command("export")
def subject_export(
    customer: Annotated[str, typer.Option("--customer", help="Customer id.")],
    out: Annotated[Path, typer.Option("--out", help="New JSON file (mode 0600; never "
                                                    "overwritten).", dir_okay=False)],
    token: TokenOption = None,
    db: DbOption = None,
) -> None:
    """Everything held on a person, personal data decrypted, for delivery to them; made by
    the compliance officer of --token (audited)."""
    from creditpay.platform.vault import Vault
    from creditpay.reporting.subject_rights import export_subject

    with _handled():
        master = _master()
        engine = _open_engine(db, ("customers", "audit_records"))
        staff = _staff_id(engine, db, token, "subject export")
        uow = _uow(engine)
        vault = Vault(uow, master)
        # O_EXCL: never overwrite; 0600: the file holds personal data in plaintext.
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with uow.begin() as tx:
                document = export_subject(tx, vault, customer, actor_type="staff",
                                          actor_id=staff)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                fd = -1
                json.dump(document, handle, ensure_ascii=False, indent=2, sort_keys=True)
                handle.write("\n")
        except BaseException:
            if fd >= 0:
                os.close(fd)
            out.unlink(missing_ok=True)
            raise
        typer.echo(f"wrote {out} (customer {customer}; access audited)")


@subject_app.command("erase")
def subject_erase(
    customer: Annotated[str, typer.Option("--customer", help="Customer id.")],
    idempotency_key: Annotated[str, typer.Option("--idempotency-key",
                                                 help="Caller's key: a retry returns the "
                                                      "first result.")],
    token: TokenOption = None,
    retention_months: Annotated[int, typer.Option(
        "--retention-months", help="Regulatory retention after the last financial "
                                   "activity.")] = 60,
    db: DbOption = None,
) -> None:
    """Anonymise a person's personal data unless a retention duty still applies; done by
    the compliance officer of --token (audited)."""
    from creditpay.reporting.subject_rights import RetentionPolicy, erase_subject

    with _handled():
        policy = RetentionPolicy(retention_months=retention_months)
        engine = _open_engine(db, ("customers", "audit_records"))
        staff = _staff_id(engine, db, token, "subject erase")
        with _uow(engine).begin() as tx:
            result = erase_subject(tx, customer, idempotency_key=idempotency_key,
                                   actor_id=staff, policy=policy)
        typer.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True))


_DASHBOARD_TABLES = ("credit_accounts", "credit_month_end_cells", "credit_decisions",
                     "fraud_screenings", "fraud_labels", "ledger_transfers",
                     "credit_day_end_positions")


@reports_app.command("dashboard")
def reports_dashboard(
    view: Annotated[str, typer.Argument(help="receivables, dpd30, buckets, roll_rates, "
                                             "vintages, grades, fraud, revenue_losses or "
                                             "pnl.")],
    date_from: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD); "
                                                                 "open when omitted.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD); open "
                                                             "when omitted.")] = None,
    product: Annotated[str | None, typer.Option("--product", help="Only this product "
                                                                  "code.")] = None,
    currency: Annotated[str, typer.Option("--currency", help="ISO currency.")] = "CNY",
    funding_rate_bps: Annotated[int | None, typer.Option(
        "--funding-rate-bps", help="pnl: the platform's funding rate on its own-funded "
                                   "principal, basis points a year (default: "
                                   "CREDITPAY_FUNDING_RATE_BPS, 500).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output (default).")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV output.")] = False,
    db: DbOption = None,
) -> None:
    """One view of the portfolio dashboard from the database (read only; docs/console.md).
    JSON: the rows and ``warnings``, the charts the recorded history is too short for."""
    from creditpay.reporting import dashboard

    with _handled():
        if as_json and as_csv:
            raise _fail("--json and --csv: choose one")
        first = _date(date_from, "--from") if date_from else None
        last = _date(date_to, "--to") if date_to else None
        if funding_rate_bps is None and view == "pnl":
            from creditpay.cli.common import settings_for

            funding_rate_bps = settings_for(db).funding_rate_bps
        engine = _open_engine(db, _DASHBOARD_TABLES)
        with engine.connect() as conn:
            rows = dashboard.run_view(conn, view, date_from=first, date_to=last,
                                      product=product, currency=currency,
                                      funding_rate_bps=funding_rate_bps)
            warnings = dashboard.view_warnings(conn, view, rows, date_from=first,
                                               date_to=last, currency=currency)
        if as_csv:
            typer.echo(dashboard.to_csv(view, rows), nl=False)
        else:
            typer.echo(json.dumps({"view": view, "currency": currency,
                                   "rows": [dashboard.row_dict(r) for r in rows],
                                   "warnings": warnings}, indent=2))
