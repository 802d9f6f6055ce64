"""Merchant users: the people of a merchant who log in to the merchant dashboard
(``/merchant/``) with a password and a TOTP code, instead of pasting a secret API key into a
browser.

The credential is the operators' one (:meth:`Parties.authenticate_operator`), reused: an
argon2id password hash checked before any transaction, a vault-encrypted TOTP secret whose
codes are good once (the step of the last accepted code is stored), the same lockout
(``login_failures_max`` failures lock for ``lockout_s`` of business time) and one refusal
message whatever was wrong. A logged-in user holds a signed token of a type of its own
(``merchant_user``): the JSON API (:meth:`Parties.authenticate_signed_token`) and the console
refuse it, and the dashboard accepts nothing else.

A user acts as their merchant: the :class:`Principal` of a merchant user is the merchant's
(``kind`` merchant, ``id`` the merchant id) with the scopes of the user's role
(:data:`ROLE_SCOPES`), so every page runs the same use case, with the same checks, as the
merchant's API key with those scopes; ``credential_id`` names the user.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, select, update

from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import AuthenticationError, NotFoundError, ValidationError
from creditpay.parties.security import (
    new_id,
    new_totp_secret,
    totp_matching_step,
    totp_provisioning_uri,
)
from creditpay.parties.service import MERCHANT_SCOPES, Parties, Principal
from creditpay.parties.tables import merchant_users, merchants
from creditpay.platform import audit

__all__ = ["ROLE_SCOPES", "MERCHANT_USER_ROLES", "LOGIN_FAILED", "create_merchant_user",
           "authenticate_merchant_user", "issue_merchant_user_token",
           "merchant_user_of_token", "record_user_action", "merchant_user_view"]

# What each role may do, as API-key scopes: an owner all of them; a viewer reads payments
# and settlements and can neither move money nor manage keys or webhooks.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "owner": frozenset(MERCHANT_SCOPES),
    "viewer": frozenset({"payments:read", "reports:read"}),
}
MERCHANT_USER_ROLES = tuple(ROLE_SCOPES)
TOKEN_TYPE = "merchant_user"  # nosec B105 - a token type name, not a secret
LOGIN_FAILED = "wrong user id, password or code"
_TOTP_FIELD = "merchant_users.totp_secret"


def create_merchant_user(parties: Parties, tx: Tx, *, merchant_id: str, name: str, role: str,
                         password_hash: str, created_by: str = "bootstrap") -> dict[str, Any]:
    """A new user of merchant ``merchant_id`` who logs in with the password whose argon2
    hash is ``password_hash`` (computed before the transaction) and a TOTP code: the answer
    holds, once, the TOTP secret (base32 and an ``otpauth://`` URI to enrol an authenticator
    app). 422 naming role or name; 404 naming merchant_id for an unknown merchant. The vault
    must have its active data key before the transaction (``vault.ensure_active_key()``)."""
    if role not in ROLE_SCOPES:
        raise ValidationError(f"must be one of {list(MERCHANT_USER_ROLES)}", field="role")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 64:
        raise ValidationError("must be 1..64 characters", field="name")
    merchant = parties.get_merchant(tx.conn, merchant_id)
    user_id = new_id("mu")
    totp_secret = new_totp_secret()
    tx.conn.execute(merchant_users.insert().values(
        id=user_id, merchant_id=merchant.id, name=name.strip(), role=role,
        password_hash=password_hash,
        totp_secret_ct=parties.vault.encrypt(_TOTP_FIELD, user_id, totp_secret),
        totp_last_step=None, failed_logins=0, locked_until=None, created_at=tx.now,
        disabled_at=None))
    audit.append(tx, "staff", created_by, "merchant_user.created", "merchant", merchant.id,
                 {"user_id": user_id, "role": role})
    return {"id": user_id, "merchant_id": merchant.id, "name": name.strip(), "role": role,
            "totp_secret": totp_secret,
            "totp_uri": totp_provisioning_uri(totp_secret, f"{merchant.name} ({user_id})")}


def authenticate_merchant_user(parties: Parties, uow: UnitOfWork, *, user_id: str,
                               password: str, totp_code: str) -> Principal:
    """Log a merchant user in with their user id, password and current TOTP code: the
    merchant :class:`Principal` with the scopes of the user's role.

    Refusals as for operators: :class:`RateLimitedError` (429) while locked out, otherwise
    one :class:`AuthenticationError` (401, :data:`LOGIN_FAILED`) whatever was wrong (an
    unknown id, a wrong password or code, a code used already, a disabled user, a suspended
    merchant); each audited (``merchant_user.login_failed`` with the reason), a wrong
    password or code counted toward the lockout. The argon2 check runs before the
    transaction; the outcome is recorded in one transaction committed before a refusal."""
    known = isinstance(user_id, str) and 1 <= len(user_id) <= 32
    with uow.connect() as conn:
        row = conn.execute(select(merchant_users).where(merchant_users.c.id == user_id)
                           ).first() if known else None
    if row is not None:
        parties.check_lock(row, uow.clock.now())
    # Always one argon2 verification (a dummy hash for an unknown id): uniform timing.
    checked_hash = row.password_hash if row is not None else None
    password_ok = parties.passwords.verify(checked_hash,
                                           password if isinstance(password, str) else "")
    unix_s = parties.totp_clock()
    totp_secret = (parties.vault.decrypt(_TOTP_FIELD, row.id, row.totp_secret_ct)
                   if row is not None else None)

    def record(tx: Tx) -> Principal | str:
        u = merchant_users.c
        query = select(merchant_users, merchants.c.status.label("merchant_status")).join(
            merchants, merchants.c.id == u.merchant_id).where(u.id == user_id)
        if tx.dialect == "postgresql":
            # Concurrent logins of one user take turns (SQLite has one writer).
            query = query.with_for_update(of=merchant_users)
        current = tx.conn.execute(query).first() if row is not None else None
        if current is None:
            return _failed(parties, tx, None, "unknown_user")
        parties.check_lock(current, tx.now)
        if current.disabled_at is not None:
            return _failed(parties, tx, current, "disabled")
        if current.merchant_status != "active":
            return _failed(parties, tx, current, "merchant_suspended")
        # (A password changed since it was checked above is a wrong one.)
        if not password_ok or current.password_hash != checked_hash or totp_secret is None:
            return _failed(parties, tx, current, "password", count=True)
        step = totp_matching_step(totp_secret, totp_code, unix_s, current.totp_last_step)
        # Conditional: of two logins with one code, only the first stores its step.
        used = step is not None and tx.conn.execute(update(merchant_users).where(
            u.id == current.id,
            (u.totp_last_step.is_(None)) | (u.totp_last_step < step)).values(
            totp_last_step=step, failed_logins=0, locked_until=None)).rowcount == 1
        if not used:
            return _failed(parties, tx, current, "totp_code", count=True)
        audit.append(tx, "merchant", current.merchant_id, "merchant_user.logged_in",
                     "merchant", current.merchant_id, {"user_id": current.id})
        return _principal(current.merchant_id, current.id, current.role)

    outcome = uow.run(record)
    if isinstance(outcome, str):
        raise AuthenticationError(LOGIN_FAILED)
    return outcome


def _principal(merchant_id: str, user_id: str, role: str) -> Principal:
    return Principal("merchant", merchant_id, role=role, scopes=ROLE_SCOPES[role],
                     credential_id=user_id)


def _failed(parties: Parties, tx: Tx, row: Any | None, reason: str, *,
            count: bool = False) -> str:
    """Audit a refused login (and count it toward the lockout when ``count``); returns the
    reason for the caller to refuse after the commit."""
    audit.append(tx, "system", "auth", "merchant_user.login_failed", "merchant",
                 row.merchant_id if row is not None else "unknown",
                 {"reason": reason, "user_id": row.id if row is not None else None})
    if count and row is not None:
        u = merchant_users.c
        failures = tx.conn.execute(update(merchant_users).where(u.id == row.id).values(
            failed_logins=u.failed_logins + 1).returning(u.failed_logins)).scalar_one()
        if failures >= parties.policy.login_failures_max:
            tx.conn.execute(update(merchant_users).where(u.id == row.id).values(
                failed_logins=0,
                locked_until=tx.now + dt.timedelta(seconds=parties.policy.lockout_s)))
            audit.append(tx, "system", "auth", "merchant_user.locked_out", "merchant",
                         row.merchant_id, {"user_id": row.id, "failures": failures})
    return reason


def issue_merchant_user_token(parties: Parties, principal: Principal, now: dt.datetime
                              ) -> str:
    """A signed token of a logged-in merchant user (type ``merchant_user``: user id, merchant
    id and role), valid ``operator_token_ttl_s`` from ``now`` (business time): the
    dashboard logs in again rather than refreshing, as the console does."""
    if principal.kind != "merchant" or principal.credential_id is None \
            or principal.role not in ROLE_SCOPES:
        raise AuthenticationError("only a merchant user gets a dashboard token")
    expires_at = now + dt.timedelta(seconds=parties.policy.operator_token_ttl_s)
    return parties.signer.sign(TOKEN_TYPE, {"sub": principal.credential_id,
                                            "mer": principal.id, "role": principal.role},
                               expires_at)


def merchant_user_of_token(parties: Parties, conn: Connection, token: str,
                           now: dt.datetime) -> Principal:
    """The merchant principal of a dashboard token that is still good: signed, unexpired,
    its user neither disabled nor given another role since, its merchant active.
    AuthenticationError otherwise (a customer's or an operator's token included)."""
    claims = parties.signer.verify(token, TOKEN_TYPE, now)
    u = merchant_users.c
    row = conn.execute(select(u.id, u.merchant_id, u.role, u.disabled_at,
                              merchants.c.status).join(
        merchants, merchants.c.id == u.merchant_id).where(u.id == claims.get("sub"))).first()
    if row is None or row.disabled_at is not None or row.status != "active" \
            or row.merchant_id != claims.get("mer"):
        raise AuthenticationError("the user is disabled or the merchant suspended")
    if row.role != claims.get("role"):
        raise AuthenticationError("the user's role has changed: log in again")
    return _principal(row.merchant_id, row.id, row.role)


def record_user_action(tx: Tx, principal: Principal, api_path: str) -> None:
    """Audit which person of the merchant did what (``merchant_user.acted``: the user id and
    the JSON route the action ran as), in the action's own transaction: the use cases audit
    the merchant (``principal.audit_actor``), which does not say who of its people acted."""
    if principal.kind == "merchant" and principal.credential_id is not None \
            and principal.role in ROLE_SCOPES:
        audit.append(tx, "merchant", principal.id, "merchant_user.acted", "merchant",
                     principal.id, {"user_id": principal.credential_id, "route": api_path})


def merchant_user_view(conn: Connection, user_id: str) -> dict[str, Any]:
    """A user's id, name and role (for the dashboard's header)."""
    row = conn.execute(select(merchant_users.c.id, merchant_users.c.name,
                              merchant_users.c.role, merchant_users.c.merchant_id)
                       .where(merchant_users.c.id == user_id)).first()
    if row is None:
        raise NotFoundError(f"no merchant user {user_id}", field="user_id")
    return {"id": row.id, "name": row.name, "role": row.role, "merchant_id": row.merchant_id}
