"""GET /v1/operator/dashboard/{view}: JSON and CSV, roles, bad input (both stores)."""

from __future__ import annotations

import csv
import io

from tests.reporting.test_dashboard import build_book


def test_views_as_json_and_csv(api):
    with api.runtime.uow.begin() as tx:
        build_book(tx.conn)
    analyst = api.operator("risk_analyst")
    params = {"from": "2024-01-01", "to": "2025-03-31"}
    body = api.get("/v1/operator/dashboard/receivables", analyst, params=params,
                   expect=200).json()
    assert body["rows"] == [
        {"product_code": "huabei", "accounts": 3, "receivable_minor": 19150,
         "principal_minor": 19000, "receivable_share": "0.489144"},
        {"product_code": "jiebei", "accounts": 1, "receivable_minor": 20000,
         "principal_minor": 20000, "receivable_share": "0.510856"}]
    as_csv = api.get("/v1/operator/dashboard/roll_rates", api.operator("compliance_officer"),
                     params={**params, "format": "csv"}, expect=200)
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {(r["from_state"], r["to_state"], r["roll_share"]) for r in lines} >= {
        ("M1", "M0", "0.600000"), ("M1", "M2", "0.400000")}
    by_accept = api.client.get("/v1/operator/dashboard/buckets", params=params, headers={
        "Authorization": f"Bearer {analyst}", "Accept": "text/csv"})
    assert by_accept.status_code == 200
    assert by_accept.text.splitlines()[0] == (
        "bucket,accounts,receivable_minor,receivable_share,accounts_share")
    refused = api.get("/v1/operator/dashboard/fraud", analyst,
                      params={"product": "huabei"}, expect=422).json()
    assert "product" in str(refused)
    api.get("/v1/operator/dashboard/nope", analyst, expect=422)
    api.get("/v1/operator/dashboard/buckets", api.operator("collections_agent"), expect=403)


def test_the_pnl_view_its_rate_and_the_warnings(api):
    """The platform's P&L over the API (tests/reporting/test_dashboard_pnl.py works its
    figures out), the funding rate as a query parameter, and the horizon warnings."""
    from tests.reporting.test_dashboard_pnl import build_pnl

    build_pnl(api.runtime.uow.engine)
    analyst = api.operator("risk_analyst")
    body = api.get("/v1/operator/dashboard/pnl", analyst, expect=200).json()
    assert [(r["month"], r["revenue_minor"], r["funding_cost_minor"], r["net_minor"],
             r["net_charge_off_rate"]) for r in body["rows"]] == [
        ("2025-01", 1_150, 2_329, 1_150 - 2_329 - 1_400 - 1_100, "0.031523"),
        ("2025-02", 920, 1_233, 920 - 1_233, "0.000000")]
    assert body["warnings"] == []
    # 9,000,000 own-funded on Feb 1 at 1,000 bps: 2,465.75 -> 2,466.
    feb = api.get("/v1/operator/dashboard/pnl", analyst, expect=200, params={
        "from": "2025-02-01", "funding_rate_bps": "1000"}).json()
    assert [(r["funding_cost_minor"], r["funding_rate_bps"]) for r in feb["rows"]] == [
        (2_466, 1_000)]
    # The process's setting (CREDITPAY_FUNDING_RATE_BPS) when the request names none.
    api.runtime.funding_rate_bps = 1_000
    by_setting = api.get("/v1/operator/dashboard/pnl", analyst, expect=200,
                         params={"from": "2025-02-01"}).json()
    assert [r["funding_cost_minor"] for r in by_setting["rows"]] == [2_466]
    api.runtime.funding_rate_bps = 500
    as_csv = api.get("/v1/operator/dashboard/pnl", analyst, params={"format": "csv"},
                     expect=200)
    assert as_csv.text.splitlines()[0].startswith("month,days,revenue_gross_minor,")
    assert "product" in str(api.get("/v1/operator/dashboard/pnl", analyst,
                                    params={"product": "huabei"}, expect=422).json())
    for bad in ("-1", "10001", "5.5"):
        assert "funding_rate_bps" in str(api.get(
            "/v1/operator/dashboard/pnl", analyst, params={"funding_rate_bps": bad},
            expect=422).json())
    with api.runtime.uow.begin() as tx:
        build_book(tx.conn)
    vintages = api.get("/v1/operator/dashboard/vintages", analyst, expect=200).json()
    assert [w["chart"] for w in vintages["warnings"]] == ["vintages"]
    api.get("/v1/operator/dashboard/pnl", api.operator("collections_agent"), expect=403)
