"""Quality bar on UCI German credit; same as ``creditpay bench german-credit --json``.

Usage: .venv/bin/python bench/german_credit.py [--folds 10] [--seed 42]
"""

from __future__ import annotations

import argparse
import json

from creditpay.benchmarks.german_credit import run_german_credit

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    arguments = parser.parse_args()
    print(json.dumps(run_german_credit(arguments.folds, arguments.seed), indent=1))
