"""``creditpay`` commands of the fraud domain: benchmarks and rule validation."""

from __future__ import annotations

import json
from pathlib import Path

import typer

__all__ = ["register"]


def _print_json(data: dict) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    fraud_app = typer.Typer(help="Real-time fraud screening: rules, models, simulator.",
                            no_args_is_help=True)
    app.add_typer(fraud_app, name="fraud")

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
                    as_json: bool = typer.Option(False, "--json", help="print JSON only")) -> None:
        """Screening latency p50/p99, screenings/s on one core, state bytes per customer."""
        from creditpay.benchmarks.fraud import run_fraud_benchmark

        progress = None if as_json else (lambda msg: typer.echo(f"... {msg}", err=True))
        result = run_fraud_benchmark(customers=customers, terminals=terminals,
                                     warm_days=warm_days, measure_events=events,
                                     with_metrics=metrics, metrics_folds=folds,
                                     progress=progress)
        _print_json(result)

    @bench_app.command("fraud-handbook")
    def bench_fraud_handbook(folds: int = 4, seed: int = 0,
                             as_json: bool = typer.Option(False, "--json",
                                                          help="print JSON only")) -> None:
        """Handbook protocol: AUC ROC, AP, CP@100 vs the published baselines."""
        from creditpay.benchmarks.fraud import run_handbook_benchmark

        result = run_handbook_benchmark(n_folds=folds, seed=seed)
        if as_json:
            _print_json(result)
            return
        typer.echo(f"{'model':<22}{'AUC ROC':>9}{'AP':>8}{'CP@100':>8}")
        for name, row in {"creditpay_lightgbm": result["mean"],
                          **result["published_baselines"]}.items():
            typer.echo(f"{name:<22}{row['auc_roc']:>9.3f}{row['average_precision']:>8.3f}"
                       f"{row['card_precision_at_100']:>8.3f}")
