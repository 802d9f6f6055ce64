"""bench checkout's 1-vs-2-workers summary: the ratio and the ceilings the machine's cores
put on it, from the runs' CPU per checkout (the figures themselves come from real runs:
``creditpay bench checkout --json --stores postgresql``, bench/RESULTS.md)."""

from __future__ import annotations

import os

import pytest

from creditpay.benchmarks.checkout import _workers_summary


def _run(workers: int, per_s: float, server_ms: float, total_ms: float) -> dict:
    return {"workers": workers, "checkouts_per_s": per_s,
            "cpu_ms_per_checkout": {"server": server_ms, "total": total_ms}}


def test_ceilings_are_one_gil_per_worker_and_the_cores_shared_by_every_process():
    cores = os.cpu_count() or 1
    summary = _workers_summary({1: _run(1, 10.0, 40.0, 60.0), 2: _run(2, 14.0, 40.0, 60.0)})
    one, two = summary["1"], summary["2"]
    assert one["ceiling_checkouts_per_s"] == pytest.approx(min(1000 / 40, cores * 1000 / 60),
                                                           abs=0.05)
    assert two["ceiling_checkouts_per_s"] == pytest.approx(min(2000 / 40, cores * 1000 / 60),
                                                           abs=0.05)
    assert summary["ratio_2_vs_1"] == 1.4
    assert summary["ratio_ceiling_2_vs_1"] == pytest.approx(
        two["ceiling_checkouts_per_s"] / one["ceiling_checkouts_per_s"], abs=0.001)
    assert one["requests_per_s"] == 40.0 and one["throughput_per_s"] == 10.0
    assert one["share_of_ceiling"] == pytest.approx(10.0 / one["ceiling_checkouts_per_s"],
                                                    abs=0.001)


def test_without_cpu_figures_no_ceiling_is_made_up():
    summary = _workers_summary({1: {"workers": 1, "checkouts_per_s": 5.0},
                                2: {"workers": 2, "checkouts_per_s": 0.0}})
    assert summary["1"]["ceiling_checkouts_per_s"] is None
    assert summary["ratio_ceiling_2_vs_1"] is None and summary["ratio_2_vs_1"] == 0.0
