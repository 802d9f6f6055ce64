"""``creditpay approvals list | approve | reject``: the four-eyes queue on the command line,
as ``/v1/operator/approvals`` serves it (platform/approvals.py; docs/security.md section 9).
Deciding acts as the operator of ``--token`` (``CREDITPAY_OPERATOR_TOKEN``): another
operator than the proposer, with a role that may decide the proposal's kind."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

import typer

from creditpay.cli.common import DbOption, TokenOption, acting_operator, fail, services

__all__ = ["register"]

DECIDE_ROLES = frozenset({"admin", "risk_analyst"})
READ_ROLES = frozenset({"admin", "risk_analyst", "compliance_officer"})


def _echo(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    approvals_app = typer.Typer(help="Four-eyes proposals: list, approve, reject.",
                                no_args_is_help=True)
    app.add_typer(approvals_app, name="approvals")

    @approvals_app.command("list")
    def list_command(
            status: Annotated[str | None, typer.Option(
                help="pending | approved | rejected | expired")] = "pending",
            token: TokenOption = None, db: DbOption = None) -> None:
        """Proposals, newest first, as JSON (admin, risk analyst, compliance officer)."""
        from creditpay.errors import DomainError
        from creditpay.platform import approvals

        built = services(db, read_only=False)
        try:
            acting_operator(built, token, READ_ROLES, "approvals list")
            with built.uow.connect() as conn:
                found = approvals.list_approvals(conn, built.clock.now(), status=status)
        except DomainError as exc:
            raise fail(f"{exc.field or 'approvals'}: {exc}") from None
        finally:
            built.close()
        _echo({"data": [dataclasses.asdict(a) for a in found]})

    def _decide(approval_id: str, token: str | None, db: str | None, action: str,
                reason: str | None = None) -> None:
        from creditpay.errors import DomainError
        from creditpay.platform import approvals

        built = services(db, read_only=False)
        try:
            who = acting_operator(built, token, DECIDE_ROLES, f"approvals {action}")
            checker = approvals.Actor(who.id, who.role)
            if action == "approve":
                decided = built.uow.run(lambda tx: approvals.approve(
                    tx, approval_id, checker, built.controlled_actions))
            else:
                decided = built.uow.run(lambda tx: approvals.reject(
                    tx, approval_id, checker, reason or "", built.controlled_actions))
        except DomainError as exc:
            raise fail(f"{exc.field or 'approval_id'}: {exc}") from None
        finally:
            built.close()
        _echo(dataclasses.asdict(decided))

    @approvals_app.command("approve")
    def approve(approval_id: str = typer.Argument(..., help="the proposal's approval_id"),
                token: TokenOption = None, db: DbOption = None) -> None:
        """Approve a proposal: its action runs now, once (not by its proposer)."""
        _decide(approval_id, token, db, "approve")

    @approvals_app.command("reject")
    def reject(approval_id: str = typer.Argument(..., help="the proposal's approval_id"),
               reason: str = typer.Option(..., "--reason", help="why (kept on the proposal)"),
               token: TokenOption = None, db: DbOption = None) -> None:
        """Reject a proposal with the reason: nothing runs (not by its proposer)."""
        _decide(approval_id, token, db, "reject", reason)
