"""``creditpay`` commands of the fraud domain: benchmarks, rule validation, and the
versioned rule sets (``creditpay risk fraud-rules show | load | activate | history``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from creditpay.cli.common import (
    DbOption,
    TokenOption,
    acting_operator,
    fail,
    services,
    staff_unit_of_work,
)

if TYPE_CHECKING:
    from creditpay.db.uow import UnitOfWork

__all__ = ["register"]


def _print_json(data: dict) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def _uow(db: str | None, *, read_only: bool) -> Any:
    return services(db, read_only=read_only).uow


# Who may load and activate fraud rules: as the API's rule routes (risk analyst, admin).
RULES_ROLES = frozenset({"risk_analyst", "admin"})


def _staff(db: str | None, token: str | None, action: str) -> tuple[UnitOfWork, str]:
    """The unit of work and the id of the operator ``token`` names (audited as the actor),
    who must be a risk analyst or an admin; else exit 2 with nothing done."""
    return staff_unit_of_work(db, token, RULES_ROLES, action)


def _read_document(path: Path) -> Any:
    """A rules document from a .json or .yaml/.yml file (errors name the file)."""
    from creditpay.errors import ValidationError

    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}", field="FILE") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        raise ValidationError(f"cannot parse {path.name}: {exc}", field="FILE") from None


def _rules_app() -> typer.Typer:
    rules_app = typer.Typer(help="Fraud rule sets: versioned, validated, audited, hot-swapped.",
                            no_args_is_help=True)

    @rules_app.command("show")
    def show(db: DbOption = None,
             as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
        """The live rule set (version, hash, author, activation) and its document."""
        from creditpay.risk.fraud import rule_sets

        uow = _uow(db, read_only=True)
        with uow.connect() as conn:
            live = rule_sets.active(conn)
        if live is None:
            typer.echo("no rule set activated: screeners use their configured document")
            return
        if as_json:
            _print_json(live)
            return
        typer.echo(f"version {live['version']} (sha256 {live['sha256']}), "
                   f"{live['rules']} rules, activated {live['activated_at']} "
                   f"by {live['activated_by']}")
        typer.echo(json.dumps(live["content"], indent=2, sort_keys=True, ensure_ascii=False))

    @rules_app.command("load")
    def load(path: Path = typer.Argument(..., help="rules document (.json/.yaml)"),
             token: TokenOption = None, db: DbOption = None) -> None:
        """Validate a rules document and store it as a new version (not yet live), as the
        operator of --token."""
        from creditpay.risk.fraud import rule_sets

        document = _read_document(path)
        uow, author = _staff(db, token, "risk fraud-rules load")
        view = uow.run(lambda tx: rule_sets.load(tx, document, author=author))
        state = "already stored" if view["duplicate"] else "stored"
        typer.echo(f"{state}: version {view['version']} (sha256 {view['sha256']}), "
                   f"{view['rules']} rules; make it live with: creditpay risk fraud-rules "
                   f"activate {view['version']} --token TOKEN")

    @rules_app.command("activate")
    def activate(version: str = typer.Argument(..., help="a stored version"),
                 token: TokenOption = None, db: DbOption = None) -> None:
        """Propose making a stored version live (four-eyes: a second operator approves it
        with `creditpay approvals approve ID` or in the console; running screeners then swap
        it in within seconds). Checked first; prints the proposal with its approval_id."""
        import dataclasses

        from creditpay.bootstrap import fraud_feature_names
        from creditpay.errors import DomainError
        from creditpay.platform import approvals
        from creditpay.risk.fraud import rule_sets

        built = services(db, read_only=False)
        try:
            who = acting_operator(built, token, RULES_ROLES, "risk fraud-rules activate")

            def propose(tx: Any) -> Any:
                rule_sets.check_activation(tx.conn, version,
                                           fraud_feature_names(built.risk))
                return approvals.propose(
                    tx, built.controlled_actions["fraud_rules.activate"],
                    {"version": version}, approvals.Actor(who.id, who.role),
                    policy=built.four_eyes)

            proposal = built.uow.run(propose)
        except DomainError as exc:
            raise fail(f"{exc.field or 'version'}: {exc}") from None
        finally:
            built.close()
        _print_json(dataclasses.asdict(proposal))

    @rules_app.command("history")
    def history(db: DbOption = None,
                as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
        """Stored versions, newest first (the audit trail has every activation)."""
        from creditpay.risk.fraud import rule_sets

        uow = _uow(db, read_only=True)
        with uow.connect() as conn:
            rows = rule_sets.history(conn)
        if as_json:
            typer.echo(json.dumps(rows, indent=2, sort_keys=True, default=str))
            return
        for row in rows:
            mark = "*" if row["active"] else " "
            typer.echo(f"{mark} {row['version']:<32} {row['sha256'][:12]} {row['rules']:>4} "
                       f"rules  by {row['author']:<16} created {row['created_at']}  "
                       f"activated {row['activated_at'] or '-'}")

    return rules_app


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    fraud_app = typer.Typer(help="Real-time fraud screening: rules, models, simulator.",
                            no_args_is_help=True)
    app.add_typer(fraud_app, name="fraud")
    # Under ``creditpay risk`` (the risk domain's group) when it is there.
    risk_group = next((g.typer_instance for g in app.registered_groups
                       if g.name == "risk" and g.typer_instance is not None), None)
    (risk_group or fraud_app).add_typer(_rules_app(), name="fraud-rules")

    @fraud_app.command("check-rules")
    def check_rules(path: Path = typer.Argument(..., help="rules document (.json/.yaml)")) -> None:
        """Validate a fraud rules document against the default feature set."""
        from creditpay.errors import ValidationError
        from creditpay.risk.fraud.features import FeatureConfig, feature_names
        from creditpay.risk.fraud.rules import load_rules

        try:
            ruleset = load_rules(path, feature_names(FeatureConfig()))
        except ValidationError as exc:
            typer.echo(f"invalid: {exc.detail} (field: {exc.field})", err=True)
            raise typer.Exit(code=1) from exc
        typer.echo(f"ok: version {ruleset.version}, {len(ruleset.rules)} rules, "
                   f"block lists {sorted(ruleset.blocklists)}")

    @fraud_app.command("simulate")
    def simulate_cmd(out: Path = typer.Option(..., help="output Parquet file"),
                     customers: int = 5_000, terminals: int = 10_000, days: int = 183,
                     seed: int = 0) -> None:
        """Write the handbook simulator's transactions to Parquet."""
        from creditpay.risk.fraud.handbook_sim import HandbookSimConfig, simulate

        data = simulate(HandbookSimConfig(n_customers=customers, n_terminals=terminals,
                                          n_days=days, seed=seed))
        data.transactions.write_parquet(out)
        typer.echo(f"{data.transactions.height:,} transactions -> {out}")

    @bench_app.command("fraud")
    def bench_fraud(customers: int = typer.Option(100_000, help="customers in the state"),
                    terminals: int = 20_000, warm_days: int = 3,
                    events: int = typer.Option(20_000, help="payments screened and timed"),
                    metrics: bool = typer.Option(True, help="run the handbook protocol too"),
                    folds: int = typer.Option(4, help="handbook protocol folds"),
                    store: str = typer.Option("sqlite", help="where the state rows live: "
                                              "sqlite (a scratch file) or postgresql (a "
                                              "server of its own)"),
                    as_json: bool = typer.Option(False, "--json", help="print JSON only")) -> None:
        """Screening latency p50/p99 (state rows in the database) against a bare one-row
        model predict, screenings/s on one core, state bytes per customer."""
        if store not in ("sqlite", "postgresql"):
            raise typer.BadParameter("must be sqlite or postgresql", param_hint="--store")
        from creditpay.benchmarks.fraud import run_fraud_benchmark

        progress = None if as_json else (lambda msg: typer.echo(f"... {msg}", err=True))
        result = run_fraud_benchmark(customers=customers, terminals=terminals,
                                     warm_days=warm_days, measure_events=events,
                                     with_metrics=metrics, metrics_folds=folds,
                                     store=store, progress=progress)
        _print_json(result)

    @bench_app.command("fraud-journal")
    def bench_fraud_journal(screenings: int = typer.Option(2_000, help="payments timed"),
                            customers: int = 2_000,
                            db: str | None = typer.Option(None, "--db", help="database URL "
                                                          "(default: a scratch SQLite file)"),
                            durability: str = typer.Option(
                                "full", help="SQLite: full (sync each commit) or normal"),
                            as_json: bool = typer.Option(False, "--json",
                                                         help="print JSON only")) -> None:
        """Added cost of storing each screening and folding it on commit (p50/p99 us)."""
        from creditpay.benchmarks.fraud_journal import run_fraud_journal_benchmark

        progress = None if as_json else (lambda msg: typer.echo(f"... {msg}", err=True))
        _print_json(run_fraud_journal_benchmark(screenings=screenings, customers=customers,
                                                database_url=db, durability=durability,
                                                progress=progress))

    @bench_app.command("fraud-handbook")
    def bench_fraud_handbook(folds: int = 4, seed: int = 0,
                             validation: bool = typer.Option(
                                 False, help="the validation estimate (model selection)"),
                             models: int | None = typer.Option(
                                 None, help="seed-averaged boosters (default: the chosen "
                                 "handbook setting)"),
                             early_stopping_days: int | None = typer.Option(
                                 None, help="training days held out for early stopping "
                                 "(0 = off; default: the chosen handbook setting)"),
                             rounds: int | None = typer.Option(
                                 None, help="boosting rounds (the cap with early stopping)"),
                             as_json: bool = typer.Option(False, "--json",
                                                          help="print JSON only")) -> None:
        """Handbook protocol: AUC ROC, AP, CP@100 vs the published baselines."""
        from creditpay.benchmarks.fraud import run_handbook_benchmark
        from creditpay.risk.fraud.evaluation import (
            HANDBOOK_EARLY_STOPPING_DAYS,
            HANDBOOK_N_MODELS,
            HANDBOOK_NUM_BOOST_ROUND,
        )

        result = run_handbook_benchmark(
            n_folds=folds, seed=seed, validation=validation,
            n_models=HANDBOOK_N_MODELS if models is None else models,
            early_stopping_days=(HANDBOOK_EARLY_STOPPING_DAYS if early_stopping_days is None
                                 else early_stopping_days),
            num_boost_round=HANDBOOK_NUM_BOOST_ROUND if rounds is None else rounds)
        if as_json:
            _print_json(result)
            return
        typer.echo(f"{'model':<22}{'AUC ROC':>9}{'AP':>8}{'CP@100':>8}")
        for name, row in {"creditpay_lightgbm": result["mean"],
                          **result["published_baselines"]}.items():
            typer.echo(f"{name:<22}{row['auc_roc']:>9.3f}{row['average_precision']:>8.3f}"
                       f"{row['card_precision_at_100']:>8.3f}")
