"""The consumer-facing texts of the decision engine are, byte for byte, what they were
before they moved from in-code zh/en literals into the gettext catalogs
(``creditpay.i18n``): consumer_texts_golden.json was written by the code before the move
(main at 68d957c)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from tests.credit.servicing_helpers import buy, new_customer
from tests.risk.decisions.test_credit_score import _risky_features
from tests.risk.decisions.test_limit_review_job import DAY, _book, _payments, _season

from creditpay.db.tables import outbox_events
from creditpay.risk.decisions import credit_score, engine, referrals
from creditpay.risk.decisions.limit_review_job import NOTIFIED_TOPIC, run_limit_review
from creditpay.risk.scoring.artifact import load_model

GOLDEN = json.loads((Path(__file__).parent / "consumer_texts_golden.json").read_text("utf-8"))


def _same(name: str, value: object, *, ordered: bool = True) -> None:
    """``value`` is the golden one, and (``ordered``) in the same key order: the texts are
    served as JSON. Payloads read back from PostgreSQL's JSONB have their keys reordered."""
    dump = json.dumps(value, ensure_ascii=False, sort_keys=not ordered)
    assert dump == json.dumps(GOLDEN[name], ensure_ascii=False, sort_keys=not ordered), name


def test_bands_and_deposit_waiver() -> None:
    _same("bands", [list(credit_score._band(s)) for s in (950, 700, 699, 650, 600, 550, 549,
                                                            350)])
    _same("waiver", [credit_score.deposit_waiver(s, t).to_json()
                     for s, t in ((800, 650), (600, 650), (650, 650))])


def test_score_reasons() -> None:
    _same("score_reason", [
        engine.score_reason({"characteristic": name, "bin": value})
        for name, value in (("bureau_inquiries_6m", "[3, inf)"), ("late_repayments_180d", "1"),
                            ("not_declared_feature", "x"))])


def test_factors_and_improvements(model_dirs) -> None:  # type: ignore[no-untyped-def]
    result = credit_score.consumer_credit_score(load_model(model_dirs["application"]),
                                                _risky_features())
    _same("credit_score", {"band": result.to_json()["band"], "factors": result.factors,
                           "improvements": result.improvements})


def test_review_reasons() -> None:
    _same("review_reasons", {code: referrals.review_reasons(code)
                             for code in [*sorted(referrals.REVIEW_REASONS),
                                          referrals.DEADLINE_REASON]})
    assert referrals.review_reasons(None) == []


def _notices(uow):  # type: ignore[no-untyped-def]
    with uow.connect() as conn:
        return {r.aggregate_id: {k: r.payload[k] for k in ("message", "reasons")}
                for r in conn.execute(select(outbox_events).where(
                    outbox_events.c.topic == NOTIFIED_TOPIC).order_by(outbox_events.c.id))}


def test_limit_review_notices(risk_store) -> None:  # type: ignore[no-untyped-def]
    uow = risk_store
    _book(uow)
    lowered = new_customer(uow, "lowered")
    buy(uow, lowered, "p1", 700_000)
    _season(uow, lowered.line_id, dpd=10)
    run_limit_review(uow, DAY, payments_count_90d=_payments)
    _same("limit_review_notices", _notices(uow), ordered=False)
