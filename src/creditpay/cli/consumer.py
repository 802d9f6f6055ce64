"""``creditpay consent ...``, ``creditpay disclosure ...``, ``creditpay complaints ...``.

Exit codes: 0 success; 2 the command could not run (bad input naming the option, missing
database or table, PDF rendering unavailable), with one ``error:`` line and no traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from creditpay.cli.audit import _fail, _handled, _open_engine
from creditpay.cli.common import DbOption

__all__ = ["register", "consent_app", "disclosure_app", "complaints_app"]

consent_app = typer.Typer(help="Consumer consents: list a customer's consents and history.",
                          no_args_is_help=True)
disclosure_app = typer.Typer(help="Key-facts disclosure documents (HTML / PDF).",
                             no_args_is_help=True)
complaints_app = typer.Typer(help="Complaints: statistics for regulatory reports.",
                             no_args_is_help=True)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:  # noqa: ARG001
    """Add the ``consent``, ``disclosure`` and ``complaints`` sub-commands."""
    app.add_typer(consent_app, name="consent")
    app.add_typer(disclosure_app, name="disclosure")
    app.add_typer(complaints_app, name="complaints")


# ----- consent ------------------------------------------------------------------------------
@consent_app.command("list")
def consent_list(
    customer: Annotated[str, typer.Option("--customer", help="Customer id.")],
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Current consents of a customer (per purpose and partner) and their full history."""
    from creditpay.protection import consent

    with _handled():
        engine = _open_engine(db, ("consent_records",))
        with engine.connect() as conn:
            states = consent.current_consents(conn, customer)
            history = consent.consent_history(conn, customer)
        if as_json:
            typer.echo(json.dumps({
                "customer_id": customer,
                "current": [{"purpose": s.purpose.value, "partner_id": s.partner_id,
                             "granted": s.granted, "valid": s.valid,
                             "text_version": s.text_version, "since": s.since.isoformat(),
                             "record_id": s.record_id} for s in states],
                "history": [{"id": r.id, "purpose": r.purpose.value,
                             "partner_id": r.partner_id, "partner_name": r.partner_name,
                             "action": r.action, "text_version": r.text_version,
                             "language": r.language, "text_sha256": r.text_sha256,
                             "channel": r.channel, "recorded_at": r.recorded_at.isoformat()}
                            for r in history]}, ensure_ascii=False, indent=2))
            return
        if not states:
            typer.echo(f"customer {customer}: no consent records")
            return
        typer.echo(f"customer {customer}: current consents")
        for s in states:
            state = ("granted" if s.valid else "granted (text outdated: ask again)") \
                if s.granted else "revoked"
            partner = f" partner={s.partner_id}" if s.partner_id else ""
            typer.echo(f"  {s.purpose.value}{partner}: {state}, text v{s.text_version}, "
                       f"since {s.since.isoformat()}")
        typer.echo("history")
        for r in history:
            partner = f" partner={r.partner_id}" if r.partner_id else ""
            typer.echo(f"  #{r.id} {r.recorded_at.isoformat()} {r.action} {r.purpose.value}"
                       f"{partner} v{r.text_version} {r.language} via {r.channel} "
                       f"sha256={r.text_sha256[:16]}…")


# ----- disclosure ---------------------------------------------------------------------------
def _decimal(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _fail(f"{option}: not a decimal number: {text!r}") from None
    if not value.is_finite():
        raise _fail(f"{option}: must be finite")
    return value


@disclosure_app.command("render")
def disclosure_render(
    principal: Annotated[str, typer.Option("--principal", help="Amount of credit, major "
                                                               "units (6000.00).")],
    annual_rate: Annotated[str, typer.Option("--annual-rate", help="Nominal yearly rate as a "
                                                                   "fraction (0.12).")],
    periods: Annotated[int, typer.Option("--periods", help="Number of installments.")],
    out: Annotated[Path, typer.Option("--out", help="Output file: .html or .pdf.",
                                      dir_okay=False)],
    lang: Annotated[str, typer.Option("--lang", help="zh-CN or en.")] = "zh-CN",
    currency: Annotated[str, typer.Option("--currency")] = "CNY",
    method: Annotated[str, typer.Option("--method")] = "equal_installment",
    fee_rate: Annotated[str, typer.Option("--fee-rate", help="Fee per installment as a "
                                                             "fraction of principal.")] = "0",
    late_fee: Annotated[str, typer.Option("--late-fee", help="Late fee, major units.")] = "0",
    penalty_rate: Annotated[str, typer.Option("--penalty-rate",
                                              help="Penalty interest a year.")] = "0",
    grace_days: Annotated[int, typer.Option("--grace-days")] = 3,
    withdrawal_days: Annotated[int, typer.Option("--withdrawal-days")] = 14,
    start_date: Annotated[str | None, typer.Option(
        "--start-date", help="Origination date (default: today).")] = None,
    lender: Annotated[str, typer.Option("--lender", help="Lender's name.")] = "creditpay",
    offer_id: Annotated[str | None, typer.Option(
        "--offer-id", help="Offer id (default: derived from the figures).")] = None,
) -> None:
    """Render the key-facts document of an offer; prints its SHA-256 (HTML) and the APR."""
    from creditpay.clock import SystemClock
    from creditpay.money import Money
    from creditpay.protection import disclosure

    with _handled():
        suffix = out.suffix.lower()
        if suffix not in (".html", ".pdf"):
            raise _fail("--out: the file name must end in .html or .pdf")
        if lang not in ("zh-CN", "en"):
            raise _fail("--lang: use zh-CN or en")
        try:
            start = dt.date.fromisoformat(start_date) if start_date else \
                SystemClock().today()
        except ValueError:
            raise _fail(f"--start-date: not an ISO date: {start_date!r}") from None
        principal_minor = Money.parse(principal, currency).amount_minor
        late_fee_minor = Money.parse(late_fee, currency).amount_minor
        rate = _decimal(annual_rate, "--annual-rate")
        fee = _decimal(fee_rate, "--fee-rate")
        penalty = _decimal(penalty_rate, "--penalty-rate")
        # The derived id depends on the values, not their spelling ("20" = "20.00").
        figures = {"principal_minor": principal_minor, "currency": currency,
                   "annual_rate": rate.normalize(), "periods": periods, "method": method,
                   "fee_rate": fee.normalize(), "late_fee_minor": late_fee_minor,
                   "penalty_rate": penalty.normalize(), "grace": grace_days,
                   "withdrawal": withdrawal_days, "start": start.isoformat(),
                   "lender": lender}
        terms = disclosure.OfferTerms(
            offer_id=offer_id or disclosure.offer_id_for(**figures), lender_name=lender,
            principal_minor=principal_minor, currency=currency, annual_rate=rate,
            periods=periods, start_date=start, method=method,  # type: ignore[arg-type]
            fee_rate_per_period=fee, late_fee_minor=late_fee_minor,
            penalty_annual_rate=penalty, grace_days=grace_days,
            withdrawal_days=withdrawal_days)
        facts = disclosure.build_key_facts(terms)
        document = disclosure.render_html(facts, lang)
        if suffix == ".pdf":
            # Fonts embedded in the PDF carry a build time unless SOURCE_DATE_EPOCH is set:
            # pin it to the offer date so the same offer prints to the same bytes.
            epoch = int(dt.datetime(start.year, start.month, start.day,
                                    tzinfo=dt.UTC).timestamp())
            os.environ.setdefault("SOURCE_DATE_EPOCH", str(max(epoch, 0)))
            payload = disclosure.render_pdf(document)
        else:
            payload = document
        out.write_bytes(payload)
        typer.echo(f"wrote {out} ({len(payload)} bytes); offer {terms.offer_id}; "
                   f"html sha256 {disclosure.document_sha256(document)}; "
                   f"all-in annual cost {disclosure.percent_text(facts.apr)}")


# ----- complaints ---------------------------------------------------------------------------
def _aware(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"{option}: not an ISO date or datetime: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@complaints_app.command("stats")
def complaints_stats(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    opened_from: Annotated[str | None, typer.Option(
        "--from", help="Complaints opened at or after (ISO; UTC if no zone).")] = None,
    opened_to: Annotated[str | None, typer.Option(
        "--to", help="Complaints opened before (ISO; UTC if no zone).")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Evaluate SLA timers at this time (default: now).")] = None,
) -> None:
    """Counts by category and status, SLA breach rates, median time to resolve."""
    from creditpay.clock import SystemClock
    from creditpay.protection import complaints

    with _handled():
        engine = _open_engine(db, ("complaints",))
        moment = _aware(as_of, "--as-of") or SystemClock().now()
        with engine.connect() as conn:
            stats = complaints.complaint_stats(
                conn, moment, opened_from=_aware(opened_from, "--from"),
                opened_to=_aware(opened_to, "--to"))
        if as_json:
            typer.echo(json.dumps(stats.as_dict(), indent=2, sort_keys=True))
            return
        typer.echo(f"complaints: {stats.total} (as of {stats.as_of.isoformat()})")
        typer.echo("by status:   " + ", ".join(f"{k} {v}" for k, v in stats.by_status.items()))
        typer.echo("by category: " + ", ".join(f"{k} {v}" for k, v in
                                               stats.by_category.items() if v))

        def rate(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.2%}"

        typer.echo(f"acknowledge SLA breached: {stats.acknowledge_breached}/"
                   f"{stats.acknowledge_decided} ({rate(stats.acknowledge_breach_rate)})")
        typer.echo(f"resolve SLA breached: {stats.resolve_breached}/{stats.resolve_decided} "
                   f"({rate(stats.resolve_breach_rate)})")
        median = stats.median_hours_to_resolve
        typer.echo("median time to resolve: " + ("n/a" if median is None else
                                                 f"{median} h"))
