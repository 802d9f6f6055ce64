"""The daily early-warning job: compute the day's portfolio metrics from the platform, store
them, evaluate every configured monitor over the stored history, store the alerts.

:func:`run_early_warning` runs after the close of business (``creditpay nightly``) and is
idempotent per business date: the first run of a date stores its metrics, alerts, the
account bucket snapshot and a run record in one transaction; a later run of the same date
returns that record and changes nothing.

Metrics (all shares 0..1 except PSI; ``segment`` is ``all``, ``product:<code>``,
``grade:<A-E>`` or ``scenario:<payment scenario>``; a day's value is NULL, "not
measurable", when its denominator is below the minimum named here, so noise over a handful
of cases never raises an alert):

* ``approval_rate``: approved / decided credit applications decided that UTC day
  (risk ``credit_decisions``; ``refer`` counts as not approved), by ``all`` and the
  application's product (policy product code); at least ``DECISIONS_MIN`` decisions;
* ``fraud_rate``: payments whose fraud screening outcome was challenge, review or decline
  / payments screened, created that day (the caller's
  :class:`~creditpay.risk.early_warning.ports.ScreeningSource`, payments'
  ``daily_screening_counts``), by ``all`` and payment scenario; at least ``SCREENED_MIN``;
  ``fraud_hold_rate`` is the same with review and decline only (held payments: challenges
  are mostly honest customers on a new phone);
* ``first_payment_default`` (FPD, ``fpd_days`` = N, 30 by default): the cohort is every
  credit account whose first installment (for a line: its first statement item; never a
  down payment paid at checkout) fell due in the 7 days ending N days before the business
  date, i.e. due date in ``[d - N - 6, d - N]``; the value is the share of that cohort
  whose first installment is still not paid on the business date (so, unpaid N to N+6
  days after it was due); by ``all``, account product and grade; at least ``COHORT_MIN``;
* ``roll_rate_m0_m1`` / ``roll_rate_m1_m2``: of the accounts with a balance (principal or
  days past due) in bucket M0 (M1) at the end of the previous business day, the share in
  M1 (M2) today (:func:`~creditpay.risk.early_warning.monitors.roll_counts`, the
  vectorised :func:`~creditpay.risk.early_warning.monitors.roll_rate`); segments from
  yesterday's snapshot; at least ``ROLL_BASE_MIN`` accounts;
* ``utilisation``: drawn / limit over active lines with a limit, drawn = principal of the
  active accounts that consume the line (the line account and plans on it; authorisation
  holds not counted), by ``all``, line product and grade; at least ``LINES_MIN`` lines
  (its denominator is money, so the sample is counted here, not by the monitor);
* ``score_psi``: PSI of the application scores of the last ``psi_days`` days (decisions by
  the champion version of the ``application`` model) against that version's development
  score distribution (``baseline.json`` in its registered artifact); when the artifact has
  no baseline, the first 28 days of decisions under that version are the reference (the
  run report says so); at least ``PSI_SCORES_MIN`` scores;
* ``feature_psi:<feature>``: the same for every feature in the baseline.

Grade of an account or line: the grade of the customer's latest approved credit decision.

Speed: the book is read in columnar form (:func:`creditpay.credit.service
.portfolio_frames`) and every metric is a polars expression; nothing loops per account in
Python (``creditpay bench early-warning`` measures a run on a synthetic book).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import bindparam, delete, select

from creditpay.db.prepared import Prepared
from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import NotFoundError, ValidationError
from creditpay.platform.validators import check_date
from creditpay.risk.early_warning.monitors import (
    Alert,
    Monitor,
    evaluate,
    load_monitors,
    roll_counts,
    roll_rate_of,
)
from creditpay.risk.early_warning.ports import ScreeningSource
from creditpay.risk.early_warning.tables import (
    ew_alerts,
    ew_bucket_snapshots,
    ew_metric_values,
    ew_runs,
)

__all__ = ["EarlyWarningReport", "MetricValue", "run_early_warning", "compute_metrics",
           "default_monitors", "DEFAULT_MONITORS_PATH", "Minimums", "customer_grades", "book_frames",
           "alert_id_for"]

DEFAULT_MONITORS_PATH = Path(__file__).with_name("default_monitors.json")
DECISIONS_MIN = 10
SCREENED_MIN = 20
COHORT_MIN = 10
ROLL_BASE_MIN = 10
LINES_MIN = 30
PSI_SCORES_MIN = 50
PSI_REFERENCE_DAYS = 28
HISTORY_DAYS_MAX = 180  # days of stored history a monitor is evaluated over
FPD_DAYS_DEFAULT = 30
PSI_DAYS_DEFAULT = 7
SNAPSHOT_FORMAT = "arrow-ipc-zstd"
FLAGGED = ("challenge", "review", "decline")
HELD = ("review", "decline")


@dataclasses.dataclass(frozen=True)
class Minimums:
    """Smallest denominators for a day's value to count (below: stored as NULL)."""

    decisions: int = DECISIONS_MIN
    screened: int = SCREENED_MIN
    cohort: int = COHORT_MIN
    roll_base: int = ROLL_BASE_MIN
    psi_scores: int = PSI_SCORES_MIN
    lines: int = LINES_MIN


@dataclasses.dataclass(frozen=True)
class MetricValue:
    metric: str
    segment: str
    value: float | None  # None: not measurable (denominator below the minimum)
    numerator: float | None
    denominator: float | None


@dataclasses.dataclass
class EarlyWarningReport:
    business_date: str
    already_ran: bool
    metrics: int
    measured: int  # values that are not NULL
    alerts: list[dict[str, Any]]
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_monitors(path: str | Path | None = None) -> list[Monitor]:
    """The monitors of a JSON document (default: the bundled ``default_monitors.json``)."""
    target = Path(path) if path is not None else DEFAULT_MONITORS_PATH
    try:
        document = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"{str(target)!r} not found", field="monitors") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{target.name} is not JSON: {exc}", field="monitors") from None
    return load_monitors(document)


def _utc_day(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def _value(metric: str, segment: str, numerator: float, denominator: float,
           minimum: float) -> MetricValue:
    value = numerator / denominator if denominator >= max(minimum, 1e-12) else None
    return MetricValue(metric, segment, value, float(numerator), float(denominator))


# ------------------------------------------------------------------------------ sources
def customer_grades(conn: Any) -> pl.DataFrame:
    """customer_id -> grade of the customer's latest approved credit decision (risk
    decisions' :func:`~creditpay.risk.decisions.queries.approved_grades`)."""
    from creditpay.risk.decisions.queries import approved_grades

    return approved_grades(conn)


def book_frames(conn: Any, currency: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The credit book (``credit.service.portfolio_frames``) with each customer's grade."""
    from creditpay.credit.service import portfolio_frames

    accounts, lines = portfolio_frames(conn, currency)
    grades = customer_grades(conn)
    return (accounts.join(grades, on="customer_id", how="left"),
            lines.join(grades, on="customer_id", how="left"))


def _segment_sums(small: pl.DataFrame, product: str = "product_code"
                  ) -> list[tuple[str, float, float]]:
    """``(segment, n, d)`` for ``all``, each ``product:<code>`` and each ``grade:<g>``
    (known grades only) from a frame already summed by product and grade (columns ``n``,
    ``d``): every metric here is a ratio of sums, so segments add up from the small frame
    instead of exploding the book once per segment."""
    out = [("all", float(small["n"].sum() or 0), float(small["d"].sum() or 0))]
    for key, prefix in ((product, "product:"), ("grade", "grade:")):
        if key not in small.columns:
            continue
        part = (small.filter(pl.col(key).is_not_null()).group_by(key)
                .agg(pl.col("n").sum(), pl.col("d").sum()).sort(key))
        out += [(f"{prefix}{k}", float(n), float(d)) for k, n, d in part.iter_rows()]
    return out


def _by_segment(frame: pl.DataFrame, numerator: pl.Expr, denominator: pl.Expr,
                product: str = "product_code") -> list[tuple[str, float, float]]:
    keys = [product] + (["grade"] if "grade" in frame.columns else [])
    small = frame.group_by(keys).agg(numerator.alias("n"), denominator.alias("d"))
    return _segment_sums(small, product)


# ------------------------------------------------------------------------------ metrics
def _approval(conn: Any, day: dt.date, least: Minimums) -> list[MetricValue]:
    from creditpay.risk.decisions.queries import decided_between

    frame = decided_between(conn, *_utc_day(day))
    if frame.height == 0:
        return [MetricValue("approval_rate", "all", None, 0.0, 0.0)]
    per = _by_segment(frame, (pl.col("outcome") == "approve").sum(), pl.len())
    return [_value("approval_rate", s, n, dd, least.decisions) for s, n, dd in per]


def _fraud(conn: Any, day: dt.date, least: Minimums, screening: ScreeningSource
           ) -> list[MetricValue]:
    counts = screening(conn, day, day)
    totals: dict[str, list[int]] = {"all": [0, 0, 0]}
    for c in counts:
        flagged, held = c.challenge + c.review + c.decline, c.review + c.decline
        for segment in ("all", f"scenario:{c.scenario}"):
            t = totals.setdefault(segment, [0, 0, 0])
            t[0] += flagged
            t[1] += held
            t[2] += c.screened
    out = []
    for segment, (flagged, held, screened) in sorted(totals.items()):
        out.append(_value("fraud_rate", segment, flagged, screened, least.screened))
        out.append(_value("fraud_hold_rate", segment, held, screened, least.screened))
    return out


def _fpd(accounts: pl.DataFrame, day: dt.date, fpd_days: int, least: Minimums
         ) -> list[MetricValue]:
    last = day - dt.timedelta(days=fpd_days)
    first = last - dt.timedelta(days=6)
    cohort = accounts.filter(pl.col("first_due_date").is_between(first, last))
    metric = "first_payment_default"
    if cohort.height == 0:
        return [MetricValue(metric, "all", None, 0.0, 0.0)]
    per = _by_segment(cohort, (pl.col("first_due_status") != "paid").fill_null(True).sum(),
                      pl.len())
    return [_value(metric, s, n, d, least.cohort) for s, n, d in per]


def _utilisation(accounts: pl.DataFrame, lines: pl.DataFrame, least: Minimums
                 ) -> list[MetricValue]:
    active = lines.filter((pl.col("status") == "active") & (pl.col("limit_minor") > 0))
    if active.height == 0:
        return [MetricValue("utilisation", "all", None, 0.0, 0.0)]
    keys = ["product_code"] + (["grade"] if "grade" in active.columns else [])
    # Drawn = principal of the active accounts on each line, summed straight into the
    # line's (product, grade): no per-line table.
    drawn = (accounts.filter((pl.col("status") == "active") & pl.col("line_id").is_not_null())
             .select("line_id", "principal_minor")
             .join(active.select("line_id", *keys), on="line_id", how="inner")
             .group_by(keys).agg(pl.col("principal_minor").sum().alias("n")))
    limits = active.group_by(keys).agg(pl.col("limit_minor").sum().alias("d"))
    small = limits.join(drawn, on=keys, how="left", nulls_equal=True).with_columns(
        pl.col("n").fill_null(0))
    per = _segment_sums(small)
    counted = {s: n for s, n, _ in _segment_sums(
        active.group_by(keys).agg(pl.len().alias("n"), pl.len().alias("d")))}
    out = []
    for segment, n, d in per:
        value = _value("utilisation", segment, n, d, 1)
        if counted.get(segment, 0) < least.lines:  # a few lines' draws are noise
            value = dataclasses.replace(value, value=None)
        out.append(value)
    return out


def _snapshot(accounts: pl.DataFrame) -> pl.DataFrame:
    """Accounts with a balance today: id, bucket and the segments they count in."""
    book = accounts.filter((pl.col("status") == "active")
                           & ((pl.col("principal_minor") > 0) | (pl.col("dpd") > 0)))
    return book.select("account_id", "bucket", "product_code", "grade")


_LABELS = ("bucket", "product_code", "grade")


def _encode(snapshot: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    # Categorical labels: a million rows in about 2 MB.
    snapshot.with_columns(pl.col(*_LABELS).cast(pl.Categorical)).write_ipc(
        buffer, compression="zstd")
    return buffer.getvalue()


def _decode(data: bytes) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(bytes(data))).with_columns(pl.col(*_LABELS).cast(pl.String))


def _rolls(previous: pl.DataFrame | None, current: pl.DataFrame, least: Minimums
           ) -> list[MetricValue]:
    if previous is None:
        return []
    keys = ("product_code", "grade")
    counts = roll_counts(previous, current, by=keys)  # one join for both roll rates
    out = []
    for metric, source, target in (("roll_rate_m0_m1", "M0", "M1"),
                                   ("roll_rate_m1_m2", "M1", "M2")):
        small = roll_rate_of(counts, source, target, by=keys)
        per = _segment_sums(small.rename({"rolled": "n", "base": "d"}))
        out += [_value(metric, s, n, d, least.roll_base) for s, n, d in per]
    return out


def _scores(conn: Any, day: dt.date, psi_days: int, model_version: int,
            *, reference: bool = False) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Application scores and feature values of decisions by ``model_version``: of the
    ``psi_days`` days ending ``day``, or (``reference``) its first ``PSI_REFERENCE_DAYS``."""
    from creditpay.risk.decisions.queries import first_scored_at, scored_decisions

    if reference:
        first = first_scored_at(conn, "application", model_version)
        if first is None:
            return np.array([]), []
        start = first
        end = first + dt.timedelta(days=PSI_REFERENCE_DAYS)
    else:
        start = _utc_day(day - dt.timedelta(days=psi_days - 1))[0]
        end = _utc_day(day)[1]
    rows = scored_decisions(conn, "application", model_version, start, end)
    return (np.array([r.score for r in rows], dtype=np.float64), [r.features for r in rows])


def _feature_values(features: list[dict[str, Any]], name: str, kind: str) -> Any:
    values = [f.get(name) for f in features]
    if kind == "numeric":
        return np.array([float(v) if isinstance(v, int | float) else np.nan
                         for v in values], dtype=np.float64)
    return values


def _psi(conn: Any, day: dt.date, psi_days: int, notes: list[str], least: Minimums
         ) -> list[MetricValue]:
    from creditpay.risk.decisions import registry
    from creditpay.risk.scoring.metrics import psi, psi_against_baseline

    try:
        champion = registry.current_assignment(conn, "application").champion_version
    except NotFoundError:
        notes.append("score_psi: no application model in force")
        return []
    scores, features = _scores(conn, day, psi_days, champion)
    baseline = registry.load_registered(conn, "application", champion).baseline or {}
    out = []
    n = float(scores.size)
    if "score" in baseline:
        reference_scores, reference_features = None, None
    else:
        notes.append(f"score_psi: application v{champion} stores no development "
                     f"distribution; reference = its first {PSI_REFERENCE_DAYS} days of "
                     "decisions")
        reference_scores, reference_features = _scores(conn, day, psi_days, champion,
                                                       reference=True)
    if scores.size < least.psi_scores:
        out.append(MetricValue("score_psi", "all", None, None, n))
    elif reference_scores is None:
        out.append(MetricValue("score_psi", "all",
                               psi_against_baseline(baseline["score"], scores).psi, None, n))
    elif reference_scores.size >= least.psi_scores:
        out.append(MetricValue("score_psi", "all", psi(reference_scores, scores).psi, None, n))
    else:
        out.append(MetricValue("score_psi", "all", None, None, n))
    feature_baselines = dict(baseline.get("features") or {})
    names = sorted(feature_baselines) if reference_features is None else sorted(
        {k for f in (reference_features or []) for k in f})
    for name in names:
        metric = f"feature_psi:{name}"[:96]
        if scores.size < least.psi_scores:
            out.append(MetricValue(metric, "all", None, None, n))
            continue
        if reference_features is None:
            stored = feature_baselines[name]
            actual = _feature_values(features, name, stored["kind"])
            value = psi_against_baseline(stored, actual).psi
        else:
            kind = "numeric" if all(isinstance(f.get(name), int | float | type(None))
                                    for f in reference_features) else "categorical"
            if len(reference_features) < least.psi_scores:
                out.append(MetricValue(metric, "all", None, None, n))
                continue
            value = psi(_feature_values(reference_features, name, kind),
                        _feature_values(features, name, kind), kind=kind).psi
        out.append(MetricValue(metric, "all", float(value), None, n))
    return out


def compute_metrics(conn: Any, business_date: dt.date, *, screening: ScreeningSource,
                    currency: str = "CNY",
                    previous_snapshot: pl.DataFrame | None = None,
                    fpd_days: int = FPD_DAYS_DEFAULT, psi_days: int = PSI_DAYS_DEFAULT,
                    notes: list[str] | None = None, minimums: Minimums | None = None
                    ) -> tuple[list[MetricValue], pl.DataFrame]:
    """The day's metrics (module docstring) and today's bucket snapshot. Read-only.
    ``screening``: the payments' daily screening counts (``fraud_rate``)."""
    notes = notes if notes is not None else []
    least = minimums or Minimums()
    accounts, lines = book_frames(conn, currency)
    snapshot = _snapshot(accounts)
    values = (_approval(conn, business_date, least) + _fraud(conn, business_date, least, screening)
              + _fpd(accounts, business_date, fpd_days, least) + _utilisation(accounts, lines, least)
              + _rolls(previous_snapshot, snapshot, least)
              + _psi(conn, business_date, psi_days, notes, least))
    if previous_snapshot is None:
        notes.append("roll rates: no bucket snapshot of the previous business day")
    return values, snapshot


# ------------------------------------------------------------------------------ alerts
def alert_id_for(monitor: str, metric: str, segment: str, day: dt.date) -> str:
    """Deterministic id of the alert a monitor raises on a series and day (a replayed run
    gives the same ids)."""
    digest = hashlib.sha256(f"{monitor}|{metric}|{segment}|{day.isoformat()}".encode())
    return "ewa_" + digest.hexdigest()[:24]


Series = dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]


def _history(conn: Any, day: dt.date, history_days: int) -> tuple[list[dt.date], Series]:
    """The stored days ending ``day`` and, per (metric, segment), its values and their
    denominators (the sample a rate monitor's minimum is checked against)."""
    start = day - dt.timedelta(days=history_days - 1)
    rows = _history_rows(conn, start, day)
    days = [start + dt.timedelta(days=i) for i in range(history_days)]
    series: Series = {}
    for metric, segment, when, value, denominator in rows:
        pair = series.get((metric, segment))
        if pair is None:
            pair = series[(metric, segment)] = (np.full(history_days, np.nan),
                                                np.full(history_days, np.nan))
        if value is not None:
            pair[0][(when - start).days] = float(value)
        if denominator is not None:
            pair[1][(when - start).days] = float(denominator)
    # Evaluate from the first day any series has a value: leading empty days are no history.
    first = min((int(np.argmax(~np.isnan(x))) for x, _ in series.values()
                 if (~np.isnan(x)).any()), default=history_days - 1)
    return days[first:], {k: (v[first:], n[first:]) for k, (v, n) in series.items()}


# The window of stored values read each night (up to ``history_days`` days of every series),
# a constant statement run straight on the driver (db.prepared: without SQLAlchemy's
# per-row result processing, with the same conversions a Core result makes).
# tests/risk/early_warning/test_history_read.py checks it against the Core read on both
# stores.
_HISTORY = Prepared(
    select(ew_metric_values.c.metric, ew_metric_values.c.segment, ew_metric_values.c.day,
           ew_metric_values.c.value, ew_metric_values.c.denominator)
    .where(ew_metric_values.c.day >= bindparam("start"),
           ew_metric_values.c.day <= bindparam("end")))


def _history_rows(conn: Any, start: dt.date, end: dt.date) -> list[tuple[Any, ...]]:
    """(metric, segment, day, value, denominator) of every stored value from ``start`` to
    ``end``, as ``select(...)`` of those columns returns them."""
    return _HISTORY.rows(conn, {"start": start, "end": end})


def _evaluate_all(monitors: Sequence[Monitor], days: list[dt.date], series: Series
                  ) -> list[Alert]:
    alerts = []
    for monitor in monitors:
        for (metric, segment), (values, samples) in sorted(series.items(),
                                                           key=lambda item: item[0]):
            if not monitor.covers(metric, segment) or math.isnan(values[-1]):
                continue
            concrete = dataclasses.replace(monitor, metric=metric, segment=segment)
            alerts += evaluate(concrete, days, values, samples=samples)
    return alerts


def _alert_row(alert: Alert, now: dt.datetime) -> dict[str, Any]:
    return {"id": alert_id_for(alert.monitor, alert.metric, alert.segment, alert.day),
            "monitor": alert.monitor, "metric": alert.metric, "segment": alert.segment,
            "day": alert.day, "severity": alert.severity, "value": alert.value,
            "statistic": alert.statistic, "centre": alert.centre, "lower_bound": alert.lower,
            "upper_bound": alert.upper,
            "sigmas": alert.sigmas if math.isfinite(alert.sigmas) else 999.0,
            "method": alert.method, "playbook": alert.playbook, "evidence": alert.evidence,
            "status": "open", "created_at": now, "updated_at": now}


# ------------------------------------------------------------------------------ the job
def _run(tx: Tx, day: dt.date, monitors: Sequence[Monitor], screening: ScreeningSource,
         currency: str, fpd_days: int, psi_days: int, history_days: int,
         minimums: Minimums | None) -> EarlyWarningReport:
    done = tx.conn.execute(select(ew_runs.c.report).where(ew_runs.c.day == day)).first()
    if done is not None:
        return EarlyWarningReport(**{**done.report, "already_ran": True})
    s = ew_bucket_snapshots.c
    previous_row = tx.conn.execute(select(s.data).where(
        s.day == day - dt.timedelta(days=1))).first()
    previous = _decode(previous_row.data) if previous_row is not None else None
    notes: list[str] = []
    values, snapshot = compute_metrics(tx.conn, day, screening=screening, currency=currency,
                                       previous_snapshot=previous, fpd_days=fpd_days,
                                       psi_days=psi_days, notes=notes, minimums=minimums)
    if values:
        tx.conn.execute(ew_metric_values.insert(), [
            {"day": day, "metric": v.metric, "segment": v.segment, "value": v.value,
             "numerator": v.numerator, "denominator": v.denominator,
             "computed_at": tx.now} for v in values])
    days, series = _history(tx.conn, day, history_days)
    alerts = _evaluate_all(monitors, days, series)
    rows = [_alert_row(a, tx.now) for a in alerts]
    if rows:
        tx.conn.execute(ew_alerts.insert(), rows)
    tx.conn.execute(delete(ew_bucket_snapshots).where(s.day <= day))
    tx.conn.execute(ew_bucket_snapshots.insert().values(
        day=day, accounts=snapshot.height, format=SNAPSHOT_FORMAT, data=_encode(snapshot),
        created_at=tx.now))
    report = EarlyWarningReport(
        day.isoformat(), False, len(values), sum(1 for v in values if v.value is not None),
        [{"id": r["id"], "monitor": r["monitor"], "metric": r["metric"],
          "segment": r["segment"], "severity": r["severity"], "value": r["value"],
          "playbook": r["playbook"]} for r in rows], notes)
    tx.conn.execute(ew_runs.insert().values(day=day, computed_at=tx.now, metrics=len(values),
                                            alerts=len(rows), report=report.as_dict()))
    for r in rows:
        tx.emit("risk.early_warning.alert", "ew_alert", r["id"],
                {"monitor": r["monitor"], "metric": r["metric"], "segment": r["segment"],
                 "day": day.isoformat(), "severity": r["severity"],
                 "playbook": r["playbook"]})
    return report


def run_early_warning(uow: UnitOfWork, business_date: dt.date, *,
                      screening: ScreeningSource,
                      monitors: Sequence[Monitor] | None = None, currency: str = "CNY",
                      fpd_days: int = FPD_DAYS_DEFAULT, psi_days: int = PSI_DAYS_DEFAULT,
                      history_days: int = HISTORY_DAYS_MAX,
                      minimums: Minimums | None = None) -> EarlyWarningReport:
    """Compute, store and judge ``business_date`` in one transaction (module docstring).
    ``screening``: the payments' daily screening counts
    (:func:`creditpay.payments.reporting.daily_screening_counts`), passed in because risk
    sits below payments. ``monitors``: default the bundled ``default_monitors.json``.
    Re-running a date returns its stored report (``already_ran``) and changes nothing."""
    day = check_date(business_date, "business_date")
    for name, value, low, high in (("fpd_days", fpd_days, 1, 365),
                                   ("psi_days", psi_days, 1, 90),
                                   ("history_days", history_days, 8, 732)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationError(f"must be an integer from {low} to {high}", field=name)
    chosen = list(monitors) if monitors is not None else default_monitors()
    return uow.run(lambda tx: _run(tx, day, chosen, screening, currency, fpd_days, psi_days,
                                   history_days, minimums))
