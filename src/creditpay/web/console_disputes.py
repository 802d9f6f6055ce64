"""The console's disputes queue (issue #20): disputes by status (under review first), each
with both sides' statements and evidence, and the decision form (four-eyes above the
threshold, as ``POST /v1/operator/disputes/{id}/decide``).

An adapter like the other queues (:mod:`creditpay.web.console_queues`): it reads through
the functions the JSON routes call and runs the decision as its JSON route runs it
(:func:`~creditpay.web.framework.run_as_route`: same idempotency record, same audit)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from creditpay.api.routes_approvals import propose
from creditpay.errors import DomainError
from creditpay.payments import disputes_core as core
from creditpay.web.console import NAV, forbidden, render, staff_only, staff_page
from creditpay.web.console_queues import _refused
from creditpay.web.framework import (
    KEY_FIELD,
    N_,
    Page,
    form_post,
    http_status,
    new_form_key,
    run_as_route,
)

__all__ = ["router", "DISPUTES_READ", "DISPUTES_DECIDE"]

router = APIRouter(prefix="/console", include_in_schema=False)
# api/routes_disputes.py: OPERATOR_READ, OPERATOR_DECIDE.
DISPUTES_READ = frozenset({"admin", "risk_analyst", "compliance_officer", "support"})
DISPUTES_DECIDE = frozenset({"admin", "risk_analyst"})
NAV.append(("/console/disputes", N_("Disputes"), DISPUTES_READ))

STATUSES = {"under_review": N_("Under review"), "open": N_("Awaiting the merchant"),
            "resolved_consumer": N_("Decided for the consumer"),
            "resolved_merchant": N_("Decided for the merchant"),
            "accepted": N_("Accepted by the merchant"), "withdrawn": N_("Withdrawn")}
REASONS = {"not_received": N_("Not received"), "not_as_described": N_("Not as described"),
           "unauthorised": N_("Not authorised"), "duplicate": N_("Charged twice")}
OUTCOMES = {"consumer": N_("For the consumer: refund"),
            "merchant": N_("For the merchant: resume the plan")}


def _view(page: Page, status: str, **values: Any) -> Response:
    rt = page.rt
    who = page.principal
    assert who is not None
    disputes = rt.payments.disputes
    with rt.uow.connect() as conn:
        rows = [disputes.get(conn, who, d["dispute_id"])
                for d in disputes.list_for(conn, who, status=status, limit=50)]
    return render(page, "console/q_disputes.html", status_code=values.pop("status_code", 200),
                  title=page.gettext("Disputes"), rows=rows, status=status,
                  statuses=STATUSES, reasons=REASONS, outcomes=OUTCOMES,
                  can_decide=who.role in DISPUTES_DECIDE,
                  threshold_minor=rt.four_eyes.amount_threshold_minor, key=new_form_key(),
                  done=values.pop("done", None), error=values.pop("error", None))


@router.get("/disputes", response_class=HTMLResponse)
def disputes_page(request: Request, status: str = "under_review") -> Response:
    """Disputes in one status (under review: the decision queue), newest first."""
    page, refused = staff_only(request, DISPUTES_READ)
    if refused is not None:
        return refused
    return _view(page, status if status in core.STATUSES else "under_review")


@form_post(router, "/disputes/{dispute_id}/decide", page_of=staff_page)
def decide(page: Page, form: dict[str, str]) -> Response:
    """POST /v1/operator/disputes/{id}/decide from the queue: decided at once, or proposed
    for a second operator above the four-eyes threshold."""
    who = page.principal
    if who is None:
        return page.redirect("/console/login")
    if who.role not in DISPUTES_DECIDE:
        return forbidden(page)
    rt = page.rt
    dispute_id = str(page.request.path_params["dispute_id"])[:32]
    outcome = form.get("outcome", "")
    note = form.get("note", "").strip() or None
    body = {"outcome": outcome, "note": note}
    disputes = rt.payments.disputes
    api_path = f"/v1/operator/disputes/{dispute_id}/decide"
    try:
        with rt.uow.connect() as conn:
            amount = disputes.decidable_amount(conn, dispute_id, outcome)
        if rt.four_eyes.controls_amount(amount):
            def proposal(tx: Any) -> dict[str, Any]:
                disputes.decidable_amount(tx.conn, dispute_id, outcome)
                return propose(rt, tx, who, "dispute.decide", {
                    "dispute_id": dispute_id, "outcome": outcome, "note": note,
                    "amount_minor": amount})

            response = run_as_route(page, who, key=form.get(KEY_FIELD) or None,
                                    api_path=api_path, body=body, use_case=proposal,
                                    status_code=202)
        else:
            response = run_as_route(page, who, key=form.get(KEY_FIELD) or None,
                                    api_path=api_path, body=body,
                                    use_case=lambda tx: disputes.decide(
                                        tx, who.id, dispute_id, outcome=outcome, note=note))
    except DomainError as exc:
        return _view(page, "under_review", status_code=http_status(exc),
                     error=_refused(page, exc, dispute_id))
    done = json.loads(bytes(response.body))
    return _view(page, "under_review", done={**done, "proposed": response.status_code == 202})
