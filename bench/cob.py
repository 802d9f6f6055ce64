"""Close-of-business benchmark: `python bench/cob.py` == `creditpay bench cob --json`."""
import sys

from creditpay.benchmarks.cob import run_benchmark

if __name__ == "__main__":
    import json

    accounts = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(json.dumps(run_benchmark(accounts=accounts)))
