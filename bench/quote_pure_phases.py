"""CPU cost of a quote's pure work by phase (issue #14, branch h14-price).

`PYTHONPATH=src .venv/bin/python bench/quote_pure_phases.py [CALLS] [PROFILE_FILE]`

Prices the packaged pay-later line and every CNY installment plan for a purchase (a
different amount each call, so the amounts formatted are new, as in the demo), then solves
each plan's exact rates (``offers.exact_rates``) and renders each offer's key-facts document
in zh-CN as the quote does (``credit_port._key_facts_of`` and ``render_document``). Prints
the medians of this thread's CPU time per phase (pricing, exact rates, documents, all), in
ms per quote of 13 offers, after 20 warm-up calls; with PROFILE_FILE, a cProfile of the
timed calls. Run it with main's sources (``git archive main src | tar -x -C /tmp/before``,
``PYTHONPATH=/tmp/before/src``) and with the branch's to compare.
"""
from __future__ import annotations

import cProfile
import datetime as dt
import statistics
import sys
import time

from creditpay.credit import products as P
from creditpay.credit.offers import exact_rates, price_products
from creditpay.credit.products import load_catalogue
from creditpay.payments.credit_port import _key_facts_of, _shown
from creditpay.protection.disclosure import render_document

CATALOGUE = load_catalogue()
AS_OF = dt.date(2025, 3, 2)
PRODUCTS = [CATALOGUE.get("huabei")] + [
    p for p in CATALOGUE.active(P.ProductKind.INSTALLMENT_PLAN) if p.currency == "CNY"]


def one_quote(i: int) -> tuple[float, float, float, float]:
    """CPU ms of (pricing, exact rates, documents, all) of one quote."""
    t0 = time.thread_time()
    priced = price_products(PRODUCTS, customer_id="bench", amount_minor=123_456 + 7 * i,
                            currency="CNY", as_of=AS_OF, available_minor=5_000_000)
    t1 = time.thread_time()
    rates = [exact_rates(costs) if costs is not None else None for _, costs in priced]
    t2 = time.thread_time()
    for (offer, costs), rate in zip(priced, rates, strict=True):
        figures = dict(offer.figures(), currency="CNY")
        render_document(_key_facts_of(_shown(figures), offer.offer_id, "creditpay",
                                      CATALOGUE, costs, rate), "zh-CN")
    t3 = time.thread_time()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (t3 - t0) * 1e3


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    for i in range(20):
        one_quote(-1 - i)
    profiler = cProfile.Profile() if len(sys.argv) > 2 else None
    if profiler is not None:
        profiler.enable()
    samples = [one_quote(i) for i in range(calls)]
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(sys.argv[2])
    medians = [round(statistics.median(s[k] for s in samples), 3) for k in range(4)]
    print(f"pricing / exact rates / documents / all, CPU ms per quote (p50): {medians}")


if __name__ == "__main__":
    main()
