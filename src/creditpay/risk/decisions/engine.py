"""The pure core of a credit decision: features → score → policy → outcome and reasons.

No I/O and no clock: :mod:`.service` calls these functions to decide and
:func:`creditpay.risk.decisions.service.replay_decision` calls the same ones to replay, so a
replay differs from the original only if an input, the model or the policy did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from creditpay.i18n import bilingual
from creditpay.risk.decisions.policy import LoadedPolicy
from creditpay.risk.features.declarations import feature
from creditpay.risk.scoring.artifact import LoadedModel

__all__ = ["REASONS_MAX", "CoreDecision", "apr_from_bps", "decide_application",
           "model_output", "principal_reasons", "score_reason"]

REASONS_MAX = 4  # Regulation B: up to four principal reasons on an adverse-action notice


@dataclass(frozen=True)
class CoreDecision:
    outcome: str
    grade: str
    limit_minor: int | None
    apr_bps: int | None
    reasons: list[dict[str, Any]]
    policy_output: dict[str, Any]


def apr_from_bps(apr_bps: int | None) -> Decimal | None:
    """Annual rate as a Decimal fraction (1800 bps → 0.18)."""
    return None if apr_bps is None else Decimal(apr_bps) / Decimal(10_000)


def model_output(loaded: LoadedModel, features: Mapping[str, Any]) -> dict[str, Any]:
    """Score, PD and reason codes of one applicant (plain JSON-able data)."""
    # None is missing for the model (its own bin); kyc_verified is a knock-out, never scored.
    applicant = {spec.name: features.get(spec.name)
                 for spec in loaded.model.feature_specs}
    scored = loaded.model.score_application(applicant)
    reasons = []
    for reason in scored.reasons:
        name = getattr(reason, "characteristic", None) or reason.feature
        entry: dict[str, Any] = {"rank": reason.rank, "characteristic": name}
        if hasattr(reason, "points_below_best"):
            entry.update(bin=reason.bin, points=reason.points, best_points=reason.best_points,
                         points_below_best=reason.points_below_best)
        else:
            entry.update(bin=str(reason.value), contribution=reason.contribution)
        reasons.append(entry)
    score, pd = float(scored.score), float(scored.pd)
    output: dict[str, Any] = {"score": score, "pd": pd, "reasons": reasons}
    if hasattr(scored, "points"):
        output["points"] = {k: float(v) for k, v in scored.points.items()}
    assert math.isfinite(score) and 0.0 < pd < 1.0
    return output


def score_reason(entry: Mapping[str, Any]) -> dict[str, Any]:
    try:
        declared = feature(entry["characteristic"])
        label_en, label_zh = declared.label_en, declared.label_zh
    except KeyError:  # behaviour features are not application declarations
        label_en = label_zh = entry["characteristic"].replace("_", " ")
    return {"code": f"SCORE:{entry['characteristic']}", "source": "score",
            "characteristic": entry["characteristic"],
            **bilingual("{label}: {value}", value=entry["bin"],
                        label={"en": label_en, "zh-CN": label_zh})}


def principal_reasons(policy: LoadedPolicy, policy_output: Mapping[str, Any],
                      scored: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Up to four reasons, most important first, each with consumer text in en and zh.

    Knock-outs are named one by one; a score decline names the characteristics that cost
    the most points (specific reasons, as Regulation B requires, not just "score too low").
    """
    reasons: list[dict[str, Any]] = []

    def policy_reason(code: str) -> dict[str, Any]:
        return {"code": code, "source": "policy", **policy.reason_text(code)}

    basis = policy_output.get("basis")
    if basis == "knockout":
        seen: list[str] = []
        for hit in policy_output["knockouts"]:
            if hit["code"] not in seen:
                seen.append(hit["code"])
        reasons = [policy_reason(code) for code in seen]
    elif basis == "score":
        reasons = [score_reason(r) for r in scored["reasons"]]
        if not reasons:
            reasons = [policy_reason(policy_output["reason_code"])]
    elif policy_output.get("reason_code"):
        reasons = [policy_reason(policy_output["reason_code"])]
    return reasons[:REASONS_MAX]


def policy_context(policy: LoadedPolicy, *, product_code: str, features: Mapping[str, Any],
                   scored: Mapping[str, Any], blacklisted: bool) -> dict[str, Any]:
    names = policy.feature_names
    passed = (dict(features) if names is None
              else {name: value for name, value in features.items() if name in names})
    return {"features": passed, "product": dict(policy.product(product_code)),
            "params": dict(policy.parameters), "internal": {"blacklisted": blacklisted},
            "score": scored["score"]}


def decide_application(policy: LoadedPolicy, *, product_code: str,
                       features: Mapping[str, Any], scored: Mapping[str, Any],
                       blacklisted: bool) -> CoreDecision:
    """Run the application policy on features and model output."""
    output = policy.evaluate(policy_context(policy, product_code=product_code,
                                            features=features, scored=scored,
                                            blacklisted=blacklisted))
    outcome = output["outcome"]
    reasons = principal_reasons(policy, output, scored)
    if outcome == "decline":
        return CoreDecision(outcome, output["grade"], None, None, reasons, output)
    # Approve and refer carry the offer the policy computed (a reviewer sees what it would be).
    return CoreDecision(outcome, output["grade"], output["limit_minor"], output["apr_bps"],
                        reasons, output)
