"""Portfolio monitors, alerts and playbooks (pure; storage and scheduling are the caller's).

A monitor watches one daily metric of one segment (approval rate, fraud rate, first-payment
default, roll rates M0→M1 and M1→M2, utilisation, score PSI, feature PSI) against a dynamic
threshold from :mod:`thresholds`. When today's statistic leaves its band on the bad side an
:class:`Alert` is raised (subject to the guards below) with its severity, its evidence (value, bounds, distance in σ, the
method and its parameters) and the playbook that answers it. Playbooks are actions an
operator with a permitted role may execute (raise a cut-off, lower limits for a segment,
freeze a merchant, switch to the champion model); execution is refused for anyone else and
returns a record the caller audits.

Guards against false alarms (each a field of :class:`Monitor`, judged by :func:`judge`):

* **minimum sample** (``min_sample``, default 30): a ``rate`` monitor (a share of counted
  accounts, decisions or payments) judges a day only when that day's denominator is at
  least ``min_sample``; a smaller day is ``insufficient_sample``: neither judged nor used
  as history for later bands;
* **warm-up** (``warmup_days``, default the monitor's ``window``): no alert until the
  metric has that many measured days of history before the day judged (``warm_up``);
* **bounds**: the band is clipped to what the metric can take (``scale``: ``rate`` and
  ``share`` in [0, 1], ``nonnegative`` in [0, ∞)), so a lower bound is never below 0;
  a ``rate`` band is never narrower than the day's binomial sampling band;
* **confirmation** (``confirm_days``, default 2): a warning is raised only when the
  statistic has been outside its band on that many consecutive measured days (a single
  noisy day is a ``breach``, not an alert); a critical excursion (≥ ``critical_k`` σ) is
  raised on its first day.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import numpy as np

from creditpay.errors import PermissionDeniedError, ValidationError
from creditpay.i18n import N_, translate
from creditpay.risk.early_warning.thresholds import (
    Band,
    clipped,
    ewma_limits,
    rolling_band,
    seasonal_band,
    trend_band,
)

__all__ = ["Monitor", "Alert", "Playbook", "PLAYBOOKS", "load_monitors", "evaluate",
           "execute_playbook", "LineNow", "LimitChange", "LimitPlan", "plan_limit_cuts", "roll_rate", "roll_counts", "roll_rate_of", "DEFAULT_MONITORS", "matches",
           "Judgement", "judge", "SCALES"]

METHODS = ("rolling", "ewma", "seasonal", "trend")
DIRECTIONS = ("up", "down", "both")
# What a metric can take: its band is clipped to it.
SCALES: dict[str, tuple[float, float]] = {"rate": (0.0, 1.0), "share": (0.0, 1.0),
                                          "nonnegative": (0.0, math.inf)}
# Day statuses of :func:`judge`.
INSUFFICIENT = "insufficient_sample"
NO_VALUE = "no_value"
WARM_UP = "warm_up"
NO_BAND = "no_band"
IN_BAND = "in_band"
BREACH = "breach"  # outside the band, not (yet) confirmed
ALERT = "alert"


@dataclass(frozen=True)
class Playbook:
    code: str
    title_en: str  # an English msgid of the gettext catalogs (creditpay.i18n)
    roles: frozenset[str]
    parameters: tuple[str, ...]

    @property
    def title_zh(self) -> str:
        """The title in zh-CN, from the catalogs."""
        return translate(self.title_en, "zh-CN")


PLAYBOOKS: dict[str, Playbook] = {p.code: p for p in (
    Playbook("raise_cutoff", N_("Raise the approval cut-off for the segment"),
             frozenset({"risk_analyst", "admin"}), ("segment", "points")),
    Playbook("lower_limits", N_("Lower credit limits for the segment"),
             frozenset({"risk_analyst", "admin"}), ("segment", "share")),
    Playbook("freeze_merchant", N_("Freeze a merchant's acceptance"),
             frozenset({"risk_analyst", "admin"}), ("merchant_id",)),
    Playbook("switch_to_champion", N_("Send all traffic to the champion model"),
             frozenset({"risk_analyst", "admin"}), ("model",)),
    Playbook("review_fraud_rules", N_("Tighten fraud rules and review the alert queue"),
             frozenset({"risk_analyst", "admin"}), ()),
)}


@dataclass(frozen=True)
class Monitor:
    """One metric of one segment, with how its threshold moves and what answers a breach."""

    name: str
    metric: str
    segment: str = "all"
    direction: str = "up"  # which side is bad
    method: str = "rolling"
    k: float = 3.0  # band width in σ (rolling, seasonal) or L (ewma)
    window: int = 28
    smoothing: float = 0.2
    critical_k: float = 5.0  # σ distance from the centre that makes an alert critical
    playbook: str = "raise_cutoff"
    # rate: a share of counted units (binomial noise, min_sample applies); share: a ratio
    # of amounts in [0, 1]; nonnegative: an index or a count.
    scale: str = "rate"
    warmup_days: int | None = None  # measured days of history before any alert (None: window)
    min_sample: int = 30  # smallest denominator a rate is judged on
    confirm_days: int = 2  # consecutive breaching days before a warning
    # The smallest move from the centre worth an alert, in the metric's units (utilisation:
    # 0.02 = 2 percentage points); the band is never narrower than ± this.
    min_change: float = 0.0
    # EWMA of a rate: a day whose own value is this many σ out (exact binomial tail) is an
    # alert on that day (the Shewhart half of a Shewhart-EWMA chart).
    shewhart_k: float = 4.0

    @property
    def warmup(self) -> int:
        """Measured days of history needed before the first alert."""
        return self.window if self.warmup_days is None else self.warmup_days

    def covers(self, metric: str, segment: str) -> bool:
        """True when this monitor watches ``metric`` of ``segment`` (its ``metric`` and
        ``segment`` may end with ``*``: every stored series with that prefix)."""
        return matches(self.metric, metric) and matches(self.segment, segment)

    def validated(self) -> Monitor:
        where = f"monitors[{self.name}]"
        if not self.name or not self.metric:
            raise ValidationError("name and metric are required", field=where)
        if self.direction not in DIRECTIONS:
            raise ValidationError(f"must be one of {DIRECTIONS}", field=f"{where}.direction")
        if self.method not in METHODS:
            raise ValidationError(f"must be one of {METHODS}", field=f"{where}.method")
        if not 0 < self.k <= self.critical_k:
            raise ValidationError("need 0 < k <= critical_k", field=f"{where}.k")
        if not 7 <= self.window <= 366:
            raise ValidationError("must be 7 to 366 days", field=f"{where}.window")
        if self.playbook not in PLAYBOOKS:
            raise ValidationError(f"unknown playbook; known: {sorted(PLAYBOOKS)}",
                                  field=f"{where}.playbook")
        if self.scale not in SCALES:
            raise ValidationError(f"must be one of {sorted(SCALES)}", field=f"{where}.scale")
        for name, number in (("min_change", self.min_change), ("shewhart_k", self.shewhart_k)):
            if isinstance(number, bool) or not isinstance(number, int | float) \
                    or not 0 <= number < math.inf or (name == "shewhart_k" and number == 0):
                raise ValidationError("must be a finite number above 0" if name ==
                                      "shewhart_k" else "must be a finite number >= 0",
                                      field=f"{where}.{name}")
        for name, value, low, high in (("warmup_days", self.warmup, 1, 366),
                                       ("min_sample", self.min_sample, 1, 1_000_000),
                                       ("confirm_days", self.confirm_days, 1, 14)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or not low <= value <= high:
                raise ValidationError(f"must be an integer from {low} to {high}",
                                      field=f"{where}.{name}")
        return self


DEFAULT_MONITORS: tuple[Monitor, ...] = (
    Monitor("approval_rate_drop", "approval_rate", direction="down", playbook="raise_cutoff"),
    Monitor("approval_rate_jump", "approval_rate", direction="up", method="ewma",
            playbook="raise_cutoff"),
    Monitor("fraud_rate", "fraud_rate", method="ewma", playbook="review_fraud_rules"),
    Monitor("first_payment_default", "first_payment_default", method="ewma",
            playbook="lower_limits"),
    Monitor("roll_m0_m1", "roll_rate_m0_m1", method="ewma", playbook="lower_limits"),
    Monitor("roll_m1_m2", "roll_rate_m1_m2", method="ewma", playbook="lower_limits"),
    Monitor("utilisation", "utilisation", method="trend", scale="share", min_change=0.02,
            playbook="lower_limits"),
    Monitor("score_psi", "score_psi", method="rolling", scale="nonnegative",
            playbook="switch_to_champion"),
)


def matches(pattern: str, name: str) -> bool:
    """``pattern`` equals ``name``, or ends with ``*`` and ``name`` starts with the rest."""
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return pattern == name


def load_monitors(document: Sequence[Mapping[str, Any]]) -> list[Monitor]:
    """Monitors from a configuration document (a list of mappings), validated."""
    if not isinstance(document, Sequence) or isinstance(document, str | bytes):
        raise ValidationError("must be a list of monitors", field="monitors")
    monitors = []
    known = set(Monitor.__dataclass_fields__)
    for i, item in enumerate(document):
        if not isinstance(item, Mapping):
            raise ValidationError("must be a mapping", field=f"monitors[{i}]")
        unknown = set(item) - known
        if unknown:
            raise ValidationError(f"unknown keys {sorted(unknown)}", field=f"monitors[{i}]")
        try:
            monitors.append(Monitor(**item).validated())
        except TypeError as exc:
            raise ValidationError(str(exc), field=f"monitors[{i}]") from None
    names = [m.name for m in monitors]
    if len(set(names)) != len(names):
        raise ValidationError("monitor names must be unique", field="monitors")
    return monitors


@dataclass(frozen=True)
class Alert:
    monitor: str
    metric: str
    segment: str
    day: dt.date
    severity: str  # "warning" | "critical"
    value: float
    statistic: float
    centre: float
    lower: float
    upper: float
    sigmas: float  # distance from the centre in band units (σ)
    method: str
    playbook: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _band(monitor: Monitor, values: np.ndarray, days: Sequence[dt.date],
          samples: np.ndarray | None) -> Band:
    if monitor.method == "ewma":
        band = ewma_limits(values, smoothing=monitor.smoothing, width=monitor.k,
                           baseline_days=monitor.window, samples=samples)
    elif monitor.method == "seasonal":
        band = seasonal_band(values, [d.weekday() for d in days], k=monitor.k,
                             window=monitor.window, samples=samples)
    elif monitor.method == "trend":
        band = trend_band(values, window=monitor.window, k=monitor.k, samples=samples)
    else:
        band = rolling_band(values, window=monitor.window, k=monitor.k, samples=samples)
    if monitor.min_change > 0:
        band = Band(band.centre, np.minimum(band.lower, band.centre - monitor.min_change),
                    np.maximum(band.upper, band.centre + monitor.min_change), band.statistic,
                    band.day_z)
    return clipped(band, *SCALES[monitor.scale])


@dataclass(frozen=True)
class Judgement:
    """Every day of a series as ``monitor`` judged it: ``status`` (``insufficient_sample``,
    ``no_value``, ``warm_up``, ``no_band``, ``in_band``, ``breach``, ``alert``), the band
    (clipped to the metric's scale; NaN where none applied), ``sigmas`` (distance of the
    statistic from the centre in band units, NaN where not judged) and ``run`` (consecutive
    breaching measured days ending that day)."""

    values: np.ndarray  # the series as judged (insufficient days are NaN)
    status: tuple[str, ...]
    band: Band
    sigmas: np.ndarray
    run: np.ndarray


def judge(monitor: Monitor, days: Sequence[dt.date], values: Sequence[float] | np.ndarray,
          samples: Sequence[float] | np.ndarray | None = None) -> Judgement:
    """Judge every day of a daily series (module docstring: minimum sample, warm-up,
    bounds, confirmation). ``samples``: the denominator of each day's rate (accounts,
    decisions, payments; NaN unknown), used by ``rate`` monitors only."""
    if len(days) != len(values):
        raise ValidationError("one value per day", field="values")
    x = np.asarray(values, dtype=float).copy()
    n = None
    status = [NO_VALUE if math.isnan(v) else "" for v in x]
    if samples is not None and monitor.scale == "rate":
        n = np.asarray(samples, dtype=float)
        if n.shape != x.shape:
            raise ValidationError("one sample size per value", field="samples")
        for t in range(x.size):
            if status[t] == "" and not n[t] >= monitor.min_sample:
                status[t] = INSUFFICIENT
                x[t] = math.nan  # noise of a small day is not history either
    band = _band(monitor, x, days, n)
    sigmas = np.full(x.size, np.nan)
    run = np.zeros(x.size, dtype=int)
    measured = 0  # measured days before t
    streak, streak_side = 0, 0
    for t in range(x.size):
        if status[t]:
            run[t] = streak
            continue
        history, measured = measured, measured + 1
        low, high, stat = band.lower[t], band.upper[t], band.statistic[t]
        if history < monitor.warmup:
            status[t] = WARM_UP
        elif math.isnan(low) or math.isnan(high) or math.isnan(stat):
            status[t] = NO_BAND
        if status[t]:
            streak, streak_side = 0, 0
            continue
        unit = (high - band.centre[t]) / monitor.k if monitor.k else math.inf
        sigmas[t] = (stat - band.centre[t]) / unit if unit > 0 else math.inf
        side = 0
        if monitor.direction in ("up", "both") and stat > high:
            side = 1
        elif monitor.direction in ("down", "both") and stat < low:
            side = -1
        jump = math.nan if band.day_z is None else float(band.day_z[t])
        shewhart = not math.isnan(jump) and abs(jump) >= monitor.shewhart_k and (
            (jump > 0 and monitor.direction in ("up", "both"))
            or (jump < 0 and monitor.direction in ("down", "both")))
        if shewhart:
            # The Shewhart half of the EWMA chart: the day alone is out; its σ distance is
            # the larger of the day's and the chart's.
            side = 1 if jump > 0 else -1
            if abs(jump) > abs(sigmas[t]):
                sigmas[t] = jump
        if side == 0:
            status[t] = IN_BAND
            streak, streak_side = 0, 0
            continue
        streak = streak + 1 if side == streak_side else 1
        streak_side = side
        run[t] = streak
        critical = abs(sigmas[t]) >= monitor.critical_k
        status[t] = ALERT if critical or shewhart or streak >= monitor.confirm_days \
            else BREACH
    return Judgement(x, tuple(status), band, sigmas, run)


def evaluate(monitor: Monitor, days: Sequence[dt.date],
             values: Sequence[float] | np.ndarray, *, only_last: bool = True,
             samples: Sequence[float] | np.ndarray | None = None) -> list[Alert]:
    """Alerts of ``monitor`` over a daily series (by default for the last day only); the
    days :func:`judge` marks ``alert``."""
    judged = judge(monitor, days, values, samples)
    band, x = judged.band, np.asarray(values, dtype=float)
    alerts = []
    for t in (range(x.size - 1, x.size) if only_last else range(x.size)):
        if judged.status[t] != ALERT:
            continue
        low, high, stat = band.lower[t], band.upper[t], band.statistic[t]
        sigmas = float(judged.sigmas[t])
        severity = "critical" if abs(sigmas) >= monitor.critical_k else "warning"
        alerts.append(Alert(
            monitor=monitor.name, metric=monitor.metric, segment=monitor.segment,
            day=days[t], severity=severity, value=float(x[t]), statistic=float(stat),
            centre=float(band.centre[t]), lower=float(low), upper=float(high),
            sigmas=round(float(sigmas), 2), method=monitor.method, playbook=monitor.playbook,
            evidence={"k": monitor.k, "window": monitor.window,
                      "smoothing": monitor.smoothing if monitor.method == "ewma" else None,
                      "scale": monitor.scale, "warmup_days": monitor.warmup,
                      "min_sample": monitor.min_sample if monitor.scale == "rate" else None,
                      "sample": _sample(samples, t) if monitor.scale == "rate" else None,
                      "consecutive_days_outside": int(judged.run[t]),
                      "recent_values": [round(float(v), 6) for v in x[max(0, t - 6):t + 1]]}))
    return alerts


def _sample(samples: Sequence[float] | np.ndarray | None, t: int) -> float | None:
    if samples is None:
        return None
    value = float(np.asarray(samples, dtype=float)[t])
    return None if math.isnan(value) else value


def execute_playbook(alert: Alert, *, operator_id: str, operator_roles: Sequence[str],
                     parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Check the operator may run the alert's playbook with these parameters; return the
    action record to apply and audit. Refused (PermissionDeniedError) for other roles."""
    playbook = PLAYBOOKS[alert.playbook]
    if not set(operator_roles) & playbook.roles:
        raise PermissionDeniedError(
            f"playbook {playbook.code} needs one of the roles {sorted(playbook.roles)}",
            field="operator_roles")
    missing = [p for p in playbook.parameters if p not in parameters]
    if missing:
        raise ValidationError(f"missing parameters {missing}", field="parameters")
    return {"playbook": playbook.code, "title_en": playbook.title_en,
            "title_zh": playbook.title_zh, "operator_id": operator_id,
            "alert": {"monitor": alert.monitor, "day": alert.day.isoformat(),
                      "severity": alert.severity, "value": alert.value},
            "parameters": {p: parameters[p] for p in playbook.parameters}}


@dataclass(frozen=True)
class LineNow:
    """A credit line as a limit playbook finds it: its limit and what is drawn on it
    (minor units of the line's currency)."""

    line_id: str
    customer_id: str
    limit_minor: int
    in_use_minor: int


@dataclass(frozen=True)
class LimitChange:
    """What ``lower_limits`` does to one line (minor units): ``change_minor`` is
    ``limit_minor - new_limit_minor`` (0: the line is left as it is)."""

    line_id: str
    customer_id: str
    limit_minor: int
    in_use_minor: int
    new_limit_minor: int
    change_minor: int


@dataclass(frozen=True)
class LimitPlan:
    """Every line of a segment with its new limit, and the totals (minor units)."""

    share: Decimal
    changes: tuple[LimitChange, ...]

    @property
    def lines_lowered(self) -> int:
        return sum(1 for c in self.changes if c.change_minor > 0)

    @property
    def limit_before_minor(self) -> int:
        return sum(c.limit_minor for c in self.changes)

    @property
    def limit_after_minor(self) -> int:
        return sum(c.new_limit_minor for c in self.changes)

    @property
    def change_minor(self) -> int:
        return self.limit_before_minor - self.limit_after_minor


def plan_limit_cuts(lines: Sequence[LineNow], share: Decimal) -> LimitPlan:
    """Lower each line's limit by ``share`` (0 < share <= 1): the new limit is
    ``floor(limit x (1 - share))`` in minor units (rounded down: the cut is never smaller
    than asked), never below what is drawn on the line, and never above the old limit (a
    line drawn beyond its limit keeps it). Pure: the preview of the playbook shows this
    plan and its execution applies exactly this plan."""
    if not isinstance(share, Decimal) or not share.is_finite() or not 0 < share <= 1:
        raise ValidationError("must be a decimal above 0 and at most 1",
                              field="parameters.share")
    keep = Decimal(1) - share
    changes = []
    for line in lines:
        old = line.limit_minor
        in_use = max(0, line.in_use_minor)
        new = min(old, max(in_use, int((Decimal(old) * keep).to_integral_value(ROUND_FLOOR))))
        changes.append(LimitChange(line.line_id, line.customer_id, old, in_use, new, old - new))
    return LimitPlan(share, tuple(changes))


def roll_rate(previous_buckets: Mapping[str, str], current_buckets: Mapping[str, str],
              from_bucket: str, to_bucket: str) -> float:
    """Share of accounts in ``from_bucket`` yesterday that are in ``to_bucket`` today
    (accounts keyed by id; accounts closed since are counted as not rolled). NaN if none."""
    base = [a for a, b in previous_buckets.items() if b == from_bucket]
    if not base:
        return float("nan")
    rolled = sum(1 for a in base if current_buckets.get(a) == to_bucket)
    return rolled / len(base)


def roll_counts(previous: Any, current: Any, by: Sequence[str] = ()) -> Any:
    """Vectorised bucket transitions behind :func:`roll_rate`: a polars DataFrame with the
    ``by`` columns of ``previous``, ``bucket`` (yesterday), ``bucket_today`` (null: the
    account is gone) and ``accounts``. ``previous`` and ``current`` are polars DataFrames
    with ``account_id`` (unique in each) and ``bucket``. :func:`roll_rate_of` turns it
    into the rate of one transition."""
    import polars as pl

    keys = list(by)
    joined = previous.select("account_id", "bucket", *keys).join(
        current.select("account_id", pl.col("bucket").alias("bucket_today")),
        on="account_id", how="left")
    return joined.group_by([*keys, "bucket", "bucket_today"]).agg(
        pl.len().alias("accounts"))


def roll_rate_of(counts: Any, from_bucket: str, to_bucket: str, by: Sequence[str] = ()
                 ) -> Any:
    """From :func:`roll_counts`: per ``by`` group, ``rolled`` (accounts in ``from_bucket``
    yesterday and in ``to_bucket`` today) and ``base`` (in ``from_bucket`` yesterday);
    rolled / base is :func:`roll_rate` (an account gone today counts as not rolled)."""
    import polars as pl

    base = counts.filter(pl.col("bucket") == from_bucket)
    rolled = pl.col("accounts").filter(pl.col("bucket_today") == to_bucket).sum()
    aggregates = (rolled.alias("rolled"), pl.col("accounts").sum().alias("base"))
    if not by:
        return base.select(*aggregates)
    return base.group_by(list(by)).agg(*aggregates)
