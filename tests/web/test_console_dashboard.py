"""The console's portfolio dashboard (web/console.py, web/charts.py, static/console-charts.js)
in Debian's Chromium on a real ``creditpay serve``, on a small hand-built book (the one of
tests/reporting/test_dashboard.py, whose figures are worked out by hand there).

Each view draws its chart from the vendored plotly.js with the same figures as its table
and its CSV; the filters (a plain GET form) change them; the page runs under the console's
strict CSP with no violation (listened for from before the first script runs); axe finds
nothing serious; a phone never scrolls sideways; the words are in the page's language.
Screenshots of every view at phone and desktop width go to /tmp (not to git)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.clock import SimulatedClock
from creditpay.config import Settings
from creditpay.formatting import money_text
from creditpay.money import AMOUNT_MINOR_MAX
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from creditpay.reporting import dashboard as D
from creditpay.risk.decisions.tables import credit_policies
from creditpay.web import charts
from creditpay.web.assets import asset_version
from creditpay.web.framework import _static
from tests.reporting.test_dashboard import NOW, build_book, decision, label, screening
from tests.reporting.test_dashboard_pnl import build_pnl
from tests.web.conftest import DESKTOP, PHONE, WebServer, axe_check, running_server
from tests.web.test_console import PASSWORD, _staff_log_in

VIEWS = ("receivables", "dpd30", "buckets", "roll_rates", "vintages", "grades", "fraud",
         "pnl", "revenue_losses")
# (key, role): each logs in once per module (a TOTP code is accepted once per 30 s step).
STAFF = (("compliance", "compliance_officer"), ("compliance2", "compliance_officer"),
         ("analyst", "risk_analyst"), ("support", "support"))
# The seeded book's charts: (traces, points drawn) per view, counted by hand from the rows
# tests/reporting/test_dashboard.py works out (roll rates: cells of the 3 x 3 matrix).
SEEDED = {"receivables": (1, 2), "dpd30": (1, 3), "buckets": (3, 6), "roll_rates": (1, 4),
          "vintages": (3, 5), "grades": (2, 6), "fraud": (3, 6), "revenue_losses": (3, 6),
          "pnl": (5, 10)}
SHOTS = Path(tempfile.gettempdir()) / "creditpay-dashboard-shots"
# Every CSP violation and script error of the page, recorded from before its first script.
LISTEN = """window.__violations = [];
document.addEventListener('securitypolicyviolation', e => window.__violations.push(
    [e.violatedDirective, e.blockedURI, e.sourceFile, e.lineNumber].join(' ')));"""


def _seed(url: str, master: bytes) -> dict[str, Any]:
    app = create_app(Settings.of(database_url=url), SimulatedClock(NOW),
                     config=ApiConfig(master_key=LocalMasterKey(master), pool_size=2))
    rt = app.state.runtime
    try:
        rt.vault.ensure_active_key()
        staff_hash = rt.parties.passwords.hash(PASSWORD)
        staff = {key: rt.uow.run(lambda tx, k=key, r=role: rt.parties.create_operator(
            tx, name=f"{k}-dashboard", role=r, password_hash=staff_hash))
            for key, role in STAFF}
    finally:
        rt.close()
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            build_book(conn)
            conn.execute(insert(credit_policies).values(
                content_hash="h" * 64, policy_kind="application", policy_id="p",
                version="1", document={}, stored_at=NOW))
            for ident, customer, grade, outcome, day in (
                    ("d1", "c1", "A", "approve", 3), ("d6", "c6", "A", "approve", 4),
                    ("d2", "c2", "B", "approve", 6), ("d4", "c4", "B", "approve", 7),
                    ("d9", "c9", "C", "decline", 9)):
                decision(conn, ident, customer, grade, outcome, day)
            feb = dt.datetime(2025, 2, 10, tzinfo=dt.UTC)
            screening(conn, "p1", feb, "approve", 1_000)
            screening(conn, "p2", feb, "decline", 2_000)
            screening(conn, "p3", feb, "review", 3_000)
            label(conn, "p3", "analyst_verdict", feb, 3_000)
            label(conn, "cb1", "chargeback", dt.datetime(2025, 3, 3, tzinfo=dt.UTC), 500)
        # The platform's P&L of January and February (tests/reporting/test_dashboard_pnl.py
        # works its figures out), without its fraud reports: the fraud view stays as above.
        build_pnl(engine, fraud=False)
    finally:
        engine.dispose()
    return {"staff": staff}


@pytest.fixture(scope="module")
def dashboard_server() -> Iterator[WebServer]:
    with tempfile.TemporaryDirectory(prefix="creditpay-web-dashboard-") as folder:
        url = f"sqlite:///{Path(folder) / 'dashboard.db'}"
        master = generate_key_bytes()
        seeded = _seed(url, master)
        with running_server(url, master) as base:
            yield WebServer(base, seeded)


def _logged_in(server: WebServer, context: Any, who: str, path: str) -> Any:
    context.add_init_script(LISTEN)
    page = _staff_log_in(context, server.base, server.seeded["staff"][who])
    page.wait_for_url(f"{server.base}/console/")
    page.goto(f"{server.base}{path}")
    return page


def _table(page: Any) -> list[dict[str, str]]:
    """The view's table as {column: raw value} per row (the cells' data-value)."""
    return page.evaluate("""() => [...document.querySelectorAll('table[data-view] tbody tr')]
        .map(tr => Object.fromEntries([...tr.querySelectorAll('td')]
            .map(td => [td.dataset.column, td.dataset.value])))""")


def _chart(page: Any) -> dict[str, Any]:
    """The drawn chart: the traces plotly.js holds and what it put in the SVG."""
    page.wait_for_selector(".chart[data-drawn=true]")
    return page.evaluate("""() => {
        const gd = document.querySelector('.chart');
        return {data: gd.data.map(t => ({type: t.type, name: t.name, x: t.x, y: t.y,
                                         z: t.z})),
                layout: {x: gd.layout.xaxis.title.text, y: gd.layout.yaxis.title.text},
                bars: gd.querySelectorAll('.barlayer .point').length,
                lines: gd.querySelectorAll('.scatterlayer .trace .js-line').length,
                heatmaps: gd.querySelectorAll('.heatmaplayer image').length};
    }""")


def _major(minor: str) -> str:
    return format(Decimal(minor).scaleb(-2), "f") if minor else ""


def _pct(share: str) -> str:
    return format(Decimal(share) * 100, "f")


def _expected(view: str, rows: list[dict[str, str]]) -> list[tuple[str, list[Any]]]:
    """What the chart of ``view`` must hold, worked out from its table alone:
    (trace name or type, the y values in major units / percent) per trace."""
    col = {name: [r[name] for r in rows] for name in (rows[0] if rows else {})}
    if view == "receivables":
        return [("bar", [_major(v) for v in col["receivable_minor"]])]
    if view == "dpd30":
        return [("bar", [_pct(v) for v in col["dpd30_share"]])]
    if view == "buckets":
        return [(r["bucket"], [_pct(r["receivable_share"]), _pct(r["accounts_share"])])
                for r in rows]
    if view == "roll_rates":
        return [("heatmap", [])]
    if view == "vintages":
        return [(v, [_pct(r["bad_share"]) for r in rows if r["vintage"] == v])
                for v in sorted(set(col["vintage"]))]
    if view == "grades":
        return [("bar", [_pct(v) for v in col["approval_rate"]]),
                ("bar", [_pct(v) for v in col["bad_rate"]])]
    if view == "fraud":
        return [("bar", [_major(v) for v in col[name]])
                for name in ("attempted_minor", "caught_minor", "lost_minor")]
    if view == "pnl":
        return [*[("bar", [_major(v) for v in col[name]])
                  for name in ("revenue_minor", "funding_cost_minor", "credit_losses_minor",
                               "fraud_losses_minor")],
                ("Net", [_major(v) for v in col["net_minor"]])]
    assert view == "revenue_losses"
    return [("bar", [_major(v) or None for v in col[name]])
            for name in ("revenue_minor", "write_off_minor", "fraud_loss_minor")
            if any(col[name])]


def _check_chart_matches_table(view: str, chart: dict[str, Any],
                               rows: list[dict[str, str]]) -> None:
    expected = _expected(view, rows)
    assert len(chart["data"]) == len(expected), view
    for trace, (name, ys) in zip(chart["data"], expected, strict=True):
        if name in ("bar", "heatmap"):
            assert trace["type"] == name, view
        else:
            assert trace["name"] == name, view
        if view != "roll_rates":
            assert trace["y"] == ys, (view, trace["name"])
    if view == "roll_rates":
        # One cell per row of the table, at its (from, to) place.
        heat = chart["data"][0]
        cells = [(heat["y"][i], j) for i, line in enumerate(heat["z"])
                 for j, value in enumerate(line) if value is not None]
        assert len(cells) == len(rows)
        assert sorted(heat["y"]) == sorted({r["from_state"] for r in rows})
        assert chart["heatmaps"] == 1
    elif view == "vintages":
        assert chart["lines"] == len(expected)
    elif view == "pnl":
        # Four bars a month, net drawn over them as a line.
        assert chart["bars"] == sum(len(ys) for name, ys in expected if name == "bar")
        assert chart["lines"] == 1
    else:
        # One drawn bar per figure (plotly.js draws a gap as a bar of no height).
        assert chart["bars"] == sum(len(ys) for _, ys in expected)


WIDER = """[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right
    > document.documentElement.clientWidth).slice(0, 5).map(e => e.tagName + '.' + e.className
    + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))"""


def _no_violation(page: Any) -> None:
    assert page.evaluate("window.__violations") == [], page.url


@pytest.mark.browser
def test_each_view_draws_its_table_as_a_chart_under_the_csp(
        dashboard_server: WebServer, new_context: Any) -> None:
    SHOTS.mkdir(exist_ok=True)
    base = dashboard_server.base
    context = new_context(DESKTOP, "en")
    errors: list[str] = []
    page = _logged_in(dashboard_server, context, "compliance", "/console/dashboard")
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    for view in VIEWS:
        page.goto(f"{base}/console/dashboard?view={view}")
        rows = _table(page)
        assert rows, view
        chart = _chart(page)
        _check_chart_matches_table(view, chart, rows)
        points = sum(len(t["y"]) for t in chart["data"]) if view != "roll_rates" else sum(
            v is not None for line in chart["data"][0]["z"] for v in line)
        assert (len(chart["data"]), points) == SEEDED[view], view
        assert chart["layout"]["y"], view  # axis titled
        # A horizon warning where the seeded history is too short for the measure: the
        # oldest vintage is 2 months on book, the first past-due day (Jan 31) and the
        # approvals (early January) are younger than the rules need at the last close
        # (Feb 1); two month ends make a roll-rate matrix.
        shown = page.locator("[data-warning]").count()
        assert shown == (1 if view in ("vintages", "buckets", "grades") else 0), view
        # The CSV export is the table, value for value.
        href = page.locator("[data-csv]").get_attribute("href")
        exported = list(csv.DictReader(io.StringIO(page.context.request.get(
            f"{base}{href}").text())))
        assert exported == rows, view
        # Hovering draws a label (plotly's hover code under the CSP too).
        box = page.locator(".chart .nsewdrag").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        axe_check(page)
        _no_violation(page)
        page.screenshot(path=str(SHOTS / f"{view}-desktop-en.png"), full_page=True)
        # English at phone width: nothing wider than the screen either.
        page.set_viewport_size(PHONE)
        page.reload()
        _chart(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], (
            view, page.evaluate(WIDER))
        page.screenshot(path=str(SHOTS / f"{view}-phone-en.png"), full_page=True)
        page.set_viewport_size(DESKTOP)
    assert errors == []


@pytest.mark.browser
def test_the_filters_change_the_figures_without_script_too(
        dashboard_server: WebServer, new_context: Any, browser: Any) -> None:
    base = dashboard_server.base
    page = _logged_in(dashboard_server, new_context(DESKTOP, "en"), "analyst",
                      "/console/dashboard?view=receivables")
    assert _chart(page)["data"][0]["y"] == ["191.50", "200.00"]
    page.locator("#product").select_option("jiebei")
    page.locator(".filters-form button[type=submit]").click()
    page.wait_for_url(f"{base}/console/dashboard?view=receivables&from=&to=&product=jiebei")
    chart = _chart(page)
    assert chart["data"][0]["y"] == ["200.00"] and chart["bars"] == 1
    assert page.locator("[data-csv]").get_attribute("href") == \
        "/console/dashboard/receivables.csv?product=jiebei"
    # Accounts opened from 15 January: A2 (41.50) and A3 (200.00) only.
    page.goto(f"{base}/console/dashboard?view=receivables&from=2025-01-15&to=2025-03-01")
    assert _chart(page)["data"][0]["y"] == ["41.50", "200.00"]
    _no_violation(page)

    # Without script: the same form and the same figures, in the table.
    plain = browser.new_context(viewport=DESKTOP, locale="en", java_script_enabled=False)
    try:
        cookies = page.context.cookies()
        plain.add_cookies(cookies)
        bare = plain.new_page()
        bare.goto(f"{base}/console/dashboard?view=dpd30")
        bare.locator("#product").select_option("huabei")
        bare.locator(".filters-form button[type=submit]").click()
        bare.wait_for_url(f"{base}/console/dashboard?view=dpd30&from=&to=&product=huabei")
        assert [r["product_code"] for r in _table_without_script(bare)] == ["huabei", "all"]
    finally:
        plain.close()


def _table_without_script(page: Any) -> list[dict[str, str]]:
    rows = []
    for tr in page.locator("table[data-view] tbody tr").all():
        rows.append({td.get_attribute("data-column"): td.get_attribute("data-value")
                     for td in tr.locator("td").all()})
    return rows


@pytest.mark.browser
def test_phone_width_chinese_and_roles(dashboard_server: WebServer, new_context: Any
                                       ) -> None:
    SHOTS.mkdir(exist_ok=True)
    base = dashboard_server.base
    page = _logged_in(dashboard_server, new_context(PHONE, "zh-CN"), "compliance2",
                      "/console/dashboard")
    for view in VIEWS:
        page.goto(f"{base}/console/dashboard?view={view}")
        chart = _chart(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], (
            view, page.evaluate(WIDER))
        _no_violation(page)
        page.screenshot(path=str(SHOTS / f"{view}-phone-zh.png"), full_page=True)
    # The words of the last chart (revenue and losses) in Chinese.
    assert chart["layout"]["x"] == "月份"
    assert [t["name"] for t in chart["data"]][:2] == ["收入", "核销"]
    assert page.locator('th[data-column="month"]').inner_text() == "月份"
    axe_check(page)
    # Codes in words in the table, the code itself kept in data-value (and in the CSV).
    page.goto(f"{base}/console/dashboard?view=dpd30")
    total = page.locator('tbody tr:last-child td[data-column="product_code"]')
    assert (total.inner_text(), total.get_attribute("data-value")) == ("全部产品", "all")
    page.goto(f"{base}/console/dashboard?view=roll_rates")
    written_off = page.locator('td[data-column="to_state"][data-value="WO"]')
    assert written_off.inner_text() == "已核销"
    # No staff session: the log-in page, coming back to the view after.
    anonymous = new_context(PHONE, "en").new_page()
    anonymous.goto(f"{base}/console/dashboard?view=fraud")
    anonymous.wait_for_url(f"{base}/console/login?next=/console/dashboard%3Fview%3Dfraud")
    # A role without the dashboard: 403 for the page and the CSV, no chart script.
    support = _logged_in(dashboard_server, new_context(PHONE, "en"), "support",
                         "/console/")
    for path in ("/console/dashboard?view=grades", "/console/dashboard/grades.csv"):
        response = support.goto(f"{base}{path}")
        assert response is not None and response.status == 403, path
        assert support.locator("script").count() == 0


@pytest.mark.browser
def test_plotly_is_served_from_the_package_with_its_own_stylesheet(
        dashboard_server: WebServer, browser: Any) -> None:
    """The bundle and plotly.css come from the app, cached by content hash, and plotly.css
    still holds exactly the rules the vendored bundle would inject (rerun
    scripts/plotly_css.py after updating the bundle)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "plotly_css", Path(__file__).resolve().parents[2] / "scripts" / "plotly_css.py")
    assert spec is not None and spec.loader is not None
    plotly_css = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plotly_css)
    assert plotly_css.CSS.read_text(encoding="utf-8") == plotly_css.stylesheet(
        plotly_css.injected_rules(browser))
    for name, kind in (("vendor/plotly/plotly-cartesian.min.js", "javascript"),
                       ("vendor/plotly/plotly.css", "text/css"),
                       ("console-charts.js", "javascript")):
        response = httpx.get(f"{dashboard_server.base}{_static(name)}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
        assert response.headers["cache-control"] == "public, max-age=86400"
        assert "?v=" + asset_version(name) in _static(name)


# ---------------------------------------------------------------- the figures, without a browser
class _English:
    """The page's side of a figure (charts.Texts), in English."""

    def gettext(self, message: str) -> str:
        return message

    def money(self, amount_minor: int, currency: str = "CNY") -> str:
        return money_text(amount_minor, currency, "en")

    def product_name(self, code: str, version: int | None = None) -> str:
        return code.upper()


def _d(text: str) -> Decimal:
    return Decimal(text)


ROWS: dict[str, list[Any]] = {
    "receivables": [D.ProductReceivable("huabei", 3, 19_150, 19_000, _d("0.489144")),
                    D.ProductReceivable("jiebei", 1, 20_000, 20_000, _d("0.510856"))],
    "dpd30": [D.Dpd30Share("huabei", 19_150, 4_150, _d("0.216710")),
              D.Dpd30Share(D.ALL, 19_150, 4_150, _d("0.216710"))],
    "buckets": [D.BucketRow("M0", 2, 15_000, _d("0.4"), _d("0.5")),
                D.BucketRow("M2", 1, 4_150, _d("0.1"), _d("0.25"))],
    "roll_rates": [D.RollRate("M0", "M0", 10_000, 1, _d("1")),
                   D.RollRate("M1", "M0", 6_000, 1, _d("0.6")),
                   D.RollRate("M1", "WO", 4_000, 1, _d("0.4"))],
    "vintages": [D.VintagePoint("2025-01", dt.date(2025, 2, 28), 1, 3, 23_000, 4_150, 0,
                                _d("0.18"), _d("0"), _d("0.18"), 3, 1, _d("0.333333"),
                                _d("0.061492"), _d("0.792340")),
                 D.VintagePoint("2025-01", dt.date(2025, 1, 31), 0, 3, 23_000, 0, 0,
                                _d("0"), _d("0"), _d("0"), 0, 0, _d("0"), None, None)],
    "grades": [D.GradeRow("A", 3, 3, 0, 0, _d("1"), 3, 0, _d("0"))],
    "fraud": [D.FraudRow("2025-02", 3, 6_000, 2, 5_000, 2, 5_000, 0, 0, 1, 1, _d("1"))],
    "revenue_losses": [D.RevenueLossRow("2025-01", None, None, None, 0, None, 0, None, None),
                       D.RevenueLossRow("2025-02", 100, 0, 0, 0, 100, 5_000, None, None)],
    "pnl": [D.PnlRow("2025-01", 2, 1_550, 400, 1_150, 2_329, 2_000, 500, 100, 1_400, 0,
                     -2_579, 11_000_000, _d("0.031523"), 500),
            D.PnlRow("2025-02", 0, 920, 0, 920, None, 0, 0, 0, 0, 0, None, None, None, 500)],
}


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in _floats(v)]
    if isinstance(value, list):
        return [f for v in value for f in _floats(v)]
    return []


@pytest.mark.parametrize("view", VIEWS)
def test_each_figure_is_valid_plotly_and_holds_no_float(view: str) -> None:
    import plotly.graph_objects as go

    assert set(ROWS) == set(D.VIEWS) == set(charts.FIGURES)
    spec = charts.figure(view, ROWS[view], _English())
    assert spec is not None
    # plotly's own schema refuses an unknown property or a wrong value (ValueError).
    go.Figure(spec)
    assert json_roundtrip(spec) == spec
    assert _floats(spec["data"]) == []  # amounts and shares go out as exact strings
    assert charts.figure(view, [], _English()) is None


def json_roundtrip(spec: dict[str, Any]) -> Any:
    import json

    return json.loads(json.dumps(spec))


def test_the_figures_say_what_the_rows_say() -> None:
    texts = _English()
    rolls = charts.figure("roll_rates", ROWS["roll_rates"], texts)
    assert rolls is not None
    heat = rolls["data"][0]
    assert (heat["y"], heat["x"]) == (["M0", "M1"], ["M0", "Written off"])
    assert heat["z"] == [["100", None], ["60.0", "40.0"]]
    vintages = charts.figure("vintages", ROWS["vintages"], texts)
    assert vintages is not None
    # Points in months-on-book order whatever the rows' order.
    assert [(t["name"], t["x"], t["y"]) for t in vintages["data"]] == [
        ("2025-01", [0, 1], ["0", "18.00"])]
    revenue = charts.figure("revenue_losses", ROWS["revenue_losses"], texts)
    assert revenue is not None
    # Fraud losses are unknown under a product filter: no empty series in the legend.
    assert [(t["name"], t["y"]) for t in revenue["data"]] == [
        ("Revenue", [None, "1.00"]), ("Write-offs", ["0.00", "50.00"])]
    assert revenue["data"][0]["customdata"] == ["—", "CN¥1.00"]
    pnl = charts.figure("pnl", ROWS["pnl"], texts)
    assert pnl is not None
    # A month with no closed day has no funding cost nor net: gaps, not zeros.
    assert [(t["name"], t["type"], t["y"]) for t in pnl["data"]] == [
        ("Revenue", "bar", ["11.50", "9.20"]), ("Funding cost", "bar", ["23.29", None]),
        ("Credit losses", "bar", ["14.00", "0.00"]), ("Fraud losses", "bar", ["0.00", "0.00"]),
        ("Net", "scatter", ["-25.79", None])]
    # A vintage point says its count-based share and its interval; none without accounts.
    assert vintages["data"][0]["customdata"] == [
        "0.00%", "18.00% · bad accounts 1/3 = 33.33% (95% bounds: 6.15% to 79.23%)"]


def test_a_label_from_the_data_is_text_never_markup() -> None:
    """plotly.js reads <a href>, <b>, <span style> in labels: names from the database go
    as entities (plotly.js shows them as written)."""

    class Named(_English):
        def product_name(self, code: str, version: int | None = None) -> str:
            return '<a href="https://example.invalid">Pay & go</a>'

    spec = charts.figure("receivables", ROWS["receivables"][:1], Named())
    assert spec is not None
    assert spec["data"][0]["x"] == [
        '&lt;a href="https://example.invalid"&gt;Pay &amp; go&lt;/a&gt;']
    grades = charts.figure("grades", [dataclasses.replace(ROWS["grades"][0], grade="<b>")],
                           _English())
    assert grades is not None and grades["data"][0]["x"] == ["&lt;b&gt;"]


@given(st.integers(-AMOUNT_MINOR_MAX, AMOUNT_MINOR_MAX))
def test_major_is_the_exact_amount(amount_minor: int) -> None:
    text = charts.major(amount_minor)
    assert text is not None and "E" not in text and text.count(".") == 1
    assert Decimal(text) * 100 == amount_minor
    assert len(text.split(".")[1]) == 2


@given(st.decimals(min_value=0, max_value=1, places=6))
def test_percent_is_the_exact_share(share: Decimal) -> None:
    text = charts.percent(share)
    assert text is not None and "E" not in text
    assert Decimal(text) == share * 100
