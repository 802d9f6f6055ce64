"""The book's charts in the simulated economy's report, from the platform's own records:
monthly roll-rate matrices (the month-end cells the nightly batch records, the same the
console's roll_rates view pools), balance-weighted vintage curves with 95 % intervals, and
the horizon each chart's measure needs (:func:`chart_warnings`). Pure: no I/O, no clock;
:mod:`creditpay.sim.economy` reads the records and calls these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["roll_rate_matrices", "roll_state", "ROLL_STATES", "ROLL_FROM_STATES", "AccountAt",
           "vintage_balance_curves", "ratio_interval", "wilson_interval", "months_on_book",
           "Horizon", "chart_warnings", "horizon_rules", "HORIZON_RULES",
           "VINTAGE_MONTHS_ON_BOOK_MIN"]


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

VINTAGE_LEVEL = 0.95  # the intervals' confidence level
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


def wilson_interval(successes: int, trials: int,
                    level: float = VINTAGE_LEVEL) -> tuple[float, float]:
    """Wilson score interval of a proportion (scipy.stats.binomtest): unlike the normal
    approximation it stays inside 0..1 and has a width when no account (or every one) is
    bad."""
    from scipy.stats import binomtest

    interval = binomtest(successes, trials).proportion_ci(confidence_level=level,
                                                          method="wilson")
    return float(interval.low), float(interval.high)


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


# ------------------------------------------------------------- horizons the charts need

ROLL_MONTH_ENDS_MIN = 2  # a matrix compares a month end with the previous one
VINTAGE_MONTHS_ON_BOOK_MIN = 3  # first bill about a month after opening, then 30 days late
FRAUD_MATURED_DAYS_MIN = 14  # days of screening whose fraud labels have all arrived
BAD_OUTCOME_DAYS = 61  # a purchase's first due date (up to a month) plus 30 days past due
# Above this share of approvals younger than BAD_OUTCOME_DAYS the bad rate by grade is
# materially understated; below it, as in any book still lending, it is the usual young tail.
UNMATURED_APPROVALS_SHARE_MAX = 0.2
WRITE_OFF_DPD = 90  # the pay-later line is written off at M3 (creditpay.sim.economy)

# Each chart's rule, as the report's note under it states it.
HORIZON_RULES: dict[str, str] = {
    "roll_rate_matrix": (f"a roll-rate matrix compares one month end with the previous one: "
                         f"it needs at least {ROLL_MONTH_ENDS_MIN} month ends in the run"),
    "vintages": (f"30+ days past due can first show about {VINTAGE_MONTHS_ON_BOOK_MIN} months "
                 "on book (a first bill about a month after opening, then 30 days late): "
                 f"a vintage younger than {VINTAGE_MONTHS_ON_BOOK_MIN} months on book is flat "
                 "whatever its quality (drawn dashed); the chart needs at least one vintage "
                 "that old"),
    "grade_outcomes": (f"an approval can go 30+ days past due only {BAD_OUTCOME_DAYS} days "
                       "after it (a first due date up to a month later, then 30 days late): "
                       "approvals younger than that understate the bad rate, materially above "
                       f"{UNMATURED_APPROVALS_SHARE_MAX:.0%} of the approvals"),
    "fraud": ("a payment's fraud label (the victim's report, the chargeback) arrives up to "
              "{label_days} days after it: precision and recall of the last {label_days} days "
              f"are provisional, and at least {FRAUD_MATURED_DAYS_MIN} days of matured labels "
              "are needed to read them"),
    "alerts": ("a dynamic band is computed from the previous {window} days: nothing can be "
               "flagged in the first {window} days, and a run needs at least twice that to "
               "watch as many days as it warmed up"),
    "delinquency": (f"an account reaches write-off {WRITE_OFF_DPD} days past due: buckets "
                    f"past M3 and write-offs need {WRITE_OFF_DPD} days after the first past-due "
                    "day"),
}


@dataclass(frozen=True)
class Horizon:
    """What a run covered, for :func:`chart_warnings` (dates are business dates)."""

    start: dt.date
    end: dt.date
    month_ends: Sequence[dt.date] = ()  # month ends recorded by the platform in the run
    vintage_months_on_book: Mapping[str, float] = field(default_factory=dict)  # at the end
    approval_dates: Sequence[dt.date] = ()
    first_past_due: dt.date | None = None  # first day any account was past due
    fraud_label_days: int = 6
    monitor_window_days: int = 14


def horizon_rules(horizon: Horizon) -> dict[str, str]:
    """:data:`HORIZON_RULES` with the run's parameters filled in."""
    return {chart: rule.format(label_days=horizon.fraud_label_days,
                               window=horizon.monitor_window_days)
            for chart, rule in HORIZON_RULES.items()}


def chart_warnings(horizon: Horizon) -> list[dict[str, str]]:
    """One warning per chart whose measure needs a longer horizon than the run gave it:
    ``{"chart", "rule", "message"}`` (the rule from :func:`horizon_rules`, the message
    saying what the run lacked). Empty when every chart had what it needs."""
    rules = horizon_rules(horizon)
    days = (horizon.end - horizon.start).days + 1
    found: list[tuple[str, str]] = []
    month_ends = len(horizon.month_ends)
    if month_ends < ROLL_MONTH_ENDS_MIN:
        found.append(("roll_rate_matrix", f"the run has {month_ends} month end(s): no "
                                          "roll-rate matrix yet"))
    ages = horizon.vintage_months_on_book
    if not ages:
        found.append(("vintages", "no vintage has reached the end of its opening month yet"))
    elif max(ages.values()) < VINTAGE_MONTHS_ON_BOOK_MIN:
        found.append(("vintages", (
            f"every vintage is under {VINTAGE_MONTHS_ON_BOOK_MIN} months on book (the oldest "
            f"at {max(ages.values()):.1f}): the curves cannot show 30+ dpd losses yet, flat "
            "is not good news")))
    recent = sum(1 for d in horizon.approval_dates
                 if (horizon.end - d).days < BAD_OUTCOME_DAYS)
    if recent > UNMATURED_APPROVALS_SHARE_MAX * len(horizon.approval_dates):
        found.append(("grade_outcomes", (
            f"{recent:,} of {len(horizon.approval_dates):,} approvals were made less than "
            f"{BAD_OUTCOME_DAYS} days before the run's end: their bad rate is understated")))
    matured = days - horizon.fraud_label_days
    if matured < FRAUD_MATURED_DAYS_MIN:
        found.append(("fraud", f"only {max(matured, 0)} day(s) of the run have matured fraud "
                               "labels"))
    if days < 2 * horizon.monitor_window_days:
        found.append(("alerts", f"the run has {days} days: bands existed for "
                                f"{max(days - horizon.monitor_window_days, 0)} of them"))
    if horizon.first_past_due is not None:
        late_days = (horizon.end - horizon.first_past_due).days
        if late_days < WRITE_OFF_DPD:
            found.append(("delinquency", (
                f"the first account went past due {late_days} days before the run's end: "
                "later buckets and write-offs cannot have appeared yet")))
    return [{"chart": chart, "rule": rules[chart], "message": message}
            for chart, message in found]
