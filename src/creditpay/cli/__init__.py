"""The ``creditpay`` command line (Typer).

Each domain keeps its commands in its own ``cli`` module exposing
``register(app: typer.Typer, bench_app: typer.Typer) -> None``; this file only wires them.
Heavy libraries are imported inside commands so ``creditpay --help`` stays fast.
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

# Domain command modules, in the order their commands appear in --help.
_DOMAIN_CLIS: tuple[str, ...] = (
    "creditpay.demo",
    "creditpay.cli.sim",
    "creditpay.cli.serve",
    "creditpay.cli.ledger",
    "creditpay.cli.credit",
    "creditpay.nightly",
    "creditpay.cli.collections",
    "creditpay.cli.decisions",
    "creditpay.cli.early_warning",
    "creditpay.cli.scoring",
    "creditpay.cli.fraud",
    "creditpay.cli.audit",
    "creditpay.cli.consumer",
    "creditpay.cli.reports",
)

for _module_name in _DOMAIN_CLIS:
    importlib.import_module(_module_name).register(app, bench_app)


def main() -> None:
    """Entry point: a domain error (bad input, missing key, refused operation) is printed
    as one line naming the field, with exit code 2, instead of a traceback."""
    from creditpay.errors import DomainError

    try:
        app()
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
