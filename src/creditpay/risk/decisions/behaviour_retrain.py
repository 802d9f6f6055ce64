"""The behaviour score retrained from the platform's own matured history (issue 18, item 7).

**Observations.** Every limit review stores, per line and review date, the behaviour
features exactly as :func:`~creditpay.risk.decisions.limit_review_job.behaviour_features`
computed them that day (``limit_review_actions.features``). Each is one observation: the
line's behaviour on its review date.

**Outcome.** Bad (1) when, within the ``window_days`` days after the review date (review
date excluded, review date + window included), any credit account of the customer was
``BAD_DPD`` (60) or more days past due or written off at a close of business (the day-end
positions the close stores, :func:`creditpay.credit.day_end.delinquent_days`); good (0)
otherwise.

**Matured only.** An observation is labelled only when its whole window lies in the
performance history: review date + window ≤ ``as_of`` and ≤ the last close of business with
stored positions, and the positions start no later than the day after the review. Any other
observation is counted as ``unmatured`` and left out: its outcome is not known yet, and
labelling it good would teach the model that recent lines are safe. Observations already
``BAD_DPD``+ days past due on their review date are left out too (``in_default``): the
score ranks performing lines; a line in default is handled by the policy's freeze.

**Retrain.** :func:`retrain_behaviour` refuses (ValidationError naming ``bads``) below
``bads_min`` bads. It splits out of time: the latest review dates holding about
``OOT_SHARE`` of the rows are the validation sample, the earlier ones train a scorecard
(:func:`creditpay.risk.scoring.scorecard.fit_scorecard`, the project's defaults, on the
points scale the ``limit_review`` policy's grades are written in). The new version is
registered (``behaviour``) and put in as challenger with no traffic; it is promoted to
champion only when its out-of-time AUC is at least the champion's on the same rows and the
out-of-time sample holds at least ``oot_bads_min`` bads; otherwise the champion stays and
the report says why. One transaction: registration, assignment(s) and an audit record
(``risk.behaviour_model.retrained``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import NotFoundError, ValidationError
from creditpay.platform import audit
from creditpay.platform.validators import check_date
from creditpay.risk.decisions import registry
from creditpay.risk.decisions.limit_review import MODEL_NAME
from creditpay.risk.decisions.tables import limit_review_actions
from creditpay.risk.features.synthetic import BEHAVIOUR_FEATURES

__all__ = ["BAD_DPD", "BADS_MIN", "OOT_BADS_MIN", "OOT_SHARE", "WINDOW_DAYS_DEFAULT",
           "BehaviourTrainingSet", "RetrainReport", "build_behaviour_training_set",
           "retrain_behaviour"]

BAD_DPD = 60
WINDOW_DAYS_DEFAULT = 90
BADS_MIN = 20
OOT_BADS_MIN = 5
OOT_SHARE = 0.3
COLUMNS = ("review_date", "account_id", "customer_id", *BEHAVIOUR_FEATURES, "bad")


@dataclasses.dataclass(frozen=True)
class BehaviourTrainingSet:
    """The labelled observations (pandas frame with ``COLUMNS``, ordered by review date,
    account) and what was left out."""

    frame: Any
    as_of: dt.date
    window_days: int
    performance_to: dt.date | None  # last day of performance history used
    observations: int  # limit-review observations dated on or before as_of
    unmatured: int
    in_default: int

    @property
    def rows(self) -> int:
        return int(len(self.frame))

    @property
    def bads(self) -> int:
        return int(self.frame["bad"].sum()) if len(self.frame) else 0


@dataclasses.dataclass
class RetrainReport:
    as_of: str
    window_days: int
    trained: bool
    rows: int
    bads: int
    train_rows: int = 0
    train_bads: int = 0
    oot_rows: int = 0
    oot_bads: int = 0
    oot_from: str | None = None  # first review date of the out-of-time sample
    auc_oot: float | None = None
    champion_version: int | None = None
    champion_auc_oot: float | None = None
    version: int | None = None
    promoted: bool = False
    reason: str = ""
    unmatured: int = 0
    in_default: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_window(window_days: Any) -> int:
    if isinstance(window_days, bool) or not isinstance(window_days, int) \
            or not 30 <= window_days <= 730:
        raise ValidationError("must be an integer from 30 to 730 days", field="window_days")
    return window_days


def build_behaviour_training_set(conn: Any, as_of: dt.date, *,
                                 window_days: int = WINDOW_DAYS_DEFAULT,
                                 currency: str = "CNY") -> BehaviourTrainingSet:
    """The matured, labelled behaviour observations as of ``as_of`` (module docstring).
    Read-only."""
    import pandas as pd

    from creditpay.credit.day_end import day_end_dates, delinquent_days

    as_of = check_date(as_of, "as_of")
    window = dt.timedelta(days=_check_window(window_days))
    first, last = day_end_dates(conn)
    horizon = None if last is None else min(last, as_of)
    r = limit_review_actions.c
    stored = conn.execute(select(r.review_date, r.account_id, r.customer_id, r.features)
                          .where(r.review_date <= as_of)
                          .order_by(r.review_date, r.account_id)).all()
    matured, unmatured, in_default = [], 0, 0
    for row in stored:
        review = row.review_date
        if horizon is None or first is None or review + window > horizon \
                or first > review + dt.timedelta(days=1):
            unmatured += 1
            continue
        if int(row.features.get("dpd_current", 0)) >= BAD_DPD:
            in_default += 1
            continue
        matured.append(row)
    bad_days: dict[str, list[dt.date]] = {}
    if matured:
        start = min(row.review_date for row in matured) + dt.timedelta(days=1)
        assert horizon is not None  # matured rows exist only under a horizon
        for customer_id, day in delinquent_days(conn, currency=currency, dpd_min=BAD_DPD,
                                                start=start, end=horizon):
            bad_days.setdefault(customer_id, []).append(day)
    records = []
    for row in matured:
        review = row.review_date
        days = bad_days.get(row.customer_id, [])
        bad = any(review < day <= review + window for day in days)
        records.append({"review_date": review, "account_id": row.account_id,
                        "customer_id": row.customer_id,
                        **{name: row.features[name] for name in BEHAVIOUR_FEATURES},
                        "bad": int(bad)})
    frame = pd.DataFrame(records, columns=list(COLUMNS))
    return BehaviourTrainingSet(frame, as_of, window_days, horizon, len(stored), unmatured,
                                in_default)


def _oot_split(frame: Any) -> tuple[Any, Any]:
    """(training rows, out-of-time rows): the latest review dates holding about
    ``OOT_SHARE`` of the rows are out of time (whole dates: a date is never split)."""
    dates = sorted(frame["review_date"].unique())
    if len(dates) < 2:
        return frame, frame.iloc[0:0]
    counts = frame.groupby("review_date").size()
    total, taken, cut = len(frame), 0, dates[-1]
    for day in reversed(dates[1:]):
        taken += int(counts[day])
        cut = day
        if taken >= OOT_SHARE * total:
            break
    return frame[frame["review_date"] < cut], frame[frame["review_date"] >= cut]


def _auc(bad: Any, score: Any) -> float | None:
    from creditpay.risk.scoring.metrics import roc_auc

    if len(bad) == 0 or int(bad.sum()) in (0, len(bad)):
        return None
    return round(float(roc_auc(bad.to_numpy(), -score)), 6)  # higher score = safer


def _business_date(uow: UnitOfWork) -> dt.date:
    return uow.clock.now().date()


def _sha256(frame: Any) -> str:
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def retrain_behaviour(uow: UnitOfWork, as_of: dt.date, *, actor: str,
                      window_days: int = WINDOW_DAYS_DEFAULT, currency: str = "CNY",
                      bads_min: int = BADS_MIN, oot_bads_min: int = OOT_BADS_MIN
                      ) -> RetrainReport:
    """Build the training set as of ``as_of``, train, validate out of time, register and
    (when it validates) promote a new behaviour model, with an audit record (module
    docstring). Refused with too few bads (ValidationError, field ``bads``), an ``as_of``
    after the business date, or bad arguments, before anything is written."""
    from creditpay.risk.scoring.artifact import save_model
    from creditpay.risk.scoring.dataset import dataset_from_frame
    from creditpay.risk.scoring.scorecard import ScorecardConfig, fit_scorecard

    as_of = check_date(as_of, "as_of")
    _check_window(window_days)
    for name, value in (("bads_min", bads_min), ("oot_bads_min", oot_bads_min)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
            raise ValidationError("must be an integer from 1 to 100000", field=name)
    if not isinstance(actor, str) or not 1 <= len(actor.strip()) <= 64:
        raise ValidationError("must be 1-64 characters", field="actor")
    if as_of > _business_date(uow):
        raise ValidationError("cannot be after the business date", field="as_of")
    with uow.connect() as conn:
        data = build_behaviour_training_set(conn, as_of, window_days=window_days,
                                            currency=currency)
        try:
            champion: int | None = registry.current_assignment(conn, MODEL_NAME) \
                .champion_version
        except NotFoundError:
            champion = None
        champion_model = (registry.load_registered(conn, MODEL_NAME, champion).model
                          if champion is not None else None)
    report = RetrainReport(as_of.isoformat(), window_days, False, data.rows, data.bads,
                           unmatured=data.unmatured, in_default=data.in_default,
                           champion_version=champion)
    if data.bads < bads_min:
        raise ValidationError(
            f"{data.bads} bads in {data.rows} matured observations ({data.unmatured} not "
            f"matured yet): at least {bads_min} are needed to train", field="bads")
    train, oot = _oot_split(data.frame)
    train_bads = int(train["bad"].sum())
    if train_bads in (0, len(train)):
        raise ValidationError(f"the training part (before the out-of-time sample) holds "
                              f"{train_bads} bads in {len(train)} rows: one class",
                              field="bads")
    features = list(BEHAVIOUR_FEATURES)
    columns = train[features + ["bad"]].reset_index(drop=True)
    columns[features] = columns[features].astype(float)
    dataset = dataset_from_frame(columns, "bad", numeric=features, sha256=_sha256(columns))
    model = fit_scorecard(dataset, ScorecardConfig())
    oot_frame = oot[features].reset_index(drop=True).astype(float)
    report.train_rows, report.train_bads = len(train), train_bads
    report.oot_rows, report.oot_bads = len(oot), int(oot["bad"].sum())
    report.oot_from = oot["review_date"].min().isoformat() if len(oot) else None
    if len(oot):
        report.auc_oot = _auc(oot["bad"], model.score(oot_frame))
        if champion_model is not None:
            report.champion_auc_oot = _auc(oot["bad"], champion_model.score(oot_frame))
    if report.oot_bads < oot_bads_min or report.auc_oot is None:
        reason = (f"kept the champion: the out-of-time sample holds {report.oot_bads} bads "
                  f"in {report.oot_rows} rows, fewer than {oot_bads_min} (or one class)")
        code, promote = "kept_champion_oot_too_few_bads", False
    elif report.champion_auc_oot is not None and report.auc_oot < report.champion_auc_oot:
        reason = (f"kept the champion: out-of-time AUC {report.auc_oot:.3f} < the "
                  f"champion's {report.champion_auc_oot:.3f} on the same rows")
        code, promote = "kept_champion_lower_auc", False
    else:
        reason = (f"promoted: out-of-time AUC {report.auc_oot:.3f} >= the champion's "
                  + (f"{report.champion_auc_oot:.3f}" if report.champion_auc_oot is not None
                     else "(none in force)")
                  + f" with {report.oot_bads} bads")
        code, promote = "promoted", True
    metrics = {"training": {"rows": len(train), "bads": train_bads,
                            "auc": _auc(train["bad"], model.score(
                                train[features].reset_index(drop=True).astype(float)))},
               "out_of_time": {"rows": report.oot_rows, "bads": report.oot_bads,
                               "from": report.oot_from, "auc": report.auc_oot},
               "observations": {"as_of": as_of.isoformat(), "window_days": window_days,
                                "bad_definition": f"{BAD_DPD}+ dpd or written off",
                                "unmatured": data.unmatured, "in_default": data.in_default}}

    with tempfile.TemporaryDirectory(prefix="behaviour-") as folder:
        directory = save_model(Path(folder) / "behaviour", model, data=dataset,
                               created_at=f"{as_of.isoformat()}T00:00:00+00:00",
                               author=actor, metrics=metrics)

        def use_case(tx: Tx) -> RetrainReport:
            if as_of > tx.today:
                raise ValidationError("cannot be after the business date", field="as_of")
            version = registry.register_model(tx, directory, name=MODEL_NAME,
                                              registered_by=actor)
            report.version = version.version
            try:
                current = registry.current_assignment(tx.conn, MODEL_NAME)
            except NotFoundError:
                current = None
            known = current is not None and version.version in (
                current.champion_version, current.challenger_version)
            report.promoted = promote
            report.reason = reason
            if not known:  # a rerun of the same as_of registers nothing new
                if current is not None:
                    registry.promote(tx, MODEL_NAME, version.version, actor=actor,
                                     reason=f"retrained as of {as_of}: challenger",
                                     as_challenger_bps=0)
                if promote or current is None:
                    registry.promote(tx, MODEL_NAME, version.version, actor=actor,
                                     reason=reason[:255])
                    report.promoted = True
            else:
                report.promoted = current is not None and \
                    current.champion_version == version.version
            report.trained = True
            # Codes and figures only: the audit payload holds no free text.
            audit.append(tx, "system", actor, "risk.behaviour_model.retrained", "risk_model",
                         f"{MODEL_NAME}:{version.version}", {
                             "as_of": report.as_of, "window_days": window_days,
                             "rows": report.rows, "bads": report.bads,
                             "oot_rows": report.oot_rows, "oot_bads": report.oot_bads,
                             "auc_oot": report.auc_oot,
                             "champion_version": report.champion_version,
                             "champion_auc_oot": report.champion_auc_oot,
                             "version": version.version, "promoted": report.promoted,
                             "decision": code if not known else "already_registered"})
            return report

        return uow.run(use_case)
