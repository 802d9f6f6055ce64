"""The playbook preview (dry run): it changes nothing, and what it shows is what the run
then does (one plan: the run is the preview plus the writes), on both stores."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.risk.early_warning.conftest import add_alert

from creditpay.credit import service as credit
from creditpay.db.tables import outbox_events
from creditpay.errors import NotFoundError, PermissionDeniedError, StateError, ValidationError
from creditpay.platform.tables import audit_records
from creditpay.risk.decisions import registry
from creditpay.risk.early_warning import service
from creditpay.risk.early_warning.monitors import LineNow, plan_limit_cuts
from creditpay.risk.early_warning.service import execute_alert_playbook


def _limits(uow, customers):
    with uow.connect() as conn:
        return {c.line_id: credit.line_of(conn, c.line_id).limit_minor for c in customers}


def _counts(uow):
    with uow.connect() as conn:
        return (conn.execute(select(func.count()).select_from(outbox_events)).scalar_one(),
                conn.execute(select(func.count()).select_from(audit_records)).scalar_one())


def _preview(uow, alert_id, roles=("risk_analyst",), parameters=None):
    with uow.connect() as conn:
        return service.preview_playbook(conn, alert_id, "op_risk", list(roles),
                                        parameters if parameters is not None else {})


@pytest.mark.parametrize(("segment", "share"), [("all", "0.5"), ("grade:B", "0.2"),
                                                 ("all", "0.37")])
def test_the_preview_is_what_the_run_then_does(book, segment, share):
    uow, customers = book
    alert_id = add_alert(uow, "lower_limits", segment=segment)
    before, counts = _limits(uow, customers), _counts(uow)
    shown = _preview(uow, alert_id, parameters={"share": share})
    # A dry run: no limit, outbox event or audit record changed, the alert still open.
    assert _limits(uow, customers) == before and _counts(uow) == counts
    with uow.connect() as conn:
        assert service.get_alert(conn, alert_id)["status"] == "open"
    view = execute_alert_playbook(uow, alert_id, "op_risk", ["risk_analyst"],
                                  {"share": share})
    after = _limits(uow, customers)
    assert {a["line_id"]: a["new_limit_minor"] for a in shown["accounts"]} == {
        line: after[line] for line in (a["line_id"] for a in shown["accounts"])}
    assert all(after[line] == before[line] for line in after
               if line not in {a["line_id"] for a in shown["accounts"]})
    for account in shown["accounts"]:
        assert account["limit_minor"] == before[account["line_id"]]
        assert account["change_minor"] == account["limit_minor"] - account["new_limit_minor"]
    assert shown["effect"] == view["action"]["result"]
    assert shown["totals"]["change_minor"] == (shown["totals"]["limit_before_minor"]
                                               - shown["totals"]["limit_after_minor"])
    assert shown["parameters"] == view["action"]["parameters"]


def test_the_preview_of_a_champion_switch_matches_the_run(risk_store):
    uow = risk_store
    with uow.begin() as tx:
        registry.promote(tx, "application", 2, actor="tests", reason="trial",
                         as_challenger_bps=2_000)
    alert_id = add_alert(uow, "switch_to_champion", metric="score_psi")
    shown = _preview(uow, alert_id)
    with uow.connect() as conn:
        assert registry.current_assignment(conn, "application").challenger_version == 2
    view = execute_alert_playbook(uow, alert_id, "op_risk", ["risk_analyst"], {})
    assert shown["effect"] == view["action"]["result"]
    assert shown["accounts"] == [] and shown["totals"] is None


def test_the_preview_of_a_merchant_freeze_matches_the_run(risk_store):
    from tests.risk.early_warning.conftest import AT

    from creditpay.parties.tables import merchants

    uow = risk_store
    with uow.begin() as tx:
        tx.conn.execute(merchants.insert().values(
            id="mer_ring", name="Ring shop", mcc="5411", status="active",
            discount_rate="0.006", settlement_currency="CNY", created_at=AT))
    alert_id = add_alert(uow, "freeze_merchant", metric="fraud_rate")
    with pytest.raises(NotFoundError):  # an unknown merchant: refused as the run is
        _preview(uow, alert_id, parameters={"merchant_id": "mer_nobody"})
    shown = _preview(uow, alert_id, parameters={"merchant_id": "mer_ring"})
    assert shown["effect"]["previous_status"] == "active"
    view = execute_alert_playbook(uow, alert_id, "op_risk", ["risk_analyst"],
                                  {"merchant_id": "mer_ring"})
    assert shown["effect"] == view["action"]["result"]


def test_the_preview_of_a_cutoff_raise_names_the_version_the_run_activates(risk_store):
    uow = risk_store
    alert_id = add_alert(uow, "raise_cutoff", metric="approval_rate")
    shown = _preview(uow, alert_id, parameters={"points": 10})
    view = execute_alert_playbook(uow, alert_id, "op_risk", ["risk_analyst"], {"points": 10})
    result = view["action"]["result"]
    assert shown["effect"]["status"] == result["status"]
    if result["status"] == "applied":
        assert (shown["effect"]["version"], shown["effect"]["previous_version"]) == (
            result["version"], result["previous_version"])
        assert len(shown["effect"]["cutoffs_before"]) == len(shown["effect"]["cutoffs_after"])


def test_the_preview_is_refused_as_the_run_would_be(book):
    uow, customers = book
    alert_id = add_alert(uow, "lower_limits", segment="all")
    with pytest.raises(PermissionDeniedError):
        _preview(uow, alert_id, roles=("support",), parameters={"share": "0.2"})
    with pytest.raises(ValidationError) as error:
        _preview(uow, alert_id, parameters={"share": "0.9"})
    assert error.value.field == "parameters.share"
    execute_alert_playbook(uow, alert_id, "op_risk", ["risk_analyst"], {"share": "0.2"})
    with pytest.raises(StateError):  # actioned: nothing left to preview
        _preview(uow, alert_id, parameters={"share": "0.2"})


_LINES = st.lists(st.tuples(st.integers(0, 10**12), st.integers(-10**6, 10**12)),
                  max_size=30)


@given(_LINES, st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(1), places=4))
def test_the_plan_never_raises_a_limit_nor_goes_below_what_is_drawn(lines, share):
    plan = plan_limit_cuts([LineNow(f"l{i}", f"c{i}", limit, drawn)
                            for i, (limit, drawn) in enumerate(lines)], share)
    for change, (limit, drawn) in zip(plan.changes, lines, strict=True):
        assert isinstance(change.new_limit_minor, int)
        assert change.new_limit_minor <= limit
        assert change.new_limit_minor >= min(limit, max(0, drawn))
        # The cut is what was asked, rounded down to the minor unit, unless the drawn
        # amount stops it.
        asked = int((Decimal(limit) * (1 - share)).to_integral_value(rounding="ROUND_FLOOR"))
        assert change.new_limit_minor == min(limit, max(asked, max(0, drawn)))
        assert change.change_minor == limit - change.new_limit_minor
    assert plan.change_minor == sum(c.change_minor for c in plan.changes)
    assert plan.limit_before_minor - plan.limit_after_minor == plan.change_minor
    assert plan.lines_lowered == sum(1 for c in plan.changes if c.change_minor > 0)


@pytest.mark.parametrize("share", [Decimal(0), Decimal("1.5"), Decimal("NaN"), 0.2])
def test_the_plan_refuses_a_share_outside_0_to_1(share):
    with pytest.raises(ValidationError) as error:
        plan_limit_cuts([LineNow("l", "c", 100, 0)], share)
    assert error.value.field == "parameters.share"
