"""The simulated-economy report from hand-made figures: every plot and row when the figures
have them, nothing crashing when older figures do not, precision and recall computed right."""

from __future__ import annotations

import datetime as dt
import json
import re
from types import SimpleNamespace

import pytest

from creditpay.sim import book_charts as BC
from creditpay.sim.report import (
    _plots,
    grade_outcomes,
    html_report,
    precision_recall_series,
    rows,
    write_reports,
)

DATES = ["2024-03-01", "2024-03-04", "2024-03-05", "2024-03-06"]

NEW_PLOT_TITLES = (
    "Vintage curves: bad principal (30+ days past due or written off)",
    "Monthly roll-rate matrix",
    "Application score distribution by risk grade",
    "Approval rate and bad rate (30+ days past due) by risk grade",
    "Fraud screening precision and recall over time",
    "Early-warning monitors and alerts over time",
    "All-in APR of accepted credit offers",
)


def old_figures() -> dict:
    """Figures as the first economy wrote them: none of the keys added since."""
    series = [{"day": i + 1, "date": date,
               "outstanding_minor": {"credit_line": 100_000 * (i + 1), "installment_plan": 5_000},
               "open_accounts": {"credit_line": 3, "installment_plan": 1},
               "delinquency": {"M0": {"accounts": 3, "principal_minor": 90_000},
                               "M1": {"accounts": i, "principal_minor": 1_000 * i}},
               "written_off_accounts": 0,
               "revenue_minor": {"interest": 100 * i, "merchant_fees": 250 * i},
               "write_offs_minor": 0} for i, date in enumerate(DATES)]
    return {
        "customers": 60, "merchants": 8, "days": 4, "seed": 7,
        "applications": 10, "approvals": 6, "declines": 4, "approval_rate": 0.6,
        "approval_by_grade": {"A": {"applications": 4, "approved": 4, "rate": 1.0},
                              "C": {"applications": 6, "approved": 2, "rate": 0.3333}},
        "credit_lines": 6, "credit_limit_granted_minor": 3_000_000, "installment_plans": 1,
        "purchases": {"balance": 20, "credit_line": 7},
        "purchases_minor": {"balance": 250_000, "credit_line": 180_050},
        "refunds": 1, "refunds_minor": 5_000, "topups": 12, "topups_failed": 1,
        "topups_minor": 600_000, "repayments": 3, "repayments_minor": 30_000,
        "settled_net_minor": 420_000,
        "outstanding_by_product_minor": {"credit_line": 400_000, "installment_plan": 5_000},
        "delinquency_by_bucket": {"M1": {"accounts": 3, "principal_minor": 3_000}},
        "write_offs": {"accounts": 0, "amount_minor": 0},
        "revenue_by_source_minor": {"interest": 300, "merchant_fees": 750},
        "complaints": {"total": 2, "by_category": {"billing": 1, "collections_conduct": 1}},
        "refused": {"over_limit": 2}, "transfers": 321, "ledger_ok": True,
        "series": series,
    }


def full_figures() -> dict:
    """Old figures plus every key the extended economy adds, small but realistic."""
    figures = old_figures()
    figures["applications_detail"] = [
        {"grade": "A", "score": 780.5, "approved": True, "bad": False},
        {"grade": "A", "score": 812.0, "approved": True, "bad": False},
        {"grade": "A", "score": 750.25, "approved": True, "bad": True},
        {"grade": "A", "score": 795.0, "approved": True, "bad": False},
        {"grade": "C", "score": 610.0, "approved": True, "bad": True},
        {"grade": "C", "score": 640.0, "approved": True, "bad": False},
        {"grade": "C", "score": 580.0, "approved": False, "bad": None},
        {"grade": "C", "score": 570.0, "approved": False, "bad": None},
        {"grade": "E", "score": 420.0, "approved": False, "bad": None},
        {"grade": "E", "score": 455.0, "approved": False, "bad": None},
    ]
    figures["vintage_curves"] = [
        {"vintage": "2024-02", "accounts": 4, "curve": [
            {"days_on_book": 29, "bad_share": 0.0}, {"days_on_book": 33, "bad_share": 0.25},
            {"days_on_book": 35, "bad_share": 0.5}]},
        {"vintage": "2024-03", "accounts": 2, "curve": [
            {"days_on_book": 0, "bad_share": 0.0}, {"days_on_book": 5, "bad_share": 0.0}]},
    ]
    figures["roll_rates"] = [{"date": d, "m0_m1": r, "m1_m2": s} for d, r, s in zip(
        DATES, [None, 0.02, 0.05, 0.04], [None, None, 0.1, 0.2], strict=True)]
    figures["daily_metrics"] = [
        {"date": d, "approval_rate": a, "fraud_rate": f, "roll_rate_m0_m1": r,
         "roll_rate_m1_m2": None, "utilisation": u}
        for d, a, f, r, u in zip(DATES, [0.62, 0.6, 0.31, None], [0.01, 0.012, 0.0, 0.09],
                                 [None, 0.02, 0.05, 0.04], [0.3, 0.32, 0.35, 0.36],
                                 strict=True)]
    figures["fraud"] = {
        "screened": 40, "attempted": 8, "attempted_minor": 1_234_500, "caught": 6,
        "caught_minor": 1_000_000, "lost": 2, "lost_minor": 234_500, "false_positives": 3,
        "by_scenario": {"account_takeover": {"attempted": 5, "caught": 4, "lost_minor": 100_000},
                        "card_testing": {"attempted": 3, "caught": 2, "lost_minor": 134_500}}}
    figures["fraud_daily"] = [
        {"date": DATES[0], "attempted": 0, "caught": 0, "flagged": 1, "flagged_fraud": 0},
        {"date": DATES[1], "attempted": 2, "caught": 1, "flagged": 2, "flagged_fraud": 1},
        {"date": DATES[2], "attempted": 0, "caught": 0, "flagged": 0, "flagged_fraud": 0},
        {"date": DATES[3], "attempted": 6, "caught": 5, "flagged": 6, "flagged_fraud": 5},
    ]
    figures["alerts"] = [
        {"date": "2024-03-06", "monitor": "fraud_rate", "metric": "fraud_rate",
         "segment": "all", "severity": "warning", "value": 0.09, "centre": 0.0073,
         "lower": -0.01, "upper": 0.0246, "playbook": "review_fraud_rules"},
        {"date": "2024-03-05", "monitor": "approval_rate_drop", "metric": "approval_rate",
         "segment": "all <new>", "severity": "critical", "value": 0.31, "centre": 0.61,
         "lower": 0.58, "upper": 0.64, "playbook": "raise_cutoff"},
    ]
    figures["apr_distribution"] = [
        {"band": "0%", "count": 5, "amount_minor": 120_000},
        {"band": "12-18%", "count": 2, "amount_minor": 60_050},
        {"band": "24%+", "count": 0, "amount_minor": 0},
    ]
    figures["shock"] = {"kind": "unemployment", "day": 2, "date": "2024-03-05"}
    figures["policy"] = {"path": "policies/credit.yaml", "hash": "0123456789abcdef" * 4}
    figures.update(book_chart_figures(days=120))
    return figures


def book_chart_figures(days: int) -> dict:
    """The book charts' keys as the economy writes them, for a run of ``days`` from
    2024-12-16 (month-end cells and accounts made up, the computations the real ones)."""
    start = dt.date(2024, 12, 16)
    end = start + dt.timedelta(days=days - 1)
    month_ends = [d for d in (start + dt.timedelta(days=i) for i in range(days))
                  if (d + dt.timedelta(days=1)).day == 1]
    cells = [SimpleNamespace(month_end=m, from_state=s, to_state=t, accounts=n,
                             from_balance_minor=b)
             for i, m in enumerate(month_ends)
             for s, t, n, b in ((("new", "M0", 5, 0),) if i == 0 else (
                 ("M0", "M0", 4, 400_000), ("M0", "M1", 1, 50_000), ("M1", "M2", 1, 50_000),
                 ("M2", "WO", 1, 30_000)))]
    observations = {day: [BC.AccountAt(f"a{k}", "2024-12", 100_000,
                                       100_000 if k < j else 0) for k in range(8)]
                    for j, day in enumerate([*month_ends, end])}
    curves = BC.vintage_balance_curves(observations, seed=1)
    horizon = BC.Horizon(start=start, end=end, month_ends=month_ends,
                         vintage_months_on_book={c["vintage"]: c["curve"][-1]["months_on_book"]
                                                 for c in curves},
                         approval_dates=[start], first_past_due=start + dt.timedelta(days=20))
    return {"roll_rate_matrix": BC.roll_rate_matrices(cells), "vintage_balance_curves": curves,
            "warnings": BC.chart_warnings(horizon), "chart_rules": BC.horizon_rules(horizon),
            "horizon": {"start": start.isoformat(), "end": end.isoformat(),
                        "fraud_label_days": 6}}


def test_full_report_has_every_new_plot_and_the_alerts_table():
    page = html_report(full_figures())
    for title in NEW_PLOT_TITLES + ("Approval rate by risk grade",):
        assert title in page, title
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert page.count("plotly.js v") == 1  # the library is inlined once (its banner)
    assert "How to read this report" in page
    assert "<h2>Early-warning alerts (2)</h2>" in page
    assert ("<td>approval rate drop</td><td>approval rate (all &lt;new&gt;)</td>"
            "<td>31.00% vs band 58.00% to 64.00% (centre 61.00%)</td><td>raise cutoff</td>"
            ) in page
    assert "<td>9.00% vs band -1.00% to 2.46% (centre 0.73%)</td>" in page
    assert "all <new>" not in page  # escaped everywhere
    assert page.index("Early-warning monitors and alerts over time") < page.index(
        "<h2>Early-warning alerts (2)</h2>")


def test_rows_show_fraud_apr_alerts_shock_and_policy():
    table = dict(rows(full_figures()))
    assert table["fraud attempted"] == "8 (CN¥12,345.00)"
    assert table["fraud caught (share of attempts)"] == "6 (CN¥10,000.00), 75.0%"
    assert table["fraud lost"] == "2 (CN¥2,345.00)"
    assert table["false positives (legitimate payments challenged, held or declined)"] == "3"
    assert table["payments screened for fraud"] == "40"
    assert table["fraud scenario: account takeover"] == "5 attempted, 4 caught, CN¥1,000.00 lost"
    assert table["credit accepted at all-in APR 0%"] == "5 (CN¥1,200.00)"
    assert table["credit accepted at all-in APR 12-18%"] == "2 (CN¥600.50)"
    assert table["early-warning alerts (critical / warning)"] == "2 (1 / 1)"
    assert table["first early-warning alert"] == "2024-03-05 approval rate drop (critical)"
    assert table["shock"] == "unemployment from business day 2 (2024-03-05)"
    assert table["credit policy"] == "policies/credit.yaml, hash 0123456789ab"
    names = [name for name, _ in rows(full_figures())]
    assert names[0] == "customers / merchants / business days"  # old rows first, unchanged
    assert names.index("books balance (ledger verify)") < names.index("fraud attempted")


def test_old_figures_without_new_keys_still_render():
    figures = old_figures()
    page = html_report(figures)
    assert "Approval rate by risk grade" in page
    for title in NEW_PLOT_TITLES:
        assert title not in page
    assert "Early-warning alerts" not in page
    names = [name for name, _ in rows(figures)]
    assert not any(n.startswith(("fraud", "credit accepted", "early-warning", "shock"))
                   for n in names)


def test_empty_new_keys_render_and_no_alerts_shows_zero():
    figures = {**old_figures(), "applications_detail": [], "vintage_curves": [],
               "roll_rates": [{"date": DATES[0], "m0_m1": None, "m1_m2": None}],
               "daily_metrics": [], "fraud": {}, "fraud_daily": [], "alerts": [],
               "apr_distribution": [], "shock": None, "policy": {"path": None, "hash": "ab"}}
    page = html_report(figures)
    for title in NEW_PLOT_TITLES:
        assert title not in page
    table = dict(rows(figures))
    assert table["early-warning alerts (critical / warning)"] == "0 (0 / 0)"
    assert table["credit policy"] == "built-in default, hash ab"
    assert "shock" not in table and "fraud attempted" not in table


def test_write_reports_writes_both_files_and_json_round_trips(tmp_path):
    figures = full_figures()
    paths = write_reports(figures, tmp_path / "out")
    assert json.loads(paths["figures"].read_text(encoding="utf-8")) == figures
    page = paths["report"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Fraud screening precision" in page


def test_precision_recall_daily_and_cumulative():
    series = precision_recall_series(full_figures()["fraud_daily"])
    assert [p["date"] for p in series] == DATES
    assert [p["precision"] for p in series] == [0.0, 0.5, None, pytest.approx(5 / 6)]
    assert [p["recall"] for p in series] == [None, 0.5, None, pytest.approx(5 / 6)]
    # cumulative: flagged 1, 3, 3, 9 of which fraud 0, 1, 1, 6; attempted 0, 2, 2, 8, caught
    # 0, 1, 1, 6
    assert [p["cumulative_precision"] for p in series] == [
        0.0, pytest.approx(1 / 3), pytest.approx(1 / 3), pytest.approx(6 / 9)]
    assert [p["cumulative_recall"] for p in series] == [None, 0.5, 0.5, 0.75]
    assert precision_recall_series([]) == []


def test_grade_outcomes_approval_and_bad_rates():
    outcomes = grade_outcomes(full_figures()["applications_detail"])
    assert list(outcomes) == ["A", "C", "E"]
    assert outcomes["A"] == {"applications": 4, "approved": 4, "bad": 1,
                             "approval_rate": 1.0, "bad_rate": 0.25}
    assert outcomes["C"]["approval_rate"] == 0.5 and outcomes["C"]["bad_rate"] == 0.5
    assert outcomes["E"]["approved"] == 0 and outcomes["E"]["bad_rate"] is None


def test_a_short_run_says_so_under_each_chart_title_and_in_its_note():
    figures = {**full_figures(), **book_chart_figures(days=40)}
    warned = {w["chart"] for w in figures["warnings"]}
    assert {"roll_rate_matrix", "vintages", "delinquency"} <= warned
    plots = dict(_plots(figures))
    for chart in warned & set(plots):
        notes = " ".join(a.text for a in plots[chart].layout.annotations)
        assert "horizon too short" in notes, chart
    # One month end: no matrix, but the chart is there to carry its warning.
    assert figures["roll_rate_matrix"] == [] and "roll_rate_matrix" in plots
    page = html_report(figures)
    assert page.count("<strong>⚠ horizon too short:</strong>") == len(
        [w for w in figures["warnings"] if w["chart"] in plots])
    assert "Horizon this chart needs: a roll-rate matrix compares one month end" in page


def test_a_long_enough_run_has_no_warning_on_any_chart():
    figures = {**full_figures(), **book_chart_figures(days=200)}
    assert figures["warnings"] == []
    for name, plot in _plots(figures):
        assert not any("horizon too short" in a.text for a in plot.layout.annotations), name
    assert "horizon too short" not in html_report(figures)


def _axes(plot, letter):
    layout = plot.layout.to_plotly_json()
    return [v for k, v in layout.items() if re.fullmatch(letter + r"axis\d*", k)]


def test_every_plot_has_sane_axes():
    """Shares as percentages from 0, amounts in CNY from 0, counts never below 0, business
    dates on a date axis; the only axes allowed to float are the score's points."""
    for name, plot in _plots(full_figures()):
        for axis in _axes(plot, "y"):
            title = ((axis.get("title") or {}).get("text") or "").lower()
            if name == "scores" or axis.get("type") == "category":
                continue
            starts_at_zero = (axis.get("rangemode") in ("tozero", "nonnegative")
                              or (axis.get("range") or [None])[0] == 0)
            assert starts_at_zero, (name, title)
            if "share" in title or "/" in title or "rate" in title:
                assert "%" in (axis.get("tickformat") or ""), (name, title)
            assert "minor" not in title and "fen" not in title, (name, title)
        for axis in _axes(plot, "x"):
            title = ((axis.get("title") or {}).get("text") or "").lower()
            if title == "business date":
                assert axis.get("type") == "date", name


def test_a_monitor_measured_on_too_few_days_is_not_drawn_but_named():
    """A rate measured only on days with enough in its denominator (one day of 120 in the
    default demo for the approval rate) makes a panel with one dot: it is left out, and the
    chart's title says which metric and on how many days it was measured."""
    from creditpay.sim.report import _alerts_timeline_plot

    start = dt.date(2025, 1, 1)
    daily = [{"date": (start + dt.timedelta(days=i)).isoformat(),
              "approval_rate": 0.7 if i == 0 else None, "fraud_rate": 0.01 + i / 10_000,
              "utilisation": 0.02} for i in range(30)]
    plot = _alerts_timeline_plot({"daily_metrics": daily, "alerts": []})
    titles = [a.text for a in plot.layout.annotations]
    assert "payments held by fraud screening (share)" in titles
    assert "pay-later line utilisation" in titles
    assert not any(t.startswith("approval rate") for t in titles)
    assert "approval rate (applications decided that day): measured on 1 of 30 days" in (
        plot.layout.title.text)


def test_rows_show_payments_abroad_and_after_care():
    figures = {
        **full_figures(),
        "cross_border": {"payments": 12, "volume_by_currency": {"JPY": 150_000, "USD": 4_250},
                         "volume_cny_minor": 1_012_345, "fx_revenue_cny_minor": 9_876,
                         "refunds": 2, "refunded_cny_minor": 50_000},
        "disputes": {"opened": 3, "by_outcome": {"resolved_consumer": 2, "withdrawn": 1}},
        "hardship": {"requests": 4, "approved": 3, "referred": 1,
                     "by_option": {"holiday": 2, "longer_term": 1}},
        "assistant": {"questions": 40, "handoffs": 5},
    }
    table = dict(rows(figures))
    assert table["payments abroad (CNY paid)"] == "12 (CN¥10,123.45)"
    assert table["payments abroad: merchants' currencies"] == "¥150,000 (JPY), $42.50 (USD)"
    assert table["FX revenue (markups) / refunds at the original rate"] == \
        "CN¥98.76 / 2 (CN¥500.00)"
    assert table["disputes opened (by outcome)"] == \
        "3 (resolved consumer 2, withdrawn 1)"
    assert table["hardship requests: approved / referred"] == \
        "4: 3 / 1 (holiday 2, longer term 1)"
    assert table["assistant questions (handed to a person)"] == "40 (5)"
    # Figures of a run before these existed show none of it.
    assert not [n for n, _ in rows(full_figures()) if "abroad" in n or "assistant" in n]
