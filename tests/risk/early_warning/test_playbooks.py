"""Alert playbooks applied through the owning domains on both stores: the change is made,
the alert is actioned and audited in the same transaction; other roles change nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from tests.risk.early_warning.conftest import AT, add_alert

from creditpay.credit import service as credit
from creditpay.db.tables import outbox_events
from creditpay.errors import PermissionDeniedError, StateError, ValidationError
from creditpay.parties.tables import merchants
from creditpay.platform.tables import audit_records
from creditpay.risk.decisions import registry
from creditpay.risk.decisions.policy import active_policy
from creditpay.risk.early_warning import service
from creditpay.risk.early_warning.service import LIMIT_LOWERED_TOPIC, execute_alert_playbook


def _limits(uow, customers):
    with uow.connect() as conn:
        return [credit.line_of(conn, c.line_id).limit_minor for c in customers]


def _audit(uow, alert_id):
    with uow.connect() as conn:
        return conn.execute(select(audit_records).where(
            audit_records.c.subject_type == "ew_alert",
            audit_records.c.subject_id == alert_id)).all()


def _alert(uow, alert_id):
    with uow.connect() as conn:
        return service.get_alert(conn, alert_id)


def test_lower_limits_applies_to_the_segment_and_is_audited(book):
    uow, customers = book
    alert_id = add_alert(uow, "lower_limits", segment="grade:B")
    view = execute_alert_playbook(uow, alert_id, "op_risk", ["risk_analyst"], {"share": "0.2"})
    # c5..c9 (grade B) lowered by 20 %; c0..c4 untouched.
    assert _limits(uow, customers) == [1_000_000] * 5 + [800_000] * 5
    assert view["status"] == "actioned" and view["actioned_by"] == "op_risk"
    result = view["action"]["result"]
    assert result == {"status": "applied", "lines_in_segment": 5, "lines_lowered": 5,
                      "limit_before_minor": 5_000_000, "limit_after_minor": 4_000_000,
                      "currency": "CNY"}
    assert view["action"]["parameters"] == {"segment": "grade:B", "share": "0.2"}
    [record] = _audit(uow, alert_id)
    assert record.action == "early_warning.playbook_executed"
    assert record.actor_type == "staff" and record.actor_id == "op_risk"
    assert record.payload["result"]["lines_lowered"] == 5
    with uow.connect() as conn:
        notices = conn.execute(select(outbox_events.c.aggregate_id).where(
            outbox_events.c.topic == LIMIT_LOWERED_TOPIC)).scalars().all()
    assert sorted(notices) == [f"c{i}" for i in range(5, 10)]
    with pytest.raises(StateError):  # final: a second execution changes nothing
        execute_alert_playbook(uow, alert_id, "op_risk", ["risk_analyst"], {"share": "0.2"})
    assert _limits(uow, customers)[5:] == [800_000] * 5


def test_lower_limits_never_below_what_is_in_use(book):
    uow, customers = book
    alert_id = add_alert(uow, "lower_limits", segment="all")
    execute_alert_playbook(uow, alert_id, "op_admin", ["admin"], {"share": "0.5"})
    # c9 drew 500,000 of 1,000,000: halved exactly; nobody goes below the drawn amount.
    limits = _limits(uow, customers)
    assert limits == [500_000] * 10
    with uow.connect() as conn:
        assert all(credit.line_of(conn, c.line_id).available_minor >= 0 for c in customers)


def test_refused_for_support_with_nothing_changed(book):
    uow, customers = book
    alert_id = add_alert(uow, "lower_limits", segment="all")
    with uow.connect() as conn:
        outbox_before = conn.execute(select(func.count()).select_from(outbox_events)
                                     ).scalar_one()
    with pytest.raises(PermissionDeniedError) as error:
        execute_alert_playbook(uow, alert_id, "op_support", ["support"], {"share": "0.2"})
    assert error.value.field == "operator_roles"
    assert _limits(uow, customers) == [1_000_000] * 10
    assert _alert(uow, alert_id)["status"] == "open" and _audit(uow, alert_id) == []
    with uow.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox_events)
                            ).scalar_one() == outbox_before


@pytest.mark.parametrize(("parameters", "field"), [
    ({"share": "0.9"}, "parameters.share"), ({"share": "lots"}, "parameters.share"),
    ({"share": "0.2", "segment": "grade:Z"}, "parameters.segment"),
    ({"share": "0.2", "segment": "drop table"}, "parameters.segment"),
    ({"share": "0.2", "colour": "red"}, "parameters"), ({}, "parameters")])
def test_bad_parameters_are_refused_naming_the_field(book, parameters, field):
    uow, customers = book
    alert_id = add_alert(uow, "lower_limits", segment="all")
    with pytest.raises(ValidationError) as error:
        execute_alert_playbook(uow, alert_id, "op_risk", ["risk_analyst"], parameters)
    assert error.value.field == field
    assert _limits(uow, customers) == [1_000_000] * 10
    assert _alert(uow, alert_id)["status"] == "open"


def test_switch_to_champion_removes_the_challenger(risk_store):
    uow = risk_store
    with uow.begin() as tx:
        registry.promote(tx, "application", 2, actor="tests", reason="trial",
                         as_challenger_bps=2_000)
    alert_id = add_alert(uow, "switch_to_champion", metric="score_psi")
    view = execute_alert_playbook(uow, alert_id, "op_risk", ["risk_analyst"], {})
    with uow.connect() as conn:
        current = registry.current_assignment(conn, "application")
    assert (current.champion_version, current.challenger_version,
            current.challenger_share_bps) == (1, None, 0)
    assert current.actor == "op_risk" and alert_id in current.reason
    assert view["action"]["result"]["challenger_version_removed"] == 2


def test_freeze_merchant_suspends_it(risk_store):
    uow = risk_store
    with uow.begin() as tx:  # a merchant row (onboarding needs the vault; not under test)
        tx.conn.execute(merchants.insert().values(
            id="mer_ring", name="Ring shop", mcc="5411", status="active",
            discount_rate="0.006", settlement_currency="CNY", created_at=AT))
    alert_id = add_alert(uow, "freeze_merchant", metric="fraud_rate")
    view = execute_alert_playbook(uow, alert_id, "op_risk", ["risk_analyst"],
                                  {"merchant_id": "mer_ring"})
    with uow.connect() as conn:
        status = conn.execute(select(merchants.c.status).where(
            merchants.c.id == "mer_ring")).scalar_one()
        suspended = conn.execute(select(func.count()).select_from(audit_records).where(
            audit_records.c.action == "merchant.suspended")).scalar_one()
    assert status == "suspended" and suspended == 1
    assert view["action"]["result"]["status"] == "applied"


def test_raise_cutoff_activates_a_new_policy_version(risk_store):
    uow = risk_store
    with uow.connect() as conn:
        before = active_policy(conn, "application")
    alert_id = add_alert(uow, "raise_cutoff", metric="approval_rate", segment="all")
    view = execute_alert_playbook(uow, alert_id, "op_risk", ["risk_analyst"], {"points": "20"})
    with uow.connect() as conn:
        after = active_policy(conn, "application")
    assert after.content_hash != before.content_hash and after.version != before.version
    assert view["action"]["result"]["version"] == after.version

    def cutoffs(policy):
        table = next(n for n in policy.document["decision"]["nodes"] if n["id"] == "grades")
        return [r["score"] for r in table["content"]["rules"]]

    assert cutoffs(before)[:4] == [">= 600", ">= 580", ">= 560", ">= 540"]
    assert cutoffs(after)[:4] == [">= 620", ">= 600", ">= 580", ">= 560"]
    # The new version decides: a score of 590 was grade B, is grade C now.
    product = next(iter(after.document["products"].values()))
    features = {"age_years": 35, "kyc_verified": True, "monthly_income_minor": 2_000_000,
                "bureau_lenders_in_use": 1, "debt_to_income": 0.1,
                "existing_exposure_minor": 0, "platform_tenure_months": 12}
    context = {"features": features, "product": product, "params": after.parameters,
               "internal": {"blacklisted": False}, "score": 590.0}
    assert before.evaluate(context)["grade"] == "B"
    assert after.evaluate(context)["grade"] == "C"


def test_review_fraud_rules_opens_a_case(risk_store):
    from creditpay.risk.fraud.cases import case_for_subject

    uow = risk_store
    alert_id = add_alert(uow, "review_fraud_rules", metric="fraud_rate")
    view = execute_alert_playbook(uow, alert_id, "op_admin", ["admin"], {})
    with uow.connect() as conn:
        case = case_for_subject(conn, "ew_alert", alert_id)
    assert case is not None and view["action"]["result"]["fraud_case_id"] == case["id"]


def test_acknowledge_then_dismiss_and_listing(risk_store):
    uow = risk_store
    first = add_alert(uow, "lower_limits", segment="all")
    second = add_alert(uow, "review_fraud_rules", metric="fraud_rate",
                       day=dt.date(2025, 3, 2))
    seen = uow.run(lambda tx: service.acknowledge_alert(tx, first, "op_risk"))
    again = uow.run(lambda tx: service.acknowledge_alert(tx, first, "op_other"))
    assert seen["status"] == again["status"] == "acknowledged"
    assert again["acknowledged_by"] == "op_risk"  # the first acknowledgement stands
    gone = uow.run(lambda tx: service.dismiss_alert(tx, first, "op_risk", "seasonal spike"))
    assert gone["status"] == "dismissed" and gone["dismiss_reason"] == "seasonal spike"
    with pytest.raises(StateError):
        execute_alert_playbook(uow, first, "op_risk", ["risk_analyst"], {"share": "0.1"})
    with pytest.raises(ValidationError):
        uow.run(lambda tx: service.dismiss_alert(tx, second, "op_risk", "  "))
    with uow.connect() as conn:
        page, cursor = service.list_alerts(conn, limit=1)
        rest, end = service.list_alerts(conn, limit=1, cursor=cursor)
        opened, _ = service.list_alerts(conn, status="open")
    assert [a["id"] for a in page + rest] == [second, first] and end is None
    assert [a["id"] for a in opened] == [second]
    assert [r.action for r in _audit(uow, first)] == [
        "early_warning.alert_acknowledged", "early_warning.alert_dismissed"]
