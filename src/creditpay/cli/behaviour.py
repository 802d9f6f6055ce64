"""``creditpay model retrain-behaviour``: the behaviour score retrained from the platform's
own matured history (:mod:`creditpay.risk.decisions.behaviour_retrain`).

Registered on the ``model`` sub-app of :mod:`creditpay.cli.scoring` (this module only adds
one command to it). Business time is the system clock (this is the shell); ``--as-of`` may
not be after it. A domain error (too few bads, a bad option) exits 2 naming the field.
"""

from __future__ import annotations

import datetime as dt
import json

import typer

from creditpay.cli.common import DbOption, open_services

__all__ = ["register", "retrain_behaviour_command"]

_OPTION_OF_FIELD = {"as_of": "--as-of", "window_days": "--window-days",
                    "bads": "--min-bads", "bads_min": "--min-bads", "oot_bads_min": "--min-oot-bads",
                    "actor": "--actor"}


def retrain_behaviour_command(
    as_of: str = typer.Option(None, "--as-of",
                              help="Observation cut-off YYYY-MM-DD (default: today)."),
    db: DbOption = None,
    window_days: int = typer.Option(90, "--window-days",
                                    help="Outcome window after each observation, days."),
    min_bads: int = typer.Option(20, "--min-bads", help="Refuse below this many bads."),
    min_oot_bads: int = typer.Option(
        5, "--min-oot-bads", help="Promote only with this many out-of-time bads."),
    actor: str = typer.Option("model-retrain", "--actor", help="Who retrains (audit)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Build the behaviour training set from matured limit-review observations (outcome:
    60+ days past due or written off within the window), train a scorecard, validate it
    out of time against the champion, register it, promote it when it does as well."""
    from creditpay.errors import DomainError
    from creditpay.risk.decisions.behaviour_retrain import retrain_behaviour

    try:
        day = dt.date.today() if as_of is None else dt.date.fromisoformat(as_of)
    except ValueError:
        raise typer.BadParameter("must be a date YYYY-MM-DD", param_hint="--as-of") from None
    with open_services(db, read_only=False) as built:
        try:
            report = retrain_behaviour(built.uow, day, actor=actor, window_days=window_days,
                                       bads_min=min_bads, oot_bads_min=min_oot_bads)
        except DomainError as exc:
            field = getattr(exc, "field", None)
            option = _OPTION_OF_FIELD.get(field or "", field)
            typer.echo(f"error: {option + ': ' if option else ''}{exc}", err=True)
            raise typer.Exit(2) from None
    result = report.as_dict()
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"behaviour model v{result['version']}: {result['rows']} observations, "
               f"{result['bads']} bads; out-of-time AUC {result['auc_oot']} "
               f"(champion v{result['champion_version']}: {result['champion_auc_oot']}) "
               f"on {result['oot_rows']} rows from {result['oot_from']}")
    typer.echo(result["reason"])


def register(app: typer.Typer, bench_app: typer.Typer) -> None:  # noqa: ARG001
    """Add ``retrain-behaviour`` to the ``model`` sub-app."""
    from creditpay.cli.scoring import model_app

    model_app.command("retrain-behaviour")(retrain_behaviour_command)
