"""Synthetic card transactions following the Fraud Detection Handbook's simulator design.

An independent, vectorised implementation of the design described in chapter 3 of
Le Borgne et al., *Reproducible Machine Learning for Credit Card Fraud Detection - Practical
Handbook*: customers and terminals on a square grid, a spending profile per customer, Poisson
transactions per day around noon, and three fraud scenarios (large amounts, compromised
terminals, compromised customer credentials). It is a research data set, so amounts are float
currency units internally; ``amount_minor`` (int, cents) is what the screening API consumes.

Everything is drawn from one ``numpy.random.Generator`` seeded by ``HandbookSimConfig.seed``,
so the same configuration always yields the same transactions (bit for bit).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from creditpay.errors import ValidationError

__all__ = ["HandbookSimConfig", "HandbookData", "simulate", "SECONDS_PER_DAY"]

SECONDS_PER_DAY = 86_400
# Customers are processed in chunks when finding their nearby terminals so the distance
# matrix stays below ~40 MB (chunk x n_terminals float32) whatever the population.
_NEIGHBOUR_CHUNK_CUSTOMERS = 1_000


@dataclass(frozen=True)
class HandbookSimConfig:
    """Sizes and parameters of the simulation (defaults are the handbook's).

    Amounts are in currency units (float), times in seconds, distances in grid units.
    """

    n_customers: int = 5_000
    n_terminals: int = 10_000
    n_days: int = 183
    start_date: dt.date = dt.date(2018, 4, 1)
    radius: float = 5.0
    grid_size: float = 100.0
    seed: int = 0
    # Spending profile: mean amount ~ U(lo, hi), std = mean * ratio, tx/day ~ U(0, hi).
    mean_amount_low: float = 5.0
    mean_amount_high: float = 100.0
    std_amount_ratio: float = 0.5
    tx_per_day_high: float = 4.0
    # Time of day ~ N(noon, std), transactions drawn outside the day are discarded.
    time_of_day_mean_s: float = SECONDS_PER_DAY / 2
    time_of_day_std_s: float = 20_000.0
    # Scenario 1: any amount above this threshold is fraud.
    fraud_amount_threshold: float = 220.0
    # Scenario 2: terminals compromised per day, and for how long.
    compromised_terminals_per_day: int = 2
    terminal_compromise_days: int = 28
    # Scenario 3: customers whose credentials leak per day, for how long, which share of
    # their transactions the fraudster makes and by how much the amount is inflated.
    compromised_customers_per_day: int = 3
    customer_compromise_days: int = 14
    customer_fraud_share: float = 1.0 / 3.0
    customer_fraud_amount_factor: float = 5.0

    def __post_init__(self) -> None:
        positive_ints = ("n_customers", "n_terminals", "n_days")
        for name in positive_ints:
            if int(getattr(self, name)) <= 0:
                raise ValidationError(f"{name} must be positive", field=name)
        if self.radius <= 0:
            raise ValidationError("radius must be positive", field="radius")
        if not 0.0 <= self.customer_fraud_share <= 1.0:
            raise ValidationError("must be within [0, 1]", field="customer_fraud_share")
        if self.compromised_terminals_per_day > self.n_terminals:
            raise ValidationError("more than n_terminals", field="compromised_terminals_per_day")
        if self.compromised_customers_per_day > self.n_customers:
            raise ValidationError("more than n_customers", field="compromised_customers_per_day")

    @property
    def start_timestamp_s(self) -> int:
        """Unix seconds of ``start_date`` at 00:00 (UTC; the handbook's times are naive)."""
        start = dt.datetime(self.start_date.year, self.start_date.month, self.start_date.day,
                            tzinfo=dt.UTC)
        return int(start.timestamp())


@dataclass(frozen=True)
class HandbookData:
    """Result of :func:`simulate`.

    ``customers``: customer_id, x, y, mean_amount, std_amount, mean_tx_per_day.
    ``terminals``: terminal_id, x, y.
    ``transactions`` (sorted by time): transaction_id, timestamp_s (unix s), tx_time_s
    (seconds since start), day (days since start), customer_id, terminal_id, amount
    (currency units, 2 decimals), amount_minor (int cents), is_fraud (0/1),
    fraud_scenario (0 none, 1/2/3), terminal_x, terminal_y.
    """

    config: HandbookSimConfig
    customers: pl.DataFrame
    terminals: pl.DataFrame
    transactions: pl.DataFrame = field(repr=False)


def _nearby_terminals(cust_xy: np.ndarray, term_xy: np.ndarray,
                      radius: float) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists of terminals within ``radius`` of each customer: (offsets, terminal ids)."""
    radius_sq = np.float32(radius) ** 2
    term32 = term_xy.astype(np.float32)
    counts = np.zeros(len(cust_xy), dtype=np.int64)
    chunks: list[np.ndarray] = []
    for start in range(0, len(cust_xy), _NEIGHBOUR_CHUNK_CUSTOMERS):
        block = cust_xy[start:start + _NEIGHBOUR_CHUNK_CUSTOMERS].astype(np.float32)
        dx = block[:, 0:1] - term32[None, :, 0]
        dy = block[:, 1:2] - term32[None, :, 1]
        near = dx * dx + dy * dy < radius_sq
        rows, cols = np.nonzero(near)  # row-major: grouped by customer, terminals ascending
        counts[start:start + len(block)] = np.bincount(rows, minlength=len(block))
        chunks.append(cols.astype(np.int32))
    offsets = np.zeros(len(cust_xy) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets, np.concatenate(chunks) if chunks else np.zeros(0, np.int32)


def _window_mask(n_entities: int, n_days: int, picks: list[np.ndarray],
                 duration_days: int) -> np.ndarray:
    """Boolean [entity, day] matrix: entity picked on day d is marked for days d..d+duration-1."""
    mask = np.zeros((n_entities, n_days), dtype=bool)
    for day, entities in enumerate(picks):
        mask[entities, day:day + duration_days] = True
    return mask


def simulate(config: HandbookSimConfig | None = None) -> HandbookData:
    """Generate customers, terminals and labelled transactions (deterministic per seed)."""
    cfg = config or HandbookSimConfig()
    rng = np.random.default_rng(cfg.seed)

    # -- profiles
    cust_xy = rng.uniform(0.0, cfg.grid_size, size=(cfg.n_customers, 2))
    mean_amount = rng.uniform(cfg.mean_amount_low, cfg.mean_amount_high, size=cfg.n_customers)
    std_amount = mean_amount * cfg.std_amount_ratio
    tx_per_day = rng.uniform(0.0, cfg.tx_per_day_high, size=cfg.n_customers)
    term_xy = rng.uniform(0.0, cfg.grid_size, size=(cfg.n_terminals, 2))
    offsets, neighbours = _nearby_terminals(cust_xy, term_xy, cfg.radius)
    n_near = np.diff(offsets)

    # -- transactions: Poisson count per (customer, day), only customers with a terminal nearby
    counts = rng.poisson(tx_per_day[:, None], size=(cfg.n_customers, cfg.n_days))
    counts[n_near == 0, :] = 0
    flat = counts.ravel()
    cust = np.repeat(np.repeat(np.arange(cfg.n_customers), cfg.n_days), flat)
    day = np.repeat(np.tile(np.arange(cfg.n_days), cfg.n_customers), flat)
    n_draw = len(cust)
    time_of_day = rng.normal(cfg.time_of_day_mean_s, cfg.time_of_day_std_s, size=n_draw)
    time_of_day = time_of_day.astype(np.int64)  # truncation toward zero, whole seconds
    amount = rng.normal(mean_amount[cust], std_amount[cust])
    # Negative draws are replaced by a uniform amount in (0, 2 * mean), keeping them positive.
    negative = amount < 0
    amount[negative] = rng.uniform(0.0, 2.0 * mean_amount[cust[negative]])
    amount = np.round(amount, 2)
    pick = np.floor(rng.random(n_draw) * n_near[cust]).astype(np.int64)
    terminal = neighbours[offsets[cust] + pick].astype(np.int64)

    keep = (time_of_day > 0) & (time_of_day < SECONDS_PER_DAY)
    cust, day, time_of_day, amount, terminal = (
        cust[keep], day[keep], time_of_day[keep], amount[keep], terminal[keep])
    tx_time_s = day * SECONDS_PER_DAY + time_of_day
    order = np.lexsort((cust, tx_time_s))  # by time, ties by customer: stable and total
    cust, day, tx_time_s, amount, terminal = (
        cust[order], day[order], tx_time_s[order], amount[order], terminal[order])
    n_tx = len(cust)

    # -- fraud scenarios, applied in the handbook's order (a later one overrides the label)
    scenario = np.zeros(n_tx, dtype=np.int8)
    scenario[amount > cfg.fraud_amount_threshold] = 1

    term_picks = [rng.choice(cfg.n_terminals, cfg.compromised_terminals_per_day, replace=False)
                  for _ in range(cfg.n_days)]
    term_mask = _window_mask(cfg.n_terminals, cfg.n_days, term_picks, cfg.terminal_compromise_days)
    scenario[term_mask[terminal, day]] = 2

    by_customer = np.lexsort((tx_time_s, cust))  # indices grouped by customer, time-ordered
    cust_sorted = cust[by_customer]
    day_sorted = day[by_customer]
    cust_start = np.searchsorted(cust_sorted, np.arange(cfg.n_customers), side="left")
    cust_end = np.searchsorted(cust_sorted, np.arange(cfg.n_customers), side="right")
    for start_day in range(cfg.n_days):
        victims = rng.choice(cfg.n_customers, cfg.compromised_customers_per_day, replace=False)
        spans = [by_customer[cust_start[c]:cust_end[c]][
            (day_sorted[cust_start[c]:cust_end[c]] >= start_day)
            & (day_sorted[cust_start[c]:cust_end[c]] < start_day + cfg.customer_compromise_days)]
            for c in victims]
        exposed = np.concatenate(spans) if spans else np.zeros(0, np.int64)
        n_fraud = int(len(exposed) * cfg.customer_fraud_share)
        if n_fraud:
            chosen = rng.choice(exposed, n_fraud, replace=False)
            amount[chosen] = np.round(amount[chosen] * cfg.customer_fraud_amount_factor, 2)
            scenario[chosen] = 3

    amount_minor = np.round(amount * 100.0).astype(np.int64)
    transactions = pl.DataFrame({
        "transaction_id": np.arange(n_tx, dtype=np.int64),
        "timestamp_s": tx_time_s + cfg.start_timestamp_s,
        "tx_time_s": tx_time_s,
        "day": day.astype(np.int32),
        "customer_id": cust.astype(np.int64),
        "terminal_id": terminal,
        "amount": amount,
        "amount_minor": amount_minor,
        "is_fraud": (scenario > 0).astype(np.int8),
        "fraud_scenario": scenario,
        "terminal_x": term_xy[terminal, 0],
        "terminal_y": term_xy[terminal, 1],
    })
    customers = pl.DataFrame({
        "customer_id": np.arange(cfg.n_customers, dtype=np.int64),
        "x": cust_xy[:, 0], "y": cust_xy[:, 1],
        "mean_amount": mean_amount, "std_amount": std_amount, "mean_tx_per_day": tx_per_day,
        "n_terminals_nearby": n_near,
    })
    terminals = pl.DataFrame({
        "terminal_id": np.arange(cfg.n_terminals, dtype=np.int64),
        "x": term_xy[:, 0], "y": term_xy[:, 1],
    })
    return HandbookData(config=cfg, customers=customers, terminals=terminals,
                        transactions=transactions)
