"""Purpose-specific consent: versioned texts, grants and revocations, and the gate other
domains call before they use personal data (right to privacy, docs/consumer-protection.md).

* Texts are versioned documents (``templates/consent_texts.yaml``, zh-CN and en). A grant
  records the purpose, the text version, the language and the SHA-256 of the exact text
  shown (the partner lender's name included), the channel and the business time.
* The table is append-only: a revocation is a new row, so the history is complete and the
  current state of (customer, purpose, partner) is its latest row.
* :func:`require_consent` is what a bureau pull, a data share with a partner lender or an
  auto-debit calls first; it raises :class:`ConsentRequiredError` naming the purpose and the
  rule (``consent.never_granted``, ``consent.revoked``, ``consent.outdated_text``).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, Row, bindparam, select

from creditpay.db.uow import Tx
from creditpay.errors import (
    ConsentRequiredError,
    IdempotencyConflictError,
    NotFoundError,
    StateError,
    ValidationError,
)
from creditpay.i18n import NC_, bilingual, translate
from creditpay.platform import audit
from creditpay.platform.validators import (
    LANGUAGES,
    check_choice,
    check_language,
    check_reference,
)
from creditpay.protection.tables import consent_records

__all__ = [
    "Purpose",
    "consent_histories",
    "in_force_refusal",
    "CHANNELS",
    "ConsentText",
    "ConsentRecord",
    "ConsentState",
    "consent_text",
    "grant_consent",
    "revoke_consent",
    "require_consent",
    "current_consents",
    "consent_history",
    "TEXTS_PATH",
]

TEXTS_PATH = Path(__file__).parent / "templates" / "consent_texts.yaml"
CHANNELS = ("app", "web", "ivr", "paper")
PARTNER_NAME_CHARS_MAX = 128
HISTORY_ROWS_MAX = 10_000  # a listing is bounded; a customer has a few dozen rows in practice


class Purpose(enum.StrEnum):
    CREDIT_ASSESSMENT = "credit_assessment"
    BUREAU_INQUIRY = "bureau_inquiry"
    SHARE_PAYMENT_DATA_WITH_PARTNER = "share_payment_data_with_partner"
    AUTO_DEBIT = "auto_debit"
    MARKETING = "marketing"

    @property
    def needs_partner(self) -> bool:
        return self is Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER


# A purpose as the consent-required message names it: English msgids of the gettext
# catalogs (creditpay.i18n), in the context "consent purpose" (a phrase inside a sentence).
# Not the consent texts themselves: those are versioned documents (templates/).
_PURPOSE_CONTEXT = "consent purpose"
_PURPOSE_NAMES = {
    Purpose.CREDIT_ASSESSMENT: NC_("consent purpose", "credit assessment"),
    Purpose.BUREAU_INQUIRY: NC_("consent purpose", "credit bureau inquiry and reporting"),
    Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER: NC_("consent purpose",
                                                 "sharing payment data with a partner lender"),
    Purpose.AUTO_DEBIT: NC_("consent purpose", "automatic debit"),
    Purpose.MARKETING: NC_("consent purpose", "marketing messages"),
}


@dataclass(frozen=True, slots=True)
class ConsentText:
    purpose: Purpose
    version: int
    language: str
    text: str
    sha256: str  # of text.encode("utf-8")


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    id: int
    customer_id: str
    purpose: Purpose
    partner_id: str | None
    partner_name: str | None
    action: str  # grant | revoke
    text_version: int
    language: str
    text_sha256: str
    channel: str
    recorded_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ConsentState:
    """Current state of one (purpose, partner) for a customer: its latest record."""

    purpose: Purpose
    partner_id: str | None
    granted: bool
    valid: bool  # granted and the text version is still accepted
    text_version: int
    since: dt.datetime
    record_id: int


# ----- texts --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _PurposeTexts:
    current_version: int
    minimum_valid_version: int
    versions: dict[int, dict[str, str]]


@lru_cache(maxsize=4)
def _load_texts(path: Path = TEXTS_PATH) -> dict[Purpose, _PurposeTexts]:
    """Load and validate the consent text document (every purpose, version and language)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    purposes = document.get("purposes") if isinstance(document, dict) else None
    if not isinstance(purposes, dict):
        raise ValidationError("needs a 'purposes' mapping", field=f"{path.name}.purposes")
    loaded: dict[Purpose, _PurposeTexts] = {}
    for purpose in Purpose:
        where = f"{path.name}.purposes.{purpose.value}"
        entry = purposes.get(purpose.value)
        if not isinstance(entry, dict) or not isinstance(entry.get("versions"), dict):
            raise ValidationError("missing, or without versions", field=where)
        versions: dict[int, dict[str, str]] = {}
        for version, texts in entry["versions"].items():
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise ValidationError("versions are positive integers", field=where)
            for language in LANGUAGES:
                text = texts.get(language) if isinstance(texts, dict) else None
                if not isinstance(text, str) or not text.strip():
                    raise ValidationError(f"missing {language} text",
                                          field=f"{where}.versions.{version}")
                has_partner = "${partner_name}" in text
                if has_partner != purpose.needs_partner:
                    raise ValidationError("the partner lender must be named in the text of "
                                          "this purpose and only of it",
                                          field=f"{where}.versions.{version}.{language}")
            versions[version] = {language: texts[language] for language in LANGUAGES}
        current = entry.get("current_version")
        minimum = entry.get("minimum_valid_version")
        if current not in versions or minimum not in versions or minimum > current:
            raise ValidationError("current_version and minimum_valid_version must be listed "
                                  "versions, minimum <= current", field=where)
        loaded[purpose] = _PurposeTexts(current, minimum, versions)
    return loaded


def _parse_purpose(value: object) -> Purpose:
    try:
        return Purpose(value)  # type: ignore[arg-type]
    except ValueError:
        raise ValidationError(f"unknown purpose {value!r}; use one of "
                              f"{', '.join(p.value for p in Purpose)}", field="purpose") from None


def _check_partner(purpose: Purpose, partner_id: object, partner_name: object = None,
                   need_name: bool = False) -> tuple[str, str]:
    if not purpose.needs_partner:
        if partner_id is not None:
            raise ValidationError(f"purpose {purpose.value} is not tied to a partner lender",
                                  field="partner_id")
        if partner_name is not None:
            raise ValidationError(f"purpose {purpose.value} is not tied to a partner lender",
                                  field="partner_name")
        return "", ""
    if partner_id is None:
        raise ValidationError(f"purpose {purpose.value} must name the partner lender",
                              field="partner_id")
    check_reference(partner_id, "partner_id")
    if need_name:
        if not isinstance(partner_name, str) or not partner_name.strip() or \
                len(partner_name) > PARTNER_NAME_CHARS_MAX or "\n" in partner_name:
            raise ValidationError(f"must be the lender's name, 1-{PARTNER_NAME_CHARS_MAX} "
                                  "characters on one line", field="partner_name")
        return partner_id, partner_name.strip()  # type: ignore[return-value]
    return partner_id, ""  # type: ignore[return-value]


def _check_registered_partner(conn: Connection, partner_id: str, partner_name: str) -> None:
    """A data-sharing consent names a partner lender the platform has onboarded, by the name
    it is registered under (the consumer agrees to share with *that* legal entity, so the
    name in the text must be its own, not one the client chose); a terminated partner
    takes no new consent. ValidationError naming ``partner_id`` or ``partner_name``."""
    from creditpay.parties.partners import get_partner

    registered_partner_name(conn, partner_id)
    partner = get_partner(conn, partner_id)
    if partner.status == "terminated":
        raise ValidationError(f"partner lender {partner_id} no longer works with the platform",
                              field="partner_id")
    if partner_name != partner.name:
        raise ValidationError(f"is not the name partner lender {partner_id} is registered "
                              f"under ({partner.name})", field="partner_name")


def registered_partner_name(conn: Connection, partner_id: object) -> str:
    """The name partner lender ``partner_id`` is registered under: the one its consent text
    must carry. ValidationError naming ``partner_id`` for an unknown one."""
    from creditpay.errors import NotFoundError
    from creditpay.parties.partners import get_partner

    try:
        return get_partner(conn, partner_id).name
    except (NotFoundError, ValidationError):
        raise ValidationError(f"no partner lender {partner_id}", field="partner_id") from None


def consent_text(purpose: Purpose | str, language: str, version: int | None = None,
                 partner_name: str | None = None) -> ConsentText:
    """The exact text to show for ``purpose`` in ``language`` (``zh-CN`` or ``en``), at
    ``version`` (default: the current one), with its SHA-256. The partner-sharing purpose
    needs ``partner_name``: the lender is named in the text and therefore in the hash."""
    purpose = _parse_purpose(purpose)
    check_language(language)
    texts = _load_texts()[purpose]
    chosen = texts.current_version if version is None else version
    if chosen not in texts.versions:
        raise NotFoundError(f"no version {chosen!r} of the {purpose.value} consent text",
                            field="text_version")
    raw = texts.versions[chosen][language]
    if purpose.needs_partner:
        _, name = _check_partner(purpose, "partner", partner_name, need_name=True)
        raw = string.Template(raw).substitute(partner_name=name)
    elif partner_name is not None:
        raise ValidationError(f"purpose {purpose.value} is not tied to a partner lender",
                              field="partner_name")
    return ConsentText(purpose, chosen, language, raw,
                       hashlib.sha256(raw.encode("utf-8")).hexdigest())


# ----- records ------------------------------------------------------------------------------
def _record(row: Row[Any]) -> ConsentRecord:
    return ConsentRecord(
        id=row.id, customer_id=row.customer_id, purpose=Purpose(row.purpose),
        partner_id=row.partner_id or None, partner_name=row.partner_name or None,
        action=row.action, text_version=row.text_version, language=row.language,
        text_sha256=row.text_sha256, channel=row.channel, recorded_at=row.recorded_at)


# A constant statement (checked on every credit quote, application and auto-debit): compiled
# once, its cache key remembered, instead of a statement built per call.
_LATEST = (select(consent_records)
           .where(consent_records.c.customer_id == bindparam("customer_id"),
                  consent_records.c.purpose == bindparam("purpose"),
                  consent_records.c.partner_id == bindparam("partner_id"))
           .order_by(consent_records.c.id.desc()).limit(1))


def _latest(conn: Connection, customer_id: str, purpose: Purpose,
            partner_id: str) -> ConsentRecord | None:
    row = conn.execute(_LATEST, {"customer_id": customer_id, "purpose": purpose.value,
                                 "partner_id": partner_id}).first()
    return _record(row) if row is not None else None


def _by_request(tx: Tx, request_id: str | None, expected: dict[str, Any]) -> ConsentRecord | None:
    """The record an earlier call with this idempotency key wrote, or None."""
    if request_id is None:
        return None
    check_reference(request_id, "request_id")
    row = tx.conn.execute(select(consent_records).where(
        consent_records.c.request_id == request_id)).first()
    if row is None:
        return None
    if any(getattr(row, key) != value for key, value in expected.items()):
        raise IdempotencyConflictError("this request_id was used for a different consent "
                                       "operation", field="request_id")
    return _record(row)


# The record's insert: a constant statement built once (a consent is granted at every
# application and checked-in auto-debit).
_INSERT = consent_records.insert().returning(consent_records.c.id)


def _insert(tx: Tx, values: dict[str, Any], request_id: str | None) -> ConsentRecord:
    new_id = tx.conn.execute(_INSERT, {**values, "request_id": request_id,
                                       "recorded_at": tx.now}).scalar_one()
    audit.append(tx, "customer", values["customer_id"], f"consent.{values['action']}",
                 "customer", values["customer_id"],
                 {"consent_record_id": new_id, "purpose": values["purpose"],
                  "partner_id": values["partner_id"] or None,
                  "text_version": values["text_version"], "language": values["language"],
                  "text_sha256": values["text_sha256"], "channel": values["channel"]})
    return ConsentRecord(
        id=new_id, customer_id=values["customer_id"], purpose=Purpose(values["purpose"]),
        partner_id=values["partner_id"] or None, partner_name=values["partner_name"] or None,
        action=values["action"], text_version=values["text_version"],
        language=values["language"], text_sha256=values["text_sha256"],
        channel=values["channel"], recorded_at=tx.now.astimezone(dt.UTC))


def grant_consent(tx: Tx, *, customer_id: str, purpose: Purpose | str, language: str,
                  text_version: int, text_sha256: str, channel: str,
                  partner_id: str | None = None, partner_name: str | None = None,
                  request_id: str | None = None) -> ConsentRecord:
    """Record that ``customer_id`` agreed to the text of ``purpose`` shown in ``language``.

    ``text_sha256`` is the hash of the text the consumer's screen displayed; it must equal
    the hash of that version's text (with ``partner_name``), so a consent is never recorded
    against a text the consumer did not see. Granting the same version again while it is in
    force returns the existing record. ``request_id`` makes retries return the first result.
    """
    check_reference(customer_id, "customer_id")
    purpose = _parse_purpose(purpose)
    check_language(language)
    check_choice(channel, CHANNELS, "channel")
    partner, name = _check_partner(purpose, partner_id, partner_name, need_name=True)
    if partner:
        _check_registered_partner(tx.conn, partner, name)
    if isinstance(text_version, bool) or not isinstance(text_version, int):
        raise ValidationError("must be an integer version", field="text_version")
    shown = consent_text(purpose, language, text_version, name or None)
    if text_sha256 != shown.sha256:
        raise ValidationError("is not the SHA-256 of the text of this version and language; "
                              "show the consumer the current text and send its hash",
                              field="text_sha256")
    values = {"customer_id": customer_id, "purpose": purpose.value, "partner_id": partner,
              "partner_name": name, "action": "grant", "text_version": text_version,
              "language": language, "text_sha256": text_sha256, "channel": channel}
    earlier = _by_request(tx, request_id, {k: v for k, v in values.items()
                                           if k != "channel"})
    if earlier is not None:
        return earlier
    texts = _load_texts()[purpose]
    if text_version < texts.minimum_valid_version:
        raise ValidationError(f"version {text_version} is no longer valid; the current "
                              f"version is {texts.current_version}", field="text_version")
    latest = _latest(tx.conn, customer_id, purpose, partner)
    if latest is not None and latest.action == "grant" and \
            latest.text_sha256 == text_sha256 and latest.language == language:
        return latest
    return _insert(tx, values, request_id)


def revoke_consent(tx: Tx, *, customer_id: str, purpose: Purpose | str, channel: str,
                   partner_id: str | None = None, request_id: str | None = None
                   ) -> ConsentRecord:
    """Withdraw a consent in force: a new ``revoke`` record carrying the version and hash of
    the text being withdrawn. Raises StateError (rule ``consent.not_granted``) otherwise."""
    check_reference(customer_id, "customer_id")
    purpose = _parse_purpose(purpose)
    check_choice(channel, CHANNELS, "channel")
    partner, _ = _check_partner(purpose, partner_id)
    base = {"customer_id": customer_id, "purpose": purpose.value, "partner_id": partner,
            "action": "revoke"}
    earlier = _by_request(tx, request_id, base)
    if earlier is not None:
        return earlier
    latest = _latest(tx.conn, customer_id, purpose, partner)
    if latest is None or latest.action != "grant":
        raise StateError(f"there is no {purpose.value} consent in force to revoke",
                         field="purpose", rule="consent.not_granted")
    values = {**base, "partner_name": latest.partner_name or "",
              "text_version": latest.text_version, "language": latest.language,
              "text_sha256": latest.text_sha256, "channel": channel}
    return _insert(tx, values, request_id)


def require_consent(conn: Connection, customer_id: str, purpose: Purpose | str,
                    partner_id: str | None = None) -> ConsentRecord:
    """Return the grant in force for ``purpose`` (and ``partner_id`` for data sharing), or
    raise :class:`ConsentRequiredError` with ``field="purpose"``, ``purpose`` and ``rule``.

    Call it in the same transaction as the use it guards (bureau pull, partner data share,
    auto-debit), so a revocation committed before that transaction is always honoured.
    """
    check_reference(customer_id, "customer_id")
    purpose = _parse_purpose(purpose)
    partner, _ = _check_partner(purpose, partner_id)
    latest = _latest(conn, customer_id, purpose, partner)
    name = _PURPOSE_NAMES[purpose]
    failed = in_force_refusal([latest] if latest is not None else [], purpose, partner or None)
    if failed is None:
        assert latest is not None
        return latest
    rule, detail = failed
    if partner:
        detail += f" with partner {partner}"
    message = bilingual(
        'Your consent is needed for {purpose}. You can review it under "Me - Consents".',
        purpose={language: translate(name, language, context=_PURPOSE_CONTEXT)
                 for language in LANGUAGES})
    raise ConsentRequiredError(
        detail, field="purpose", purpose=purpose.value, partner_id=partner or None, rule=rule,
        message_zh_cn=message["zh"], message_en=message["en"])


# consent_history's read: a constant statement built once (checked at every decision).
_HISTORY = (select(consent_records).where(consent_records.c.customer_id == bindparam("customer_id"))
            .order_by(consent_records.c.id).limit(HISTORY_ROWS_MAX))


def consent_history(conn: Connection, customer_id: str) -> list[ConsentRecord]:
    """Every consent record of the customer, oldest first (what the consumer may see)."""
    check_reference(customer_id, "customer_id")
    rows = conn.execute(_HISTORY, {"customer_id": customer_id}).all()
    return [_record(row) for row in rows]


def consent_histories(conn: Connection, customer_ids: Sequence[str]
                      ) -> dict[str, list[ConsentRecord]]:
    """Every consent record of each customer, oldest first, in one read per 1,000 customers
    (batch jobs such as the close of business check thousands at once)."""
    wanted = sorted(set(customer_ids))
    for customer_id in wanted:
        check_reference(customer_id, "customer_ids")
    histories: dict[str, list[ConsentRecord]] = {c: [] for c in wanted}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start:start + 1000]
        for row in conn.execute(select(consent_records)
                                .where(consent_records.c.customer_id.in_(chunk))
                                .order_by(consent_records.c.id)):
            histories[row.customer_id].append(_record(row))
    return histories


def in_force_refusal(records: Sequence[ConsentRecord], purpose: Purpose | str,
                     partner_id: str | None = None) -> tuple[str, str] | None:
    """(rule, detail) when the customer's ``records`` (oldest first) leave no grant of
    ``purpose`` in force, as :func:`require_consent` decides; None when one is."""
    purpose = _parse_purpose(purpose)
    latest = None
    for record in records:
        if record.purpose is purpose and (record.partner_id or None) == (partner_id or None):
            latest = record
    if latest is None:
        return "consent.never_granted", f"the customer has not given consent for {purpose.value}"
    if latest.action == "revoke":
        return "consent.revoked", f"the customer revoked consent for {purpose.value}"
    if latest.text_version < _load_texts()[purpose].minimum_valid_version:
        return ("consent.outdated_text",
                f"consent for {purpose.value} was given to text version "
                f"{latest.text_version}, which is no longer valid; ask again")
    return None


def current_consents(conn: Connection, customer_id: str) -> list[ConsentState]:
    """The current state of each (purpose, partner) the customer ever answered."""
    latest: dict[tuple[Purpose, str | None], ConsentRecord] = {}
    for record in consent_history(conn, customer_id):
        latest[(record.purpose, record.partner_id)] = record
    texts = _load_texts()
    states = []
    for (purpose, partner), record in sorted(latest.items(),
                                             key=lambda item: (item[0][0].value,
                                                               item[0][1] or "")):
        granted = record.action == "grant"
        valid = granted and record.text_version >= texts[purpose].minimum_valid_version
        states.append(ConsentState(purpose, partner, granted, valid, record.text_version,
                                   record.recorded_at, record.id))
    return states
