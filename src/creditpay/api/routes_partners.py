"""The read-only partner lender API and the staff routes for partners (issue #17 item 5;
docs/api.md, "Partner API").

A partner calls with its ``cpl`` key (``parties.partners.create_partner_key``) and reaches
only the routes naming a scope the key holds; every query is on the key's own partner id,
never on an id the request carries, so a partner sees nothing of another's (a settlement id
of another partner is a 404). Staff onboard partners, give them keys and set products'
funding arrangements; every write is audited by the use case it calls
(``parties.partners``, ``credit.funding``)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request

from creditpay.api import schemas as S
from creditpay.api import schemas_partners as SP
from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, Limit, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.api.routes_approvals import ApprovalOut, propose
from creditpay.credit import funding as F
from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, ValidationError
from creditpay.parties import partners as P
from creditpay.parties.service import Principal
from creditpay.reporting.data_sharing import SHAREABLE_FIELDS

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["partner lenders"])
LOANS = access(partner={"loans:read"})
FLOWS = access(partner={"cash_flows:read"})
SETTLEMENTS = access(partner={"settlements:read"})
STAFF_READ = access(roles={"admin", "risk_analyst", "compliance_officer"})
STAFF_WRITE = access(roles={"admin", "risk_analyst"})

After = Query(None, max_length=128, description="next_cursor of the previous page")
PartnerId = Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_]+$")
ProductCode = Path(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9_\-]+$")
SettlementId = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")


# ----------------------------------------------------------------------- cursors
def _encode(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def _decode(kind: str, cursor: str | None) -> str | None:
    """The position a ``next_cursor`` of this list holds; ValidationError naming ``after``
    for anything else (another list's cursor included)."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    found, _, value = text.partition(":")
    if found != kind or not value:
        raise ValidationError("is not a cursor this list returned", field="after")
    return value


def _flow_after(cursor: str | None) -> int:
    value = _decode("flow", cursor)
    if value is None:
        return 0
    if not value.isdigit() or len(value) > 18:
        raise ValidationError("is not a cursor this list returned", field="after")
    return int(value)


def _follow_in(tx: Tx) -> None:
    # follow_ledger locks its cursor row: concurrent followers (these GETs, the batch, the
    # CLI) take turns and never split a transfer twice.
    F.follow_ledger(tx)


def _follow(request: Request) -> None:
    """Split the flows posted since the last follow (idempotent), so the answer is
    current: loans' outstanding and flows move only when the journal is followed."""
    runtime(request).uow.run(_follow_in)


# ----------------------------------------------------------------------- partner side
@router.get("/partner/loans", response_model=SP.PartnerLoanList,
            summary="The loans the calling partner funds, with its share of each")
def partner_loans(request: Request, after: str | None = After, limit: int = Limit,
                  who: Principal = Depends(LOANS)) -> Any:
    """Partner key (scope loans:read). The loans this partner funds, by loan id, each with
    its share, rate, funded and outstanding principal, income paid, write-offs, guarantee
    and recoveries (after following the journal, so the figures are current). Paged:
    `?after=next_cursor&limit=1..100`; 422 naming `after` for a cursor this list did not
    return, `limit` out of range. Only the caller's own loans, whatever it sends."""
    _follow(request)
    account_after = _decode("loan", after)
    with runtime(request).uow.connect() as conn:
        rows = F.partner_loans(conn, who.id, after=account_after, limit=limit + 1)
    page = rows[:limit]
    more = len(rows) > limit
    return {"data": page,
            "next_cursor": _encode("loan", page[-1]["account_id"]) if more else None}


@router.get("/partner/cash_flows", response_model=SP.PartnerFlowList,
            summary="The calling partner's cash flows, in the order they happened")
def partner_cash_flows(request: Request, after: str | None = After, limit: int = Limit,
                       since: S.JsonDate | None = Query(None, description=(
                           "only flows of this business date (YYYY-MM-DD) or later")),
                       who: Principal = Depends(FLOWS)) -> Any:
    """Partner key (scope cash_flows:read). Every flow of the partner's loans (funding,
    principal, interest and fees, refunds, write-offs, guarantee, recoveries and their
    reversals), split from the credit journal just before answering, with the settlement
    that netted it (null until settled) and its cash sign. Paged in flow order:
    `?after=next_cursor&limit=1..100`, optionally `since` a business date; 422 naming the
    field for a bad cursor, limit or date."""
    _follow(request)
    flow_after = _flow_after(after)
    with runtime(request).uow.connect() as conn:
        rows = F.partner_flows(conn, who.id, after=flow_after, limit=limit + 1, since=since)
    page = rows[:limit]
    more = len(rows) > limit
    return {"data": page, "next_cursor": _encode("flow", str(page[-1]["id"])) if more else None}


@router.get("/partner/settlements", response_model=SP.PartnerSettlementList,
            summary="The calling partner's settlements, latest first")
def partner_settlements(request: Request, limit: int = Limit,
                        who: Principal = Depends(SETTLEMENTS)) -> Any:
    """Partner key (scope settlements:read). The partner's daily settlements, latest
    business date first, `limit` of them (1..100): what was collected on its behalf net of
    the funding it owed, per currency and day (`net_minor` > 0: the platform pays)."""
    with runtime(request).uow.connect() as conn:
        return {"data": F.partner_settlements(conn, who.id, limit=limit)}


@router.get("/partner/settlements/{settlement_id}/lines",
            response_model=SP.SettlementLinesOut,
            summary="The lines of one of the calling partner's settlements")
def partner_settlement_lines(request: Request, settlement_id: str = SettlementId,
                             who: Principal = Depends(SETTLEMENTS)) -> Any:
    """Partner key (scope settlements:read). One line per flow the settlement netted: the
    rows of the settlement file (docs/partner-lending.md, "Settlement files"). 404 naming
    `settlement_id` for an id that is not one of this partner's settlements."""
    with runtime(request).uow.connect() as conn:
        lines = [line for line in F.settlement_lines(conn, who.id, _settled_day(settlement_id))
                 if line["settlement_id"] == settlement_id] \
            if settlement_id.startswith(f"stl_{who.id}_") else []
    if not lines:
        raise NotFoundError(f"no settlement {settlement_id}", field="settlement_id")
    return {"settlement_id": settlement_id, "data": lines}


def _settled_day(settlement_id: str) -> dt.date:
    """The business date a settlement id names (``stl_<partner>_<currency>_<YYYY-MM-DD>``):
    settlement_lines reads by partner and day; the lines are then matched on the whole id,
    so this is only where to look."""
    try:
        return dt.date.fromisoformat(settlement_id[-10:])
    except ValueError:
        raise NotFoundError(f"no settlement {settlement_id}", field="settlement_id") from None


# ----------------------------------------------------------------------- staff side
@router.get("/operator/partners", response_model=SP.StaffPartnerList,
            summary="Every partner lender with its terms and figures")
def list_partners(request: Request, who: Principal = Depends(STAFF_READ)) -> Any:
    """Operator (admin, risk analyst, compliance officer). Every partner lender by name,
    with its terms in force and its figures (funded, outstanding, income, losses,
    guarantee, the smallest platform share of its joint loans, decisions, settlements),
    computed after following the journal."""
    def read(tx: Tx) -> Any:
        _follow_in(tx)
        figures = {row["partner_id"]: row for row in F.partners_report(tx.conn)["partners"]}
        return [{**P.partner_view(p), "figures": figures.get(p.partner_id)}
                for p in P.list_partners(tx.conn)]

    return {"data": runtime(request).uow.run(read)}


@router.get("/operator/partners/reconciliation",
            response_model=SP.PartnerReconciliationOut,
            summary="Every partner's cash flows reconciled against the ledger")
def reconcile_partners(request: Request,
                       date: S.JsonDate | None = Query(None, description=(
                           "also check that this business date's settlements add up to "
                           "their lines (YYYY-MM-DD)")),
                       who: Principal = Depends(STAFF_READ)) -> Any:
    """Operator (admin, risk analyst, compliance officer). Follows the journal, then checks
    every partner's principal, payable and funding-due accounts against its loans and
    unsettled flows, every flow's posting, every loan's funders against its principal, the
    ledger's balance and, with `date`, that day's settlements against their lines. **200**
    with `ok` false and the differences when anything differs."""
    def check(tx: Tx) -> Any:
        return F.reconcile(tx, date)

    return runtime(request).uow.run(check)


@router.post("/operator/partners", status_code=201, response_model=SP.PartnerOut,
             summary="Onboard a partner lender")
def onboard_partner(request: Request, body: SP.PartnerOnboardIn,
                    idempotency_key: str = IdempotencyKey,
                    who: Principal = Depends(STAFF_WRITE)) -> Any:
    """Operator (admin, risk analyst). A new partner lender with its terms (version 1),
    audited: **201** with the partner. Refused, nothing stored: 422 naming the field
    (`terms.<path>` for the terms: a rate or cap out of range, a float PD, a data field
    that cannot be shared, a per-borrower cap above the exposure cap), 409 naming `name`
    for a name already taken. Idempotency-Key required."""
    def use_case(tx: Any) -> Any:
        _parse_terms(body.terms)
        return P.onboard_partner(
            tx, who.id, name=body.name, licence_type=body.licence_type,
            licence_number=body.licence_number, currency=body.currency, terms=body.terms,
            status=body.status, shareable_fields=SHAREABLE_FIELDS)

    return idempotent_post(request, who.scope_key, body, use_case, status_code=201)


def _parse_terms(terms: dict[str, Any]) -> None:
    """The domain's own check of the terms, its refusal named under ``terms``."""
    try:
        P.parse_terms(terms, shareable_fields=SHAREABLE_FIELDS)
    except ValidationError as exc:
        field = "terms" if exc.field in (None, "terms") else f"terms.{exc.field}"
        raise ValidationError(exc.detail, field=field) from None


@router.post("/operator/partners/{partner_id}/keys", status_code=201,
             response_model=SP.PartnerKeyOut, summary="Give a partner a read-only API key")
def create_partner_key(request: Request, body: SP.PartnerKeyIn,
                       partner_id: str = PartnerId, idempotency_key: str = IdempotencyKey,
                       who: Principal = Depends(STAFF_WRITE)) -> Any:
    """Operator (admin, risk analyst). A `cpl` key for the partner API with the scopes
    asked for (default all: loans:read, cash_flows:read, settlements:read), audited:
    **201** with the key, shown once (a replay of the request shows it redacted). 404
    naming `partner_id` for an unknown partner. Idempotency-Key required."""
    return idempotent_post(request, who.scope_key, body, lambda tx: P.create_partner_key(
        tx, who.id, partner_id, body.scopes), status_code=201,
        secret_fields=frozenset({"key"}))


@router.post("/operator/products/{code}/funding", status_code=202, response_model=ApprovalOut,
             summary="Propose a product's funding arrangement (four-eyes)")
def set_funding(request: Request, body: SP.FundingIn, code: str = ProductCode,
                idempotency_key: str = IdempotencyKey,
                who: Principal = Depends(STAFF_WRITE)) -> Any:
    """Operator (admin, risk analyst). Proposes a new arrangement version (own, joint,
    facilitation) for the product version new business uses (or `product_version`),
    checked now against its jurisdiction's caps: **202** with a proposal (kind
    `funding.arrange`, payload `product_code`, `product_version`, `arrangement_type`,
    `partners`, `platform_share_bps`, `guarantee_bps`, `fallback`) that another operator
    approves (`POST /v1/operator/approvals/{approval_id}/approve`); approval checks it again,
    stores it and new loans are routed by it. Refused when proposing, nothing stored: 404
    naming `product_code` for an unknown product or version; 422 naming the field for an
    unknown, inactive or other-currency partner or shares not adding up to 100 %
    (`partners`), a platform share under the jurisdiction's minimum (`platform_share_bps`),
    a partner whose rate and the service fee exceed the all-in cost cap (`partners`).
    Idempotency-Key required."""
    rt = runtime(request)
    services = rt.services
    assert services is not None, "a runtime is built by build_runtime"
    catalogue = services.catalogue

    def use_case(tx: Any) -> Any:
        product = catalogue.get(code, body.product_version)
        return propose(rt, tx, who, "funding.arrange", F.check_arrangement(
            tx.conn, product=product, arrangement_type=body.arrangement_type,
            partners=[entry.model_dump() for entry in body.partners],
            platform_share_bps=body.platform_share_bps, guarantee_bps=body.guarantee_bps,
            fallback=body.fallback, caps=catalogue.caps(product.jurisdiction)))

    return idempotent_post(request, who.scope_key, body, use_case, status_code=202)
