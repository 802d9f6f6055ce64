"""Scoring speed bench; same as ``creditpay bench scoring --json``.

Usage: .venv/bin/python bench/scoring.py [--rows 1000000] [--features 40] [--seed 7]
"""

from __future__ import annotations

import argparse
import json

from creditpay.benchmarks.scoring import run_scoring_bench

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()
    print(json.dumps(run_scoring_bench(arguments.rows, arguments.features, arguments.seed,
                                       test_rows=max(arguments.rows // 5, 10_000)), indent=1))
