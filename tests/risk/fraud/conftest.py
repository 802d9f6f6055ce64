"""Small simulated data shared by the fraud tests (kept small: the suite runs in seconds)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from creditpay.risk.fraud.evaluation import handbook_events
from creditpay.risk.fraud.handbook_sim import HandbookSimConfig, simulate


@pytest.fixture(scope="session")
def small_sim():
    return simulate(HandbookSimConfig(n_customers=250, n_terminals=500, n_days=45, seed=7))


@pytest.fixture(scope="session")
def mixed_events(small_sim) -> pl.DataFrame:
    """Handbook events perturbed so every feature path is exercised: shared and changing
    devices, missing cards / terminals / locations, random label delays."""
    ev = handbook_events(small_sim, label_delay_days=7)
    rng = np.random.default_rng(11)
    n = ev.height
    customer = ev["customer_id"].to_numpy()
    device = np.where(rng.random(n) < 0.15, rng.integers(0, 40, n) + 100_000, customer)
    card = np.where(rng.random(n) < 0.2, -1, customer)
    terminal = np.where(rng.random(n) < 0.1, -1, ev["terminal_id"].to_numpy())
    grid_x = ev["grid_x"].to_numpy().copy()
    grid_y = ev["grid_y"].to_numpy().copy()
    unlocated = rng.random(n) < 0.05
    grid_x[unlocated] = np.nan
    grid_y[unlocated] = np.nan
    fraud = ev["is_fraud"].to_numpy()
    ts = ev["timestamp_s"].to_numpy()
    label = np.where(fraud == 1, ts + rng.integers(0, 12 * 86_400, n), -1)
    return ev.with_columns(
        pl.Series("device_id", device),
        pl.Series("card_id", card).replace(-1, None),
        pl.Series("terminal_id", terminal).replace(-1, None),
        pl.Series("grid_x", grid_x).fill_nan(None),
        pl.Series("grid_y", grid_y).fill_nan(None),
        pl.Series("label_timestamp_s", label).replace(-1, None),
    )
