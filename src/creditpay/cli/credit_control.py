"""``creditpay credit limit | write-off-reverse | products | caps``: staff changes to credit
under four-eyes control, as the operator of ``--token`` (``CREDITPAY_OPERATOR_TOKEN``), exactly
as ``/v1/operator/credit_lines/{line_id}/limit``,
``/v1/operator/credit_accounts/{account_id}/write_off/reverse``, ``/v1/operator/products`` and
``/v1/operator/caps`` do them (docs/console.md, "Four-eyes"). A change checked and proposed prints the proposal (approve it with
``creditpay approvals approve ID`` as another operator); one applied at once prints the
result. Refusals: one line naming the field on stderr, exit 2, nothing written."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from creditpay.cli.common import DbOption, TokenOption, acting_operator, fail, services

__all__ = ["register"]

# As the API's credit control routes.
STAFF_ROLES = frozenset({"admin", "risk_analyst"})
READ_ROLES = frozenset({"admin", "risk_analyst", "compliance_officer"})


def _echo(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    credit_app = typer.Typer(help="Staff changes to credit lines and accounts (four-eyes).",
                             no_args_is_help=True)
    app.add_typer(credit_app, name="credit")

    @credit_app.command("limit")
    def limit_command(
            line: Annotated[str, typer.Option("--line", help="the line id (line_<customer "
                                                              "id>_<currency>)")],
            limit_minor: Annotated[int, typer.Option(
                "--limit-minor", help="the new limit, minor units of the line's currency")],
            reason: Annotated[str, typer.Option("--reason", help="why (1-128 characters)")],
            token: TokenOption = None, db: DbOption = None) -> None:
        """Set a line's limit: applied at once at or below the four-eyes threshold, else
        proposed (a second operator approves it)."""
        from creditpay.credit.limits import limit_proposal
        from creditpay.errors import DomainError
        from creditpay.platform import approvals

        built = services(db, read_only=False)
        try:
            who = acting_operator(built, token, STAFF_ROLES, "credit limit")
            if built.four_eyes.controls_amount(limit_minor):
                def propose(tx: Any) -> Any:
                    row = built.limit_changes.check(
                        tx.conn, line, limit_minor=limit_minor, reason=reason)
                    return approvals.propose(
                        tx, built.controlled_actions["credit_line.limit"],
                        limit_proposal(row, limit_minor, reason),
                        approvals.Actor(who.id, who.role), policy=built.four_eyes)

                _echo(dataclasses.asdict(built.uow.run(propose)))
                return
            _echo(built.uow.run(lambda tx: built.limit_changes.change(
                tx, who.id, line, limit_minor=limit_minor, reason=reason)))
        except DomainError as exc:
            raise fail(f"{exc.field or 'credit limit'}: {exc}") from None
        finally:
            built.close()

    products_app = typer.Typer(help="Product versions: propose one (four-eyes), list what "
                                    "is in force.", no_args_is_help=True)
    caps_app = typer.Typer(help="Regulatory caps per jurisdiction: propose a version "
                                "(four-eyes), list what is in force.", no_args_is_help=True)
    credit_app.add_typer(products_app, name="products")
    credit_app.add_typer(caps_app, name="caps")
    for kind, sub in (("product", products_app), ("caps", caps_app)):
        _catalogue_commands(kind, sub)

    @credit_app.command("write-off-reverse")
    def write_off_reverse_command(
            account: Annotated[str, typer.Option("--account", help="the written-off credit "
                                                                    "account's id")],
            reason: Annotated[str, typer.Option("--reason", help="why the write-off was a "
                                                                 "mistake (1-500 characters)")],
            token: TokenOption = None, db: DbOption = None) -> None:
        """Propose reversing a write-off made by mistake (always four-eyes): checked now,
        executed when a second operator approves it."""
        from creditpay.credit import write_off_reversal as W
        from creditpay.errors import DomainError
        from creditpay.platform import approvals

        built = services(db, read_only=False)
        try:
            who = acting_operator(built, token, STAFF_ROLES, "credit write-off-reverse")

            def propose(tx: Any) -> Any:
                found, _record = W.check_reversal(tx.conn, account, reason)
                return approvals.propose(
                    tx, built.controlled_actions["write_off.reverse"],
                    W.reversal_proposal(found, reason), approvals.Actor(who.id, who.role),
                    policy=built.four_eyes)

            _echo(dataclasses.asdict(built.uow.run(propose)))
        except DomainError as exc:
            raise fail(f"{exc.field or 'credit write-off-reverse'}: {exc}") from None
        finally:
            built.close()


def _catalogue_commands(kind: str, sub: typer.Typer) -> None:
    """``creditpay credit products|caps propose FILE.yaml`` and ``... list``, as
    ``POST|GET /v1/operator/products`` and ``/v1/operator/caps`` do them."""
    what = "products" if kind == "product" else "caps"

    @sub.command("propose")
    def propose_command(
            path: Annotated[Path, typer.Argument(help="a YAML file as the packaged "
                                                      "credit/products/*.yaml or "
                                                      "credit/caps/<CC>.yaml (its version "
                                                      "may be left out: the next one)")],
            token: TokenOption = None, db: DbOption = None) -> None:
        """Propose a new version (always four-eyes): checked now exactly as the packaged
        file and against the caps, activated when a second operator approves it
        (``creditpay approvals approve ID``)."""
        import yaml

        from creditpay.credit import catalogue_versions as V
        from creditpay.errors import DomainError
        from creditpay.platform import approvals

        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise fail(f"document: cannot read {path}: {exc}") from None
        built = services(db, read_only=False)
        try:
            who = acting_operator(built, token, STAFF_ROLES, f"credit {what} propose")
            check = V.check_product if kind == "product" else V.check_caps

            def propose(tx: Any) -> Any:
                return approvals.propose(
                    tx, built.controlled_actions[f"{kind}.change"],
                    check(tx.conn, built.packaged_catalogue, document),
                    approvals.Actor(who.id, who.role), policy=built.four_eyes)

            _echo(dataclasses.asdict(built.uow.run(propose)))
        except DomainError as exc:
            raise fail(f"{exc.field or 'document'}: {exc}") from None
        finally:
            built.close()

    @sub.command("list")
    def list_command(token: TokenOption = None, db: DbOption = None) -> None:
        """What is in force, packaged and stored, with its source (JSON)."""
        from creditpay.credit import catalogue_versions as V
        from creditpay.errors import DomainError

        built = services(db, read_only=True)
        try:
            acting_operator(built, token, READ_ROLES, f"credit {what} list")
            with built.uow.connect() as conn:
                _echo(V.in_force(conn, built.packaged_catalogue, kind))
        except DomainError as exc:
            raise fail(f"{exc.field or what}: {exc}") from None
        finally:
            built.close()
