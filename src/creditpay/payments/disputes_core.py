"""Disputes' pure core: the reasons, the states and their transitions, the deadlines and
the disputable amount (issue #20). Plain data in, plain data out: no I/O, no clock.

A dispute is about one payment intent. States::

    open ──merchant contests / deadline passes──▶ under_review ──operator──▶ resolved_consumer
     │  ╲                                              │                    resolved_merchant
     │   ╲──merchant accepts──▶ accepted (refunded)    └─consumer withdraws─▶ withdrawn
     └─consumer withdraws──▶ withdrawn

``open``: awaiting the merchant's answer until ``respond_by``. ``under_review``: the merchant
answered with evidence (contest), or the deadline passed without an answer (flagged
``merchant_late``); an operator decides. ``accepted`` (the merchant accepts: refunded at once),
``resolved_consumer`` (refunded), ``resolved_merchant`` (the plan resumes) and ``withdrawn``
(the consumer withdraws; the plan resumes) are final.

The deadlines are data (:class:`DisputePolicy`, the packaged ``dispute_policy.json``,
versioned; the operator reads it at ``GET /v1/operator/dispute_policy``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from creditpay.errors import StateError, ValidationError

__all__ = ["REASONS", "STATUSES", "OPEN_STATUSES", "FINAL_STATUSES", "ACTIONS",
           "DisputePolicy", "load_policy", "transition", "respond_by", "opening_deadline",
           "disputable_minor", "check_amount", "chargeback_reason", "Transition"]

REASONS = ("not_received", "not_as_described", "unauthorised", "duplicate")
STATUSES = ("open", "under_review", "resolved_consumer", "resolved_merchant", "withdrawn",
            "accepted")
OPEN_STATUSES = ("open", "under_review")
FINAL_STATUSES = ("resolved_consumer", "resolved_merchant", "withdrawn", "accepted")
# Who does what: (action, actor kind).
ACTIONS = ("merchant_accept", "merchant_contest", "deadline", "withdraw", "decide_consumer",
           "decide_merchant")

# (status, action) -> (new status, what happens to the credit pause and the money).
_TABLE: Mapping[tuple[str, str], tuple[str, str]] = {
    ("open", "merchant_accept"): ("accepted", "refund"),
    ("open", "merchant_contest"): ("under_review", "keep"),
    ("open", "deadline"): ("under_review", "keep"),
    ("open", "withdraw"): ("withdrawn", "resume"),
    ("under_review", "withdraw"): ("withdrawn", "resume"),
    ("under_review", "decide_consumer"): ("resolved_consumer", "refund"),
    ("under_review", "decide_merchant"): ("resolved_merchant", "resume"),
    # The merchant may still accept while the operator has not decided.
    ("under_review", "merchant_accept"): ("accepted", "refund"),
}


@dataclass(frozen=True)
class Transition:
    """A dispute's next status and the effect: ``refund`` (the disputed amount through the
    payment's refund path), ``resume`` (the credit pause ends, the plan's dates move by the
    days paused) or ``keep`` (still paused)."""

    status: str
    effect: str


def transition(status: str, action: str) -> Transition:
    """The transition of a dispute in ``status`` on ``action``; StateError (409, naming
    ``status``) when the action is not allowed in that state."""
    if action not in ACTIONS:
        raise ValidationError(f"must be one of {', '.join(ACTIONS)}", field="action")
    found = _TABLE.get((status, action))
    if found is None:
        raise StateError(f"the dispute is {status}: {action.replace('_', ' ')} is not "
                         "possible", field="status")
    return Transition(*found)


@dataclass(frozen=True)
class DisputePolicy:
    """The disputes' deadlines and limits, as data (one version at a time)."""

    version: str
    opening_window_days: int  # a dispute may be opened up to this many days after capture
    merchant_response_business_days: int
    weekend: tuple[str, ...]
    description_chars_max: int
    evidence_chars_max: int
    evidence_documents_max: int
    evidence_document_chars_max: int
    chargeback_reasons: Mapping[str, str]
    chargeback_reason_default: str

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "opening_window_days": self.opening_window_days,
                "merchant_response_business_days": self.merchant_response_business_days,
                "weekend": list(self.weekend),
                "description_chars_max": self.description_chars_max,
                "evidence_chars_max": self.evidence_chars_max,
                "evidence_documents_max": self.evidence_documents_max,
                "evidence_document_chars_max": self.evidence_document_chars_max,
                "chargeback_reasons": dict(self.chargeback_reasons),
                "chargeback_reason_default": self.chargeback_reason_default,
                "reasons": list(REASONS), "statuses": list(STATUSES)}


def parse_policy(document: Mapping[str, Any]) -> DisputePolicy:
    """A policy from its JSON document; ValidationError naming the key at fault."""
    def count(key: str, low: int = 1) -> int:
        value = document.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValidationError(f"must be an integer >= {low}", field=key)
        return value

    version = document.get("version")
    if not isinstance(version, str) or not version:
        raise ValidationError("must be a non-empty string", field="version")
    reasons = document.get("chargeback_reasons")
    if not isinstance(reasons, dict) or any(
            not isinstance(k, str) or v not in REASONS for k, v in reasons.items()):
        raise ValidationError(f"must map reason codes to one of {', '.join(REASONS)}",
                              field="chargeback_reasons")
    default = document.get("chargeback_reason_default")
    if default not in REASONS:
        raise ValidationError(f"must be one of {', '.join(REASONS)}",
                              field="chargeback_reason_default")
    weekend = document.get("weekend", ["Sat", "Sun"])
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    if not isinstance(weekend, list) or any(d not in days for d in weekend) or \
            len(set(weekend)) >= 7:
        raise ValidationError("must list at most six of Mon..Sun", field="weekend")
    return DisputePolicy(
        version, count("opening_window_days"), count("merchant_response_business_days"),
        tuple(weekend), count("description_chars_max"), count("evidence_chars_max"),
        count("evidence_documents_max", 0), count("evidence_document_chars_max"),
        dict(reasons), str(default))


_PACKAGED = Path(__file__).with_name("dispute_policy.json")


def load_policy(path: Path | None = None) -> DisputePolicy:
    """The packaged policy (or the one at ``path``)."""
    return parse_policy(json.loads((path or _PACKAGED).read_text(encoding="utf-8")))


def _weekmask(policy: DisputePolicy) -> list[int]:
    return [0 if d in policy.weekend else 1
            for d in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")]


def respond_by(opened_on: dt.date, policy: DisputePolicy) -> dt.date:
    """The last day the merchant may answer: ``merchant_response_business_days`` business
    days after the day the dispute was opened (numpy's business-day calendar with the
    policy's weekend; no public holidays are modelled)."""
    day = np.busday_offset(np.datetime64(opened_on, "D"),
                           policy.merchant_response_business_days, roll="forward",
                           weekmask=_weekmask(policy))
    out: dt.date = day.astype(dt.date)
    return out


def opening_deadline(captured_on: dt.date, policy: DisputePolicy) -> dt.date:
    """The last day a dispute may be opened on a payment captured on ``captured_on``."""
    return captured_on + dt.timedelta(days=policy.opening_window_days)


def disputable_minor(captured_minor: int, refunded_minor: int) -> int:
    """What may be disputed: the captured amount not yet refunded."""
    return max(0, captured_minor - refunded_minor)


def check_amount(amount_minor: object, disputable: int) -> int:
    """The amount disputed: default (None) the whole disputable amount; else an integer
    from 1 to ``disputable``. ValidationError naming ``amount_minor``."""
    if disputable <= 0:
        raise StateError("nothing left to dispute: the payment is fully refunded",
                         field="payment_intent_id")
    if amount_minor is None:
        return disputable
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise ValidationError("must be an integer number of minor units",
                              field="amount_minor")
    if not 1 <= amount_minor <= disputable:
        raise ValidationError(f"must be from 1 to {disputable} (the captured amount not yet "
                              "refunded)", field="amount_minor")
    return amount_minor


def chargeback_reason(reason_code: str | None, is_fraud: bool, policy: DisputePolicy) -> str:
    """The dispute reason of a card network's chargeback reason code (a fraud chargeback
    without a known code is ``unauthorised``)."""
    if reason_code is not None and reason_code in policy.chargeback_reasons:
        return policy.chargeback_reasons[reason_code]
    return "unauthorised" if is_fraud else policy.chargeback_reason_default
