"""``creditpay merchant-user-create``: a person of a merchant who logs in to the merchant
dashboard (``/merchant/``) with a password and a TOTP code."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from creditpay.cli.common import DbOption, initial_password, services

__all__ = ["register"]


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("merchant-user-create")
    def merchant_user_create(
        merchant: str = typer.Option(..., "--merchant", help="the merchant's id (mer_...)"),
        name: str = typer.Option(..., "--name"),
        role: str = typer.Option("owner", "--role",
                                 help="owner (everything) | viewer (reads only)"),
        password_file: Path | None = typer.Option(
            None, "--password-file", dir_okay=False,
            help="File holding the user's login password (first line, 10..128 characters); "
                 "it is never printed. Without it a random password is generated and "
                 "printed once."),
        db: DbOption = None,
    ) -> None:
        """Create a merchant dashboard user and print, once, as JSON: its id (what it logs in
        with), merchant_id, name, role, its TOTP enrolment (totp_secret and an otpauth://
        totp_uri for an authenticator app) and, when generated, its password. An owner may
        do everything the merchant's API key with every scope may; a viewer reads payments
        and settlements only. Needs CREDITPAY_MASTER_KEY or _FILE (the TOTP secret is kept
        encrypted)."""
        from creditpay.errors import DomainError
        from creditpay.parties.merchant_users import create_merchant_user

        password, generated = initial_password(password_file)
        built = services(db, read_only=False)
        try:
            parties = built.parties
            password_hash = parties.passwords.hash(password)  # argon2 before the write lock
            parties.vault.ensure_active_key()
            result = built.uow.run(lambda tx: create_merchant_user(
                parties, tx, merchant_id=merchant, name=name, role=role,
                password_hash=password_hash, created_by="cli"))
        except DomainError as exc:
            field = getattr(exc, "field", None)
            option = {"password": "--password-file", "merchant_id": "--merchant",
                      "role": "--role", "name": "--name"}.get(field or "")
            typer.echo(f"error: {option + ': ' if option else ''}{exc}", err=True)
            raise typer.Exit(2) from None
        finally:
            built.close()
        if generated is not None:
            result["password"] = generated
        typer.echo(json.dumps(result))
