"""The daily FX position on both stores: balances of the fx_position accounts, their CNY
value at the day's mid, the revaluation from one day to the next, the realised FX revenue,
idempotent per day; and the nightly step."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from creditpay.fx.config import load_fx_config
from creditpay.fx.core import home_value_minor
from creditpay.fx.position import position_summary, stored_position, write_position
from creditpay.fx.quotes import create_quote, use_quote
from creditpay.fx.rates import MidRate
from creditpay.ledger.chart import ensure_platform_accounts
from creditpay.ledger.model import TransferRequest
from creditpay.ledger.service import create_transfer

CONFIG = load_fx_config()


class DailySource:
    """A rate source whose JPY rate is fixed per day by the test."""

    name = "daily"

    def __init__(self, jpy: dict[dt.date, str]) -> None:
        self.jpy = jpy

    def rates(self, day):
        return [MidRate("JPY", "CNY", Decimal(self.jpy[day]))] if day in self.jpy else []


def _move(tx, ident, debit, credit, amount):
    create_transfer(tx, TransferRequest(ident, "fx.test", debit_account_id=debit.id,
                                        credit_account_id=credit.id, amount_minor=amount))


def test_position_values_revalues_and_counts_revenue(store, uow, clock):
    day1 = clock.today()
    day2 = day1 + dt.timedelta(days=1)
    source = DailySource({day1: "0.0482", day2: "0.0490"})

    def pay_abroad(tx):
        # What a payment abroad does (h21-abroad builds it): CNY from the consumer into the
        # CNY position, yen out of the JPY position to the merchant.
        cny = ensure_platform_accounts(tx, "CNY")
        jpy = ensure_platform_accounts(tx, "JPY")
        quote = create_quote(tx, sell_currency="CNY", buy_currency="JPY",
                             buy_amount_minor=100000, config=CONFIG, source=source)
        use_quote(tx, quote.quote_id, reference="pi_1")
        _move(tx, "t1", cny["bank_settlement"], cny["fx_position"], quote.sell_amount_minor)
        _move(tx, "t2", jpy["bank_settlement"], jpy["fx_position"], 300000)  # yen bought in
        _move(tx, "t3", jpy["fx_position"], jpy["bank_settlement"], 100000)  # yen paid out
        return quote

    quote = uow.run(pay_abroad)
    first = uow.run(lambda tx: write_position(tx, day1, config=CONFIG, source=source))
    by = {line.currency: line for line in first}
    assert set(by) == {"CNY", "JPY"}
    # The CNY position holds what the consumer paid (credit normal: held is positive).
    assert by["CNY"].balance_minor == quote.sell_amount_minor
    assert by["CNY"].value_home_minor == quote.sell_amount_minor
    assert by["JPY"].balance_minor == 200000
    assert by["JPY"].mid_rate == Decimal("0.0482000000")
    assert by["JPY"].value_home_minor == 964000  # 200,000 yen x 0.0482
    assert by["JPY"].revaluation_home_minor == 0  # no previous report
    assert by["JPY"].realised_revenue_home_minor == quote.markup_minor == 3856
    assert by["JPY"].quotes_used == 1
    # A second run of the day changes nothing.
    assert uow.run(lambda tx: write_position(tx, day1, config=CONFIG, source=source)) == first

    clock.advance(days=1)
    second = uow.run(lambda tx: write_position(tx, day2, config=CONFIG, source=source))
    jpy2 = {line.currency: line for line in second}["JPY"]
    assert jpy2.previous_value_home_minor == 964000
    assert jpy2.value_home_minor == home_value_minor(200000, "JPY", "CNY", Decimal("0.049"))
    assert jpy2.revaluation_home_minor == 980000 - 964000  # the rate move alone
    assert jpy2.realised_revenue_home_minor == 0
    with store.engine.connect() as conn:
        assert stored_position(conn, day2) == second
    summary = position_summary(day2, second, "CNY")
    assert summary["revaluation_home_minor"] == 16000
    assert summary["lines"][1]["value_change_home_minor"] == 16000


def test_nothing_to_report_without_a_foreign_currency(store, uow, clock):
    source = DailySource({})
    uow.run(lambda tx: ensure_platform_accounts(tx, "CNY"))
    assert uow.run(lambda tx: write_position(tx, clock.today(), config=CONFIG,
                                             source=source)) == []


def test_a_payment_abroad_moves_the_position_by_the_markup_only(store, uow, clock):
    day = clock.today()
    source = DailySource({day: "0.0482"})

    def pay(tx):
        cny = ensure_platform_accounts(tx, "CNY")
        jpy = ensure_platform_accounts(tx, "JPY")
        quote = create_quote(tx, sell_currency="CNY", buy_currency="JPY",
                             buy_amount_minor=123457, config=CONFIG, source=source)
        use_quote(tx, quote.quote_id, reference="pi_9")
        # The legs of a payment abroad, each balanced in its own currency.
        _move(tx, "c1", cny["bank_settlement"], cny["fx_position"], quote.sell_amount_minor)
        _move(tx, "j1", jpy["fx_position"], jpy["bank_settlement"], quote.buy_amount_minor)
        return quote

    quote = uow.run(pay)
    lines = uow.run(lambda tx: write_position(tx, day, config=CONFIG, source=source))
    summary = position_summary(day, lines, "CNY")
    assert summary["value_home_minor"] == quote.markup_minor == \
        summary["realised_revenue_home_minor"]


def test_the_nightly_step_stores_the_rates_and_the_position(store, uow, clock):
    # The step run_nightly takes after the close of business (the whole night costs seconds:
    # tests/core/test_nightly.py runs it).
    from creditpay.nightly import NightlyReport, _fx_position

    day = clock.today()
    source = DailySource({day: "0.0482"})
    uow.run(lambda tx: [ensure_platform_accounts(tx, c) for c in ("CNY", "JPY")])
    report = NightlyReport(day.isoformat(), {})
    _fx_position(uow, day, report, CONFIG, source)
    assert report.fx_rates_stored == 1
    assert [line["currency"] for line in report.fx_position["lines"]] == ["CNY", "JPY"]
    again = NightlyReport(day.isoformat(), {})
    _fx_position(uow, day, again, CONFIG, source)
    assert again.as_dict()["fx_position"] == report.as_dict()["fx_position"]


def test_production_refuses_the_simulated_rate_source(tmp_path, sqlite_template):
    import shutil

    import pytest

    from creditpay.bootstrap import ServiceOptions, build_services
    from creditpay.clock import SimulatedClock
    from creditpay.config import Settings
    from creditpay.errors import ValidationError
    from creditpay.fx.rates import CsvRateSource, SimulatedRateSource

    shutil.copyfile(sqlite_template, tmp_path / "p.db")  # production opens a migrated one
    url = f"sqlite:///{tmp_path / 'p.db'}"
    built = build_services(Settings.of(database_url=url, mode="production"),
                           SimulatedClock(), ServiceOptions())
    try:
        with pytest.raises(ValidationError) as caught:
            _ = built.fx_rate_source
        assert caught.value.field == "CREDITPAY_FX_RATE_SOURCE"
    finally:
        built.close()
    feed = tmp_path / "rates.csv"
    csv_built = build_services(Settings.of(database_url=url, mode="production",
                                           fx_rate_source=str(feed)),
                               SimulatedClock(), ServiceOptions())
    allowed = build_services(Settings.of(database_url=url, mode="production",
                                         allow_development_features=True),
                             SimulatedClock(), ServiceOptions())
    try:
        assert isinstance(csv_built.fx_rate_source, CsvRateSource)
        assert isinstance(allowed.fx_rate_source, SimulatedRateSource)
        assert allowed.fx_config.version == CONFIG.version
    finally:
        csv_built.close()
        allowed.close()
