"""The simulator retrains its fraud model on one LightGBM thread
(``creditpay.sim.economy.FRAUD_TRAIN_THREADS``): the trees must be those two threads grow,
so the run's screenings, and every figure but the model's version hash, stay the same."""

from __future__ import annotations

import numpy as np

from creditpay.risk.fraud.features import FeatureConfig, feature_names
from creditpay.risk.fraud.model import train_model
from creditpay.sim.economy import FRAUD_TRAIN_THREADS


def _trees(text: str) -> str:
    return text.split("parameters:")[0]


def test_one_thread_grows_the_trees_two_threads_grow():
    config = FeatureConfig()
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3_000, len(feature_names(config))))
    x[rng.random(x.shape) < 0.2] = np.nan
    y = (np.nan_to_num(x[:, 0]) + rng.normal(size=len(x)) > 2.0).astype(np.int64)
    assert FRAUD_TRAIN_THREADS == 1
    one = train_model(x, y, config, num_boost_round=30, params={"num_threads": 1})
    two = train_model(x, y, config, num_boost_round=30, params={"num_threads": 2})
    assert "[num_threads: 1]" in one.model_text and "[num_threads: 2]" in two.model_text
    assert _trees(one.model_text) == _trees(two.model_text)
    assert np.array_equal(one.predict_batch(x[:200]), two.predict_batch(x[:200]))
