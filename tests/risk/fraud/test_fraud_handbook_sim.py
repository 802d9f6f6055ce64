import numpy as np
import pytest

from creditpay.errors import ValidationError
from creditpay.risk.fraud.handbook_sim import HandbookSimConfig, simulate


def test_same_seed_same_data_other_seed_other_data():
    cfg = HandbookSimConfig(n_customers=100, n_terminals=200, n_days=10, seed=3)
    a, b = simulate(cfg), simulate(cfg)
    assert a.transactions.equals(b.transactions)
    c = simulate(HandbookSimConfig(n_customers=100, n_terminals=200, n_days=10, seed=4))
    assert not a.transactions.equals(c.transactions)


def test_profiles_and_transactions_follow_the_design(small_sim):
    tx = small_sim.transactions
    cfg = small_sim.config
    ts = tx["tx_time_s"].to_numpy()
    assert (np.diff(ts) >= 0).all()
    time_of_day = ts % 86_400
    assert time_of_day.min() > 0
    assert abs(np.median(time_of_day) - 43_200) < 2_000  # around noon
    assert (tx["amount"].to_numpy() >= 0).all()
    assert (tx["amount_minor"].to_numpy()
            == np.round(tx["amount"].to_numpy() * 100).astype(np.int64)).all()
    # Customers only use terminals within the radius.
    cust = small_sim.customers
    cx = cust["x"].to_numpy()[tx["customer_id"].to_numpy()]
    cy = cust["y"].to_numpy()[tx["customer_id"].to_numpy()]
    dist = np.hypot(cx - tx["terminal_x"].to_numpy(), cy - tx["terminal_y"].to_numpy())
    assert dist.max() < cfg.radius + 1e-4
    # Poisson mean per day matches the profile on aggregate.
    expected = cust.filter(cust["n_terminals_nearby"] > 0)["mean_tx_per_day"].sum() * cfg.n_days
    assert abs(tx.height / expected - 1) < 0.1  # minus ~1.7% of times drawn outside the day


def test_fraud_scenarios(small_sim):
    tx = small_sim.transactions
    scenario = tx["fraud_scenario"].to_numpy()
    fraud = tx["is_fraud"].to_numpy()
    amount = tx["amount"].to_numpy()
    assert ((scenario > 0) == (fraud == 1)).all()
    assert (amount[scenario == 1] > 220).all()
    # Scenario 2: every transaction of a compromised terminal while compromised is fraud.
    s2 = tx.filter(tx["fraud_scenario"] == 2)
    assert s2.height > 0
    for terminal in s2["terminal_id"].unique().to_list()[:5]:
        t = tx.filter(tx["terminal_id"] == terminal)
        days = t.filter(t["fraud_scenario"] == 2)["day"]
        window = t.filter((t["day"] >= days.min()) & (t["day"] <= days.max()))
        assert (window["is_fraud"] == 1).all()
    # Scenario 3: inflated amounts, about a third of the victims' transactions.
    s3 = tx.filter(tx["fraud_scenario"] == 3)
    assert s3.height > 0
    profile = small_sim.customers["mean_amount"].to_numpy()[s3["customer_id"].to_numpy()]
    assert np.median(s3["amount"].to_numpy() / profile) > 3
    # 2 of 500 terminals compromised per day for 28 days: a high rate in this small world.
    assert 0.01 < fraud.mean() < 0.3


def test_bad_config_names_the_field():
    with pytest.raises(ValidationError) as err:
        HandbookSimConfig(n_customers=0)
    assert err.value.field == "n_customers"
