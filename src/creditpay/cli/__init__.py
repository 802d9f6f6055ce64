"""The ``creditpay`` command line (Typer).

Each domain keeps its commands in its own ``cli`` module exposing
``register(app: typer.Typer, bench_app: typer.Typer) -> None``; this file only wires them.
Heavy libraries (sqlalchemy, numpy, polars, fastapi, scikit-learn, lightgbm...) are imported
inside commands so ``creditpay --help`` stays fast; tests/cli/test_cli_wiring.py checks that
``--help`` imports none of them. Every command gets its database from the one ``--db`` option
and its services from the bootstrap (:mod:`creditpay.cli.common`).
"""

from __future__ import annotations

import importlib

import typer

__all__ = ["app", "bench_app", "main"]

app = typer.Typer(
    name="creditpay",
    help="creditpay: consumer credit embedded in mobile payment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks of the hot paths (JSON output with --json).",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("creditpay")
    except PackageNotFoundError:  # run from a source tree that was never installed
        installed = "unknown (not installed)"
    typer.echo(f"creditpay {installed}")
    raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(False, "--version", callback=_print_version,
                                      is_eager=True, help="Print the version and exit."),
) -> None:
    """creditpay: consumer credit embedded in mobile payment."""

# Domain command modules, in the order their commands appear in --help.
_DOMAIN_CLIS: tuple[str, ...] = (
    "creditpay.cli.demo",
    "creditpay.cli.sim",
    "creditpay.cli.serve",
    "creditpay.cli.db",
    "creditpay.cli.ledger",
    "creditpay.cli.credit",
    "creditpay.cli.nightly",
    "creditpay.cli.jobs",
    "creditpay.cli.collections",
    "creditpay.cli.decisions",
    "creditpay.cli.early_warning",
    "creditpay.cli.scoring",
    "creditpay.cli.behaviour",
    "creditpay.cli.fraud",
    "creditpay.cli.audit",
    "creditpay.cli.consumer",
    "creditpay.cli.reports",
    "creditpay.cli.bureau",
    "creditpay.cli.approvals",
    "creditpay.cli.merchant_users",
    "creditpay.cli.credit_control",
    "creditpay.cli.partners",
    "creditpay.cli.assistant",
    "creditpay.cli.hardship",
    "creditpay.cli.fx",
)

for _module_name in _DOMAIN_CLIS:
    importlib.import_module(_module_name).register(app, bench_app)


def main() -> None:
    """Entry point: a domain error (bad input, missing key, refused operation) is printed
    as one line naming the field, with exit code 2, instead of a traceback."""
    from creditpay.cli.common import enable_process_logging
    from creditpay.errors import DomainError

    enable_process_logging()
    try:
        app()
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
