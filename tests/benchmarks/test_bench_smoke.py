"""The benchmarks still run and print their contract (no timing is asserted here)."""

import json

from typer.testing import CliRunner

from creditpay.cli import app


def test_bench_ledger_prints_one_json_object_per_store():
    result = CliRunner().invoke(app, ["bench", "ledger", "--json", "--stores", "sqlite",
                                      "--single", "20", "--batches", "2"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["store"] == "sqlite"
    for part, keys in (("single", ("transfers_per_s", "raw_commits_per_s", "ratio")),
                       ("batched", ("transfers_per_s", "raw_inserts_per_s", "ratio",
                                    "raw_same_shape_inserts_per_s"))):
        for key in keys:
            assert figures[part][key] > 0
