"""The consumer's credit score (Sesame-style, 350-950), what drives it, how to raise it.

The score is a monotone map of the model's probability of default:

    credit_score = clamp(round(base_score + points_per_doubling · log2(odds_good / base_odds)),
                         350, 950),     odds_good = (1 − PD) / PD

Defaults: 600 at odds 20:1 (PD ≈ 4.8 %), 50 points per doubling of the odds; so a higher PD
never gives a higher score (tested with Hypothesis). The bands follow Sesame Credit's.

*Main factors* are the model's reason codes (characteristics below their best bin).
*How to improve* lists, for characteristics the consumer can act on, the credit-score points
gained by moving that characteristic to its best bin, largest first (scorecards only: a GBM
has no additive points to move).

A *deposit waiver* (信用免押, rentals and sharing economy) is granted at or above a
configurable score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from creditpay.errors import ValidationError
from creditpay.i18n import N_, bilingual, translate
from creditpay.risk.decisions import engine, registry
from creditpay.risk.features.declarations import feature
from creditpay.risk.scoring.artifact import LoadedModel

__all__ = ["CREDIT_SCORE_MAX", "CREDIT_SCORE_MIN", "CreditScore", "CreditScoreScale",
           "DepositWaiver", "consumer_credit_score", "credit_score_for_decision",
           "credit_score_from_pd", "deposit_waiver", "latest_credit_score"]

CREDIT_SCORE_MIN = 350
CREDIT_SCORE_MAX = 950
# (lowest score, band name): the names are msgids of the creditpay catalogs (creditpay.i18n).
_BANDS = ((700, N_("excellent")), (650, N_("very good")), (600, N_("good")), (550, N_("fair")),
          (CREDIT_SCORE_MIN, N_("poor")))
IMPROVEMENTS_MAX = 3


@dataclass(frozen=True)
class CreditScoreScale:
    base_score: float = 600.0
    base_odds: float = 20.0
    points_per_doubling: float = 50.0

    def __post_init__(self) -> None:
        if not (self.base_odds > 0 and self.points_per_doubling > 0
                and math.isfinite(self.base_score)):
            raise ValidationError("scale needs positive odds and points per doubling",
                                  field="scale")


def credit_score_from_pd(pd: float, scale: CreditScoreScale = CreditScoreScale()) -> int:
    """Credit score (350-950) of a probability of default in (0, 1)."""
    if not isinstance(pd, int | float) or isinstance(pd, bool) or not 0.0 < pd < 1.0:
        raise ValidationError("PD must be a number strictly between 0 and 1", field="pd")
    odds_good = (1.0 - pd) / pd
    raw = scale.base_score + scale.points_per_doubling * math.log2(odds_good / scale.base_odds)
    return int(min(CREDIT_SCORE_MAX, max(CREDIT_SCORE_MIN, math.floor(raw + 0.5))))


def _band(score: int) -> tuple[str, str]:
    for floor, name in _BANDS:
        if score >= floor:
            return translate(name, "en"), translate(name, "zh-CN")
    raise AssertionError("score below the scale")  # credit_score_from_pd clamps


@dataclass(frozen=True)
class CreditScore:
    score: int
    pd: float
    band_en: str
    band_zh: str
    factors: list[dict[str, Any]] = field(default_factory=list)
    improvements: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "pd": self.pd, "band": {"en": self.band_en,
                                                              "zh": self.band_zh},
                "factors": self.factors, "improvements": self.improvements}


def _labels(name: str) -> tuple[str, str, Any]:
    try:
        declared = feature(name)
    except KeyError:
        text = name.replace("_", " ")
        return text, text, None
    return declared.label_en, declared.label_zh, declared


def consumer_credit_score(loaded: LoadedModel, features: Mapping[str, Any],
                          scale: CreditScoreScale = CreditScoreScale()) -> CreditScore:
    """Score, band, main factors and improvement advice for one customer's features."""
    scored = engine.model_output(loaded, features)
    score = credit_score_from_pd(scored["pd"], scale)
    band_en, band_zh = _band(score)
    factors = []
    for reason in scored["reasons"]:
        label_en, label_zh, _ = _labels(reason["characteristic"])
        factors.append({"characteristic": reason["characteristic"], "en": label_en,
                        "zh": label_zh, "your_value": reason["bin"]})
    improvements = []
    model = loaded.model
    if loaded.kind == "scorecard":
        total = scored["score"]
        for characteristic in model.characteristics:
            label_en, label_zh, declared = _labels(characteristic.name)
            if declared is None or not declared.actionable:
                continue
            gain = characteristic.best_points - scored["points"][characteristic.name]
            if gain <= 1e-9:
                continue
            new_pd = float(model.scaling.pd_from_score(total + gain))
            # PD can round to exactly 0/1 far out in the tails; keep it inside (0, 1).
            new_pd = min(max(new_pd, 1e-12), 1 - 1e-12)
            delta = credit_score_from_pd(new_pd, scale) - score
            if delta <= 0:
                continue
            best = max(range(len(characteristic.points)),
                       key=lambda i: (characteristic.counts[i] > 0, characteristic.points[i]))
            improvements.append({
                "characteristic": characteristic.name, "points": delta,
                "target": characteristic.bin_labels()[best],
                **bilingual("{advice} (up to +{points} points)", points=delta,
                            advice={"en": declared.improve_en,
                                    "zh-CN": declared.improve_zh})})
        improvements.sort(key=lambda item: (-item["points"], item["characteristic"]))
    return CreditScore(score, scored["pd"], band_en, band_zh, factors,
                       improvements[:IMPROVEMENTS_MAX])


def credit_score_for_decision(conn: Connection, decision_id: str,
                              scale: CreditScoreScale = CreditScoreScale()) -> CreditScore:
    """The credit score behind a stored decision (same features, same model version)."""
    from creditpay.risk.decisions.service import get_decision

    decision = get_decision(conn, decision_id)
    loaded = registry.load_registered(conn, decision.model_name, decision.model_version)
    return consumer_credit_score(loaded, decision.features, scale)


def latest_credit_score(conn: Connection, customer_id: str,
                        scale: CreditScoreScale = CreditScoreScale()) -> CreditScore:
    """The credit score behind the customer's latest scored decision (what the app shows);
    NotFoundError naming ``customer_id`` when the customer was never scored."""
    from sqlalchemy import select

    from creditpay.errors import NotFoundError
    from creditpay.risk.decisions.tables import credit_decisions

    c = credit_decisions.c
    decision_id = conn.execute(select(c.id).where(
        c.customer_id == customer_id, c.score.is_not(None))
        .order_by(c.decided_at.desc(), c.id.desc()).limit(1)).scalar()
    if decision_id is None:
        raise NotFoundError("no credit score yet: apply for credit first",
                            field="customer_id")
    return credit_score_for_decision(conn, decision_id, scale)


@dataclass(frozen=True)
class DepositWaiver:
    eligible: bool
    credit_score: int
    threshold: int
    en: str
    zh: str

    def to_json(self) -> dict[str, Any]:
        return {"eligible": self.eligible, "credit_score": self.credit_score,
                "threshold": self.threshold, "en": self.en, "zh": self.zh}


def deposit_waiver(credit_score: int, threshold: int = 650) -> DepositWaiver:
    """Whether a rental deposit is waived: credit score at or above ``threshold``."""
    for name, value in (("credit_score", credit_score), ("threshold", threshold)):
        if isinstance(value, bool) or not isinstance(value, int) \
                or not CREDIT_SCORE_MIN <= value <= CREDIT_SCORE_MAX:
            raise ValidationError(f"must be an integer in [{CREDIT_SCORE_MIN}, "
                                  f"{CREDIT_SCORE_MAX}]", field=name)
    if credit_score >= threshold:
        text = bilingual("Deposit waived: your credit score {score} is at least "
                            "{threshold}", score=credit_score, threshold=threshold)
    else:
        text = bilingual("A deposit is required: your credit score {score} is below "
                            "{threshold}", score=credit_score, threshold=threshold)
    return DepositWaiver(credit_score >= threshold, credit_score, threshold, text["en"],
                         text["zh"])
