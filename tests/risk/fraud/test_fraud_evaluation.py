import numpy as np
import pytest

from creditpay.risk.fraud.evaluation import (
    ProtocolConfig,
    card_precision_top_k,
    evaluate_fold,
    handbook_events,
)
from creditpay.risk.fraud.features import FeatureConfig, compute_features_offline


def test_card_precision_top_k_by_hand():
    days = np.array([0, 0, 0, 0, 1, 1, 1])
    cards = np.array([1, 1, 2, 3, 1, 2, 3])
    fraud = np.array([0, 1, 0, 0, 1, 0, 1])
    scores = np.array([0.1, 0.9, 0.8, 0.2, 0.9, 0.3, 0.2])
    # Day 0: top 2 cards are 1 (fraud) and 2 -> 1/2. Day 1: card 1 was detected and leaves;
    # top 2 of {2, 3} -> card 3 is fraud -> 1/2.
    assert card_precision_top_k(days, cards, fraud, scores, top_k=2) == 0.5
    assert card_precision_top_k(days, cards, fraud, scores, top_k=1) == pytest.approx(0.5)


def test_protocol_fold_excludes_known_compromised_cards(small_sim):
    events = handbook_events(small_sim, label_delay_days=7)
    cfg = FeatureConfig()
    x = compute_features_offline(events, cfg)
    protocol = ProtocolConfig(delta_train=7, delta_delay=7, delta_test=7, n_folds=1)
    result, model = evaluate_fold(events, x, start_day=20, protocol=protocol,
                                  feature_config=cfg, num_boost_round=30)
    day = events["day"].to_numpy()
    fraud = events["is_fraud"].to_numpy()
    customer = events["customer_id"].to_numpy()
    known = set(customer[(day >= 20) & (day < 27) & (fraud == 1)].tolist())
    test_all = (day >= 34) & (day < 41)
    assert result["test_rows"] < int(test_all.sum())
    assert result["test_rows"] <= int((test_all & ~np.isin(customer, list(known))).sum())
    assert 0.5 < result["auc_roc"] <= 1.0
    assert 0.0 < result["average_precision"] <= 1.0
    assert 0.0 <= result["card_precision_at_100"] <= 1.0
    assert model.manifest["training"]["start_day"] == 20
