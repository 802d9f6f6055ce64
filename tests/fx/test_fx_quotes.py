"""FX rates and quotes on both stores: quotes priced from stored mid rates, locked for 30
minutes, used once; limits; the simulated and CSV rate sources."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from creditpay.errors import NotFoundError, StateError, ValidationError
from creditpay.fx import core
from creditpay.fx.config import load_fx_config
from creditpay.fx.quotes import check_limits, create_quote, get_quote, use_quote
from creditpay.fx.rates import (
    CsvRateSource,
    SimulatedRateSource,
    pair_rate,
    refresh_rates,
    stored_rates,
)
from creditpay.fx.tables import fx_quotes, fx_rates

CONFIG = load_fx_config()


class FixedSource:
    """A real RateSource with rates fixed by the test (the quote math is checked against
    them); not a mock: it is what a feed with those figures would give."""

    name = "fixed"

    def __init__(self, rates: dict[str, str]) -> None:
        self._rates = rates

    def rates(self, day):
        from creditpay.fx.rates import MidRate

        return [MidRate(code, "CNY", Decimal(rate)) for code, rate in self._rates.items()]


SOURCE = FixedSource({"JPY": "0.0482", "USD": "7.1", "KWD": "23.1", "EUR": "7.75"})


def _quote(uow, **kw):
    args = {"sell_currency": "CNY", "buy_currency": "JPY", "buy_amount_minor": 100000,
            "config": CONFIG, "source": SOURCE} | kw
    return uow.run(lambda tx: create_quote(tx, **args))


def _counts(store):
    with store.engine.connect() as conn:
        used = conn.execute(select(func.count()).select_from(fx_quotes)
                            .where(fx_quotes.c.used_at.is_not(None))).scalar()
        total = conn.execute(select(func.count()).select_from(fx_quotes)).scalar()
    return total, used


def test_quote_prices_from_the_stored_mid_and_the_pair_markup(store, uow, clock):
    quote = _quote(uow, customer_id="cus_1")
    assert quote.mid_rate == Decimal("0.0482000000")
    assert quote.markup_bps == 80  # CNY/JPY in the packaged configuration
    assert quote.client_rate == core.client_rate(Decimal("0.0482"), 80)
    assert quote.sell_amount_minor == 485856  # 100000 yen x 0.0485856 = CNY 4858.56
    assert quote.markup_minor == 485856 - 482000
    assert quote.markup_home_minor == quote.markup_minor
    assert quote.expires_at - quote.quoted_at == dt.timedelta(minutes=30)
    assert quote.quoted_at == clock.now()
    assert quote.markup_version == CONFIG.version and quote.rate_source == "fixed"
    body = quote.as_dict()
    assert set(body) == {"quote_id", "mid_rate", "markup_bps", "client_rate",
                         "sell_amount_minor", "buy_amount_minor", "quoted_at", "expires_at",
                         "sell_currency", "buy_currency", "markup_minor"}
    assert body["client_rate"] == "0.0485856000" and body["quoted_at"].endswith("+00:00")
    with store.engine.connect() as conn:
        assert get_quote(conn, quote.quote_id) == quote


def test_inverse_and_cross_rates(store, uow):
    usd = _quote(uow, sell_currency="JPY", buy_currency="USD", buy_amount_minor=1000)
    # JPY per USD = 7.1 / 0.0482 = 147.302904564...; 10.00 USD costs 1473.03 * (1+100bps)
    assert usd.mid_rate == Decimal("147.3029045643")
    assert usd.sell_amount_minor == core.sell_amount_minor(
        1000, "USD", "JPY", core.client_rate(usd.mid_rate, CONFIG.default_markup_bps))
    # 0 decimals for JPY, 3 for KWD: CNY 100.00 in fils, at the inverse of 23.1
    kwd = _quote(uow, sell_currency="KWD", buy_currency="CNY", buy_amount_minor=10000)
    assert kwd.mid_rate == core.invert_rate(Decimal("23.1"))
    assert kwd.sell_amount_minor == core.sell_amount_minor(10000, "CNY", "KWD",
                                                           kwd.client_rate)


BAD_REQUESTS = [
    ({"buy_currency": "XXQ"}, "buy_currency"),
    ({"buy_currency": "BRL"}, "buy_currency"),  # valid ISO, not quoted
    ({"sell_currency": "jpy"}, "sell_currency"),
    ({"buy_currency": "CNY"}, "buy_currency"),
    ({"buy_amount_minor": 0}, "buy_amount_minor"),
    ({"buy_amount_minor": 1.5}, "buy_amount_minor"),
    ({"buy_currency": "GBP"}, "buy_currency"),  # quoted, but no rate stored for it
]


def test_bad_quote_requests_name_the_field_and_store_nothing(store, uow):
    # One database for every case (a store costs about a second to set up).
    for kw, field in BAD_REQUESTS:
        with pytest.raises((ValidationError, NotFoundError)) as caught:
            _quote(uow, **kw)
        assert caught.value.field == field, kw
        assert _counts(store) == (0, 0)


def test_a_stale_rate_is_refused(store, uow, clock):
    _quote(uow)  # stores the fixed rates of today
    clock.advance(days=3)
    stopped = FixedSource({})  # the feed has nothing since
    assert _quote(uow, source=stopped).rate_as_of == clock.today() - dt.timedelta(days=3)
    clock.advance(days=1)
    with pytest.raises(NotFoundError) as caught:
        _quote(uow, source=stopped)
    assert caught.value.field == "buy_currency" and "older than 3 days" in caught.value.detail


def test_a_quote_is_used_once_and_an_expired_one_is_refused(store, uow, clock):
    quote = _quote(uow, customer_id="cus_1")
    used = uow.run(lambda tx: use_quote(tx, quote.quote_id, reference="pi_1",
                                        customer_id="cus_1"))
    assert used.used_reference == "pi_1" and used.used_at == clock.now()
    # The same payment retried gets its quote back; another use is refused.
    assert uow.run(lambda tx: use_quote(tx, quote.quote_id, reference="pi_1")) == used
    with pytest.raises(StateError) as caught:
        uow.run(lambda tx: use_quote(tx, quote.quote_id, reference="pi_2"))
    assert caught.value.field == "quote_id" and "already used" in caught.value.detail
    # Another customer's quote looks like no quote at all.
    other = _quote(uow, customer_id="cus_2")
    with pytest.raises(NotFoundError) as caught:
        uow.run(lambda tx: use_quote(tx, other.quote_id, reference="pi_3",
                                     customer_id="cus_1"))
    assert caught.value.field == "quote_id"
    # 30 minutes later the lock has ended.
    clock.advance(minutes=30)
    with pytest.raises(StateError) as caught:
        uow.run(lambda tx: use_quote(tx, other.quote_id, reference="pi_4",
                                     customer_id="cus_2"))
    assert caught.value.field == "quote_id" and "expired" in caught.value.detail
    with pytest.raises(NotFoundError):
        uow.run(lambda tx: use_quote(tx, "fxq_missing", reference="pi_5"))
    assert _counts(store) == (2, 1)
    with store.engine.connect() as conn:
        assert get_quote(conn, other.quote_id).used_at is None


def test_two_concurrent_uses_exactly_one_wins(store, uow):
    if store.kind != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite serialises writers)")
    quote = _quote(uow)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(reference: str) -> None:
        def use(tx):
            barrier.wait(timeout=10)
            return use_quote(tx, quote.quote_id, reference=reference)
        try:
            uow.run(use)
            outcomes.append("won")
        except StateError:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(f"pi_{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["refused", "won"]
    assert _counts(store) == (1, 1)


def test_limits_per_transaction_and_per_day(store, uow):
    limits = CONFIG.limits
    # A purchase over the per-transaction limit is refused at the quote.
    over = int(Decimal(limits.per_transaction_minor + 100) / Decimal("4.82"))
    with pytest.raises(ValidationError) as caught:
        _quote(uow, customer_id="cus_9", buy_amount_minor=over)
    assert caught.value.field == "amount_minor"
    # Six purchases of CNY 48,585.60 use the day's 300,000.00; the seventh is over.
    for i in range(6):
        q = _quote(uow, customer_id="cus_9", buy_amount_minor=1000000)
        uow.run(lambda tx, q=q, i=i: use_quote(tx, q.quote_id, reference=f"pi_{i}"))
    with store.engine.connect() as conn, pytest.raises(ValidationError) as caught:
        check_limits(conn, customer_id="cus_9", sell_amount_minor=4858560,
                     sell_currency="CNY", today=dt.date(2025, 3, 1), config=CONFIG)
    assert caught.value.field == "amount_minor" and "daily" in caught.value.detail
    with store.engine.connect() as conn:  # another customer, or the next day, is not
        check_limits(conn, customer_id="cus_8", sell_amount_minor=4858560,
                     sell_currency="CNY", today=dt.date(2025, 3, 1), config=CONFIG)
        check_limits(conn, customer_id="cus_9", sell_amount_minor=4858560,
                     sell_currency="CNY", today=dt.date(2025, 3, 2), config=CONFIG)


def test_refresh_stores_rates_once_with_source_and_time(store, uow, clock):
    source = SimulatedRateSource(7)
    first = uow.run(lambda tx: refresh_rates(tx, source))
    assert {r.base_currency for r in first} == {"USD", "EUR", "JPY", "THB", "KRW", "GBP",
                                                "HKD", "KWD", "SGD", "AUD"}
    assert all(r.quote_currency == "CNY" and r.source == "simulated:7"
               and r.fetched_at == clock.now() for r in first)
    clock.advance(hours=1)
    assert uow.run(lambda tx: refresh_rates(tx, source)) == first
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(fx_rates)).scalar() == 10
        assert stored_rates(conn) == first
        rate = pair_rate(conn, sell_currency="CNY", buy_currency="USD", day=clock.today())
        assert rate.rate == next(r.mid_rate for r in first if r.base_currency == "USD")


def test_simulated_rates_are_plausible_deterministic_and_move_daily():
    source = SimulatedRateSource(3)
    day = dt.date(2026, 12, 7)
    today = {r.base_currency: r.mid_rate for r in source.rates(day)}
    assert today == {r.base_currency: r.mid_rate for r in SimulatedRateSource(3).rates(day)}
    tomorrow = {r.base_currency: r.mid_rate
                for r in source.rates(day + dt.timedelta(days=1))}
    assert Decimal("6") < today["USD"] < Decimal("8.5")
    assert Decimal("0.035") < today["JPY"] < Decimal("0.06")
    for code, rate in today.items():
        move = abs(tomorrow[code] / rate - 1)
        assert Decimal("0") < move < Decimal("0.05"), code
    other = {r.base_currency: r.mid_rate for r in SimulatedRateSource(4).rates(day)}
    assert other != today


def test_one_simulated_source_asked_day_after_day_gives_what_a_fresh_one_gives():
    # One source serves every night of a run and continues its walk; asking for the days in
    # any order (forward, back, again, from several threads) must give the rates a new
    # source, which replays the walk from its start, gives for that day.
    source = SimulatedRateSource(5)
    start = dt.date(2024, 12, 16)
    days = [start + dt.timedelta(days=n) for n in (0, 1, 2, 40, 3, 3, 0, 400, 41)]

    def fresh(day):
        return SimulatedRateSource(5).rates(day)

    assert [source.rates(day) for day in days] == [fresh(day) for day in days]
    results: dict[int, list] = {}

    def ask(n: int) -> None:
        results[n] = source.rates(start + dt.timedelta(days=n))

    threads = [threading.Thread(target=ask, args=(n,)) for n in (7, 90, 8, 91)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: fresh(start + dt.timedelta(days=n)) for n in (7, 90, 8, 91)}


def test_csv_source_reads_a_feed_and_names_the_line_and_column_of_a_bad_row(tmp_path):
    feed = tmp_path / "rates.csv"
    feed.write_text("as_of,base,quote,mid_rate\n2025-03-01,USD,CNY,7.1834\n"
                    "2025-03-01,JPY,CNY,0.04812\n2025-03-02,USD,CNY,7.19\n")
    source = CsvRateSource(feed)
    rates = source.rates(dt.date(2025, 3, 1))
    assert [(r.base_currency, r.mid_rate) for r in rates] == [
        ("USD", Decimal("7.1834000000")), ("JPY", Decimal("0.0481200000"))]
    for text, where in [
        ("2025-03-01,USD,CNY,7.1\n2025-13-01,USD,CNY,7.1\n", "rates.csv:3:as_of"),
        ("2025-03-01,USD,CNY,seven\n", "rates.csv:2:mid_rate"),
        ("2025-03-01,USD,CNY,-7\n", "rates.csv:2:mid_rate"),
        ("2025-03-01,usd,CNY,7\n", "rates.csv:2:base"),
        ("2025-03-01,USD,CNY\n", "rates.csv:2:*"),
        ("2025-03-01,USD,USD,1\n", "rates.csv:2:quote"),
    ]:
        feed.write_text("as_of,base,quote,mid_rate\n" + text)
        with pytest.raises(ValidationError) as caught:
            source.rates(dt.date(2025, 3, 1))
        assert caught.value.field == where, text
    feed.write_text("day,base,quote,rate\n")
    with pytest.raises(ValidationError) as caught:
        source.rates(dt.date(2025, 3, 1))
    assert caught.value.field == "rates.csv:1"
