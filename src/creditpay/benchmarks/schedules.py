"""Benchmark: equal-installment schedules per second, vectorised vs a numpy-financial loop.

The figure is schedules built per second by
:func:`creditpay.credit.schedule_vectorised.vectorised_schedules` (random principals,
rates and terms of 3-24 months, in chunks so memory stays bounded). The reference,
measured in the same run on the same machine, is the obvious alternative: a Python loop
calling ``numpy_financial.pmt/ipmt/ppmt`` per loan over a sample, extrapolated to
schedules per second. ``ratio = ours / reference``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = ["run_benchmark", "random_loans"]

CHUNK_LOANS = 100_000  # 100k loans x 24 periods x 5 int64 arrays ~ 100 MB peak


def random_loans(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principals 100.00-200,000.00 (minor units), annual rates 0-36 % in 0.01 % steps
    (as millionths), terms 3-24 months."""
    rng = np.random.default_rng(seed)
    principal_minor = rng.integers(10_000, 20_000_001, size=count, dtype=np.int64)
    annual_rate_micro = rng.integers(0, 3_601, size=count, dtype=np.int64) * 100
    periods = rng.integers(3, 25, size=count, dtype=np.int64)
    return principal_minor, annual_rate_micro, periods


def _reference_loop(principal_minor: np.ndarray, annual_rate_micro: np.ndarray,
                    periods: np.ndarray) -> float:
    import numpy_financial as npf

    started = time.perf_counter()
    checksum = 0.0
    # numpy-financial evaluates both branches of its rate == 0 test; silence the 0/0 warning.
    quiet = np.errstate(divide="ignore", invalid="ignore")
    quiet.__enter__()
    for principal, rate_micro, n in zip(principal_minor.tolist(), annual_rate_micro.tolist(),
                                        periods.tolist(), strict=True):
        rate = rate_micro / 1e6 / 12
        per = np.arange(1, n + 1)
        payment = npf.pmt(rate, n, -principal)
        interest = npf.ipmt(rate, per, n, -principal)
        principal_parts = npf.ppmt(rate, per, n, -principal)
        checksum += float(payment) + float(interest.sum()) + float(principal_parts.sum())
    elapsed = time.perf_counter() - started
    quiet.__exit__(None, None, None)
    assert checksum > 0
    return elapsed


def run_benchmark(count: int = 1_000_000, reference_sample: int = 20_000, seed: int = 20240101,
                  progress: bool = False) -> dict[str, Any]:
    """Run both measurements and return the JSON-ready result."""
    from creditpay.credit.schedule_vectorised import vectorised_schedules

    principal_minor, annual_rate_micro, periods = random_loans(count, seed)
    chunks = range(0, count, CHUNK_LOANS)
    fallbacks = 0
    installments = 0

    def build(start: int) -> None:
        nonlocal fallbacks, installments
        stop = min(start + CHUNK_LOANS, count)
        result = vectorised_schedules(principal_minor[start:stop], annual_rate_micro[start:stop],
                                      periods[start:stop])
        fallbacks += result.exact_fallbacks
        installments += int(periods[start:stop].sum())
        # Touch the output so the work cannot be skipped, and check the core invariant.
        assert int(result.principal_minor.sum()) == int(principal_minor[start:stop].sum())

    started = time.perf_counter()
    if progress:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("vectorised schedules", total=count)
            for start in chunks:
                build(start)
                bar.update(task, advance=min(CHUNK_LOANS, count - start))
    else:
        for start in chunks:
            build(start)
    seconds = time.perf_counter() - started

    sample = min(reference_sample, count)
    reference_seconds = _reference_loop(principal_minor[:sample], annual_rate_micro[:sample],
                                        periods[:sample])
    ours_per_s = count / seconds
    reference_per_s = sample / reference_seconds
    return {
        "schedules": count,
        "installments": installments,
        "seconds": round(seconds, 4),
        "schedules_per_s": round(ours_per_s, 1),
        "exact_fallbacks": fallbacks,
        "reference": {
            "name": "numpy_financial_loop",
            "sample": sample,
            "seconds": round(reference_seconds, 4),
            "schedules_per_s": round(reference_per_s, 1),
        },
        "ratio": round(ours_per_s / reference_per_s, 2),
    }
