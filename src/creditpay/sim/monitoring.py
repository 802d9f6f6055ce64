"""What risk staff watch in the simulated economy: daily portfolio metrics, early-warning
alerts from :mod:`creditpay.risk.early_warning` with dynamic thresholds, vintage curves and
roll rates. Pure functions over what the economy read from the platform; no I/O.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from creditpay.risk.early_warning.monitors import Alert, Monitor, evaluate, roll_rate

__all__ = ["SIM_MONITORS", "MonitorBoard", "DayBook", "vintage_curves", "APR_BANDS",
           "apr_band"]

# Two weeks of history is enough for a band (the simulated runs are weeks, not years);
# rolling bands exclude today, so a shock cannot widen its own band. Daily roll rates are
# recorded and plotted but not alerted on: on a book whose bills fall due on one day a month
# they are zero for weeks and then jump on the day after the due date, which a band over the
# previous days reads as a breach every month (a monthly roll-rate monitor needs months of
# history; the simulated runs are shorter).
SIM_MONITORS: tuple[Monitor, ...] = (
    Monitor("approval_rate_drop", "approval_rate", direction="down", method="rolling",
            window=14, k=3.0, playbook="raise_cutoff"),
    Monitor("fraud_rate", "fraud_rate", direction="up", method="rolling", window=14, k=3.0,
            playbook="review_fraud_rules"),
    Monitor("utilisation", "utilisation", direction="up", method="rolling", window=14, k=3.0,
            playbook="lower_limits"),
)
# A rate over a handful of cases is noise, not a signal: below these volumes the day has no
# value (NaN) and its monitor stays silent. Approvals are pooled over a trailing week.
APPROVAL_WINDOW_DAYS = 7
APPLICATIONS_MIN = 10
SCREENINGS_MIN = 20
METRICS = ("approval_rate", "fraud_rate", "roll_rate_m0_m1", "roll_rate_m1_m2", "utilisation")
BAD_DPD = 30  # an account "went bad" once it was this many days past due
# All-in annual cost bands of accepted credit (percent, upper bound inclusive).
APR_BANDS: tuple[tuple[str, float], ...] = (("0%", 0.0), ("0-12%", 12.0), ("12-18%", 18.0),
                                           ("18-24%", 24.0), ("24%+", math.inf))


def apr_band(percent: float) -> str:
    for name, upper in APR_BANDS:
        if percent <= upper:
            return name
    raise AssertionError("the last band is unbounded")


@dataclass(frozen=True)
class DayBook:
    """The book at the end of one business day, as the platform reports it."""

    date: dt.date
    buckets: Mapping[str, str]  # account id -> delinquency bucket (active accounts)
    line_principal_minor: int  # drawn on pay-later lines
    line_limit_minor: int  # granted on active lines


@dataclass
class MonitorBoard:
    """Daily metric series and the alerts the monitors raised over them."""

    monitors: Sequence[Monitor] = SIM_MONITORS
    days: list[dt.date] = field(default_factory=list)
    series: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in METRICS})
    alerts: list[Alert] = field(default_factory=list)
    _previous: Mapping[str, str] | None = None
    _decided: list[tuple[int, int]] = field(default_factory=list)  # (applications, approvals)

    def close_day(self, book: DayBook, *, applications: int, approvals: int, screened: int,
                  held: int) -> list[Alert]:
        """Record today's metrics (NaN where there is nothing to measure) and return the
        alerts raised today. ``held``: payments screening sent to review or declined."""
        previous = self._previous or {}
        self._decided.append((applications, approvals))
        week = self._decided[-APPROVAL_WINDOW_DAYS:]
        applied_week = sum(a for a, _ in week)
        values = {
            "approval_rate": (sum(b for _, b in week) / applied_week
                              if applied_week >= APPLICATIONS_MIN else math.nan),
            "fraud_rate": held / screened if screened >= SCREENINGS_MIN else math.nan,
            "roll_rate_m0_m1": roll_rate(previous, book.buckets, "M0", "M1"),
            "roll_rate_m1_m2": roll_rate(previous, book.buckets, "M1", "M2"),
            "utilisation": (book.line_principal_minor / book.line_limit_minor
                            if book.line_limit_minor else math.nan),
        }
        self._previous = dict(book.buckets)
        self.days.append(book.date)
        for name, value in values.items():
            self.series[name].append(value)
        raised = []
        for monitor in self.monitors:
            raised += evaluate(monitor, self.days, self.series[monitor.metric])
        self.alerts += raised
        return raised

    def daily_metrics(self) -> list[dict[str, Any]]:
        return [{"date": day.isoformat(),
                 **{name: _number(self.series[name][t]) for name in METRICS}}
                for t, day in enumerate(self.days)]

    def roll_rates(self) -> list[dict[str, Any]]:
        return [{"date": day.isoformat(),
                 "m0_m1": _number(self.series["roll_rate_m0_m1"][t]),
                 "m1_m2": _number(self.series["roll_rate_m1_m2"][t])}
                for t, day in enumerate(self.days)]

    def alert_records(self) -> list[dict[str, Any]]:
        return [{"date": a.day.isoformat(), "monitor": a.monitor, "metric": a.metric,
                 "segment": a.segment, "severity": a.severity, "value": round(a.value, 6),
                 "centre": round(a.centre, 6), "lower": round(a.lower, 6),
                 "upper": round(a.upper, 6), "sigmas": a.sigmas, "playbook": a.playbook}
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
