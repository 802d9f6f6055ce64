"""Early-warning alerts over HTTP on both stores: list with filters and cursor, read,
acknowledge, dismiss, run a playbook (the change is applied and audited; another role gets
403 and nothing changes), monitors; problem+json errors; Idempotency-Key on POST."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from creditpay.platform.tables import audit_records
from creditpay.risk.early_warning.job import _alert_row
from creditpay.risk.early_warning.monitors import Alert
from creditpay.risk.early_warning.tables import ew_alerts

DAY = dt.date(2025, 3, 1)


def _alert(api, playbook="review_fraud_rules", *, severity="critical", day=DAY,
           metric="fraud_rate"):
    alert = Alert(monitor=f"{metric}_monitor", metric=metric, segment="all", day=day,
                  severity=severity, value=0.4, statistic=0.12, centre=0.05, lower=0.04,
                  upper=0.06, sigmas=21.0, method="ewma", playbook=playbook,
                  evidence={"k": 3.0, "window": 28, "smoothing": 0.2,
                            "recent_values": [0.05, 0.4]})
    row = _alert_row(alert, dt.datetime(2025, 3, 2, 0, 30, tzinfo=dt.UTC))
    with api.runtime.uow.begin() as tx:
        tx.conn.execute(ew_alerts.insert().values(**row))
    return row["id"]


def test_list_filter_and_page(api):
    analyst = api.operator("risk_analyst")
    ids = [_alert(api, day=DAY - dt.timedelta(days=k), severity=("warning", "critical")[k % 2])
           for k in range(5)]
    first = api.get("/v1/operator/alerts", analyst, params={"limit": 2}, expect=200).json()
    assert [a["id"] for a in first["data"]] == ids[::-1][:2]
    second = api.get("/v1/operator/alerts", analyst,
                     params={"limit": 2, "cursor": first["next_cursor"]}, expect=200).json()
    third = api.get("/v1/operator/alerts", analyst,
                    params={"limit": 2, "cursor": second["next_cursor"]}, expect=200).json()
    assert [a["id"] for a in first["data"] + second["data"] + third["data"]] == ids[::-1]
    assert third["next_cursor"] is None
    critical = api.get("/v1/operator/alerts", analyst, params={"severity": "critical"},
                       expect=200).json()["data"]
    assert sorted(a["id"] for a in critical) == sorted(ids[1::2])
    bad = api.get("/v1/operator/alerts", analyst, params={"cursor": "nonsense"})
    assert bad.status_code == 400 or bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    one = api.get(f"/v1/operator/alerts/{ids[0]}", analyst, expect=200).json()
    assert one["evidence"]["recent_values"] == [0.05, 0.4] and one["status"] == "open"
    missing = api.get("/v1/operator/alerts/ewa_missing", analyst)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_acknowledge_dismiss_and_compliance_reads(api):
    analyst = api.operator("risk_analyst")
    compliance = api.operator("compliance_officer")
    alert_id = _alert(api)
    seen = api.post(f"/v1/operator/alerts/{alert_id}/acknowledge", {}, analyst,
                    expect=200).json()
    assert seen["status"] == "acknowledged" and seen["acknowledged_by"]
    assert api.post(f"/v1/operator/alerts/{alert_id}/dismiss", {"reason": "x"},
                    compliance).status_code == 403
    assert api.get(f"/v1/operator/alerts/{alert_id}", compliance, expect=200).json()[
        "status"] == "acknowledged"
    empty = api.post(f"/v1/operator/alerts/{alert_id}/dismiss", {"reason": ""}, analyst)
    assert empty.status_code in (400, 422)
    gone = api.post(f"/v1/operator/alerts/{alert_id}/dismiss",
                    {"reason": "known batch job"}, analyst, expect=200).json()
    assert gone["status"] == "dismissed" and gone["dismiss_reason"] == "known batch job"
    again = api.post(f"/v1/operator/alerts/{alert_id}/playbook", {}, analyst)
    assert again.status_code == 409
    listed = api.get("/v1/operator/alerts", compliance, params={"status": "dismissed"},
                     expect=200).json()["data"]
    assert [a["id"] for a in listed] == [alert_id]


def test_playbook_applies_once_per_key_and_is_refused_for_support(api):
    admin = api.operator("admin")
    support = api.operator("support")
    onboarded = api.merchant(admin, name="Ring shop")
    merchant, key = onboarded["merchant"], onboarded["api_key"]["key"]
    alert_id = _alert(api, "freeze_merchant")
    refused = api.post(f"/v1/operator/alerts/{alert_id}/playbook",
                       {"parameters": {"merchant_id": merchant["id"]}}, support)
    assert refused.status_code == 403
    assert api.get("/v1/merchant", key).status_code == 200  # still accepting
    with api.runtime.uow.connect() as conn:
        assert conn.execute(select(ew_alerts.c.status).where(
            ew_alerts.c.id == alert_id)).scalar_one() == "open"
    body = {"parameters": {"merchant_id": merchant["id"]}}
    # Every playbook run is a four-eyes proposal: 202, nothing applied yet.
    proposed = api.post(f"/v1/operator/alerts/{alert_id}/playbook", body, admin,
                        idem="key-0001-ew", expect=202).json()
    retry = api.post(f"/v1/operator/alerts/{alert_id}/playbook", body, admin,
                     idem="key-0001-ew", expect=202).json()
    assert retry == proposed  # the first answer, one proposal
    assert proposed["kind"] == "playbook.run" and proposed["status"] == "pending"
    assert api.get("/v1/merchant", key).status_code == 200  # not applied
    approval = f"/v1/operator/approvals/{proposed['approval_id']}/approve"
    assert api.post(approval, None, admin).status_code == 403  # not by its proposer
    done = api.post(approval, None, api.operator("risk_analyst"), expect=200).json()
    assert done["status"] == "approved"
    alert = done["result"]
    assert alert["status"] == "actioned"
    assert alert["action"]["result"]["merchant_status"] == "suspended"
    with api.runtime.uow.connect() as conn:
        actions = conn.execute(select(audit_records.c.action).where(
            audit_records.c.subject_id == alert_id)).scalars().all()
    assert actions == ["early_warning.playbook_executed"]
    assert api.get("/v1/merchant", key).status_code == 401  # suspended: keys stop working
    bad = api.post(f"/v1/operator/alerts/{alert_id}/playbook", {"parameters": {"x": 1}},
                   admin)
    assert bad.status_code in (400, 409, 422)


def test_monitors_are_listed(api):
    compliance = api.operator("compliance_officer")
    monitors = api.get("/v1/operator/monitors", compliance, expect=200).json()["data"]
    names = {m["name"] for m in monitors}
    assert {"fraud_rate", "roll_m0_m1", "score_psi", "feature_psi"} <= names
    assert api.get("/v1/operator/monitors", api.operator("support")).status_code == 403
