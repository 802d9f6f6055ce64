"""Four-eyes on product and caps changes (issue #16), over HTTP on both stores: a change is
always a proposal (202, kinds product.change / caps.change) and nothing changes until a
second operator approves it (the proposer is refused, 403); once approved, new business
uses the new version (a cash-loan offer shows the new rate) while an account opened before
keeps the version recorded on it; a document that breaks the caps, or caps that an active
product would exceed, is refused when proposed (422 naming the field) and nothing is
stored; a proposal overtaken by another activation of the same code fails at approval
(409 stale-proposal); another process on the same database picks the new version up."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import yaml
from sqlalchemy import func, select

from creditpay.credit.caps import CAPS_DIR
from creditpay.credit.products import PRODUCTS_DIR
from creditpay.credit.tables import credit_accounts, credit_catalogue_versions
from creditpay.platform.tables import approvals, audit_records
from tests.api.helpers import running_api


def _document(name: str, **changes: Any) -> dict[str, Any]:
    """A packaged YAML file's content as JSON, its version left out (the next is given)."""
    document = yaml.safe_load((PRODUCTS_DIR / name).read_text(encoding="utf-8"))
    document.pop("version")
    return {**document, **changes}


def _caps(**changes: Any) -> dict[str, Any]:
    document = yaml.safe_load((CAPS_DIR / "CN.yaml").read_text(encoding="utf-8"))
    document.pop("version")
    return {**document, **{k: str(v) for k, v in changes.items()}}


def _jiebei(api: Any, token: str) -> dict[str, Any]:
    """The customer's jiebei offer of 1,000.00 over 3 months, equal installments."""
    offers = api.post("/v1/me/cash_loans/offers", {"amount_minor": 100_000, "language": "en"},
                      token, expect=200).json()["offers"]
    found = [o for o in offers if o["product_code"] == "jiebei"]
    assert found, offers
    return found[0]


def _count(api: Any, table: Any) -> int:
    with api.runtime.uow.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _audit(api: Any, action: str) -> int:
    with api.runtime.uow.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_records).where(
            audit_records.c.action == action)).scalar_one())


def _in_force(api: Any, token: str, code: str) -> dict[int, dict[str, Any]]:
    rows = api.get("/v1/operator/products", token, expect=200).json()["data"]
    return {r["version"]: r for r in rows if r["code"] == code}


def test_a_product_change_waits_for_a_second_operator_then_new_business_uses_it(api):
    maker, checker = api.operator("risk_analyst"), api.operator("admin")
    token, _customer = api.customer_with_line(checker, "13800000301")
    before = _jiebei(api, token)
    assert (before["product_version"], before["annual_rate"]) == (1, "0.1825")
    loan = api.post("/v1/me/cash_loans", {"offer_id": before["offer_id"],
                                          "key_facts_sha256": before["key_facts_sha256"]},
                    token, expect=201).json()

    proposed = api.post("/v1/operator/products",
                        {"document": _document("jiebei_v1.yaml", annual_rate="0.146")},
                        maker, expect=202).json()
    assert (proposed["kind"], proposed["status"]) == ("product.change", "pending")
    payload = proposed["payload"]
    assert (payload["code"], payload["version"]) == ("jiebei", 2)
    assert len(payload["content_hash"]) == 64 and payload["document"]["version"] == 2
    # Pending: nothing changed, nothing stored.
    assert _jiebei(api, token)["annual_rate"] == "0.1825"
    assert _count(api, credit_catalogue_versions) == 0
    assert _in_force(api, maker, "jiebei")[1]["active_for_new_business"] is True

    approval = f"/v1/operator/approvals/{proposed['approval_id']}"
    assert api.post(f"{approval}/approve", None, maker).status_code == 403
    approved = api.post(f"{approval}/approve", None, checker, expect=200).json()
    assert approved["status"] == "approved"
    assert (approved["result"]["version"], approved["result"]["activation_seq"]) == (2, 1)
    assert approved["result"]["content_hash"] == payload["content_hash"]

    after = _jiebei(api, token)  # new business: the new version and its price
    assert (after["product_version"], after["annual_rate"]) == (2, "0.146")
    assert after["total_interest_minor"] < before["total_interest_minor"]
    with api.runtime.uow.connect() as conn:  # the loan taken before keeps version 1
        version = conn.execute(select(credit_accounts.c.product_version).where(
            credit_accounts.c.account_id == loan["loan_id"])).scalar_one()
    assert version == 1
    assert api.runtime.catalogue.get("jiebei", 1).annual_rate == Decimal("0.1825")
    listed = _in_force(api, compliance := api.operator("compliance_officer"), "jiebei")
    assert (listed[1]["source"], listed[1]["active_for_new_business"]) == ("packaged", False)
    assert (listed[2]["source"], listed[2]["active_for_new_business"]) == ("stored", True)
    assert listed[2]["activated_by"] is not None
    assert api.post("/v1/operator/products", {"document": _document("jiebei_v1.yaml")},
                    compliance).status_code == 403
    assert _audit(api, "credit.catalogue_version_activated") == 1
    # The same approval again is refused: executed once.
    assert api.post(f"{approval}/approve", None, api.operator("admin")).status_code == 409
    assert _count(api, credit_catalogue_versions) == 1


def test_a_product_that_breaks_the_caps_is_refused_when_proposed(api):
    maker = api.operator("risk_analyst")
    cases = [
        ({"annual_rate": "0.30"}, "annual_rate"),  # all-in cost above 24 %
        ({"penalty_annual_rate": "0.20"}, "penalty_annual_rate"),  # above 4 x LPR
        ({"annual_rate": 0.15}, "annual_rate"),  # a float rate, as the YAML refuses it
        ({"version": 7}, "version"),  # not the next version
        ({"status": "draft"}, "status"),
        ({"kind": "credit_line", "style": "revolve", "statement_day": 1, "due_day": 10,
          "interest_annual_rate": "0.18", "annual_rate": None, "methods": None,
          "terms": None, "hardship": None}, "kind"),  # a code keeps its kind
        ({"unknown_field": 1}, "unknown_field"),
    ]
    for changes, field in cases:
        document = {k: v for k, v in _document("jiebei_v1.yaml", **changes).items()
                    if v is not None}
        refused = api.post("/v1/operator/products", {"document": document}, maker)
        assert (refused.status_code, refused.json()["field"]) == (422, field), refused.text
    capped = api.post("/v1/operator/products", {"document": _document(
        "jiebei_v1.yaml", annual_rate="0.30")}, maker).json()
    assert capped["cap"] == "all_in_annual_cost_max"
    assert _count(api, approvals) == 0 and _count(api, credit_catalogue_versions) == 0


def test_caps_an_active_product_would_exceed_are_refused_and_others_go_through(api):
    maker, checker = api.operator("risk_analyst"), api.operator("admin")
    refused = api.post("/v1/operator/caps", {"document": _caps(
        all_in_annual_cost_max="0.10")}, maker)
    assert (refused.status_code, refused.json()["field"]) == (422, "all_in_annual_cost_max")
    assert refused.json()["cap"] == "all_in_annual_cost_max"
    penalty = api.post("/v1/operator/caps", {"document": _caps(lpr_one_year="0.010")}, maker)
    assert (penalty.status_code, penalty.json()["field"]) == (422, "penalty_lpr_multiple")
    assert _count(api, approvals) == 0

    proposed = api.post("/v1/operator/caps", {"document": _caps(lpr_one_year="0.031")},
                        maker, expect=202).json()
    assert (proposed["kind"], proposed["payload"]["version"]) == ("caps.change", 2)
    assert api.runtime.catalogue.caps("CN").version == 1
    api.post(f"/v1/operator/approvals/{proposed['approval_id']}/approve", None, checker,
             expect=200)
    caps = api.runtime.catalogue.caps("CN")
    assert (caps.version, caps.lpr_one_year) == (2, Decimal("0.031"))
    listed = api.get("/v1/operator/caps", maker, expect=200).json()["data"]
    assert [(c["jurisdiction"], c["version"], c["source"]) for c in listed] == \
        [("CN", 2, "stored")]
    # A product is now checked against the caps in force (the stored ones).
    again = api.post("/v1/operator/caps", {"document": _caps(lpr_one_year="0.032")},
                     maker, expect=202).json()
    assert again["payload"]["version"] == 3


def test_a_proposal_overtaken_by_another_version_of_its_code_is_stale(api):
    maker, checker = api.operator("risk_analyst"), api.operator("admin")
    first = api.post("/v1/operator/products", {"document": _document(
        "jiebei_v1.yaml", annual_rate="0.146")}, maker, expect=202).json()
    second = api.post("/v1/operator/products", {"document": _document(
        "jiebei_v1.yaml", annual_rate="0.1095")}, maker, expect=202).json()
    assert first["payload"]["version"] == second["payload"]["version"] == 2
    api.post(f"/v1/operator/approvals/{first['approval_id']}/approve", None, checker,
             expect=200)
    stale = api.post(f"/v1/operator/approvals/{second['approval_id']}/approve", None,
                     checker)
    assert stale.status_code == 409 and stale.json()["field"] == "version"
    assert stale.json()["type"].endswith("/stale-proposal")
    assert api.get(f"/v1/operator/approvals/{second['approval_id']}", checker,
                   expect=200).json()["status"] == "pending"
    assert _count(api, credit_catalogue_versions) == 1
    assert api.runtime.catalogue.get("jiebei").annual_rate == Decimal("0.146")
    # Another code is not overtaken by it.
    other = api.post("/v1/operator/products", {"document": _document(
        "flat_loan_v1.yaml")}, maker, expect=202).json()
    api.post(f"/v1/operator/approvals/{other['approval_id']}/approve", None, checker,
             expect=200)


def test_another_process_on_the_database_picks_the_new_version_up(api, store, clock):
    maker, checker = api.operator("risk_analyst"), api.operator("admin")
    token, _customer = api.customer_with_line(checker, "13800000302")
    keys = api.runtime.services.options  # a second worker of the same deployment
    with running_api(store.url, clock, master_key=keys.master_key, token_key=keys.token_key,
                     blind_index_key=keys.blind_index_key) as other:
        other_catalogue = other.runtime.catalogue
        assert other_catalogue.get("jiebei").version == 1
        proposed = api.post("/v1/operator/products", {"document": _document(
            "jiebei_v1.yaml", annual_rate="0.146")}, maker, expect=202).json()
        api.post(f"/v1/operator/approvals/{proposed['approval_id']}/approve", None, checker,
                 expect=200)
        assert api.runtime.catalogue.get("jiebei").version == 2  # this process: at commit
        # The other process looks at its next request once its check is due (at most
        # every catalogue_check_every_s; made due here rather than waited for).
        other_catalogue.checked_at = float("-inf")
        offer = _jiebei(other, token)
        assert (offer["product_version"], offer["annual_rate"]) == (2, "0.146")
        assert other_catalogue.get("jiebei").version == 2
