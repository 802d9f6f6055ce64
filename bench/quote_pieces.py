"""CPU ms of each piece of a quote's pure work on its 13 offers (issue #14, h15-quote).

`PYTHONPATH=<src> .venv/bin/python bench/quote_pieces.py` (mean thread CPU of 200 calls
per piece: pricing, schedules, US and EU solves, exact rates, figures, offer ids,
`_key_facts_of`, the documents; with the branch's sources also the documents' figures and
skeleton). Run it with main's sources and with the branch's to compare.
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from creditpay.credit import offers as O
from creditpay.credit import products as P
from creditpay.credit.apr import AprMethod, apr_of_schedule
from creditpay.credit.products import load_catalogue
from creditpay.payments.credit_port import _key_facts_of, _shown
from creditpay.protection import disclosure as D
from creditpay.protection.disclosure import render_document

CATALOGUE = load_catalogue()
PRODUCTS = [CATALOGUE.get("huabei")] + [
    p for p in CATALOGUE.active(P.ProductKind.INSTALLMENT_PLAN) if p.currency == "CNY"]
AS_OF = dt.date(2025, 3, 2)


def ms(work: Callable[[int], Any], calls: int = 200) -> float:
    start = time.thread_time()
    for i in range(calls):
        work(i)
    return round((time.thread_time() - start) / calls * 1e3, 3)


def price(i: int) -> Any:
    return O.price_products(PRODUCTS, customer_id="b", amount_minor=123_456 + i,
                            currency="CNY", as_of=AS_OF, available_minor=10**8)


def schedules(i: int) -> None:
    for product in PRODUCTS[1:]:
        for option in product.options:
            O.plan_schedules(product, option.periods, 123_456 + i, AS_OF, "CNY",
                             product.down_payment_rate_of(option))


def main() -> None:
    priced = price(0)
    plans = [(o, c) for o, c in priced if c]
    figures = [dict(o.figures(), currency="CNY") for o, _ in priced]
    rates = [O.exact_rates(c) if c else None for _, c in priced]
    facts = [_key_facts_of(_shown(f), o.offer_id, "creditpay", CATALOGUE, c, r)
             for (o, c), f, r in zip(priced, figures, rates, strict=True)]
    print("offers", len(priced), "plans", len(plans))
    print("price_products ms", ms(price))
    print("plan_schedules ms", ms(schedules))
    print("US solves ms", ms(lambda i: [O._costs(c.consumer_schedule) for _, c in plans]))
    print("exact_rates ms", ms(lambda i: [O.exact_rates(c) for _, c in plans]))
    print("EU only ms", ms(lambda i: [apr_of_schedule(c.consumer_schedule, AprMethod.EU)
                                      for _, c in plans]))
    print("figures ms", ms(lambda i: [o.figures() for o, _ in priced]))
    print("offer ids ms", ms(lambda i: [O._offer_id_of(dict(f, customer_id="b"), o.schedule)
                                        for (o, _), f in zip(priced, figures, strict=True)]))
    print("key_facts_of ms", ms(lambda i: [
        _key_facts_of(_shown(f), o.offer_id, "creditpay", CATALOGUE, c, r)
        for (o, c), f, r in zip(priced, figures, rates, strict=True)]))
    print("render ms", ms(lambda i: [render_document(k, "zh-CN") for k in facts]))
    if hasattr(D, "_figures_flat"):  # the branch's skeleton
        flat = [D._figures_flat(k, "zh-CN") for k in facts]
        print("figures_flat ms", ms(lambda i: [D._figures_flat(k, "zh-CN") for k in facts]))
        print("skeleton ms", ms(lambda i: [D._render_by_skeleton("zh-CN", key, values)
                                           for key, values in flat]))


if __name__ == "__main__":
    main()
