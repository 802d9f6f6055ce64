"""Product and caps changes under four-eyes control (issue #16; docs/console.md, "Product and
cap changes"): a change is a document (a product or caps YAML file's content, as JSON),
checked now exactly as the packaged file is and against the caps, then stored as a proposal
(202, :func:`routes_approvals.propose`, kinds ``product.change`` / ``caps.change``) that a
second operator approves; approval stores the version as active. The GET routes list what
is in force, packaged and stored."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from creditpay.api import schemas as S
from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.api.routes_approvals import ApprovalOut, propose
from creditpay.credit import catalogue_versions as V
from creditpay.parties.service import Principal

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["credit control"])
# Who proposes a change: the roles that approve it; compliance reads what is in force.
STAFF = access(roles={"admin", "risk_analyst"})
READ = access(roles={"admin", "risk_analyst", "compliance_officer"})

_PRODUCT_EXAMPLE: dict[str, Any] = {
    "code": "jiebei", "kind": "cash_loan", "name": {"zh-CN": "借呗", "en": "Cash loan"},
    "currency": "CNY", "annual_rate": "0.1460",
    "methods": ["equal_installment", "equal_principal", "interest_only", "bullet"],
    "terms": [{"months": 3}, {"months": 6}, {"months": 12}, {"days": 7}, {"days": 14},
              {"days": 30}],
    "day_count": "ACT/365", "grace_days": 3, "late_fee_minor": 0,
    "penalty_annual_rate": "0.1095", "prepayment_rule": "reduce_installment",
    "amount_min_minor": 10000, "amount_max_minor": 20000000}
_CAPS_EXAMPLE: dict[str, Any] = {
    "jurisdiction": "CN", "currency": "CNY", "all_in_annual_cost_max": "0.24",
    "lpr_one_year": "0.031", "penalty_lpr_multiple": "4",
    "unsecured_exposure_max_minor": 20000000}


class ProductChangeIn(S.Strict):
    document: dict[str, Any] = Field(description=(
        "the product's YAML file content as JSON (credit/products/*.yaml): rates as "
        "strings; `version` may be left out (it is the next after the highest packaged or "
        "stored version of `code`)"))
    model_config = S.examples({"document": _PRODUCT_EXAMPLE})


class CapsChangeIn(S.Strict):
    document: dict[str, Any] = Field(description=(
        "a jurisdiction's caps YAML content as JSON (credit/caps/<CC>.yaml): rates as "
        "strings; `version` may be left out (the next one)"))
    model_config = S.examples({"document": _CAPS_EXAMPLE})


class ProductInForce(BaseModel):
    code: str
    version: int
    kind: str
    status: str
    jurisdiction: str
    currency: str
    active_for_new_business: bool = Field(description="the version new business uses (the "
                                                      "latest active one of its code)")
    source: str = Field(description="packaged (the release's YAML) | stored (activated "
                                    "through four-eyes)")
    activated_at: str | None
    activated_by: str | None


class ProductsInForce(BaseModel):
    data: list[ProductInForce]
    model_config = S.examples({"data": [
        {"code": "jiebei", "version": 1, "kind": "cash_loan", "status": "active",
         "jurisdiction": "CN", "currency": "CNY", "active_for_new_business": False,
         "source": "packaged", "activated_at": None, "activated_by": None},
        {"code": "jiebei", "version": 2, "kind": "cash_loan", "status": "active",
         "jurisdiction": "CN", "currency": "CNY", "active_for_new_business": True,
         "source": "stored", "activated_at": "2026-12-06T10:00:00+00:00",
         "activated_by": "op_2f4e6c8b1d3a"}]})


class CapsInForce(BaseModel):
    jurisdiction: str
    version: int
    in_force: bool
    document: dict[str, Any] = Field(description="the caps, rates as strings")
    source: str = Field(description="packaged | stored")
    activated_at: str | None
    activated_by: str | None


class CapsListOut(BaseModel):
    data: list[CapsInForce]
    model_config = S.examples({"data": [
        {"jurisdiction": "CN", "version": 1, "in_force": True,
         "document": {"jurisdiction": "CN", "version": 1, "currency": "CNY",
                      "all_in_annual_cost_max": "0.24", "lpr_one_year": "0.030",
                      "penalty_lpr_multiple": "4",
                      "unsecured_exposure_max_minor": 20000000},
         "source": "packaged", "activated_at": None, "activated_by": None}]})


@router.post("/operator/products", status_code=202, response_model=ApprovalOut,
             summary="Propose a product version (four-eyes)")
def propose_product(request: Request, body: ProductChangeIn,
                    idempotency_key: str = IdempotencyKey,
                    who: Principal = Depends(STAFF)) -> Any:
    """Operator (admin, risk analyst). Proposes a new version of a product (a new code is
    a new product): **202** with a proposal (kind `product.change`, payload `code`,
    `version`, `content_hash`, `document`) that another operator approves
    (`POST /v1/operator/approvals/{approval_id}/approve`); approval stores the version as
    active and new business uses it from then on (accounts keep the version recorded on
    them). Refused when proposing, nothing stored: 422 naming the document's field, exactly
    as the packaged YAML would be refused (a float rate, an unknown field, a missing one),
    `version` when given and not the next, `status` other than active, `kind` other than the code's,
    `jurisdiction` without caps, and a product whose worst case breaks its jurisdiction's
    caps (422 naming the pricing field, `cap` naming the cap). At approval: 409
    `stale-proposal` naming `version` when another version of the code was activated
    meanwhile (nothing changed; propose again). Idempotency-Key required."""
    rt = runtime(request)
    services = rt.services
    assert services is not None, "a runtime is built by build_runtime"
    return idempotent_post(request, who.scope_key, body, lambda tx: propose(
        rt, tx, who, "product.change",
        V.check_product(tx.conn, services.packaged_catalogue, body.document)),
        status_code=202)


@router.post("/operator/caps", status_code=202, response_model=ApprovalOut,
             summary="Propose a jurisdiction's caps version (four-eyes)")
def propose_caps(request: Request, body: CapsChangeIn,
                 idempotency_key: str = IdempotencyKey,
                 who: Principal = Depends(STAFF)) -> Any:
    """Operator (admin, risk analyst). Proposes new regulatory caps for a jurisdiction:
    **202** with a proposal (kind `caps.change`, payload `jurisdiction`, `version`,
    `content_hash`, `document`) that another operator approves; approval stores them as
    the caps in force. Refused when proposing, nothing stored: 422 naming the document's
    field, exactly as the packaged YAML would be refused, `version` when given and not the
    next, and caps that an active product of the
    jurisdiction (the version new business uses) would exceed (422 naming the caps field,
    `cap` and `product_code` naming what broke). At approval: 409 `stale-proposal` naming
    `version` when other caps of the jurisdiction were activated meanwhile. Idempotency-Key
    required."""
    rt = runtime(request)
    services = rt.services
    assert services is not None, "a runtime is built by build_runtime"
    return idempotent_post(request, who.scope_key, body, lambda tx: propose(
        rt, tx, who, "caps.change",
        V.check_caps(tx.conn, services.packaged_catalogue, body.document)),
        status_code=202)


@router.get("/operator/products", response_model=ProductsInForce,
            summary="Every product version in force, packaged and stored")
def list_products(request: Request, who: Principal = Depends(READ)) -> Any:
    """Operator (admin, risk analyst, compliance officer). Every product version (accounts
    keep theirs), by code and version, with its source (packaged YAML or stored through
    four-eyes) and `active_for_new_business` on the one new business uses. Read from the
    database, so a version another process activated is listed at once."""
    rt = runtime(request)
    services = rt.services
    assert services is not None, "a runtime is built by build_runtime"
    with rt.uow.connect() as conn:
        return {"data": V.in_force(conn, services.packaged_catalogue, "product")}


@router.get("/operator/caps", response_model=CapsListOut,
            summary="The caps in force per jurisdiction, packaged or stored")
def list_caps(request: Request, who: Principal = Depends(READ)) -> Any:
    """Operator (admin, risk analyst, compliance officer). The caps in force for each
    jurisdiction (its highest version) with their source and document."""
    rt = runtime(request)
    services = rt.services
    assert services is not None, "a runtime is built by build_runtime"
    with rt.uow.connect() as conn:
        return {"data": V.in_force(conn, services.packaged_catalogue, "caps")}
