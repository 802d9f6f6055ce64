"""Parties use cases: customers (registration, login, sessions, step-up, KYC, devices, cards),
merchants (onboarding, API keys) and operators.

Each function that writes takes the caller's :class:`~creditpay.db.uow.Tx` and does its
whole use case in it (rows, ledger accounts, audit record, outbox event). Expensive work that
needs no lock (argon2, vault encryption) is done by the caller before the transaction starts,
so SQLite's single writer is never held during a password hash.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, Table, bindparam, case, select, update

from creditpay.db.prepared import Prepared
from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    StateError,
    ValidationError,
)
from creditpay.ledger.chart import ensure_platform_accounts, party_key
from creditpay.ledger.model import AccountSpec, NormalSide
from creditpay.ledger.service import open_accounts
from creditpay.money import validate_operated_currency
from creditpay.parties import partners
from creditpay.parties.notifier import Notifier, OutboxNotifier
from creditpay.parties.security import (
    PasswordPolicy,
    TokenSigner,
    make_api_key,
    new_id,
    new_secret,
    new_totp_secret,
    one_time_code,
    sha256_hex,
    split_api_key,
    totp_matching_step,
    totp_provisioning_uri,
)
from creditpay.parties.tables import (
    customer_cards,
    customer_devices,
    customer_registrations,
    customer_sessions,
    customers,
    merchant_api_keys,
    merchants,
    operators,
    step_up_challenges,
)
from creditpay.platform import audit
from creditpay.platform.masking import mask_email, mask_id_number, mask_name, mask_phone
from creditpay.platform.validators import check_language
from creditpay.platform.vault import (
    BlindIndexer,
    Vault,
    normalise_email,
    normalise_id_number,
    normalise_phone,
)
from creditpay.platform.webhook_targets import WebhookTarget

__all__ = [
    "AccessPolicy", "Parties", "Principal", "ROLES", "MERCHANT_SCOPES", "StepUpRequired",
    "wallet_spec", "merchant_payable_spec", "commit_and_raise", "WrongCode",
    "suspend_merchant",
    "MERCHANT_SUSPENSION_REASONS", "OPERATOR_LOGIN_FAILED", "authenticate_operator_key",
    "operator_of_credential",
    "require_role",
]

ROLES = ("admin", "risk_analyst", "collections_agent", "compliance_officer", "support")
MERCHANT_SCOPES = ("payments:write", "payments:read", "refunds:write", "reports:read",
                   "keys:write")
_MCC = re.compile(r"^\d{4}$")
_DEVICE_ID = re.compile(r"^[A-Za-z0-9_.:\-]{8,128}$")
# Constant statements with bound parameters (read on every payment): compiled once, their
# cache key remembered, instead of a statement built per call.
# The reads every checkout makes, run on the driver (creditpay.db.prepared).
_CUSTOMER_BY_ID = Prepared(select(customers).where(customers.c.id == bindparam("id")))
_CARD_OF_CUSTOMER = Prepared(select(customer_cards).where(
    customer_cards.c.id == bindparam("id"),
    customer_cards.c.customer_id == bindparam("customer_id")))
# A step-up challenge's insert: a constant statement built once.
_INSERT_CHALLENGE = step_up_challenges.insert()
_MERCHANT_BY_ID = Prepared(select(merchants).where(merchants.c.id == bindparam("id")))
# Authentication runs on every request: its reads are prepared too.
_SESSION_BY_ID = Prepared(select(customer_sessions.c.status, customer_sessions.c.family_id)
                          .where(customer_sessions.c.id == bindparam("id")))
_API_KEY_BY_PREFIX = Prepared(select(merchant_api_keys, merchants.c.status).join(
    merchants, merchants.c.id == merchant_api_keys.c.merchant_id).where(
    merchant_api_keys.c.prefix == bindparam("prefix")))


@dataclass(frozen=True)
class AccessPolicy:
    """Limits of access control, in business time."""

    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    login_failures_max: int = 5
    lockout_s: int = 15 * 60
    challenge_ttl_s: int = 300
    challenge_attempts_max: int = 5
    # An operator's login token (password + TOTP): short, as a customer's access token; the
    # console logs in again rather than refreshing.
    operator_token_ttl_s: int = 900


@dataclass(frozen=True)
class Principal:
    """Who is calling: a customer (session), a merchant (API key), an operator, or a
    partner lender (its read-only ``cpl`` key, issue #17)."""

    kind: str  # customer | merchant | operator | partner
    id: str
    role: str | None = None  # operators
    scopes: frozenset[str] = frozenset()  # merchants and partners
    session_id: str | None = None
    device_id: str | None = None
    credential_id: str | None = None

    @property
    def scope_key(self) -> str:
        """Idempotency scope: one caller never sees another's stored responses."""
        return f"{self.kind}:{self.id}"

    @property
    def audit_actor(self) -> tuple[str, str]:
        return ({"customer": "customer", "merchant": "merchant", "operator": "staff",
                 "partner": "partner_lender"}[self.kind], self.id)


def commit_and_raise(exc: DomainError, *, store: bool = False) -> DomainError:
    """Mark an error whose writes must still commit (a challenge issued, an attempt counted,
    a decline recorded); ``store`` also keeps it as the idempotent response of the call."""
    exc.commit_effects = True  # type: ignore[attr-defined]
    exc.store_response = store  # type: ignore[attr-defined]
    return exc


class StepUpRequired(PermissionDeniedError):
    """A one-time code must be verified first; ``challenge_id`` names the challenge sent."""

    type_slug = "step-up-required"
    title = "Verification required"


def wallet_spec(customer_id: str, currency: str) -> AccountSpec:
    # A wallet is money we owe the customer (liability, credit-normal) that can never go
    # below zero: the ledger refuses any debit beyond its credits.
    return AccountSpec(party_key("wallet", customer_id, currency), currency, "wallet",
                       "customer", customer_id, NormalSide.CREDIT,
                       debits_must_not_exceed_credits=True)


def merchant_payable_spec(merchant_id: str, currency: str) -> AccountSpec:
    return AccountSpec(party_key("merchant_payable", merchant_id, currency), currency,
                       "merchant_payable", "merchant", merchant_id, NormalSide.CREDIT)


def _device_hash(device_id: str) -> str:
    if not isinstance(device_id, str) or not _DEVICE_ID.match(device_id):
        raise ValidationError("must be 8..128 letters, digits or _.:-", field="device_id")
    return sha256_hex("device:" + device_id)


@dataclass
class Parties:
    """The parties domain with its collaborators (passed in, no globals)."""

    vault: Vault
    indexer: BlindIndexer
    signer: TokenSigner
    passwords: PasswordPolicy = field(default_factory=PasswordPolicy)
    notifier: Notifier | None = None  # default: the outbox, secrets encrypted by the vault
    policy: AccessPolicy = field(default_factory=AccessPolicy)
    default_currency: str = "CNY"
    # The currencies the platform operates in (configuration); a merchant settles in one.
    currencies: tuple[str, ...] = ("CNY",)
    # Wall time (Unix seconds) for TOTP codes: an authenticator app counts steps of the real
    # clock, not of business time (a server serving a past business date still checks codes
    # against now). Injected so tests choose the step.
    totp_clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if self.notifier is None:
            self.notifier = OutboxNotifier(self.vault)

    @property
    def _notifier(self) -> Notifier:
        assert self.notifier is not None
        return self.notifier

    # ------------------------------------------------------------------ customers: reads
    def customer_view(self, row: Any) -> dict[str, Any]:
        """A customer as shown to people: personal data masked."""
        cid = row.id

        def shown(column: str, field_name: str, masker: Any) -> str | None:
            ct = getattr(row, column)
            return masker(self.vault.decrypt(field_name, cid, ct)) if ct else None

        return {
            "id": cid, "status": row.status,
            "phone": shown("phone_ct", "customers.phone", mask_phone),
            "email": shown("email_ct", "customers.email", mask_email),
            "kyc_status": row.kyc_status,
            "legal_name": shown("legal_name_ct", "customers.legal_name", mask_name),
            "id_number": shown("id_number_ct", "customers.id_number", mask_id_number),
            "locale": row.locale,
            "created_at": row.created_at.isoformat(),
        }

    def get_customer(self, conn: Connection, customer_id: str) -> Any:
        row = _CUSTOMER_BY_ID.first(conn, {"id": customer_id})
        if row is None:
            raise NotFoundError(f"no customer {customer_id}", field="customer_id")
        return row

    PERSONAL_DATA_FIELDS = ("phone", "email", "legal_name", "id_number", "date_of_birth")

    def reveal_personal_data(self, tx: Tx, staff_id: str, customer_id: str, purpose: str,
                             *, fields: Sequence[str] | None = None,
                             note_id: str | None = None) -> dict[str, Any]:
        """The customer's personal data unmasked, for staff ``staff_id`` and a stated
        ``purpose`` (a purpose code): the access is audited (which fields, by whom, why) in
        the same transaction, before anything is decrypted. Absent fields are None.
        ``fields``: only these (default all of PERSONAL_DATA_FIELDS; another name is a
        ValidationError naming ``fields``); ``note_id``: the vaulted note holding the staff
        member's reason in words, referenced from the audit record."""
        if fields is None:
            fields = self.PERSONAL_DATA_FIELDS
        elif not fields or any(name not in self.PERSONAL_DATA_FIELDS for name in fields):
            raise ValidationError("must name fields among "
                                  + ", ".join(self.PERSONAL_DATA_FIELDS), field="fields")
        row = self.get_customer(tx.conn, customer_id)
        audit.record_personal_data_access(tx, staff_id, "customer", customer_id, list(fields),
                                          purpose, note_id=note_id)
        out: dict[str, Any] = {"id": customer_id}
        for name in fields:
            ct = getattr(row, f"{name}_ct")
            out[name] = self.vault.decrypt(f"customers.{name}", customer_id, ct) if ct else None
        return out

    def verified_date_of_birth(self, conn: Connection, customer_id: str) -> dt.date:
        """The date of birth of the customer's verified identity (KYC record), decrypted
        for a use that needs it (a credit application); StateError naming ``kyc_status``
        when the identity is not verified."""
        row = self.get_customer(conn, customer_id)
        if row.kyc_status != "verified" or not row.date_of_birth_ct:
            raise StateError("verify your identity first (POST /v1/me/kyc)",
                             field="kyc_status")
        return dt.date.fromisoformat(self.vault.decrypt("customers.date_of_birth",
                                                        customer_id, row.date_of_birth_ct))

    def find_by_identifier(self, conn: Connection, identifier: str) -> Any | None:
        """The customer with this phone or email (exact match through the blind index)."""
        kind = "email" if "@" in identifier else "phone"
        try:
            bidx = self.indexer.index(kind, identifier)
        except ValidationError:
            return None
        column = customers.c.email_bidx if kind == "email" else customers.c.phone_bidx
        return conn.execute(select(customers).where(column == bidx)).first()

    # ------------------------------------------------------------------ registration
    def start_registration(self, tx: Tx, *, phone: str | None, email: str | None,
                           password_hash: str, device_id: str, locale: str = "zh-CN"
                           ) -> dict[str, Any]:
        """Begin registering: a code goes to the phone (else the e-mail); the customer is
        created by :meth:`complete_registration` with that code.

        The answer is the same whether or not the phone or e-mail is registered already,
        so registration cannot be used to find out who is a customer: for a taken one, the
        registration can never complete (no code is sent to the registrant) and the owner
        is told someone tried (``notifications.registration_attempt``)."""
        if not phone and not email:
            raise ValidationError("give a phone number or an email address", field="phone")
        check_language(locale, "locale")
        device_hash = _device_hash(device_id)
        registration_id = new_id("reg")
        identities = self._identities(phone, email)
        taken = [(kind, owner) for kind, (_, bidx) in identities.items()
                 if (owner := self._customer_with(tx.conn, kind, bidx)) is not None]
        channel = "sms" if "phone" in identities else "email"
        code = one_time_code()
        values: dict[str, Any] = {
            "id": registration_id, "kind": "taken" if taken else "new", "channel": channel,
            "device_hash": device_hash, "locale": locale, "attempts": 0, "status": "pending",
            "code_hash": self.signer.mac("registration", f"{registration_id}:{code}".encode()),
            "created_at": tx.now,
            "expires_at": tx.now + dt.timedelta(seconds=self.policy.challenge_ttl_s)}
        if taken:
            # The code is thrown away: a taken phone or e-mail is registered only by logging
            # in (or recovering the account) as its owner.
            for kind, owner in taken:
                self._notifier.notify_registration_attempt(
                    tx, customer_id=owner, channel="sms" if kind == "phone" else "email")
        else:
            for kind, (normalised, bidx) in identities.items():
                values[f"{kind}_ct"] = self.vault.encrypt(
                    f"customer_registrations.{kind}", registration_id, normalised)
                values[f"{kind}_bidx"] = bidx
            values["password_hash"] = password_hash
            destination = identities["phone" if channel == "sms" else "email"][0]
            self._notifier.send_registration_code(
                tx, registration_id=registration_id, channel=channel,
                destination=destination, code=code)
        tx.conn.execute(customer_registrations.insert().values(**values))
        return {"status": "verification_required", "registration_id": registration_id,
                "channel": channel, "expires_in": self.policy.challenge_ttl_s}

    def complete_registration(self, tx: Tx, *, registration_id: str, code: str,
                              device_id: str) -> dict[str, Any]:
        """Create the customer of a registration whose code is right (the registering device
        is trusted). A wrong code is counted (committed with the refusal) and the
        ``challenge_attempts_max``-th fails the registration; an unknown, expired, used or
        taken registration answers exactly as a wrong code does."""
        device_hash = _device_hash(device_id)
        r = customer_registrations.c
        query = select(customer_registrations).where(r.id == registration_id)
        if tx.dialect == "postgresql":
            query = query.with_for_update()
        row = tx.conn.execute(query).first() if isinstance(registration_id, str) else None
        expected = self.signer.mac("registration", f"{registration_id}:{code}".encode())
        usable = row is not None and row.status == "pending" and \
            row.expires_at > tx.now and row.device_hash == device_hash and \
            row.attempts < self.policy.challenge_attempts_max
        # A taken registration never matches, even if its unsent code were guessed.
        matches = usable and row is not None and isinstance(code, str) and \
            hmac.compare_digest(expected, row.code_hash) and row.kind == "new"
        if not matches:
            if usable:
                tx.durable(lambda t: self._count_wrong_code(t, customer_registrations,
                                                           registration_id))
            raise commit_and_raise(WrongCode("the code is wrong or has expired"))
        assert row is not None and row.password_hash
        for kind in ("phone", "email"):
            bidx = getattr(row, f"{kind}_bidx")
            if bidx is not None and self._customer_with(tx.conn, kind, bidx) is not None:
                # Registered meanwhile by another registration of the same person (who has
                # just proved to own it, so saying so tells nobody else anything).
                raise ConflictError(f"this {kind} is registered already: log in",
                                    field=kind)
        # Normalised and indexed when the registration started: decrypted, not redone.
        identities = {kind: (self.vault.decrypt(f"customer_registrations.{kind}",
                                                registration_id, getattr(row, f"{kind}_ct")),
                             getattr(row, f"{kind}_bidx"))
                      for kind in ("phone", "email") if getattr(row, f"{kind}_ct")}
        view = self._create_customer(tx, identities, password_hash=row.password_hash,
                                     device_hash=device_hash, locale=row.locale)
        tx.conn.execute(update(customer_registrations).where(r.id == registration_id).values(
            status="completed", customer_id=view["id"], phone_ct=None, email_ct=None,
            password_hash=None))
        return view

    def _identities(self, phone: str | None, email: str | None
                    ) -> dict[str, tuple[str, str]]:
        """``{kind: (normalised value, blind index)}`` of the phone and e-mail given."""
        result: dict[str, tuple[str, str]] = {}
        for kind, value in (("phone", phone), ("email", email)):
            if value:
                normalised = normalise_phone(value) if kind == "phone" else \
                    normalise_email(value)
                result[kind] = (normalised, self.indexer.index(kind, value))
        return result

    def _customer_with(self, conn: Connection, kind: str, bidx: str) -> str | None:
        column = customers.c[f"{kind}_bidx"]
        return conn.execute(select(customers.c.id).where(column == bidx)).scalar_one_or_none()

    def register(self, tx: Tx, *, phone: str | None, email: str | None, password_hash: str,
                 device_id: str, locale: str = "zh-CN") -> dict[str, Any]:
        """Create a customer at once, without a code: for in-process callers that vouch for
        the phone and e-mail themselves (back office, the simulator, tests). A taken phone
        or e-mail is a ConflictError naming it. People register over the API with
        :meth:`start_registration` / :meth:`complete_registration`."""
        if not phone and not email:
            raise ValidationError("give a phone number or an email address", field="phone")
        check_language(locale, "locale")
        device_hash = _device_hash(device_id)
        identities = self._identities(phone, email)
        for kind, (_, bidx) in identities.items():
            if self._customer_with(tx.conn, kind, bidx) is not None:
                raise ConflictError(f"this {kind} is already registered", field=kind)
        return self._create_customer(tx, identities, password_hash=password_hash,
                                     device_hash=device_hash, locale=locale)

    def _create_customer(self, tx: Tx, identities: dict[str, tuple[str, str]], *,
                         password_hash: str, device_hash: str, locale: str
                         ) -> dict[str, Any]:
        """Insert the customer (``identities``: :meth:`_identities`), trust the device, open
        the wallet, audit and announce it."""
        customer_id = new_id("cus")
        values: dict[str, Any] = {}
        for kind, (normalised, bidx) in identities.items():
            values[f"{kind}_ct"] = self.vault.encrypt(f"customers.{kind}", customer_id,
                                                      normalised)
            values[f"{kind}_bidx"] = bidx
        tx.conn.execute(customers.insert().values(
            id=customer_id, status="active", password_hash=password_hash,
            kyc_status="unverified", locale=locale, failed_logins=0, created_at=tx.now,
            **values))
        # The registering device is trusted: it is where the account was created.
        tx.conn.execute(customer_devices.insert().values(
            id=new_id("dev"), customer_id=customer_id, device_hash=device_hash,
            label="registration", trusted_at=tx.now, last_seen_at=tx.now, created_at=tx.now))
        open_accounts(tx, [wallet_spec(customer_id, self.default_currency)])
        audit.append(tx, "customer", customer_id, "customer.registered", "customer",
                     customer_id, {"channels": sorted(k for k in ("phone", "email")
                                                      if values.get(f"{k}_bidx"))})
        tx.emit("parties.customer.registered", "customer", customer_id,
                {"customer_id": customer_id})
        return self.customer_view(self.get_customer(tx.conn, customer_id))

    # ------------------------------------------------------------------ time zone
    def get_time_zone(self, conn: Connection, customer_id: str) -> str:
        """The customer's IANA time zone (fair-collections quiet hours are local time)."""
        return self.get_customer(conn, customer_id).time_zone

    def set_time_zone(self, tx: Tx, principal: Principal, customer_id: str,
                      time_zone: str) -> str:
        """Set the customer's IANA time zone (e.g. ``Asia/Shanghai``), checked with
        :mod:`zoneinfo`; the customer themself or an operator may set it."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if principal.kind == "customer" and principal.id != customer_id or \
                principal.kind not in ("customer", "operator"):
            raise PermissionDeniedError("not allowed to change this customer",
                                        field="customer_id")
        if not isinstance(time_zone, str) or not 1 <= len(time_zone) <= 64:
            raise ValidationError("must be an IANA time zone name", field="time_zone")
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"unknown time zone {time_zone!r}",
                                  field="time_zone") from None
        before = self.get_customer(tx.conn, customer_id).time_zone
        tx.conn.execute(update(customers).where(customers.c.id == customer_id).values(
            time_zone=time_zone))
        actor_type, actor_id = principal.audit_actor
        audit.append(tx, actor_type, actor_id, "customer.time_zone_set", "customer",
                     customer_id, {"from": before, "to": time_zone})
        return time_zone

    # ------------------------------------------------------------------ login / sessions
    def check_lock(self, row: Any, now: dt.datetime) -> None:
        locked_until = row.locked_until
        if locked_until is not None and locked_until > now:
            raise RateLimitedError(
                "too many failed logins; try again later",
                retry_after_s=int((locked_until - now).total_seconds()) + 1)

    def record_login_failure(self, tx: Tx, customer_id: str) -> None:
        """Count a failed login (a wrong password or a wrong login code); the
        ``login_failures_max``-th locks the account for ``lockout_s``. The count survives
        the refusal's rollback (:meth:`Tx.durable`) and is one atomic increment, so
        concurrent guesses each count."""
        tx.durable(lambda t: self._count_login_failure(t, customer_id))

    def _count_login_failure(self, tx: Tx, customer_id: str) -> None:
        failures = tx.conn.execute(update(customers).where(customers.c.id == customer_id)
                                   .values(failed_logins=customers.c.failed_logins + 1)
                                   .returning(customers.c.failed_logins)).scalar_one()
        if failures >= self.policy.login_failures_max:
            tx.conn.execute(update(customers).where(customers.c.id == customer_id).values(
                failed_logins=0,
                locked_until=tx.now + dt.timedelta(seconds=self.policy.lockout_s)))
            audit.append(tx, "system", "auth", "customer.locked_out", "customer", customer_id,
                         {"failures": failures})

    def login_succeeded(self, tx: Tx, customer_id: str, device_id: str) -> dict[str, Any]:
        """After a verified password: a session on a trusted device, else a step-up code."""
        row = self.get_customer(tx.conn, customer_id)
        self.check_lock(row, tx.now)
        device_hash = _device_hash(device_id)
        device = tx.conn.execute(select(customer_devices).where(
            customer_devices.c.customer_id == customer_id,
            customer_devices.c.device_hash == device_hash)).first()
        if device is None:
            tx.conn.execute(customer_devices.insert().values(
                id=new_id("dev"), customer_id=customer_id, device_hash=device_hash,
                label=None, trusted_at=None, last_seen_at=tx.now, created_at=tx.now))
        elif device.trusted_at is not None:
            self._login_completed(tx, customer_id)
            return {"status": "authenticated", **self._new_session(tx, customer_id, device.id)}
        # The failure count is not reset here: a password alone (without the code) must not
        # buy a fresh allowance of code guesses.
        challenge_id = self.issue_challenge(tx, customer_id, "login", device_hash)
        return {"status": "step_up_required", "challenge_id": challenge_id}

    def verify_login(self, tx: Tx, *, challenge_id: str, code: str,
                     device_id: str) -> dict[str, Any]:
        device_hash = _device_hash(device_id)
        owner = self._challenge_owner(tx.conn, challenge_id)
        if owner is not None:
            self.check_lock(self.get_customer(tx.conn, owner), tx.now)
        customer_id = self.check_challenge(tx, challenge_id, code, purpose="login",
                                           reference=device_hash)
        if customer_id is None:
            # A wrong login code is a failed login: it counts toward the account's lockout
            # as a wrong password does, so new challenges do not buy new guesses.
            assert owner is not None
            self.record_login_failure(tx, owner)
            raise commit_and_raise(WrongCode("the code is wrong"))
        tx.conn.execute(update(customer_devices).where(
            customer_devices.c.customer_id == customer_id,
            customer_devices.c.device_hash == device_hash).values(trusted_at=tx.now))
        device = tx.conn.execute(select(customer_devices.c.id).where(
            customer_devices.c.customer_id == customer_id,
            customer_devices.c.device_hash == device_hash)).one()
        audit.append(tx, "customer", customer_id, "device.trusted", "device", device.id, {})
        self._login_completed(tx, customer_id)
        return {"status": "authenticated", **self._new_session(tx, customer_id, device.id)}

    def _login_completed(self, tx: Tx, customer_id: str) -> None:
        tx.conn.execute(update(customers).where(customers.c.id == customer_id).values(
            failed_logins=0, locked_until=None))

    def _new_session(self, tx: Tx, customer_id: str, device_id: str,
                     family_id: str | None = None) -> dict[str, Any]:
        session_id = new_id("ses")
        refresh = "rt_" + new_secret()
        tx.conn.execute(customer_sessions.insert().values(
            id=session_id, customer_id=customer_id, device_id=device_id,
            family_id=family_id or session_id, refresh_hash=sha256_hex(refresh),
            status="active", created_at=tx.now,
            expires_at=tx.now + dt.timedelta(seconds=self.policy.refresh_token_ttl_s)))
        tx.conn.execute(update(customer_devices).where(customer_devices.c.id == device_id)
                        .values(last_seen_at=tx.now))
        access = self.signer.sign(
            "access", {"sub": customer_id, "sid": session_id, "did": device_id},
            tx.now + dt.timedelta(seconds=self.policy.access_token_ttl_s))
        return {"customer_id": customer_id, "access_token": access, "refresh_token": refresh,
                "token_type": "Bearer", "expires_in": self.policy.access_token_ttl_s}  # nosec B105 - the token type, not a secret

    def refresh(self, tx: Tx, refresh_token: str) -> dict[str, Any]:
        if not isinstance(refresh_token, str) or not refresh_token.startswith("rt_"):
            raise AuthenticationError("malformed refresh token")
        row = tx.conn.execute(select(customer_sessions).where(
            customer_sessions.c.refresh_hash == sha256_hex(refresh_token))).first()
        if row is None:
            raise AuthenticationError("unknown refresh token")
        if row.status == "rotated":
            # Reuse of a rotated token means it was copied: end the whole family.
            self._revoke_family(tx, row.family_id)
            audit.append(tx, "system", "auth", "session.refresh_reuse", "customer",
                         row.customer_id, {"family_id": row.family_id})
            return {"revoked": True}
        if row.status != "active" or row.expires_at <= tx.now:
            raise AuthenticationError("refresh token is no longer valid")
        tx.conn.execute(update(customer_sessions).where(customer_sessions.c.id == row.id)
                        .values(status="rotated"))
        return self._new_session(tx, row.customer_id, row.device_id, row.family_id)

    def _revoke_family(self, tx: Tx, family_id: str) -> None:
        tx.conn.execute(update(customer_sessions).where(
            customer_sessions.c.family_id == family_id).values(status="revoked"))

    def logout(self, tx: Tx, principal: Principal) -> dict[str, Any]:
        row = tx.conn.execute(select(customer_sessions.c.family_id).where(
            customer_sessions.c.id == principal.session_id)).one()
        self._revoke_family(tx, row.family_id)
        return {"logged_out": True}

    def authenticate_access_token(self, conn: Connection, token: str,
                                  now: dt.datetime) -> Principal:
        """A customer's access token (only: an operator's login token is refused here, so
        a customer page can never be opened with one)."""
        return self._customer_of_claims(conn, self.signer.verify(token, "access", now))

    def authenticate_signed_token(self, conn: Connection, token: str,
                                  now: dt.datetime) -> Principal:
        """The caller of a signed ``v1.`` bearer token: a customer's access token or an
        operator's login token (:meth:`issue_operator_token`)."""
        claims = self.signer.verify(token, ("access", "operator"), now)
        if claims["typ"] == "operator":
            return _operator_of_claims(conn, claims)
        return self._customer_of_claims(conn, claims)

    def _customer_of_claims(self, conn: Connection, claims: dict[str, Any]) -> Principal:
        session = _SESSION_BY_ID.first(conn, {"id": claims.get("sid")})
        if session is None or session.status == "revoked":
            raise AuthenticationError("session has ended")
        return Principal("customer", claims["sub"], session_id=claims["sid"],
                         device_id=claims.get("did"))

    # ------------------------------------------------------------------ step-up
    def issue_challenge(self, tx: Tx, customer_id: str, purpose: str, reference: str) -> str:
        challenge_id = new_id("chl")
        code = one_time_code()
        tx.conn.execute(_INSERT_CHALLENGE, dict(
            id=challenge_id, customer_id=customer_id, purpose=purpose, reference=reference,
            code_hash=self.signer.mac("step-up", f"{challenge_id}:{code}".encode()),
            attempts=0, status="pending", created_at=tx.now,
            expires_at=tx.now + dt.timedelta(seconds=self.policy.challenge_ttl_s)))
        self._notifier.send_code(tx, customer_id=customer_id, challenge_id=challenge_id,
                                purpose=purpose, code=code)
        audit.append(tx, "system", "auth", "step_up.issued", "customer", customer_id,
                     {"challenge_id": challenge_id, "purpose": purpose})
        return challenge_id

    def check_challenge(self, tx: Tx, challenge_id: str, code: str, *, purpose: str,
                        reference: str, customer_id: str | None = None) -> str | None:
        """Verify and consume a code. Returns the customer id, or None after a wrong code
        (the attempt is counted; the caller commits and reports the failure)."""
        query = select(step_up_challenges).where(step_up_challenges.c.id == challenge_id)
        if tx.dialect == "postgresql":
            # Concurrent guesses at one challenge take turns: each sees the attempts the
            # ones before it counted (SQLite's write lock already serialises them).
            query = query.with_for_update()
        row = tx.conn.execute(query).first()
        if row is None or row.purpose != purpose or row.reference != reference or (
                customer_id is not None and row.customer_id != customer_id):
            raise AuthenticationError("no such verification challenge")
        if row.status != "pending" or row.expires_at <= tx.now or \
                row.attempts >= self.policy.challenge_attempts_max:
            raise AuthenticationError("verification challenge is used or expired")
        expected = self.signer.mac("step-up", f"{challenge_id}:{code}".encode())
        if not isinstance(code, str) or not hmac.compare_digest(expected, row.code_hash):
            tx.durable(lambda t: self._count_wrong_code(t, step_up_challenges, challenge_id))
            return None
        used = tx.conn.execute(update(step_up_challenges).where(
            step_up_challenges.c.id == challenge_id,
            step_up_challenges.c.status == "pending").values(status="used")).rowcount
        if used != 1:  # another request used it first
            raise AuthenticationError("verification challenge is used or expired")
        return row.customer_id

    def _count_wrong_code(self, tx: Tx, table: Table, row_id: str) -> None:
        """One wrong code for a challenge or a registration (``table``), counted by one
        atomic statement; the last allowed one fails it."""
        c = table.c
        tx.conn.execute(update(table).where(c.id == row_id, c.status == "pending").values(
            attempts=c.attempts + 1,
            status=case((c.attempts + 1 >= self.policy.challenge_attempts_max, "failed"),
                        else_=c.status)))

    def _challenge_owner(self, conn: Connection, challenge_id: str) -> str | None:
        return conn.execute(select(step_up_challenges.c.customer_id).where(
            step_up_challenges.c.id == challenge_id)).scalar_one_or_none()

    # ------------------------------------------------------------------ KYC
    def verify_kyc(self, tx: Tx, principal: Principal, *, legal_name: str, id_number: str,
                   date_of_birth: dt.date) -> dict[str, Any]:
        customer_id = principal.id
        row = self.get_customer(tx.conn, customer_id)
        if row.kyc_status == "verified":
            raise StateError("identity is already verified", field="kyc_status")
        name = legal_name.strip() if isinstance(legal_name, str) else ""
        if not 1 <= len(name) <= 64:
            raise ValidationError("must be 1..64 characters", field="legal_name")
        number = normalise_id_number(id_number)
        if len(number) == 18:
            _check_cn_resident_id(number, date_of_birth)
        age_years = (tx.today - date_of_birth).days // 365.2425
        if date_of_birth >= tx.today or age_years < 18:
            raise ValidationError("the customer must be at least 18", field="date_of_birth")
        bidx = self.indexer.index("id_number", number)
        other = tx.conn.execute(select(customers.c.id).where(
            customers.c.id_number_bidx == bidx)).first()
        if other is not None:
            raise ConflictError("this identity document is registered to another account",
                                field="id_number")
        tx.conn.execute(update(customers).where(customers.c.id == customer_id).values(
            kyc_status="verified", kyc_verified_at=tx.now, id_number_bidx=bidx,
            legal_name_ct=self.vault.encrypt("customers.legal_name", customer_id, name),
            id_number_ct=self.vault.encrypt("customers.id_number", customer_id, number),
            date_of_birth_ct=self.vault.encrypt("customers.date_of_birth", customer_id,
                                                date_of_birth.isoformat())))
        audit.append(tx, "customer", customer_id, "customer.kyc_verified", "customer",
                     customer_id, {"document": "cn_resident_id" if len(number) == 18
                                   else "other"})
        tx.emit("parties.customer.kyc_verified", "customer", customer_id,
                {"customer_id": customer_id})
        return self.customer_view(self.get_customer(tx.conn, customer_id))

    # ------------------------------------------------------------------ devices
    def list_devices(self, conn: Connection, customer_id: str) -> list[dict[str, Any]]:
        rows = conn.execute(select(customer_devices).where(
            customer_devices.c.customer_id == customer_id).order_by(
            customer_devices.c.created_at, customer_devices.c.id)).all()
        return [{"id": r.id, "label": r.label, "trusted": r.trusted_at is not None,
                 "last_seen_at": r.last_seen_at.isoformat(),
                 "created_at": r.created_at.isoformat()} for r in rows]

    def untrust_device(self, tx: Tx, principal: Principal, device_id: str) -> dict[str, Any]:
        row = tx.conn.execute(select(customer_devices).where(
            customer_devices.c.id == device_id,
            customer_devices.c.customer_id == principal.id)).first()
        if row is None:
            raise NotFoundError(f"no device {device_id}", field="device_id")
        tx.conn.execute(update(customer_devices).where(customer_devices.c.id == device_id)
                        .values(trusted_at=None))
        tx.conn.execute(update(customer_sessions).where(
            customer_sessions.c.device_id == device_id).values(status="revoked"))
        audit.append(tx, "customer", principal.id, "device.untrusted", "device", device_id, {})
        return {"id": device_id, "trusted": False}

    # ------------------------------------------------------------------ cards
    def card_view(self, row: Any) -> dict[str, Any]:
        return {"id": row.id, "brand": row.brand, "last4": row.last4,
                "masked": f"**** **** **** {row.last4}", "expiry_month": row.expiry_month,
                "expiry_year": row.expiry_year, "status": row.status,
                "created_at": row.created_at.isoformat()}

    def add_card(self, tx: Tx, principal: Principal, *, rail_token: str, brand: str,
                 last4: str, expiry_month: int, expiry_year: int) -> dict[str, Any]:
        card_id = new_id("card")
        tx.conn.execute(customer_cards.insert().values(
            id=card_id, customer_id=principal.id, rail_token=rail_token, brand=brand,
            last4=last4, expiry_month=expiry_month, expiry_year=expiry_year, status="active",
            created_at=tx.now))
        audit.append(tx, "customer", principal.id, "card.linked", "card", card_id,
                     {"brand": brand})
        return self.card_view(tx.conn.execute(select(customer_cards).where(
            customer_cards.c.id == card_id)).one())

    def get_card(self, conn: Connection, customer_id: str, card_id: str) -> Any:
        row = _CARD_OF_CUSTOMER.first(conn, {"id": card_id, "customer_id": customer_id})
        if row is None or row.status != "active":
            raise NotFoundError(f"no active card {card_id}", field="card_id")
        return row

    def list_cards(self, conn: Connection, customer_id: str) -> list[dict[str, Any]]:
        rows = conn.execute(select(customer_cards).where(
            customer_cards.c.customer_id == customer_id, customer_cards.c.status == "active")
            .order_by(customer_cards.c.created_at, customer_cards.c.id)).all()
        return [self.card_view(r) for r in rows]

    def remove_card(self, tx: Tx, principal: Principal, card_id: str) -> dict[str, Any]:
        self.get_card(tx.conn, principal.id, card_id)
        tx.conn.execute(update(customer_cards).where(customer_cards.c.id == card_id)
                        .values(status="removed"))
        audit.append(tx, "customer", principal.id, "card.removed", "card", card_id, {})
        return {"id": card_id, "status": "removed"}

    # ------------------------------------------------------------------ merchants
    def merchant_view(self, row: Any) -> dict[str, Any]:
        return {"id": row.id, "name": row.name, "mcc": row.mcc, "status": row.status,
                "discount_rate": row.discount_rate,
                "settlement_currency": row.settlement_currency,
                "country": row.country,
                "webhook_url": row.webhook_url,
                "created_at": row.created_at.isoformat()}

    def get_merchant(self, conn: Connection, merchant_id: str) -> Any:
        row = _MERCHANT_BY_ID.first(conn, {"id": merchant_id})
        if row is None:
            raise NotFoundError(f"no merchant {merchant_id}", field="merchant_id")
        return row

    def onboard_merchant(self, tx: Tx, operator: Principal, *, name: str, mcc: str,
                         discount_rate: str, settlement_currency: str = "CNY",
                         webhook_url: WebhookTarget | None = None, country: str = "CN"
                         ) -> dict[str, Any]:
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 128:
            raise ValidationError("must be 1..128 characters", field="name")
        if not isinstance(mcc, str) or not _MCC.match(mcc):
            raise ValidationError("must be a 4-digit merchant category code", field="mcc")
        rate = parse_rate(discount_rate)
        validate_operated_currency(settlement_currency, self.currencies, "settlement_currency")
        country = validate_country(country)
        merchant_id = new_id("mer")
        secret = "whsec_" + new_secret()
        tx.conn.execute(merchants.insert().values(
            id=merchant_id, name=name.strip(), mcc=mcc, status="active",
            discount_rate=str(rate), settlement_currency=settlement_currency, country=country,
            webhook_url=check_webhook_url(webhook_url),
            webhook_secret_ct=self.vault.encrypt("merchants.webhook_secret", merchant_id,
                                                 secret),
            created_at=tx.now))
        ensure_platform_accounts(tx, settlement_currency)
        open_accounts(tx, [merchant_payable_spec(merchant_id, settlement_currency)])
        key = self._new_api_key(tx, merchant_id, MERCHANT_SCOPES)
        actor = operator.audit_actor
        audit.append(tx, actor[0], actor[1], "merchant.onboarded", "merchant", merchant_id,
                     {"mcc": mcc, "discount_rate": str(rate), "country": country,
                      "settlement_currency": settlement_currency})
        tx.emit("parties.merchant.onboarded", "merchant", merchant_id,
                {"merchant_id": merchant_id})
        return {"merchant": self.merchant_view(self.get_merchant(tx.conn, merchant_id)),
                "api_key": key, "webhook_secret": secret}

    def webhook_secret(self, merchant_row: Any) -> str:
        return self.vault.decrypt("merchants.webhook_secret", merchant_row.id,
                                  merchant_row.webhook_secret_ct)

    def update_merchant(self, tx: Tx, principal: Principal, *,
                        webhook_url: WebhookTarget | None) -> dict[str, Any]:
        tx.conn.execute(update(merchants).where(merchants.c.id == principal.id).values(
            webhook_url=check_webhook_url(webhook_url)))
        audit.append(tx, "merchant", principal.id, "merchant.updated", "merchant",
                     principal.id, {"webhook_url_set": bool(webhook_url)})
        return self.merchant_view(self.get_merchant(tx.conn, principal.id))

    def _new_api_key(self, tx: Tx, merchant_id: str, scopes: tuple[str, ...] | list[str]
                     ) -> dict[str, Any]:
        unknown = sorted(set(scopes) - set(MERCHANT_SCOPES))
        if unknown or not scopes:
            raise ValidationError(f"scopes must be among {list(MERCHANT_SCOPES)}",
                                  field="scopes")
        full, prefix, secret_hash = make_api_key("cpk")
        key_id = new_id("key")
        tx.conn.execute(merchant_api_keys.insert().values(
            id=key_id, merchant_id=merchant_id, prefix=prefix, secret_hash=secret_hash,
            scopes=" ".join(sorted(set(scopes))), created_at=tx.now, revoked_at=None))
        return {"id": key_id, "key": full, "scopes": sorted(set(scopes)),
                "created_at": tx.now.isoformat()}

    def create_api_key(self, tx: Tx, principal: Principal, scopes: list[str]
                       ) -> dict[str, Any]:
        key = self._new_api_key(tx, principal.id, scopes)
        audit.append(tx, "merchant", principal.id, "api_key.created", "api_key", key["id"],
                     {"scopes": key["scopes"]})
        return key

    def list_api_keys(self, conn: Connection, merchant_id: str) -> list[dict[str, Any]]:
        rows = conn.execute(select(merchant_api_keys).where(
            merchant_api_keys.c.merchant_id == merchant_id).order_by(
            merchant_api_keys.c.created_at, merchant_api_keys.c.id)).all()
        return [{"id": r.id, "prefix": r.prefix, "scopes": r.scopes.split(),
                 "created_at": r.created_at.isoformat(),
                 "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None}
                for r in rows]

    def revoke_api_key(self, tx: Tx, principal: Principal, key_id: str) -> dict[str, Any]:
        row = tx.conn.execute(select(merchant_api_keys).where(
            merchant_api_keys.c.id == key_id,
            merchant_api_keys.c.merchant_id == principal.id)).first()
        if row is None:
            raise NotFoundError(f"no API key {key_id}", field="key_id")
        if row.revoked_at is None:
            tx.conn.execute(update(merchant_api_keys).where(merchant_api_keys.c.id == key_id)
                            .values(revoked_at=tx.now))
            audit.append(tx, "merchant", principal.id, "api_key.revoked", "api_key", key_id, {})
        return {"id": key_id, "revoked": True}

    def authenticate_api_key(self, conn: Connection, key: str) -> Principal:
        prefix, secret = split_api_key(key)
        if prefix.startswith("cpk"):
            row = _API_KEY_BY_PREFIX.first(conn, {"prefix": prefix})
            if row is None or not hmac.compare_digest(row.secret_hash, sha256_hex(secret)):
                raise AuthenticationError("invalid API key")
            if row.revoked_at is not None or row.status != "active":
                raise AuthenticationError("API key is revoked or the merchant suspended")
            return Principal("merchant", row.merchant_id, scopes=frozenset(row.scopes.split()),
                             credential_id=row.id)
        if prefix.startswith("cpo"):
            return authenticate_operator_key(conn, key)
        if prefix.startswith(partners.KEY_KIND):
            # A partner lender's read-only key: its routes name the scope they need
            # (api.access.Access.partner_scopes); every other route refuses it.
            partner_id, scopes, key_id = partners.authenticate_partner_key(conn, key)
            return Principal("partner", partner_id, scopes=scopes, credential_id=key_id)
        raise AuthenticationError("unknown credential type")

    # ------------------------------------------------------------------ operators
    def create_operator(self, tx: Tx, *, name: str, role: str,
                        password_hash: str | None = None,
                        created_by: str = "bootstrap") -> dict[str, Any]:
        """A new operator with its ``cpo_`` machine token (for the API and the CLI) and a
        TOTP secret (vault-encrypted; the answer holds it once, base32 and as an
        ``otpauth://`` URI to enrol an authenticator app). ``password_hash``
        (:meth:`PasswordPolicy.hash`, computed before the transaction) lets the operator log
        in with password + TOTP; without one they can use only the token. The vault must
        have its active data key before the transaction (``vault.ensure_active_key()``: on
        SQLite the vault cannot create one inside the writer's transaction)."""
        if role not in ROLES:
            raise ValidationError(f"must be one of {list(ROLES)}", field="role")
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            raise ValidationError("must be 1..64 characters", field="name")
        full, prefix, secret_hash = make_api_key("cpo")
        operator_id = new_id("op")
        totp_secret = new_totp_secret()
        tx.conn.execute(operators.insert().values(
            id=operator_id, name=name, role=role, prefix=prefix, secret_hash=secret_hash,
            created_at=tx.now, disabled_at=None, password_hash=password_hash,
            totp_secret_ct=self.vault.encrypt(_TOTP_FIELD, operator_id, totp_secret),
            totp_last_step=None, failed_logins=0, locked_until=None))
        audit.append(tx, "staff", created_by, "operator.created", "operator", operator_id,
                     {"role": role, "password": password_hash is not None})
        return {"id": operator_id, "name": name, "role": role, "token": full,
                "totp_secret": totp_secret,
                "totp_uri": totp_provisioning_uri(totp_secret, f"{name} ({operator_id})")}

    def authenticate_operator(self, uow: UnitOfWork, *, operator_id: str, password: str,
                              totp_code: str) -> Principal:
        """Log a staff member in with their operator id, password and current TOTP code:
        the operator :class:`Principal` (id, role), for the API's login route and the web
        console alike.

        Refusals: :class:`RateLimitedError` (429) while the operator is locked out; otherwise
        one :class:`AuthenticationError` (401) with the same message whatever was wrong (an
        unknown id, a wrong password, a wrong, expired or already used code, a disabled
        operator or one without a password), so the answer never tells which. Each refusal
        is audited (``operator.login_failed`` with the reason), and a wrong password or code
        counts toward the lockout (``login_failures_max`` failures lock for ``lockout_s`` of
        business time), as customer logins do. A code is accepted for the current 30-second
        step of :attr:`totp_clock` or the one either side of it, and only once: the step of
        the last accepted code is stored, and no code of that step or an earlier one is
        accepted again.

        The argon2 check runs before any transaction (it must not hold SQLite's writer);
        the outcome is then recorded in one transaction, committed before a refusal is
        raised."""
        known = isinstance(operator_id, str) and 1 <= len(operator_id) <= 32
        with uow.connect() as conn:
            row = conn.execute(select(operators).where(operators.c.id == operator_id)
                               ).first() if known else None
        if row is not None:
            self.check_lock(row, uow.clock.now())
        # Always one argon2 verification (a dummy hash for an unknown id): uniform timing.
        checked_hash = row.password_hash if row is not None else None
        password_ok = self.passwords.verify(checked_hash,
                                            password if isinstance(password, str) else "")
        unix_s = self.totp_clock()
        totp_secret = (self.vault.decrypt(_TOTP_FIELD, row.id, row.totp_secret_ct)
                       if row is not None and row.totp_secret_ct else None)

        def record(tx: Tx) -> Principal | str:
            current = tx.conn.execute(_lock(select(operators).where(
                operators.c.id == operator_id), tx)).first() if row is not None else None
            if current is None:
                return self._operator_login_failed(tx, None, "unknown_operator")
            self.check_lock(current, tx.now)
            if current.disabled_at is not None:
                return self._operator_login_failed(tx, current.id, "disabled")
            if current.password_hash is None or totp_secret is None:
                return self._operator_login_failed(tx, current.id, "no_password")
            # (A password changed since it was checked above is a wrong one.)
            if not password_ok or current.password_hash != checked_hash:
                return self._operator_login_failed(tx, current.id, "password", count=True)
            step = totp_matching_step(totp_secret, totp_code, unix_s, current.totp_last_step)
            # Conditional: of two logins with one code, only the first stores its step.
            used = step is not None and tx.conn.execute(update(operators).where(
                operators.c.id == current.id,
                (operators.c.totp_last_step.is_(None))
                | (operators.c.totp_last_step < step)).values(
                totp_last_step=step, failed_logins=0, locked_until=None)).rowcount == 1
            if not used:
                return self._operator_login_failed(tx, current.id, "totp_code", count=True)
            audit.append(tx, "staff", current.id, "operator.logged_in", "operator",
                         current.id, {"role": current.role})
            return Principal("operator", current.id, role=current.role)

        outcome = uow.run(record)
        if isinstance(outcome, str):
            raise AuthenticationError(OPERATOR_LOGIN_FAILED)
        return outcome

    def _operator_login_failed(self, tx: Tx, operator_id: str | None, reason: str, *,
                               count: bool = False) -> str:
        """Audit a refused staff login (and count it toward the lockout when ``count``);
        returns the reason for the caller to refuse after the commit."""
        audit.append(tx, "system", "auth", "operator.login_failed", "operator",
                     operator_id or "unknown", {"reason": reason})
        if count and operator_id is not None:
            failures = tx.conn.execute(update(operators).where(operators.c.id == operator_id)
                                       .values(failed_logins=operators.c.failed_logins + 1)
                                       .returning(operators.c.failed_logins)).scalar_one()
            if failures >= self.policy.login_failures_max:
                tx.conn.execute(update(operators).where(operators.c.id == operator_id).values(
                    failed_logins=0,
                    locked_until=tx.now + dt.timedelta(seconds=self.policy.lockout_s)))
                audit.append(tx, "system", "auth", "operator.locked_out", "operator",
                             operator_id, {"failures": failures})
        return reason

    def issue_operator_token(self, principal: Principal, now: dt.datetime) -> dict[str, Any]:
        """A signed bearer token for a logged-in operator (``typ`` operator, carrying the id
        and role), valid ``operator_token_ttl_s`` from ``now`` (business time, as every
        token's expiry)."""
        if principal.kind != "operator" or principal.role is None:
            raise PermissionDeniedError("only an operator gets an operator token")
        expires_at = now + dt.timedelta(seconds=self.policy.operator_token_ttl_s)
        token = self.signer.sign("operator", {"sub": principal.id, "role": principal.role},
                                 expires_at)
        return {"operator_id": principal.id, "role": principal.role, "access_token": token,
                "token_type": "Bearer",  # nosec B105 - the token type, not a secret
                "expires_in": self.policy.operator_token_ttl_s,
                "expires_at": expires_at.isoformat()}

    def authenticate_operator_token(self, conn: Connection, token: str,
                                    now: dt.datetime) -> Principal:
        """The operator of a login token (:meth:`issue_operator_token`) that is still valid:
        signed, unexpired, and its operator neither disabled nor given another role since."""
        return operator_of_credential(conn, token, self.signer, now)



_TOTP_FIELD = "operators.totp_secret"
OPERATOR_LOGIN_FAILED = "wrong operator id, password or code"


def _lock(query: Any, tx: Tx) -> Any:
    # Concurrent logins of one operator take turns on PostgreSQL (SQLite has one writer).
    return query.with_for_update() if tx.dialect == "postgresql" else query


def _operator_of_claims(conn: Connection, claims: dict[str, Any]) -> Principal:
    row = conn.execute(select(operators.c.id, operators.c.role, operators.c.disabled_at)
                       .where(operators.c.id == claims.get("sub"))).first()
    if row is None or row.disabled_at is not None:
        raise AuthenticationError("operator is disabled")
    if row.role != claims.get("role"):
        raise AuthenticationError("the operator's role has changed: log in again")
    return Principal("operator", row.id, role=row.role)


def operator_of_credential(conn: Connection, token: str, signer: TokenSigner | None,
                           now: dt.datetime) -> Principal:
    """The operator of either credential a staff member holds: a login token (``v1.``...,
    checked with ``signer``; see :meth:`Parties.issue_operator_token`) or the ``cpo_``
    machine token (needs no key); anything else (a customer's token, a merchant's key, a
    disabled operator's) is an AuthenticationError."""
    if not isinstance(token, str) or not token:
        raise AuthenticationError("give an operator token")
    if token.startswith("v1."):
        if signer is None:
            raise AuthenticationError("a login token needs the token key to be checked")
        return _operator_of_claims(conn, signer.verify(token, "operator", now))
    return authenticate_operator_key(conn, token)


def authenticate_operator_key(conn: Connection, key: str) -> Principal:
    """The operator of a ``cpo_`` machine token (needs no key material: the CLI resolves it
    with only the database); AuthenticationError for anything else."""
    prefix, secret = split_api_key(key)
    if not prefix.startswith("cpo"):
        raise AuthenticationError("not an operator token")
    row = conn.execute(select(operators).where(operators.c.prefix == prefix)).first()
    if row is None or not hmac.compare_digest(row.secret_hash, sha256_hex(secret)):
        raise AuthenticationError("invalid operator token")
    if row.disabled_at is not None:
        raise AuthenticationError("operator is disabled")
    return Principal("operator", row.id, role=row.role, credential_id=row.id)


def require_role(principal: Principal, roles: Collection[str], action: str) -> Principal:
    """``principal`` if it is an operator with one of ``roles``; else PermissionDeniedError
    naming the action (the staff commands' equivalent of an API route's Access rule)."""
    if principal.kind != "operator" or principal.role not in roles:
        raise PermissionDeniedError(
            f"{action} needs an operator with one of the roles {sorted(roles)}",
            field="token")
    return principal


def merchant_status(conn: Connection, merchant_id: str) -> str:
    """A merchant's status (active | suspended ...); NotFoundError naming merchant_id for
    an unknown one. What a merchant freeze would change is read with it."""
    status = conn.execute(select(merchants.c.status).where(
        merchants.c.id == merchant_id)).scalar_one_or_none()
    if status is None:
        raise NotFoundError(f"no merchant {merchant_id}", field="merchant_id")
    return str(status)


def suspend_merchant(tx: Tx, merchant_id: str, *, actor_id: str, reason: str,
                     reference: str | None = None) -> dict[str, Any]:
    """Suspend a merchant's acceptance (new payments to it are refused and its API keys stop
    working); audited. Suspending a suspended merchant changes nothing. ``reason`` is a code
    of :data:`MERCHANT_SUSPENSION_REASONS` (the audit chain cannot forget free text) and
    ``reference`` an optional id of what prompted it (an alert, a case)."""
    if reason not in MERCHANT_SUSPENSION_REASONS:
        raise ValidationError(f"must be one of {', '.join(MERCHANT_SUSPENSION_REASONS)}",
                              field="reason")
    if reference is not None and (not isinstance(reference, str)
                                  or not _SUSPENSION_REFERENCE.fullmatch(reference)):
        raise ValidationError("must be an id of 1-64 letters, digits or _.:-",
                              field="reference")
    previous = merchant_status(tx.conn, merchant_id)
    if previous != "suspended":
        tx.conn.execute(update(merchants).where(merchants.c.id == merchant_id)
                        .values(status="suspended"))
        audit.append(tx, "staff", actor_id, "merchant.suspended", "merchant", merchant_id,
                     {"reason": reason, "reference": reference,
                      "previous_status": previous})
        tx.emit("parties.merchant.suspended", "merchant", merchant_id,
                {"merchant_id": merchant_id, "reason": reason, "reference": reference})
    return {"merchant_id": merchant_id, "previous_status": previous,
            "status": "suspended"}


# Why a merchant is suspended: codes, kept as data (docs/security.md section 6).
MERCHANT_SUSPENSION_REASONS = ("early_warning_alert", "fraud_investigation",
                               "compliance_breach", "merchant_request", "contract_ended")
_SUSPENSION_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


class WrongCode(AuthenticationError):
    type_slug = "wrong-code"
    title = "Wrong verification code"


_COUNTRY = re.compile(r"^[A-Z]{2}$")


def validate_country(country: object, field: str = "country") -> str:
    """An ISO 3166-1 alpha-2 country code (CLDR's territory list, from Babel), or a
    ValidationError naming ``field``."""
    from babel import Locale

    if not isinstance(country, str) or not _COUNTRY.match(country) \
            or country not in Locale("en").territories or country in ("EU", "EZ", "UN", "ZZ"):
        raise ValidationError(f"must be an ISO 3166-1 alpha-2 country code, got {country!r}",
                              field=field)
    return country


def parse_rate(text: str) -> Decimal:
    """A merchant discount rate as an exact Decimal fraction in [0, 0.2] (e.g. "0.006")."""
    try:
        rate = Decimal(str(text))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError("must be a decimal fraction like '0.006'",
                              field="discount_rate") from exc
    exponent = rate.as_tuple().exponent  # an int, or 'n', 'N', 'F' when not finite
    # Finiteness first: ordering a NaN raises.
    if isinstance(text, float) or not isinstance(exponent, int) or \
            not Decimal(0) <= rate <= Decimal("0.2") or exponent < -6:
        raise ValidationError("must be between 0 and 0.2 with at most 6 decimals",
                              field="discount_rate")
    return rate


def check_webhook_url(target: WebhookTarget | None) -> str | None:
    """The webhook URL to store: one that :meth:`WebhookTargets.check
    <creditpay.platform.webhook_targets.WebhookTargets.check>` passed (scheme, host and every address
    it resolves to; docs/security.md, "Webhooks"), or None to clear it. The caller runs that
    check before the transaction starts, since it looks the host name up on the network; a
    plain string is refused here so no caller can store an unchecked URL."""
    if target is None:
        return None
    if not isinstance(target, WebhookTarget):
        raise TypeError("webhook_url must be a WebhookTarget from WebhookTargets.check")
    return target.url


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _check_cn_resident_id(number: str, date_of_birth: dt.date) -> None:
    """An 18-character Chinese resident ID: checksum, and its birth date matches."""
    if not number[:17].isdigit() or number[17] not in "0123456789X":
        raise ValidationError("is not a valid resident ID number", field="id_number")
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != number[17]:
        raise ValidationError("resident ID check digit is wrong", field="id_number")
    if number[6:14] != date_of_birth.strftime("%Y%m%d"):
        raise ValidationError("does not match the date of birth in the ID number",
                              field="date_of_birth")


def purge_registrations(tx: Tx, *, limit: int = 10_000) -> int:
    """Delete registrations that expired or ended, their encrypted phone or e-mail and
    password hash with them (data minimisation), at most ``limit``; returns how many. The
    nightly batch runs it."""
    r = customer_registrations.c
    ids = tx.conn.execute(select(r.id).where(
        (r.expires_at <= tx.now) | (r.status != "pending")).limit(limit)).scalars().all()
    if ids:
        tx.conn.execute(customer_registrations.delete().where(r.id.in_(ids)))
    return len(ids)
