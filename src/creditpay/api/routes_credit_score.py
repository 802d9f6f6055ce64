"""Consumer endpoints of the credit score (信用分, 350-950) and the deposit waiver (信用免押).

The score shown is the one behind the customer's latest scored credit decision (same
features, same model version, so it can be explained and replayed); a customer reads only
their own. Text comes in the requested language: ``?lang=zh-CN|en``, else the
``Accept-Language`` header, else Simplified Chinese.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from creditpay.api.access import access
from creditpay.api.common import runtime
from creditpay.api.schemas import examples
from creditpay.parties.service import Principal
from creditpay.risk.decisions.credit_score import deposit_waiver, latest_credit_score

__all__ = ["router", "score_out"]

router = APIRouter(prefix="/v1", tags=["credit score"])
CUSTOMER = access(customer=True)
Language = Literal["zh-CN", "en"]
LangQuery = Query(None, description="zh-CN or en (default: Accept-Language, else zh-CN)")


class ScoreFactorOut(BaseModel):
    characteristic: str
    text: str
    your_value: Any = None


class ScoreImprovementOut(BaseModel):
    characteristic: str
    points: int
    target: Any = None
    text: str


class CreditScoreOut(BaseModel):
    score: int = Field(ge=350, le=950)
    band: str
    language: Language
    factors: list[ScoreFactorOut]
    improvements: list[ScoreImprovementOut]
    model_config = examples({"score": 712, "band": "good", "language": "en", "factors": [
            {"characteristic": "on_time_ratio", "text": "You repay on time", "your_value": 1.0},
            {"characteristic": "utilisation", "text": "You use 18 % of your limit",
             "your_value": 0.18}], "improvements": [
            {"characteristic": "tenure_months", "points": 15, "target": 12,
             "text": "Keep using your account for 12 months"}]})


class DepositWaiverOut(BaseModel):
    amount_minor: int
    eligible: bool
    deposit_due_minor: int = Field(description="0 when the deposit is waived")
    credit_score: int
    threshold: int
    language: Language
    text: str
    model_config = examples({"amount_minor": 200000, "eligible": True, "deposit_due_minor": 0,
                                  "credit_score": 712, "threshold": 650, "language": "en",
                                  "text": "Your credit score waives this deposit."})


def _language(request: Request, lang: Language | None) -> Language:
    if lang is not None:
        return lang
    header = request.headers.get("accept-language", "").strip().lower()
    return "en" if header.startswith("en") else "zh-CN"


@router.get("/me/credit_score", response_model=CreditScoreOut,
            summary="My credit score, its main factors and what would improve it")
def my_credit_score(request: Request, lang: Language | None = LangQuery,
                    who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. The caller's credit score (350-950) behind their latest scored credit
    decision, its band, the main factors with the caller's values, and what would raise it, in
    zh-CN or en (lang, else Accept-Language). 404 not-found without a scored decision. Changes
    nothing."""
    language = _language(request, lang)
    with runtime(request).uow.connect() as conn:
        score = latest_credit_score(conn, who.id)
    return score_out(score, language)


def score_out(score: Any, language: str) -> dict[str, Any]:
    """A credit score as GET /v1/me/credit_score answers it in ``language`` (the web app's
    score page shows the same dict)."""
    key = "en" if language == "en" else "zh"
    return {"score": score.score, "band": score.band_en if key == "en" else score.band_zh,
            "language": language,
            "factors": [{"characteristic": f["characteristic"], "text": f[key],
                         "your_value": f.get("your_value")} for f in score.factors],
            "improvements": [{"characteristic": i["characteristic"], "points": i["points"],
                              "target": i.get("target"), "text": i[key]}
                             for i in score.improvements]}


@router.get("/me/deposit_waiver", response_model=DepositWaiverOut,
            summary="Whether my credit score waives a rental deposit of this amount")
def my_deposit_waiver(request: Request,
                      amount_minor: int = Query(gt=0, le=10_000_000_000,
                                                description="the deposit, in minor units"),
                      lang: Language | None = LangQuery,
                      who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Whether the caller's credit score waives a rental deposit of amount_minor
    (信用免押): eligible, the deposit still due (0 when waived), the score and the threshold. 404
    not-found without a scored decision; 422 naming amount_minor. Changes nothing."""
    rt = runtime(request)
    language = _language(request, lang)
    with rt.uow.connect() as conn:
        score = latest_credit_score(conn, who.id)
    waiver = deposit_waiver(score.score, rt.config.deposit_waiver_score_min)
    return {"amount_minor": amount_minor, "eligible": waiver.eligible,
            "deposit_due_minor": 0 if waiver.eligible else amount_minor,
            "credit_score": waiver.credit_score, "threshold": waiver.threshold,
            "language": language, "text": waiver.en if language == "en" else waiver.zh}
