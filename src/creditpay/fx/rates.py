"""Mid rates (issue #21): where they come from (a :class:`RateSource`), how they are stored
(``fx_rates``, with their source and the time they were fetched) and how a rate for a pair
and a day is found.

Two sources ship: :class:`SimulatedRateSource` (the default: seeded, deterministic for a
seed and a date, so a demo reproduces) and :class:`CsvRateSource` (a production feed dropped
as a CSV file). ``CREDITPAY_FX_RATE_SOURCE`` chooses (``simulated`` or a CSV path); the
bootstrap builds it (``Services.fx_rate_source``) and passes it in.

A stored rate reads ``1 base_currency = mid_rate quote_currency``. A rate for a pair is the
latest stored on or before the day: the pair itself, else its inverse, else the cross
through the home currency (each derived rate quantised once to 10 places).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, ValidationError
from creditpay.fx.core import check_rate, cross_rate, quantise_rate
from creditpay.fx.tables import fx_rates
from creditpay.money import validate_currency

__all__ = ["MidRate", "RateSource", "SimulatedRateSource", "CsvRateSource", "StoredRate",
           "PairRate", "SIMULATED_START_RATES", "refresh_rates", "ensure_rates",
           "pair_rate", "stored_rates", "build_rate_source"]


@dataclass(frozen=True)
class MidRate:
    """One mid rate as a source gives it: ``1 base_currency = mid_rate quote_currency``."""

    base_currency: str
    quote_currency: str
    mid_rate: Decimal


class RateSource(Protocol):
    """Where mid rates come from. ``name`` is stored with every rate it gave."""

    @property
    def name(self) -> str: ...

    def rates(self, day: dt.date) -> list[MidRate]:
        """The mid rates for ``day`` (an empty list: the source has none for it)."""
        ...


# Plausible CNY mid rates (CNY per one unit) and daily volatilities (standard deviation of
# the daily log change) at the start of the simulated walk.
SIMULATED_START_RATES: dict[str, tuple[str, float]] = {
    "USD": ("7.1000", 0.0030),
    "EUR": ("7.7500", 0.0050),
    "JPY": ("0.047500", 0.0060),
    "THB": ("0.20500", 0.0050),
    "KRW": ("0.0050500", 0.0060),
    "GBP": ("9.0500", 0.0055),
    "HKD": ("0.91200", 0.0030),
    "KWD": ("23.1000", 0.0030),
    "SGD": ("5.3000", 0.0040),
    "AUD": ("4.6500", 0.0065),
}
_SIMULATION_EPOCH = dt.date(2020, 1, 1)
# Pull back toward the start rate each day (an Ornstein-Uhlenbeck walk in log space): daily
# moves are the volatility's size, and a rate stays within a few per cent of where it began
# over years of simulation instead of drifting off like a pure random walk.
_MEAN_REVERSION_PER_DAY = 0.01


class SimulatedRateSource:
    """Mid rates against ``home_currency`` that move like real ones: each currency follows a
    mean-reverting random walk in log space with its own daily volatility, from
    :data:`SIMULATED_START_RATES` on 2020-01-01. Deterministic for a seed and a date: the
    walk is replayed from its start (one stream of draws per seed and currency), so any
    process asking for the same day gets the same rates. The walk runs on floats (it
    simulates a market, it holds no money); each rate is then rounded to six significant
    digits, as a published mid is, and handed on as a ``Decimal``."""

    def __init__(self, seed: int = 0, *, home_currency: str = "CNY",
                 currencies: tuple[str, ...] | None = None) -> None:
        self.seed = seed
        self.home_currency = validate_currency(home_currency, "home_currency")
        chosen = currencies or tuple(SIMULATED_START_RATES)
        for code in chosen:
            if code not in SIMULATED_START_RATES:
                raise ValidationError(f"the simulated source has no rate for {code}",
                                      field="currencies")
        self.currencies = tuple(c for c in chosen if c != self.home_currency)
        # Where each currency's walk stands: (days walked, log deviation, its draw stream).
        # Days are asked for in order (one night after the other), so a later day continues
        # the walk instead of replaying it from 2020; an earlier day replays it. The same
        # stream continued gives the very draws a replay gives, so the rates are the same.
        self._walks: dict[str, tuple[int, float, random.Random]] = {}
        self._walks_lock = threading.Lock()  # one source serves an API's request threads

    @property
    def name(self) -> str:
        return f"simulated:{self.seed}"

    def _walk(self, currency: str, days: int) -> float:
        start, volatility = SIMULATED_START_RATES[currency]
        with self._walks_lock:
            walked, log_deviation, draws = self._walks.get(currency, (0, 0.0, None))
            if draws is None or walked > days:
                walked, log_deviation = 0, 0.0
                draws = random.Random(f"{self.seed}:{currency}")
            for _ in range(days - walked):
                log_deviation = (log_deviation * (1 - _MEAN_REVERSION_PER_DAY)
                                 + draws.gauss(0.0, volatility))
            self._walks[currency] = (days, log_deviation, draws)
        return float(start) * math.exp(log_deviation)

    def rates(self, day: dt.date) -> list[MidRate]:
        days = (day - _SIMULATION_EPOCH).days
        if days < 0:
            raise ValidationError(f"the simulated source starts on {_SIMULATION_EPOCH}",
                                  field="date")
        return [MidRate(currency, self.home_currency,
                        quantise_rate(Decimal(f"{self._walk(currency, days):.6g}")))
                for currency in self.currencies]


class CsvRateSource:
    """Mid rates from a CSV file with the header ``as_of,base,quote,mid_rate`` (ISO date,
    ISO 4217 codes, a decimal: ``1 base = mid_rate quote``). The file is read on every call
    (a feed is replaced in place); a bad row is a ValidationError naming its line and
    column, and nothing is stored from a file with a bad row."""

    COLUMNS = ("as_of", "base", "quote", "mid_rate")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def name(self) -> str:
        return f"csv:{self.path.name}"

    def read(self) -> list[tuple[dt.date, MidRate]]:
        """Every row of the file, checked."""
        try:
            handle = self.path.open(newline="", encoding="utf-8")
        except OSError as exc:
            raise ValidationError(f"cannot read {self.path}: {exc.strerror}",
                                  field="fx_rate_source") from None
        rows: list[tuple[dt.date, MidRate]] = []
        with handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) != self.COLUMNS:
                raise ValidationError(f"line 1: the header must be {','.join(self.COLUMNS)}",
                                      field=f"{self.path.name}:1")
            seen: set[tuple[dt.date, str, str]] = set()
            for line, row in enumerate(reader, start=2):
                if not row or all(not cell.strip() for cell in row):
                    continue
                rows.append(self._row(line, row, seen))
        return rows

    def _row(self, line: int, row: list[str],
             seen: set[tuple[dt.date, str, str]]) -> tuple[dt.date, MidRate]:
        def bad(column: str, why: str) -> ValidationError:
            return ValidationError(f"line {line}, column {column}: {why}",
                                   field=f"{self.path.name}:{line}:{column}")

        if len(row) != len(self.COLUMNS):
            raise bad("*", f"expected {len(self.COLUMNS)} columns, got {len(row)}")
        as_of_text, base_text, quote_text, rate_text = (cell.strip() for cell in row)
        try:
            as_of = dt.date.fromisoformat(as_of_text)
        except ValueError:
            raise bad("as_of", f"not an ISO date: {as_of_text!r}") from None
        try:
            base = validate_currency(base_text, "base")
        except ValidationError as exc:
            raise bad("base", exc.detail) from None
        try:
            quote = validate_currency(quote_text, "quote")
        except ValidationError as exc:
            raise bad("quote", exc.detail) from None
        if base == quote:
            raise bad("quote", "must differ from base")
        try:
            rate = check_rate(Decimal(rate_text))
        except (InvalidOperation, ValidationError):
            raise bad("mid_rate", f"not a positive decimal rate: {rate_text!r}") from None
        if (as_of, base, quote) in seen:
            raise bad("base", f"repeats {base}/{quote} on {as_of}")
        seen.add((as_of, base, quote))
        return as_of, MidRate(base, quote, quantise_rate(rate))

    def rates(self, day: dt.date) -> list[MidRate]:
        """The file's rates for ``day``; none if the file has no row of that day."""
        return [rate for as_of, rate in self.read() if as_of == day]


def build_rate_source(setting: str, *, home_currency: str = "CNY",
                      seed: int = 0) -> RateSource:
    """The source a ``CREDITPAY_FX_RATE_SOURCE`` value names: ``simulated`` (optionally
    ``simulated:SEED``) or the path of a CSV file."""
    text = setting.strip()
    if text == "simulated":
        return SimulatedRateSource(seed, home_currency=home_currency)
    if text.startswith("simulated:"):
        try:
            return SimulatedRateSource(int(text.split(":", 1)[1]), home_currency=home_currency)
        except ValueError:
            raise ValidationError("simulated:SEED needs an integer seed",
                                  field="CREDITPAY_FX_RATE_SOURCE") from None
    path = Path(text)
    if not text or path.suffix.lower() != ".csv":
        raise ValidationError("must be 'simulated' or the path of a .csv file",
                              field="CREDITPAY_FX_RATE_SOURCE")
    return CsvRateSource(path)


@dataclass(frozen=True)
class StoredRate:
    as_of: dt.date
    base_currency: str
    quote_currency: str
    mid_rate: Decimal
    source: str
    fetched_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "base_currency": self.base_currency,
                "quote_currency": self.quote_currency, "mid_rate": str(self.mid_rate),
                "source": self.source, "fetched_at": self.fetched_at.isoformat()}


def _stored(row: Any) -> StoredRate:
    return StoredRate(row["as_of"], row["base_currency"], row["quote_currency"],
                      Decimal(row["mid_rate"]), row["source"], row["fetched_at"])


def refresh_rates(tx: Tx, source: RateSource, day: dt.date | None = None) -> list[StoredRate]:
    """Fetch ``day``'s rates (default: the business date) from ``source`` and store them.
    A rate already stored for the day, pair and source is kept as it was (a second refresh
    changes nothing). Returns the day's rates of that source as stored."""
    day = day or tx.today
    fetched = source.rates(day)
    if fetched:
        rows = [{"as_of": day, "base_currency": r.base_currency,
                 "quote_currency": r.quote_currency,
                 "mid_rate": str(quantise_rate(check_rate(r.mid_rate))),
                 "source": source.name, "fetched_at": tx.now} for r in fetched]
        dialect = postgresql if tx.dialect == "postgresql" else sqlite
        tx.conn.execute(dialect.insert(fx_rates).on_conflict_do_nothing(), rows)
    return stored_rates(tx.conn, day, source=source.name)


def ensure_rates(tx: Tx, source: RateSource, day: dt.date | None = None) -> None:
    """Refresh from ``source`` when no rate at all is stored for ``day``."""
    day = day or tx.today
    if tx.conn.execute(select(fx_rates.c.seq).where(fx_rates.c.as_of == day)
                       .limit(1)).first() is None:
        refresh_rates(tx, source, day)


def stored_rates(conn: Connection, day: dt.date | None = None, *,
                 source: str | None = None) -> list[StoredRate]:
    """The stored rates of ``day`` (default: of the latest day stored), by pair."""
    c = fx_rates.c
    if day is None:
        day = conn.execute(select(func.max(c.as_of))).scalar()
        if day is None:
            return []
    query = select(fx_rates).where(c.as_of == day)
    if source is not None:
        query = query.where(c.source == source)
    rows = conn.execute(query.order_by(c.base_currency, c.quote_currency, c.seq)).mappings()
    return [_stored(row) for row in rows]


@dataclass(frozen=True)
class PairRate:
    """A rate for a pair as used: sell units per one buy unit, the day of the stored rate(s)
    it comes from and their source."""

    rate: Decimal
    as_of: dt.date
    source: str


def _latest(conn: Connection, base: str, quote: str, day: dt.date) -> StoredRate | None:
    c = fx_rates.c
    row = conn.execute(
        select(fx_rates).where(or_(and_(c.base_currency == base, c.quote_currency == quote),
                                   and_(c.base_currency == quote, c.quote_currency == base)),
                               c.as_of <= day)
        .order_by(c.as_of.desc(), c.seq.desc()).limit(1)).mappings().first()
    return _stored(row) if row is not None else None


def _per(stored: StoredRate, base: str) -> Decimal:
    """``stored`` as units of the other currency per one ``base`` unit, unrounded (an
    inverse to 80 significant digits): a derived rate is quantised once, at the end."""
    if stored.base_currency == base:
        return stored.mid_rate
    with localcontext() as ctx:
        ctx.prec = 80
        return Decimal(1) / stored.mid_rate


def pair_rate(conn: Connection, *, sell_currency: str, buy_currency: str, day: dt.date,
              home_currency: str = "CNY") -> PairRate:
    """The mid rate, sell units per one buy unit, latest on or before ``day``: the stored
    pair, its inverse, or the cross through ``home_currency``. NotFoundError naming
    ``buy_currency`` when none is stored."""
    direct = _latest(conn, buy_currency, sell_currency, day)
    if direct is not None:
        return PairRate(quantise_rate(_per(direct, buy_currency)), direct.as_of,
                        direct.source)
    if home_currency not in (sell_currency, buy_currency):
        sell_leg = _latest(conn, home_currency, sell_currency, day)
        buy_leg = _latest(conn, home_currency, buy_currency, day)
        if sell_leg is not None and buy_leg is not None:
            rate = cross_rate(_per(buy_leg, buy_currency), _per(sell_leg, sell_currency))
            older = min((sell_leg, buy_leg), key=lambda r: r.as_of)
            return PairRate(rate, older.as_of, older.source)
    raise NotFoundError(f"no mid rate stored for {buy_currency}/{sell_currency} on or before "
                        f"{day}", field="buy_currency")
