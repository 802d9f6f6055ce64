"""The platform's P&L (creditpay.sim.pnl) and the portfolio ratios next to it: the pure
functions on random inputs, then the default economy's figures checked part by part against
their sources (the ledger's journal, the book, the fraud tally)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from creditpay.errors import ValidationError
from creditpay.sim import pnl

minor = st.integers(min_value=0, max_value=10**12)


@settings(max_examples=300, deadline=None)
@given(income=st.dictionaries(st.sampled_from(["interest", "credit_fees", "penalty",
                                               "merchant_fees"]), minor),
       partner=minor, written_off=minor, partner_losses=st.integers(-10**12, 10**12),
       recovered=minor, funding=minor, lost=minor, charged_back=minor)
def test_pnl_parts_add_up_and_each_is_its_definition(income, partner, written_off,
                                                     partner_losses, recovered, funding,
                                                     lost, charged_back):
    out = pnl.platform_pnl(income_by_source_minor=income, partner_income_share_minor=partner,
                           write_offs_minor=written_off, partner_loss_share_minor=partner_losses,
                           recoveries_minor=recovered, funding_cost_minor=funding,
                           fraud_lost_minor=lost, fraud_charged_back_minor=charged_back)
    for key in (*pnl.PNL_PARTS, "net_minor"):
        assert type(out[key]) is int
    assert out["net_minor"] == (out["revenue_minor"] - out["funding_cost_minor"]
                                - out["credit_losses_minor"] - out["fraud_losses_minor"])
    assert out["revenue_minor"] == sum(income.values()) - partner
    assert out["credit_losses_minor"] == written_off - partner_losses - recovered
    assert out["fraud_losses_minor"] == lost - charged_back
    assert out["funding_cost_minor"] == funding


@settings(max_examples=300, deadline=None)
@given(days=st.lists(st.integers(0, 10**11), max_size=400), rate=st.integers(0, 10_000))
def test_funding_cost_is_the_exact_daily_sum_rounded_half_up_once(days, rate):
    exact = Decimal(sum(days)) * rate / Decimal(10_000 * 365)
    expected = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert pnl.funding_cost_minor(days, rate) == expected
    # Rounded once: splitting the run in two and rounding each half can differ; the whole
    # is never more than one minor unit per part away from the sum of the parts.
    half = len(days) // 2
    parts = pnl.funding_cost_minor(days[:half], rate) + pnl.funding_cost_minor(days[half:],
                                                                             rate)
    assert abs(parts - expected) <= 1


def test_funding_cost_of_a_known_book():
    # 1,000,000.00 CNY own-funded for 365 days at 500 bps: 50,000.00 CNY exactly.
    assert pnl.funding_cost_minor([100_000_000] * 365, 500) == 5_000_000
    # 0.5 fen rounds up: 73 fen-days at 2500 bps = 73 * 0.25 / 365 = 0.05 -> 0; 730 -> 0.5 -> 1
    assert pnl.funding_cost_minor([730], 2500) == 1
    assert pnl.funding_cost_minor([], 500) == 0


@settings(max_examples=200, deadline=None)
@given(exposures=st.lists(st.tuples(st.integers(0, 10**10),
                                    st.decimals(0, 1, places=6)), max_size=50),
       lgd=st.decimals(0, 1, places=4))
def test_expected_loss_is_pd_times_lgd_times_exposure_rounded_once(exposures, lgd):
    exact = sum((Decimal(e) * pd * lgd for e, pd in exposures), Decimal(0))
    expected = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert pnl.expected_loss_minor(exposures, lgd) == expected


@settings(max_examples=200, deadline=None)
@given(outstanding=st.integers(1, 10**11), days=st.integers(1, 400),
       net=st.integers(-10**9, 10**11))
@example(outstanding=1, days=64, net=36650)  # 209019.53125: a tie at the 4th decimal
def test_net_charge_off_rate_is_annualised_over_the_average(outstanding, days, net):
    out = pnl.net_charge_off_rate(net, [outstanding] * days)
    assert out["average_outstanding_minor"] == outstanding and out["days"] == days
    # 4 decimals: rounding moves the rate by at most half a unit of the 4th decimal, 5e-5
    # exactly at a tie (Hypothesis found 209019.53125 -> 209019.5312), so the bound is 5e-5
    # plus float resolution; the relative part covers absurdly large rates.
    assert out["rate"] == pytest.approx(net / outstanding * 365 / days, abs=5e-5 + 1e-6,
                                        rel=1e-12)
    assert pnl.net_charge_off_rate(net, [])["rate"] == 0.0


@pytest.mark.parametrize(("call", "field"), [
    (lambda: pnl.funding_cost_minor([1], 5.0), "funding_rate_bps"),
    (lambda: pnl.funding_cost_minor([1], 10_001), "funding_rate_bps"),
    (lambda: pnl.funding_cost_minor([1.5], 500), "daily_own_outstanding_minor"),
    (lambda: pnl.funding_cost_minor([-1], 500), "daily_own_outstanding_minor"),
    (lambda: pnl.expected_loss_minor([(100, 0.5)], Decimal("0.8")), "pd"),
    (lambda: pnl.expected_loss_minor([(100, Decimal("1.5"))], Decimal("0.8")), "pd"),
    (lambda: pnl.expected_loss_minor([(100, Decimal("0.5"))], 0.8), "lgd"),
    (lambda: pnl.platform_pnl(income_by_source_minor={"interest": 1.0},
                              partner_income_share_minor=0, write_offs_minor=0,
                              partner_loss_share_minor=0, recoveries_minor=0,
                              funding_cost_minor=0, fraud_lost_minor=0,
                              fraud_charged_back_minor=0), "income_by_source_minor.interest"),
])
def test_bad_input_is_a_validation_error_naming_the_field(call, field):
    with pytest.raises(ValidationError) as raised:
        call()
    assert raised.value.field == field


def test_economy_config_refuses_bad_rates(tmp_path):
    from creditpay.sim.economy import EconomyConfig

    for name, value in (("funding_rate_bps", -1), ("lgd_bps", 10_001),
                        ("funding_rate_bps", 4.5)):
        with pytest.raises(ValidationError) as raised:
            EconomyConfig(customers=10, merchants=2, days=5, seed=1,
                          database_url=f"sqlite:///{tmp_path / 'x.db'}", progress=False,
                          **{name: value})
        assert raised.value.field == name


# ------------------------------------------------------------------ the default economy

DAYS = 50


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The default economy (every default setting), small: 60 consumers for 50 days; kept
    open so the test can read its ledger and book."""
    from creditpay.sim.economy import Economy, EconomyConfig

    path = tmp_path_factory.mktemp("pnl") / "economy.db"
    economy = Economy(EconomyConfig(customers=60, merchants=6, days=DAYS, seed=11,
                                    database_url=f"sqlite:///{path}", progress=False))
    try:
        economy.setup()
        for _ in range(DAYS):
            economy.run_day()
        figures = economy.figures()
        yield economy, figures
    finally:
        economy.close()


def _movement(conn, code: str, since: dt.datetime) -> int:
    """The platform account's movement over the run on its normal side, summed from the
    journal (not the running totals the figures read)."""
    from creditpay.ledger.chart import platform_key
    from creditpay.ledger.service import balance, get_account_by_key
    from creditpay.sim.economy import CURRENCY

    account = get_account_by_key(conn, platform_key(code, CURRENCY))
    before = balance(conn, account.id, as_of=since).balance_minor
    return balance(conn, account.id, as_of=dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
                   ).balance_minor - before


def test_default_economy_pnl_parts_add_up_and_equal_their_sources(run):
    from creditpay.sim.economy import EconomyConfig
    from creditpay.sim.pnl import FUNDING_RATE_BPS_DEFAULT

    economy, figures = run
    p = figures["pnl"]
    for key in (*pnl.PNL_PARTS, "net_minor"):
        assert type(p[key]) is int, key
    assert p["net_minor"] == (p["revenue_minor"] - p["funding_cost_minor"]
                              - p["credit_losses_minor"] - p["fraud_losses_minor"])
    start = dt.datetime.fromisoformat(economy.config.start) - dt.timedelta(days=1)
    with economy.uow.connect() as conn:
        def moved(code: str) -> int:
            return _movement(conn, code, start)

        income = sum(moved(c) for c in ("merchant_fee_income", "interest_income",
                                        "fee_income", "penalty_income"))
        assert income > 0 and p["revenue_minor"] > 0
        assert p["revenue_minor"] == income - moved("partner_income_share")
        assert p["partner_share_minor"] == moved("partner_income_share")
        assert p["credit_losses_minor"] == (moved("write_off_expense")
                                            - moved("partner_loss_share")
                                            - moved("recovery_income"))
        # Own-funded principal today, loan by loan: the platform's share of each funded loan
        # (credit.funding), the whole principal of the others.
        from creditpay.credit.funding import loan_funders
        from creditpay.credit.service import portfolio

        accounts, _ = portfolio(conn, "CNY")
        own = 0
        for a in accounts:
            if a.status != "active":
                continue
            funders = loan_funders(conn, a.account_id)
            own += (sum(int(f["outstanding_minor"]) for f in funders
                        if f["funder_id"] == "platform") if funders else a.principal_minor)
    assert economy.config.funding_rate_bps == FUNDING_RATE_BPS_DEFAULT
    assert 400 <= EconomyConfig.funding_rate_bps <= 600
    assert len(economy.own_outstanding_daily) == DAYS
    assert economy.own_outstanding_daily[-1] == own > 0
    exact = Decimal(sum(economy.own_outstanding_daily)) * FUNDING_RATE_BPS_DEFAULT \
        / Decimal(10_000 * 365)
    assert p["funding_cost_minor"] == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert p["funding_cost_minor"] > 0
    fraud = figures["fraud"]
    assert p["fraud_losses_minor"] == fraud["lost_minor"] - fraud["charged_back_minor"] >= 0


def test_default_economy_receivables_ratios_equal_the_book(run):
    economy, figures = run
    accounts, _ = economy._book
    active = [a for a in accounts if a.status == "active"]
    receivables = sum(a.principal_minor for a in active)
    dpd30 = sum(a.principal_minor for a in active if a.dpd >= 30)
    assert figures["receivables_principal_minor"] == receivables \
        == sum(figures["outstanding_by_product_minor"].values())
    assert figures["dpd30_principal_minor"] == dpd30
    assert figures["dpd30_share_of_receivables"] == round(dpd30 / receivables, 4)
    keys = [k for k in figures if "dpd30" in k and "receivables" in k]
    assert keys == ["dpd30_share_of_receivables"]
    nco = figures["net_charge_offs"]
    assert nco["days"] == DAYS and nco["annualised"] is True
    assert nco["net_charge_offs_minor"] == (figures["pnl"]["write_offs_minor"]
                                            - figures["pnl"]["recoveries_minor"])
    average = sum(economy.outstanding_daily) / DAYS
    assert nco["average_outstanding_minor"] == int(Decimal(average).quantize(
        Decimal(1), rounding=ROUND_HALF_UP))
    assert figures["net_charge_off_rate_annualised"] == pytest.approx(
        nco["net_charge_offs_minor"] / average * 365 / DAYS, abs=5e-5)


def test_default_economy_expected_loss_on_outstanding(run):
    economy, figures = run
    el = figures["expected_loss_at_end"]
    assert el["lgd_bps"] == economy.config.lgd_bps
    assert 0 < el["exposure_minor"] <= el["book_exposure_minor"] \
        == figures["receivables_principal_minor"]
    # PDs are 0..1: the loss is at most LGD x exposure, and positive on a live book.
    assert 0 < el["expected_loss_minor"] <= el["exposure_minor"] * el["lgd_bps"] // 10_000
    assert el["expected_loss_minor"] <= el["book_expected_loss_minor"]
    assert el["accounts_without_pd"] == 0  # every account's customer was scored


def test_report_shows_the_pnl_the_ratios_and_past_due_shares(run, tmp_path):
    from creditpay.formatting import money_text
    from creditpay.sim import report

    _, figures = run
    shown = dict(report.rows(figures))
    p = figures["pnl"]
    assert shown["P&L: = net"] == money_text(p["net_minor"], "CNY")
    assert shown["P&L: − funding cost (own-funded principal)"].startswith(
        money_text(p["funding_cost_minor"], "CNY"))
    dpd30 = shown["30+ DPD principal (share of receivables)"]
    assert money_text(figures["receivables_principal_minor"], "CNY") in dpd30
    assert f"({figures['dpd30_share_of_receivables']:.1%})" in dpd30
    assert any(name.startswith("net charge-off rate (annualised") for name in shown)
    receivables = figures["receivables_principal_minor"]
    for bucket, v in figures["delinquency_by_bucket"].items():
        assert shown[f"delinquency {bucket} (share of receivables)"].endswith(
            f"({v['principal_minor'] / receivables:.1%})")
    plots = dict(report._plots(figures))
    waterfall = plots["pnl"].data[0]
    assert waterfall.type == "waterfall"
    assert list(waterfall.x[:5]) == ["revenue", "funding cost", "credit losses",
                                     "fraud losses", "net"]
    assert waterfall.y[4] == p["net_minor"] / 100
    page = report.write_reports(figures, tmp_path / "out")["report"].read_text("utf-8")
    assert "The platform&#x27;s P&amp;L" in page or "The platform's P&L" in page


def test_the_consoles_pnl_view_is_the_runs_pnl_month_by_month(run):
    """The console's pnl view (reporting.dashboard, from the live ledger, day-end positions
    and partner flows) over the run adds up to the run's P&L: the same revenue, credit and
    fraud losses, the same own-funded principal day by day, and the funding cost within
    the per-month rounding (half a minor unit a month)."""
    from creditpay.credit.portfolio_queries import principal_by_day
    from creditpay.reporting.dashboard import pnl as console_pnl

    economy, figures = run
    p = figures["pnl"]
    with economy.uow.connect() as conn:
        months = console_pnl(conn)
        days = principal_by_day(conn, currency="CNY")
    assert [d.own_minor for d in days] == economy.own_outstanding_daily
    assert [d.principal_minor for d in days] == economy.outstanding_daily
    assert sum(m.days for m in months) == p["days"] == DAYS
    for key in ("revenue_minor", "partner_share_minor", "credit_losses_minor",
                "write_offs_minor", "recoveries_minor"):
        assert sum(getattr(m, key) for m in months) == p[key], key
    # Fraud: the run knows every fraud captured; the console knows the fraud reported. A
    # fraud captured in the run's last days whose victim has not reported it yet (the run's
    # reports due after its end) is in the run's losses and not yet in the console's.
    unreported = sum(r["amount"] for day, reports in economy.fraud_reports_due.items()
                     for r in reports)
    assert sum(m.fraud_losses_minor for m in months) == p["fraud_losses_minor"] - unreported
    funding = sum(m.funding_cost_minor or 0 for m in months)
    assert abs(funding - p["funding_cost_minor"]) <= len(months) / 2
    assert all(m.net_minor == m.revenue_minor - (m.funding_cost_minor or 0)
               - m.credit_losses_minor - m.fraud_losses_minor for m in months)
