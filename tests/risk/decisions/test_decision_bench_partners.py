"""The decision bench's partner routing (issue #17) runs end to end and reports its figures
next to the existing ones (no timing is asserted)."""

from __future__ import annotations

from creditpay.benchmarks.decision import run_decision_bench


def test_decision_bench_reports_partner_routing():
    result = run_decision_bench(n_applications=30, warmup=5)
    assert {"decision", "core_no_database", "reference_commit", "statements_per_decision",
            "target_p99_ms", "target_met"} <= set(result)  # the existing keys stay
    routing = result["partner_routing"]
    assert {"decision_p99_ms", "with_routing_p99_ms", "added_p99_ms", "partners",
            "target_added_p99_ms"} <= set(routing)
    assert routing["partners"] == 3 and routing["target_added_p99_ms"] == 5
    assert routing["added_p99_ms"] == round(
        routing["with_routing_p99_ms"] - routing["decision_p99_ms"], 4)
    assert 0 < routing["routed"] <= routing["applications"] == 30
    # Every routed loan was put to the partners: each answered or was skipped with a reason.
    answers = routing["partner_answers"]
    assert answers.get("approved", 0) + answers.get("declined", 0) + answers.get(
        "skipped", 0) >= routing["routed"]
