"""Credit decision latency bench; same as ``creditpay bench decision --json``.

Usage: .venv/bin/python bench/decision.py [--applications 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json

from creditpay.benchmarks.decision import run_decision_bench

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    print(json.dumps(run_decision_bench(arguments.applications, arguments.seed), indent=1))
