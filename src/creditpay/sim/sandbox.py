"""Strategy sandbox (issue #7): one simulated population under several credit policies.

Each application policy (a zen-engine decision document, as ``creditpay policy`` takes) runs
the same economy, same seed so the same consumers apply with the same scores, into its own
fresh SQLite file, and the runs are compared side by side: approval rate, bad rate, revenue,
losses, expected profit and credit granted, with the differences of every policy from the
first one (the baseline, "A").

Definitions (also written into ``comparison.json`` under ``definitions``; docs/simulator.md,
"Strategy sandbox"):

* **bad rate**: the share of approved consumers who went bad during the run, from the
  economy's ``applications_detail`` when it reports it (its definition of bad: an account
  ``creditpay.sim.monitoring.BAD_DPD`` = 30 or more days past due, or written off);
  otherwise the share of the outstanding principal that is 31+ days past due (M2+ principal /
  outstanding principal) at the end of the run. 0 when the denominator is 0. A bad rate
  needs time: see :func:`horizon_check` for the rule the sandbox states with every run.
* **revenue, funding cost, credit losses, fraud losses**: the platform's own P&L over the run
  (``figures["pnl"]``, :mod:`creditpay.sim.pnl`): income net of partner lenders' shares, the
  cost of the money it lends itself, its write-offs net of recoveries, fraud not charged
  back.
* **expected loss**: on the balances still outstanding at the horizon, Σ PD × LGD × the
  platform's own-funded outstanding principal (``figures["expected_loss_at_end"]``: PD from
  the customer's credit decision, 1 for an account already 30+ days past due; LGD the
  economy's ``lgd_bps``). Without it a policy that lends more to worse risks looks better on
  any horizon shorter than its loans' life: it has earned the interest but not yet lost the
  principal.
* **expected profit**: revenue − funding cost − credit losses − fraud losses − expected loss;
  policies are ranked by it (``ranking``).

Money is integer minor units (CNY fen) throughout; rates are shares 0..1.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from creditpay.formatting import money_text
from creditpay.sim.pnl import FUNDING_RATE_BPS_DEFAULT, LGD_BPS_DEFAULT

__all__ = [
    "CUSTOMERS_DEFAULT",
    "MERCHANTS_DEFAULT",
    "DAYS_DEFAULT",
    "DEFINITIONS",
    "run_sandbox",
    "check_policies",
    "summarise_run",
    "horizon_check",
    "rank",
    "print_table",
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

# A purchase on a pay-later line the day after its statement (the 1st) waits a full cycle and
# the grace to the 10th before anything falls due: at most 31 + 10 days.
FIRST_DUE_DAYS_MAX = 41
DAYS_PER_MONTH = 31  # a plan's or loan's month, rounded up for the horizon rule
# Cash loans' longest term on offer (jiebei and flat_loan: 12 months); the run's figures do
# not break cash loans down by term, so any cash loan taken counts with the longest.
CASH_LOAN_MONTHS_MAX = 12

DEFINITIONS = {
    "bad_rate": "share of approved consumers the economy marked bad during the run (basis "
                "'approved_consumers_went_bad', from applications_detail: an account "
                "creditpay.sim.monitoring.BAD_DPD or more days past due, or written off); when "
                "the economy does not report applications_detail, share of outstanding "
                "principal 31+ days past due at the end of the run (basis "
                "'m2plus_principal_share'); 0 when the denominator is 0; see 'horizon' for "
                "whether the run was long enough to show it",
    "revenue_minor": "the platform's revenue over the run: interest, credit fees, penalty "
                     "interest and merchant fees from the ledger's income accounts, minus "
                     "the charges passed to partner lenders (figures pnl.revenue_minor)",
    "funding_cost_minor": "sum over the days of the platform's own-funded outstanding "
                          "principal x funding_rate_bps / 10000 / 365, rounded half up once "
                          "(partner-funded principal costs the platform nothing)",
    "credit_losses_minor": "realised: the platform's write-offs net of recoveries",
    "fraud_losses_minor": "fraud captured and not charged back to the merchant",
    "expected_loss_minor": "on balances still outstanding at the horizon: sum of PD x LGD x "
                           "own-funded outstanding principal per account (PD of the "
                           "customer's credit decision, 1 when already 30+ DPD; LGD = "
                           "lgd_bps), rounded half up once",
    "expected_profit_minor": "revenue_minor - funding_cost_minor - credit_losses_minor - "
                             "fraud_losses_minor - expected_loss_minor (no operating or "
                             "acquisition costs); the ranking orders policies by it",
    "differences": "each policy minus the first (baseline) policy: B - A",
}

# The figures differenced between policies (B - A).
_DIFFERENCED = ("applications", "approvals", "approval_rate", "bad_rate", "revenue_minor",
                "funding_cost_minor", "credit_losses_minor", "fraud_losses_minor",
                "expected_loss_minor", "write_offs_minor", "past_due_m2plus_principal_minor",
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


def horizon_check(days: int, figures: Mapping[str, Any]) -> dict[str, Any]:
    """Whether ``days`` business days are enough for the bad rates a run shows.

    The rule: an account can first go bad ``FIRST_DUE_DAYS_MAX`` (41) days after the credit
    is drawn (its first due date at the latest) plus ``BAD_DPD`` (30) days past due, so a run
    shorter than 71 days shows bad rates of (almost) zero whatever the policy
    (``too_short``). The bad rate of credit over its life needs its longest term taken in the
    run (installment plans: their periods; cash loans: ``CASH_LOAN_MONTHS_MAX``; lines: one
    cycle, ``FIRST_DUE_DAYS_MAX``) plus the bad definition's 30 days; a shorter run shows an
    early read that understates it (``early_read``), and only the expected loss on what is
    still outstanding stands in for the rest. ``ok`` otherwise."""
    bad_dpd = _bad_dpd()
    first_bad = FIRST_DUE_DAYS_MAX + bad_dpd
    months = [int(k) for k, v in (figures.get("installment_plans_by_periods") or {}).items()
              if v]
    if figures.get("cash_loans"):
        months.append(CASH_LOAN_MONTHS_MAX)
    term_days = max([FIRST_DUE_DAYS_MAX, *(m * DAYS_PER_MONTH for m in months)])
    full = term_days + bad_dpd
    if days < first_bad:
        status = "too_short"
        message = (f"{days} days is too short for any bad rate: credit drawn on day 0 falls "
                   f"due by day {FIRST_DUE_DAYS_MAX} at the latest and goes bad "
                   f"{bad_dpd} days later, so bad rates need at least {first_bad} days; "
                   "the bad rates shown are (close to) zero by construction")
    elif days < full:
        status = "early_read"
        message = (f"{days} days is shorter than the longest credit term taken "
                   f"({term_days} days) + the bad definition ({bad_dpd} days past due) = "
                   f"{full} days: the bad rates shown are early reads that understate "
                   "lifetime bad rates; expected loss on the outstanding balances stands in "
                   "for the rest")
    else:
        status, message = "ok", (f"{days} days covers the longest credit term taken "
                                 f"({term_days} days) + {bad_dpd} days past due")
    return {"days": days, "status": status, "days_for_first_bads": first_bad,
            "longest_term_days": term_days, "days_for_lifetime_bad_rate": full,
            "message": message}


def _bad_dpd() -> int:
    try:  # the economy's threshold for "went bad"
        from creditpay.sim.monitoring import BAD_DPD
    except ImportError:  # pragma: no cover - the economy always ships it
        return BAD_BUCKET_DPD_MIN
    return int(BAD_DPD)


def summarise_run(figures: Mapping[str, Any], *, label: str, path: Path, policy: Any,
                  seconds: float) -> dict[str, Any]:
    """One policy's column of the comparison, from its run's figures (the economy's
    ``pnl`` and ``expected_loss_at_end`` are required: see DEFINITIONS)."""
    pnl = figures["pnl"]
    expected_loss = int(figures["expected_loss_at_end"]["expected_loss_minor"])
    revenue = int(pnl["revenue_minor"])
    funding, credit = int(pnl["funding_cost_minor"]), int(pnl["credit_losses_minor"])
    fraud = int(pnl["fraud_losses_minor"])
    written_off = int(figures["write_offs"]["amount_minor"])
    past_due = sum(int(v["principal_minor"]) for b, v in figures["delinquency_by_bucket"].items()
                   if _bucket_rank(b) >= BAD_BUCKET_MIN)
    outstanding = sum(int(v) for v in figures["outstanding_by_product_minor"].values())
    bad_rate, basis, observed = _bad_rate(figures, past_due, outstanding)
    bad_dpd = _bad_dpd() if basis == "approved_consumers_went_bad" else BAD_BUCKET_DPD_MIN
    by_vintage, pooled = _vintages(figures)
    return {
        "label": label, "path": str(path), "policy_id": policy.policy_id,
        "version": policy.version, "content_hash": policy.content_hash,
        "applications": int(figures["applications"]), "approvals": int(figures["approvals"]),
        "approval_rate": float(figures["approval_rate"]),
        "approval_by_grade": figures["approval_by_grade"],
        "bad_rate": bad_rate, "bad_rate_basis": basis, "bad_rate_observed_consumers": observed,
        "bad_dpd_min": bad_dpd,
        "bad_rate_by_vintage": by_vintage, "bad_share_by_days_on_book": pooled,
        "revenue_minor": revenue,
        "revenue_by_source_minor": pnl.get("revenue_by_source_minor",
                                           figures["revenue_by_source_minor"]),
        "funding_cost_minor": funding, "credit_losses_minor": credit,
        "fraud_losses_minor": fraud, "expected_loss_minor": expected_loss,
        "lgd_bps": figures["expected_loss_at_end"].get("lgd_bps"),
        "funding_rate_bps": pnl.get("funding_rate_bps"),
        "write_offs_minor": written_off, "past_due_m2plus_principal_minor": past_due,
        "expected_profit_minor": revenue - funding - credit - fraud - expected_loss,
        "credit_limit_granted_minor": int(figures["credit_limit_granted_minor"]),
        "purchases_credit_minor": int(figures["purchases_credit_minor"]),
        "outstanding_minor": outstanding,
        "delinquency_by_bucket": figures["delinquency_by_bucket"],
        "horizon": horizon_check(int(figures["days"]), figures),
        "ledger_ok": bool(figures["ledger_ok"]), "seconds": round(seconds, 2),
    }


def rank(summaries: Sequence[Mapping[str, Any]]) -> list[str]:
    """Policy labels, best first: highest expected profit; ties keep the given order."""
    order = sorted(range(len(summaries)),
                   key=lambda i: (-int(summaries[i]["expected_profit_minor"]), i))
    return [str(summaries[i]["label"]) for i in order]


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


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While the economies run, everything written to standard output goes to standard error
    instead: Python's ``print``/``sys.stdout`` and native libraries writing to file
    descriptor 1 (LightGBM, solvers), so the sandbox's stdout carries only its table or its
    JSON. Log records already go to stderr (no handler is configured: logging's last resort
    writes there)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 (embedded): the Python-level redirect suffices
        saved = None
    try:
        if saved is not None:
            os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def run_sandbox(policies: list[Path], *, customers: int, merchants: int, days: int, seed: int,
                workdir: Path, progress: bool = True, funding_rate_bps: int | None = None,
                lgd_bps: int | None = None) -> dict[str, Any]:
    """Run the economy once per policy (same seed: same population, same applicants) into
    ``workdir/<n>-<policy>.db`` and write ``workdir/comparison.json`` and
    ``workdir/sandbox.html``. Returns the comparison (see the module docstring for the
    definitions); raises ValidationError (field ``policy``) before any run when a policy
    file is missing, invalid, not an application policy, or fewer than two are given.
    ``funding_rate_bps`` and ``lgd_bps`` (None: the economy's defaults) price the money
    lent and the loss given default of the expected loss."""
    from creditpay.sim.economy import EconomyConfig, run_economy

    economy = {"funding_rate_bps": FUNDING_RATE_BPS_DEFAULT if funding_rate_bps is None
               else funding_rate_bps,
               "lgd_bps": LGD_BPS_DEFAULT if lgd_bps is None else lgd_bps}
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
        with stdout_to_stderr():
            figures, _ = run_economy(EconomyConfig(
                customers=customers, merchants=merchants, days=days, seed=seed,
                database_url=f"sqlite:///{db_path}", progress=progress,
                policy_path=Path(path), funding_rate_bps=economy["funding_rate_bps"],
                lgd_bps=economy["lgd_bps"]))
        summaries.append(summarise_run(figures, label=label, path=path, policy=policy,
                                       seconds=time.perf_counter() - started))
        databases.append(str(db_path))
    ranking = rank(summaries)
    comparison: dict[str, Any] = {
        "sandbox": {"customers": customers, "merchants": merchants, "days": days,
                    "seed": seed, **economy,
                    # Same seed, same applicants: a difference here means the runs diverged
                    # before any policy decided anything.
                    "same_applicants": len({s["applications"] for s in summaries}) == 1},
        "definitions": DEFINITIONS,
        "baseline": summaries[0]["label"],
        "policies": summaries,
        "differences": compare(summaries),
        "ranking": ranking, "best": ranking[0],
        # The longest credit term any policy's run took decides (the same rule for all).
        "horizon": max((p["horizon"] for p in summaries),
                       key=lambda h: h["days_for_lifetime_bad_rate"]),
        "databases": databases,
    }
    comparison["files"] = {k: str(v) for k, v in write_outputs(comparison, workdir).items()}
    return comparison


# -- report --------------------------------------------------------------------------------


def _bars(comparison: Mapping[str, Any]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    metrics = (("approval_rate", "Approval rate", 1), ("bad_rate", "Bad rate", 1),
               ("revenue_minor", "Revenue (CNY)", 100),
               ("funding_cost_minor", "Funding cost (CNY)", 100),
               ("credit_losses_minor", "Credit losses (CNY)", 100),
               ("fraud_losses_minor", "Fraud losses (CNY)", 100),
               ("expected_loss_minor", "Expected loss (CNY)", 100),
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
    figure.update_layout(title="Policies side by side (same population, same seed); expected "
                               "profit = revenue − funding − credit − fraud − expected loss",
                         height=480, bargap=0.25)
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
                             yaxis_title="share of accounts 30+ DPD or written off",
                             yaxis_tickformat=".0%")
    by_days.update_layout(title="Bad share by days on book, vintages pooled "
                                "(accounts-weighted)",
                          xaxis_title="days on book since the vintage's first day",
                          yaxis_title="share of accounts 30+ DPD or written off",
                          yaxis_tickformat=".0%")
    return [by_vintage, by_days]


_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f")


def table_rows(comparison: Mapping[str, Any]) -> list[tuple[str, list[str], list[str]]]:
    """(figure, value per policy, difference from the baseline per other policy), as shown."""
    policies, diffs = comparison["policies"], comparison["differences"]
    ranks = {label: n for n, label in enumerate(comparison.get("ranking")
                                                or rank(policies), 1)}

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
            ("written off (whole book)", lambda p: money_text(int(p["write_offs_minor"]),
                                                              "CNY"),
             "write_offs_minor", cny_diff),
            ("31+ DPD principal",
             lambda p: money_text(int(p["past_due_m2plus_principal_minor"]), "CNY"),
             "past_due_m2plus_principal_minor", cny_diff),
            ("revenue (platform's)", lambda p: money_text(int(p["revenue_minor"]), "CNY"),
             "revenue_minor", cny_diff),
            ("− funding cost", lambda p: money_text(int(p["funding_cost_minor"]), "CNY"),
             "funding_cost_minor", cny_diff),
            ("− credit losses (realised)",
             lambda p: money_text(int(p["credit_losses_minor"]), "CNY"),
             "credit_losses_minor", cny_diff),
            ("− fraud losses", lambda p: money_text(int(p["fraud_losses_minor"]), "CNY"),
             "fraud_losses_minor", cny_diff),
            ("− expected loss on outstanding",
             lambda p: money_text(int(p["expected_loss_minor"]), "CNY"),
             "expected_loss_minor", cny_diff),
            ("= expected profit", lambda p: money_text(int(p["expected_profit_minor"]), "CNY"),
             "expected_profit_minor", cny_diff),
            ("rank by expected profit", lambda p: str(ranks[p["label"]]), None, None),
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


def notes(comparison: Mapping[str, Any]) -> list[str]:
    """What to read first: the best policy by expected profit, and whether the horizon is
    long enough for the bad rates shown (the rule in :func:`horizon_check`)."""
    out = []
    horizon = comparison.get("horizon")
    if horizon and horizon["status"] != "ok":
        out.append(f"WARNING: {horizon['message']}.")
    best = comparison.get("best")
    if best is not None:
        policy = next(p for p in comparison["policies"] if p["label"] == best)
        out.append(f"Best by expected profit: {best} "
                   f"({money_text(int(policy['expected_profit_minor']), 'CNY')}); ranking: "
                   + " > ".join(comparison["ranking"]) + ".")
    return out


def _notes_html(comparison: Mapping[str, Any]) -> str:
    return "".join(f"<p><b>{html.escape(n)}</b></p>" for n in notes(comparison))


def print_table(comparison: Mapping[str, Any], console: Any = None) -> None:
    """The comparison as a Rich table on standard output (or ``console``), the policies'
    legend, the notes (:func:`notes`) and the files written; nothing else."""
    from rich.console import Console
    from rich.table import Table

    s = comparison["sandbox"]
    policies = comparison["policies"]
    letters = [chr(ord("A") + i) for i in range(len(policies))]
    table = Table(title=f"creditpay sandbox: {s['customers']:,} consumers, "
                        f"{s['merchants']:,} merchants, {s['days']} business days, "
                        f"seed {s['seed']}")
    table.add_column("figure")
    for letter in letters:
        table.add_column(letter, justify="right")
    for letter in letters[1:]:
        table.add_column(f"{letter} − A", justify="right")
    for name, cells, diff_cells in table_rows(comparison):
        if name.startswith("policy "):
            continue  # in the legend below
        table.add_row(name, *cells, *diff_cells)
    console = console or Console()
    console.print(table)
    for letter, policy in zip(letters, policies, strict=True):
        console.print(f"{letter} = {policy['label']}: {policy['policy_id']} "
                      f"{policy['version']} ({policy['path']})")
    basis = policies[0]["bad_rate_basis"]
    console.print(f"bad rate basis: {basis}; expected profit = revenue − funding cost "
                  f"({s.get('funding_rate_bps', '?')} bps a year on own-funded principal) − "
                  "credit losses − fraud losses − expected loss on outstanding balances "
                  f"(PD × LGD {s.get('lgd_bps', '?')} bps × own-funded principal)")
    for note in notes(comparison):
        console.print(note, markup=False)
    files = comparison.get("files") or {}
    if files:
        console.print(f"Comparison: {files['comparison']}\n"
                      f"Report: {files['html']}\n"
                      f"Databases: {', '.join(comparison['databases'])}", markup=False)


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
            f"<h1>{html.escape(title)}</h1>{_notes_html(comparison)}"
            f"<table><tr><th>figure</th>{head}</tr>{body}"
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
