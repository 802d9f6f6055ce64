"""``creditpay schedule``, ``creditpay apr`` and ``creditpay bench schedules``.

Bad input exits with code 2 and a message naming the option on stderr; stdout stays
empty so scripts reading ``--json`` never parse an error as a result.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer

from creditpay.cli.common import DbOption
from creditpay.credit.calendar import Frequency
from creditpay.credit.daycount import DayCount
from creditpay.credit.schedule import Method
from creditpay.errors import ValidationError
from creditpay.formatting import disclosed_percent_string, percent_string
from creditpay.money import Rounding

__all__ = ["register"]

_FIELD_TO_OPTION = {
    "principal_minor": "--principal",
    "amount": "--principal",
    "annual_rate": "--annual-rate",
    "periods": "--periods",
    "method": "--method",
    "start_date": "--start",
    "day_count": "--day-count",
    "frequency": "--frequency",
    "fee_rate_per_period": "--fee-rate-per-period",
    "first_due_date": "--first-due-date",
    "currency": "--currency",
    "down_payment": "--down-payment",
    "rounding": "--rounding",
}


def _bad(option: str, message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=f"'{option}'")


def _parse_date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _bad(option, f"{text!r} is not a date (YYYY-MM-DD)") from None


def _parse_rate(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise _bad(option, f"{text!r} is not a decimal number") from None
    if not value.is_finite() or value < 0:
        raise _bad(option, "must be a non-negative decimal")
    return value


def _parse_amount_minor(text: str, currency: str, option: str, minimum: int = 1) -> int:
    from creditpay.money import Money

    try:
        amount = Money.parse(text, currency).amount_minor
    except ValidationError as exc:
        raise _bad(option, exc.detail) from None
    if amount < minimum:
        raise _bad(option, "must be positive" if minimum > 0 else "must not be negative")
    return amount


def _schedule_document(schedule: Any) -> dict[str, Any]:
    from creditpay.credit.apr import AprMethod, apr_of_schedule
    from creditpay.money import Money

    currency = schedule.terms.currency

    def major(amount_minor: int) -> str:
        return Money(amount_minor, currency).major_str()

    return {
        "installments": [
            {
                "number": i.number,
                "due_date": i.due_date.isoformat(),
                "principal": major(i.principal_minor),
                "interest": major(i.interest_minor),
                "fee": major(i.fee_minor),
                "total": major(i.total_minor),
                "balance_after": major(i.balance_after_minor),
            }
            for i in schedule.installments
        ],
        "totals": {
            "principal": major(schedule.totals.principal_minor),
            "interest": major(schedule.totals.interest_minor),
            "fee": major(schedule.totals.fee_minor),
            "total": major(schedule.totals.total_minor),
        },
        "apr_percent": percent_string(apr_of_schedule(schedule, AprMethod.US)),
        "aprc_percent": percent_string(apr_of_schedule(schedule, AprMethod.EU)),
    }


def schedule_command(
    principal: str = typer.Option(..., "--principal", help="Amount lent, major units (100.00)."),
    annual_rate: str = typer.Option(..., "--annual-rate", help="Nominal yearly rate, 0.07 = 7 %."),
    periods: int = typer.Option(..., "--periods", min=1, max=1200, help="Installments."),
    method: Method = typer.Option(Method.EQUAL_INSTALLMENT, "--method"),
    start: str = typer.Option(..., "--start", help="Start (disbursement) date, YYYY-MM-DD."),
    day_count: DayCount = typer.Option(DayCount.THIRTY_360, "--day-count"),
    frequency: Frequency = typer.Option(Frequency.MONTHLY, "--frequency"),
    fee_rate_per_period: str = typer.Option(
        "0", "--fee-rate-per-period", help="Fee per period on the original principal."),
    currency: str = typer.Option("CNY", "--currency", help="ISO 4217 code."),
    first_due_date: str | None = typer.Option(
        None, "--first-due-date", help="First due date (broken first period)."),
    down_payment: bool = typer.Option(
        False, "--down-payment", help="First installment due at the start (pay-in-4)."),
    rounding: Rounding = typer.Option(Rounding.HALF_UP, "--rounding"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Build an amortisation schedule and show its APR (US) and APRC (EU)."""
    from creditpay.credit.schedule import ScheduleTerms, build_schedule
    from creditpay.money import validate_currency

    try:
        currency = validate_currency(currency.strip().upper(), "currency")
    except ValidationError as exc:
        raise _bad("--currency", exc.detail) from None
    principal_minor = _parse_amount_minor(principal, currency, "--principal")
    rate = _parse_rate(annual_rate, "--annual-rate")
    fee_rate = _parse_rate(fee_rate_per_period, "--fee-rate-per-period")
    start_date = _parse_date(start, "--start")
    first_due = None if first_due_date is None else _parse_date(first_due_date,
                                                                "--first-due-date")
    try:
        schedule = build_schedule(ScheduleTerms(
            principal_minor=principal_minor, currency=currency, annual_rate=rate,
            periods=periods, method=method, start_date=start_date, frequency=frequency,
            day_count=day_count, fee_rate_per_period=fee_rate, first_due_date=first_due,
            down_payment=down_payment, rounding=rounding))
        document = _schedule_document(schedule)
    except ValidationError as exc:
        option = _FIELD_TO_OPTION.get(exc.field or "", "--principal")
        raise _bad(option, exc.detail) from None
    if as_json:
        typer.echo(json.dumps(document, ensure_ascii=False))
        return
    _print_schedule_table(document, currency)


def _print_schedule_table(document: dict[str, Any], currency: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Schedule ({currency})")
    for heading in ("#", "due date", "principal", "interest", "fee", "total", "balance"):
        table.add_column(heading, justify="right")
    for row in document["installments"]:
        table.add_row(str(row["number"]), row["due_date"], row["principal"], row["interest"],
                      row["fee"], row["total"], row["balance_after"])
    totals = document["totals"]
    table.add_section()
    table.add_row("", "total", totals["principal"], totals["interest"], totals["fee"],
                  totals["total"], "")
    console = Console()
    console.print(table)
    console.print(f"APR (US Reg Z App. J): {document['apr_percent']} %   "
                  f"APRC (EU 2008/48/EC): {document['aprc_percent']} %")


def _flow_entry(entry: object, where: str, currency: str) -> tuple[dt.date, int]:
    """One ``{"date": "YYYY-MM-DD", "amount": "1000.00"}`` entry as (date, amount_minor).

    Amounts must be JSON strings: a JSON number is parsed as a binary float by every JSON
    reader, and a float cannot hold money exactly (0.1 is not one tenth)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("date"), str):
        raise _bad("--flows", f"{where} needs a date string and an amount string")
    amount = entry.get("amount")
    if isinstance(amount, (int, float)) and not isinstance(amount, bool):
        raise _bad("--flows", f'{where}.amount must be a decimal string such as "1000.00",'
                   f" not the JSON number {amount!r} (a float cannot hold money exactly)")
    if not isinstance(amount, str):
        raise _bad("--flows", f"{where}.amount must be a decimal string such as \"1000.00\"")
    when = _parse_date(entry["date"], "--flows")
    return when, _parse_amount_minor(amount, currency, "--flows", minimum=0)


def _flows_from_file(path: Path, currency: str) -> tuple[list, list]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad("--flows", f"cannot read JSON from {path}: {exc}") from None
    if not isinstance(document, dict):
        raise _bad("--flows", "must be an object with advances and payments")
    result = []
    for key in ("advances", "payments"):
        entries = document.get(key)
        if not isinstance(entries, list) or not entries:
            raise _bad("--flows", f"{key} must be a non-empty list")
        flows = []
        for index, entry in enumerate(entries):
            flows.append(_flow_entry(entry, f"{key}[{index}]", currency))
        result.append(flows)
    return result[0], result[1]


def apr_command(
    advance: str | None = typer.Option(None, "--advance", help="Amount advanced (5000.00)."),
    advance_date: str | None = typer.Option(None, "--advance-date", help="YYYY-MM-DD."),
    payment: str | None = typer.Option(None, "--payment", help="Each payment (230.00)."),
    count: int | None = typer.Option(None, "--count", min=1, max=1200, help="Payments."),
    frequency: Frequency | None = typer.Option(None, "--frequency",
                                               help="Payment frequency (default monthly)."),
    first_payment: str | None = typer.Option(None, "--first-payment", help="YYYY-MM-DD."),
    method: str = typer.Option("us", "--method", help="us (Reg Z App. J) or eu (APRC)."),
    flows: Path | None = typer.Option(None, "--flows", help="JSON file of advances/payments."),
    currency: str = typer.Option("CNY", "--currency"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Annual percentage rate of a loan: US Appendix J APR or EU APRC."""
    from creditpay.credit.apr import AprMethod, apr_from_flows, regular_payment_flows
    from creditpay.money import validate_currency

    if method not in ("us", "eu"):
        raise _bad("--method", f"{method!r} is not one of 'us', 'eu'")
    try:
        currency = validate_currency(currency.strip().upper(), "currency")
    except ValidationError as exc:
        raise _bad("--currency", exc.detail) from None
    if flows is not None:
        for option, value in (("--advance", advance), ("--advance-date", advance_date),
                              ("--payment", payment), ("--count", count),
                              ("--first-payment", first_payment)):
            if value is not None:
                # Two descriptions of one loan would silently disagree: refuse, naming it.
                raise _bad(option, "cannot be combined with --flows (the file holds every"
                           " advance and payment)")
        advances, payments = _flows_from_file(flows, currency)
        unit = frequency
    else:
        for option, value in (("--advance", advance), ("--advance-date", advance_date),
                              ("--payment", payment), ("--count", count)):
            if value is None:
                raise _bad(option, "is required unless --flows is given")
        assert advance is not None and advance_date is not None and payment is not None
        assert count is not None
        start = _parse_date(advance_date, "--advance-date")
        first = None if first_payment is None else _parse_date(first_payment,
                                                               "--first-payment")
        unit = frequency or Frequency.MONTHLY
        try:
            advances, payments = regular_payment_flows(
                _parse_amount_minor(advance, currency, "--advance"), start,
                _parse_amount_minor(payment, currency, "--payment"), count, unit, first)
        except ValidationError as exc:
            raise _bad("--first-payment" if exc.field == "first_due_date" else "--count",
                       exc.detail) from None
        if len(payments) == 1:
            unit = None  # single advance, single payment: the term is the unit period
    try:
        rate = apr_from_flows(advances, payments, AprMethod(method), unit)
    except ValidationError as exc:
        raise _bad("--flows" if flows is not None else "--payment", exc.detail) from None
    document = {"apr_percent": disclosed_percent_string(rate), "method": method}
    if as_json:
        typer.echo(json.dumps(document))
    else:
        label = "APR (US Reg Z App. J)" if method == "us" else "APRC (EU 2008/48/EC)"
        typer.echo(f"{label}: {document['apr_percent']} %")


def bench_schedules_command(
    count: int = typer.Option(1_000_000, "--count", min=1, max=100_000_000,
                              help="Schedules to generate."),
    reference_sample: int = typer.Option(20_000, "--reference-sample", min=1,
                                         max=1_000_000,
                                         help="Loans in the numpy-financial reference loop."),
    seed: int = typer.Option(20240101, "--seed"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Vectorised equal-installment schedules per second vs a numpy-financial loop."""
    from creditpay.benchmarks.schedules import run_benchmark

    result = run_benchmark(count=count, reference_sample=reference_sample, seed=seed,
                           progress=not as_json)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        from rich.console import Console

        Console().print_json(json.dumps(result))


_ENGINE_HELP = "Where the pure steps run: local (this process) or spark (Spark tasks; " \
    "CREDITPAY_SPARK_MASTER, docs/spark.md)."


def _engine(value: str) -> str:
    from creditpay.credit.cob import ENGINES

    if value not in ENGINES:
        raise _bad("--engine", f"must be one of {', '.join(ENGINES)}")
    return value


def cob_run_command(
    date: str = typer.Option(..., "--date", help="Business date to close, YYYY-MM-DD."),
    db: DbOption = None,
    chunk_size: int = typer.Option(50_000, "--chunk-size", min=1, max=1_000_000),
    engine: str = typer.Option("local", "--engine", help=_ENGINE_HELP),
    snapshot: str | None = typer.Option(
        None, "--snapshot", help="Spark engine: read the chunks from this Parquet snapshot "
                                 "(`creditpay cob snapshot`; a folder or URI) instead of the "
                                 "database; its chunk size is used."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run the close of business for a date (idempotent; resumes after a crash)."""
    from creditpay.cli.common import checkpointer_or_exit, services
    from creditpay.credit.cob import run_close_of_business
    from creditpay.errors import DomainError
    from creditpay.nightly import auto_debit_consents
    from creditpay.platform.checkpoints import AuditChainBrokenError, CheckpointStoreError

    business_date = _parse_date(date, "--date")
    engine = _engine(engine)
    if snapshot is not None and engine != "spark":
        raise _bad("--snapshot", "needs --engine spark")
    built = services(db, read_only=False)
    started_spark = False
    try:
        checkpointer = checkpointer_or_exit(built)
        if engine == "spark":
            from creditpay.spark.cob import run_close_of_business_on_spark
            from creditpay.spark.session import spark_running

            started_spark = not spark_running()
            report = run_close_of_business_on_spark(
                built.uow, business_date, progress=not as_json, chunk_size=chunk_size,
                audit_checkpointer=checkpointer, auto_debit_consents=auto_debit_consents(),
                catalogue=built.catalogue, settings=built.settings, snapshot=snapshot)
        else:
            report = run_close_of_business(built.uow, business_date,
                                           progress=not as_json, chunk_size=chunk_size,
                                           audit_checkpointer=checkpointer,
                                           auto_debit_consents=auto_debit_consents(),
                                           catalogue=built.catalogue)
    except (AuditChainBrokenError, CheckpointStoreError) as exc:
        # The close itself is done (a re-run replays it and seals again); say so loudly.
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1 if isinstance(exc, AuditChainBrokenError) else 2) from None
    except DomainError as exc:
        raise _bad("--snapshot" if exc.field == "snapshot" else "--date", exc.detail) from None
    finally:
        built.close()
        if started_spark:
            from creditpay.spark.session import stop_spark_session

            stop_spark_session()
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        from rich.console import Console

        Console().print_json(json.dumps(report.as_dict()))


def cob_snapshot_command(
    date: str = typer.Option(..., "--date", help="Business date the snapshot is for."),
    out: str = typer.Option(..., "--out", help="New or empty folder (or URI) to write."),
    db: DbOption = None,
    chunk_size: int = typer.Option(50_000, "--chunk-size", min=1, max=1_000_000),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
) -> None:
    """Write the credit tables a date's close of business reads as Parquet, chunk by chunk
    (for `cob run --engine spark --snapshot DIR`)."""
    from creditpay.cli.common import services
    from creditpay.errors import DomainError
    from creditpay.spark.snapshot import write_snapshot

    business_date = _parse_date(date, "--date")
    built = services(db, read_only=True)
    try:
        meta = write_snapshot(built.uow, business_date, out, chunk_size=chunk_size)
    except DomainError as exc:
        raise _bad("--out" if exc.field == "out" else "--date", exc.detail) from None
    finally:
        built.close()
    summary = {"business_date": meta["business_date"], "out": out,
               "chunk_size": meta["chunk_size"], "chunks": len(meta["chunks"]),
               "accounts": sum(c["accounts"] for c in meta["chunks"]),
               "idle": sum(c["idle"] for c in meta["chunks"])}
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        from rich.console import Console

        Console().print_json(json.dumps(summary))


def bench_cob_command(
    accounts: int = typer.Option(1_000_000, "--accounts", min=1, max=20_000_000),
    chunk_size: int = typer.Option(50_000, "--chunk-size", min=1, max=1_000_000),
    seed: int = typer.Option(20250618, "--seed"),
    engine: str = typer.Option("local", "--engine", help=_ENGINE_HELP + " With spark, the "
                               "local engine closes a copy of the book too and the two are "
                               "compared (matches_local)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One close-of-business day over N accounts (SQLite) vs the same arithmetic in numpy."""
    from creditpay.benchmarks.cob import run_benchmark

    engine = _engine(engine)
    try:
        result = run_benchmark(accounts=accounts, chunk_size=chunk_size, seed=seed,
                               progress=not as_json, engine=engine)
    finally:
        if engine == "spark":
            from creditpay.spark.session import stop_spark_session

            stop_spark_session()
    if as_json:
        typer.echo(json.dumps(result))
    else:
        from rich.console import Console

        Console().print_json(json.dumps(result))


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add the credit commands to the root app and the benchmark group."""
    app.command("schedule")(schedule_command)
    app.command("apr")(apr_command)
    bench_app.command("schedules")(bench_schedules_command)
    cob_app = typer.Typer(help="Close of business: accrual, delinquency, statements.",
                          no_args_is_help=True)
    cob_app.command("run")(cob_run_command)
    cob_app.command("snapshot")(cob_snapshot_command)
    app.add_typer(cob_app, name="cob")
    bench_app.command("cob")(bench_cob_command)
