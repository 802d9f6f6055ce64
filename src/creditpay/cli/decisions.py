"""``creditpay risk ...``: decide, replay, policies, model registry; ``bench decision``.

Business time for ``decide`` is the system clock (this is the shell); every domain error
exits with status 2 and a one-line message naming the field, a replay mismatch with 1.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from creditpay.cli.common import (
    DbOption,
    TokenOption,
    acting_operator,
    services,
    staff_unit_of_work,
)
from creditpay.errors import DomainError

if TYPE_CHECKING:
    from creditpay.db.uow import UnitOfWork

__all__ = ["register"]

F = TypeVar("F", bound=Callable[..., Any])

risk_app = typer.Typer(help="Credit decisions: decide, replay, policies and models.",
                       no_args_is_help=True)
policy_app = typer.Typer(help="Credit policy documents (JDM decision tables).",
                         no_args_is_help=True)
models_app = typer.Typer(help="Model registry: champion, challenger, rollback.",
                         no_args_is_help=True)
risk_app.add_typer(policy_app, name="policy")
risk_app.add_typer(models_app, name="models")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
# Only ``risk bootstrap`` (a deployment's first models and policies, like operator-create)
# takes a name; every other change is made as the operator of --token.
ActorOption = Annotated[str, typer.Option("--actor", help="Who makes the change (audit).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (audit).")]


def _errors(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DomainError as error:
            typer.echo(f"Error: {error}", err=True)
            raise typer.Exit(code=2) from None
    return wrapper  # type: ignore[return-value]


def _uow(db: str | None, *, read_only: bool = False) -> UnitOfWork:
    return services(db, read_only=read_only).uow


# Who may change policies and models from the shell: as the API's risk routes.
STAFF_ROLES = frozenset({"risk_analyst", "admin"})


def _staff(db: str | None, token: str | None, action: str) -> tuple[UnitOfWork, str]:
    """The unit of work and the id of the operator ``token`` names (audited as the actor),
    who must be a risk analyst or an admin; else exit 2 with nothing done."""
    return staff_unit_of_work(db, token, STAFF_ROLES, action)


def _print(data: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=1, ensure_ascii=False, default=str))
        return
    from rich.console import Console
    from rich.pretty import Pretty

    Console().print(Pretty(data))


def _read_json(path: Path, option: str) -> Any:
    from creditpay.errors import ValidationError

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"{str(path)!r} not found", field=option) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path.name} is not JSON: {exc}", field=option) from None


_APPLICATION_KEYS = {"application_id", "customer_id", "product_code", "application",
                     "platform_events", "blacklisted", "bureau_consent_reference",
                     "platform_consent_reference"}
# Without these there is nothing to decide; decide() validates their values.
_REQUIRED_KEYS = ("application_id", "customer_id", "product_code", "application")


@risk_app.command("decide")
@_errors
def decide_command(
    application: Annotated[Path, typer.Option("--application", help="Application JSON: "
                                              "application_id, customer_id, product_code, "
                                              "application {...}, platform_events [...], "
                                              "blacklisted, bureau_consent_reference, "
                                              "platform_consent_reference.")],
    db: DbOption = None,
    bureau_seed: Annotated[int, typer.Option(help="Seed of the simulated bureau.")] = 0,
    json_output: JsonOption = False,
) -> None:
    """Decide one credit application and store the decision."""
    from creditpay.errors import ValidationError
    from creditpay.risk.bureau import SimulatedBureau
    from creditpay.risk.decisions.service import decide

    request = _read_json(application, "--application")
    if not isinstance(request, dict):
        raise ValidationError("must be a JSON object", field="--application")
    unknown = sorted(set(request) - _APPLICATION_KEYS)
    if unknown:
        raise ValidationError(f"unknown key {unknown[0]!r}", field=unknown[0])
    missing = [key for key in _REQUIRED_KEYS if key not in request]
    if missing:
        raise ValidationError("is required", field=missing[0])
    uow = _uow(db)
    with uow.begin() as tx:
        decision = decide(
            tx, application_id=request["application_id"],
            customer_id=request["customer_id"], product_code=request["product_code"],
            application=request["application"], bureau=SimulatedBureau(bureau_seed),
            platform_events=request.get("platform_events", []),
            blacklisted=request.get("blacklisted", False),
            bureau_consent_reference=request.get("bureau_consent_reference"),
            platform_consent_reference=request.get("platform_consent_reference"))
    _print(decision.to_json(), json_output)


@risk_app.command("replay")
@_errors
def replay_command(decision_id: str, db: DbOption = None, json_output: JsonOption = False
                   ) -> None:
    """Recompute a stored decision; exit 1 if it differs from what was stored."""
    from creditpay.risk.decisions.service import replay_decision

    with _uow(db, read_only=True).connect() as conn:
        result = replay_decision(conn, decision_id)
    _print(result.to_json() if json_output else
           {"decision_id": decision_id, "matches": result.matches,
            "differences": result.differences}, json_output)
    raise typer.Exit(0 if result.matches else 1)


@risk_app.command("bootstrap")
@_errors
def bootstrap_command(db: DbOption = None, seed: int = 0,
                      actor: ActorOption = "bootstrap") -> None:
    """Train synthetic models, register and promote them, activate the bundled policies."""
    import datetime as dt
    import tempfile

    from creditpay.risk.decisions import registry
    from creditpay.risk.decisions.policy import (
        activate_policy,
        bundled_policy_path,
        load_policy_file,
    )
    from creditpay.risk.features.synthetic import train_synthetic_models

    uow = _uow(db)
    with tempfile.TemporaryDirectory() as folder:
        dirs = train_synthetic_models(folder, seed=seed, author=actor,
                                      created_at=dt.datetime.now(dt.UTC).isoformat())
        with uow.begin() as tx:
            for name in ("application", "behaviour"):
                version = registry.register_model(tx, dirs[name], name=name,
                                                  registered_by=actor)
                registry.promote(tx, name, version.version, actor=actor, reason="bootstrap")
            registry.register_model(tx, dirs["application_challenger"], name="application",
                                    registered_by=actor)
            for kind in ("application", "limit_review"):
                activate_policy(tx, load_policy_file(bundled_policy_path(kind)), actor=actor)
    typer.echo("models registered and promoted; policies active")


@risk_app.command("limit-review")
@_errors
def limit_review_command(
    date: Annotated[str, typer.Option("--date", help="Review date, YYYY-MM-DD (not after "
                                      "the business date).")],
    db: DbOption = None,
    every_days: Annotated[int, typer.Option(help="Review only if none ran in this many "
                                            "days.")] = 30,
    json_output: JsonOption = False,
) -> None:
    """Behaviour-score every active line; raise, lower or freeze limits; notify (once per
    date: a re-run changes nothing)."""
    import datetime as dt

    from creditpay.errors import ValidationError
    from creditpay.risk.decisions.limit_review_job import run_limit_review

    try:
        business_date = dt.date.fromisoformat(date)
    except ValueError:
        raise ValidationError("must be a date YYYY-MM-DD", field="--date") from None
    report = run_limit_review(_uow(db), business_date, every_days=every_days)
    _print(report.as_dict(), json_output)


@policy_app.command("check")
@_errors
def policy_check(file: Path, json_output: JsonOption = False) -> None:
    """Validate a policy document; print its id, version and content hash."""
    from creditpay.risk.decisions.policy import load_policy_file

    policy = load_policy_file(file)
    _print({"policy_id": policy.policy_id, "kind": policy.kind, "version": policy.version,
            "content_hash": policy.content_hash, "valid": True}, json_output)


@policy_app.command("activate")
@_errors
def policy_activate(file: Path, token: TokenOption = None, db: DbOption = None) -> None:
    """Propose putting a policy document in force (four-eyes: a second operator approves
    it with `creditpay approvals approve ID` or in the console, which hot-swaps it). The
    document is validated first; prints the proposal with its approval_id."""
    import dataclasses

    from creditpay.platform import approvals
    from creditpay.risk.decisions.policy import load_policy_file

    policy = load_policy_file(file)
    built = services(db, read_only=False)
    try:
        who = acting_operator(built, token, STAFF_ROLES, "risk policy activate")
        proposal = built.uow.run(lambda tx: approvals.propose(
            tx, built.controlled_actions["credit_policy.activate"],
            {"document": dict(policy.document), "policy_id": policy.policy_id,
             "version": policy.version, "content_hash": policy.content_hash},
            approvals.Actor(who.id, who.role), policy=built.four_eyes))
    finally:
        built.close()
    typer.echo(json.dumps(dataclasses.asdict(proposal) | {"payload": {
        "policy_id": policy.policy_id, "version": policy.version,
        "content_hash": policy.content_hash}}, indent=2, sort_keys=True, default=str))


@models_app.command("list")
@_errors
def models_list(name: Annotated[str | None, typer.Option(help="Only this name.")] = None,
                db: DbOption = None, json_output: JsonOption = False) -> None:
    """Registered models and the assignment in force per name."""
    from creditpay.errors import NotFoundError
    from creditpay.risk.decisions import registry

    with _uow(db, read_only=True).connect() as conn:
        models = registry.list_models(conn, name)
        assignments: dict[str, dict[str, Any] | None] = {}
        for model_name in sorted({m.name for m in models}):
            try:
                assignments[model_name] = registry.current_assignment(conn, model_name).to_json()
            except NotFoundError:
                assignments[model_name] = None
    _print({"models": [m.to_json() for m in models], "assignments": assignments}, json_output)


@models_app.command("register")
@_errors
def models_register(directory: Path, name: Annotated[str, typer.Option(help="Registry name.")],
                    token: TokenOption = None, db: DbOption = None) -> None:
    """Register a model directory as the next version of NAME (as the operator of
    --token)."""
    from creditpay.risk.decisions import registry

    uow, actor = _staff(db, token, "risk models register")
    with uow.begin() as tx:
        version = registry.register_model(tx, directory, name=name, registered_by=actor)
    typer.echo(f"{version.name} version {version.version} ({version.artifact_sha256})")


@models_app.command("promote")
@_errors
def models_promote(name: str, version: int, reason: ReasonOption,
                   challenger_bps: Annotated[int | None, typer.Option(
                       help="Make it the challenger on this share (basis points) instead "
                       "of the champion.")] = None,
                   token: TokenOption = None, db: DbOption = None) -> None:
    """Propose making VERSION the champion of NAME (or its challenger with
    --challenger-bps), as the operator of --token (four-eyes, kind model.promote: a second
    operator approves it with `creditpay approvals approve ID` or in the console, which
    puts it in force). Checked first; prints the proposal with its approval_id."""
    import dataclasses

    from creditpay.platform import approvals
    from creditpay.risk.decisions import registry

    built = services(db, read_only=False)
    try:
        who = acting_operator(built, token, STAFF_ROLES, "risk models promote")
        proposal = built.uow.run(lambda tx: approvals.propose(
            tx, built.controlled_actions["model.promote"],
            registry.promotion_proposal(tx.conn, name, version, reason=reason,
                                        as_challenger_bps=challenger_bps),
            approvals.Actor(who.id, who.role), policy=built.four_eyes))
    finally:
        built.close()
    _print(dataclasses.asdict(proposal), True)


@models_app.command("rollback")
@_errors
def models_rollback(name: str, reason: ReasonOption, token: TokenOption = None,
                    db: DbOption = None) -> None:
    """Restore the previous champion/challenger assignment of NAME (as the operator of
    --token)."""
    from creditpay.risk.decisions import registry

    uow, actor = _staff(db, token, "risk models rollback")
    with uow.begin() as tx:
        current = registry.rollback(tx, name, actor=actor, reason=reason)
    _print(current.to_json(), True)


def bench_decision(
    applications: Annotated[int, typer.Option(help="Timed applications.")] = 2000,
    seed: int = 0,
    json_output: JsonOption = False,
) -> None:
    """Single-application decision latency p50/p99 vs the store's durable commit."""
    from rich.console import Console

    from creditpay.benchmarks.decision import run_decision_bench

    with Console(stderr=True).status("decision bench") as status:
        result = run_decision_bench(applications, seed,
                                    progress=lambda s: status.update(f"decision bench: {s}"))
    _print(result, json_output)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Wire ``creditpay risk`` and ``creditpay bench decision`` into the root CLI."""
    app.add_typer(risk_app, name="risk")
    bench_app.command("decision")(bench_decision)
