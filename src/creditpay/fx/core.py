"""FX math (issue #21): client rates, converted amounts, markups and refunds at the original
rate. Pure: no I/O, no clock; ``Decimal`` rates, ``int`` minor-unit amounts.

Conventions used everywhere in :mod:`creditpay.fx`:

* a **rate** is *sell-currency major units per one buy-currency major unit* (CNY per JPY:
  ``0.0482``), as the issue defines ``client_rate``;
* every rate is held to :data:`RATE_PLACES` (10) decimal places, rounded half up: mid rates
  from a source are quantised when stored, and ``client_rate`` is quantised once after the
  markup is applied. Ten places keep even KRW (CNY 0.0051 per won) to nine significant
  digits, far below a minor unit on any amount the limits allow;
* every amount is rounded **half up** to the minor unit of its currency, with the ISO 4217
  exponent from :func:`creditpay.money.currency_exponent` (JPY and KRW 0, CNY 2, KWD 3).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any

from creditpay.errors import ValidationError
from creditpay.money import AMOUNT_MINOR_MAX, currency_exponent

__all__ = ["RATE_PLACES", "RATE_QUANTUM", "BPS_PER_UNIT", "quantise_rate", "check_rate",
           "check_markup_bps", "client_rate", "sell_amount_minor", "markup_minor",
           "refund_sell_minor", "invert_rate", "cross_rate", "home_value_minor",
           "PositionLine", "position_line"]

RATE_PLACES = 10
RATE_QUANTUM = Decimal(1).scaleb(-RATE_PLACES)
BPS_PER_UNIT = 10_000
# Enough digits for an amount of 19 digits times a rate of 10 places and more, exactly.
_PRECISION = 80


def quantise_rate(rate: Decimal) -> Decimal:
    """``rate`` to :data:`RATE_PLACES` decimal places, half up."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return rate.quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)


def check_rate(rate: object, field: str = "mid_rate") -> Decimal:
    """A positive, finite ``Decimal`` rate (floats are refused: they are not exact)."""
    if isinstance(rate, bool) or not isinstance(rate, Decimal):
        raise ValidationError(f"must be a Decimal rate, got {type(rate).__name__}",
                              field=field)
    if not rate.is_finite() or rate <= 0:
        raise ValidationError(f"must be a positive finite rate, got {rate}", field=field)
    return rate


def check_markup_bps(markup_bps: object, field: str = "markup_bps") -> int:
    """A markup in basis points: an int from 0 to 10,000 (100 %)."""
    if isinstance(markup_bps, bool) or not isinstance(markup_bps, int):
        raise ValidationError("must be an integer number of basis points", field=field)
    if not 0 <= markup_bps <= BPS_PER_UNIT:
        raise ValidationError(f"must be between 0 and {BPS_PER_UNIT} basis points, got "
                              f"{markup_bps}", field=field)
    return markup_bps


def _check_minor(value: object, field: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("must be an integer number of minor units", field=field)
    if not minimum <= value <= AMOUNT_MINOR_MAX:
        raise ValidationError(f"must be between {minimum} and {AMOUNT_MINOR_MAX}, got "
                              f"{value}", field=field)
    return value


def client_rate(mid_rate: Decimal, markup_bps: int) -> Decimal:
    """The rate the consumer gets: ``mid_rate × (1 + markup_bps / 10000)``, the mid moved
    against the consumer (they pay more of the sell currency per buy unit), computed exactly
    and then quantised once to :data:`RATE_PLACES` places, half up."""
    check_rate(mid_rate)
    check_markup_bps(markup_bps)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        exact = mid_rate * (Decimal(1) + Decimal(markup_bps) / Decimal(BPS_PER_UNIT))
    return quantise_rate(exact)


def sell_amount_minor(buy_amount_minor: int, buy_currency: str, sell_currency: str,
                      rate: Decimal) -> int:
    """The sell-currency amount for ``buy_amount_minor`` at ``rate`` (sell major units per
    buy major unit): the buy amount in major units times the rate, rounded half up to the
    sell currency's minor unit. JPY 100000 at CNY 0.0482 is CNY 4820.00: ``482000``."""
    _check_minor(buy_amount_minor, "buy_amount_minor")
    check_rate(rate, "rate")
    buy_places = currency_exponent(buy_currency)
    sell_places = currency_exponent(sell_currency)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        exact = Decimal(buy_amount_minor).scaleb(sell_places - buy_places) * rate
        try:
            minor = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        except InvalidOperation as exc:  # pragma: no cover - prec covers int64 × rate
            raise ValidationError("is too large", field="buy_amount_minor") from exc
    if minor > AMOUNT_MINOR_MAX:
        raise ValidationError("converts to more than a 64-bit amount",
                              field="buy_amount_minor")
    return minor


def markup_minor(*, buy_amount_minor: int, buy_currency: str, sell_currency: str,
                 mid_rate: Decimal, sell_amount_minor: int) -> int:
    """The markup of a quote in sell-currency minor units: what the consumer pays
    (``sell_amount_minor``, at the client rate) minus the buy amount at the mid rate
    (rounded half up). It is the platform's FX revenue on the quote."""
    _check_minor(sell_amount_minor, "sell_amount_minor")
    # The parameter carries the name and shadows the function: call it by alias.
    return sell_amount_minor - _convert(buy_amount_minor, buy_currency, sell_currency,
                                        mid_rate)


_convert = sell_amount_minor


def _share_half_up(total: int, numerator: int, denominator: int) -> int:
    """``total × numerator / denominator`` rounded half up, exactly (non-negative ints)."""
    return (2 * total * numerator + denominator) // (2 * denominator)


def refund_sell_minor(*, sell_amount_minor: int, buy_amount_minor: int,
                      refunded_buy_before_minor: int, refund_buy_minor: int) -> int:
    """The sell-currency amount returned for refunding ``refund_buy_minor`` of a payment that
    bought ``buy_amount_minor`` for ``sell_amount_minor``, at the original rate.

    Allocated cumulatively: the refunds so far plus this one are worth ``sell × (before +
    refund) / buy`` rounded half up, and this refund is that minus what ``before`` was worth
    (rounded the same way). So each part is its share to ±1 minor unit, and refunds of any
    parts add up to exactly ``sell_amount_minor`` once the whole buy amount is refunded.
    """
    _check_minor(sell_amount_minor, "sell_amount_minor")
    _check_minor(buy_amount_minor, "buy_amount_minor", minimum=1)
    _check_minor(refunded_buy_before_minor, "refunded_buy_before_minor")
    _check_minor(refund_buy_minor, "refund_buy_minor", minimum=1)
    if refunded_buy_before_minor > buy_amount_minor:
        raise ValidationError(f"is more than the payment ({buy_amount_minor})",
                              field="refunded_buy_before_minor")
    remaining = buy_amount_minor - refunded_buy_before_minor
    if refund_buy_minor > remaining:
        raise ValidationError(f"is more than what remains to refund ({remaining})",
                              field="refund_buy_minor")
    after = refunded_buy_before_minor + refund_buy_minor
    return (_share_half_up(sell_amount_minor, after, buy_amount_minor)
            - _share_half_up(sell_amount_minor, refunded_buy_before_minor, buy_amount_minor))


def invert_rate(rate: Decimal) -> Decimal:
    """``1 / rate`` quantised to :data:`RATE_PLACES` places (the rate the other way)."""
    check_rate(rate, "rate")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return quantise_rate(Decimal(1) / rate)


def cross_rate(home_per_buy: Decimal, home_per_sell: Decimal) -> Decimal:
    """Sell units per one buy unit from the two currencies' rates against the home currency
    (home units per one buy unit, per one sell unit): their ratio, quantised once."""
    check_rate(home_per_buy, "rate")
    check_rate(home_per_sell, "rate")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return quantise_rate(home_per_buy / home_per_sell)


def home_value_minor(amount_minor: int, currency: str, home_currency: str,
                     home_per_unit: Decimal) -> int:
    """``amount_minor`` of ``currency`` valued in the home currency at ``home_per_unit``
    (home major units per one currency major unit), half up; signed amounts keep their
    sign (a short position is worth a negative amount)."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise ValidationError("must be an integer number of minor units", field="amount_minor")
    if currency == home_currency:
        return amount_minor
    value = sell_amount_minor(abs(amount_minor), currency, home_currency, home_per_unit)
    return value if amount_minor >= 0 else -value


@dataclass(frozen=True)
class PositionLine:
    """One currency's line of the daily FX position report. ``balance_minor``: the
    ``fx_position`` account's balance (credit normal: positive is what the platform holds,
    negative what it owes);
    ``mid_rate``: home units per one unit of ``currency`` that day; ``value_home_minor``:
    the balance at that mid; ``revaluation_home_minor``: what the rate move alone did to
    the previous report's balance (that balance at today's mid minus its value then);
    ``realised_revenue_home_minor``: the markup earned on quotes used that day."""

    report_date: dt.date
    currency: str
    home_currency: str
    balance_minor: int
    mid_rate: Decimal
    value_home_minor: int
    previous_value_home_minor: int
    revaluation_home_minor: int
    realised_revenue_home_minor: int
    quotes_used: int

    @property
    def value_change_home_minor(self) -> int:
        """The change in home-currency value since the previous report (flows and rate)."""
        return self.value_home_minor - self.previous_value_home_minor

    def as_dict(self) -> dict[str, Any]:
        return {"report_date": self.report_date.isoformat(), "currency": self.currency,
                "home_currency": self.home_currency, "balance_minor": self.balance_minor,
                "mid_rate": str(self.mid_rate), "value_home_minor": self.value_home_minor,
                "previous_value_home_minor": self.previous_value_home_minor,
                "value_change_home_minor": self.value_change_home_minor,
                "revaluation_home_minor": self.revaluation_home_minor,
                "realised_revenue_home_minor": self.realised_revenue_home_minor,
                "quotes_used": self.quotes_used}


def position_line(*, report_date: dt.date, currency: str, home_currency: str,
                  balance_minor: int, home_per_unit: Decimal, previous_balance_minor: int,
                  previous_value_home_minor: int, realised_revenue_home_minor: int,
                  quotes_used: int) -> PositionLine:
    """A currency's FX position line from its balances and the day's mid (pure). The home
    currency's own line has the rate 1 and no revaluation."""
    rate = Decimal(1) if currency == home_currency else check_rate(home_per_unit)
    value = home_value_minor(balance_minor, currency, home_currency, rate)
    previous_now = home_value_minor(previous_balance_minor, currency, home_currency, rate)
    return PositionLine(report_date, currency, home_currency, balance_minor,
                        quantise_rate(rate), value, previous_value_home_minor,
                        previous_now - previous_value_home_minor,
                        realised_revenue_home_minor, quotes_used)
