"""Masking personal data and secrets in log records, and the PII detectors the audit log
reuses.

:class:`PiiLogFilter` renders each record's message with its arguments first (an ``int``
phone number passed as ``%d`` is PII too), masks Chinese resident ID numbers, card numbers
(13-19 digits, optionally grouped by spaces or dashes, and Luhn-valid), phone numbers and
email addresses, then stores the masked text as the message with no arguments. Exception
text, stack text and string ``extra`` fields are masked the same way.

Secrets are redacted by their format before that: bearer credentials
(``Authorization: Bearer ...``), creditpay's signed tokens (``v1.<claims>.<mac>``) and other
JWT-shaped tokens, refresh tokens (``rt_...``), merchant and operator API keys
(``cpk<prefix>_<secret>``, ``cpo...``: the prefix is a lookup id and stays readable) and
webhook signing secrets (``whsec_...``); and by their name, whatever their format: the value
of ``password``, ``secret``, ``token``, ``api_key`` and similar keys in ``key=value``,
``key: value``, JSON and Python-dict forms.

Masking is deliberately eager in logs: a false positive costs a few unreadable digits, a
false negative leaks personal data into every log sink and backup.

:func:`install_pii_log_filter` on the root logger also installs a log record factory that
masks every record when it is created, so handlers added later (``uvicorn.run`` configures
its own after the app is built), Python's last-resort stderr handler, and records that child
loggers propagate past a filtered logger are covered too. ``extra`` fields are attached after
the factory has run: the filters on loggers and handlers mask those.

:func:`mask_event_dict` is the same masking as a structlog processor: the last step before a
line is rendered (:mod:`creditpay.platform.logs`), it masks every text and number value of
the event, nested ones included, so nothing personal reaches a line whatever logged it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from creditpay.platform.masking import mask_card, mask_email, mask_id_number, mask_phone

__all__ = [
    "PiiLogFilter",
    "REDACTED",
    "redact_secrets",
    "PiiMatch",
    "install_pii_log_filter",
    "find_pii",
    "mask_pii_text",
    "luhn_valid",
    "cn_id_checksum_valid",
    "mask_event_dict",
]

REDACTED = "[REDACTED]"

# Secrets by format. Token characters: base64url plus the separators signed tokens use.
_CREDENTIAL_START = r"(?<![A-Za-z0-9_-])"
_SECRET_FORMATS = re.compile(
    r"(?P<scheme>\b(?:(?i:bearer)|Basic)[ \t]+)[A-Za-z0-9._~+/=-]{8,}"
    rf"|{_CREDENTIAL_START}(?P<key_prefix>cp[a-z][0-9a-f]{{16}})_[A-Za-z0-9_-]{{16,}}"
    rf"|{_CREDENTIAL_START}(?P<kind>whsec_|rt_)[A-Za-z0-9_-]{{16,}}"
    rf"|{_CREDENTIAL_START}(?P<signed>v1\.)[A-Za-z0-9_-]{{8,}}\.[A-Za-z0-9_-]{{16,}}"
    rf"|{_CREDENTIAL_START}eyJ[A-Za-z0-9_-]{{8,}}\.[A-Za-z0-9_-]{{8,}}\.[A-Za-z0-9_-]{{8,}}")
# Secrets by name: the value after a sensitive key: ``key=value`` (bare or quoted), and
# ``"key": "value"`` (JSON, Python dicts). A bare value after a colon is left alone: in
# "password: must be 8..64 characters" (a validation error) it is prose, not a password.
_SENSITIVE_KEY_NAMES = (r"password|passwd|passphrase|pwd|secret|client_secret|webhook_secret"
                r"|api_key|apikey|access_token|refresh_token|id_token|token|step_up_code|otp")
_QUOTED = r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'"""
# A bare value runs to the next "name=", a delimiter or the end of the line, spaces included:
# "password=correct horse battery" is one value.
_BARE = (r"(?:\[REDACTED\]|[^,;&\n}\])'\"])+?"
         r"(?=[ \t]+[A-Za-z_][A-Za-z0-9_.-]*[ \t]*=|[,;&\n}\])'\"]|$)")
_SECRET_PAIRS = re.compile(
    rf"(?i)(?P<key>(?<![A-Za-z0-9_])[\"']?(?:{_SENSITIVE_KEY_NAMES})[\"']?)"
    rf"(?:(?P<equals>[ \t]*=[ \t]*)(?P<bare>{_QUOTED}|{_BARE})"
    rf"|(?P<colon>[ \t]*:[ \t]*)(?P<quoted>{_QUOTED}))")


def _redact_format(match: re.Match[str]) -> str:
    if match.group("scheme"):
        return match.group("scheme") + REDACTED
    kept = match.group("key_prefix")
    if kept:
        return f"{kept}_{REDACTED}"
    return (match.group("kind") or match.group("signed") or "") + REDACTED


def _redact_pair(match: re.Match[str]) -> str:
    separator = match.group("equals") or match.group("colon")
    value = match.group("bare") or match.group("quoted")
    quote = value[0] if value[0] in "\"'" and len(value) >= 2 else ""
    return f"{match.group('key')}{separator}{quote}{REDACTED}{quote}"


def redact_secrets(text: str) -> str:
    """``text`` with bearer credentials, tokens, API keys, webhook secrets and the values of
    password-like keys replaced by ``[REDACTED]``."""
    return _SECRET_PAIRS.sub(_redact_pair, _SECRET_FORMATS.sub(_redact_format, text))


_DIGIT_LEFT, _DIGIT_RIGHT = r"(?<!\d)", r"(?!\d)"
_ALNUM_LEFT, _ALNUM_RIGHT = r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])"

_CN_ID = (r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]")
_CARD = r"\d(?:[ -]?\d){12,18}"
_PHONE = (r"(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}"  # Chinese mobile, optionally grouped
          r"|\+[1-9]\d{7,14}")  # any E.164 number written with its +
# The lookbehind anchors a match at the start of a run of local-part characters; without it
# a long run with no "@" is rescanned from every position (quadratic time on big messages).
_EMAIL = r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"

_KINDS = ("id_number", "card", "phone", "email")


def _compile(left: str, right: str
             ) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    # One alternation, ID first: an 18-digit ID would otherwise be taken for a card number.
    combined = re.compile(
        f"(?P<id_number>{left}(?:{_CN_ID}){right})"
        f"|(?P<card>{left}{_CARD}{right})"
        f"|(?P<phone>{left}(?:{_PHONE}){right})"
        f"|(?P<email>{_EMAIL})")
    # What every match but an email's holds: eight digits each after at most one space or
    # dash (ID numbers hold 17 in a row, card numbers 13 and Chinese mobiles 11, so grouped;
    # a "+" number 8 in a row), the first at the same left boundary as the match's (after
    # a "+" or "86" prefix, still a non-alphanumeric or a digit that is itself at one). A
    # text without it and without an "@" has no match: find_pii answers [] without running
    # the alternation (most texts checked are ids and codes, where it is the whole cost).
    # The same \d as the patterns' (any Unicode decimal digit), so the verdicts are the
    # alternation's: tests/platform/test_find_pii_prefilter.py compares on generated texts.
    candidate = re.compile(f"{left}\\d(?:[ -]?\\d){{7}}")
    return combined, re.compile(f"{left}(?:{_PHONE}){right}"), candidate


_EAGER = _compile(_DIGIT_LEFT, _DIGIT_RIGHT)  # logs: "tel13812345678" is still a phone
_STRICT = _compile(_ALNUM_LEFT, _ALNUM_RIGHT)  # audit checks: hex hashes are not phones


def luhn_valid(digits: str) -> bool:
    """The ISO/IEC 7812 check digit test used by every payment card number."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def cn_id_checksum_valid(value: str) -> bool:
    """GB 11643-1999 ISO 7064 MOD 11-2 check character of an 18-character resident ID."""
    text = value.upper()
    if len(text) != 18 or not text[:17].isdigit():
        return False
    total = sum(int(char) * weight for char, weight in zip(text[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == text[17]


@dataclass(frozen=True)
class PiiMatch:
    """One piece of personal data found in a text: its kind and span."""

    kind: str
    start: int
    end: int
    text: str


def find_pii(text: str, *, strict: bool = False) -> list[PiiMatch]:
    """Personal data in ``text``, left to right, without overlaps.

    ``strict=False`` (logs) treats any non-digit as a boundary; ``strict=True`` (audit payload
    checks, which reject instead of mask) needs a non-alphanumeric boundary and a valid ID
    checksum, so identifiers such as hex digests are not mistaken for phone numbers.
    """
    combined, phone, candidate = _STRICT if strict else _EAGER
    if candidate.search(text) is None and "@" not in text:
        return []
    found: list[PiiMatch] = []
    for match in combined.finditer(text):
        kind = match.lastgroup or ""
        value = match.group(0)
        if kind == "card" and not luhn_valid(re.sub(r"\D", "", value)):
            # Not a card, but the digit run may hold a phone number ("8613812345678", or
            # "138 1234 5678" followed by more digits), which the alternation skipped.
            found.extend(PiiMatch("phone", match.start() + inner.start(),
                                  match.start() + inner.end(), inner.group(0))
                         for inner in phone.finditer(value))
            continue
        if kind == "id_number" and strict and not cn_id_checksum_valid(value):
            continue
        found.append(PiiMatch(kind, match.start(), match.end(), value))
    return found


_MASKERS = {
    "id_number": mask_id_number,
    "card": mask_card,
    "phone": mask_phone,
    "email": mask_email,
}


def mask_pii_text(text: str) -> str:
    """``text`` with secrets redacted (:func:`redact_secrets`) and every phone, ID number,
    card number and email masked."""
    text = redact_secrets(text)
    matches = find_pii(text)
    if not matches:
        return text
    parts: list[str] = []
    cursor = 0
    for match in matches:
        parts.append(text[cursor:match.start])
        parts.append(_MASKERS[match.kind](match.text))
        cursor = match.end
    parts.append(text[cursor:])
    return "".join(parts)


# Attributes every LogRecord has; anything else came from ``extra=`` and is masked if text.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName"}


class PiiLogFilter(logging.Filter):
    """Masks personal data in a record in place; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict) and not record.args:
            # A structlog event on its way to its formatter (creditpay.platform.logs): keep
            # it a dict, with every value masked.
            record.msg = {key: _mask_field(key, value) for key, value in record.msg.items()}
        elif not _mask_record_in_place(record):
            try:
                message = record.getMessage()
            except (TypeError, ValueError, KeyError):
                # A malformed format string must not let the raw arguments through unmasked.
                message = f"{record.msg} {record.args!r}"
            record.msg = mask_pii_text(message)
            record.args = ()
        if record.exc_info and not record.exc_text:
            # Formatter.format() reuses exc_text when set, so the masked text is what prints.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_pii_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_pii_text(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, mask_pii_text(value))
        return True


def _mask_arg(value: object) -> object:
    if isinstance(value, str):
        return mask_pii_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
        masked = mask_pii_text(text)
        return value if masked == text else masked
    return value


def _mask_record_in_place(record: logging.LogRecord) -> bool:
    """Mask the message template and each argument, keeping the arguments' shape.

    Formatters that read ``record.args`` themselves (uvicorn's access log unpacks five of
    them) keep working. Returns False when that cannot be done safely (non-string template,
    or the masked arguments no longer fit the template), and the caller then collapses the
    whole message into one masked string instead.
    """
    if not isinstance(record.msg, str):
        return False
    args = record.args
    if isinstance(args, tuple):
        masked_args: object = tuple(_mask_arg(a) for a in args)
    elif isinstance(args, dict):
        masked_args = {k: _mask_arg(v) for k, v in args.items()}
    elif args is None:
        masked_args = None
    else:
        return False
    template = mask_pii_text(record.msg)
    try:
        rendered = template % masked_args if masked_args else template
    except (TypeError, ValueError, KeyError):
        return False
    if mask_pii_text(rendered) != rendered:  # PII split across template and arguments
        return False
    record.msg, record.args = template, masked_args  # type: ignore[assignment]
    return True


def install_pii_log_filter(logger: logging.Logger | None = None) -> PiiLogFilter:
    """Attach one :class:`PiiLogFilter` to ``logger`` (root by default) and its handlers.

    A logger's own filters only see records logged on that logger, not records propagated
    from its children, while a handler's filters see everything it emits; so the filter goes
    on both. On the root logger (``logger=None``) it also installs, once per process, a log
    record factory that masks every record as it is created: that covers handlers added
    later, the last-resort handler and propagated records (but not ``extra`` fields, which
    are attached after creation: handlers added later need ``handler.addFilter(returned)``
    for those).
    """
    is_root = logger is None or logger is logging.getLogger()
    logger = logging.getLogger() if logger is None else logger
    pii_filter = next((f for f in logger.filters if isinstance(f, PiiLogFilter)), None)
    if pii_filter is None:
        pii_filter = PiiLogFilter()
        logger.addFilter(pii_filter)
    for handler in logger.handlers:
        # A handler whose formatter masks every field itself (creditpay.platform.logs) needs
        # no second pass.
        if getattr(handler, "masks_pii", False):
            continue
        if not any(isinstance(f, PiiLogFilter) for f in handler.filters):
            handler.addFilter(pii_filter)
    if is_root:
        _install_masking_record_factory()
    return pii_filter


def _install_masking_record_factory() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "masks_pii", False):
        return
    masker = PiiLogFilter()

    def masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        masker.filter(record)
        return record

    masking_factory.masks_pii = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masking_factory)


_SMALL = 10**9
# Fields the logging processors set themselves (creditpay.platform.logs), after and over
# anything a caller passed: an ISO timestamp, a level name, a logger's name in the code.
_PROCESSOR_FIELDS = frozenset({"timestamp", "level", "logger"})
_SENSITIVE_KEY = re.compile(rf"(?i)(?:{_SENSITIVE_KEY_NAMES}|authorization|cookie)")


def _mask_field(key: object, value: object) -> object:
    """A field's value masked; a field named like a secret (``password``, ``token``...) is
    redacted whatever its value."""
    if isinstance(key, str) and _SENSITIVE_KEY.fullmatch(key) and value is not None:
        return REDACTED
    return _mask_value(value)


def _mask_value(value: object) -> object:
    if isinstance(value, str):
        return mask_pii_text(value)
    if isinstance(value, dict):
        return {key: _mask_field(key, item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask_value(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Fewer than 10 digits before the point: no phone, ID or card number fits.
        return value if -_SMALL < value < _SMALL else _mask_arg(value)
    if value is None or isinstance(value, bool):
        return value
    # Anything else is rendered by the JSON renderer with str(): mask that text now.
    return mask_pii_text(str(value))


def mask_event_dict(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
                    ) -> MutableMapping[str, Any]:
    """structlog processor: every value of the event masked (:func:`mask_pii_text`); keys
    starting with ``_`` (structlog's own, such as the stdlib record) are left to structlog.
    Run it after the exception is formatted (``format_exc_info``) so the traceback text is
    masked too."""
    for key, value in list(event_dict.items()):
        if not key.startswith("_") and key not in _PROCESSOR_FIELDS:
            event_dict[key] = _mask_field(key, value)
    return event_dict
