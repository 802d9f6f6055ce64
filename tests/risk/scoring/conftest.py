"""Shared fixtures of the scoring tests: German credit and models fitted once per session."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditpay.benchmarks.german_credit import BAD_VALUE, TARGET, german_credit_path
from creditpay.risk.scoring.dataset import CreditDataset, dataset_from_frame, read_credit_csv
from creditpay.risk.scoring.gbm import GbmModel, fit_gbm
from creditpay.risk.scoring.scorecard import Scorecard, ScorecardConfig, fit_scorecard


@pytest.fixture(scope="session")
def german_path():
    return german_credit_path()


@pytest.fixture(scope="session")
def german(german_path) -> CreditDataset:
    return read_credit_csv(german_path, TARGET, BAD_VALUE)


@pytest.fixture(scope="session")
def german_gappy_frame(german_path) -> pd.DataFrame:
    """German credit with missing values injected into numeric and categorical columns."""
    frame = pd.read_csv(german_path)
    rng = np.random.default_rng(3)
    frame["duration_in_month"] = frame["duration_in_month"].astype(float)
    frame.loc[rng.random(len(frame)) < 0.08, "duration_in_month"] = np.nan
    frame.loc[rng.random(len(frame)) < 0.05, "credit_amount"] = np.nan
    purpose = frame["purpose"].astype(object)
    purpose[rng.random(len(frame)) < 0.06] = None
    frame["purpose"] = purpose
    return frame


@pytest.fixture(scope="session")
def german_gappy(german_gappy_frame) -> CreditDataset:
    return dataset_from_frame(german_gappy_frame, TARGET, BAD_VALUE)


@pytest.fixture(scope="session")
def gappy_scorecard(german_gappy) -> Scorecard:
    # min_iv 0 and no correlation pruning: every characteristic stays, so every one is tested.
    return fit_scorecard(german_gappy, ScorecardConfig(min_iv=0.0, max_abs_correlation=1.0))


@pytest.fixture(scope="session")
def german_scorecard(german) -> Scorecard:
    return fit_scorecard(german)


@pytest.fixture(scope="session")
def german_gbm(german) -> GbmModel:
    return fit_gbm(german)
