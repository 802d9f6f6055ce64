"""The demo's weekly fraud-model retraining on one LightGBM thread against two (issue #14).

Usage: PYTHONPATH=src .venv/bin/python bench/demo_lgbm_threads.py [ROWS] [ROUNDS] [REPEATS]

Trains the fraud model's LightGBM parameters (creditpay.risk.fraud.model.DEFAULT_LGBM_PARAMS)
on ROWS synthetic screenings (default 9,000, about six weeks of the 1,000-customer demo) of
the feature width the screener uses, ROUNDS boosting rounds (default 100, as the simulator),
alternating 2 and 1 threads REPEATS times, and prints one JSON line: wall and CPU seconds of
each run, the load average, and whether both thread counts grew the same trees (their model
texts equal once the parameter section, which names the thread count, is cut off).
"""

from __future__ import annotations

import json
import os
import sys
import time

import lightgbm as lgb
import numpy as np

from creditpay.risk.fraud.features import FeatureConfig, feature_names
from creditpay.risk.fraud.model import DEFAULT_LGBM_PARAMS


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 9_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, len(feature_names(FeatureConfig()))))
    x[rng.random(x.shape) < 0.2] = np.nan
    y = (np.nan_to_num(x[:, 0]) + rng.normal(size=rows) > 2.5).astype(np.int64)
    runs: list[dict[str, float | int]] = []
    trees: dict[int, str] = {}
    load_start = os.getloadavg()[0]
    for _ in range(repeats):
        for threads in (2, 1):
            wall, cpu = time.perf_counter(), time.process_time()
            booster = lgb.train(dict(DEFAULT_LGBM_PARAMS, num_threads=threads),
                                lgb.Dataset(x, label=y), num_boost_round=rounds)
            runs.append({"threads": threads, "wall_s": round(time.perf_counter() - wall, 3),
                         "cpu_s": round(time.process_time() - cpu, 3)})
            trees.setdefault(threads, booster.model_to_string().split("parameters:")[0])
    print(json.dumps({"rows": rows, "rounds": rounds, "runs": runs,
                      "load_average_start": load_start,
                      "load_average_end": os.getloadavg()[0],
                      "same_trees": trees[1] == trees[2]}))


if __name__ == "__main__":
    main()
