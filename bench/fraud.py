"""Fraud screening benchmark: ``python bench/fraud.py [--customers N] [--json]``.

Thin wrapper over ``creditpay bench fraud`` (see creditpay.benchmarks.fraud)."""

from __future__ import annotations

import sys

from creditpay.cli import app

if __name__ == "__main__":
    app(["bench", "fraud", *sys.argv[1:]])
