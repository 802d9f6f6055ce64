"""Strategy sandbox (issue #7): one simulated population under several credit policies.

Each application policy (a zen-engine decision document, as ``creditpay policy`` takes) runs
the same economy, same seed so the same consumers apply with the same scores, into its own
fresh SQLite file, and the runs are compared side by side: approval rate, bad rate, revenue,
losses, expected profit and credit granted, with the differences of every policy from the
first one (the baseline, "A").

Definitions (also written into ``comparison.json`` under ``definitions``):

* **bad rate**: the share of approved consumers who went bad during the run, from the
  economy's ``applications_detail`` when it reports it (its definition of bad: an account
  ``creditpay.sim.monitoring.BAD_DPD`` = 30 or more days past due, or written off);
  otherwise the share of the outstanding principal that is 31+ days past due (M2+ principal /
  outstanding principal) at the end of the run. 0 when the denominator is 0. Either way the
  run must be long enough for bills to fall 30 days behind (see ``DAYS_DEFAULT``).
* **revenue**: the sum of the platform's income accounts at the end (merchant fees, interest,
  credit fees, penalty interest, recoveries).
* **losses**: principal written off plus the principal 31+ days past due still on the books,
  counted in full as an expected-loss proxy (no recovery assumed on it).
* **expected profit**: revenue minus losses; no cost of funds, operations or acquisition.

Money is integer minor units (CNY fen) throughout; rates are shares 0..1.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from creditpay.formatting import money_text

__all__ = [
    "CUSTOMERS_DEFAULT",
    "MERCHANTS_DEFAULT",
    "DAYS_DEFAULT",
    "DEFINITIONS",
    "run_sandbox",
    "check_policies",
    "summarise_run",
    "compare",
    "html_page",
    "table_rows",
    "write_outputs",
]

# Two runs of this size take about 2-2.5 minutes on the shared 2-core machine. 80 days, not
# fewer: the first bills fall due four to eight weeks after the start (statement on the 1st,
# due on the 10th) and an account goes bad 30 days after that; a shorter run shows no bad
# rate and no losses, and so cannot tell policies apart on risk.
CUSTOMERS_DEFAULT = 200
MERCHANTS_DEFAULT = 20
DAYS_DEFAULT = 80
BAD_BUCKET_MIN = 2  # M2 = 31-60 days past due: losses count M2 and worse
BAD_BUCKET_DPD_MIN = 31
POLICIES_MAX = 8  # each policy is a full economy run

DEFINITIONS = {
    "bad_rate": "share of approved consumers the economy marked bad during the run (basis "
                "'approved_consumers_went_bad', from applications_detail: an account "
                "creditpay.sim.monitoring.BAD_DPD or more days past due, or written off); when "
                "the economy does not report applications_detail, share of outstanding "
                "principal 31+ days past due at the end of the run (basis "
                "'m2plus_principal_share'); 0 when the denominator is 0",
    "revenue_minor": "sum of revenue_by_source_minor at the end of the run (merchant fees, "
                     "interest, credit fees, penalty interest, recoveries)",
    "losses_minor": "write_offs.amount_minor + principal in delinquency buckets M2 and worse "
                    "(31+ days past due), counted in full as an expected-loss proxy",
    "expected_profit_minor": "revenue_minor - losses_minor (no cost of funds, operations or "
                             "acquisition)",
    "differences": "each policy minus the first (baseline) policy: B - A",
}

# The figures differenced between policies (B - A).
_DIFFERENCED = ("applications", "approvals", "approval_rate", "bad_rate", "revenue_minor",
                "write_offs_minor", "past_due_m2plus_principal_minor", "losses_minor",
                "expected_profit_minor", "credit_limit_granted_minor",
                "purchases_credit_minor", "outstanding_minor")
_BUCKET = re.compile(r"^M(\d+)(\+?)$")


def _bucket_rank(label: str) -> int:
    """M0 -> 0, M2 -> 2, M6+ -> 7; an unknown label ranks -1 (never counted as bad)."""
    match = _BUCKET.match(label)
    if match is None:
        return -1
    return int(match.group(1)) + (1 if match.group(2) else 0)


def check_policies(policies: Sequence[Path]) -> list[Any]:
    """Load and validate every policy before any run (ValidationError names the field).

    Each must be an *application* policy: the economy activates the file as the one deciding
    credit applications.
    """
    from creditpay.errors import ValidationError
    from creditpay.risk.decisions.policy import load_policy_file

    if len(policies) < 2:
        raise ValidationError("give at least two policies to compare", field="policy")
    if len(policies) > POLICIES_MAX:
        raise ValidationError(f"at most {POLICIES_MAX} policies per sandbox run",
                              field="policy")
    loaded = []
    for path in policies:
        policy = load_policy_file(path)
        if policy.kind != "application":
            raise ValidationError(f"{path} is a {policy.kind!r} policy; the sandbox compares "
                                  "application policies", field="policy")
        loaded.append(policy)
    return loaded


def _labels(policies: Sequence[Path]) -> list[str]:
    """File stems, made unique (a/x.json and b/x.json become x and x-2)."""
    labels: list[str] = []
    for path in policies:
        label, n = path.stem, 1
        while label in labels:
            n += 1
            label = f"{path.stem}-{n}"
        labels.append(label)
    return labels


def _share(numerator: int | float, denominator: int | float) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def _bad_rate(figures: Mapping[str, Any], past_due_minor: int, outstanding_minor: int
              ) -> tuple[float, str, int | None]:
    """(bad rate, its basis, approved consumers observed or None); see DEFINITIONS."""
    detail = figures.get("applications_detail")
    if detail:
        observed = [a for a in detail if a.get("approved") and a.get("bad") is not None]
        if observed:
            bad = sum(1 for a in observed if a["bad"])
            return _share(bad, len(observed)), "approved_consumers_went_bad", len(observed)
    return (_share(past_due_minor, outstanding_minor), "m2plus_principal_share", None)


def _vintages(figures: Mapping[str, Any]) -> tuple[dict[str, float] | None,
                                                   list[dict[str, Any]] | None]:
    """Bad rate by vintage (each vintage's latest point) and the curve pooled over vintages
    (accounts-weighted bad share at each days-on-book); (None, None) without vintage_curves."""
    curves = figures.get("vintage_curves")
    if not curves:
        return None, None
    latest: dict[str, float] = {}
    pooled: dict[int, list[float]] = {}  # days on book: [weighted bad, accounts]
    for vintage in curves:
        points = sorted(vintage.get("curve") or [], key=lambda p: p["days_on_book"])
        if not points:
            continue
        latest[str(vintage["vintage"])] = round(float(points[-1]["bad_share"]), 4)
        weight = float(vintage.get("accounts") or 0)
        for point in points:
            entry = pooled.setdefault(int(point["days_on_book"]), [0.0, 0.0])
            entry[0] += weight * float(point["bad_share"])
            entry[1] += weight
    curve = [{"days_on_book": d, "bad_share": round(v[0] / v[1], 4) if v[1] else 0.0}
             for d, v in sorted(pooled.items())]
    return dict(sorted(latest.items())), curve


def summarise_run(figures: Mapping[str, Any], *, label: str, path: Path, policy: Any,
                  seconds: float) -> dict[str, Any]:
    """One policy's column of the comparison, from its run's figures."""
    revenue = sum(int(v) for v in figures["revenue_by_source_minor"].values())
    written_off = int(figures["write_offs"]["amount_minor"])
    past_due = sum(int(v["principal_minor"]) for b, v in figures["delinquency_by_bucket"].items()
                   if _bucket_rank(b) >= BAD_BUCKET_MIN)
    outstanding = sum(int(v) for v in figures["outstanding_by_product_minor"].values())
    bad_rate, basis, observed = _bad_rate(figures, past_due, outstanding)
    bad_dpd: int | None = BAD_BUCKET_DPD_MIN
    if basis == "approved_consumers_went_bad":
        try:  # the economy's threshold for "went bad"
            from creditpay.sim.monitoring import BAD_DPD as bad_dpd
        except ImportError:
            bad_dpd = None
    by_vintage, pooled = _vintages(figures)
    losses = written_off + past_due
    return {
        "label": label, "path": str(path), "policy_id": policy.policy_id,
        "version": policy.version, "content_hash": policy.content_hash,
        "applications": int(figures["applications"]), "approvals": int(figures["approvals"]),
        "approval_rate": float(figures["approval_rate"]),
        "approval_by_grade": figures["approval_by_grade"],
        "bad_rate": bad_rate, "bad_rate_basis": basis, "bad_rate_observed_consumers": observed,
        "bad_dpd_min": bad_dpd,
        "bad_rate_by_vintage": by_vintage, "bad_share_by_days_on_book": pooled,
        "revenue_minor": revenue, "revenue_by_source_minor": figures["revenue_by_source_minor"],
        "write_offs_minor": written_off, "past_due_m2plus_principal_minor": past_due,
        "losses_minor": losses, "expected_profit_minor": revenue - losses,
        "credit_limit_granted_minor": int(figures["credit_limit_granted_minor"]),
        "purchases_credit_minor": int(figures["purchases_credit_minor"]),
        "outstanding_minor": outstanding,
        "delinquency_by_bucket": figures["delinquency_by_bucket"],
        "ledger_ok": bool(figures["ledger_ok"]), "seconds": round(seconds, 2),
    }


def compare(summaries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every policy after the first minus the first (B - A); rates to 4 decimals."""
    baseline = summaries[0]
    out = []
    for other in summaries[1:]:
        diff: dict[str, Any] = {"policy": other["label"], "baseline": baseline["label"]}
        for key in _DIFFERENCED:
            delta = other[key] - baseline[key]
            diff[key] = round(delta, 4) if isinstance(delta, float) else delta
        out.append(diff)
    return out


def run_sandbox(policies: list[Path], *, customers: int, merchants: int, days: int, seed: int,
                workdir: Path, progress: bool = True) -> dict[str, Any]:
    """Run the economy once per policy (same seed: same population, same applicants) into
    ``workdir/<n>-<policy>.db`` and write ``workdir/comparison.json`` and
    ``workdir/sandbox.html``. Returns the comparison (see the module docstring for the
    definitions); raises ValidationError (field ``policy``) before any run when a policy
    file is missing, invalid, not an application policy, or fewer than two are given."""
    from creditpay.sim.economy import EconomyConfig, run_economy

    loaded = check_policies(policies)
    labels = _labels(policies)
    workdir.mkdir(parents=True, exist_ok=True)
    console = None
    if progress:
        from rich.console import Console

        console = Console(stderr=True)
    summaries, databases = [], []
    for n, (path, label, policy) in enumerate(zip(policies, labels, loaded, strict=True), 1):
        db_path = workdir / f"{n}-{label}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)
        if console is not None:
            console.log(f"policy {n}/{len(policies)}: {label} ({policy.policy_id} "
                        f"{policy.version}) -> {db_path}")
        started = time.perf_counter()
        figures, _ = run_economy(EconomyConfig(
            customers=customers, merchants=merchants, days=days, seed=seed,
            database_url=f"sqlite:///{db_path}", progress=progress, policy_path=Path(path)))
        summaries.append(summarise_run(figures, label=label, path=path, policy=policy,
                                       seconds=time.perf_counter() - started))
        databases.append(str(db_path))
    comparison: dict[str, Any] = {
        "sandbox": {"customers": customers, "merchants": merchants, "days": days,
                    "seed": seed,
                    # Same seed, same applicants: a difference here means the runs diverged
                    # before any policy decided anything.
                    "same_applicants": len({s["applications"] for s in summaries}) == 1},
        "definitions": DEFINITIONS,
        "baseline": summaries[0]["label"],
        "policies": summaries,
        "differences": compare(summaries),
        "databases": databases,
    }
    comparison["files"] = {k: str(v) for k, v in write_outputs(comparison, workdir).items()}
    return comparison


# -- report --------------------------------------------------------------------------------


def _bars(comparison: Mapping[str, Any]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    metrics = (("approval_rate", "Approval rate", 1), ("bad_rate", "Bad rate", 1),
               ("revenue_minor", "Revenue (CNY)", 100), ("losses_minor", "Losses (CNY)", 100),
               ("expected_profit_minor", "Expected profit (CNY)", 100))
    figure = make_subplots(rows=1, cols=len(metrics), subplot_titles=[m[1] for m in metrics])
    for i, policy in enumerate(comparison["policies"]):
        for col, (key, _, divisor) in enumerate(metrics, 1):
            value = policy[key] / divisor
            figure.add_trace(go.Bar(
                x=[policy["label"]], y=[value], name=policy["label"],
                legendgroup=policy["label"], showlegend=col == 1,
                marker_color=_COLOURS[i % len(_COLOURS)],
                text=[f"{value:.1%}" if divisor == 1 else f"{value:,.0f}"],
                textposition="outside"), row=1, col=col)
    for col in (1, 2):
        figure.update_yaxes(tickformat=".0%", row=1, col=col)
    figure.update_layout(title="Policies side by side (same population, same seed)",
                         height=460, bargap=0.25)
    return figure


def _vintage_plots(comparison: Mapping[str, Any]) -> list[Any]:
    """Bad rate by vintage (one line per policy) and the pooled curve by days on book."""
    import plotly.graph_objects as go

    policies = [p for p in comparison["policies"] if p["bad_rate_by_vintage"]]
    if not policies:
        return []
    by_vintage, by_days = go.Figure(), go.Figure()
    for i, policy in enumerate(policies):
        colour = {"color": _COLOURS[i % len(_COLOURS)]}
        vintages = policy["bad_rate_by_vintage"]
        by_vintage.add_trace(go.Scatter(x=list(vintages), y=list(vintages.values()),
                                        mode="lines+markers", name=policy["label"],
                                        line=colour))
        curve = policy["bad_share_by_days_on_book"] or []
        by_days.add_trace(go.Scatter(
            x=[p["days_on_book"] for p in curve], y=[p["bad_share"] for p in curve],
            mode="lines+markers", name=policy["label"], line=colour))
    by_vintage.update_layout(title="Bad rate by vintage (month opened), at the end of the run",
                             xaxis_title="vintage", xaxis_type="category",
                             yaxis_title="share of accounts 31+ DPD", yaxis_tickformat=".0%")
    by_days.update_layout(title="Bad share by days on book, vintages pooled "
                                "(accounts-weighted)",
                          xaxis_title="days on book since the vintage's first day",
                          yaxis_title="share of accounts 31+ DPD", yaxis_tickformat=".0%")
    return [by_vintage, by_days]


_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f")


def table_rows(comparison: Mapping[str, Any]) -> list[tuple[str, list[str], list[str]]]:
    """(figure, value per policy, difference from the baseline per other policy), as shown."""
    policies, diffs = comparison["policies"], comparison["differences"]

    def pct(v: float) -> str:
        return f"{v:.1%}"

    def pct_diff(v: float) -> str:
        return f"{v * 100:+.1f} pt"

    def cny_diff(v: int) -> str:
        return ("+" if v >= 0 else "-") + money_text(int(abs(v)), "CNY")

    spec = (("policy (id version)", lambda p: f"{p['policy_id']} {p['version']}", None, None),
            ("applications", lambda p: f"{p['applications']:,}", "applications",
             lambda v: f"{v:+,}"),
            ("approvals", lambda p: f"{p['approvals']:,}", "approvals", lambda v: f"{v:+,}"),
            ("approval rate", lambda p: pct(p["approval_rate"]), "approval_rate", pct_diff),
            ("bad rate", lambda p: pct(p["bad_rate"]), "bad_rate", pct_diff),
            ("limits granted", lambda p: money_text(int(p["credit_limit_granted_minor"]), "CNY"),
             "credit_limit_granted_minor", cny_diff),
            ("credit purchases", lambda p: money_text(int(p["purchases_credit_minor"]), "CNY"),
             "purchases_credit_minor", cny_diff),
            ("outstanding", lambda p: money_text(int(p["outstanding_minor"]), "CNY"),
             "outstanding_minor", cny_diff),
            ("revenue", lambda p: money_text(int(p["revenue_minor"]), "CNY"), "revenue_minor",
             cny_diff),
            ("written off", lambda p: money_text(int(p["write_offs_minor"]), "CNY"),
             "write_offs_minor", cny_diff),
            ("31+ DPD principal",
             lambda p: money_text(int(p["past_due_m2plus_principal_minor"]), "CNY"),
             "past_due_m2plus_principal_minor", cny_diff),
            ("losses", lambda p: money_text(int(p["losses_minor"]), "CNY"),
             "losses_minor", cny_diff),
            ("expected profit", lambda p: money_text(int(p["expected_profit_minor"]), "CNY"),
             "expected_profit_minor", cny_diff),
            ("books balance", lambda p: "yes" if p["ledger_ok"] else "NO", None, None))
    rows = []
    for name, show, key, show_diff in spec:
        rows.append((name, [show(p) for p in policies],
                     [show_diff(d[key]) if key and show_diff else "" for d in diffs]))
    vintages = sorted({v for p in policies for v in p["bad_rate_by_vintage"] or {}})
    for vintage in vintages:
        values = [(p["bad_rate_by_vintage"] or {}).get(vintage) for p in policies]
        rows.append((f"bad rate {vintage}",
                     ["" if v is None else pct(v) for v in values],
                     ["" if values[0] is None or v is None else pct_diff(round(v - values[0], 4))
                      for v in values[1:]]))
    grades = sorted({g for p in policies for g in p["approval_by_grade"]})
    for grade in grades:
        cells = []
        for p in policies:
            v = p["approval_by_grade"].get(grade)
            cells.append(f"{v['approved']}/{v['applications']}" if v else "0/0")
        rows.append((f"grade {grade} approved", cells, [""] * len(diffs)))
    return rows


def html_page(comparison: Mapping[str, Any]) -> str:
    """One self-contained page (Plotly's JavaScript inlined once): the table and the plots."""
    import plotly.io as pio

    policies, diffs = comparison["policies"], comparison["differences"]
    head = "".join(f"<th>{html.escape(p['label'])}</th>" for p in policies) + "".join(
        f"<th>{html.escape(d['policy'])} &minus; {html.escape(d['baseline'])}</th>"
        for d in diffs)
    body = "\n".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{html.escape(c)}</td>" for c in cells + diff_cells) + "</tr>"
        for name, cells, diff_cells in table_rows(comparison))
    plots = [_bars(comparison), *_vintage_plots(comparison)]
    divs = [pio.to_html(plot, full_html=False, include_plotlyjs=(i == 0))
            for i, plot in enumerate(plots)]
    definitions = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>"
                          for k, v in comparison["definitions"].items())
    s = comparison["sandbox"]
    title = (f"creditpay strategy sandbox: {s['customers']:,} consumers, {s['merchants']:,} "
             f"merchants, {s['days']} business days, seed {s['seed']}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;"
            "margin:2em}td,th{padding:2px 12px;border-bottom:1px solid #ddd}"
            "td:not(:first-child){text-align:right}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><table><tr><th>figure</th>{head}</tr>{body}"
            f"</table><ul>{definitions}</ul>"
            + "".join(f"<div>{d}</div>" for d in divs) + "</body></html>\n")


def write_outputs(comparison: Mapping[str, Any], out: Path) -> dict[str, Path]:
    """``out/comparison.json`` and ``out/sandbox.html``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"comparison": out / "comparison.json", "html": out / "sandbox.html"}
    document = {**comparison, "files": {k: str(v) for k, v in paths.items()}}
    paths["comparison"].write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n",
                                   encoding="utf-8")
    paths["html"].write_text(html_page(comparison), encoding="utf-8")
    return paths
