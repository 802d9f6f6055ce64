"""``creditpay risk early-warning ...`` and ``creditpay risk alerts ...``; ``bench
early-warning``.

The commands that act on alerts are staff commands: they act as the operator whose token is
given (``--token`` or ``CREDITPAY_OPERATOR_TOKEN``), with the role the database gives them,
recorded in the audit trail; a playbook run is a four-eyes proposal, as over the API.
Every domain error exits with status 2 and a one-line message naming the field.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer

from creditpay.cli.common import DbOption, TokenOption, acting_operator, services

__all__ = ["register"]

# As the API's routes for alerts (risk analyst, admin).
ACT_ROLES = frozenset({"risk_analyst", "admin"})

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _uow(db: str | None, *, read_only: bool = False) -> Any:
    return services(db, read_only=read_only).uow


def _run(action: Any) -> Any:
    from creditpay.errors import DomainError

    try:
        return action()
    except DomainError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(code=2) from None


def _echo(data: Any) -> None:
    typer.echo(json.dumps(data, indent=1, ensure_ascii=False, default=str))


def _early_warning_app() -> typer.Typer:
    ew = typer.Typer(help="Daily portfolio monitors with dynamic thresholds.",
                     no_args_is_help=True)

    @ew.command("run")
    def run(date: str = typer.Option(..., "--date", help="Business date, YYYY-MM-DD."),
            db: DbOption = None, as_json: JsonOption = False) -> None:
        """Compute and store the day's metrics, evaluate the monitors, store the alerts
        (idempotent per date: a re-run prints the stored report)."""
        from creditpay.payments.reporting import daily_screening_counts
        from creditpay.risk.early_warning.job import run_early_warning

        try:
            day = dt.date.fromisoformat(date)
        except ValueError:
            raise typer.BadParameter("must be a date YYYY-MM-DD", param_hint="--date") from None
        uow = _uow(db)
        try:
            report = _run(lambda: run_early_warning(
                uow, day, screening=daily_screening_counts)).as_dict()
        finally:
            uow.engine.dispose()
        if as_json:
            _echo(report)
            return
        state = "already ran" if report["already_ran"] else "ran"
        typer.echo(f"{report['business_date']}: {state}; {report['measured']} of "
                   f"{report['metrics']} metrics measured, {len(report['alerts'])} alerts")
        for alert in report["alerts"]:
            typer.echo(f"  {alert['severity']:<8} {alert['monitor']:<24} "
                       f"{alert['segment']:<20} {alert['value']:.4f} -> {alert['playbook']}"
                       f"  ({alert['id']})")
        for note in report["notes"]:
            typer.echo(f"  note: {note}")

    @ew.command("monitors")
    def monitors() -> None:
        """The configured monitors (the bundled default_monitors.json), as JSON."""
        import dataclasses

        from creditpay.risk.early_warning.job import default_monitors

        _echo([dataclasses.asdict(m) for m in _run(default_monitors)])

    return ew


def _parse_params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not key=value",
                                     param_hint="--playbook-param")
        out[key.strip()] = value.strip()
    return out


def _alerts_app() -> typer.Typer:
    alerts = typer.Typer(help="Early-warning alerts: list, act (run the playbook), dismiss.",
                         no_args_is_help=True)

    @alerts.command("list")
    def list_command(status: str | None = typer.Option(
                         None, "--status", help="open | acknowledged | actioned | dismissed"),
                     severity: str | None = typer.Option(None, "--severity",
                                                         help="warning | critical"),
                     limit: int = typer.Option(50, "--limit", min=1, max=100),
                     db: DbOption = None, as_json: JsonOption = False) -> None:
        """Alerts, newest first."""
        from creditpay.risk.early_warning.service import list_alerts

        uow = _uow(db, read_only=True)
        try:
            with uow.connect() as conn:
                rows, _ = _run(lambda: list_alerts(conn, status=status, severity=severity,
                                                   limit=limit))
        finally:
            uow.engine.dispose()
        if as_json:
            _echo(rows)
            return
        for a in rows:
            typer.echo(f"{a['id']}  {a['day']}  {a['status']:<12} {a['severity']:<8} "
                       f"{a['monitor']:<24} {a['segment']:<20} {a['value']:.4f} "
                       f"[{a['lower']:.4f}, {a['upper']:.4f}] -> {a['playbook']}")

    @alerts.command("act")
    def act(alert_id: str = typer.Argument(..., help="the alert's id"),
            playbook_param: list[str] = typer.Option(
                [], "--playbook-param", help="k=v, repeatable (e.g. share=0.2)"),
            token: TokenOption = None, db: DbOption = None) -> None:
        """Propose running the alert's playbook (four-eyes: a second operator approves it
        with POST /v1/operator/approvals/{approval_id}/approve, which applies it). Checked
        as it would run first; prints the proposal with its approval_id."""
        import dataclasses

        from creditpay.platform import approvals
        from creditpay.risk.early_warning.service import check_playbook

        params = _parse_params(playbook_param)
        built = services(db, read_only=False)
        try:
            who = acting_operator(built, token, ACT_ROLES, "risk alerts act")
            roles = [] if who.role is None else [who.role]

            def propose(tx: Any) -> dict[str, Any]:
                check_playbook(tx.conn, alert_id, who.id, roles, params)
                proposal = approvals.propose(
                    tx, built.controlled_actions["playbook.run"],
                    {"alert_id": alert_id, "parameters": params},
                    approvals.Actor(who.id, who.role), policy=built.four_eyes)
                return dataclasses.asdict(proposal)

            view = _run(lambda: built.uow.run(propose))
        finally:
            built.close()
        _echo(view)

    @alerts.command("dismiss")
    def dismiss(alert_id: str = typer.Argument(..., help="the alert's id"),
                reason: str = typer.Option(..., "--reason", help="why (audit)"),
                token: TokenOption = None, db: DbOption = None) -> None:
        """Close an alert without action."""
        from creditpay.risk.early_warning.service import dismiss_alert

        built = services(db, read_only=False)
        try:
            who = acting_operator(built, token, ACT_ROLES, "risk alerts dismiss")
            view = _run(lambda: built.uow.run(lambda tx: dismiss_alert(tx, alert_id, who.id,
                                                                       reason)))
        finally:
            built.close()
        _echo(view)

    @alerts.command("acknowledge")
    def acknowledge(alert_id: str = typer.Argument(..., help="the alert's id"),
                    token: TokenOption = None, db: DbOption = None) -> None:
        """Mark an alert as seen."""
        from creditpay.risk.early_warning.service import acknowledge_alert

        built = services(db, read_only=False)
        try:
            who = acting_operator(built, token, ACT_ROLES, "risk alerts acknowledge")
            view = _run(lambda: built.uow.run(lambda tx: acknowledge_alert(tx, alert_id,
                                                                           who.id)))
        finally:
            built.close()
        _echo(view)

    return alerts


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Under ``creditpay risk`` (the risk domain's group); ``bench early-warning``."""
    risk_group = next((g.typer_instance for g in app.registered_groups
                       if g.name == "risk" and g.typer_instance is not None), None)
    target = risk_group or app
    target.add_typer(_early_warning_app(), name="early-warning")
    target.add_typer(_alerts_app(), name="alerts")

    @bench_app.command("early-warning")
    def bench(accounts: int = typer.Option(1_000_000, "--accounts", min=1_000,
                                           max=5_000_000),
              seed: int = typer.Option(0, "--seed"),
              as_json: JsonOption = False) -> None:
        """Time the job's vectorised metrics on a synthetic book of N accounts."""
        from creditpay.benchmarks.early_warning import run_bench

        result = run_bench(accounts, seed)
        _echo(result) if as_json else typer.echo(
            "  ".join(f"{k}={v}" for k, v in result.items()))
