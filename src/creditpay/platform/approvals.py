"""Four-eyes control (maker-checker): no single operator executes a controlled action alone.

A controlled action (a credit line granted above the threshold, a playbook run; see
docs/security.md, "Four-eyes control") is not executed when an operator asks for it: it is
stored as a *proposal* (:func:`propose`, the API answers 202 with its ``approval_id``). A
different operator whose role may approve that kind then approves it (:func:`approve`): the
action is executed there, in the approving transaction, exactly once, and its result is kept
on the proposal; or rejects it with a reason (:func:`reject`). The proposer can do neither
(PermissionDeniedError, 403), nor can a role not allowed to approve that kind. A proposal not
decided within its time to live reads as ``expired`` and can no longer be decided. Every step
is an audit record.

What an action does is not known here (this is a platform service, below every domain): the
wiring gives each kind a :class:`ControlledAction` whose ``execute`` calls the owning domain.
An execution that fails (the domain refuses: the customer is no longer eligible, the alert
was closed meanwhile) rolls the approval back with it; the proposal stays pending, and the
checker may reject it.

Exactly once: the approval flips the row from pending with a conditional UPDATE (``WHERE
status = 'pending'``) before executing; of two checkers approving at once, the second
waits for the first's commit on PostgreSQL (SQLite has one writer) and then finds the
proposal decided (409).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, PermissionDeniedError, StateError, ValidationError
from creditpay.platform import audit
from creditpay.platform.tables import approvals

__all__ = ["Actor", "ControlledAction", "Approval", "FourEyesPolicy", "propose", "approve",
           "reject", "get_approval", "list_approvals", "STATUSES", "StaleProposalError"]

STATUSES = ("pending", "approved", "rejected", "expired")
REASON_CHARS_MAX = 500


class StaleProposalError(StateError):
    """What a proposal was checked against changed before it was approved (a line's limit,
    a write-off, the model assignment in force): the action raises it from ``execute``, so
    the approval executes nothing and the proposal stays pending (409, naming the field
    whose state moved). The owning domain decides what "changed" means for its kind."""

    type_slug = "stale-proposal"
    title = "The proposal no longer matches the current state"


@dataclass(frozen=True)
class Actor:
    """An operator proposing or deciding (their id and role)."""

    id: str
    role: str | None


@dataclass(frozen=True)
class ControlledAction:
    """One kind of controlled action: who may approve it, and what executing it does
    (``execute(tx, payload, proposer)`` returns the action's result, JSON-serialisable;
    with ``with_checker``, ``execute(tx, payload, proposer, checker)``: an action that
    records who approved it, e.g. a catalogue version's ``activated_by``)."""

    kind: str
    approver_roles: frozenset[str]
    execute: Callable[..., Mapping[str, Any]]
    with_checker: bool = False


@dataclass(frozen=True)
class FourEyesPolicy:
    """What is controlled and for how long a proposal waits: credit amounts above
    ``amount_threshold_minor`` (a line's limit) need a second operator, and a proposal
    expires ``ttl`` after it was made."""

    amount_threshold_minor: int = 5_000_000  # 50,000.00
    ttl: dt.timedelta = dt.timedelta(hours=72)

    def controls_amount(self, amount_minor: int) -> bool:
        return amount_minor > self.amount_threshold_minor


@dataclass(frozen=True)
class Approval:
    """A proposal as read at ``as_of`` (a pending one past its expiry reads as expired)."""

    approval_id: str
    kind: str
    status: str  # pending | approved | rejected | expired
    payload: dict[str, Any]
    proposed_by: str
    proposer_role: str | None
    proposed_at: dt.datetime
    expires_at: dt.datetime
    decided_by: str | None
    decider_role: str | None
    decided_at: dt.datetime | None
    reason: str | None
    result: dict[str, Any] | None


def _approval(row: Mapping[Any, Any], now: dt.datetime) -> Approval:
    status = row["status"]
    if status == "pending" and now >= row["expires_at"]:
        status = "expired"
    return Approval(
        approval_id=row["approval_id"], kind=row["kind"], status=status,
        payload=dict(row["payload"]), proposed_by=row["proposed_by"],
        proposer_role=row["proposer_role"], proposed_at=row["proposed_at"],
        expires_at=row["expires_at"], decided_by=row["decided_by"],
        decider_role=row["decider_role"], decided_at=row["decided_at"],
        reason=row["reason"], result=None if row["result"] is None else dict(row["result"]))


def _check_actor(actor: Actor, field: str) -> None:
    if not isinstance(actor.id, str) or not actor.id:
        raise ValidationError("must name the operator", field=field)


def propose(tx: Tx, action: ControlledAction, payload: Mapping[str, Any], proposer: Actor, *,
            policy: FourEyesPolicy) -> Approval:
    """Store ``action`` with ``payload`` (JSON) as a pending proposal of ``proposer``; it
    expires after ``policy.ttl``. Audited (``approval.proposed``)."""
    _check_actor(proposer, "proposed_by")
    approval_id = "apv_" + secrets.token_hex(12)
    expires_at = tx.now + policy.ttl
    row: dict[str, Any] = {"approval_id": approval_id, "kind": action.kind, "status": "pending",
           "payload": dict(payload), "proposed_by": proposer.id,
           "proposer_role": proposer.role, "proposed_at": tx.now,
           "expires_at": expires_at, "decided_by": None, "decider_role": None,
           "decided_at": None, "reason": None, "result": None}
    tx.conn.execute(approvals.insert(), row)
    audit.append(tx, "staff", proposer.id, "approval.proposed", "approval", approval_id,
                 {"kind": action.kind, "expires_at": expires_at.isoformat()})
    return _approval(row, tx.now)


def _decidable(tx: Tx, approval_id: str, checker: Actor,
               actions: Mapping[str, ControlledAction]) -> tuple[Approval, ControlledAction]:
    """The pending proposal ``approval_id`` and its action, if ``checker`` may decide it."""
    _check_actor(checker, "decided_by")
    found = tx.conn.execute(select(approvals).where(
        approvals.c.approval_id == approval_id)).mappings().first()
    if found is None:
        raise NotFoundError(f"no approval {approval_id}", field="approval_id")
    proposal = _approval(found, tx.now)
    if proposal.status != "pending":
        raise StateError(f"approval {approval_id} is {proposal.status}: it can no longer be "
                         "decided", field="approval_id")
    action = actions.get(proposal.kind)
    if action is None:
        raise StateError(f"approval {approval_id} is of kind {proposal.kind}, which this "
                         "process cannot execute", field="approval_id")
    if checker.id == proposal.proposed_by:
        raise PermissionDeniedError("a proposal is decided by another operator than the one "
                                    "who made it (four-eyes)", field="approval_id")
    if checker.role not in action.approver_roles:
        raise PermissionDeniedError(
            f"role {checker.role} may not decide {proposal.kind} proposals",
            field="approval_id")
    return proposal, action


def _decide(tx: Tx, approval_id: str, checker: Actor, **values: Any) -> None:
    """Flip the proposal from pending, once: StateError when another decision got there
    first."""
    flipped = tx.conn.execute(update(approvals).where(
        approvals.c.approval_id == approval_id, approvals.c.status == "pending").values(
        decided_by=checker.id, decider_role=checker.role, decided_at=tx.now, **values))
    if flipped.rowcount != 1:
        raise StateError(f"approval {approval_id} was decided meanwhile", field="approval_id")


def approve(tx: Tx, approval_id: str, checker: Actor,
            actions: Mapping[str, ControlledAction]) -> Approval:
    """Approve the pending proposal ``approval_id`` as ``checker`` and execute its action
    now, in this transaction (exactly once); the action's result is kept on the proposal.
    404 unknown; 409 (StateError) when it is not pending (decided or expired); 403 for its
    proposer or a role not allowed to approve its kind."""
    proposal, action = _decidable(tx, approval_id, checker, actions)
    _decide(tx, approval_id, checker, status="approved")
    proposer = Actor(proposal.proposed_by, proposal.proposer_role)
    result = dict(action.execute(tx, proposal.payload, proposer, checker)
                  if action.with_checker else action.execute(tx, proposal.payload, proposer))
    tx.conn.execute(update(approvals).where(approvals.c.approval_id == approval_id).values(
        result=result))
    audit.append(tx, "staff", checker.id, "approval.approved", "approval", approval_id,
                 {"kind": proposal.kind, "proposed_by": proposal.proposed_by})
    return get_approval(tx.conn, approval_id, tx.now)


def reject(tx: Tx, approval_id: str, checker: Actor, reason: str,
           actions: Mapping[str, ControlledAction]) -> Approval:
    """Reject the pending proposal ``approval_id`` as ``checker``, with ``reason`` (1..500
    characters, kept on the proposal; the audit record says one was given). Nothing is
    executed. Same refusals as :func:`approve`."""
    if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= REASON_CHARS_MAX:
        raise ValidationError(f"must be 1..{REASON_CHARS_MAX} characters", field="reason")
    proposal, _action = _decidable(tx, approval_id, checker, actions)
    _decide(tx, approval_id, checker, status="rejected", reason=reason.strip())
    audit.append(tx, "staff", checker.id, "approval.rejected", "approval", approval_id,
                 {"kind": proposal.kind, "proposed_by": proposal.proposed_by,
                  "reason_given": True})
    return get_approval(tx.conn, approval_id, tx.now)


def get_approval(conn: Connection, approval_id: str, now: dt.datetime) -> Approval:
    found = conn.execute(select(approvals).where(
        approvals.c.approval_id == approval_id)).mappings().first()
    if found is None:
        raise NotFoundError(f"no approval {approval_id}", field="approval_id")
    return _approval(found, now)


def list_approvals(conn: Connection, now: dt.datetime, *, status: str | None = None,
                   limit: int = 100) -> list[Approval]:
    """Proposals, newest first; ``status`` one of :data:`STATUSES` (``pending``: those a
    checker can still decide; ``expired``: pending past their expiry)."""
    if status is not None and status not in STATUSES:
        raise ValidationError(f"must be one of {', '.join(STATUSES)}", field="status")
    query = select(approvals).order_by(approvals.c.proposed_at.desc(),
                                       approvals.c.approval_id.desc()).limit(limit)
    if status in ("pending", "expired"):
        query = query.where(approvals.c.status == "pending")
        query = query.where(approvals.c.expires_at > now) if status == "pending" else \
            query.where(approvals.c.expires_at <= now)
    elif status is not None:
        query = query.where(approvals.c.status == status)
    return [_approval(row, now) for row in conn.execute(query).mappings()]
