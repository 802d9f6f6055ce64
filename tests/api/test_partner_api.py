"""The read-only partner lender API and the staff partner routes (issue #17 item 5), over
real HTTP on both stores: a partner's key sees its own funded loans, flows and settlements
and nothing of another partner's, whatever ids it sends; scopes are enforced; a revoked key
or a terminated partner is refused; bad input is a 422 naming the field; staff routes keep
to their roles and refuse bad arrangements naming the field."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text, update

from creditpay import ledger as L
from creditpay.api import routes_partners as RP
from creditpay.credit import funding as F
from creditpay.credit import service as CS
from creditpay.credit.tables import credit_funding_positions
from creditpay.ledger.chart import party_key
from creditpay.parties import partners as PL
from creditpay.parties.tables import partner_api_keys
from creditpay.protection import consent
from creditpay.reporting.data_sharing import share_with_partner
from tests.credit.servicing_helpers import CNY, Customer, new_customer, repay

PURPOSE = consent.Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER
TERMS: dict[str, Any] = {
    "funding_rate_bps": 600, "service_fee_bps": 400, "exposure_cap_minor": 50_000_000,
    "per_borrower_cap_minor": 5_000_000,
    "appetite": {"grades": ["A", "B", "C"], "max_pd": "0.08"},
    "data_fields": ["payments_count_90d"],
    "policy": {"max_pd": "0.08", "kyc_required": False}}


def _onboard(api, admin: str, name: str, **changes: Any) -> str:
    return api.post("/v1/operator/partners", {
        "name": name, "licence_type": "bank", "licence_number": f"L-{name}",
        "currency": "CNY", "terms": {**TERMS, **changes}}, admin,
        expect=201).json()["partner_id"]


def _key(api, admin: str, partner_id: str, scopes: list[str] | None = None) -> str:
    body = {} if scopes is None else {"scopes": scopes}
    return api.post(f"/v1/operator/partners/{partner_id}/keys", body, admin,
                    expect=201).json()["key"]


def _funding() -> F.Funding:
    def share(tx, customer_id, partner_id, fields):
        return share_with_partner(tx, customer_id, partner_id, fields)

    return F.Funding(share_data=share, borrower_risk=lambda conn, cid: ("B", Decimal("0.03")))


def _consent(uow, customer_id: str, partner_id: str) -> None:
    with uow.connect() as conn:
        name = consent.registered_partner_name(conn, partner_id)
    text = consent.consent_text(PURPOSE, "en", partner_name=name)
    with uow.begin() as tx:
        consent.grant_consent(tx, customer_id=customer_id, purpose=PURPOSE, language="en",
                              text_version=text.version, text_sha256=text.sha256,
                              channel="app", partner_id=partner_id, partner_name=name)


def _loan(api, who, loan_id: str, amount_minor: int) -> None:
    catalogue = api.runtime.services.catalogue
    with api.runtime.uow.begin() as tx:
        CS.disburse_cash_loan(tx, loan_id=loan_id, customer_id=who.customer_id, currency=CNY,
                              principal_minor=amount_minor, product_code="jiebei", periods=3,
                              method="equal_installment", wallet_account_id=who.wallet_id,
                              catalogue=catalogue, funding=_funding())


@pytest.fixture
def world(api, clock) -> dict[str, Any]:
    """Partners A and B; a joint arrangement of jiebei with A (platform 30 %); two loans of
    one customer, both funded 70 % by A, one partly repaid; A settled for the day. B funds
    nothing: B's customer consented to A only."""
    admin = api.operator("admin")
    a = _onboard(api, admin, "Bank A")
    b = _onboard(api, admin, "Bank B")
    proposal = api.post("/v1/operator/products/jiebei/funding", {
        "arrangement_type": "joint", "partners": [{"partner_id": a}],
        "platform_share_bps": 3000, "guarantee_bps": 0, "fallback": "own"}, admin,
        expect=202).json()
    assert (proposal["kind"], proposal["status"]) == ("funding.arrange", "pending")
    # Four-eyes: another operator approves; the process's catalogue routes by it at once.
    api.post(f"/v1/operator/approvals/{proposal['approval_id']}/approve", {},
             api.operator("risk_analyst"), expect=200)
    uow = api.runtime.uow
    who = new_customer(uow, "c_papi", limit_minor=5_000_000)
    _consent(uow, who.customer_id, a)
    _loan(api, who, "loan_papi_1", 100_000)
    _loan(api, who, "loan_papi_2", 50_000)
    repay(uow, who, "r_papi_1", 20_000, target="loan_papi_1")
    with uow.begin() as tx:
        settled = F.settle(tx, clock.today())
    assert [s["partner_id"] for s in settled] == [a]
    return {"admin": admin, "a": a, "b": b, "a_key": _key(api, admin, a),
            "b_key": _key(api, admin, b), "settlement_id": settled[0]["settlement_id"]}


def test_a_partner_sees_its_own_loans_flows_and_settlements(api, world):
    a_key = world["a_key"]
    loans = api.get("/v1/partner/loans", a_key, expect=200).json()
    assert [(r["account_id"], r["share_bps"], r["funded_minor"]) for r in loans["data"]] == [
        ("loan_papi_1", 7000, 70_000), ("loan_papi_2", 7000, 35_000)]
    assert loans["next_cursor"] is None
    # The repayment was split before answering: A's principal outstanding went down.
    first = loans["data"][0]
    assert 0 < first["outstanding_minor"] < first["funded_minor"]
    flows = api.get("/v1/partner/cash_flows", a_key, params={"limit": 100},
                    expect=200).json()["data"]
    assert {f["account_id"] for f in flows} == {"loan_papi_1", "loan_papi_2"}
    assert sorted(f["amount_minor"] for f in flows if f["kind"] == "fund") == [35_000, 70_000]
    assert any(f["kind"] == "principal" for f in flows)
    assert [f["id"] for f in flows] == sorted(f["id"] for f in flows)
    settlements = api.get("/v1/partner/settlements", a_key, expect=200).json()["data"]
    assert [s["settlement_id"] for s in settlements] == [world["settlement_id"]]
    lines = api.get(f"/v1/partner/settlements/{world['settlement_id']}/lines", a_key,
                    expect=200).json()
    assert lines["settlement_id"] == world["settlement_id"]
    # The settlement's lines are exactly the flows it netted, and add up to its net.
    assert sorted(line["amount_minor"] for line in lines["data"]) == sorted(
        f["amount_minor"] for f in flows if f["settlement_id"] == world["settlement_id"])
    assert sum(line["cash_sign"] * line["amount_minor"] for line in lines["data"]) == \
        settlements[0]["net_minor"]


def test_another_partner_never_sees_them_whatever_it_sends(api, world):
    b_key, a = world["b_key"], world["a"]
    a_cursor = api.get("/v1/partner/loans", world["a_key"], params={"limit": 1},
                       expect=200).json()["next_cursor"]
    assert a_cursor is not None
    for path, params in (("/v1/partner/loans", {}), ("/v1/partner/loans", {"after": a_cursor}),
                         ("/v1/partner/loans", {"partner_id": a}),
                         ("/v1/partner/cash_flows", {"partner_id": a}),
                         ("/v1/partner/settlements", {"partner_id": a})):
        assert api.get(path, b_key, params=params, expect=200).json()["data"] == [], path
    assert api.get(f"/v1/partner/settlements/{world['settlement_id']}/lines", b_key,
                   expect=404).json()["field"] == "settlement_id"
    # An id of B's own shape for A's settlement day is not a settlement either.
    forged = world["settlement_id"].replace(a, world["b"])
    assert api.get(f"/v1/partner/settlements/{forged}/lines", b_key).status_code == 404


def test_pages_follow_the_cursor(api, world):
    a_key = world["a_key"]
    page = api.get("/v1/partner/loans", a_key, params={"limit": 1}, expect=200).json()
    assert [r["account_id"] for r in page["data"]] == ["loan_papi_1"]
    rest = api.get("/v1/partner/loans", a_key, params={"limit": 1, "after": page["next_cursor"]},
                   expect=200).json()
    assert [r["account_id"] for r in rest["data"]] == ["loan_papi_2"]
    assert rest["next_cursor"] is None
    whole = [f["id"] for f in api.get("/v1/partner/cash_flows", a_key, params={"limit": 100},
                                      expect=200).json()["data"]]
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"after": cursor} if cursor else {})
        got = api.get("/v1/partner/cash_flows", a_key, params=params, expect=200).json()
        seen += [f["id"] for f in got["data"]]
        cursor = got["next_cursor"]
        if cursor is None:
            break
    assert seen == whole and len(whole) >= 3


def test_scopes_are_enforced(api, world):
    admin, a = world["admin"], world["a"]
    no_settlements = _key(api, admin, a, ["loans:read", "cash_flows:read"])
    loans_only = _key(api, admin, a, ["loans:read"])
    assert api.get("/v1/partner/loans", no_settlements).status_code == 200
    assert api.get("/v1/partner/cash_flows", no_settlements).status_code == 200
    for path in ("/v1/partner/settlements",
                 f"/v1/partner/settlements/{world['settlement_id']}/lines"):
        refused = api.get(path, no_settlements, expect=403).json()
        assert "settlements:read" in refused["detail"]
    assert api.get("/v1/partner/cash_flows", loans_only).status_code == 403
    # A partner key reaches nothing outside the partner API.
    for path in ("/v1/me", "/v1/merchant", "/v1/operator/partners", "/v1/payment_intents"):
        assert api.get(path, world["a_key"]).status_code == 403, path


def test_revoked_key_and_terminated_partner_are_refused(api, world):
    admin, a = world["admin"], world["a"]
    spare = _key(api, admin, a)
    assert api.get("/v1/partner/loans", spare).status_code == 200
    with api.runtime.uow.begin() as tx:
        tx.conn.execute(update(partner_api_keys).where(
            partner_api_keys.c.prefix == spare.split("_", 1)[0]).values(revoked_at=tx.now))
    assert api.get("/v1/partner/loans", spare).status_code == 401
    assert api.get("/v1/partner/loans", world["a_key"]).status_code == 200
    with api.runtime.uow.begin() as tx:
        PL.set_status(tx, "op_test", a, "terminated")
    for path in ("/v1/partner/loans", "/v1/partner/cash_flows", "/v1/partner/settlements"):
        assert api.get(path, world["a_key"]).status_code == 401, path
    assert api.get("/v1/partner/loans", "cpl0000000000000000_" + "x" * 43).status_code == 401


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/v1/partner/loans", {"limit": 0}, "limit"),
    ("/v1/partner/loans", {"limit": 101}, "limit"),
    ("/v1/partner/loans", {"after": "not-a-cursor!"}, "after"),
    ("/v1/partner/cash_flows", {"after": "bG9hbjpsb2FuX3BhcGlfMQ"}, "after"),  # a loan cursor
    ("/v1/partner/cash_flows", {"after": "Zmxvdzp4"}, "after"),  # flow:x
    ("/v1/partner/cash_flows", {"since": "2025-13-01"}, "since"),
    ("/v1/partner/settlements", {"limit": 0}, "limit"),
])
def test_bad_input_names_the_field(api, world, path, params, field):
    problem = api.get(path, world["a_key"], params=params, expect=422).json()
    assert problem["field"] == field, problem


def test_staff_routes_keep_to_their_roles(api, world, clock):
    a = world["a"]
    compliance, support = api.operator("compliance_officer"), api.operator("support")
    listed = api.get("/v1/operator/partners", compliance, expect=200).json()["data"]
    row = next(p for p in listed if p["partner_id"] == a)
    assert row["figures"]["funded_minor"] == 105_000
    assert row["figures"]["platform_share_min_bps"] == 3000
    assert row["terms"]["funding_rate_bps"] == 600
    assert api.get("/v1/operator/partners", support).status_code == 403
    report = api.get("/v1/operator/partners/reconciliation", compliance,
                     params={"date": clock.today().isoformat()}, expect=200).json()
    assert report["ok"] and report["differences"] == 0
    # Compliance reads; it does not onboard, key or arrange.
    assert api.post("/v1/operator/partners", {}, compliance).status_code == 403
    assert api.post(f"/v1/operator/partners/{a}/keys", {}, compliance).status_code == 403
    assert api.post("/v1/operator/products/jiebei/funding", {"arrangement_type": "own"},
                    compliance).status_code == 403
    risk = api.operator("risk_analyst")
    proposed = api.post("/v1/operator/products/jiebei/funding", {"arrangement_type": "own"},
                        risk, expect=202).json()
    assert proposed["payload"]["arrangement_type"] == "own"


def test_reconciliation_differences_are_a_200_with_ok_false(api, world):
    with api.runtime.uow.begin() as tx:
        tx.conn.execute(update(credit_funding_positions).where(
            credit_funding_positions.c.partner_id == world["a"]).values(
            outstanding_minor=credit_funding_positions.c.outstanding_minor + 1))
    report = api.get("/v1/operator/partners/reconciliation", world["admin"],
                     expect=200).json()
    assert report["ok"] is False and report["differences"] >= 1
    assert {d["check"] for d in report["details"]} >= {"position"}


def test_staff_writes_refuse_bad_input_naming_the_field(api, world):
    admin, a = world["admin"], world["a"]

    def onboard(**changes: Any) -> Any:
        body = {"name": "Bank C", "licence_type": "bank", "licence_number": "L-C",
                "currency": "CNY", "terms": TERMS} | changes
        return api.post("/v1/operator/partners", body, admin)

    for body, status, field in (
            ({"terms": {**TERMS, "funding_rate_bps": 99_999}}, 422, "terms.funding_rate_bps"),
            ({"terms": {**TERMS, "per_borrower_cap_minor": 60_000_000}}, 422,
             "terms.per_borrower_cap_minor"),
            ({"terms": {**TERMS, "data_fields": ["password"]}}, 422, "terms.data_fields"),
            ({"terms": {**TERMS, "appetite": {"max_pd": 0.05}}}, 422, "terms.appetite.max_pd"),
            ({"licence_type": "casino"}, 422, "licence_type"),
            ({"name": "Bank A"}, 409, "name")):
        response = onboard(**body)
        assert (response.status_code, response.json().get("field")) == (status, field), body
    names = [p["name"] for p in api.get("/v1/operator/partners", admin).json()["data"]]
    assert names == ["Bank A", "Bank B"]  # nothing stored
    assert api.post("/v1/operator/partners/ptn_missing/keys", {}, admin,
                    expect=404).json()["field"] == "partner_id"
    for body, field in (
            ({"arrangement_type": "joint", "partners": [{"partner_id": a}],
              "platform_share_bps": 2000}, "platform_share_bps"),
            ({"arrangement_type": "joint", "partners": [{"partner_id": "ptn_missing"}]},
             "partners"),
            ({"arrangement_type": "joint", "partners": [{"partner_id": a, "share_bps": 5000}],
              "platform_share_bps": 3000}, "partners"),
            ({"arrangement_type": "joint", "guarantee_bps": 10_001}, "guarantee_bps")):
        response = api.post("/v1/operator/products/jiebei/funding", body, admin, expect=422)
        assert response.json()["field"] == field, (body, response.json())
    assert api.post("/v1/operator/products/nosuch/funding", {"arrangement_type": "own"},
                    admin, expect=404).json()["field"] == "product_code"


def test_a_key_is_shown_once_and_a_replay_does_not_make_another(api, world):
    admin, a = world["admin"], world["a"]
    first = api.post(f"/v1/operator/partners/{a}/keys", {}, admin, idem="papi-key-0001",
                     expect=201).json()
    again = api.post(f"/v1/operator/partners/{a}/keys", {}, admin, idem="papi-key-0001",
                     expect=201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first["id"] and again.json()["key"] != first["key"]
    assert api.get("/v1/partner/loans", first["key"]).status_code == 200


def _lock_waiters(uow) -> int:
    with uow.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")).scalar_one()


def test_concurrent_followers_split_a_repayment_once(api, world):
    """Partner GETs follow the journal on every call: two at once must not both split the
    same repayment (on PostgreSQL the second counted it again: reconcile found position,
    payable and flow_postings differences). One follower holds its transaction open until
    the other is waiting on a lock (PostgreSQL), then commits; the other then finds nothing
    left to split."""
    uow = api.runtime.uow
    with uow.connect() as conn:
        wallet = L.get_account_by_key(conn, party_key("wallet", "c_papi", CNY)).id
    repay(uow, Customer("c_papi", "line_c_papi", wallet, 0), "r_papi_race", 10_000,
          target="loan_papi_2")
    holding, errors = threading.Event(), []

    def hold() -> None:
        try:
            with uow.begin() as tx:
                RP._follow_in(tx)
                holding.set()
                if tx.conn.dialect.name == "postgresql":
                    for _ in range(400):  # a bound, not a timing: it ends once one waits
                        if _lock_waiters(uow):
                            break
                        threading.Event().wait(0.05)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            holding.set()

    def follow() -> None:
        holding.wait()
        try:
            uow.run(RP._follow_in)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=hold), threading.Thread(target=follow)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with uow.begin() as tx:
        report = F.reconcile(tx)
    assert report["ok"], report["details"]
