"""GET /v1/operator/alerts/{alert_id}/playbook/preview over HTTP on both stores: the roles of
the playbook route, refusals as the run's (422 naming the parameter, 409 for a closed
alert), and nothing changed by it."""

from __future__ import annotations

from tests.api.test_early_warning_api import _alert


def test_the_preview_changes_nothing_and_says_what_the_run_does(api):
    admin = api.operator("admin")
    analyst = api.operator("risk_analyst")
    onboarded = api.merchant(admin, name="Preview shop")
    merchant, key = onboarded["merchant"], onboarded["api_key"]["key"]
    alert_id = _alert(api, "freeze_merchant")
    path = f"/v1/operator/alerts/{alert_id}/playbook/preview"
    for role in ("compliance_officer", "support"):
        assert api.get(path, api.operator(role),
                       params={"merchant_id": merchant["id"]}).status_code == 403
    shown = api.get(path, analyst, params={"merchant_id": merchant["id"]},
                    expect=200).json()
    assert shown["playbook"] == "freeze_merchant" and shown["accounts"] == []
    assert shown["effect"] == {"status": "applied", "merchant_id": merchant["id"],
                               "previous_status": "active", "merchant_status": "suspended"}
    unknown = api.get(path, analyst, params={"merchant_id": "mer_nobody"})
    assert unknown.status_code == 404 and "merchant_id" in unknown.text
    assert api.get("/v1/merchant", key).status_code == 200  # still accepting
    assert api.get(f"/v1/operator/alerts/{alert_id}", analyst,
                   expect=200).json()["status"] == "open"
    missing = api.get(path, analyst)  # freeze_merchant needs the merchant
    assert missing.status_code == 422
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert "parameters" in missing.text
    api.post(f"/v1/operator/alerts/{alert_id}/dismiss", {"reason": "known"}, analyst,
             expect=200)
    assert api.get(path, analyst, params={"merchant_id": merchant["id"]}).status_code == 409


def test_a_lower_limits_preview_refuses_a_share_too_large(api):
    analyst = api.operator("risk_analyst")
    alert_id = _alert(api, "lower_limits", metric="utilisation")
    bad = api.get(f"/v1/operator/alerts/{alert_id}/playbook/preview", analyst,
                  params={"share": "0.9"})
    assert bad.status_code == 422 and "parameters.share" in bad.text
