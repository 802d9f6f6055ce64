"""CPU cost of a checkout's quote, per call (issue #14, branch h14-quote).

`PYTHONPATH=src .venv/bin/python bench/quote_micro.py [--calls N] [--profile FILE]`

Seeds a throwaway SQLite database with the checkout bench's merchant and customers (one
pay-later line each), then for each call creates a payment intent (not timed) and times
the consumer's quote of it (``payments.quote_offers`` in its own transaction: reads,
pricing the line and every plan, exact rates, one key-facts document per offer, storing
the quote): this thread's CPU time. Also times the quote's pure work alone (no storage:
pricing, rates and the documents for the 9 offers). Prints medians as JSON.

Run it with main's sources (``git archive main src | tar -x -C /tmp/quote-before``,
``PYTHONPATH=/tmp/quote-before/src``) and with the branch's to compare; ``--profile``
writes a cProfile of the timed quotes.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _pure_quote_ms(catalogue: Any, repeats: int) -> float:
    """CPU ms of the 9 offers' pure work as the quote does it (pricing, exact rates, one
    document each in zh-CN), no storage."""
    from creditpay.benchmarks.checkout import AMOUNT_MINOR, LIMIT_MINOR
    from creditpay.credit import products as P
    from creditpay.credit.offers import exact_rates, price_products
    from creditpay.payments.credit_port import _key_facts_of, _shown
    from creditpay.protection.disclosure import render_document

    as_of = dt.date(2025, 3, 2)
    products = [catalogue.get("huabei")] + [
        p for p in catalogue.active(P.ProductKind.INSTALLMENT_PLAN) if p.currency == "CNY"]
    samples = []
    for i in range(repeats):
        start = time.thread_time()
        priced = price_products(products, customer_id="bench", amount_minor=AMOUNT_MINOR + i,
                                currency="CNY", as_of=as_of, available_minor=LIMIT_MINOR)
        for offer, costs in priced:
            figures = dict(offer.figures(), currency="CNY")
            rates = exact_rates(costs) if costs is not None else None
            render_document(_key_facts_of(_shown(figures), offer.offer_id, "creditpay",
                                          catalogue, costs, rates), "zh-CN")
        samples.append((time.thread_time() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()

    from creditpay.benchmarks.checkout import AMOUNT_MINOR, _world
    from creditpay.platform.keys import LocalMasterKey

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'quote.db'}"
        app, world = _world(url, LocalMasterKey(b"q" * 32), 3)
        rt = app.state.runtime
        service = rt.payments
        merchant = world["merchant_principal"]
        customer = world["people"][0]["principal"]
        profiler = cProfile.Profile() if args.profile else None
        samples = []
        for i in range(args.calls + 5):
            # Each amount differs a little, so no two quotes have the same figures.
            intent_id = rt.uow.run(lambda tx, i=i: service.create_intent(
                tx, merchant, amount_minor=AMOUNT_MINOR + i, currency="CNY",
                order_id=f"q-{i}"))["id"]
            if profiler is not None and i >= 5:
                profiler.enable()
            start = time.thread_time()
            quote = rt.uow.run(lambda tx, n=intent_id: service.quote_offers(tx, customer, n))
            elapsed = (time.thread_time() - start) * 1000
            if profiler is not None and i >= 5:
                profiler.disable()
            assert len(quote["offers"]) == 9, len(quote["offers"])
            if i >= 5:  # the first calls warm the caches of compiled statements
                samples.append(elapsed)
        if profiler is not None:
            profiler.dump_stats(args.profile)
        pure = _pure_quote_ms(rt.catalogue, args.calls)
        rt.uow.engine.dispose()
    print(json.dumps({"calls": args.calls, "quote_cpu_ms_p50": round(statistics.median(samples), 3),
                      "quote_cpu_ms_min": round(min(samples), 3),
                      "pure_quote_cpu_ms_p50": round(pure, 3)}))


if __name__ == "__main__":
    main()
