"""Benchmark of real-time fraud screening (``creditpay bench fraud``).

Steps, all in one process on one core:

1. Model: the handbook protocol run (metrics, fold-0 model) or, without metrics, a model
   trained on the fold-0 training window of the default handbook simulation.
2. State: a simulation with ``customers`` customers is replayed through the streaming
   features' entity rows for ``warm_days`` days (payments and delayed fraud labels), in
   memory, and the rows are written to the database (``store``: a scratch SQLite file, or
   PostgreSQL on a server of its own) where the gateway keeps them.
3. Steady state: the next day's payments are screened one by one, each in its own
   transaction as checkout does (the entity rows read, locked on PostgreSQL, features +
   rules + model + decision, the rows written back), each timed with ``perf_counter_ns``
   up to the commit (the commit is timed apart); the same payments are also screened on
   the rows in memory (the pure work without the database).
4. References measured in the same run: one-row ``lightgbm.Booster.predict`` (the library's
   own single-row path, the "bare model predict"), the compiled numpy forest alone, and
   for the non-approved screenings the served reasons (path attribution) against
   LightGBM's TreeSHAP (cost, and how often both name the same leading feature).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from creditpay.clock import SimulatedClock
from creditpay.db.engine import make_engine
from creditpay.db.schema import migrate
from creditpay.db.uow import UnitOfWork
from creditpay.risk.fraud import state_store
from creditpay.risk.fraud.entity_state import MemoryEntityStore
from creditpay.risk.fraud.evaluation import (
    HANDBOOK_EARLY_STOPPING_DAYS,
    HANDBOOK_LGBM_PARAMS,
    HANDBOOK_N_MODELS,
    HANDBOOK_NUM_BOOST_ROUND,
    ProtocolConfig,
    evaluate_handbook,
    handbook_events,
    handbook_feature_config,
    validation_protocol,
)
from creditpay.risk.fraud.features import (
    FraudLabel,
    PaymentEvent,
    compute_features_offline,
    iter_stream,
)
from creditpay.risk.fraud.handbook_sim import HandbookSimConfig, simulate
from creditpay.risk.fraud.model import FraudModel, train_model
from creditpay.risk.fraud.rules import RuleSet
from creditpay.risk.fraud.screening import Screener

__all__ = ["run_fraud_benchmark", "run_handbook_benchmark", "BENCH_RULES"]

LATENCY_MS_P99_TARGET = 2.0
SCREENINGS_PER_S_TARGET = 5_000

# A realistic small rule set so the rules engine is part of the measured path.
BENCH_RULES: dict[str, Any] = {
    "version": "bench-rules-1",
    "blocklists": {"device": ["blocked-device-1"], "card": ["blocked-card-1"],
                   "merchant": ["blocked-merchant-1"]},
    "rules": [
        {"name": "big_on_new_device", "action": "challenge",
         "when": {"all": [{"field": "amount_minor", "op": ">", "value": 500_000},
                          {"field": "new_device", "op": "==", "value": True}]}},
        {"name": "card_testing", "action": "decline",
         "when": {"field": "card_count_1m", "op": ">=", "value": 5}},
        {"name": "impossible_travel", "action": "review",
         "when": {"field": "impossible_travel", "op": "==", "value": True}},
        {"name": "hot_terminal", "action": "review",
         "when": {"all": [{"field": "terminal_risk_lag_7d", "op": ">", "value": 0.5},
                          {"field": "terminal_tx_count_lag_7d", "op": ">=", "value": 20}]}},
    ],
}


def _machine_load() -> dict[str, Any]:
    """Load of the (shared) machine: 1-minute load average and, on Linux, the share of the
    last 60 s in which some task waited for a CPU (``/proc/pressure/cpu``, percent)."""
    load: dict[str, Any] = {"loadavg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg")
                            else None, "cpu_pressure_some_avg60_pct": None}
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as f:
            first = f.readline().split()
        load["cpu_pressure_some_avg60_pct"] = float(first[2].split("=", 1)[1])
    except (OSError, IndexError, ValueError):
        pass
    return load


@contextlib.contextmanager
def _database(store: str) -> Iterator[str]:
    """A scratch database for the state rows: a SQLite file, or a PostgreSQL server of its
    own (started as ``creditpay bench checkout`` does)."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory(prefix="creditpay-bench-fraud-") as folder:
            yield f"sqlite:///{Path(folder) / 'fraud.db'}"
        return
    if store != "postgresql":
        raise ValueError("store must be sqlite or postgresql")
    from creditpay.devtools.pgserver import running_postgres

    with running_postgres(fsync=True) as server:
        yield server.create_database("fraud")


def _percentiles_ms(latencies_ns: np.ndarray) -> dict[str, float]:
    ms = latencies_ns / 1e6
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "mean": float(ms.mean()), "max": float(ms.max())}


def _handbook_model(protocol: ProtocolConfig) -> FraudModel:
    sim_cfg = HandbookSimConfig()
    feat_cfg = handbook_feature_config(protocol)
    events = handbook_events(simulate(sim_cfg), label_delay_days=protocol.delta_delay)
    features = compute_features_offline(events, feat_cfg)
    start_day = (protocol.first_train_start - sim_cfg.start_date).days
    day = events["day"].to_numpy()
    train = (day >= start_day) & (day < start_day + protocol.delta_train)
    holdout = None
    if HANDBOOK_EARLY_STOPPING_DAYS:
        holdout = day[train] >= start_day + protocol.delta_train - HANDBOOK_EARLY_STOPPING_DAYS
    return train_model(features[train], events["is_fraud"].to_numpy()[train], feat_cfg,
                       params=HANDBOOK_LGBM_PARAMS, num_boost_round=HANDBOOK_NUM_BOOST_ROUND,
                       training_info={"start_day": start_day}, n_models=HANDBOOK_N_MODELS,
                       holdout=holdout)


def run_handbook_benchmark(n_folds: int = 4, seed: int = 0,
                           validation: bool = False, n_models: int = HANDBOOK_N_MODELS,
                           early_stopping_days: int = HANDBOOK_EARLY_STOPPING_DAYS,
                           num_boost_round: int = HANDBOOK_NUM_BOOST_ROUND) -> dict[str, Any]:
    """Handbook protocol metrics (``creditpay bench fraud-handbook``); ``validation`` runs
    the validation estimate that model selection used instead of the test estimate.
    ``n_models`` / ``early_stopping_days`` / ``num_boost_round`` (the cap with early
    stopping) override the chosen handbook settings, to reproduce the other candidates."""
    started = time.perf_counter()
    protocol = validation_protocol(n_folds) if validation else ProtocolConfig(n_folds=n_folds)
    result = evaluate_handbook(HandbookSimConfig(seed=seed), protocol,
                               num_boost_round=num_boost_round, n_models=n_models,
                               early_stopping_days=early_stopping_days)
    result["estimate"] = "validation" if validation else "test"
    result["elapsed_s"] = time.perf_counter() - started
    return result


def run_fraud_benchmark(customers: int = 100_000, terminals: int = 20_000,
                        warm_days: int = 3, measure_events: int = 20_000, seed: int = 1,
                        with_metrics: bool = True, metrics_folds: int = 4,
                        store: str = "sqlite",
                        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Steady-state screening latency and throughput; JSON-ready result."""
    say = progress or (lambda _msg: None)
    protocol = ProtocolConfig(n_folds=metrics_folds)
    started = time.perf_counter()
    metrics: dict[str, Any] | None = None
    if with_metrics:
        say(f"handbook protocol ({metrics_folds} folds, 5,000 customers)")
        models: list[FraudModel] = []
        metrics = evaluate_handbook(HandbookSimConfig(), protocol, models=models)
        model = models[0]
    else:
        say("training the fold-0 handbook model")
        model = _handbook_model(protocol)
    feat_cfg = model.feature_config
    rules = RuleSet.from_dict(BENCH_RULES, model.feature_names)

    say(f"simulating {customers:,} customers for {warm_days + 1} days")
    sim_cfg = HandbookSimConfig(n_customers=customers, n_terminals=terminals,
                                n_days=warm_days + 1, seed=seed)
    events = handbook_events(simulate(sim_cfg), label_delay_days=feat_cfg.label_delay_days)
    day = events["day"].to_numpy()
    warm = events.filter(day < warm_days)
    measure = events.filter(day == warm_days).head(measure_events)

    say(f"warming the state rows with {warm.height:,} payments")
    screener = Screener(model, rules)
    warm_started = time.perf_counter()
    memory = MemoryEntityStore(feat_cfg)
    for item in iter_stream(warm, feat_cfg):
        if isinstance(item, PaymentEvent):
            memory.update(item)
        else:
            memory.record_label(item)
    warm_s = time.perf_counter() - warm_started
    state = memory.engine
    version = feat_cfg.version
    items = [item for item in iter_stream(measure, feat_cfg)
             if isinstance(item, PaymentEvent | FraudLabel)]

    say("screening the same payments on rows in memory (no database)")
    pure_memory = MemoryEntityStore(feat_cfg)
    pure_memory.rows = dict(memory.rows)
    pure_ns = []
    for item in items:
        if isinstance(item, FraudLabel):
            pure_memory.record_label(item)
            continue
        t0 = time.perf_counter_ns()
        screener.decide(item, pure_memory.update(item))
        pure_ns.append(time.perf_counter_ns() - t0)
    del pure_memory

    latencies, commit_ns = [], []
    rows = []
    flagged = []  # feature rows of the non-approved screenings (they carry reasons)
    decisions: dict[str, int] = {}
    with _database(store) as url:
        engine = make_engine(url)
        try:
            migrate(engine)
            uow = UnitOfWork(engine, SimulatedClock(dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)))
            say(f"writing {len(memory.rows):,} state rows to {store}")
            with uow.begin() as tx:
                state_store.insert_rows(tx, version, memory.rows)
            n_state_rows = len(memory.rows)
            del memory
            say(f"screening {len(items):,} payments one by one, one transaction each")
            for item in items:
                if isinstance(item, FraudLabel):
                    with uow.begin() as tx:
                        state_store.fold_label(tx, state, item)
                    continue
                with uow.begin() as tx:
                    t0 = time.perf_counter_ns()
                    screened = screener.decide(item, state_store.fold_event(tx, state, item))
                    t1 = time.perf_counter_ns()
                commit_ns.append(time.perf_counter_ns() - t1)
                latencies.append(t1 - t0)
                rows.append(screened.feature_vector)
                if screened.decision != "approve":
                    flagged.append(screened.feature_vector)
                decisions[screened.decision] = decisions.get(screened.decision, 0) + 1
            with uow.connect() as conn:
                sizes = state_store.state_sizes(conn, version)
        finally:
            engine.dispose()
    load_after_screening = _machine_load()
    latency_ns = np.array(latencies, dtype=np.float64)
    screen_ms = _percentiles_ms(latency_ns)
    pure_ms = _percentiles_ms(np.array(pure_ns, dtype=np.float64))
    commit_ms = _percentiles_ms(np.array(commit_ns, dtype=np.float64))

    say("references: LightGBM one-row predict, compiled forest")
    booster = model.booster()
    sample = rows[:: max(1, len(rows) // 2_000)]
    lgbm_ns, forest_ns, max_abs_diff = [], [], 0.0
    for x in sample:
        t0 = time.perf_counter_ns()
        p_lgbm = float(booster.predict(x[None, :], num_threads=1)[0])
        t1 = time.perf_counter_ns()
        p_forest = model.probability(x)
        t2 = time.perf_counter_ns()
        lgbm_ns.append(t1 - t0)
        forest_ns.append(t2 - t1)
        max_abs_diff = max(max_abs_diff, abs(p_lgbm - p_forest))
    lgbm_ms = _percentiles_ms(np.array(lgbm_ns, dtype=np.float64))
    forest_ms = _percentiles_ms(np.array(forest_ns, dtype=np.float64))

    say("references: reasons by path attribution (served) and by TreeSHAP")
    path_ns, shap_ns, same_top1, in_shap_top3 = [], [], 0, 0
    for x in flagged[:300]:
        t0 = time.perf_counter_ns()
        path = model.contributions(x, "path")[:-1]
        t1 = time.perf_counter_ns()
        shap = model.contributions(x, "shap")[:-1]
        t2 = time.perf_counter_ns()
        path_ns.append(t1 - t0)
        shap_ns.append(t2 - t1)
        top_path = int(np.argmax(path))
        same_top1 += top_path == int(np.argmax(shap))
        in_shap_top3 += top_path in np.argsort(-shap, kind="stable")[:3].tolist()
    reasons_ref: dict[str, Any] = {"rows": len(path_ns)}
    if path_ns:
        reasons_ref.update({
            "path_attribution_ms": _percentiles_ms(np.array(path_ns, dtype=np.float64)),
            "treeshap_ms": _percentiles_ms(np.array(shap_ns, dtype=np.float64)),
            "top1_same_as_treeshap": same_top1 / len(path_ns),
            "top1_in_treeshap_top3": in_shap_top3 / len(path_ns)})

    customers_in_state = sizes.get("customer", {}).get("rows", 0)
    total_bytes = sum(v["state_bytes"] for v in sizes.values())
    layout = state.layout
    screenings_per_s = 1e3 / screen_ms["mean"]
    result: dict[str, Any] = {
        "benchmark": "fraud-screening",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "threads": 1, "load_after_screening": load_after_screening},
        "setup": {"customers": customers, "terminals": terminals, "warm_days": warm_days,
                  "warm_payments": warm.height, "warm_s": warm_s,
                  "warm_payments_per_s": warm.height / warm_s if warm_s else None,
                  "customers_in_state": customers_in_state, "state_rows": n_state_rows,
                  "store": store,
                  "model_trees": int(len(model.forest.roots)),
                  "model_num_boost_round": model.manifest["num_boost_round"],
                  "model_n_models": model.manifest["ensemble"]["n_models"],
                  "model_params": {k: model.manifest["lightgbm_params"][k] for k in (
                      "learning_rate", "num_leaves", "max_depth", "min_data_in_leaf")},
                  "risk_lag_days": feat_cfg.risk_lag_days,
                  "model_nodes": model.forest.n_nodes, "model_depth": model.forest.depth,
                  "features": len(model.feature_names), "rules": len(rules.rules)},
        "screening_p50_ms": screen_ms["p50"],
        "bare_predict_p50_ms": lgbm_ms["p50"],
        "screening_p50_over_bare_predict_p50": screen_ms["p50"] / lgbm_ms["p50"],
        "state_bytes_per_customer": layout.nbytes("customer"),
        "screening": {"events": len(latencies), "latency_ms": screen_ms,
                      "what": "one payment in its own transaction: the entity rows read "
                              "(locked on PostgreSQL), features, rules, model, decision, "
                              "rows written back; the commit is timed apart",
                      "commit_ms": commit_ms,
                      "on_rows_in_memory_ms": pure_ms,
                      "on_rows_in_memory_p50_over_bare_predict_p50":
                          pure_ms["p50"] / lgbm_ms["p50"],
                      "latency_ms_p50": screen_ms["p50"], "latency_ms_p99": screen_ms["p99"],
                      "screenings_per_s_one_core": screenings_per_s,
                      "decisions": decisions},
        "state": {"store": store, "by_kind": sizes,
                  "row_bytes": {kind: layout.nbytes(kind) for kind in layout.dtypes},
                  "bytes_total": total_bytes,
                  "bytes_per_customer_all_entities": total_bytes / max(customers_in_state, 1),
                  "how_counted": "bytes of the state column of fraud_entity_state (the "
                                 "row's fixed layout); keys, version and the database's "
                                 "own overhead excluded"},
        "reference": {
            "lightgbm_predict_one_row_ms": lgbm_ms,
            "compiled_forest_one_row_ms": forest_ms,
            "compiled_vs_lightgbm_max_abs_probability_diff": max_abs_diff,
            "screening_p50_over_lightgbm_predict_p50": screen_ms["p50"] / lgbm_ms["p50"],
            "screening_p99_over_lightgbm_predict_p99": screen_ms["p99"] / lgbm_ms["p99"],
            "reasons": reasons_ref,
        },
        "targets": {"latency_ms_p99_max": LATENCY_MS_P99_TARGET,
                    "screenings_per_s_min": SCREENINGS_PER_S_TARGET,
                    "latency_met": screen_ms["p99"] <= LATENCY_MS_P99_TARGET,
                    "throughput_met": screenings_per_s >= SCREENINGS_PER_S_TARGET},
        "elapsed_s": time.perf_counter() - started,
    }
    if metrics is not None:
        result["handbook_protocol"] = {k: metrics[k] for k in (
            "mean", "std", "beats_best_baseline", "published_baselines", "simulation",
            "protocol", "model")}
        result["handbook_protocol"]["folds"] = [
            {k: fold[k] for k in ("train_start", "test_start", "test_end", "auc_roc",
                                  "average_precision", "card_precision_at_100",
                                  "test_rows", "test_frauds", "num_boost_round",
                                  "model_nodes")} for fold in metrics["folds"]]
    return result
