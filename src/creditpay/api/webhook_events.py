"""The events creditpay sends to a merchant's webhook URL, described in the OpenAPI document
(its ``webhooks`` section, one entry per event type), as :mod:`creditpay.payments.webhooks`
builds and signs them.

Every delivery is ``POST <webhook_url>`` with a JSON body ``{"id", "type", "created_at",
"data"}`` (``data``: the payment intent as it is after the event), the header
``Creditpay-Event-Id`` (the body's ``id``, the same on every retry: de-duplicate on it) and
``Creditpay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(webhook_secret, "<t>.<raw
body>")>``. Answer 2xx; anything else is retried with backoff (at least once delivery).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Header
from pydantic import BaseModel, Field, create_model

__all__ = ["EVENT_TYPES", "add_webhooks"]

SIGNATURE = ("t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" keyed with the "
             "merchant's webhook_secret>; refuse the event if it does not match or t is "
             "more than 5 minutes old")


class WebhookIntent(BaseModel):
    """The payment intent as it is after the event (amounts in minor units)."""

    id: str
    order_id: str
    status: str
    amount_minor: int
    currency: str
    captured_minor: int
    refunded_minor: int
    funding: str | None = Field(description="balance, card, credit_line or installment_plan "
                                            "once paid; null before")


class WebhookRefund(WebhookIntent):
    refund_id: str
    refund_amount_minor: int


class WebhookDispute(BaseModel):
    """A dispute of one of the merchant's payments as it is after the event (issue #20;
    answer at POST /v1/merchant/disputes/{dispute_id}/response by respond_by)."""

    id: str = Field(description="the dispute's id (dp_...), as dispute_id")
    order_id: str = Field(description="the disputed payment's order id")
    dispute_id: str
    payment_intent_id: str
    merchant_id: str
    currency: str
    amount_minor: int
    reason: str
    status: str
    source: str
    respond_by: str
    merchant_late: bool
    outcome: str | None
    refund_id: str | None


class _Event(BaseModel):
    id: str = Field(description="evt_...: the same on every retry of this delivery",
                    examples=["evt_3f2a9c0b1d4e5f60718a"])
    created_at: str = Field(description="when it happened (ISO 8601, business time)")


def _event(event_type: str, data: type[BaseModel], summary: str) -> type[_Event]:
    name = "".join(part.capitalize() for part in event_type.replace(".", "_").split("_"))
    # The literal is built at run time (one model per event type), beyond what a static
    # checker can follow: typed as Any.
    constant: Any = Literal.__getitem__(event_type)
    model: type[_Event] = create_model(
        f"{name}Event", __base__=_Event, __doc__=summary, __module__=__name__,
        type=(constant, Field(description="the event type")),
        data=(data, Field(description="the payment intent after the event")))
    return model


EVENT_TYPES: dict[str, str] = {
    "payment_intent.created": "A payment intent was created (its checkout link is ready).",
    "payment_intent.authorised": "The consumer paid: capture it before capture_before.",
    "payment_intent.succeeded": "The payment was captured.",
    "payment_intent.declined": "Risk screening (or a review) declined the payment.",
    "payment_intent.canceled": "The payment was cancelled; any authorisation is released.",
    "payment_intent.expired": "Not paid (or not captured) in time; any hold is released.",
    "refund.succeeded": "A refund was made.",
    "dispute.opened": "A consumer (or a card chargeback) disputed a payment: answer by "
                      "respond_by.",
    "dispute.updated": "A dispute moved (the merchant answered, the deadline passed, a "
                       "chargeback joined it).",
    "dispute.resolved": "A dispute ended: accepted, decided for either side, or withdrawn.",
}
MODELS = {kind: _event(kind, WebhookRefund if kind.startswith("refund") else
                       WebhookDispute if kind.startswith("dispute") else WebhookIntent,
                       summary) for kind, summary in EVENT_TYPES.items()}


def add_webhooks(webhooks: APIRouter) -> None:
    """One webhook entry per event type on ``webhooks`` (``FastAPI.webhooks``)."""
    for kind, summary in EVENT_TYPES.items():
        model = MODELS[kind]

        def receive(event: model = Body(...),  # type: ignore[valid-type]
                    creditpay_signature: str = Header(alias="Creditpay-Signature",
                                                      description=SIGNATURE),
                    creditpay_event_id: str = Header(alias="Creditpay-Event-Id",
                                                     description="the event's id")) -> None:
            """Sent to the merchant's webhook URL; answer 2xx."""

        # Postponed annotations would leave ``model`` a name: give FastAPI the classes.
        receive.__annotations__ = {"event": model, "creditpay_signature": str,
                                   "creditpay_event_id": str, "return": None}
        receive.__name__ = "webhook_" + kind.replace(".", "_")
        webhooks.add_api_route(kind, receive, methods=["POST"], summary=summary,
                               operation_id=receive.__name__,
                               description=summary + "\n\n" + (__doc__ or ""),
                               status_code=200, tags=["webhooks"],
                               responses={200: {"description": "received"}})
