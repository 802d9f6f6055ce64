"""Behaviour scoring and limit review on both stores."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import func, select

from creditpay.errors import ValidationError
from creditpay.risk.decisions.limit_review import apply_limit_actions, review_limits
from creditpay.risk.decisions.tables import limit_review_actions

DAY = dt.date(2025, 3, 1)


def _account(account_id, **changes):
    row = {"account_id": account_id, "customer_id": f"cust-{account_id}",
           "current_limit_minor": 1_000_000, "other_exposure_minor": 0, "utilisation": 0.6,
           "dpd_current": 0, "dpd_max_6m": 0, "on_time_share_6m": 1.0,
           "months_on_book": 24, "payments_count_90d": 40}
    row.update(changes)
    return row


def test_review_raises_lowers_freezes_within_caps_and_is_stored_once(risk_store):
    accounts = pd.DataFrame([
        _account("good"),
        _account("late", dpd_current=12, dpd_max_6m=12, on_time_share_6m=0.7),
        _account("delinquent", dpd_current=45, dpd_max_6m=45, on_time_share_6m=0.5),
        _account("capped", current_limit_minor=19_500_000, other_exposure_minor=500_000),
    ])
    actions = {a.account_id: a for a in review_limits(risk_store, DAY, accounts)}
    assert actions["delinquent"].action == "freeze" and actions["delinquent"].new_limit_minor == 0
    assert actions["delinquent"].reasons[0]["code"] == "LR_DELINQUENT"
    assert actions["late"].action == "decrease"
    assert actions["late"].new_limit_minor == 500_000
    good = actions["good"]
    if good.grade in ("A", "B"):
        assert good.action == "increase" and good.new_limit_minor == 1_300_000
    capped = actions["capped"]
    assert capped.new_limit_minor + 500_000 <= 20_000_000
    for action in actions.values():
        assert action.reasons[0]["en"] and action.reasons[0]["zh"]
    again = review_limits(risk_store, DAY, accounts)  # same date: the stored actions
    assert {a.account_id: a.new_limit_minor for a in again} == \
        {k: v.new_limit_minor for k, v in actions.items()}
    with risk_store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(limit_review_actions)
                            ).scalar_one() == 4


def test_apply_hands_each_change_to_the_callable_exactly_once(risk_store):
    review_limits(risk_store, DAY, [_account("a"), _account("b", dpd_current=40,
                                                            dpd_max_6m=40)])
    seen = []
    assert apply_limit_actions(risk_store, DAY, lambda tx, action: seen.append(
        (action.account_id, action.action, action.new_limit_minor))) == 2
    assert ("b", "freeze", 0) in seen
    assert apply_limit_actions(risk_store, DAY, lambda tx, action: seen.append(1)) == 0
    assert len([s for s in seen if s != 1]) == sum(1 for s in seen if s != 1)


def test_a_failing_apply_leaves_the_action_pending(risk_store):
    review_limits(risk_store, DAY, [_account("x", dpd_current=40, dpd_max_6m=40)])

    def boom(tx, action):
        raise RuntimeError("servicing is down")

    with pytest.raises(RuntimeError):
        apply_limit_actions(risk_store, DAY, boom)
    assert apply_limit_actions(risk_store, DAY, lambda tx, action: None) == 1


@pytest.mark.parametrize(("changes", "field"), [
    ({"utilisation": 1.5}, "accounts[1].utilisation"),
    ({"dpd_current": -1}, "accounts[1].dpd_current"),
    ({"current_limit_minor": 10.5}, "accounts[1].current_limit_minor"),
    ({"customer_id": ""}, "accounts[1].customer_id"),
])
def test_bad_account_rows_are_named_and_nothing_is_stored(risk_store, changes, field):
    with pytest.raises(ValidationError) as error:
        review_limits(risk_store, DAY, [_account("ok"), _account("bad", **changes)])
    assert error.value.field == field
    with risk_store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(limit_review_actions)
                            ).scalar_one() == 0


def test_a_review_cannot_be_dated_in_the_future(risk_store):
    with pytest.raises(ValidationError) as error:
        review_limits(risk_store, DAY + dt.timedelta(days=1), [_account("a")])
    assert error.value.field == "business_date"
