"""Figures of a simulated economy as a Rich table, ``figures.json`` and a self-contained HTML
report (Plotly's JavaScript is inlined once: the file opens offline, no CDN).

Every figure added after the first economy (fraud, early warning, vintages, APR bands, shock,
policy) is optional: older or tiny runs leave it out or empty, and the report then skips that
row or plot. Money is integer minor units (fen) everywhere except on plot axes, which show CNY.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from creditpay.formatting import money_text

__all__ = ["write_reports", "print_table", "html_report", "rows", "precision_recall_series",
           "grade_outcomes"]

CURRENCY = "CNY"
MINOR_PER_UNIT = 100  # fen per yuan, for plot axes only
SEVERITY_COLOURS = {"critical": "#d62728", "warning": "#ff7f0e"}
SHOCK_COLOUR = "#7f7f7f"
ALERT_TABLE_ROWS_MAX = 200  # the rest stay in figures.json
# Daily metrics in the order they are drawn on the early-warning timeline; all are shares 0..1.
# They are the platform's own (creditpay.risk.early_warning, stored by the nightly job for
# segment "all"), read back by creditpay.sim.monitoring.MonitorBoard.
METRIC_LABELS = {
    "approval_rate": "approval rate (applications decided that day)",
    "fraud_rate": "payments held by fraud screening (share)",
    "utilisation": "pay-later line utilisation",
    "roll_rate_m0_m1": "roll rate M0→M1",
    "roll_rate_m1_m2": "roll rate M1→M2",
}

DAILY_ROLL_METRICS = ("roll_rate_m0_m1", "roll_rate_m1_m2")

Figures = Mapping[str, Any]


def _share(part: int, whole: int) -> str:
    """``part / whole`` as a percentage with one decimal, or "n/a" when ``whole`` is 0."""
    return f"{part / whole:.1%}" if whole else "n/a"


def _label(name: str) -> str:
    return name.replace("_", " ")


# --------------------------------------------------------------------------------- table rows

def rows(figures: Figures) -> list[tuple[str, str]]:
    """The table's rows: (figure, value as shown). Money is formatted from minor units."""
    return (_activity_rows(figures) + _pnl_rows(figures) + _apr_rows(figures)
            + _partner_rows(figures) + _cross_border_rows(figures)
            + _aftercare_rows(figures) + _fraud_rows(figures) + _alert_rows(figures)
            + _shock_rows(figures) + _policy_rows(figures) + _behaviour_rows(figures))


def _activity_rows(figures: Figures) -> list[tuple[str, str]]:
    """Customers, credit, payments, book, revenue, complaints and the ledger check."""
    f = figures
    out = [
        ("customers / merchants / business days",
         f"{f['customers']:,} / {f['merchants']:,} / {f['days']}"),
        ("credit applications (approved / declined)",
         f"{f['applications']:,} ({f['approvals']:,} / {f['declines']:,})"),
        ("approval rate", f"{f['approval_rate']:.1%}"),
        ("referred to an analyst (approved / declined on review)",
         "{referred:,} ({approved:,} / {declined:,})".format(**f.get(
             "referrals", {"referred": 0, "approved": 0, "declined": 0}))),
        ("approval rate by grade", ", ".join(f"{g} {v['rate']:.0%} of {v['applications']}"
                                             for g, v in f["approval_by_grade"].items())),
        ("pay-later lines opened (limits granted)",
         f"{f['credit_lines']:,} ({money_text(int(f['credit_limit_granted_minor']), CURRENCY)})"),
        ("installment plans taken", f"{f['installment_plans']:,}"),
    ]
    for funding, count in f["purchases"].items():
        out.append((f"purchases paid by {_label(funding)}",
                    f"{count:,} ({money_text(int(f['purchases_minor'][funding]), CURRENCY)})"))
    out += [
        ("refunds", f"{f['refunds']:,} ({money_text(int(f['refunds_minor']), CURRENCY)})"),
        ("wallet top-ups (failed)", f"{f['topups']:,} ({f['topups_failed']:,}) "
                                    f"{money_text(int(f['topups_minor']), CURRENCY)}"),
        ("repayments", f"{f['repayments']:,} ({money_text(int(f['repayments_minor']), CURRENCY)})"),
        ("settled to merchants (net)", money_text(int(f["settled_net_minor"]), CURRENCY)),
    ]
    for product, minor in f["outstanding_by_product_minor"].items():
        out.append((f"outstanding: {_label(product)}", money_text(int(minor), CURRENCY)))
    receivables = sum(int(v) for v in f["outstanding_by_product_minor"].values())
    for bucket, v in f["delinquency_by_bucket"].items():
        out.append((f"delinquency {bucket} (share of receivables)",
                    f"{v['accounts']:,} accounts, "
                    f"{money_text(int(v['principal_minor']), CURRENCY)} "
                    f"({_share(int(v['principal_minor']), receivables)})"))
    out.append(("written off", f"{f['write_offs']['accounts']:,} accounts, "
                               f"{money_text(int(f['write_offs']['amount_minor']), CURRENCY)}"))
    for source, minor in f["revenue_by_source_minor"].items():
        out.append((f"revenue: {_label(source)}", money_text(int(minor), CURRENCY)))
    complaints = f["complaints"]
    out.append(("complaints (by category)", f"{complaints['total']:,} " + "(" + ", ".join(
        f"{_label(k)} {v}" for k, v in complaints["by_category"].items()) + ")"))
    if f.get("refused"):
        out.append(("refused by the platform", ", ".join(f"{k} {v}" for k, v in
                                                         f["refused"].items())))
    out += [("ledger transfers", f"{f['transfers']:,}"),
            ("books balance (ledger verify)", "yes" if f["ledger_ok"] else "NO")]
    return out


def _pnl_rows(figures: Figures) -> list[tuple[str, str]]:
    """The platform's P&L (figures["pnl"], creditpay.sim.pnl), the 30+ DPD share of
    receivables, the annualised net charge-off rate and the expected loss on what is still
    outstanding. Older figures without them show none of it."""
    p = figures.get("pnl")
    if not p:
        return []

    def cny(minor: int) -> str:
        return money_text(int(minor), CURRENCY)

    out = [
        ("P&L: revenue (platform's, net of partners' share)",
         f"{cny(p['revenue_minor'])} (partners' share {cny(p.get('partner_share_minor', 0))})"),
        ("P&L: − funding cost (own-funded principal)",
         f"{cny(p['funding_cost_minor'])} (at {_bps_text(p.get('funding_rate_bps'))} a year)"),
        ("P&L: − credit losses (write-offs net of recoveries)",
         cny(p["credit_losses_minor"])),
        ("P&L: − fraud losses (not charged back)", cny(p["fraud_losses_minor"])),
        ("P&L: = net", cny(p["net_minor"])),
    ]
    if "dpd30_share_of_receivables" in figures:
        out.append(("30+ DPD principal (share of receivables)",
                    f"{cny(figures['dpd30_principal_minor'])} of "
                    f"{cny(figures['receivables_principal_minor'])} "
                    f"({figures['dpd30_share_of_receivables']:.1%})"))
    nco = figures.get("net_charge_offs")
    if nco:
        out.append(("net charge-off rate (annualised: net / average outstanding × 365 / days)",
                    f"{figures['net_charge_off_rate_annualised']:.2%} "
                    f"({cny(nco['net_charge_offs_minor'])} over "
                    f"{cny(nco['average_outstanding_minor'])} average, {nco['days']} days)"))
    expected = figures.get("expected_loss_at_end")
    if expected:
        out.append(("expected loss on outstanding (PD × LGD × own-funded principal)",
                    f"{cny(expected['expected_loss_minor'])} on "
                    f"{cny(expected['exposure_minor'])} (LGD "
                    f"{_bps_text(expected.get('lgd_bps'))})"))
    return out


def _apr_rows(figures: Figures) -> list[tuple[str, str]]:
    """One row per all-in APR band of accepted credit: offers accepted (amount)."""
    return [(f"credit accepted at all-in APR {band['band']}",
             f"{band['count']:,} ({money_text(int(band['amount_minor']), CURRENCY)})")
            for band in figures.get("apr_distribution") or []]


def _bps_text(bps: int | None) -> str:
    return "n/a" if bps is None else f"{bps / 100:.2f}%"


def _counts(by: Mapping[str, int]) -> str:
    return ", ".join(f"{_label(k)} {v:,}" for k, v in by.items()) or "none"


def _cross_border_rows(figures: Figures) -> list[tuple[str, str]]:
    """Payments abroad (figures["cross_border"], sim/travel.py): how many and their CNY
    cost, the volume in each merchant currency, the FX revenue (the markups) and the refunds
    at the original rate. Older figures without it show none of it."""
    cb = figures.get("cross_border")
    if not cb:
        return []
    volume = ", ".join(f"{money_text(int(minor), currency)} ({currency})"
                       for currency, minor in cb.get("volume_by_currency", {}).items())
    return [
        ("payments abroad (CNY paid)", f"{cb['payments']:,} "
         f"({money_text(int(cb.get('volume_cny_minor', 0)), CURRENCY)})"),
        ("payments abroad: merchants' currencies", volume or "none"),
        ("FX revenue (markups) / refunds at the original rate",
         f"{money_text(int(cb.get('fx_revenue_cny_minor', 0)), CURRENCY)} / "
         f"{int(cb.get('refunds', 0)):,} "
         f"({money_text(int(cb.get('refunded_cny_minor', 0)), CURRENCY)})"),
    ]


def _aftercare_rows(figures: Figures) -> list[tuple[str, str]]:
    """After-care (sim/aftercare.py): disputes by outcome, hardship requests and decisions,
    the assistant's questions and handoffs. Older figures without them show none of it."""
    out = []
    disputes = figures.get("disputes")
    if disputes:
        out.append(("disputes opened (by outcome)", f"{disputes['opened']:,} "
                    f"({_counts(disputes.get('by_outcome', {}))})"))
    hardship = figures.get("hardship")
    if hardship:
        out.append(("hardship requests: approved / referred",
                    f"{hardship['requests']:,}: {hardship['approved']:,} / "
                    f"{hardship['referred']:,} ({_counts(hardship.get('by_option', {}))})"))
    assistant = figures.get("assistant")
    if assistant:
        out.append(("assistant questions (handed to a person)",
                    f"{assistant['questions']:,} ({assistant['handoffs']:,})"))
    return out


def _partner_rows(figures: Figures) -> list[tuple[str, str]]:
    """Cash loans taken, then per partner lender (figures["partners"], from
    credit.funding.partners_report): loans and volume funded (of it facilitated), what it
    has outstanding, its income (interest passed to it), its losses net of the guarantee and
    recoveries, the guarantee paid to it, the smallest platform share of its joint loans and
    its settlements' net (positive: paid to it); then whether every partner's flows
    reconcile with the ledger. Older figures without partners show none of it."""
    out = []
    if "cash_loans" in figures:
        out.append(("cash loans taken", f"{figures['cash_loans']:,} ("
                    f"{money_text(int(figures['cash_loans_minor']), CURRENCY)})"))
    partners = figures.get("partners")
    if not partners:
        return out
    for p in partners["partners"]:
        name = p["name"]
        out += [
            (f"partner {name}: loans funded (facilitated)",
             f"{p['loans']:,}: {money_text(int(p['funded_minor']), CURRENCY)} "
             f"({money_text(int(p['facilitation_funded_minor']), CURRENCY)})"),
            (f"partner {name}: outstanding / income",
             f"{money_text(int(p['outstanding_minor']), CURRENCY)} / "
             f"{money_text(int(p['income_minor']), CURRENCY)}"),
            (f"partner {name}: losses (guarantee paid)",
             f"{money_text(int(p['losses_minor']), CURRENCY)} "
             f"({money_text(int(p['guarantee_paid_minor']), CURRENCY)})"),
            (f"partner {name}: smallest platform share / settled net",
             f"{_bps_text(p['platform_share_min_bps'])} / "
             f"{money_text(int(p['settled_net_minor']), CURRENCY)}"),
        ]
    checked = partners.get("reconciliation") or {}
    if checked:
        out.append(("partner flows reconcile with the ledger",
                    "yes" if checked.get("ok") else
                    f"NO ({checked.get('differences', '?')} differences: " + ", ".join(
                        f"{_label(k)} {v}" for k, v in (checked.get("by_check") or {}).items())
                    + ")"))
    return out


def _fraud_rows(figures: Figures) -> list[tuple[str, str]]:
    """Fraud screened, attempted, caught (with the caught share of attempts), lost, false
    positives and one row per attack scenario."""
    fraud = figures.get("fraud") or {}
    if not fraud:
        return []
    attempted, caught = fraud.get("attempted", 0), fraud.get("caught", 0)
    out = []
    if "screened" in fraud:
        out.append(("payments screened for fraud", f"{fraud['screened']:,}"))
    out += [
        ("fraud attempted", f"{attempted:,} "
                            f"({money_text(int(fraud.get('attempted_minor', 0)), CURRENCY)})"),
        ("fraud caught (share of attempts)",
         f"{caught:,} ({money_text(int(fraud.get('caught_minor', 0)), CURRENCY)})"
         f", {_share(caught, attempted)}"),
        ("fraud lost", f"{fraud.get('lost', 0):,} "
                       f"({money_text(int(fraud.get('lost_minor', 0)), CURRENCY)})"),
    ]
    if "false_positives" in fraud:
        out.append(("false positives (legitimate payments challenged, held or declined)",
                    f"{fraud['false_positives']:,}"))
    model = fraud.get("model") or {}
    if model.get("trained"):
        after = model.get("after_training") or {}
        quality = (f", AUC {after['auc_roc']:.3f} / AP {after['average_precision']:.3f} on "
                   f"{after['screenings']:,} later screenings" if "auc_roc" in after else "")
        out.append(("fraud model retrained on the run's labels",
                    f"{len(model['trained'])} versions, last on "
                    f"{model['trained'][-1]['date']}{quality}"))
    for name, scenario in (fraud.get("by_scenario") or {}).items():
        out.append((f"fraud scenario: {_label(name)}",
                    f"{scenario.get('attempted', 0):,} attempted, "
                    f"{scenario.get('caught', 0):,} caught, "
                    f"{money_text(int(scenario.get('lost_minor', 0)), CURRENCY)} lost"))
    return out


def _alert_rows(figures: Figures) -> list[tuple[str, str]]:
    """Early-warning alerts by severity and the first one raised. A present but empty list
    shows as 0 alerts (the monitors ran and raised none)."""
    alerts = figures.get("alerts")
    if alerts is None:
        return []
    severity = Counter(alert["severity"] for alert in alerts)
    out = [("early-warning alerts (critical / warning)",
            f"{len(alerts):,} ({severity['critical']:,} / {severity['warning']:,})")]
    if alerts:
        first = min(alerts, key=lambda alert: alert["date"])
        out.append(("first early-warning alert",
                    f"{first['date']} {_label(first['monitor'])} ({first['severity']})"))
    return out


def _shock_text(shock: Mapping[str, Any]) -> str:
    kind = " + ".join(_label(k) for k in str(shock.get("kind", "shock")).split("+"))
    text = f"{kind} from business day {shock.get('day', '?')} ({shock.get('date', '?')})"
    if "out_of_work" in shock:
        text += f", {shock['out_of_work']:,} consumers out of work"
    return text


def _shock_rows(figures: Figures) -> list[tuple[str, str]]:
    shock = figures.get("shock")
    return [("shock", _shock_text(shock))] if shock else []


def _policy_rows(figures: Figures) -> list[tuple[str, str]]:
    """The credit policy document that decided (path or built-in) and its version / hash."""
    policy = figures.get("policy")
    if not policy:
        return []
    parts = [str(policy.get("path") or "built-in default")]
    if policy.get("version"):
        parts.append(f"version {policy['version']}")
    if policy.get("hash"):
        parts.append(f"hash {str(policy['hash'])[:12]}")
    return [("credit policy", ", ".join(parts))]


def _behaviour_rows(figures: Figures) -> list[tuple[str, str]]:
    """One row: the behaviour score retrained on the run's own history (or why not) and
    the limit changes the nightly review applied (raises / decreases / freezes)."""
    model, changes = figures.get("behaviour_model"), figures.get("limit_changes")
    if model is None and changes is None:
        return []
    parts = []
    if model:
        if model.get("trained"):
            auc = model.get("auc_oot")
            parts.append(f"behaviour score retrained {model['when']} on {model['rows']:,} "
                         f"observations ({model['bads']:,} bads), out-of-time AUC "
                         f"{'n/a' if auc is None else format(auc, '.3f')}, "
                         f"{'promoted' if model.get('promoted') else 'champion kept'}")
        else:
            parts.append(f"behaviour score not retrained: {model.get('why', '')}")
    totals = {k: sum(int(m[k]) for m in changes or []) for k in (
        "increases", "increase_minor", "decreases", "decrease_minor", "freezes",
        "freeze_minor")}
    parts.append(f"limits raised {totals['increases']:,} "
                 f"(+{money_text(totals['increase_minor'], CURRENCY)}), lowered "
                 f"{totals['decreases']:,} (-{money_text(totals['decrease_minor'], CURRENCY)}),"
                 f" frozen {totals['freezes']:,} "
                 f"(-{money_text(totals['freeze_minor'], CURRENCY)})")
    return [("behaviour score and limit changes", "; ".join(parts))]


def print_table(figures: dict[str, Any], db_path: Path | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"creditpay demo: {figures['customers']:,} consumers, "
                        f"{figures['merchants']:,} merchants, {figures['days']} business days")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in rows(figures):
        table.add_row(name, value)
    console = Console()
    console.print(table)
    if db_path is not None:
        console.print(f"Database: {db_path}\nLook at it with: creditpay ledger accounts --db"
                      f" {db_path}   |   creditpay ledger verify --db {db_path}")


# ------------------------------------------------------------------------ pure computations

def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def precision_recall_series(fraud_daily: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per day of ``fraud_daily``: ``precision`` = flagged_fraud / flagged (share of the
    payments screening held that were fraud), ``recall`` = caught / attempted (share of fraud
    attempts caught), and both cumulated from the first day. Shares 0..1; None where the
    denominator is 0."""
    out = []
    flagged = flagged_fraud = attempted = caught = 0
    for day in fraud_daily:
        flagged += day.get("flagged", 0)
        flagged_fraud += day.get("flagged_fraud", 0)
        attempted += day.get("attempted", 0)
        caught += day.get("caught", 0)
        out.append({"date": day["date"],
                    "precision": _ratio(day.get("flagged_fraud", 0), day.get("flagged", 0)),
                    "recall": _ratio(day.get("caught", 0), day.get("attempted", 0)),
                    "cumulative_precision": _ratio(flagged_fraud, flagged),
                    "cumulative_recall": _ratio(caught, attempted)})
    return out


def grade_outcomes(applications: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per risk grade (sorted): applications, approved, bad (approved and ever 30+ days past
    due), ``approval_rate`` = approved / applications and ``bad_rate`` = bad / approved
    (shares 0..1, None when there were no approvals)."""
    counts: dict[str, list[int]] = {}
    for application in applications:
        tally = counts.setdefault(str(application["grade"]), [0, 0, 0])
        tally[0] += 1
        if application.get("approved"):
            tally[1] += 1
            tally[2] += 1 if application.get("bad") else 0
    return {grade: {"applications": n, "approved": approved, "bad": bad,
                    "approval_rate": approved / n, "bad_rate": _ratio(bad, approved)}
            for grade, (n, approved, bad) in sorted(counts.items())}


# --------------------------------------------------------------------------------- the plots

def _layout(figure: Any, title: str, x_title: str, y_title: str, **layout: Any) -> Any:
    """Title, axis titles and height; a business-date x axis is a date axis (not text)."""
    if x_title == "business date":
        layout.setdefault("xaxis_type", "date")
    figure.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title,
                         height=layout.pop("height", 450), **layout)
    return figure


WARNING_COLOUR = "#b35900"
WARNING_LINE_CHARS = 110  # a warning under a title is wrapped at about this many characters


def chart_warnings_of(figures: Figures, chart: str) -> list[str]:
    """The messages of ``figures["warnings"]`` for ``chart`` (creditpay.sim.book_charts)."""
    return [str(w["message"]) for w in figures.get("warnings") or [] if w.get("chart") == chart]


def _wrap(text: str, width: int = WARNING_LINE_CHARS) -> str:
    """``text`` escaped, with a ``<br>`` between lines of at most ``width`` characters."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(html.escape(line) for line in lines)


def _warn(figure: Any, figures: Figures, chart: str) -> Any:
    """The chart's horizon warnings, if any, right under its title (a warning sign and the
    message, wrapped; the rule is in the note under the chart), with room made for them."""
    messages = chart_warnings_of(figures, chart)
    if not messages:
        return figure
    text = "<br>".join(_wrap("⚠ horizon too short: " + m) for m in messages)
    lines = text.count("<br>") + 1
    top = 70 + 17 * lines
    # An annotation above the plot area, not a second title line: plotly.js places a
    # multi-line title anchored at its top badly, and cuts its first line.
    figure.add_annotation(text=text, xref="paper", x=0, xanchor="left", yref="paper", y=1,
                          yanchor="bottom", yshift=8, showarrow=False, align="left",
                          font={"size": 12, "color": WARNING_COLOUR})
    figure.update_layout(title={"yref": "container", "y": 1 - 12 / figure.layout.height
                                if figure.layout.height else 0.97, "yanchor": "top"},
                         margin={"t": top + 20})
    return figure


def _mark_shock(figure: Any, shock: Mapping[str, Any] | None, dates: Sequence[str]) -> None:
    """A dashed vertical line across the whole plot at the shock's business date. The date
    axis is then fixed to ``dates`` (and the shock) so the label cannot stretch it."""
    if not shock or not shock.get("date"):
        return
    figure.add_shape(type="line", xref="x", yref="paper", x0=shock["date"], x1=shock["date"],
                     y0=0, y1=1, line={"color": SHOCK_COLOUR, "dash": "dash", "width": 2})
    figure.add_annotation(x=shock["date"], xref="x", y=1, yref="paper", yanchor="bottom",
                          yshift=24, showarrow=False, font={"color": SHOCK_COLOUR},
                          text=html.escape(f"shock: {_shock_text(shock)}"))
    figure.update_xaxes(range=_date_range([*dates, shock["date"]]))


def _date_range(dates: Sequence[str]) -> list[str]:
    """[first, last] ISO dates padded by 2% of the span (at least a day) on each side."""
    days = sorted(dt.date.fromisoformat(str(d)[:10]) for d in dates)
    pad = dt.timedelta(days=max(1, round((days[-1] - days[0]).days * 0.02)))
    return [(days[0] - pad).isoformat(), (days[-1] + pad).isoformat()]


def _outstanding_plot(figures: Figures) -> Any:
    import plotly.graph_objects as go

    series = figures["series"]
    dates = [point["date"] for point in series]
    figure = go.Figure()
    for product in sorted({p for point in series for p in point["outstanding_minor"]}):
        figure.add_trace(go.Scatter(
            x=dates, y=[point["outstanding_minor"].get(product, 0) / MINOR_PER_UNIT
                        for point in series],
            mode="lines+markers", name=_label(product), stackgroup="one"))
    return _layout(figure, "Credit outstanding by product (CNY)", "business date", "CNY",
                   yaxis_rangemode="tozero")


def _delinquency_plot(figures: Figures) -> Any:
    """Past-due principal per bucket (CNY, stacked), each bar's share of the credit
    outstanding that day in its hover text."""
    import plotly.graph_objects as go

    series = figures["series"]
    dates = [point["date"] for point in series]
    outstanding = [sum(int(v) for v in point["outstanding_minor"].values()) for point in series]
    figure = go.Figure()
    for bucket in sorted({b for point in series for b in point["delinquency"]} - {"M0"}):
        amounts = [int(point["delinquency"].get(bucket, {}).get("principal_minor", 0))
                   for point in series]
        figure.add_trace(go.Bar(
            x=dates, y=[a / MINOR_PER_UNIT for a in amounts], name=bucket,
            customdata=[_share(a, total) for a, total in zip(amounts, outstanding, strict=True)],
            hovertemplate=f"{bucket} %{{x}}: %{{y:,.2f}} CNY, %{{customdata}} of the credit "
                          "outstanding<extra></extra>"))
    return _warn(_layout(figure, "Past-due principal by delinquency bucket (CNY)",
                         "business date", "CNY", barmode="stack", yaxis_rangemode="tozero"),
                 figures, "delinquency")


def _approval_plot(figures: Figures) -> Any:
    import plotly.graph_objects as go

    grades = figures["approval_by_grade"]
    figure = go.Figure(go.Bar(x=list(grades), y=[v["rate"] for v in grades.values()],
                              text=[f"{v['approved']}/{v['applications']}"
                                    for v in grades.values()]))
    return _layout(figure, "Approval rate by risk grade", "grade", "approved share",
                   yaxis_range=[0, 1.05], yaxis_tickformat=".0%")


def _revenue_plot(figures: Figures) -> Any:
    import plotly.graph_objects as go

    series = figures["series"]
    dates = [point["date"] for point in series]
    figure = go.Figure()
    for source in sorted({s for point in series for s in point["revenue_minor"]}):
        figure.add_trace(go.Scatter(
            x=dates, y=[point["revenue_minor"].get(source, 0) / MINOR_PER_UNIT
                        for point in series],
            mode="lines", name=_label(source)))
    return _layout(figure, "Cumulative revenue by source (CNY)", "business date", "CNY",
                   yaxis_rangemode="tozero")


VINTAGE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                   "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def _vintage_plot(figures: Figures) -> Any | None:
    """Balance-weighted vintage curves (``vintage_balance_curves``) when the figures have
    them, else the older count-based ones."""
    if figures.get("vintage_balance_curves") is not None:
        return _balance_vintage_plot(figures)
    return _count_vintage_plot(figures)


def _balance_vintage_plot(figures: Figures) -> Any | None:
    """Per opening month: 30+ dpd and written-off principal / principal lent, by months on
    book, with its 95 % bootstrap interval as a band; a vintage under the months on book its
    measure needs is dashed. The count-based rate and its Wilson interval are in the hover
    text. An empty chart still carries its warning."""
    import plotly.graph_objects as go

    from creditpay.sim.book_charts import VINTAGE_MONTHS_ON_BOOK_MIN

    vintages = [v for v in figures.get("vintage_balance_curves") or [] if v.get("curve")]
    if not vintages and not chart_warnings_of(figures, "vintages"):
        return None
    figure = go.Figure()
    for i, vintage in enumerate(vintages):
        colour = VINTAGE_COLOURS[i % len(VINTAGE_COLOURS)]
        points = vintage["curve"]
        x = [p["months_on_book"] for p in points]
        name = f"{vintage['vintage']} ({points[-1]['accounts']:,} accounts)"
        figure.add_trace(go.Scatter(
            x=x + x[::-1], y=[p["bad_share_high"] for p in points]
            + [p["bad_share_low"] for p in points][::-1], fill="toself", fillcolor=colour,
            opacity=0.15, line={"width": 0}, hoverinfo="skip", showlegend=False,
            legendgroup=vintage["vintage"]))
        young = points[-1]["months_on_book"] < VINTAGE_MONTHS_ON_BOOK_MIN
        figure.add_trace(go.Scatter(
            x=x, y=[p["bad_share"] for p in points], mode="lines+markers",
            name=name + (" (too young)" if young else ""), legendgroup=vintage["vintage"],
            line={"color": colour, "dash": "dash" if young else "solid"},
            marker={"size": 7, "symbol": ["circle" if p["month_end"] else "circle-open"
                                          for p in points]},
            customdata=[[p["date"], p["bad_share_low"], p["bad_share_high"],
                         money_text(int(p["bad_minor"]), CURRENCY),
                         money_text(int(p["originated_minor"]), CURRENCY), p["bad_accounts"],
                         p["accounts"], p["bad_accounts_low"], p["bad_accounts_high"]]
                        for p in points],
            hovertemplate=(
                "%{customdata[0]}, %{x:.2f} months on book<br>bad balance %{y:.2%} "
                "(95% interval %{customdata[1]:.2%} to %{customdata[2]:.2%}): "
                "%{customdata[3]} of %{customdata[4]} lent<br>bad accounts %{customdata[5]} "
                "of %{customdata[6]} (Wilson 95% %{customdata[7]:.1%} to "
                "%{customdata[8]:.1%})<extra></extra>")))
    top = max([p["bad_share_high"] for v in vintages for p in v["curve"]] + [0.05])
    figure = _layout(
        figure, "Vintage curves: bad principal (30+ days past due or written off) / principal "
        "lent, with 95% intervals", "months on book (0 = end of the opening month)",
        "bad principal / principal lent", yaxis_tickformat=".1%",
        yaxis_range=[0, min(1.0, top * 1.1)], xaxis_rangemode="tozero",
        legend_title="vintage (opened)")
    return _warn(figure, figures, "vintages")


def _count_vintage_plot(figures: Figures) -> Any | None:
    """Older figures: one line per month of opening, share of its accounts ever 30+ days
    past due, by days on book."""
    import plotly.graph_objects as go

    vintages = [v for v in figures.get("vintage_curves") or [] if v.get("curve")]
    if not vintages:
        return None
    figure = go.Figure()
    for vintage in vintages:
        figure.add_trace(go.Scatter(
            x=[p["days_on_book"] for p in vintage["curve"]],
            y=[p["bad_share"] for p in vintage["curve"]], mode="lines+markers",
            marker={"size": 4}, name=f"{vintage['vintage']} ({vintage['accounts']:,} accounts)"))
    return _layout(figure, "Vintage curves: share of accounts ever 30+ days past due",
                   "days on book (from the 1st of the opening month)",
                   "share of accounts 30+ DPD", yaxis_tickformat=".0%",
                   yaxis_rangemode="nonnegative", xaxis_rangemode="tozero",
                   legend_title="vintage (opened)")


def _has_value(points: Sequence[Mapping[str, Any]], *keys: str) -> bool:
    return any(point.get(key) is not None for point in points for key in keys)


ROLL_STATE_LABELS = {"current": "current", "M1": "M1 (1-30 dpd)", "M2": "M2 (31-60)",
                     "M3": "M3 (61-90)", "M4+": "M4+ (91+)", "written_off": "written off",
                     "closed": "closed (paid off)"}
ROLL_MONTHS_SHOWN = 6  # the latest months drawn; every month is in figures.json


def _roll_matrix_plot(figures: Figures) -> Any | None:
    """The monthly roll-rate matrices as heat maps, one column per month (the latest
    ``ROLL_MONTHS_SHOWN``), by balance (top row) and by count (bottom row): a row is the
    state at the previous month end, a column the state at the month end, each cell the
    share of the row's receivable (or accounts) that went there, labelled. Rows that held
    nothing are blank. An empty chart still carries its warning."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if "roll_rate_matrix" not in figures:
        return None
    months = (figures.get("roll_rate_matrix") or [])[-ROLL_MONTHS_SHOWN:]
    if not months:
        if not chart_warnings_of(figures, "roll_rate_matrix"):
            return None
        return _warn(_layout(go.Figure(), "Monthly roll-rate matrix", "", "", height=250,
                             xaxis_visible=False, yaxis_visible=False),
                     figures, "roll_rate_matrix")
    figure = make_subplots(
        rows=2, cols=len(months), shared_yaxes=True, horizontal_spacing=0.03,
        vertical_spacing=0.16,
        subplot_titles=[f"{m['month']} by balance" for m in months]
        + [f"{m['month']} by count" for m in months])
    for col, month in enumerate(months, start=1):
        to_labels = [ROLL_STATE_LABELS.get(s, s) for s in month["to_states"]]
        from_labels = [f"{ROLL_STATE_LABELS.get(s, s)}" for s in month["from_states"]]
        for row, (key, amounts, totals) in enumerate((
                ("balance_share", month["balance_minor"], month["from_balance_minor"]),
                ("accounts_share", month["accounts"], month["from_accounts"])), start=1):
            shares = month[key]
            unit = [[money_text(int(v), CURRENCY) if row == 1 else f"{v:,} accounts"
                     for v in line] for line in amounts]
            of = [money_text(int(t), CURRENCY) if row == 1 else f"{t:,} accounts"
                  for t in totals]
            figure.add_trace(go.Heatmap(
                x=to_labels, y=from_labels, z=shares, zmin=0, zmax=1,
                colorscale=[[0, "#f7fbff"], [1, "#08306b"]], showscale=col == 1 and row == 1,
                colorbar={"tickformat": ".0%", "title": {"text": "share"}, "len": 0.45,
                          "y": 0.78},
                text=[["" if v is None else f"{v:.0%}" for v in line] for line in shares],
                texttemplate="%{text}", xgap=2, ygap=2,
                customdata=[[[u, t] for u in line] for line, t in zip(unit, of, strict=True)],
                hovertemplate=(f"{month['previous_month_end']} %{{y}} → {month['month_end']} "
                               "%{x}: %{z:.1%} (%{customdata[0]} of %{customdata[1]})"
                               "<extra></extra>")), row=row, col=col)
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_xaxes(type="category", tickangle=-35)
    for row, side in ((1, "state at the previous month end"), (2, "state at the previous "
                                                                  "month end")):
        figure.update_yaxes(title_text=side, row=row, col=1)
    figure.update_xaxes(title_text="state at the month end", row=2, col=1)
    figure.update_layout(
        title="Monthly roll-rate matrix: where each delinquency state's receivable (top) and "
              "accounts (bottom) were one month end later", height=760)
    return _warn(figure, figures, "roll_rate_matrix")


def _score_plot(figures: Figures) -> Any | None:
    """Box plot of application score (points) per risk grade."""
    import plotly.graph_objects as go

    scores: dict[str, list[float]] = {}
    for application in figures.get("applications_detail") or []:
        if application.get("score") is not None:
            scores.setdefault(str(application["grade"]), []).append(application["score"])
    if not scores:
        return None
    figure = go.Figure()
    for grade, values in sorted(scores.items()):
        figure.add_trace(go.Box(y=values, name=f"{grade} (n={len(values):,})",
                                boxpoints="outliers"))
    return _layout(figure, "Application score distribution by risk grade",
                   "risk grade (applications)", "application score (points)",
                   showlegend=False)


def _grade_outcome_plot(figures: Figures) -> Any | None:
    """Approval rate (of applications) and bad rate (of approvals) per grade, shares 0..1."""
    import plotly.graph_objects as go

    outcomes = grade_outcomes(figures.get("applications_detail") or [])
    if not outcomes:
        return None
    grades = list(outcomes)
    figure = go.Figure([
        go.Bar(x=grades, y=[o["approval_rate"] for o in outcomes.values()],
               name="approval rate (approved / applications)", textposition="outside",
               text=[f"{o['approved']}/{o['applications']}" for o in outcomes.values()]),
        go.Bar(x=grades, y=[o["bad_rate"] for o in outcomes.values()],
               name="bad rate (ever 30+ DPD / approved)", textposition="outside",
               text=[f"{o['bad']}/{o['approved']}" for o in outcomes.values()]),
    ])
    return _warn(_layout(figure, "Approval rate and bad rate (30+ days past due) by risk grade",
                         "risk grade", "share", barmode="group", yaxis_range=[0, 1.1],
                         yaxis_tickformat=".0%"), figures, "grade_outcomes")


def _fraud_plot(figures: Figures) -> Any | None:
    """Cumulative precision and recall of fraud screening as lines; daily ones as faint dots."""
    import plotly.graph_objects as go

    points = precision_recall_series(figures.get("fraud_daily") or [])
    if not _has_value(points, "precision", "recall"):
        return None
    dates = [p["date"] for p in points]
    meaning = {"precision": "payments held that were fraud",
               "recall": "fraud attempts caught"}
    colours = {"precision": "#1f77b4", "recall": "#2ca02c"}
    figure = go.Figure()
    for key, colour in colours.items():
        figure.add_trace(go.Scatter(x=dates, y=[p[f"cumulative_{key}"] for p in points],
                                    mode="lines", line={"color": colour, "width": 3},
                                    name=f"{key}, cumulative ({meaning[key]})"))
        figure.add_trace(go.Scatter(x=dates, y=[p[key] for p in points], mode="markers",
                                    marker={"color": colour, "size": 7}, opacity=0.3,
                                    name=f"{key}, that day"))
    _mark_shock(figure, figures.get("shock"), dates)
    _mark_unmatured_labels(figure, figures, dates)
    return _warn(_layout(figure, "Fraud screening precision and recall over time",
                         "business date", "share", legend_orientation="h", legend_y=-0.25,
                         yaxis_tickformat=".0%", yaxis_range=[0, 1.05]), figures, "fraud")


def _mark_unmatured_labels(figure: Any, figures: Figures, dates: Sequence[str]) -> None:
    """Shade the last days whose fraud labels may still arrive (``fraud_label_days`` in
    ``figures["horizon"]``; nothing when the figures do not say)."""
    days = (figures.get("horizon") or {}).get("fraud_label_days")
    if not days or not dates:
        return
    last = dt.date.fromisoformat(str(dates[-1])[:10])
    first = max(dt.date.fromisoformat(str(dates[0])[:10]), last - dt.timedelta(days=days - 1))
    figure.add_vrect(x0=(first - dt.timedelta(hours=12)).isoformat(),
                     x1=(last + dt.timedelta(days=1)).isoformat(), fillcolor="#cccccc",
                     opacity=0.3, line_width=0, annotation_text="labels not matured",
                     annotation_position="top left")


def _alert_hover(alert: Mapping[str, Any]) -> str:
    return "<br>".join(html.escape(line) for line in (
        f"{alert['date']} {alert['severity']}: {_label(alert['monitor'])}",
        f"value {_alert_value_text(alert)}",
        f"playbook: {_label(str(alert.get('playbook', '')))}"))


def _alert_value_text(alert: Mapping[str, Any]) -> str:
    """The alert's value against its dynamic band, as percentages (every monitored metric
    is a share 0..1)."""
    return (f"{alert['value']:.2%} vs band {alert['lower']:.2%} to {alert['upper']:.2%} "
            f"(centre {alert['centre']:.2%})")


def _timeline_metrics(figures: Figures) -> list[str]:
    """Monitored metrics to draw: those with any daily value or any alert, known ones first."""
    daily = figures.get("daily_metrics") or []
    alerted = {alert["metric"] for alert in figures.get("alerts") or []}
    names = {key for point in daily for key in point if key != "date"} | alerted
    # Daily roll rates are not monitored in the sim (a book billed on one day a month rolls
    # once a month): the monthly roll-rate matrix shows them; drawn here only if alerted.
    wanted = {name for name in names if name in alerted
              or (_measured_days(daily, name) >= PANEL_DAYS_MIN
                  and name not in DAILY_ROLL_METRICS)}
    order = list(METRIC_LABELS)
    return sorted(wanted, key=lambda n: (order.index(n) if n in order else len(order), n))


# A monitored rate is measured only on days with enough in its denominator (the early-warning
# minimum sample): a panel with a handful of points says nothing, so it is left out and named.
PANEL_DAYS_MIN = 7


def _measured_days(daily: Sequence[Mapping[str, Any]], name: str) -> int:
    return sum(1 for point in daily if point.get(name) is not None)


def _thin_metrics_note(figures: Figures, drawn: Sequence[str]) -> str:
    """Which monitored metrics are not drawn because too few days were measured."""
    daily = figures.get("daily_metrics") or []
    names = sorted({key for point in daily for key in point if key != "date"}
                   - set(drawn) - set(DAILY_ROLL_METRICS))
    thin = [f"{METRIC_LABELS.get(n, _label(n))}: measured on {_measured_days(daily, n)} of "
            f"{len(daily)} days" for n in names]
    if not thin:
        return ""
    return ("<br><sub>Not drawn (a day is measured only with enough in its denominator, "
            "the monitors' minimum sample): " + "; ".join(thin) + "</sub>")


def _alerts_timeline_plot(figures: Figures) -> Any | None:
    """One panel per monitored daily metric (a share 0..1): the metric as a line, each alert
    as a marker coloured by severity with its band as an error bar around the centre, and a
    dashed line at the shock."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    metrics = _timeline_metrics(figures)
    if not metrics:
        return None
    daily = figures.get("daily_metrics") or []
    alerts = figures.get("alerts") or []
    figure = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True,
                           vertical_spacing=0.25 / len(metrics),
                           subplot_titles=[METRIC_LABELS.get(m, _label(m)) for m in metrics])
    legend_shown: set[str] = set()
    for row, metric in enumerate(metrics, start=1):
        figure.add_trace(go.Scatter(
            x=[p["date"] for p in daily], y=[p.get(metric) for p in daily],
            mode="lines+markers", marker={"size": 4}, line={"color": "#4c72b0"},
            name=METRIC_LABELS.get(metric, _label(metric)),
            showlegend=False), row=row, col=1)
        for severity in ("warning", "critical"):
            raised = [a for a in alerts if a["metric"] == metric and a["severity"] == severity]
            if raised:
                _add_alert_traces(figure, raised, severity, row, legend_shown)
        # 0 to a little above the highest value or alert band drawn (bands are clipped to
        # 1): autorange pads markers and error bars past 100%, a share never gets there.
        drawn = [p[metric] for p in daily if p.get(metric) is not None] + [
            min(a[key], 1.0) for a in alerts if a["metric"] == metric for key in ("value",
                                                                                   "upper")]
        figure.update_yaxes(tickformat=".1%", title_text="share",
                            range=[0, min(1.05, max([*drawn, 0.01]) * 1.15)], row=row, col=1)
    figure.update_xaxes(title_text="business date", row=len(metrics), col=1)
    _mark_shock(figure, figures.get("shock"),
                [p["date"] for p in daily] + [a["date"] for a in alerts])
    figure.update_layout(title="Early-warning monitors and alerts over time"
                         + _thin_metrics_note(figures, metrics),
                         height=150 + 230 * len(metrics), legend_orientation="h",
                         legend_y=-0.08 if len(metrics) > 2 else -0.2)
    figure.update_xaxes(type="date")
    return _warn(figure, figures, "alerts")


def _add_alert_traces(figure: Any, alerts: Sequence[Mapping[str, Any]], severity: str,
                      row: int, legend_shown: set[str]) -> None:
    """Alert markers for one severity in one panel, and their bands (lower..upper, centre)
    drawn clipped to the shares' 0..1 (the table under the plot gives the band unclipped)."""
    import plotly.graph_objects as go

    colour = SEVERITY_COLOURS.get(severity, "#9467bd")
    dates = [a["date"] for a in alerts]
    centres = [min(max(a["centre"], 0.0), 1.0) for a in alerts]
    figure.add_trace(go.Scatter(
        x=dates, y=centres, mode="markers",
        marker={"symbol": "line-ew-open", "size": 12, "color": colour}, opacity=0.8,
        error_y={"type": "data", "symmetric": False, "color": colour, "thickness": 2,
                 "array": [min(a["upper"], 1.0) - c for a, c in zip(alerts, centres, strict=True)],
                 "arrayminus": [c - max(a["lower"], 0.0)
                                for a, c in zip(alerts, centres, strict=True)]},
        name=f"{severity} alert: band (centre, lower to upper)", legendgroup=f"band-{severity}",
        showlegend=f"band-{severity}" not in legend_shown, hoverinfo="skip"), row=row, col=1)
    figure.add_trace(go.Scatter(
        x=dates, y=[a["value"] for a in alerts], mode="markers",
        marker={"color": colour, "size": 11, "symbol": "diamond",
                "line": {"color": "white", "width": 1}},
        name=f"{severity} alert", legendgroup=severity, showlegend=severity not in legend_shown,
        hovertext=[_alert_hover(a) for a in alerts], hoverinfo="text"), row=row, col=1)
    legend_shown.update({severity, f"band-{severity}"})


def _apr_plot(figures: Figures) -> Any | None:
    """Accepted credit offers per all-in APR band (count), labelled with the amount in CNY."""
    import plotly.graph_objects as go

    bands = figures.get("apr_distribution") or []
    if not bands:
        return None
    figure = go.Figure(go.Bar(
        x=[b["band"] for b in bands], y=[b["count"] for b in bands],
        text=[money_text(int(b["amount_minor"]), CURRENCY) for b in bands], textposition="outside",
        hovertemplate="%{x}: %{y:,} offers, %{text}<extra></extra>"))
    return _layout(figure, "All-in APR of accepted credit offers",
                   "all-in annual percentage rate (band)", "offers accepted (count)",
                   yaxis_rangemode="tozero")


PARTNER_BARS = (("funded_minor", "funded"), ("outstanding_minor", "outstanding"),
                ("income_minor", "income"), ("losses_minor", "losses (net)"),
                ("guarantee_paid_minor", "guarantee paid"))


def _partners_plot(figures: Figures) -> Any | None:
    """Per partner lender: funded, outstanding, income, losses and guarantee paid (CNY)."""
    import plotly.graph_objects as go

    partners = (figures.get("partners") or {}).get("partners") or []
    if not any(p["funded_minor"] for p in partners):
        return None
    names = [p["name"] for p in partners]
    figure = go.Figure([go.Bar(name=label, x=names,
                               y=[int(p[key]) / MINOR_PER_UNIT for p in partners],
                               hovertemplate=f"%{{x}}: {label} %{{y:,.2f}} CNY<extra></extra>")
                        for key, label in PARTNER_BARS])
    return _layout(figure, "Partner lenders: funded, outstanding, income and losses",
                   "partner lender", "CNY", barmode="group", yaxis_rangemode="tozero")


def _pnl_plot(figures: Figures) -> Any | None:
    """The platform's P&L as a waterfall (CNY): revenue, each cost, the net; then the
    expected loss on what is still outstanding and the net after it."""
    import plotly.graph_objects as go

    p = figures.get("pnl")
    if not p:
        return None
    steps = [("revenue", p["revenue_minor"], "relative"),
             ("funding cost", -p["funding_cost_minor"], "relative"),
             ("credit losses", -p["credit_losses_minor"], "relative"),
             ("fraud losses", -p["fraud_losses_minor"], "relative"),
             ("net", p["net_minor"], "total")]
    expected = figures.get("expected_loss_at_end")
    if expected:
        steps += [("expected loss on outstanding", -expected["expected_loss_minor"],
                   "relative"),
                  ("net after expected loss", p["net_minor"] - expected["expected_loss_minor"],
                   "total")]
    values = [int(v) / MINOR_PER_UNIT for _, v, _ in steps]
    figure = go.Figure(go.Waterfall(
        x=[name for name, _, _ in steps], y=values, measure=[m for _, _, m in steps],
        text=[f"{v:,.2f}" for v in values], textposition="outside",
        hovertemplate="%{x}: %{y:,.2f} CNY<extra></extra>"))
    return _layout(figure, "The platform's P&L over the run (CNY)", "", "CNY",
                   showlegend=False)


def _plots(figures: Figures) -> list[tuple[str, Any]]:
    """(name, Plotly figure) in page order; plots whose data is absent or empty are left out."""
    builders = (("outstanding", _outstanding_plot), ("delinquency", _delinquency_plot),
                ("approval", _approval_plot), ("revenue", _revenue_plot), ("pnl", _pnl_plot),
                ("vintages", _vintage_plot), ("roll_rate_matrix", _roll_matrix_plot),
                ("scores", _score_plot), ("grade_outcomes", _grade_outcome_plot),
                ("fraud", _fraud_plot), ("apr", _apr_plot), ("partners", _partners_plot),
                ("alerts", _alerts_timeline_plot))
    plots = [(name, build(figures)) for name, build in builders]
    return [(name, plot) for name, plot in plots if plot is not None]


# ---------------------------------------------------------------------------------- the page

HOW_TO_READ = (
    "The table gives the totals at the end of the run; money is in CNY (yuan), exact to the "
    "fen. Hover over any plot for the numbers behind it, and click a legend entry to hide or "
    "show a line. Vintage curves: each line is the credit accounts opened in one month, its "
    "principal 30+ days past due or written off as a share of the principal it lent (a "
    "pay-later line's draws), by months on book; the band is a 95% interval (a bootstrap over "
    "the vintage's accounts), a dashed line a vintage too young to show losses yet, an open "
    "marker the run's last day between month ends. The higher and steeper a line climbs, the "
    "worse that month's lending. Roll-rate matrix: for each month, where the receivable "
    "(and the accounts) in each delinquency state at the previous month end stood at this "
    "month end; each row sums to 100%; the diagonal is what stayed, right of it what rolled "
    "forward. A chart whose measure needs a longer run than this one says so under its "
    "title and in the note beneath it. Fraud precision is the share of payments held by screening that really were "
    "fraud (the rest were legitimate customers inconvenienced); recall is the share of fraud "
    "attempts that were caught. Early warning: the platform's nightly early-warning job "
    "stored these daily metrics and alerts (the same ones an operator sees under GET "
    "/v1/operator/alerts); each monitored metric is drawn as a line; a "
    "diamond marks a day its value left the dynamic band computed from the previous days "
    "(the band is drawn as an error bar around its centre), orange for a warning and red for "
    "critical; the table under the timeline lists them with the playbook to run. A dashed "
    "grey line marks the day a shock (unemployment, a fraud ring) hit the economy. Partner "
    "lenders: what each funded of the plans and cash loans of consumers who consented to "
    "share their payment data with it, its income (the interest passed to it at its own "
    "rate), its losses after its guarantee and recoveries, and its settlements' net "
    "(positive: the platform paid it; negative: it paid the platform its funding).")


def _alert_ref(alert: Mapping[str, Any]) -> str:
    """The platform alert's id and status (older figures have neither)."""
    return f"{alert['id']} ({alert.get('status', '?')})" if alert.get("id") else ""


def _alerts_table_html(alerts: Sequence[Mapping[str, Any]] | None) -> str:
    """The early-warning alerts as an HTML table (escaped), at most ``ALERT_TABLE_ROWS_MAX``."""
    if not alerts:
        return ""
    head = "".join(f"<th>{name}</th>" for name in (
        "date", "severity", "monitor", "metric (segment)", "value vs band", "playbook",
        "alert (status)"))
    body = "".join(
        f"<tr class=\"{html.escape(str(a['severity']))}\"><td>{html.escape(a['date'])}</td>"
        f"<td>{html.escape(str(a['severity']))}</td>"
        f"<td>{html.escape(_label(a['monitor']))}</td>"
        f"<td>{html.escape(_label(a['metric']))} ({html.escape(str(a.get('segment', '')))})"
        f"</td><td>{html.escape(_alert_value_text(a))}</td>"
        f"<td>{html.escape(_label(str(a.get('playbook', ''))))}</td>"
        f"<td>{html.escape(_alert_ref(a))}</td></tr>"
        for a in alerts[:ALERT_TABLE_ROWS_MAX])
    more = len(alerts) - ALERT_TABLE_ROWS_MAX
    note = (f"<p>{more:,} more alerts are listed in figures.json.</p>" if more > 0 else "")
    return (f"<h2>Early-warning alerts ({len(alerts):,})</h2>"
            f"<table class=\"alerts\"><tr>{head}</tr>{body}</table>{note}")


def _note_html(figures: Figures, chart: str) -> str:
    """The horizon the chart's measure needs (``figures["chart_rules"]``) and, when the run
    was shorter, what it lacked; empty for charts without a rule."""
    rule = (figures.get("chart_rules") or {}).get(chart)
    if not rule:
        return ""
    warnings = "".join(f"<br><strong>⚠ horizon too short:</strong> {html.escape(m)}"
                       for m in chart_warnings_of(figures, chart))
    return (f"<p class=\"note{' warned' if warnings else ''}\">Horizon this chart needs: "
            f"{html.escape(rule)}.{warnings}</p>")


STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1200px}"
         "td,th{padding:2px 12px;border-bottom:1px solid #ddd}"
         "table.figures td:last-child{text-align:right}th{text-align:left}"
         "tr.critical td:nth-child(2){color:#d62728;font-weight:bold}"
         "tr.warning td:nth-child(2){color:#ff7f0e;font-weight:bold}"
         "p.how{max-width:60em;line-height:1.4}"
         "p.note{max-width:60em;font-size:90%;color:#555;margin-top:0}"
         f"p.note.warned strong{{color:{WARNING_COLOUR}}}")


def html_report(figures: dict[str, Any]) -> str:
    """One HTML page: how to read it, the figures table, the plots (Plotly's JavaScript
    inlined with the first plot only) and the early-warning alerts under their timeline."""
    import plotly.io as pio

    table = "\n".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                      for k, v in rows(figures))
    sections = []
    for i, (name, plot) in enumerate(_plots(figures)):
        sections.append("<div>" + pio.to_html(plot, full_html=False,
                                              include_plotlyjs=(i == 0)) + "</div>")
        sections.append(_note_html(figures, name))
        if name == "alerts":
            sections.append(_alerts_table_html(figures.get("alerts")))
    title = (f"creditpay simulated economy: {figures['customers']:,} consumers, "
             f"{figures['days']} business days, seed {figures['seed']}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><h2>How to read this report</h2>"
            f"<p class=\"how\">{html.escape(HOW_TO_READ)}</p>"
            f"<table class=\"figures\">{table}</table>" + "".join(sections)
            + "</body></html>\n")


def write_reports(figures: dict[str, Any], out: Path) -> dict[str, Path]:
    """``out/figures.json`` and ``out/report.html``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"figures": out / "figures.json", "report": out / "report.html"}
    paths["figures"].write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n",
                                encoding="utf-8")
    paths["report"].write_text(html_report(figures), encoding="utf-8")
    return paths
