"""What risk staff watch in the simulated economy: the platform's own early-warning metrics
and alerts (:mod:`creditpay.risk.early_warning`, run every simulated night by
``creditpay.nightly.run_nightly``), vintage curves and roll rates.

The sim does not evaluate monitors itself: it hands :data:`SIM_MONITORS` to the nightly job
(the same code, tables and alerts an operator sees) and reads the stored series and alerts
back for its report (:class:`MonitorBoard`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from creditpay.risk.early_warning.monitors import Monitor

__all__ = ["SIM_MONITORS", "MonitorBoard", "vintage_curves", "APR_BANDS", "apr_band",
           "METRICS"]

# Two weeks of history is enough for a band (the simulated runs are weeks, not years):
# every monitor warms up for its window of measured days, judges a rate only on days with at
# least 30 in its denominator and confirms a warning over two days (monitors module). Rolling
# bands exclude today, so a shock cannot widen its own band. Utilisation climbs while a young
# book is being drawn: it is judged against its own trend (``trend``), so the ramp-up is
# expected and a jump off it is not, if it moves it by 2 percentage points or more (a small
# book's utilisation steps by a few tenths of a point when a handful of bills post). Daily
# roll rates are stored and plotted but not alerted
# on: on a book whose bills fall due on one day a month they are zero for weeks and then
# jump on the day after the due date, which a band over the previous days reads as a breach
# every month (a monthly roll-rate monitor needs months of history; the simulated runs are
# shorter). The fraud monitor watches the held share (review or decline): challenges are
# mostly honest consumers on a new phone, and their noise would hide an attack.
SIM_MONITORS: tuple[Monitor, ...] = (
    Monitor("approval_rate_drop", "approval_rate", direction="down", method="rolling",
            window=14, k=3.0, scale="rate", min_sample=30, playbook="raise_cutoff"),
    Monitor("fraud_rate", "fraud_hold_rate", direction="up", method="rolling", window=14,
            k=3.0, scale="rate", min_sample=30, playbook="review_fraud_rules"),
    Monitor("utilisation", "utilisation", direction="up", method="trend", window=14, k=3.0,
            scale="share", min_change=0.02, playbook="lower_limits"),
)
# Platform metric (segment "all") -> the name the report draws it under.
METRICS: dict[str, str] = {"approval_rate": "approval_rate", "fraud_hold_rate": "fraud_rate",
                           "roll_rate_m0_m1": "roll_rate_m0_m1",
                           "roll_rate_m1_m2": "roll_rate_m1_m2", "utilisation": "utilisation"}
BAD_DPD = 30  # an account "went bad" once it was this many days past due
# All-in annual cost bands of accepted credit (percent, upper bound inclusive).
APR_BANDS: tuple[tuple[str, float], ...] = (("0%", 0.0), ("0-12%", 12.0), ("12-18%", 18.0),
                                           ("18-24%", 24.0), ("24%+", math.inf))


def apr_band(percent: float) -> str:
    for name, upper in APR_BANDS:
        if percent <= upper:
            return name
    raise AssertionError("the last band is unbounded")


@dataclass
class MonitorBoard:
    """The platform's stored daily metrics (segment ``all``) and alerts over the simulated
    days, shaped for the report."""

    days: list[dt.date] = field(default_factory=list)
    series: dict[str, list[float]] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, conn: Any, days: Sequence[dt.date]) -> MonitorBoard:
        """Read what the nightly early-warning job stored for ``days`` (one value per day
        and metric; NaN where the platform had nothing to measure)."""
        from creditpay.risk.early_warning.service import alerts_between, metric_series

        board = cls(days=list(days), series={name: [] for name in METRICS.values()})
        if not board.days:
            return board
        stored = metric_series(conn, list(METRICS), start=min(board.days),
                               end=max(board.days))
        for day in board.days:
            values = stored.get(day, {})
            for metric, name in METRICS.items():
                value = values.get(metric)
                board.series[name].append(math.nan if value is None else float(value))
        board.alerts = alerts_between(conn, min(board.days), max(board.days))
        return board

    def daily_metrics(self) -> list[dict[str, Any]]:
        return [{"date": day.isoformat(),
                 **{name: _number(self.series[name][t]) for name in METRICS.values()}}
                for t, day in enumerate(self.days)]

    def roll_rates(self) -> list[dict[str, Any]]:
        return [{"date": day.isoformat(),
                 "m0_m1": _number(self.series["roll_rate_m0_m1"][t]),
                 "m1_m2": _number(self.series["roll_rate_m1_m2"][t])}
                for t, day in enumerate(self.days)]

    def alert_records(self) -> list[dict[str, Any]]:
        return [{"date": a["day"], "monitor": a["monitor"],
                 "metric": METRICS.get(a["metric"], a["metric"]), "segment": a["segment"],
                 "severity": a["severity"], "value": round(a["value"], 6),
                 "centre": round(a["centre"], 6), "lower": round(a["lower"], 6),
                 "upper": round(a["upper"], 6), "sigmas": a["sigmas"],
                 "playbook": a["playbook"], "id": a["id"], "status": a["status"]}
                for a in self.alerts]


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def vintage_curves(opened: Mapping[str, dt.date], went_bad: Mapping[str, dt.date],
                   dates: Iterable[dt.date]) -> list[dict[str, Any]]:
    """Per month of opening: the share of its accounts that had been ``BAD_DPD``+ days past
    due by each of ``dates`` (days on book counted from the first day of the month)."""
    by_vintage: dict[str, list[str]] = {}
    for account_id, day in opened.items():
        by_vintage.setdefault(f"{day:%Y-%m}", []).append(account_id)
    curves = []
    points = sorted(set(dates))
    for vintage, accounts in sorted(by_vintage.items()):
        start = dt.date.fromisoformat(vintage + "-01")
        curve = []
        for day in points:
            if day < start:
                continue
            bad = sum(1 for a in accounts if a in went_bad and went_bad[a] <= day)
            curve.append({"days_on_book": (day - start).days,
                          "bad_share": round(bad / len(accounts), 6)})
        curves.append({"vintage": vintage, "accounts": len(accounts), "curve": curve})
    return curves
