"""The simulator's after-care actors (issue #20, sim/aftercare.py) in a short real run: the
assistant (in its own process, trained once) answers consumers' questions, consumers dispute
payments that merchants answer and an operator decides, consumers whose income drops ask for
hardship help; ``figures.json`` counts them, they match the database, and the books
balance. The actors' daily shares are raised so that a short run shows each of them."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select

from creditpay.assistant.tables import assistant_turns
from creditpay.credit.hardship_tables import credit_hardship_requests
from creditpay.payments.disputes_tables import payment_disputes
from creditpay.sim import aftercare as AF
from creditpay.sim.economy import EconomyConfig, run_economy


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('aftercare') / 'aftercare.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AF, "ASSISTANT_DAILY_SHARE", 0.05)
        patch.setattr(AF, "DISPUTE_DAILY_SHARE", 0.03)
        patch.setattr(AF, "INCOME_DROP_DAILY_SHARE", 0.03)
        figures, timings = run_economy(EconomyConfig(
            customers=60, merchants=5, days=16, seed=11, progress=False, fraud=False,
            database_url=url))
    return figures, timings, url


def _count(url, table, *where):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table).where(*where)
                                ).scalar_one()
    finally:
        engine.dispose()


def test_questions_are_answered_by_the_assistants_process(run):
    figures, timings, url = run
    assistant = figures["assistant"]
    assert assistant["questions"] > 10 and assistant["refused"] == {}
    assert sum(assistant["by_intent"].values()) == assistant["questions"]
    assert set(assistant["by_intent"]) <= set(AF.QUESTIONS) | {
        "bill_amount", "due_date", "minimum_payment", "how_to_repay", "autopay",
        "credit_limit", "refund_status", "dispute_charge", "hardship", "report_fraud",
        "fx_charge", "installment_convert", "credit_score", "handoff_human", "out_of_scope"}
    # Every answer was stored by the service, as the API stores it.
    assert _count(url, assistant_turns) == assistant["questions"]
    assert 0 < assistant["tickets_opened"] <= assistant["handoffs"]
    # A handoff's ticket is a complaint staff acknowledge within the policy's day.
    complaints = figures["complaints"]
    assert complaints["by_category"]["service_quality"] >= assistant["tickets_opened"]
    assert complaints["acknowledge_breached"] == 0
    assert timings["aftercare.assistant"] < timings["total"]


def test_disputes_are_answered_and_decided(run):
    figures, _, url = run
    disputes = figures["disputes"]
    assert disputes["opened"] > 0
    decided = sum(disputes["by_outcome"].values())
    assert decided + disputes["open_at_end"] == disputes["opened"]
    assert set(disputes["by_outcome"]) <= {"accepted", "resolved_consumer",
                                           "resolved_merchant", "withdrawn"}
    assert decided > 0
    assert _count(url, payment_disputes) == disputes["opened"]
    assert _count(url, payment_disputes, payment_disputes.c.status.in_(
        ("open", "under_review"))) == disputes["open_at_end"]


def test_consumers_whose_income_drops_ask_for_hardship_and_the_books_balance(run):
    figures, _, url = run
    hardship = figures["hardship"]
    assert hardship["income_drops"] > 0 and hardship["requests"] > 0
    assert hardship["requests"] == sum(hardship["by_option"].values())
    assert hardship["approved_at_once"] + hardship["referred"] == hardship["requests"]
    assert hardship["approved"] == hardship["approved_at_once"] + hardship["operator_approved"]
    assert _count(url, credit_hardship_requests) == hardship["requests"]
    assert _count(url, credit_hardship_requests,
                  credit_hardship_requests.c.status == "approved") == hardship["approved"]
    assert figures["ledger_ok"] is True
