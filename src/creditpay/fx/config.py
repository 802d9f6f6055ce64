"""The FX desk's versioned configuration (issue #21): the currencies quoted, the markup per
currency pair, the quote lock, and the consumer limits in the home currency.

Packaged as ``fx_config.json`` with a ``version``; :func:`load_fx_config` reads and validates
it (a bad document is a ValidationError naming the field), the bootstrap loads it once per
process (``Services.fx_config``) and passes it in. Every quote records the version that
priced it (``fx_quotes.markup_version``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from creditpay.errors import ValidationError
from creditpay.fx.core import check_markup_bps
from creditpay.money import validate_currency

__all__ = ["FxConfig", "FxLimits", "load_fx_config", "parse_fx_config"]


@dataclass(frozen=True)
class FxLimits:
    """Limits on what one customer buys abroad, in ``currency`` (the home currency) minor
    units: per transaction, and per business day (the sum of the quotes used that day)."""

    currency: str
    per_transaction_minor: int
    daily_minor: int

    def as_dict(self) -> dict[str, Any]:
        return {"currency": self.currency, "per_transaction_minor": self.per_transaction_minor,
                "daily_minor": self.daily_minor}


@dataclass(frozen=True)
class FxConfig:
    version: str
    home_currency: str
    quote_lock_minutes: int
    default_markup_bps: int
    currencies: tuple[str, ...]
    markups: dict[tuple[str, str], int]  # (sell, buy) -> markup_bps
    limits: FxLimits
    source: str = field(default="packaged", compare=False)
    # A quote refuses a mid rate older than this many days (a feed that stopped must not
    # price payments on last month's rate); 3 covers a weekend without a fixing.
    rate_max_age_days: int = 3

    def markup_bps(self, sell_currency: str, buy_currency: str) -> int:
        """The markup of the pair, else the default markup."""
        return self.markups.get((sell_currency, buy_currency), self.default_markup_bps)

    def check_currency(self, currency: object, field_name: str) -> str:
        """An ISO 4217 code the desk quotes, or a ValidationError naming ``field_name``."""
        code = validate_currency(currency, field_name)
        if code not in self.currencies:
            raise ValidationError(f"{code} is not a currency the FX desk quotes; use one of "
                                  f"{', '.join(self.currencies)}", field=field_name)
        return code

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "home_currency": self.home_currency,
            "quote_lock_minutes": self.quote_lock_minutes,
            "default_markup_bps": self.default_markup_bps,
            "currencies": list(self.currencies),
            "markups": [{"sell": sell, "buy": buy, "markup_bps": bps}
                        for (sell, buy), bps in sorted(self.markups.items())],
            "limits": self.limits.as_dict(),
            "rate_max_age_days": self.rate_max_age_days,
        }


def _int(value: object, field_name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"must be an integer of at least {minimum}", field=field_name)
    return value


def parse_fx_config(document: object, *, source: str = "packaged") -> FxConfig:
    """Validate a configuration document (the JSON's object); errors name the field."""
    if not isinstance(document, dict):
        raise ValidationError("must be a JSON object", field="fx_config")
    version = document.get("version")
    if not isinstance(version, str) or not 1 <= len(version) <= 64:
        raise ValidationError("must be a version string of 1-64 characters", field="version")
    home = validate_currency(document.get("home_currency"), "home_currency")
    lock = _int(document.get("quote_lock_minutes"), "quote_lock_minutes", 1)
    default_bps = check_markup_bps(document.get("default_markup_bps"), "default_markup_bps")
    raw_currencies = document.get("currencies")
    if not isinstance(raw_currencies, list) or not raw_currencies:
        raise ValidationError("must be a non-empty list of ISO 4217 codes", field="currencies")
    currencies = tuple(validate_currency(c, f"currencies[{i}]")
                       for i, c in enumerate(raw_currencies))
    if home not in currencies:
        raise ValidationError(f"must include the home currency {home}", field="currencies")
    markups: dict[tuple[str, str], int] = {}
    raw_markups = document.get("markups", [])
    if not isinstance(raw_markups, list):
        raise ValidationError("must be a list", field="markups")
    for i, item in enumerate(raw_markups):
        where = f"markups[{i}]"
        if not isinstance(item, dict):
            raise ValidationError("must be an object", field=where)
        sell = validate_currency(item.get("sell"), f"{where}.sell")
        buy = validate_currency(item.get("buy"), f"{where}.buy")
        for code, name in ((sell, "sell"), (buy, "buy")):
            if code not in currencies:
                raise ValidationError(f"{code} is not in currencies", field=f"{where}.{name}")
        if sell == buy:
            raise ValidationError("must differ from sell", field=f"{where}.buy")
        if (sell, buy) in markups:
            raise ValidationError(f"repeats the pair {sell}/{buy}", field=where)
        markups[(sell, buy)] = check_markup_bps(item.get("markup_bps"), f"{where}.markup_bps")
    raw_limits = document.get("limits")
    if not isinstance(raw_limits, dict):
        raise ValidationError("must be an object", field="limits")
    limits_currency = validate_currency(raw_limits.get("currency"), "limits.currency")
    if limits_currency != home:
        raise ValidationError(f"must be the home currency {home}", field="limits.currency")
    limits = FxLimits(limits_currency,
                      _int(raw_limits.get("per_transaction_minor"),
                           "limits.per_transaction_minor", 1),
                      _int(raw_limits.get("daily_minor"), "limits.daily_minor", 1))
    max_age = _int(document.get("rate_max_age_days", 3), "rate_max_age_days", 0)
    return FxConfig(version, home, lock, default_bps, currencies, markups, limits, source,
                    max_age)


def load_fx_config(path: str | Path | None = None) -> FxConfig:
    """The configuration at ``path``, else the packaged ``fx_config.json``."""
    if path is None:
        text = resources.files("creditpay.fx").joinpath("fx_config.json").read_text("utf-8")
        source = "packaged"
    else:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ValidationError(f"cannot read {path}: {exc.strerror}",
                                  field="fx_config") from None
        source = str(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"is not JSON (line {exc.lineno}, column {exc.colno}): "
                              f"{exc.msg}", field="fx_config") from None
    return parse_fx_config(document, source=source)
