from creditpay.benchmarks.schedules import run_benchmark  # noqa: I001
import json
print(json.dumps(run_benchmark()))
