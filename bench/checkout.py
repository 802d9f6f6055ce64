"""Checkout benchmark: `python bench/checkout.py` == `creditpay bench checkout --json`."""
import json

from creditpay.benchmarks.checkout import run

if __name__ == "__main__":
    print(json.dumps(run(stores=["sqlite", "postgresql"], payments=200, http_payments=200,
                         concurrency=8)))
