"""Ledger throughput benchmark: `python bench/ledger.py` == `creditpay bench ledger --json`."""
from creditpay.benchmarks.ledger import run

if __name__ == "__main__":
    run(stores=["sqlite", "postgresql"], single=2000, batches=30, json_output=True)
