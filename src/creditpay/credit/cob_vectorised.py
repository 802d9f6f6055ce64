"""The close of business's daily arithmetic over arrays of accounts (pure numpy, no I/O).

Dates are int64 day numbers (days since 1970-01-01) with :data:`NO_DATE` for none; money
is int64 minor units; rates are int64 millionths; accrual numerators are exact int64 in units
of ``1 / (1_000_000 * year_basis_days)`` minor unit (daily interest on 200,000.00 CNY at
24 % adds 4.8e12 a day: an int64 holds five million years of it).

Interest bases (``interest_base``): 0 none; 1 principal not past due (loans, plans priced by
interest); 2 past-due principal (revolving lines: what is unpaid after the due date);
3 original principal while any is current (flat-rate loans, 等本等息; the caller passes the
principal lent less the principal prepaid, so interest stops on what is prepaid).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

__all__ = ["NO_DATE", "DayResult", "accrue_and_age", "day_number", "to_day_numbers",
           "round_half_up_div", "random_state", "MICRO", "positions"]

NO_DATE = np.int64(-(2**40))
MICRO = 1_000_000
_EPOCH = dt.date(1970, 1, 1)


def day_number(day: dt.date) -> int:
    return (day - _EPOCH).days


def to_day_numbers(values: list[object] | np.ndarray) -> np.ndarray:
    """ISO strings, dates or None -> int64 day numbers (None -> NO_DATE)."""
    values = np.asarray(values, dtype=object)
    present = values != None  # noqa: E711 - element-wise comparison with None
    numbers = np.full(len(values), NO_DATE, dtype=np.int64)
    if present.any():
        # Only the dates present are parsed (most accounts have no past-due date).
        numbers[present] = np.asarray(values[present].tolist(),
                                      dtype="datetime64[D]").astype(np.int64)
    return numbers


def positions(seq: np.ndarray, seqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``seqs`` in the sorted ``seq``, and which of them are present."""
    if len(seq) == 0:
        return np.zeros(len(seqs), dtype=np.int64), np.zeros(len(seqs), dtype=bool)
    pos = np.clip(np.searchsorted(seq, seqs), 0, len(seq) - 1)
    return pos, seq[pos] == seqs


def round_half_up_div(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise round(numerator / denominator) half-up for numerator >= 0."""
    rounded: np.ndarray = (2 * numerator + denominator) // (2 * denominator)
    return rounded


@dataclass
class DayResult:
    interest_num: np.ndarray
    penalty_num: np.ndarray
    interest_added_num: np.ndarray
    penalty_added_num: np.ndarray
    dpd: np.ndarray
    late_fee_due: np.ndarray  # bool: charge the late fee today
    write_off: np.ndarray  # bool: write off today


def accrue_and_age(*, day: int, interest_base: np.ndarray, interest_rate_micro: np.ndarray,
                   penalty_rate_micro: np.ndarray, grace_days: np.ndarray,
                   late_fee_minor: np.ndarray, write_off_dpd: np.ndarray,
                   principal_current: np.ndarray, principal_past_due: np.ndarray,
                   principal_original: np.ndarray, interest_num: np.ndarray,
                   penalty_num: np.ndarray, oldest_past_due: np.ndarray,
                   latest_past_due: np.ndarray, late_fee_through: np.ndarray) -> DayResult:
    """One day of accrual and ageing for every account (the hot part of the close of
    business). Interest for day ``day`` accrues on the base; penalty interest accrues on
    past-due principal once the account's oldest missed due date is more than its grace
    days behind; dpd counts days since that date; a late fee is due once per missed due
    date after the grace days; write-off is due at the product's dpd."""
    base = np.where(interest_base == 1, principal_current,
                    np.where(interest_base == 2, principal_past_due,
                             np.where((interest_base == 3) & (principal_current > 0),
                                      principal_original, 0)))
    interest_added = base * interest_rate_micro
    has_late = oldest_past_due != NO_DATE
    since_oldest = np.where(has_late, day - oldest_past_due, 0)
    penalty_added = np.where(has_late & (since_oldest > grace_days),
                             principal_past_due * penalty_rate_micro, 0)
    dpd = np.maximum(since_oldest, 0)
    late_fee_due = ((latest_past_due != NO_DATE) & (day - latest_past_due > grace_days)
                    & (late_fee_through < latest_past_due) & (late_fee_minor > 0))
    return DayResult(interest_num + interest_added, penalty_num + penalty_added,
                     interest_added, penalty_added, dpd, late_fee_due,
                     dpd >= write_off_dpd)


def random_state(count: int, seed: int = 7) -> dict[str, np.ndarray | np.int64]:
    """Synthetic account arrays with the benchmark's mix (for the in-memory reference), and
    the business ``day`` (a day number) as a scalar."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(np.array([0, 1, 2]), size=count, p=[0.4, 0.35, 0.25])
    current = rng.integers(10_000, 2_000_000, size=count, dtype=np.int64)
    late = rng.random(count) < 0.06
    past_due = np.where(late, rng.integers(1_000, 200_000, size=count), 0).astype(np.int64)
    day = day_number(dt.date(2025, 6, 18))
    oldest = np.where(late, day - rng.integers(1, 200, size=count), NO_DATE).astype(np.int64)
    return {
        "interest_base": np.where(kind == 0, 0, np.where(kind == 1, 0, 1)).astype(np.int64),
        "interest_rate_micro": np.where(kind == 2, 182_500, 0).astype(np.int64),
        "penalty_rate_micro": np.full(count, 109_500, dtype=np.int64),
        "grace_days": np.full(count, 3, dtype=np.int64),
        "late_fee_minor": np.zeros(count, dtype=np.int64),
        "write_off_dpd": np.full(count, 180, dtype=np.int64),
        "principal_current": current, "principal_past_due": past_due,
        "principal_original": current + past_due,
        "interest_num": np.zeros(count, dtype=np.int64),
        "penalty_num": np.zeros(count, dtype=np.int64),
        "oldest_past_due": oldest, "latest_past_due": oldest,
        "late_fee_through": np.full(count, NO_DATE, dtype=np.int64),
        "day": np.int64(day),
    }
