"""The daily FX position and its revaluation (issue #21).

For a business date, one line per currency in which the platform has an ``fx_position``
ledger account (or earned FX revenue that day): the account's balance at the end of the
day, its value in the home currency (CNY) at the day's mid rate, the revaluation (what the
rate move alone did to the previous report's balance), and the realised FX revenue (the
markup, in CNY, of the quotes used that day, by the currency bought). The math is the pure
:func:`creditpay.fx.core.position_line`; :func:`write_position` reads the ledger and the
quotes, refreshes the day's rates when none is stored, and stores the lines once per date
(``creditpay nightly`` runs it; a second run returns the stored lines).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from creditpay.db.uow import Tx
from creditpay.fx.config import FxConfig
from creditpay.fx.core import PositionLine, position_line
from creditpay.fx.rates import RateSource, ensure_rates, pair_rate
from creditpay.fx.tables import fx_position_lines, fx_quotes
from creditpay.ledger.chart import platform_key
from creditpay.ledger.queries import account_currencies
from creditpay.ledger.service import balance, get_account_by_key
from creditpay.platform import audit

__all__ = ["POSITION_ACCOUNT", "write_position", "stored_position", "position_summary"]

POSITION_ACCOUNT = "fx_position"


def _line(row: Any) -> PositionLine:
    return PositionLine(row["report_date"], row["currency"], row["home_currency"],
                        int(row["balance_minor"]), Decimal(row["mid_rate"]),
                        int(row["value_home_minor"]), int(row["previous_value_home_minor"]),
                        int(row["revaluation_home_minor"]),
                        int(row["realised_revenue_home_minor"]), int(row["quotes_used"]))


def stored_position(conn: Connection, day: dt.date) -> list[PositionLine]:
    """The lines stored for ``day``, by currency (empty: no report for that day)."""
    c = fx_position_lines.c
    rows = conn.execute(select(fx_position_lines).where(c.report_date == day)
                        .order_by(c.currency)).mappings()
    return [_line(row) for row in rows]


def _previous(conn: Connection, day: dt.date) -> dict[str, PositionLine]:
    c = fx_position_lines.c
    latest = (select(c.currency, func.max(c.report_date).label("day"))
              .where(c.report_date < day).group_by(c.currency).subquery())
    rows = conn.execute(select(fx_position_lines).join(
        latest, (c.currency == latest.c.currency) & (c.report_date == latest.c.day))
    ).mappings()
    return {row["currency"]: _line(row) for row in rows}


def _revenue(conn: Connection, day: dt.date) -> dict[str, tuple[int, int]]:
    q = fx_quotes.c
    rows = conn.execute(select(q.buy_currency, func.sum(q.markup_home_minor), func.count())
                        .where(q.used_on == day).group_by(q.buy_currency))
    return {row[0]: (int(row[1] or 0), int(row[2])) for row in rows}


def write_position(tx: Tx, day: dt.date, *, config: FxConfig,
                   source: RateSource) -> list[PositionLine]:
    """Compute and store the FX position of ``day`` (idempotent: lines already stored for
    the day are returned as they are). Balances are the ledger's as of the end of ``day``;
    rates are the latest stored on or before it (``source`` is asked for the day's when
    none is stored)."""
    stored = stored_position(tx.conn, day)
    if stored:
        return stored
    home = config.home_currency
    with_account = set(account_currencies(tx.conn, code=POSITION_ACCOUNT,
                                          owner_type="platform"))
    revenue = _revenue(tx.conn, day)
    currencies = with_account | set(revenue)
    if currencies <= {home}:
        return []  # no foreign currency held or bought: nothing to report
    ensure_rates(tx, source, day)
    previous = _previous(tx.conn, day)
    end_of_day = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) \
        + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    lines = []
    for currency in sorted(currencies):
        balance_minor = 0
        if currency in with_account:
            account = get_account_by_key(tx.conn, platform_key(POSITION_ACCOUNT, currency))
            # Credit normal: positive is what the platform holds in the currency.
            balance_minor = balance(tx.conn, account.id, as_of=end_of_day).balance_minor
        rate = Decimal(1) if currency == home else pair_rate(
            tx.conn, sell_currency=home, buy_currency=currency, day=day,
            home_currency=home).rate
        before = previous.get(currency)
        earned, used = revenue.get(currency, (0, 0))
        lines.append(position_line(
            report_date=day, currency=currency, home_currency=home,
            balance_minor=balance_minor, home_per_unit=rate,
            previous_balance_minor=before.balance_minor if before else 0,
            previous_value_home_minor=before.value_home_minor if before else 0,
            realised_revenue_home_minor=earned, quotes_used=used))
    tx.conn.execute(fx_position_lines.insert(), [
        {"report_date": line.report_date, "currency": line.currency,
         "home_currency": line.home_currency, "balance_minor": line.balance_minor,
         "mid_rate": str(line.mid_rate), "value_home_minor": line.value_home_minor,
         "previous_value_home_minor": line.previous_value_home_minor,
         "revaluation_home_minor": line.revaluation_home_minor,
         "realised_revenue_home_minor": line.realised_revenue_home_minor,
         "quotes_used": line.quotes_used, "created_at": tx.now} for line in lines])
    summary = position_summary(day, lines, home)
    audit.append(tx, "system", "nightly", "fx.position_reported", "fx_position",
                 day.isoformat(), {k: v for k, v in summary.items() if k != "lines"})
    return lines


def position_summary(day: dt.date, lines: list[PositionLine], home_currency: str
                     ) -> dict[str, Any]:
    """The report as JSON: its lines and the totals in the home currency."""
    return {
        "report_date": day.isoformat(), "home_currency": home_currency,
        "lines": [line.as_dict() for line in lines],
        "value_home_minor": sum(line.value_home_minor for line in lines),
        "revaluation_home_minor": sum(line.revaluation_home_minor for line in lines),
        "realised_revenue_home_minor": sum(line.realised_revenue_home_minor
                                           for line in lines),
        "quotes_used": sum(line.quotes_used for line in lines),
    }
