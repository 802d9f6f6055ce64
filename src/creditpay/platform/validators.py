"""Input checks shared by the consumer-protection modules: each raises ValidationError naming
the field, before anything is written."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal

from creditpay.errors import ValidationError
from creditpay.money import AMOUNT_MINOR_MAX
from creditpay.platform.logging_filter import find_pii

__all__ = ["LANGUAGES", "check_reference", "check_choice", "check_language", "check_date",
           "check_aware",
           "check_minor", "check_rate", "check_count"]

LANGUAGES = ("zh-CN", "en")
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


def check_reference(value: object, field: str) -> str:
    """An internal id (customer, partner, offer, account): 1-64 of ``A-Za-z0-9_.:-``.

    A value that looks like a phone, resident ID, card number or email is refused: people are
    referenced by internal ids, never by personal data.
    """
    if not isinstance(value, str) or not _REFERENCE.fullmatch(value):
        raise ValidationError("must be an id of 1-64 letters, digits or _.:- "
                              "(starting with a letter or digit)", field=field)
    if find_pii(value, strict=True):
        raise ValidationError("looks like personal data; use the internal id", field=field)
    return value


def check_choice(value: object, allowed: Iterable[str], field: str) -> str:
    options = tuple(allowed)
    if not isinstance(value, str) or value not in options:
        raise ValidationError(f"must be one of {', '.join(options)}; got {value!r}", field=field)
    return value


def check_language(value: object, field: str = "language") -> str:
    return check_choice(value, LANGUAGES, field)


def check_date(value: object, field: str) -> dt.date:
    """A calendar date (a datetime is refused: its time of day would be dropped silently)."""
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise ValidationError("must be a date", field=field)
    return value


def check_aware(value: object, field: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None \
            or value.utcoffset() is None:
        raise ValidationError("must be a timezone-aware datetime", field=field)
    return value


def check_minor(value: object, field: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("must be an integer number of minor units", field=field)
    if not minimum <= value <= AMOUNT_MINOR_MAX:
        raise ValidationError(f"must be at least {minimum} minor units", field=field)
    return value


def check_rate(value: object, field: str, maximum: Decimal = Decimal(10)) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise ValidationError("must be a Decimal (floats are refused)", field=field)
    value = Decimal(value)
    if not value.is_finite() or not 0 <= value <= maximum:
        raise ValidationError(f"must be between 0 and {maximum}", field=field)
    return value


def check_count(value: object, field: str, minimum: int = 0, maximum: int = 10**9) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValidationError(f"must be an integer from {minimum} to {maximum}", field=field)
    return value
