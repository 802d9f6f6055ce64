"""Figures of a simulated economy as a Rich table, ``figures.json`` and a self-contained HTML
report (Plotly's JavaScript is inlined: the file opens offline, no CDN)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from creditpay.money import Money

__all__ = ["write_reports", "print_table", "html_report"]

CURRENCY = "CNY"


def _money(minor: int) -> str:
    return Money(int(minor), CURRENCY).format("en")


def rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """The table's rows: (figure, value as shown)."""
    f = figures
    out = [
        ("customers / merchants / business days",
         f"{f['customers']:,} / {f['merchants']:,} / {f['days']}"),
        ("credit applications (approved / declined)",
         f"{f['applications']:,} ({f['approvals']:,} / {f['declines']:,})"),
        ("approval rate", f"{f['approval_rate']:.1%}"),
        ("approval rate by grade", ", ".join(f"{g} {v['rate']:.0%} of {v['applications']}"
                                             for g, v in f["approval_by_grade"].items())),
        ("pay-later lines opened (limits granted)",
         f"{f['credit_lines']:,} ({_money(f['credit_limit_granted_minor'])})"),
        ("installment plans taken", f"{f['installment_plans']:,}"),
    ]
    for funding, count in f["purchases"].items():
        out.append((f"purchases paid by {funding.replace('_', ' ')}",
                    f"{count:,} ({_money(f['purchases_minor'][funding])})"))
    out += [
        ("refunds", f"{f['refunds']:,} ({_money(f['refunds_minor'])})"),
        ("wallet top-ups (failed)", f"{f['topups']:,} ({f['topups_failed']:,}) "
                                    f"{_money(f['topups_minor'])}"),
        ("repayments", f"{f['repayments']:,} ({_money(f['repayments_minor'])})"),
        ("settled to merchants (net)", _money(f["settled_net_minor"])),
    ]
    for product, minor in f["outstanding_by_product_minor"].items():
        out.append((f"outstanding: {product.replace('_', ' ')}", _money(minor)))
    for bucket, v in f["delinquency_by_bucket"].items():
        out.append((f"delinquency {bucket}", f"{v['accounts']:,} accounts, "
                                             f"{_money(v['principal_minor'])}"))
    out.append(("written off", f"{f['write_offs']['accounts']:,} accounts, "
                               f"{_money(f['write_offs']['amount_minor'])}"))
    for source, minor in f["revenue_by_source_minor"].items():
        out.append((f"revenue: {source.replace('_', ' ')}", _money(minor)))
    complaints = f["complaints"]
    out.append(("complaints (by category)", f"{complaints['total']:,} " + "(" + ", ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in complaints["by_category"].items()) + ")"))
    if f["refused"]:
        out.append(("refused by the platform", ", ".join(f"{k} {v}" for k, v in
                                                         f["refused"].items())))
    out += [("ledger transfers", f"{f['transfers']:,}"),
            ("books balance (ledger verify)", "yes" if f["ledger_ok"] else "NO")]
    return out


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


def _figures_plots(figures: dict[str, Any]) -> list[Any]:
    import plotly.graph_objects as go

    series = figures["series"]
    dates = [point["date"] for point in series]
    plots = []
    outstanding = go.Figure()
    for product in sorted({p for point in series for p in point["outstanding_minor"]}):
        outstanding.add_trace(go.Scatter(
            x=dates, y=[point["outstanding_minor"].get(product, 0) / 100 for point in series],
            mode="lines+markers", name=product.replace("_", " "), stackgroup="one"))
    outstanding.update_layout(title="Credit outstanding by product (CNY)",
                              xaxis_title="business date", yaxis_title="CNY")
    plots.append(outstanding)
    delinquency = go.Figure()
    buckets = sorted({b for point in series for b in point["delinquency"]} - {"M0"})
    for bucket in buckets:
        delinquency.add_trace(go.Bar(
            x=dates, y=[point["delinquency"].get(bucket, {}).get("principal_minor", 0) / 100
                        for point in series], name=bucket))
    delinquency.update_layout(barmode="stack", xaxis_title="business date", yaxis_title="CNY",
                              title="Past-due principal by delinquency bucket (CNY)")
    plots.append(delinquency)
    grades = figures["approval_by_grade"]
    approval = go.Figure(go.Bar(x=list(grades), y=[v["rate"] for v in grades.values()],
                                text=[f"{v['approved']}/{v['applications']}"
                                      for v in grades.values()]))
    approval.update_layout(title="Approval rate by risk grade", xaxis_title="grade",
                           yaxis_title="approved share", yaxis_range=[0, 1])
    plots.append(approval)
    revenue = go.Figure()
    for source in sorted({s for point in series for s in point["revenue_minor"]}):
        revenue.add_trace(go.Scatter(
            x=dates, y=[point["revenue_minor"][source] / 100 for point in series],
            mode="lines", name=source.replace("_", " ")))
    revenue.update_layout(title="Cumulative revenue by source (CNY)",
                          xaxis_title="business date", yaxis_title="CNY")
    plots.append(revenue)
    return plots


def html_report(figures: dict[str, Any]) -> str:
    """One HTML page: the figures table and the plots, with Plotly's JavaScript inlined."""
    import plotly.io as pio

    table = "\n".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                      for k, v in rows(figures))
    plots = _figures_plots(figures)
    divs = [pio.to_html(plot, full_html=False, include_plotlyjs=(i == 0))
            for i, plot in enumerate(plots)]
    title = (f"creditpay simulated economy: {figures['customers']:,} consumers, "
             f"{figures['days']} business days, seed {figures['seed']}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;"
            "margin:2em}td{padding:2px 12px;border-bottom:1px solid #ddd}"
            "td:last-child{text-align:right}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><table>{table}</table>"
            + "".join(f"<div>{d}</div>" for d in divs) + "</body></html>\n")


def write_reports(figures: dict[str, Any], out: Path) -> dict[str, Path]:
    """``out/figures.json`` and ``out/report.html``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"figures": out / "figures.json", "report": out / "report.html"}
    paths["figures"].write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n",
                                encoding="utf-8")
    paths["report"].write_text(html_report(figures), encoding="utf-8")
    return paths
