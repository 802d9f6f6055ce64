"""The decision bench runs end to end and reports its figures (no timing is asserted)."""

from __future__ import annotations

from creditpay.benchmarks.decision import run_decision_bench


def test_decision_bench_reports_and_reads_once_per_decision():
    result = run_decision_bench(n_applications=20, warmup=2)
    for name in ("decision", "core_no_database", "reference_commit"):
        assert result[name]["calls"] > 0 and result[name]["latency_ms_p99"] > 0
    # One header read, the simulated bureau's read of the tradelines the platform reported
    # to it (its store is in this database: docs/bureau-reporting.md), the bureau pull, the
    # platform history (stored unless that content is stored already), the decision row,
    # then at commit the audit record and the outbox event (each one executemany, counted at
    # the driver): a statement more per decision is a regression of the decision path,
    # whatever the machine.
    assert result["statements_per_decision"] == 7
    assert set(result["load_average_1m"]) == {"start", "end"}
    assert result["events_per_application_mean"] > 50
