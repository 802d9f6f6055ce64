"""Operator routes: the portfolio dashboard's views as JSON or CSV (issue #16).

``GET /v1/operator/dashboard/{view}?from=&to=&product=&currency=`` answers JSON; the same
with ``?format=csv`` or ``Accept: text/csv`` (and no ``format=json``) answers the view's
CSV (:func:`creditpay.reporting.dashboard.to_csv`). Read only; risk analysts, admins and
compliance officers. Each view's definition: docs/console.md.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel

from creditpay.api import schemas as S
from creditpay.api.access import access
from creditpay.api.common import runtime
from creditpay.parties.service import Principal
from creditpay.reporting import dashboard

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["dashboard"])
READ = access(roles={"risk_analyst", "admin", "compliance_officer"})
ViewName = Literal["receivables", "dpd30", "buckets", "roll_rates", "vintages", "grades",
                   "fraud", "revenue_losses", "pnl"]
_CSV_EXAMPLE = ("product_code,accounts,receivable_minor,principal_minor,receivable_share\n"
                "huabei,3,19150,19000,0.489144\njiebei,1,20000,20000,0.510856\n")


class DashboardOut(BaseModel):
    view: str
    currency: str
    date_from: dt.date | None
    date_to: dt.date | None
    product: str | None
    rows: list[dict[str, Any]]
    # The charts the recorded history is too short for: {"chart", "rule", "message"}.
    warnings: list[dict[str, str]] = []
    model_config = S.examples({
        "view": "receivables", "currency": "CNY", "date_from": "2025-01-01",
        "date_to": "2025-06-30", "product": None,
        "rows": [{"product_code": "huabei", "accounts": 3, "receivable_minor": 19150,
                  "principal_minor": 19000, "receivable_share": "0.489144"}],
        "warnings": []})


@router.get("/operator/dashboard/{view}", response_model=DashboardOut,
            summary="One portfolio-dashboard view (JSON, or CSV with format=csv)",
            responses={200: {"content": {"text/csv": {"example": _CSV_EXAMPLE}}}})
def dashboard_view(
        request: Request,
        view: ViewName = PathParam(..., description="receivables, dpd30, buckets, roll_rates, "
                                                    "vintages, grades, fraud, revenue_losses, "
                                                    "pnl"),
        date_from: dt.date | None = Query(None, alias="from", description="First day"),
        date_to: dt.date | None = Query(None, alias="to", description="Last day"),
        product: str | None = Query(None, max_length=48, description="Product code"),
        currency: str = Query("CNY", pattern="^[A-Z]{3}$"),
        funding_rate_bps: int | None = Query(
            None, ge=0, le=10_000, description="pnl: the platform's funding rate on its own-"
                                                "funded principal, basis points a year "
                                                "(default: CREDITPAY_FUNDING_RATE_BPS, 500)"),
        format: Literal["json", "csv"] | None = Query(  # noqa: A002 (the query's name)
            None, description="csv: the view as CSV; default JSON, or CSV when the Accept "
                              "header asks for text/csv"),
        who: Principal = Depends(READ)) -> Any:
    """Operator (risk analyst, admin, compliance officer). One view of the portfolio
    dashboard computed from the live database: amounts in minor units, shares as decimal
    strings with 6 places. The date range selects accounts opened in it (receivables,
    dpd30, buckets), month ends in it (roll_rates, vintages, revenue_losses), decisions,
    screenings and labels dated in it (grades, fraud) or the ledger's movements and closed
    business dates in it (pnl: the platform's P&L by month); the fraud and pnl views refuse
    a product filter (422 naming product). ``warnings``: the charts whose recorded history
    is shorter than their measure needs. CSV with format=csv or Accept: text/csv. Changes
    nothing."""
    rt = runtime(request)
    with rt.uow.connect() as conn:
        rows = dashboard.run_view(conn, view, date_from=date_from, date_to=date_to,
                                  product=product, currency=currency,
                                  funding_rate_bps=funding_rate_bps if funding_rate_bps
                                  is not None else rt.funding_rate_bps)
        warnings = dashboard.view_warnings(conn, view, rows, date_from=date_from,
                                           date_to=date_to, currency=currency)
    wants_csv = format == "csv" or (
        format is None and "text/csv" in request.headers.get("accept", ""))
    if wants_csv:
        return Response(dashboard.to_csv(view, rows), media_type="text/csv",
                        headers={"Content-Disposition":
                                 f'attachment; filename="dashboard-{view}.csv"'})
    return {"view": view, "currency": currency, "date_from": date_from, "date_to": date_to,
            "product": product, "rows": [dashboard.row_dict(r) for r in rows],
            "warnings": warnings}
