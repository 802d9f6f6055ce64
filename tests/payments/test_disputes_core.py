"""The disputes' pure core and the pause arithmetic, property-tested (issue #20)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditpay.credit.pause_core import ACCOUNT_DATES, paused_days, shift_dates
from creditpay.errors import StateError, ValidationError
from creditpay.payments import disputes_core as core

POLICY = core.load_policy()
days = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 31))


@given(st.lists(st.sampled_from(core.ACTIONS), max_size=8))
def test_every_path_of_actions_stays_in_the_state_machine(actions: list[str]) -> None:
    status = "open"
    for action in actions:
        try:
            step = core.transition(status, action)
        except StateError as refused:
            assert refused.field == "status"
            continue
        assert status in core.OPEN_STATUSES  # nothing leaves a final state
        assert step.status in core.STATUSES
        assert (step.effect == "keep") == (step.status in core.OPEN_STATUSES)
        assert step.effect != "refund" or step.status in ("accepted", "resolved_consumer")
        status = step.status


def test_the_final_states_and_who_moves_the_dispute() -> None:
    assert core.transition("open", "merchant_accept") == core.Transition("accepted", "refund")
    assert core.transition("open", "deadline").status == "under_review"
    assert core.transition("under_review", "decide_merchant").effect == "resume"
    with pytest.raises(StateError):
        core.transition("open", "decide_consumer")  # the merchant answers first
    for final in core.FINAL_STATUSES:
        for action in core.ACTIONS:
            with pytest.raises(StateError):
                core.transition(final, action)
    with pytest.raises(ValidationError) as bad:
        core.transition("open", "shrug")
    assert bad.value.field == "action"


@given(days)
def test_the_merchant_answers_within_seven_business_days(opened: dt.date) -> None:
    due = core.respond_by(opened, POLICY)
    assert due.weekday() < 5 and due > opened
    business = sum(1 for k in range(1, (due - opened).days + 1)
                   if (opened + dt.timedelta(days=k)).weekday() < 5)
    # Seven working days after the opening day (a weekend opening counts from Monday).
    assert business == 7 or (opened.weekday() >= 5 and business == 8)
    assert core.opening_deadline(opened, POLICY) == opened + dt.timedelta(days=120)


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.one_of(st.none(), st.integers()))
def test_the_amount_is_within_the_captured_amount_not_refunded(captured: int, refunded: int,
                                                                asked: int | None) -> None:
    disputable = core.disputable_minor(captured, refunded)
    assert disputable == max(0, captured - refunded)
    try:
        amount = core.check_amount(asked, disputable)
    except StateError as refused:
        assert disputable == 0 and refused.field == "payment_intent_id"
    except ValidationError as refused:
        assert refused.field == "amount_minor" and asked is not None
        assert not 1 <= asked <= disputable
    else:
        assert amount == (disputable if asked is None else asked)
        assert 1 <= amount <= disputable


def test_network_reason_codes_map_to_reasons() -> None:
    assert core.chargeback_reason("10.4", True, POLICY) == "unauthorised"
    assert core.chargeback_reason("13.1", False, POLICY) == "not_received"
    assert core.chargeback_reason("4853", False, POLICY) == "not_as_described"
    assert core.chargeback_reason("99", True, POLICY) == "unauthorised"
    assert set(POLICY.chargeback_reasons.values()) <= set(core.REASONS)
    with pytest.raises(ValidationError) as bad:
        core.parse_policy({**POLICY.as_dict(), "merchant_response_business_days": 0})
    assert bad.value.field == "merchant_response_business_days"


statuses = st.sampled_from(("scheduled", "billed", "past_due", "paid", "cancelled"))


@given(days, st.integers(0, 400),
       st.lists(st.tuples(days, statuses), max_size=12),
       st.fixed_dictionaries({name: st.one_of(st.none(), days) for name in ACCOUNT_DATES}))
def test_resuming_moves_every_unpaid_date_by_the_days_paused(paused_on, n, items, account):
    resumed_on = paused_on + dt.timedelta(days=n)
    assert paused_days(paused_on, resumed_on) == n
    due, dates = shift_dates(items, account, n)
    for (before, status), after in zip(items, due, strict=True):
        moved = status in ("scheduled", "billed", "past_due")
        assert after - before == dt.timedelta(days=n if moved else 0)
    for name in ACCOUNT_DATES:
        assert dates[name] == (None if account[name] is None
                               else account[name] + dt.timedelta(days=n))
    # The gaps between installments are kept: the consumer loses no day on any of them.
    unpaid = [(b, a) for (b, s), a in zip(items, due, strict=True)
              if s in ("scheduled", "billed", "past_due")]
    assert all(a2 - a1 == b2 - b1 for (b1, a1), (b2, a2) in zip(unpaid, unpaid[1:], strict=False))
