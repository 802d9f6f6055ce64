"""What every command shares: the one ``--db`` option and the one way to get services.

Kept light on purpose (typer only at import time): ``creditpay --help`` imports every
command module, so the heavy libraries are imported inside the functions below.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from creditpay.bootstrap import Services
    from creditpay.config import Settings
    from creditpay.db.uow import UnitOfWork
    from creditpay.parties.service import Principal
    from creditpay.platform.checkpoints import AuditCheckpointer

__all__ = ["DB_HELP", "DbOption", "TokenOption", "settings_for", "enable_process_logging",
           "services", "open_services", "staff_unit_of_work",
           "fail", "acting_operator"]

DB_HELP = ("Database: a URL (sqlite:///PATH, postgresql://USER@HOST/NAME) or a file path, "
           "meaning SQLite at that path (default: $CREDITPAY_DATABASE_URL or "
           "./var/creditpay.db).")
DbOption = Annotated[str | None, typer.Option("--db", help=DB_HELP, show_default=False)]
TOKEN_HELP = ("Who acts: the operator's token, a cpo_ token from 'creditpay operator-create' "
              "or a login token from POST /v1/operator/auth/login (default: "
              "$CREDITPAY_OPERATOR_TOKEN). The command acts as that operator, with the role "
              "the database gives them; it is recorded in the audit trail.")
TokenOption = Annotated[str | None, typer.Option("--token", help=TOKEN_HELP,
                                                 show_default=False)]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr; the caller raises the returned Exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def initial_password(password_file: Path | None) -> tuple[str, str | None]:
    """A new staff or merchant user's password and, when this command made it up, the
    same value to print once: the first line of ``password_file`` (an unreadable file exits
    2 naming --password-file), else 256 random bits the person keeps in a password
    manager (nothing to guess)."""
    from creditpay.parties.security import new_secret

    if password_file is None:
        generated = new_secret()
        return generated, generated
    try:
        lines = password_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        typer.echo(f"error: --password-file: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    return (lines[0] if lines else ""), None


# Set by creditpay.cli.main, the process's entry point: the settings a command reads then
# configure the process's logging (JSON lines on stderr, creditpay.platform.logs). A test
# that drives the Typer app in its own process leaves that process's logging alone.
_PROCESS_LOGGING = {"on": False}


def enable_process_logging() -> None:
    """The command line owns this process: configure its logging from the settings."""
    _PROCESS_LOGGING["on"] = True


def settings_for(db: str | None) -> Settings:
    """The process settings, with ``--db`` (a URL or a path) instead of
    ``CREDITPAY_DATABASE_URL`` when given. A bad value exits 2 naming the option. Run from
    the ``creditpay`` command, this also configures the process's logging
    (``CREDITPAY_LOG_LEVEL``, ``CREDITPAY_LOG_FORMAT``)."""
    from creditpay.config import Settings, parse_database_url
    from creditpay.errors import DomainError

    try:
        settings = Settings.from_env(parse_database_url(db) if db is not None else None)
    except DomainError as exc:
        raise fail(str(exc)) from None
    if _PROCESS_LOGGING["on"]:
        from creditpay.platform.logs import configure_logging

        configure_logging(settings)
    return settings


def with_business_date(settings: Settings, value: str) -> Settings:
    """``settings`` with ``--business-date`` (checked as CREDITPAY_BUSINESS_DATE is; a bad
    value exits 2 naming the option)."""
    from creditpay.config import check_business_date
    from creditpay.errors import DomainError

    try:
        check_business_date(value, "--business-date")
    except DomainError as exc:
        raise fail(f"--business-date {exc}") from None
    return settings.model_copy(update={"business_date": value})


def services(db: str | None, *, read_only: bool, **options: Any) -> Services:
    """The bootstrap's services on ``--db`` with wall-clock time (the command line is the
    imperative shell: business time is wall time), or, with CREDITPAY_BUSINESS_DATE, the
    database's own business clock as ``creditpay serve`` uses it (a staff command on a
    demo database acts on the same day as the API serving it). ``read_only``: the command
    only reads, so a missing database is an error (exit 2), never created. ``options``:
    fields of :class:`creditpay.bootstrap.ServiceOptions` (default pool: 2 connections)."""
    from creditpay.bootstrap import ServiceOptions, build_services, serving_clock
    from creditpay.errors import DomainError

    settings = settings_for(db)
    options.setdefault("pool_size", 2)
    try:
        return build_services(settings, serving_clock(settings),
                              ServiceOptions(read_only=read_only, **options))
    except DomainError as exc:
        raise fail(str(exc)) from None


@contextmanager
def open_services(db: str | None, *, read_only: bool, **options: Any) -> Iterator[Services]:
    """:func:`services`, closed (connections released) when the block ends."""
    built = services(db, read_only=read_only, **options)
    try:
        yield built
    finally:
        built.close()


def checkpointer_or_exit(built: Services) -> AuditCheckpointer:
    """The command's audit checkpointer, built before any work (a close's seal must be able
    to write its checkpoint); without key material: the error on stderr, the services
    closed, exit 2. Shared by ``creditpay nightly`` and ``creditpay cob run``."""
    from creditpay.errors import DomainError

    try:
        return built.audit_checkpointer
    except DomainError as exc:
        built.close()
        raise fail(str(exc)) from None


def staff_unit_of_work(db: str | None, token: str | None, roles: frozenset[str],
                       action: str) -> tuple[UnitOfWork, str]:
    """A staff command's unit of work on ``db`` and the id of the operator ``token`` names
    (:func:`acting_operator`: one of ``roles``, else exit 2 with nothing done)."""
    built = services(db, read_only=False)
    try:
        who = acting_operator(built, token, roles, action)
    except BaseException:
        built.close()
        raise
    return built.uow, who.id


def acting_operator(built: Services, token: str | None, roles: frozenset[str],
                    action: str) -> Principal:
    """The operator a staff command acts as: ``--token`` (else ``CREDITPAY_OPERATOR_TOKEN``)
    resolved against the database (a ``cpo_`` token needs no key; a login token needs the
    token key), and allowed ``action`` only with one of ``roles``. No token, a bad one, a
    disabled operator or another role: the error on stderr, exit 2, nothing done."""
    from creditpay.errors import AuthenticationError, DomainError
    from creditpay.parties.service import operator_of_credential, require_role

    given = token or built.settings.secret("operator_token")
    if not given:
        raise fail(f"{action} is a staff command: give the operator's token with --token or "
                   "CREDITPAY_OPERATOR_TOKEN")
    try:
        signer = built.signer if given.startswith("v1.") else None
        with built.uow.connect() as conn:
            principal = operator_of_credential(conn, given, signer, built.clock.now())
        return require_role(principal, roles, action)
    except AuthenticationError as exc:
        raise fail(f"--token: {exc}") from None
    except DomainError as exc:
        raise fail(str(exc)) from None
