"""The assistant's chat panel in the consumer app (issue #20): ``/app/assistant``.

A server-rendered form (works without script; CSRF token; the page's strict CSP) that runs
what ``POST /v1/me/assistant/messages`` runs (:func:`creditpay.api.routes_assistant
.answer_use_case`) and lists the conversation's turns (questions as stored: masked). Each
proposed action is a button to the app's page for it or a confirm form; nothing is done
without the consumer's click. Dispute, hardship and fraud-report proposals lead to the
app's page for it (``ACTION_PAGES``: disputes, hardship, the security page).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from creditpay.errors import DomainError, NotFoundError
from creditpay.web.framework import N_, Page, customer_page, error_text, form_post, http_status

__all__ = ["router", "ACTION_PAGES"]

router = APIRouter(prefix="/app", include_in_schema=False)
# Where each proposal leads in the app (a page where the consumer confirms it); a kind
# missing here is a confirm form on this page (switch_autopay, handoff_human).
ACTION_PAGES = {"repay": "/app/credit/repay", "open_dispute": "/app/disputes",
                "freeze": "/app/security"}
INTENT_LABEL = {"bill_amount": N_("Bill amount"), "due_date": N_("Due date"),
                "minimum_payment": N_("Minimum payment"), "how_to_repay": N_("Repaying"),
                "autopay": N_("Auto-debit"), "credit_limit": N_("Credit limit"),
                "refund_status": N_("Refunds"), "dispute_charge": N_("Disputing a payment"),
                "hardship": N_("Help in difficulty"), "report_fraud": N_("Fraud"),
                "fx_charge": N_("Foreign currency"),
                "installment_convert": N_("Bill installments"),
                "credit_score": N_("Credit score"), "handoff_human": N_("A person"),
                "out_of_scope": N_("Other")}


def _view(page: Page, customer_id: str, conversation_id: str | None) -> dict[str, Any]:
    from creditpay.assistant.service import conversation_turns
    from creditpay.web.framework import new_form_key

    turns: list[Any] = []
    if conversation_id:
        with page.rt.uow.connect() as conn:
            try:
                turns = conversation_turns(conn, customer_id, conversation_id)
            except (NotFoundError, DomainError):
                conversation_id, turns = None, []
    shown = [{"turn": t, "actions": [_web_action(a, conversation_id or "") for a in t.actions]}
             for t in turns]
    return {"turns": shown, "conversation_id": conversation_id or "",
            "intent_label": INTENT_LABEL, "key": new_form_key()}


def _web_action(proposal: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    """How the page shows a proposal: a link to the app's page for it, or a confirm form
    (``form``: where it posts, ``fields``: its hidden fields)."""
    from creditpay.web.framework import KEY_FIELD, new_form_key

    kind, body = proposal["kind"], proposal.get("body") or {}
    shown: dict[str, Any] = {"kind": kind, "label": proposal["label"], "href": None}
    if kind == "switch_autopay":
        account_id = proposal["path"].split("/")[4]
        shown.update(form="/app/credit/auto_debit", fields={
            "account_id": account_id, "enabled": "true" if body.get("enabled") else "false",
            KEY_FIELD: new_form_key()})
    elif kind == "open_dispute" and body.get("payment_intent_id"):
        shown["href"] = f"/app/disputes?payment={body['payment_intent_id']}"
    elif kind == "request_hardship":  # GET .../credit_accounts/{id}/hardship_options
        shown["href"] = "/app/credit/hardship?account=" + proposal["path"].split("/")[4]
    elif kind == "handoff_human":
        shown.update(form="/app/assistant", fields={
            "conversation_id": body.get("conversation_id") or conversation_id,
            "message": body.get("message", "")})
    else:
        shown["href"] = ACTION_PAGES.get(kind, "/app/credit")
    return shown


@router.get("/assistant", response_class=HTMLResponse)
def assistant(request: Request) -> Response:
    page, who = customer_page(request)
    if who is None:
        return page.redirect("/app/login")
    wanted = request.query_params.get("c")
    return page.render("assistant.html", error=None, typed="",
                       **_view(page, who.id, wanted[:40] if wanted else None))


@form_post(router, "/assistant")
def ask(page: Page, form: dict[str, str]) -> Response:
    """Ask the assistant (as POST /v1/me/assistant/messages)."""
    from creditpay.api.routes_assistant import AssistantMessageIn, answer_use_case
    from creditpay.web.credit_pages import _model

    who = page.principal
    if who is None:
        return page.redirect("/app/login")
    conversation_id = form.get("conversation_id") or None
    message = form.get("message", "")
    try:
        body = _model(AssistantMessageIn, conversation_id=conversation_id, message=message)
        rt = page.rt
        answer = rt.uow.run(answer_use_case(rt, who, body))
    except DomainError as exc:
        return page.render("assistant.html", status_code=http_status(exc),
                           error=_message_error(page, exc), typed=message[:2000],
                           **_view(page, who.id, conversation_id))
    return page.render("assistant.html", error=None, typed="",
                       **_view(page, who.id, answer["conversation_id"]))


def _message_error(page: Page, exc: DomainError) -> str:
    if getattr(exc, "field", None) == "message":
        return page.gettext("Write your question (up to 2,000 characters).")
    return error_text(page, exc)
