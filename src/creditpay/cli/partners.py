"""``creditpay partners ...``: partner lenders (onboarding, terms, keys), the funding
arrangements of products, and the partner side's daily work: report, settle (with the
settlement files), reconcile. docs/partner-lending.md.

Staff commands (onboard, terms, status, key, arrange) act as the operator of ``--token``
(``CREDITPAY_OPERATOR_TOKEN``), admin or risk analyst, and are audited; ``terms`` and
``arrange`` are four-eyes (kinds ``partner.terms``, ``funding.arrange``): they print a
proposal that another operator approves with ``creditpay approvals approve ID``. ``report``,
``reconcile`` and ``settle`` are the batch's: they first follow the credit journal (every
flow of a funded loan split between its funders), then read or settle. Refusals: one line
naming the field on stderr, exit 2, nothing written."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from creditpay.cli.common import DbOption, TokenOption, acting_operator, fail, services

__all__ = ["register", "write_settlement_files", "SETTLEMENT_COLUMNS", "SUMMARY_COLUMNS"]

STAFF_ROLES = frozenset({"admin", "risk_analyst"})
# The settlement files' layout (docs/partner-lending.md, "Settlement files").
SETTLEMENT_COLUMNS = ("settlement_id", "partner_id", "account_id", "currency", "kind",
                      "amount_minor", "cash_sign", "business_date", "transfer_id")
SUMMARY_COLUMNS = ("settlement_id", "partner_id", "currency", "business_date",
                   "funding_minor", "principal_minor", "income_minor", "guarantee_minor",
                   "recovery_minor", "reversal_minor", "net_minor", "flows")


def _echo(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def _document(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise fail(f"terms: cannot read {path}: {exc}") from None


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None


def write_settlement_files(out: Path, day: dt.date, settlements: list[dict[str, Any]],
                           lines_of: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Write ``settlements_<date>.csv|.parquet`` (one row per partner) and, per partner,
    ``settlement_<partner>_<date>.csv|.parquet`` (one row per flow settled); returns the
    paths. Parquet through polars (the same columns and integer types as the CSV)."""
    import polars as pl

    out.mkdir(parents=True, exist_ok=True)
    written = []
    stamp = day.isoformat()
    summary = pl.DataFrame([{c: s[c] for c in SUMMARY_COLUMNS} for s in settlements],
                           schema={c: (pl.Int64 if c.endswith("_minor") or c == "flows"
                                       else pl.Utf8) for c in SUMMARY_COLUMNS})
    for suffix, write in (("csv", summary.write_csv), ("parquet", summary.write_parquet)):
        path = out / f"settlements_{stamp}.{suffix}"
        write(path)
        written.append(str(path))
    for partner_id, lines in sorted(lines_of.items()):
        frame = pl.DataFrame([{c: line[c] for c in SETTLEMENT_COLUMNS} for line in lines],
                             schema={c: (pl.Int64 if c in ("amount_minor", "cash_sign")
                                         else pl.Utf8) for c in SETTLEMENT_COLUMNS})
        for suffix, write in (("csv", frame.write_csv), ("parquet", frame.write_parquet)):
            path = out / f"settlement_{partner_id}_{stamp}.{suffix}"
            write(path)
            written.append(str(path))
    return written


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    partners_app = typer.Typer(help="Partner lenders: onboarding, terms, funding "
                                    "arrangements, settlement and reconciliation.",
                               no_args_is_help=True)
    app.add_typer(partners_app, name="partners")

    def staff(db: str | None, token: str | None, action: str, run: Any) -> None:
        from creditpay.errors import DomainError

        built = services(db, read_only=False)
        try:
            who = acting_operator(built, token, STAFF_ROLES, action)
            _echo(built.uow.run(lambda tx: run(built, tx, who.id)))
        except DomainError as exc:
            raise fail(f"{exc.field or action}: {exc}") from None
        finally:
            built.close()

    @partners_app.command("onboard")
    def onboard_command(
            name: Annotated[str, typer.Option("--name", help="the partner's legal name")],
            licence_type: Annotated[str, typer.Option(
                "--licence-type", help="bank | consumer_finance | trust | microloan")],
            licence_number: Annotated[str, typer.Option("--licence-number")],
            terms: Annotated[Path, typer.Option(
                "--terms", help="a YAML/JSON file of the partner's terms "
                                "(docs/partner-lending.md, 'Partner terms')")],
            currency: Annotated[str, typer.Option("--currency")] = "CNY",
            status: Annotated[str, typer.Option("--status",
                                                help="active | onboarding")] = "active",
            token: TokenOption = None, db: DbOption = None) -> None:
        """Onboard a partner lender with its terms (version 1)."""
        from creditpay.parties import partners as P
        from creditpay.reporting.data_sharing import SHAREABLE_FIELDS

        document = _document(terms)
        staff(db, token, "partners onboard", lambda built, tx, who: P.onboard_partner(
            tx, who, name=name, licence_type=licence_type, licence_number=licence_number,
            currency=currency, terms=document, status=status,
            shareable_fields=SHAREABLE_FIELDS))

    def propose(db: str | None, token: str | None, action: str, kind: str,
                check: Any) -> None:
        """Check a controlled change now and store it as a proposal (four-eyes): a second
        operator approves it with ``creditpay approvals approve ID`` and it runs then."""
        import dataclasses

        from creditpay.errors import DomainError
        from creditpay.platform import approvals

        built = services(db, read_only=False)
        try:
            who = acting_operator(built, token, STAFF_ROLES, action)
            _echo(dataclasses.asdict(built.uow.run(lambda tx: approvals.propose(
                tx, built.controlled_actions[kind], check(built, tx),
                approvals.Actor(who.id, who.role), policy=built.four_eyes))))
        except DomainError as exc:
            raise fail(f"{exc.field or action}: {exc}") from None
        finally:
            built.close()

    @partners_app.command("terms")
    def terms_command(
            partner: Annotated[str, typer.Argument(help="the partner id")],
            terms: Annotated[Path, typer.Option("--terms", help="a YAML/JSON terms file")],
            token: TokenOption = None, db: DbOption = None) -> None:
        """Propose new terms for a partner (four-eyes; a new version once approved; funded
        loans keep theirs)."""
        from creditpay.parties import partners as P
        from creditpay.reporting.data_sharing import SHAREABLE_FIELDS

        document = _document(terms)
        propose(db, token, "partners terms", "partner.terms",
                lambda built, tx: P.check_terms_change(tx.conn, partner, document,
                                                       shareable_fields=SHAREABLE_FIELDS))

    @partners_app.command("status")
    def status_command(
            partner: Annotated[str, typer.Argument(help="the partner id")],
            status: Annotated[str, typer.Option(
                "--status", help="active | suspended | terminated")],
            token: TokenOption = None, db: DbOption = None) -> None:
        """Activate, suspend or terminate a partner (no new loans unless active)."""
        from creditpay.parties import partners as P

        staff(db, token, "partners status",
              lambda built, tx, who: P.set_status(tx, who, partner, status))

    @partners_app.command("key")
    def key_command(
            partner: Annotated[str, typer.Argument(help="the partner id")],
            scope: Annotated[list[str] | None, typer.Option(
                "--scope", help="loans:read | cash_flows:read | settlements:read "
                                "(repeat; default: all)")] = None,
            token: TokenOption = None, db: DbOption = None) -> None:
        """A read-only API key for the partner API (printed once)."""
        from creditpay.parties import partners as P

        staff(db, token, "partners key", lambda built, tx, who: P.create_partner_key(
            tx, who, partner, scope or P.PARTNER_SCOPES))

    @partners_app.command("arrange")
    def arrange_command(
            product: Annotated[str, typer.Option("--product", help="the product code")],
            arrangement_type: Annotated[str, typer.Option(
                "--type", help="own | joint | facilitation")],
            partner: Annotated[list[str] | None, typer.Option(
                "--partner", help="a partner id, or ID:BPS for a fixed share (repeat; "
                                  "the waterfall takes them cheapest first)")] = None,
            version: Annotated[int | None, typer.Option(
                "--version", help="the product version (default: the one in force)")] = None,
            platform_share_bps: Annotated[int | None, typer.Option(
                "--platform-share-bps", help="joint: the platform's share (default: the "
                                             "jurisdiction's minimum)")] = None,
            guarantee_bps: Annotated[int, typer.Option(
                "--guarantee-bps", help="first-loss cover, of each partner's funded "
                                        "principal")] = 0,
            fallback: Annotated[str, typer.Option(
                "--fallback", help="own | decline: when no partner funds")] = "own",
            token: TokenOption = None, db: DbOption = None) -> None:
        """Propose a product version's funding arrangement (four-eyes: checked now, a new
        arrangement version once a second operator approves it)."""
        from creditpay.credit import funding as F
        from creditpay.errors import DomainError, ValidationError

        entries = []
        for value in partner or []:
            pid, _, bps = value.partition(":")
            try:
                entries.append({"partner_id": pid, "share_bps": int(bps) if bps else None})
            except ValueError:
                raise fail(f"--partner: {value!r} is ID or ID:BPS") from None

        def check(built: Any, tx: Any) -> Any:
            try:
                found = built.catalogue.get(product, version) if version else \
                    built.catalogue.get(product)
            except DomainError as exc:
                raise ValidationError(str(exc), field="product_code") from None
            return F.check_arrangement(
                tx.conn, product=found, arrangement_type=arrangement_type, partners=entries,
                platform_share_bps=platform_share_bps, guarantee_bps=guarantee_bps,
                fallback=fallback, caps=built.catalogue.caps(found.jurisdiction))

        propose(db, token, "partners arrange", "funding.arrange", check)

    @partners_app.command("list")
    def list_command(db: DbOption = None,
                     as_json: Annotated[bool, typer.Option("--json")] = True) -> None:
        """Every partner with its terms in force, and every product's arrangement."""
        from creditpay.credit import funding as F
        from creditpay.parties import partners as P

        built = services(db, read_only=True)
        try:
            with built.uow.connect() as conn:
                _echo({"partners": [P.partner_view(p) for p in P.list_partners(conn)],
                       "arrangements": F.list_arrangements(conn)})
        finally:
            built.close()

    @partners_app.command("report")
    def report_command(db: DbOption = None,
                       as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Per partner: funded volume, outstanding, income, losses, guarantee, the
        smallest platform share of its joint loans, decisions, settlements."""
        from creditpay.credit import funding as F

        built = services(db, read_only=False)
        try:
            def run(tx: Any) -> Any:
                F.follow_ledger(tx)
                return F.partners_report(tx.conn)

            report = built.uow.run(run)
        finally:
            built.close()
        if as_json:
            _echo(report)
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title="Partner lenders")
        for column in ("partner", "loans", "funded", "outstanding", "income", "losses",
                       "min platform share"):
            table.add_column(column, justify="right" if column != "partner" else "left")
        for row in report["partners"]:
            share = row["platform_share_min_bps"]
            table.add_row(row["name"], str(row["loans"]), f"{row['funded_minor'] / 100:,.2f}",
                          f"{row['outstanding_minor'] / 100:,.2f}",
                          f"{row['income_minor'] / 100:,.2f}",
                          f"{row['losses_minor'] / 100:,.2f}",
                          "-" if share is None else f"{share / 100:.2f} %")
        Console().print(table)

    @partners_app.command("reconcile")
    def reconcile_command(
            db: DbOption = None,
            date: Annotated[str | None, typer.Option(
                "--date", help="also check that day's settlements (YYYY-MM-DD)")] = None,
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Every partner's cash flows against the ledger; exit 1 when anything differs."""
        from creditpay.credit import funding as F

        day = _date(date, "--date")
        built = services(db, read_only=False)
        try:
            result = built.uow.run(lambda tx: F.reconcile(tx, day))
        finally:
            built.close()
        _echo(result) if as_json else typer.echo(
            f"{'ok' if result['ok'] else 'NOT OK'}: {result['differences']} differences, "
            f"{len(result['partners'])} partner accounts")
        if not result["ok"]:
            raise typer.Exit(1)

    @partners_app.command("settle")
    def settle_command(
            date: Annotated[str, typer.Option("--date", help="the business date settled")],
            out: Annotated[Path, typer.Option("--out", help="the directory the settlement "
                                                            "files are written to")],
            db: DbOption = None,
            partner: Annotated[str | None, typer.Option("--partner")] = None) -> None:
        """Settle each partner for DATE (idempotent) and write the settlement files."""
        from creditpay.credit import funding as F
        from creditpay.errors import DomainError

        day = _date(date, "--date")
        assert day is not None
        built = services(db, read_only=False)
        try:
            def run(tx: Any) -> Any:
                settled = F.settle(tx, day, partner_id=partner)
                return settled, {s["partner_id"]: F.settlement_lines(tx.conn, s["partner_id"],
                                                                      day)
                                 for s in settled}

            settled, lines = built.uow.run(run)
        except DomainError as exc:
            raise fail(f"{exc.field or 'partners settle'}: {exc}") from None
        finally:
            built.close()
        files = write_settlement_files(out, day, settled, lines)
        _echo({"date": day.isoformat(), "settlements": settled, "files": files})
