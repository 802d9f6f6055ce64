"""FX quotes (issue #21): a consumer is shown what a foreign amount costs in their currency,
at a rate locked for 30 minutes; the quote is used at most once (by a payment abroad).

* :func:`create_quote` prices ``buy_amount_minor`` of ``buy_currency`` in ``sell_currency``:
  the latest stored mid rate (refreshed from the rate source when none is stored for the
  business date), the pair's markup from the versioned configuration, ``client_rate = mid ×
  (1 + markup_bps / 10000)``, ``sell_amount_minor`` = buy amount × client rate rounded half
  up to the sell currency's minor unit; locked until ``quoted_at + quote_lock_minutes``.
* :func:`use_quote` marks it used, once, atomically (one conditional UPDATE: two concurrent
  payments cannot both use it); an expired, used, or another customer's quote is refused
  naming ``quote_id``, and nothing changes.
* :func:`check_limits`: per-transaction and daily limits in the home currency (CNY), the
  day's total from the customer's used quotes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select, update

from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, StateError, ValidationError
from creditpay.fx import core
from creditpay.fx.config import FxConfig, load_fx_config
from creditpay.fx.rates import RateSource, SimulatedRateSource, ensure_rates, pair_rate
from creditpay.fx.tables import fx_quotes
from creditpay.ledger.model import validate_id
from creditpay.parties.security import new_id
from creditpay.platform import audit
from creditpay.platform.validators import check_reference

__all__ = ["FxQuote", "create_quote", "get_quote", "use_quote", "check_limits",
           "used_total_home_minor", "quotes_used_on"]


@dataclass(frozen=True)
class FxQuote:
    """A quote as stored. Rates are sell-currency major units per one buy-currency major
    unit; amounts are minor units; ``markup_minor`` is in the sell currency."""

    quote_id: str
    sell_currency: str
    buy_currency: str
    buy_amount_minor: int
    sell_amount_minor: int
    mid_rate: Decimal
    markup_bps: int
    client_rate: Decimal
    markup_minor: int
    quoted_at: dt.datetime
    expires_at: dt.datetime
    customer_id: str | None
    used_at: dt.datetime | None
    used_reference: str | None
    rate_source: str
    markup_version: str
    home_currency: str = "CNY"
    home_amount_minor: int = 0
    markup_home_minor: int = 0
    rate_as_of: dt.date | None = None

    def as_dict(self) -> dict[str, Any]:
        """The issue's JSON keys (rates as decimal strings, times ISO 8601 with offset)."""
        return {
            "quote_id": self.quote_id,
            "sell_currency": self.sell_currency,
            "buy_currency": self.buy_currency,
            "buy_amount_minor": self.buy_amount_minor,
            "sell_amount_minor": self.sell_amount_minor,
            "mid_rate": str(self.mid_rate),
            "markup_bps": self.markup_bps,
            "client_rate": str(self.client_rate),
            "markup_minor": self.markup_minor,
            "quoted_at": self.quoted_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }

    def is_expired(self, now: dt.datetime) -> bool:
        return now >= self.expires_at


def _quote(row: Any) -> FxQuote:
    return FxQuote(
        quote_id=row["quote_id"], sell_currency=row["sell_currency"],
        buy_currency=row["buy_currency"], buy_amount_minor=int(row["buy_amount_minor"]),
        sell_amount_minor=int(row["sell_amount_minor"]), mid_rate=Decimal(row["mid_rate"]),
        markup_bps=int(row["markup_bps"]), client_rate=Decimal(row["client_rate"]),
        markup_minor=int(row["markup_minor"]), quoted_at=row["quoted_at"],
        expires_at=row["expires_at"], customer_id=row["customer_id"],
        used_at=row["used_at"], used_reference=row["used_reference"],
        rate_source=row["rate_source"], markup_version=row["markup_version"],
        home_currency=row["home_currency"], home_amount_minor=int(row["home_amount_minor"]),
        markup_home_minor=int(row["markup_home_minor"]), rate_as_of=row["rate_as_of"])


def _home_value(conn: Connection, amount_minor: int, currency: str, config: FxConfig,
                day: dt.date) -> int:
    if currency == config.home_currency:
        return amount_minor
    rate = pair_rate(conn, sell_currency=config.home_currency, buy_currency=currency, day=day,
                     home_currency=config.home_currency)
    return core.home_value_minor(amount_minor, currency, config.home_currency, rate.rate)


def create_quote(tx: Tx, *, sell_currency: str, buy_currency: str, buy_amount_minor: int,
                 customer_id: str | None = None, config: FxConfig | None = None,
                 source: RateSource | None = None) -> FxQuote:
    """Quote ``buy_amount_minor`` of ``buy_currency`` paid in ``sell_currency``, locked for
    the configuration's ``quote_lock_minutes`` (30) from ``tx.now``.

    ``config``: the FX configuration in force (default: the packaged one, read now);
    ``source``: where to fetch the day's rates when none is stored for the business date
    (default: the simulated source, seed 0). A quote for a customer is checked against
    their limits (:func:`check_limits`) before it is given. Errors name the field: a
    currency unknown or not quoted, the same currency twice, an amount that is not a
    positive integer, no rate for the pair or only one older than the configuration's
    ``rate_max_age_days`` (NotFoundError, ``buy_currency``).
    """
    config = config or load_fx_config()
    sell = config.check_currency(sell_currency, "sell_currency")
    buy = config.check_currency(buy_currency, "buy_currency")
    if sell == buy:
        raise ValidationError("must differ from sell_currency", field="buy_currency")
    if isinstance(buy_amount_minor, bool) or not isinstance(buy_amount_minor, int) \
            or buy_amount_minor <= 0:
        raise ValidationError("must be a positive integer number of minor units",
                              field="buy_amount_minor")
    if customer_id is not None:
        check_reference(customer_id, "customer_id")
    ensure_rates(tx, source or SimulatedRateSource(0, home_currency=config.home_currency),
                 tx.today)
    mid = pair_rate(tx.conn, sell_currency=sell, buy_currency=buy, day=tx.today,
                    home_currency=config.home_currency)
    if (tx.today - mid.as_of).days > config.rate_max_age_days:
        raise NotFoundError(f"the latest mid rate for {buy}/{sell} is of {mid.as_of}, older "
                            f"than {config.rate_max_age_days} days: refresh the rates",
                            field="buy_currency")
    markup_bps = config.markup_bps(sell, buy)
    rate = core.client_rate(mid.rate, markup_bps)
    sell_minor = core.sell_amount_minor(buy_amount_minor, buy, sell, rate)
    if sell_minor <= 0:
        raise ValidationError(f"is too small to cost at least one minor unit of {sell}",
                              field="buy_amount_minor")
    markup = core.markup_minor(buy_amount_minor=buy_amount_minor, buy_currency=buy,
                               sell_currency=sell, mid_rate=mid.rate,
                               sell_amount_minor=sell_minor)
    home_amount = _home_value(tx.conn, sell_minor, sell, config, tx.today)
    markup_home = _home_value(tx.conn, markup, sell, config, tx.today)
    if customer_id is not None:
        check_limits(tx.conn, customer_id=customer_id, sell_amount_minor=sell_minor,
                     sell_currency=sell, today=tx.today, config=config)
    quote = FxQuote(
        quote_id=new_id("fxq"), sell_currency=sell, buy_currency=buy,
        buy_amount_minor=buy_amount_minor, sell_amount_minor=sell_minor, mid_rate=mid.rate,
        markup_bps=markup_bps, client_rate=rate, markup_minor=markup, quoted_at=tx.now,
        expires_at=tx.now + dt.timedelta(minutes=config.quote_lock_minutes),
        customer_id=customer_id, used_at=None, used_reference=None, rate_source=mid.source,
        markup_version=config.version, home_currency=config.home_currency,
        home_amount_minor=home_amount, markup_home_minor=markup_home, rate_as_of=mid.as_of)
    tx.conn.execute(fx_quotes.insert().values(
        quote_id=quote.quote_id, customer_id=customer_id, sell_currency=sell,
        buy_currency=buy, buy_amount_minor=buy_amount_minor, sell_amount_minor=sell_minor,
        mid_rate=str(mid.rate), markup_bps=markup_bps, client_rate=str(rate),
        markup_minor=markup, home_currency=config.home_currency,
        home_amount_minor=home_amount, markup_home_minor=markup_home, rate_as_of=mid.as_of,
        rate_source=mid.source, markup_version=config.version, quoted_at=quote.quoted_at,
        expires_at=quote.expires_at, used_at=None, used_on=None, used_reference=None))
    return quote


def get_quote(conn: Connection, quote_id: str) -> FxQuote | None:
    """The quote ``quote_id``, or None."""
    row = conn.execute(select(fx_quotes).where(fx_quotes.c.quote_id == quote_id)
                       ).mappings().first()
    return _quote(row) if row is not None else None


def use_quote(tx: Tx, quote_id: str, *, reference: str,
              customer_id: str | None = None) -> FxQuote:
    """Mark the quote used by ``reference`` (e.g. a payment intent id), once.

    One conditional UPDATE (``used_at IS NULL`` and not expired) decides, so of two
    concurrent uses exactly one wins on either store. Refused, naming ``quote_id``, with
    nothing changed: no such quote or another customer's (NotFoundError), a used quote or
    an expired one (StateError). Using it again with the same ``reference`` is a replay and
    returns the quote as used (a retried payment must not fail on its own quote).
    """
    validate_id(quote_id, "quote_id")
    validate_id(reference, "reference")
    if customer_id is not None:
        check_reference(customer_id, "customer_id")
    c = fx_quotes.c
    condition = [c.quote_id == quote_id, c.used_at.is_(None), c.expires_at > tx.now]
    if customer_id is not None:
        condition.append(func.coalesce(c.customer_id, customer_id) == customer_id)
    result = tx.conn.execute(update(fx_quotes).where(*condition).values(
        used_at=tx.now, used_on=tx.today, used_reference=reference))
    quote = get_quote(tx.conn, quote_id)
    if result.rowcount == 1 and quote is not None:
        audit.append(tx, "customer" if customer_id else "system", customer_id or "system",
                     "fx.quote_used", "fx_quote", quote_id,
                     {"reference": reference, "sell_amount_minor": quote.sell_amount_minor,
                      "sell_currency": quote.sell_currency,
                      "buy_amount_minor": quote.buy_amount_minor,
                      "buy_currency": quote.buy_currency})
        return quote
    if quote is None or (customer_id is not None and quote.customer_id is not None
                         and quote.customer_id != customer_id):
        raise NotFoundError(f"no quote {quote_id!r}", field="quote_id")
    if quote.used_at is not None:
        if quote.used_reference == reference:
            return quote
        raise StateError(f"quote {quote_id} was already used at {quote.used_at.isoformat()}",
                         field="quote_id")
    raise StateError(f"quote {quote_id} expired at {quote.expires_at.isoformat()}; ask for a "
                     "new quote", field="quote_id")


def used_total_home_minor(conn: Connection, *, customer_id: str, day: dt.date) -> int:
    """What ``customer_id``'s quotes used on ``day`` cost, in the home currency."""
    c = fx_quotes.c
    total = conn.execute(select(func.coalesce(func.sum(c.home_amount_minor), 0)).where(
        c.customer_id == customer_id, c.used_on == day)).scalar()
    return int(total or 0)


def check_limits(conn: Connection, *, customer_id: str, sell_amount_minor: int,
                 sell_currency: str, today: dt.date, config: FxConfig | None = None) -> None:
    """Refuse a purchase of ``sell_amount_minor`` (of ``sell_currency``, valued in the home
    currency at the latest mid when it is another) over the per-transaction limit, or that
    would take the customer's used quotes of ``today`` over the daily limit: a
    ValidationError naming ``amount_minor``, with the limit and what is left."""
    config = config or load_fx_config()
    check_reference(customer_id, "customer_id")
    if isinstance(sell_amount_minor, bool) or not isinstance(sell_amount_minor, int) \
            or sell_amount_minor <= 0:
        raise ValidationError("must be a positive integer number of minor units",
                              field="amount_minor")
    sell = config.check_currency(sell_currency, "sell_currency")
    limits = config.limits
    amount_home = _home_value(conn, sell_amount_minor, sell, config, today)
    home = config.home_currency
    if amount_home > limits.per_transaction_minor:
        raise ValidationError(
            f"{amount_home} {home} minor units is over the per-transaction limit of "
            f"{limits.per_transaction_minor} for payments abroad", field="amount_minor",
            limit_minor=limits.per_transaction_minor)
    used = used_total_home_minor(conn, customer_id=customer_id, day=today)
    if used + amount_home > limits.daily_minor:
        left = max(0, limits.daily_minor - used)
        raise ValidationError(
            f"{amount_home} {home} minor units would pass the daily limit of "
            f"{limits.daily_minor} for payments abroad ({left} left today)",
            field="amount_minor", limit_minor=limits.daily_minor, remaining_minor=left)


def quotes_used_on(conn: Connection, day: dt.date) -> list[FxQuote]:
    """Every quote used on ``day`` (the FX position's realised revenue; reports)."""
    c = fx_quotes.c
    rows = conn.execute(select(fx_quotes).where(c.used_on == day).order_by(c.seq)).mappings()
    return [_quote(row) for row in rows]
