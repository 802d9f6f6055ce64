"""Tables owned by :mod:`creditpay.fx` (issue #21).

* ``fx_rates``: mid rates as fetched from a rate source, one row per day, pair and source:
  ``1 base_currency = mid_rate quote_currency`` (market convention: JPY/CNY 0.0482 is
  ``base_currency='JPY', quote_currency='CNY'``), as an exact decimal string.
* ``fx_quotes``: quotes given to consumers: the pair, the amounts, the mid and client rates
  (decimal strings), the markup, when it was given and when its 30-minute lock ends, and,
  once used (at most once), when, on which day and for what (``used_reference``: a payment
  intent). ``home_amount_minor`` and ``markup_home_minor`` are the sell amount and the markup
  in the home currency (CNY), for the limits and the FX revenue.
* ``fx_position_lines``: the daily FX position report, one row per day and currency: the
  ``fx_position`` ledger balance, its home-currency value at the day's mid, the revaluation
  against the previous day, and the markup earned that day on quotes bought in it.

Rates are strings, not floating columns: SQLite has no exact decimal type, and a rate must
read back as the digits it was stored with on both stores.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from creditpay.db.metadata import BigIntPK, UtcDateTime, metadata

__all__ = ["fx_rates", "fx_quotes", "fx_position_lines"]

fx_rates = Table(
    "fx_rates",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("as_of", Date, nullable=False),
    Column("base_currency", String(3), nullable=False),
    Column("quote_currency", String(3), nullable=False),
    Column("mid_rate", String(40), nullable=False),
    Column("source", String(200), nullable=False),
    Column("fetched_at", UtcDateTime(), nullable=False),
    CheckConstraint("base_currency <> quote_currency", name="pair"),
    # One rate per day and pair from a source: a second refresh of the day keeps the first.
    UniqueConstraint("as_of", "base_currency", "quote_currency", "source"),
)

fx_quotes = Table(
    "fx_quotes",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("quote_id", String(64), nullable=False, unique=True),
    Column("customer_id", String(64), nullable=True),
    Column("sell_currency", String(3), nullable=False),
    Column("buy_currency", String(3), nullable=False),
    Column("buy_amount_minor", BigInteger, nullable=False),
    Column("sell_amount_minor", BigInteger, nullable=False),
    Column("mid_rate", String(40), nullable=False),
    Column("markup_bps", Integer, nullable=False),
    Column("client_rate", String(40), nullable=False),
    Column("markup_minor", BigInteger, nullable=False),
    Column("home_currency", String(3), nullable=False),
    Column("home_amount_minor", BigInteger, nullable=False),
    Column("markup_home_minor", BigInteger, nullable=False),
    Column("rate_as_of", Date, nullable=False),
    Column("rate_source", String(200), nullable=False),
    Column("markup_version", String(64), nullable=False),
    Column("quoted_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
    Column("used_on", Date, nullable=True),
    Column("used_reference", String(128), nullable=True),
    CheckConstraint("sell_currency <> buy_currency", name="pair"),
    CheckConstraint("buy_amount_minor > 0 AND sell_amount_minor > 0", name="amounts"),
    CheckConstraint("markup_bps >= 0 AND markup_minor >= 0", name="markup"),
    CheckConstraint("(used_at IS NULL) = (used_on IS NULL)", name="used"),
    # The daily limit sums a customer's quotes used on a day.
    Index("ix_fx_quotes_customer_used_on", "customer_id", "used_on"),
    Index("ix_fx_quotes_used_on", "used_on"),
)

fx_position_lines = Table(
    "fx_position_lines",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("report_date", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("home_currency", String(3), nullable=False),
    # The fx_position account's balance, credit normal (positive: what the platform holds).
    Column("balance_minor", BigInteger, nullable=False),
    Column("mid_rate", String(40), nullable=False),  # home units per one currency unit
    Column("value_home_minor", BigInteger, nullable=False),
    Column("previous_value_home_minor", BigInteger, nullable=False),
    Column("revaluation_home_minor", BigInteger, nullable=False),
    Column("realised_revenue_home_minor", BigInteger, nullable=False),
    Column("quotes_used", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("report_date", "currency"),
)
