"""The book's charts in the simulated economy's report, from the platform's own records:
monthly roll-rate matrices (the month-end cells the nightly batch records, the same the
console's roll_rates view pools), balance-weighted vintage curves with 95 % intervals, and
the horizon each chart's measure needs (:func:`chart_warnings`, with the count interval
defined in :mod:`creditpay.reporting.horizons`, which the console shares). Pure: no I/O, no clock;
:mod:`creditpay.sim.economy` reads the records and calls these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from creditpay.reporting.horizons import (
    BAD_OUTCOME_DAYS,
    FRAUD_MATURED_DAYS_MIN,
    HORIZON_RULES,
    ROLL_MONTH_ENDS_MIN,
    UNMATURED_APPROVALS_SHARE_MAX,
    VINTAGE_LEVEL,
    VINTAGE_MONTHS_ON_BOOK_MIN,
    WRITE_OFF_DPD,
    Horizon,
    chart_warnings,
    horizon_rules,
    wilson_interval,
)

__all__ = ["roll_rate_matrices", "roll_state", "ROLL_STATES", "ROLL_FROM_STATES", "AccountAt",
           "vintage_balance_curves", "ratio_interval", "wilson_interval", "months_on_book",
           "Horizon", "chart_warnings", "horizon_rules", "HORIZON_RULES",
           "VINTAGE_MONTHS_ON_BOOK_MIN",
           "ROLL_MONTH_ENDS_MIN", "FRAUD_MATURED_DAYS_MIN", "BAD_OUTCOME_DAYS",
           "UNMATURED_APPROVALS_SHARE_MAX", "WRITE_OFF_DPD", "VINTAGE_LEVEL"]


# ----------------------------------------------------------------------- monthly roll rates

# The report's delinquency states, from the platform's month-end states
# (creditpay.credit.portfolio_queries.STATES): M4, M5 and M6+ are pooled (a line is written
# off at M3 and plans soon after, so few accounts ever reach them), "WO" is written off and
# "closed" an account with nothing left to pay.
ROLL_STATES: tuple[str, ...] = ("current", "M1", "M2", "M3", "M4+", "written_off", "closed")
ROLL_FROM_STATES: tuple[str, ...] = ROLL_STATES[:5]  # the two ends are absorbing
_ROLL_STATE_OF = {"M0": "current", "M1": "M1", "M2": "M2", "M3": "M3", "M4": "M4+",
                  "M5": "M4+", "M6+": "M4+", "WO": "written_off", "closed": "closed"}


def roll_state(platform_state: str) -> str:
    """The report's state for a platform month-end state (``new``: not yet on the book at the
    previous month end, returned as is)."""
    return _ROLL_STATE_OF.get(platform_state, platform_state)


def roll_rate_matrices(cells: Iterable[Any]) -> list[dict[str, Any]]:
    """One roll-rate matrix per recorded month end that has a recorded previous one, from
    the platform's month-end cells (:class:`creditpay.credit.portfolio_queries.MonthEndCell`
    or anything with ``month_end``, ``from_state``, ``to_state``, ``accounts`` and
    ``from_balance_minor``).

    Rows are the state at the previous month end (:data:`ROLL_FROM_STATES`), columns the
    state at this month end (:data:`ROLL_STATES`); each cell holds the receivable at the
    previous month end (minor units) of the accounts that moved that way, and their count.
    A row's cells add up to what the from-state held at the previous month end, so its
    shares (``balance_share``, ``accounts_share``) sum to 1; a row that held nothing has
    shares of None. Accounts opened since the previous month end (from-state ``new``) are
    not in the matrix: they are counted in ``new_accounts``."""
    by_month: dict[dt.date, list[Any]] = {}
    for cell in cells:
        by_month.setdefault(cell.month_end, []).append(cell)
    months = sorted(by_month)
    out = []
    for previous, month_end in zip(months, months[1:], strict=False):
        balance = [[0] * len(ROLL_STATES) for _ in ROLL_FROM_STATES]
        accounts = [[0] * len(ROLL_STATES) for _ in ROLL_FROM_STATES]
        new_accounts = 0
        for cell in by_month[month_end]:
            source, target = roll_state(cell.from_state), roll_state(cell.to_state)
            if source not in ROLL_FROM_STATES:
                new_accounts += int(cell.accounts) if source == "new" else 0
                continue
            i, j = ROLL_FROM_STATES.index(source), ROLL_STATES.index(target)
            balance[i][j] += int(cell.from_balance_minor)
            accounts[i][j] += int(cell.accounts)
        from_balance = [sum(row) for row in balance]
        from_accounts = [sum(row) for row in accounts]
        out.append({
            "month": f"{month_end:%Y-%m}", "month_end": month_end.isoformat(),
            "previous_month_end": previous.isoformat(),
            "from_states": list(ROLL_FROM_STATES), "to_states": list(ROLL_STATES),
            "balance_minor": balance, "accounts": accounts,
            "from_balance_minor": from_balance, "from_accounts": from_accounts,
            "balance_share": [_row_shares(row, total)
                              for row, total in zip(balance, from_balance, strict=True)],
            "accounts_share": [_row_shares(row, total)
                               for row, total in zip(accounts, from_accounts, strict=True)],
            "new_accounts": new_accounts})
    return out


def _row_shares(row: Sequence[int], total: int) -> list[float | None]:
    return [round(value / total, 6) if total else None for value in row]


# ------------------------------------------------------------ balance-weighted vintages

VINTAGE_RESAMPLES = 999  # bootstrap resamples per point


@dataclass(frozen=True)
class AccountAt:
    """One credit account as it stood at the end of an observation date (minor units).

    ``originated_minor``: principal lent so far (a plan's or loan's financed principal; a
    pay-later line's draws up to that date); ``bad_minor``: its principal then if it was 30
    or more days past due, or what was written off if it was written off, else 0."""

    account_id: str
    vintage: str  # YYYY-MM of opening
    originated_minor: int
    bad_minor: int


def _month_end(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def months_on_book(vintage: str, day: dt.date) -> float:
    """Months from the end of the opening month to ``day``, as the console counts them
    (creditpay.reporting.dashboard.vintage_curves): 0 at the end of the opening month, 1 at
    the end of the next, fractional in between (the day's share of its month, 2 places);
    negative inside the opening month."""
    year, month = (int(part) for part in vintage.split("-"))
    whole = (day.year - year) * 12 + day.month - month
    return round(whole - 1 + day.day / _month_end(day).day, 2)


def ratio_interval(bad_minor: Sequence[int], originated_minor: Sequence[int], *,
                   seed: int, level: float = VINTAGE_LEVEL,
                   resamples: int = VINTAGE_RESAMPLES) -> tuple[float, float]:
    """Percentile bootstrap interval of ``sum(bad) / sum(originated)`` over accounts
    (scipy.stats.bootstrap, paired: an account is resampled with both of its amounts),
    seeded: the same accounts give the same interval. The ratio of sums weights each
    account by its principal, which a count-based interval cannot; resampling accounts
    keeps each account's bad and originated amounts together. When every account is bad or
    none is, every resample gives the same ratio and the interval is that point; with a
    handful of accounts the percentiles may miss the point estimate, and the interval is
    then widened to include it. Every ``originated_minor`` must be positive."""
    import numpy as np
    from scipy.stats import bootstrap

    bad = np.asarray(bad_minor, dtype=np.float64)
    originated = np.asarray(originated_minor, dtype=np.float64)
    if len(bad) == 0 or len(bad) != len(originated) or not (originated > 0).all():
        raise ValueError("one positive originated amount per account is needed")
    point = float(bad.sum() / originated.sum())
    if len(bad) == 1 or np.allclose(bad, point * originated):
        return point, point

    def ratio(b: Any, o: Any, axis: int) -> Any:
        return b.sum(axis=axis) / o.sum(axis=axis)

    result = bootstrap((bad, originated), ratio, paired=True, vectorized=True,
                       n_resamples=resamples, confidence_level=level, method="percentile",
                       batch=200, rng=np.random.default_rng(seed))
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return min(low, point), max(high, point)


def vintage_balance_curves(observations: Mapping[dt.date, Sequence[AccountAt]], *,
                           seed: int = 0) -> list[dict[str, Any]]:
    """Per vintage (opening month) and observation date: the balance-weighted bad rate
    ``bad_share`` = sum of ``bad_minor`` / sum of ``originated_minor`` of the vintage's
    accounts that had been lent something by then, with its 95 % bootstrap interval over
    accounts (:func:`ratio_interval`), and the count-based rate ``bad_accounts_share`` (bad
    accounts / accounts) with its Wilson interval. Points are ordered by months on book
    (:func:`months_on_book`); ``month_end`` tells a month end from the run's last day. A
    vintage appears from the end of its opening month: before, it is still being lent and
    its months on book would be negative."""
    import zlib

    curves: dict[str, list[dict[str, Any]]] = {}
    for day in sorted(observations):
        groups: dict[str, list[AccountAt]] = {}
        for account in observations[day]:
            if account.originated_minor > 0:
                groups.setdefault(account.vintage, []).append(account)
        for vintage, accounts in groups.items():
            if months_on_book(vintage, day) < 0:
                continue
            bad = [a.bad_minor for a in accounts]
            originated = [a.originated_minor for a in accounts]
            # A seed per point: adding a vintage or a date leaves the others' intervals.
            point_seed = zlib.crc32(f"{seed}:{vintage}:{day.isoformat()}".encode())
            low, high = ratio_interval(bad, originated, seed=point_seed)
            n_bad = sum(1 for b in bad if b > 0)
            count_low, count_high = wilson_interval(n_bad, len(accounts))
            curves.setdefault(vintage, []).append({
                "date": day.isoformat(), "months_on_book": months_on_book(vintage, day),
                "month_end": day == _month_end(day),
                "accounts": len(accounts), "originated_minor": sum(originated),
                "bad_minor": sum(bad), "bad_share": round(sum(bad) / sum(originated), 6),
                "bad_share_low": round(low, 6), "bad_share_high": round(high, 6),
                "bad_accounts": n_bad, "bad_accounts_share": round(n_bad / len(accounts), 6),
                "bad_accounts_low": round(count_low, 6),
                "bad_accounts_high": round(count_high, 6)})
    return [{"vintage": vintage, "curve": points} for vintage, points in sorted(curves.items())]
