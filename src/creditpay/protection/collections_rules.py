"""Fair collections contact rules (pure) and the contact log (right to fair dealing).

:func:`may_contact` decides one contact attempt from plain data and names the rule:

1. ``no_third_party``: only the debtor may be contacted; never family, friends, employers
   or contacts from an address book (no disclosure of the debt to anyone else);
2. ``verified_channel``: only a channel (phone number, email, app account) the debtor has
   verified, identified by its blind index, never a number found elsewhere;
3. ``quiet_hours``: no contact in the quiet hours of the *consumer's* time zone (default
   21:00-08:00 local time, IANA zone via :mod:`zoneinfo`);
4. ``max_contacts_per_day``: at most N contacts made (allowed attempts) per local calendar
   day of the consumer (default 3), across every channel and collector.

Every rule is evaluated and reported; the first failing one (in the order above) is the
decision's ``rule``. :func:`attempt_contact` is the service: in one transaction it counts the
day's contacts from ``collection_contacts``, decides, logs the attempt with its outcome
(allowed or refused) and appends an audit record. Concurrent attempts for one customer are
serialised (PostgreSQL advisory lock; SQLite serialises writers) so the daily cap holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, func, select, text

from creditpay.credit import collections as credit_collections
from creditpay.credit.collections import (
    CollectionsReport,
    CollectionsStrategy,
    ContactDirectory,
    ContactRequest,
)
from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import ValidationError
from creditpay.i18n import N_, bilingual
from creditpay.platform import audit
from creditpay.platform.validators import check_aware, check_choice, check_count, check_reference
from creditpay.protection.tables import collection_contacts

__all__ = ["contact_log", "ContactRuleGate", "run_collections", "CHANNELS", "RECIPIENTS", "RULES", "ContactPolicy", "DEFAULT_CONTACT_POLICY",
           "ContactAttempt", "RuleCheck", "ContactDecision", "may_contact", "attempt_contact",
           "local_day", "contacts_on_day", "zone_of"]

CHANNELS = ("phone", "sms", "app_push", "email", "letter")
RECIPIENTS = ("debtor", "third_party")
RULES = ("no_third_party", "verified_channel", "quiet_hours", "max_contacts_per_day")
VERIFIED_CHANNELS_MAX = 64

# The decision's message per rule: English msgids of the gettext catalogs (creditpay.i18n).
_MESSAGES = {
    "no_third_party": N_("Only the debtor may be contacted; the debt is never disclosed to "
                         "family, friends, colleagues or address-book contacts."),
    "verified_channel": N_("Only contact details the debtor has verified may be used."),
    "quiet_hours": N_("It is within the quiet hours of the debtor's time zone."),
    "max_contacts_per_day": N_("The maximum number of contacts for the debtor's local day "
                               "has been reached."),
    "allowed": N_("Contact allowed."),
}


@dataclass(frozen=True, slots=True)
class ContactPolicy:
    version: int = 1
    contacts_per_day_max: int = 3
    quiet_start: dt.time = dt.time(21, 0)  # local time; quiet from here ...
    quiet_end: dt.time = dt.time(8, 0)  # ... until here (wraps past midnight)

    def __post_init__(self) -> None:
        check_count(self.version, "version", 1, 10**6)
        check_count(self.contacts_per_day_max, "contacts_per_day_max", 0, 50)
        for name in ("quiet_start", "quiet_end"):
            value = getattr(self, name)
            if not isinstance(value, dt.time) or value.tzinfo is not None:
                raise ValidationError("must be a local time of day without zone", field=name)

    def is_quiet(self, local: dt.time) -> bool:
        start, end = self.quiet_start, self.quiet_end
        if start == end:
            return False  # no quiet hours configured
        if start < end:
            return start <= local < end
        return local >= start or local < end


DEFAULT_CONTACT_POLICY = ContactPolicy()


@dataclass(frozen=True, slots=True)
class ContactAttempt:
    customer_id: str
    account_id: str
    collector_id: str
    channel: str
    channel_ref: str  # blind index of the number / address / app account contacted
    recipient: str  # debtor | third_party
    time_zone: str  # the consumer's IANA zone, e.g. Asia/Shanghai

    def __post_init__(self) -> None:
        check_reference(self.customer_id, "customer_id")
        check_reference(self.account_id, "account_id")
        check_reference(self.collector_id, "collector_id")
        check_choice(self.channel, CHANNELS, "channel")
        check_reference(self.channel_ref, "channel_ref")
        check_choice(self.recipient, RECIPIENTS, "recipient")
        zone_of(self.time_zone)


def zone_of(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not 1 <= len(name) <= 64:
        raise ValidationError("must be an IANA time zone name", field="time_zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {name!r}", field="time_zone") from None


def local_day(at: dt.datetime, time_zone: str) -> dt.date:
    """The consumer's calendar day at ``at``."""
    return check_aware(at, "at").astimezone(zone_of(time_zone)).date()


@dataclass(frozen=True, slots=True)
class RuleCheck:
    rule: str
    passed: bool
    figures: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ContactDecision:
    allowed: bool
    rule: str  # the first failing rule, or "allowed"
    message_zh_cn: str
    message_en: str
    local_time: str  # ISO time in the consumer's zone
    checks: tuple[RuleCheck, ...]
    policy_version: int


def may_contact(attempt: ContactAttempt, at: dt.datetime, *,
                verified_channel_refs: frozenset[str] | set[str],
                contacts_today: int,
                policy: ContactPolicy = DEFAULT_CONTACT_POLICY) -> ContactDecision:
    """Decide one contact attempt at ``at`` (pure). ``contacts_today`` counts the contacts
    already made on the consumer's local day; ``verified_channel_refs`` are the blind indexes
    of the debtor's verified channels."""
    if not isinstance(attempt, ContactAttempt):
        raise ValidationError("must be a ContactAttempt", field="attempt")
    check_aware(at, "at")
    check_count(contacts_today, "contacts_today", 0, 10**6)
    if not isinstance(verified_channel_refs, set | frozenset) or \
            len(verified_channel_refs) > VERIFIED_CHANNELS_MAX:
        raise ValidationError(f"must be a set of at most {VERIFIED_CHANNELS_MAX} blind indexes",
                              field="verified_channel_refs")
    local = at.astimezone(zone_of(attempt.time_zone))
    checks = (
        RuleCheck("no_third_party", attempt.recipient == "debtor",
                  {"recipient": attempt.recipient}),
        RuleCheck("verified_channel", attempt.channel_ref in verified_channel_refs,
                  {"channel": attempt.channel,
                   "verified_channels": len(verified_channel_refs)}),
        RuleCheck("quiet_hours", not policy.is_quiet(local.time()),
                  {"local_time": local.isoformat(timespec="minutes"),
                   "quiet_start": policy.quiet_start.isoformat(timespec="minutes"),
                   "quiet_end": policy.quiet_end.isoformat(timespec="minutes")}),
        RuleCheck("max_contacts_per_day", contacts_today < policy.contacts_per_day_max,
                  {"contacts_today": contacts_today,
                   "contacts_per_day_max": policy.contacts_per_day_max,
                   "local_date": local.date().isoformat()}),
    )
    failed = next((check.rule for check in checks if not check.passed), None)
    rule = failed or "allowed"
    message = bilingual(_MESSAGES[rule])
    return ContactDecision(failed is None, rule, message["zh"], message["en"], local.isoformat(timespec="seconds"),
                           checks, policy.version)


def contacts_on_day(tx: Tx, customer_id: str, day: dt.date) -> int:
    """Contacts made (allowed attempts) with the customer on their local ``day``."""
    return tx.conn.execute(_CONTACTS_ON_DAY, {"customer_id": customer_id,
                                              "local_date": day.isoformat()}).scalar_one()


# Constant statements (compiled once, their cache keys kept): the collections run makes an
# attempt for every account it contacts each day.
_CONTACTS_ON_DAY = select(func.count()).select_from(collection_contacts).where(
    collection_contacts.c.customer_id == bindparam("customer_id"),
    collection_contacts.c.local_date == bindparam("local_date"),
    collection_contacts.c.allowed.is_(True))
_INSERT_CONTACT = collection_contacts.insert().returning(collection_contacts.c.id)
_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def contact_log(conn: Any, account_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The contact attempts logged for a credit account, newest first (at most ``limit``,
    1..200): when, channel, recipient, the consumer's local day, allowed or the rule that
    refused it. The channel reference stays a blind index."""
    check_reference(account_id, "account_id")
    check_count(limit, "limit", 1, 200)
    c = collection_contacts.c
    rows = conn.execute(select(c.attempted_at, c.channel, c.recipient, c.collector_id,
                               c.time_zone, c.local_date, c.allowed, c.rule,
                               c.policy_version)
                        .where(c.account_id == account_id)
                        .order_by(c.attempted_at.desc(), c.id.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]


def _serialise_customer(tx: Tx, customer_id: str) -> None:
    if tx.dialect == "postgresql":
        key = int.from_bytes(hashlib.sha256(
            f"collections-contact:{customer_id}".encode()).digest()[:8], "big", signed=True)
        tx.conn.execute(_ADVISORY_LOCK, {"key": key})


def attempt_contact(tx: Tx, attempt: ContactAttempt, *,
                    verified_channel_refs: frozenset[str] | set[str],
                    policy: ContactPolicy = DEFAULT_CONTACT_POLICY) -> ContactDecision:
    """Decide a contact attempt at business time ``tx.now``, log it (allowed or refused)
    and audit it. The collector may proceed only if ``decision.allowed``."""
    if not isinstance(attempt, ContactAttempt):
        raise ValidationError("must be a ContactAttempt", field="attempt")
    _serialise_customer(tx, attempt.customer_id)
    day = local_day(tx.now, attempt.time_zone)
    decision = may_contact(attempt, tx.now, verified_channel_refs=verified_channel_refs,
                           contacts_today=contacts_on_day(tx, attempt.customer_id, day),
                           policy=policy)
    contact_id = tx.conn.execute(_INSERT_CONTACT, dict(
        customer_id=attempt.customer_id, account_id=attempt.account_id,
        collector_id=attempt.collector_id, channel=attempt.channel,
        channel_ref=attempt.channel_ref, recipient=attempt.recipient, attempted_at=tx.now,
        time_zone=attempt.time_zone, local_date=day.isoformat(), allowed=decision.allowed,
        rule=decision.rule, policy_version=policy.version,
    )).scalar_one()
    audit.append(tx, "staff" if not attempt.collector_id.startswith("system") else "system",
                 attempt.collector_id,
                 "collections.contact_allowed" if decision.allowed else
                 "collections.contact_refused", "account", attempt.account_id,
                 {"contact_id": contact_id, "customer_id": attempt.customer_id,
                  "channel": attempt.channel, "recipient": attempt.recipient,
                  "rule": decision.rule, "local_time": decision.local_time,
                  "checks": {check.rule: check.passed for check in decision.checks},
                  "policy_version": policy.version})
    return decision


@dataclass(frozen=True)
class ContactRuleGate:
    """These rules as the collections workflow takes them
    (:class:`creditpay.credit.collections.ContactRules`), under ``policy``."""

    policy: ContactPolicy = DEFAULT_CONTACT_POLICY

    def attempt(self, tx: Tx, request: ContactRequest, *,
                verified_channel_refs: frozenset[str]) -> ContactDecision:
        """:func:`attempt_contact` of the debtor contact ``request`` (its data is checked,
        ValidationError naming the field, before anything is written)."""
        attempt = ContactAttempt(
            customer_id=request.customer_id, account_id=request.account_id,
            collector_id=request.collector_id, channel=request.channel,
            channel_ref=request.channel_ref, recipient="debtor", time_zone=request.time_zone)
        return attempt_contact(tx, attempt, verified_channel_refs=verified_channel_refs,
                               policy=self.policy)


def run_collections(uow: UnitOfWork, business_date: dt.date, *,
                    policy: ContactPolicy = DEFAULT_CONTACT_POLICY, currency: str = "CNY",
                    strategy: CollectionsStrategy | None = None,
                    directory: ContactDirectory | None = None,
                    batch_size: int | None = None) -> CollectionsReport:
    """The daily collections run (:func:`creditpay.credit.collections.run_collections`)
    with every contact under these rules and ``policy``: what the CLI, the nightly jobs and
    the simulator run."""
    return credit_collections.run_collections(
        uow, business_date, rules=ContactRuleGate(policy), currency=currency,
        strategy=strategy, directory=directory, batch_size=batch_size)
