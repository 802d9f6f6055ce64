"""A staff member changes a credit line's limit (issue #16, four-eyes: docs/console.md).

:func:`check_limit_change` refuses, changing nothing, a change that :func:`change_limit`
would refuse; the API runs it before storing a four-eyes proposal, so that no checker is
asked to approve what cannot run. :func:`change_limit` applies it: the ledger moves the
difference between ``credit_limit_control`` and the line's ``credit_line_available``
(:func:`creditpay.credit.lines.set_credit_limit`) and an audit record names the operator.

Refusals, each naming the field: ``line_id`` (404 unknown; 409 a line that is not active:
frozen after a write-off, closed), ``limit_minor`` (422 not an integer from 0 to the largest
limit the platform grants; 409 ``cap-exceeded`` above the jurisdiction's unsecured exposure
cap, since the customer could never use more; 409 ``limit-exceeded`` below what the line
has in use: no product lets a limit go under its drawn and held balance), ``reason``
(422, 1..128 characters). A proposal that was made against a limit version that has
changed since is refused at approval (:class:`StaleProposalError`, 409 naming ``line_id``):
the checker approved a change from a limit that no longer holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from creditpay import ledger as L
from creditpay.credit import products as P
from creditpay.credit.lines import get_line, set_credit_limit
from creditpay.db.uow import Tx
from creditpay.errors import CapExceededError, LimitExceededError, StateError, ValidationError
from creditpay.platform import audit
from creditpay.platform.approvals import StaleProposalError

__all__ = ["LimitChanges", "check_limit_change", "change_limit", "limit_proposal",
           "StaleProposalError", "REASON_CHARS_MAX"]

REASON_CHARS_MAX = 128  # the ledger transfer's reference holds it


def _check_reason(reason: object) -> str:
    if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= REASON_CHARS_MAX:
        raise ValidationError(f"must be 1..{REASON_CHARS_MAX} characters", field="reason")
    return reason.strip()


def check_limit_change(conn: Any, line_id: str, *, limit_minor: int, reason: str,
                       catalogue: P.Catalogue, limit_max_minor: int,
                       lock: bool = False) -> dict[str, Any]:
    """The line ``line_id`` (its row) when its limit may be set to ``limit_minor`` (minor
    units of the line's currency) for ``reason``; else the refusal, nothing written."""
    _check_reason(reason)
    if isinstance(limit_minor, bool) or not isinstance(limit_minor, int) or \
            not 0 <= limit_minor <= limit_max_minor:
        raise ValidationError(f"must be an integer of minor units from 0 to {limit_max_minor}",
                              field="limit_minor")
    line = get_line(conn, line_id, lock=lock)
    if line["status"] != "active":
        raise StateError(f"line {line_id} is {line['status']}: its limit cannot change",
                         field="line_id")
    product = catalogue.get(line["product_code"], line["product_version"])
    caps = catalogue.caps(product.jurisdiction)
    if line["currency"] == caps.currency and limit_minor > caps.unsecured_exposure_max_minor:
        raise CapExceededError(
            f"a limit of {limit_minor} is above the unsecured exposure cap of "
            f"{caps.unsecured_exposure_max_minor}", field="limit_minor",
            cap="unsecured_exposure_max_minor", jurisdiction=caps.jurisdiction,
            caps_version=caps.version)
    available = L.get_account(conn, line["available_account_id"]).available_minor
    in_use = line["limit_minor"] - available
    if limit_minor < in_use:
        raise LimitExceededError(
            f"the line has {in_use} in use (drawn and held): the limit cannot go below it",
            field="limit_minor", in_use_minor=in_use)
    return line


def limit_proposal(line: dict[str, Any], limit_minor: int, reason: str) -> dict[str, Any]:
    """The payload of a ``credit_line.limit`` proposal for ``line`` (the row
    :func:`check_limit_change` returned): what the checker sees, and the limit version the
    approval must still find (else :class:`StaleProposalError`)."""
    return {"line_id": line["line_id"], "customer_id": line["customer_id"],
            "currency": line["currency"], "from_limit_minor": line["limit_minor"],
            "limit_minor": limit_minor, "limit_version": line["limit_version"],
            "reason": _check_reason(reason)}


def change_limit(tx: Tx, operator_id: str, line_id: str, *, limit_minor: int, reason: str,
                 catalogue: P.Catalogue, limit_max_minor: int,
                 expected_limit_version: int | None = None) -> dict[str, Any]:
    """Set line ``line_id``'s limit to ``limit_minor`` as staff ``operator_id`` (audited
    ``credit_line.limit_changed``). ``expected_limit_version``: the version a four-eyes
    proposal was checked against; another one now is :class:`StaleProposalError`. Setting
    the current limit changes nothing and writes no audit record."""
    line = check_limit_change(tx.conn, line_id, limit_minor=limit_minor, reason=reason,
                              catalogue=catalogue, limit_max_minor=limit_max_minor, lock=True)
    if expected_limit_version is not None and line["limit_version"] != expected_limit_version:
        raise StaleProposalError(
            f"line {line_id}'s limit changed since the proposal (version "
            f"{expected_limit_version}, now {line['limit_version']}): propose again",
            field="line_id")
    old = line["limit_minor"]
    view = set_credit_limit(tx, line_id=line_id, new_limit_minor=limit_minor,
                            reason=_check_reason(reason))
    if view.limit_minor != old:
        # The reason is free text (it may name a person): the record says one was given,
        # the text stays on the ledger transfer and the line's event.
        audit.append(tx, "staff", operator_id, "credit_line.limit_changed", "credit_line",
                     line_id, {"old_limit_minor": old, "new_limit_minor": limit_minor,
                               "reason_given": True})
    return limit_view(tx.conn, line_id)


def limit_view(conn: Any, line_id: str) -> dict[str, Any]:
    """The line as the limit routes answer it (minor units)."""
    line = get_line(conn, line_id)
    available = L.get_account(conn, line["available_account_id"]).available_minor
    return {"line_id": line_id, "customer_id": line["customer_id"],
            "currency": line["currency"], "product_code": line["product_code"],
            "limit_minor": line["limit_minor"], "limit_version": line["limit_version"],
            "available_minor": available, "status": line["status"]}


@dataclass(frozen=True)
class LimitChanges:
    """The limit change use cases on one process's configuration: its ``catalogue`` (the
    caps) and the largest limit it grants (minor units; the payments policy's largest
    amount, as for a grant)."""

    catalogue: P.Catalogue
    limit_max_minor: int

    def check(self, conn: Any, line_id: str, *, limit_minor: int, reason: str
              ) -> dict[str, Any]:
        """:func:`check_limit_change` (the line's row; nothing is written)."""
        return check_limit_change(conn, line_id, limit_minor=limit_minor, reason=reason,
                                  catalogue=self.catalogue,
                                  limit_max_minor=self.limit_max_minor)

    def change(self, tx: Tx, operator_id: str, line_id: str, *, limit_minor: int,
               reason: str, expected_limit_version: int | None = None) -> dict[str, Any]:
        """:func:`change_limit`."""
        return change_limit(tx, operator_id, line_id, limit_minor=limit_minor, reason=reason,
                            catalogue=self.catalogue, limit_max_minor=self.limit_max_minor,
                            expected_limit_version=expected_limit_version)
