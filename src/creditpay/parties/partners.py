"""Partner lenders as parties: onboarding, licence, status, versioned commercial terms
(funding rate, the platform's service fee, exposure limits, risk appetite, the data they ask
for, their decision adapter) and the API keys of the read-only partner API.

Funding itself (which loans a partner funds, its cash flows and settlements) is credit's
(:mod:`creditpay.credit.funding`); this module owns only who the partners are and on what
terms. Every change is audited and makes a new terms version; a loan records the version
that priced it. See docs/partner-lending.md.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic import ValidationError as PydanticError
from sqlalchemy import Connection, bindparam, select, update

from creditpay.db.uow import Tx
from creditpay.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditpay.money import AMOUNT_MINOR_MAX, validate_currency
from creditpay.parties.security import make_api_key, new_id, sha256_hex, split_api_key
from creditpay.parties.tables import partner_api_keys, partner_lender_terms, partner_lenders
from creditpay.platform import audit

__all__ = [
    "LICENCE_TYPES", "PARTNER_STATUSES", "PARTNER_SCOPES", "KEY_KIND", "PartnerTerms",
    "Partner", "parse_terms", "check_terms_change", "onboard_partner", "change_terms",
    "set_status", "get_partner", "get_partners", "list_partners", "create_partner_key",
    "authenticate_partner_key", "partner_view",
]

LICENCE_TYPES = ("bank", "consumer_finance", "trust", "microloan")
PARTNER_STATUSES = ("onboarding", "active", "suspended", "terminated")
PARTNER_SCOPES = ("loans:read", "cash_flows:read", "settlements:read")
KEY_KIND = "cpl"  # partner API keys: cpl<16 hex>_<secret>
RATE_BPS_MAX = 3_600  # 36 %: above any cap a partner's funding rate or fee could sit under


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _refuse_float(value: object) -> object:
    if isinstance(value, float):
        raise ValueError("floats are refused; write the PD as a string")
    return value


# A probability of default: a decimal string from 0 to 1 (a float would be inexact).
Pd = Annotated[Decimal, BeforeValidator(_refuse_float), Field(ge=0, le=1)]


class AppetiteTerms(_Model):
    grades: tuple[str, ...] = ()        # empty: every grade
    max_pd: Pd = Decimal("0.1")
    products: tuple[str, ...] = ()      # product codes; empty: every product arranged


class PolicyTerms(_Model):
    """The simulated partner's own decision policy (the default adapter)."""

    max_pd: Pd = Decimal("0.08")
    grades: tuple[str, ...] = ()
    kyc_required: bool = True
    min_payments_count_90d: int = Field(default=0, ge=0, le=10_000)
    max_amount_minor: int = Field(default=20_000_000, ge=0, le=AMOUNT_MINOR_MAX)


class PartnerTerms(_Model):
    """A partner's commercial terms. Rates in basis points a year; caps in minor units of the
    partner's currency."""

    funding_rate_bps: int = Field(ge=0, le=RATE_BPS_MAX)   # what the partner earns
    service_fee_bps: int = Field(ge=0, le=RATE_BPS_MAX)    # the platform's fee on its loans
    exposure_cap_minor: int = Field(ge=0, le=AMOUNT_MINOR_MAX)
    per_borrower_cap_minor: int = Field(ge=0, le=AMOUNT_MINOR_MAX)
    appetite: AppetiteTerms = AppetiteTerms()
    # What the partner asks to see (names from reporting.data_sharing.SHAREABLE_FIELDS).
    data_fields: tuple[str, ...] = ("kyc_verified", "payments_count_90d",
                                    "payments_amount_minor_90d", "payments_currency")
    adapter: Literal["simulated"] = "simulated"
    policy: PolicyTerms = PolicyTerms()


def _field_of(error: Mapping[str, Any]) -> str:
    return ".".join(str(part) for part in error.get("loc", ())) or "terms"


def parse_terms(document: object, *, shareable_fields: Collection[str] | None = None
                ) -> PartnerTerms:
    """Validated terms; ValidationError naming the first bad field (dotted path)."""
    if not isinstance(document, Mapping):
        raise ValidationError("must be an object", field="terms")
    try:
        terms = PartnerTerms.model_validate(dict(document))
    except PydanticError as exc:
        first = exc.errors()[0]
        raise ValidationError(str(first.get("msg", "invalid")),
                              field=_field_of(first)) from None
    if terms.per_borrower_cap_minor > terms.exposure_cap_minor:
        raise ValidationError("must not exceed exposure_cap_minor",
                              field="per_borrower_cap_minor")
    if shareable_fields is not None:
        for name in terms.data_fields:
            if name not in shareable_fields:
                raise ValidationError(f"{name!r} is not a shareable field",
                                      field="data_fields")
    if len(set(terms.data_fields)) != len(terms.data_fields):
        raise ValidationError("names a field twice", field="data_fields")
    return terms


@dataclass(frozen=True)
class Partner:
    partner_id: str
    name: str
    licence_type: str
    licence_number: str
    currency: str
    status: str
    terms_version: int
    terms: PartnerTerms


def partner_view(partner: Partner) -> dict[str, Any]:
    return {"partner_id": partner.partner_id, "name": partner.name,
            "licence_type": partner.licence_type, "licence_number": partner.licence_number,
            "currency": partner.currency, "status": partner.status,
            "terms_version": partner.terms_version,
            "terms": partner.terms.model_dump(mode="json")}


def _terms_row(partner_id: str, version: int, terms: PartnerTerms, actor_id: str, tx: Tx
               ) -> dict[str, Any]:
    return {"partner_id": partner_id, "version": version,
            "funding_rate_bps": terms.funding_rate_bps,
            "service_fee_bps": terms.service_fee_bps,
            "exposure_cap_minor": terms.exposure_cap_minor,
            "per_borrower_cap_minor": terms.per_borrower_cap_minor,
            "terms": terms.model_dump(mode="json"), "created_by": actor_id,
            "created_at": tx.now}


def _check_text(value: object, field: str, size_max: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= size_max:
        raise ValidationError(f"must be 1..{size_max} characters", field=field)
    return value.strip()


def onboard_partner(tx: Tx, actor_id: str, *, name: str, licence_type: str,
                    licence_number: str, currency: str, terms: object,
                    status: str = "active",
                    shareable_fields: Collection[str] | None = None) -> dict[str, Any]:
    """A new partner lender with terms version 1; audited. ConflictError on a name taken."""
    name = _check_text(name, "name", 128)
    if licence_type not in LICENCE_TYPES:
        raise ValidationError(f"must be one of {list(LICENCE_TYPES)}", field="licence_type")
    licence_number = _check_text(licence_number, "licence_number", 64)
    validate_currency(currency)
    if status not in ("onboarding", "active"):
        raise ValidationError("a new partner is onboarding or active", field="status")
    parsed = parse_terms(terms, shareable_fields=shareable_fields)
    if tx.conn.execute(select(partner_lenders.c.id).where(
            partner_lenders.c.name == name)).first() is not None:
        raise ConflictError(f"a partner named {name!r} exists", field="name")
    partner_id = new_id("ptn")
    tx.conn.execute(partner_lenders.insert().values(
        id=partner_id, name=name, licence_type=licence_type, licence_number=licence_number,
        currency=currency, status=status, terms_version=1, created_at=tx.now,
        updated_at=tx.now))
    tx.conn.execute(partner_lender_terms.insert().values(
        _terms_row(partner_id, 1, parsed, actor_id, tx)))
    audit.append(tx, "staff", actor_id, "partner.onboarded", "partner_lender", partner_id,
                 {"licence_type": licence_type, "currency": currency, "status": status,
                  "terms": parsed.model_dump(mode="json")})
    tx.emit("parties.partner.onboarded", "partner_lender", partner_id,
            {"partner_id": partner_id})
    return partner_view(get_partner(tx.conn, partner_id))


def check_terms_change(conn: Connection, partner_id: str, terms: object, *,
                       shareable_fields: Collection[str] | None = None) -> dict[str, Any]:
    """The payload of a ``partner.terms`` proposal: the partner exists and the terms parse
    (refused naming the field otherwise); nothing is written."""
    parsed = parse_terms(terms, shareable_fields=shareable_fields)
    partner = get_partner(conn, partner_id)
    return {"partner_id": partner.partner_id, "name": partner.name,
            "from_version": partner.terms_version, "terms": parsed.model_dump(mode="json")}


def change_terms(tx: Tx, actor_id: str, partner_id: str, terms: object, *,
                 shareable_fields: Collection[str] | None = None,
                 approved_by: str | None = None) -> dict[str, Any]:
    """A new terms version for the partner (loans already funded keep theirs); audited with
    who proposed it (and who approved it, under four-eyes)."""
    parsed = parse_terms(terms, shareable_fields=shareable_fields)
    partner = get_partner(tx.conn, partner_id, lock=True)
    version = partner.terms_version + 1
    tx.conn.execute(partner_lender_terms.insert().values(
        _terms_row(partner_id, version, parsed, actor_id, tx)))
    tx.conn.execute(update(partner_lenders).where(partner_lenders.c.id == partner_id).values(
        terms_version=version, updated_at=tx.now))
    audit.append(tx, "staff", actor_id, "partner.terms_changed", "partner_lender", partner_id,
                 {"version": version, "terms": parsed.model_dump(mode="json"),
                  "approved_by": approved_by})
    return partner_view(get_partner(tx.conn, partner_id))


_TRANSITIONS = {"onboarding": {"active", "terminated"},
                "active": {"suspended", "terminated"},
                "suspended": {"active", "terminated"}, "terminated": set()}


def set_status(tx: Tx, actor_id: str, partner_id: str, status: str) -> dict[str, Any]:
    """Activate, suspend or terminate a partner (a suspended or terminated partner funds no
    new loan; its loans keep being serviced and settled)."""
    if status not in PARTNER_STATUSES:
        raise ValidationError(f"must be one of {list(PARTNER_STATUSES)}", field="status")
    partner = get_partner(tx.conn, partner_id, lock=True)
    if status == partner.status:
        return partner_view(partner)
    if status not in _TRANSITIONS[partner.status]:
        raise StateError(f"a {partner.status} partner cannot become {status}", field="status")
    tx.conn.execute(update(partner_lenders).where(partner_lenders.c.id == partner_id).values(
        status=status, updated_at=tx.now))
    audit.append(tx, "staff", actor_id, "partner.status_changed", "partner_lender",
                 partner_id, {"from": partner.status, "to": status})
    return partner_view(get_partner(tx.conn, partner_id))


def _partner_of(row: Any, terms_row: Any) -> Partner:
    return Partner(row.id, row.name, row.licence_type, row.licence_number, row.currency,
                   row.status, row.terms_version,
                   PartnerTerms.model_validate(terms_row.terms))


# get_partner's reads: constant statements built once (partner funding reads a partner
# for every funded loan and capture).
_PARTNER = select(partner_lenders).where(partner_lenders.c.id == bindparam("partner_id"))
_PARTNER_LOCKED = _PARTNER.with_for_update()
_PARTNER_TERMS = select(partner_lender_terms).where(
    partner_lender_terms.c.partner_id == bindparam("partner_id"),
    partner_lender_terms.c.version == bindparam("version"))


def get_partner(conn: Connection, partner_id: object, *, lock: bool = False,
                version: int | None = None) -> Partner:
    """A partner with its terms in force (or of ``version``); NotFoundError naming
    ``partner_id``."""
    if not isinstance(partner_id, str) or not 1 <= len(partner_id) <= 32:
        raise ValidationError("must be a partner id", field="partner_id")
    query = _PARTNER_LOCKED if lock and conn.dialect.name == "postgresql" else _PARTNER
    row = conn.execute(query, {"partner_id": partner_id}).first()
    if row is None:
        raise NotFoundError(f"no partner lender {partner_id}", field="partner_id")
    terms_row = conn.execute(_PARTNER_TERMS, {"partner_id": partner_id,
                                              "version": version or row.terms_version}).first()
    if terms_row is None:
        raise NotFoundError(f"partner {partner_id} has no terms version {version}",
                            field="terms_version")
    return _partner_of(row, terms_row)


def get_partners(conn: Connection, partner_ids: Collection[str]) -> dict[str, Partner]:
    """The partners among ``partner_ids`` that exist, with their terms in force, by id (one
    statement: routing reads every candidate of a loan at once)."""
    if not partner_ids:
        return {}
    query = select(partner_lenders, partner_lender_terms.c.terms).join(
        partner_lender_terms, (partner_lender_terms.c.partner_id == partner_lenders.c.id)
        & (partner_lender_terms.c.version == partner_lenders.c.terms_version)).where(
        partner_lenders.c.id.in_(sorted(set(partner_ids))))
    return {row.id: _partner_of(row, row) for row in conn.execute(query)}


def list_partners(conn: Connection, *, status: str | None = None) -> list[Partner]:
    """Every partner (or those with ``status``) with its terms in force, by name."""
    query = select(partner_lenders, partner_lender_terms.c.terms).join(
        partner_lender_terms, (partner_lender_terms.c.partner_id == partner_lenders.c.id)
        & (partner_lender_terms.c.version == partner_lenders.c.terms_version)).order_by(
        partner_lenders.c.name)
    if status is not None:
        query = query.where(partner_lenders.c.status == status)
    return [_partner_of(row, row) for row in conn.execute(query)]


def create_partner_key(tx: Tx, actor_id: str, partner_id: str,
                       scopes: Collection[str] = PARTNER_SCOPES) -> dict[str, Any]:
    """A read-only API key for the partner (shown once); audited."""
    scopes = sorted(set(scopes))
    if not scopes or any(scope not in PARTNER_SCOPES for scope in scopes):
        raise ValidationError(f"scopes must be among {list(PARTNER_SCOPES)}", field="scopes")
    get_partner(tx.conn, partner_id)
    full, prefix, secret_hash = make_api_key(KEY_KIND)
    key_id = new_id("pkey")
    tx.conn.execute(partner_api_keys.insert().values(
        id=key_id, partner_id=partner_id, prefix=prefix, secret_hash=secret_hash,
        scopes=" ".join(scopes), created_at=tx.now, revoked_at=None))
    audit.append(tx, "staff", actor_id, "partner.api_key_created", "partner_lender",
                 partner_id, {"key_id": key_id, "scopes": scopes})
    return {"id": key_id, "key": full, "scopes": scopes, "partner_id": partner_id}


def authenticate_partner_key(conn: Connection, key: str) -> tuple[str, frozenset[str], str]:
    """(partner id, scopes, key id) of a ``cpl`` key; AuthenticationError otherwise (also for
    a revoked key or a terminated partner)."""
    prefix, secret = split_api_key(key)
    if not prefix.startswith(KEY_KIND):
        raise AuthenticationError("not a partner API key")
    row = conn.execute(select(partner_api_keys, partner_lenders.c.status).join(
        partner_lenders, partner_lenders.c.id == partner_api_keys.c.partner_id).where(
        partner_api_keys.c.prefix == prefix)).first()
    if row is None or not hmac.compare_digest(row.secret_hash, sha256_hex(secret)):
        raise AuthenticationError("invalid API key")
    if row.revoked_at is not None or row.status == "terminated":
        raise AuthenticationError("API key is revoked or the partner terminated")
    return row.partner_id, frozenset(row.scopes.split()), row.id
