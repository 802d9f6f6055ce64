"""Development only: the inbox of simulated phones and e-mails (``GET /v1/dev/inbox``).

Without an SMS or e-mail relay, a code sent for a registration or a new-device login reaches
nobody; this route shows what the relay would have sent to a phone number or e-mail address,
so a person (or a test harness) can register and log in against a development server. It
exists only when ``CREDITPAY_DEV_INBOX=true`` (``ApiConfig.dev_inbox``), which is logged
loudly at start: anyone who can reach it can read every code, so never in production.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from creditpay.api.common import runtime
from creditpay.parties.notifier import inbox
from creditpay.platform.vault import normalise_email, normalise_phone

__all__ = ["router"]

router = APIRouter(prefix="/v1/dev", tags=["development"])


class InboxMessage(BaseModel):
    topic: str = Field(description="notifications.registration_code, notifications.code or "
                                   "notifications.registration_attempt")
    template: str | None
    code: str | None = Field(description="the one-time code, when the message carries one")
    challenge_id: str | None
    registration_id: str | None
    purpose: str | None
    sent_at: str


class Inbox(BaseModel):
    to: str
    data: list[InboxMessage] = Field(description="newest first, at most 20")


@router.get("/inbox", response_model=Inbox,
            summary="Development only: codes and notices sent to a phone or e-mail")
def dev_inbox(request: Request, to: str = Query(min_length=3, max_length=254,
                                                description="phone number or e-mail")) -> Any:
    rt = runtime(request)
    destination = normalise_email(to) if "@" in to else normalise_phone(to)
    with rt.uow.connect() as conn:
        customer = rt.parties.find_by_identifier(conn, to)
        messages = inbox(conn, rt.vault, destination=destination,
                         customer_id=customer.id if customer is not None else None)
    return {"to": to, "data": messages}
