"""The portfolio dashboard's charts (issue #16): one Plotly figure per view, built here from
the view's rows (:data:`creditpay.reporting.dashboard.VIEWS`) and drawn in the browser by
the vendored plotly.js (``static/console-charts.js`` reads the figure from the chart's
``data-figure`` attribute: no inline script under the console's CSP).

Figures are plain Plotly JSON (``{"data": [...], "layout": {...}}``; tests check each
against the plotly Python package's schema). No float holds an amount: money goes out as
the exact major-unit decimal string (``"191.50"``; plotly.js reads numeric strings on a
linear axis) and shares as exact percent strings; the hover text is the page's own money
and percent formatting (``customdata``). Every visible word is in the page's language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from creditpay.money import minor_to_decimal
from creditpay.web.framework import N_

__all__ = ["figure", "major", "percent", "STATE_NAMES"]

CURRENCY = "CNY"
# Accessible on white (each at least 3:1, WCAG 1.4.11 for graphics), told apart by hue.
COLORWAY = ["#0b57d0", "#b3261e", "#146c2e", "#8a4b00", "#6b3fa0", "#00696f", "#5f6368",
            "#a0336e", "#3d5a00", "#7a5900"]
FONT = ('system-ui, -apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB", '
        '"Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif')
STATE_NAMES = {"WO": N_("Written off"), "closed": N_("Closed")}


class Texts(Protocol):
    """What a figure needs of the page: its language's words, money and product names."""

    def gettext(self, message: str) -> str: ...

    def money(self, amount_minor: int, currency: str = CURRENCY) -> str: ...

    def product_name(self, code: str, version: int | None = None) -> str: ...


def major(amount_minor: int | None) -> str | None:
    """An amount in minor units as the exact major-unit decimal string (CNY 19150 ->
    "191.50"); None stays None (a gap in the chart)."""
    if amount_minor is None:
        return None
    return format(minor_to_decimal(amount_minor, CURRENCY), "f")


def percent(share: Decimal | None) -> str | None:
    """A share (a fraction, 6 places) as the exact percent string (0.123456 -> "12.3456")."""
    if share is None:
        return None
    return format(share * 100, "f")


def _label(text: str) -> str:
    """A label from the data (a product's name, a grade, a bucket) as plotly.js text:
    plotly.js reads a few HTML tags in labels (links, bold, styles), so ``&``, ``<`` and
    ``>`` go as entities and a name is shown as written, never as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _percent_text(share: Decimal) -> str:
    return f"{share * 100:.2f}%"


def _layout(y_title: str, x_title: str, *, x_type: str = "category",
            y_suffix: str = "", **extra: Any) -> dict[str, Any]:
    # Fixed ranges: a drag on a phone scrolls the page instead of zooming the chart.
    layout: dict[str, Any] = {
        "height": 340, "margin": {"l": 64, "r": 12, "t": 12, "b": 56},
        "font": {"family": FONT, "color": "#1a1f2b", "size": 13},
        "colorway": COLORWAY, "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
        "showlegend": True,
        # Above the plot: below it, the legend would run into the x axis's title.
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02,
                   "yanchor": "bottom", "traceorder": "normal"},
        "xaxis": {"title": {"text": x_title}, "type": x_type, "fixedrange": True,
                  "automargin": True, "linecolor": "#767d8c"},
        "yaxis": {"title": {"text": y_title}, "type": "linear", "fixedrange": True,
                  "rangemode": "tozero", "ticksuffix": y_suffix, "automargin": True,
                  "gridcolor": "#d5d9e2", "zerolinecolor": "#767d8c"},
        "hoverlabel": {"font": {"family": FONT}},
    }
    layout.update(extra)
    return layout


def _bars(name: str, x: Sequence[str], y: Sequence[str | None], hover: Sequence[str],
          ) -> dict[str, Any]:
    return {"type": "bar", "name": name, "x": list(x), "y": list(y),
            "customdata": list(hover),
            "hovertemplate": "%{x}<br>" + name + ": %{customdata}<extra></extra>"}


def _money_bars(t: Texts, name: str, x: Sequence[str], amounts: Sequence[int | None],
                counts: Sequence[int] | None = None) -> dict[str, Any]:
    hover = []
    for i, amount in enumerate(amounts):
        text = "—" if amount is None else t.money(amount)
        if counts is not None:
            text += " · " + t.gettext("{count} cases").format(count=counts[i])
        hover.append(text)
    return _bars(name, x, [major(a) for a in amounts], hover)


def _money_title(t: Texts, what: str) -> str:
    return t.gettext("{what} ({currency})").format(what=what, currency=CURRENCY)


def _receivables(t: Texts, rows: Sequence[Any]) -> dict[str, Any]:
    _ = t.gettext
    names = [_label(t.product_name(r.product_code)) for r in rows]
    trace = _money_bars(t, _("Receivable"), names, [r.receivable_minor for r in rows])
    return {"data": [trace],
            "layout": _layout(_money_title(t, _("Receivable")), _("Product"),
                              showlegend=False)}


def _dpd30(t: Texts, rows: Sequence[Any]) -> dict[str, Any]:
    from creditpay.reporting.dashboard import ALL

    _ = t.gettext
    names = [_("All products") if r.product_code == ALL
             else _label(t.product_name(r.product_code)) for r in rows]
    trace = _bars(_("30+ dpd share"), names, [percent(r.dpd30_share) for r in rows],
                  [f"{_percent_text(r.dpd30_share)} · {t.money(r.dpd30_receivable_minor)}"
                   for r in rows])
    # The all-products bar in the ink colour: it is the total, not one more product.
    trace["marker"] = {"color": ["#1a1f2b" if r.product_code == ALL else COLORWAY[0]
                                 for r in rows]}
    return {"data": [trace],
            "layout": _layout(_("30+ dpd share of receivable"), _("Product"),
                              y_suffix="%", showlegend=False)}


def _buckets(t: Texts, rows: Sequence[Any]) -> dict[str, Any]:
    _ = t.gettext
    x = [_("Receivable"), _("Accounts")]
    data = [_bars(_label(r.bucket), x, [percent(r.receivable_share), percent(r.accounts_share)],
                  [f"{_percent_text(r.receivable_share)} · {t.money(r.receivable_minor)}",
                   f"{_percent_text(r.accounts_share)} · "
                   + _("{count} accounts").format(count=r.accounts)])
            for r in rows]
    layout = _layout(_("Share of the book"), "", y_suffix="%", barmode="stack")
    layout["legend"]["title"] = {"text": _("Delinquency bucket")}
    return {"data": data, "layout": layout}


def _state(t: Texts, state: str) -> str:
    return t.gettext(STATE_NAMES[state]) if state in STATE_NAMES else _label(state)


def _roll_rates(t: Texts, rows: Sequence[Any]) -> dict[str, Any]:
    _ = t.gettext
    # Rows come ordered by (from, to) state: first appearances keep that order.
    sources = list(dict.fromkeys(r.from_state for r in rows))
    targets = list(dict.fromkeys(r.to_state for r in sorted(
        rows, key=lambda r: _target_order(r.to_state))))
    cells = {(r.from_state, r.to_state): r for r in rows}
    z: list[list[str | None]] = []
    text: list[list[str]] = []
    for source in sources:
        found = [cells.get((source, target)) for target in targets]
        z.append([percent(c.roll_share) if c else None for c in found])
        text.append([_percent_text(c.roll_share) if c else "" for c in found])
    # No colour bar (plotly.js styles it with a style attribute the CSP refuses; each cell
    # is labelled with its value instead) and gaps between cells (without them plotly.js
    # scales a pixel image with a style attribute, refused too).
    trace = {"type": "heatmap", "name": _("Roll rate"),
             "x": [_state(t, s) for s in targets], "y": [_state(t, s) for s in sources],
             "z": z, "text": text,
             "texttemplate": "%{text}", "zmin": 0, "zmax": 100, "zsmooth": False,
             "xgap": 2, "ygap": 2, "showscale": False,
             # From near-white (0%) to the brand blue (100%); plotly.js picks each label's
             # colour for contrast with its cell.
             "colorscale": [[0, "#eef3fd"], [1, COLORWAY[0]]],
             "hovertemplate": _("From {source} to {target}").format(
                 source="%{y}", target="%{x}") + ": %{text}<extra></extra>"}
    layout = _layout(_("State at the previous month end"), _("State at the month end"),
                     showlegend=False)
    layout["yaxis"].update(type="category", autorange="reversed", rangemode=None,
                           ticksuffix="", gridcolor=None)
    layout["yaxis"] = {k: v for k, v in layout["yaxis"].items() if v is not None}
    return {"data": [trace], "layout": layout}


def _target_order(state: str) -> tuple[int, str]:
    order = ("M0", "M1", "M2", "M3", "M4", "M5", "M6+", "WO", "closed")
    return (order.index(state), state) if state in order else (len(order), state)


def _vintages(t: Texts, rows: Sequence[Any]) -> dict[str, Any]:
    _ = t.gettext
    data = []
    for vintage in sorted({r.vintage for r in rows}):
        points = sorted((r for r in rows if r.vintage == vintage),
                        key=lambda r: r.months_on_book)
        data.append({"type": "scatter", "mode": "lines+markers", "name": _label(vintage),
                     "x": [r.months_on_book for r in points],
                     "y": [percent(r.bad_share) for r in points],
                     # The count-based share and its Wilson interval go with the point: the
                     # interval is on accounts, not on the amount-weighted share drawn.
                     "customdata": [_vintage_hover(t, r) for r in points],
                     "hovertemplate": _label(vintage) + " · " + _("month {n} on book").format(
                         n="%{x}") + ": %{customdata}<extra></extra>"})
    layout = _layout(_("Bad share of amount lent"),
                     _("Months on book"), x_type="linear", y_suffix="%")
    layout["xaxis"].update(dtick=1, rangemode="tozero")
    return {"data": data, "layout": layout}


def _vintage_hover(t: Texts, r: Any) -> str:
    text = _percent_text(r.bad_share)
    if r.bad_accounts_low is None or r.bad_accounts_high is None:
        return text
    return text + " · " + t.gettext(
        "bad accounts {bad}/{lent} = {share} (95% bounds: {low} to {high})").format(
        bad=r.bad_accounts, lent=r.lent_accounts, share=_percent_text(r.bad_accounts_share),
        low=_percent_text(r.bad_accounts_low), high=_percent_text(r.bad_accounts_high))


def _grades(t: Texts, rows: Sequence[Any]) -> dict[str, Any]:
    _ = t.gettext
    grades = [_label(r.grade) for r in rows]
    data = [_bars(_("Approval rate"), grades, [percent(r.approval_rate) for r in rows],
                  [f"{_percent_text(r.approval_rate)} · {r.approved}/{r.decisions}"
                   for r in rows]),
            _bars(_("Bad rate"), grades, [percent(r.bad_rate) for r in rows],
                  [f"{_percent_text(r.bad_rate)} · {r.bad_customers}/{r.approved_customers}"
                   for r in rows])]
    return {"data": data,
            "layout": _layout(_("Rate"), _("Grade"), y_suffix="%", barmode="group")}


def _fraud(t: Texts, rows: Sequence[Any]) -> dict[str, Any]:
    _ = t.gettext
    months = [_label(r.month) for r in rows]
    data = [_money_bars(t, _("Attempted"), months, [r.attempted_minor for r in rows],
                        [r.attempted for r in rows]),
            _money_bars(t, _("Caught"), months, [r.caught_minor for r in rows],
                        [r.caught for r in rows]),
            _money_bars(t, _("Lost"), months, [r.lost_minor for r in rows],
                        [r.lost for r in rows])]
    return {"data": data,
            "layout": _layout(_money_title(t, _("Amount")), _("Month"), barmode="group")}


def _revenue_losses(t: Texts, rows: Sequence[Any]) -> dict[str, Any]:
    _ = t.gettext
    months = [_label(r.month) for r in rows]
    series = [(_("Revenue"), [r.revenue_minor for r in rows]),
              (_("Write-offs"), [r.write_off_minor for r in rows]),
              (_("Fraud losses"), [r.fraud_loss_minor for r in rows])]
    # A series with no figure at all (fraud losses under a product filter) is left out
    # rather than shown as an empty legend entry.
    data = [_money_bars(t, name, months, amounts) for name, amounts in series
            if any(a is not None for a in amounts)]
    return {"data": data,
            "layout": _layout(_money_title(t, _("Amount")), _("Month"), barmode="group")}


def _pnl(t: Texts, rows: Sequence[Any]) -> dict[str, Any]:
    _ = t.gettext
    months = [_label(r.month) for r in rows]
    data = [_money_bars(t, name, months, amounts) for name, amounts in (
        (_("Revenue"), [r.revenue_minor for r in rows]),
        (_("Funding cost"), [r.funding_cost_minor for r in rows]),
        (_("Credit losses"), [r.credit_losses_minor for r in rows]),
        (_("Fraud losses"), [r.fraud_losses_minor for r in rows]))]
    net = _money_bars(t, _("Net"), months, [r.net_minor for r in rows])
    # Net is the result of the four bars, drawn over them in the ink colour.
    net.update(type="scatter", mode="lines+markers",
               line={"color": "#1a1f2b", "width": 2}, marker={"color": "#1a1f2b", "size": 8})
    data.append(net)
    return {"data": data,
            "layout": _layout(_money_title(t, _("Amount")), _("Month"), barmode="group")}


FIGURES: dict[str, Callable[[Texts, Sequence[Any]], dict[str, Any]]] = {
    "receivables": _receivables, "dpd30": _dpd30, "buckets": _buckets,
    "roll_rates": _roll_rates, "vintages": _vintages, "grades": _grades, "fraud": _fraud,
    "revenue_losses": _revenue_losses, "pnl": _pnl}


def figure(view: str, rows: Sequence[Any], texts: Texts) -> dict[str, Any] | None:
    """The Plotly figure of dashboard view ``view`` for its ``rows``, in the language of
    ``texts``; None when there is nothing to draw (no rows)."""
    if not rows:
        return None
    return FIGURES[view](texts, rows)
