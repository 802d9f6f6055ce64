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


def test_protocol_dates_match_the_handbook_test_estimate():
    import datetime as dt

    from creditpay.risk.fraud.evaluation import (
        HANDBOOK_START_DATE_TRAINING,
        VALIDATION_TRAIN_START,
        fold_windows,
    )

    protocol = ProtocolConfig()
    assert (protocol.delta_train, protocol.delta_delay, protocol.delta_test,
            protocol.n_folds, protocol.top_k) == (7, 7, 7, 4, 100)
    # Handbook model selection: start_date_training = 2018-07-25; the test estimate trains
    # from 2018-07-25 + (n_folds - 1) * delta_test, each fold shifted back by delta_test.
    assert HANDBOOK_START_DATE_TRAINING == dt.date(2018, 7, 25)
    assert protocol.first_train_start == dt.date(2018, 8, 15)
    folds = fold_windows(protocol)
    assert [f["train_start"] for f in folds] == [
        dt.date(2018, 8, 15), dt.date(2018, 8, 8), dt.date(2018, 8, 1), dt.date(2018, 7, 25)]
    assert (folds[0]["train_end"], folds[0]["delay_start"]) == (
        dt.date(2018, 8, 21), dt.date(2018, 8, 22))
    assert (folds[0]["test_start"], folds[0]["test_end"]) == (
        dt.date(2018, 8, 29), dt.date(2018, 9, 4))
    assert (folds[3]["test_start"], folds[3]["test_end"]) == (
        dt.date(2018, 8, 8), dt.date(2018, 8, 14))
    # Validation estimate (hyperparameter choice): 2018-07-25 - (delay + valid) days; its
    # latest test window ends before the earliest test-estimate test window starts.
    assert VALIDATION_TRAIN_START == dt.date(2018, 7, 11)
    valid = fold_windows(ProtocolConfig(first_train_start=VALIDATION_TRAIN_START))
    assert valid[0]["test_end"] == dt.date(2018, 7, 31)
    assert valid[0]["test_end"] < folds[-1]["test_start"]


def test_handbook_features_and_validation_protocol():
    """Risk windows end exactly delta_delay days before the transaction's day (handbook),
    labels arrive after the same delay, and model selection uses the validation folds,
    whose tests all end before the first test-estimate test day."""
    from creditpay.risk.fraud.evaluation import (
        VALIDATION_TRAIN_START,
        fold_windows,
        handbook_feature_config,
        validation_protocol,
    )

    cfg = handbook_feature_config(ProtocolConfig(delta_delay=5))
    assert (cfg.label_delay_days, cfg.risk_lag_days) == (5, 5)
    assert handbook_feature_config().risk_lag_days == 7
    valid = validation_protocol()
    assert valid.first_train_start == VALIDATION_TRAIN_START and valid.n_folds == 4
    assert max(f["test_end"] for f in fold_windows(valid)) < min(
        f["test_start"] for f in fold_windows(ProtocolConfig()))


def test_fold_with_seed_averaging_and_early_stopping(small_sim):
    from creditpay.errors import ValidationError

    events = handbook_events(small_sim, label_delay_days=7)
    cfg = FeatureConfig()
    x = compute_features_offline(events, cfg)
    protocol = ProtocolConfig(n_folds=1)
    result, model = evaluate_fold(events, x, start_day=20, protocol=protocol,
                                  feature_config=cfg, num_boost_round=80, n_models=2,
                                  early_stopping_days=1)
    day = events["day"].to_numpy()
    # The hold-out is the last training day, never a later (delay or test) day.
    assert model.manifest["early_stopping"]["holdout_rows"] == int((day == 26).sum())
    assert model.manifest["ensemble"]["n_models"] == 2
    rounds = model.manifest["early_stopping"]["best_iteration"]
    assert result["num_boost_round"] == rounds <= 80
    assert result["model_nodes"] == model.forest.n_nodes
    assert len(model.forest.roots) == 2 * rounds
    assert 0.5 < result["auc_roc"] <= 1.0
    with pytest.raises(ValidationError) as err:
        evaluate_fold(events, x, start_day=20, protocol=protocol, feature_config=cfg,
                      num_boost_round=5, early_stopping_days=7)
    assert err.value.field == "early_stopping_days"


def test_selection_rule_by_mean_rank():
    from creditpay.risk.fraud.evaluation import select_by_mean_rank

    def m(auc, ap, cp):
        return {"auc_roc": auc, "average_precision": ap, "card_precision_at_100": cp}

    # The issue #6 validation table (5 decimals): k = 3 with early stopping wins, beats
    # the incumbent on every metric, so it is chosen.
    table = {"k1": m(0.87261, 0.68995, 0.30464), "k3": m(0.87529, 0.69246, 0.30571),
             "k5": m(0.87588, 0.69272, 0.30500), "k1_es": m(0.87519, 0.69041, 0.30536),
             "k3_es": m(0.87556, 0.69300, 0.30536), "k5_es": m(0.87466, 0.69301, 0.30536)}
    cost = {"k1": 3370, "k3": 10152, "k5": 17010, "k1_es": 854, "k3_es": 2460,
            "k5_es": 4164}
    out = select_by_mean_rank(table, cost, "k1")
    assert out["ranks"]["k3_es"] == [2, 2, 2] and out["ranks"]["k5_es"] == [5, 1, 2]
    assert out["best"] == out["chosen"] == "k3_es"
    # Tie on mean rank -> the cheaper; a best that is worse on one metric than the
    # incumbent does not replace it.
    tied = {"a": m(0.9, 0.6, 0.3), "b": m(0.8, 0.7, 0.3), "inc": m(0.7, 0.5, 0.2)}
    out = select_by_mean_rank(tied, {"a": 10, "b": 5, "inc": 1}, "inc")
    assert out["ranks"]["a"] == [1, 2, 1] and out["ranks"]["b"] == [2, 1, 1]
    assert out["best"] == out["chosen"] == "b"
    out = select_by_mean_rank({"a": m(0.9, 0.7, 0.29), "inc": m(0.8, 0.6, 0.3)},
                              {"a": 1, "inc": 1}, "inc")
    assert out["best"] == "a" and out["chosen"] == "inc"
