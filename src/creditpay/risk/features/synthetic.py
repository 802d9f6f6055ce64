"""A synthetic applicant population with a known risk model, for training and tests.

Each customer gets an application, a platform payment history (including events *after* the
observation time, so a leaky training set would be caught) and a bureau report from
:class:`~creditpay.risk.bureau.SimulatedBureau`. The outcome is drawn from a logistic model of
the point-in-time features plus a hidden behaviour trait, so a scorecard trained on the
features recovers a meaningful, monotone relationship. Deterministic per seed.

Also: synthetic accounts with behaviour features for the limit-review model, and
:func:`train_synthetic_models`, which trains and saves the application and behaviour
scorecards (the ``creditpay risk bootstrap`` command and the tests use it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from pathlib import Path
from typing import Any

from creditpay.risk.bureau import SimulatedBureau
from creditpay.risk.features.compute import build_training_set
from creditpay.risk.features.declarations import feature

__all__ = [
    "APPLICATION_MODEL_FEATURES",
    "BEHAVIOUR_FEATURES",
    "synthetic_accounts",
    "synthetic_applicant",
    "synthetic_population",
    "train_synthetic_models",
]

# Features the application scorecard may use (kyc_verified is a knock-out, not a score input;
# existing exposure drives the limit, not the score).
APPLICATION_MODEL_FEATURES = (
    "age_years", "monthly_income_minor", "employment_type", "housing", "payments_count_90d",
    "payments_amount_minor_90d", "refund_share_90d", "merchant_categories_90d",
    "late_repayments_180d", "platform_tenure_months", "platform_credit_balance_minor",
    "spend_volatility_6m", "top_ups_count_90d", "failed_payments_count_90d",
    "failed_payments_share_90d", "devices_count_90d", "current_device_age_days",
    "bureau_debt_minor", "bureau_inquiries_6m", "bureau_lenders_in_use",
    "bureau_delinquencies_24m", "debt_to_income", "debt_service_ratio",
)
BEHAVIOUR_FEATURES = ("utilisation", "dpd_current", "dpd_max_6m", "on_time_share_6m",
                      "months_on_book", "payments_count_90d")
_CATEGORIES = ("groceries", "dining", "transport", "utilities", "travel", "education",
               "medical", "electronics", "fashion", "games")
_EMPLOYMENT = (("salaried", 60), ("self_employed", 20), ("student", 8), ("retired", 7),
               ("unemployed", 5))
_HOUSING = (("rent", 35), ("own", 25), ("mortgage", 20), ("family", 15), ("other", 5))


def synthetic_applicant(rng: random.Random, customer_id: str, as_of: dt.datetime,
                        trait: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One applicant's application and event history (events run 60 days past ``as_of``).

    The hidden ``trait`` (higher is safer) also drives the newer behaviour signals: riskier
    customers see more declined payments and failed top-ups, change devices more often and
    spend more erratically.
    """
    age = rng.randint(18, 70)
    born = dt.date(as_of.year - age, rng.randint(1, 12), rng.randint(1, 28))
    employment = rng.choices([e for e, _ in _EMPLOYMENT], [w for _, w in _EMPLOYMENT])[0]
    income = int(rng.lognormvariate(9.0 + 0.25 * (employment == "salaried"), 0.5)) * 100
    housing = rng.choices([h for h, _ in _HOUSING], [w for _, w in _HOUSING])[0]
    housing_share = {"rent": 0.25, "mortgage": 0.3}.get(housing, 0.0)
    obligations = int(max(income, 100) * (housing_share + rng.betavariate(1.2, 8.0)) / 100) * 100
    application = {"date_of_birth": born.isoformat(), "monthly_income_minor": max(income, 100),
                   "employment_type": employment, "kyc_verified": rng.random() > 0.02,
                   "housing": housing, "declared_monthly_obligations_minor": obligations}
    tenure_days = int(rng.expovariate(1 / 300)) if rng.random() > 0.1 else 0
    activity = max(0.02, rng.lognormvariate(-1.2 + 0.3 * trait, 0.6))  # payments per day
    erratic = 1 / (1 + math.exp(1.0 + 0.8 * trait))  # how bursty spending is, 0..1
    decline_rate = 0.02 + 0.15 / (1 + math.exp(1.5 + 1.2 * trait))
    events: list[dict[str, Any]] = []
    start = as_of - dt.timedelta(days=tenure_days)
    day = start
    end = as_of + dt.timedelta(days=60)  # the future a leaky feature would see
    while tenure_days and day < end:
        day += dt.timedelta(days=rng.expovariate(activity), seconds=rng.randint(0, 86_399))
        if day >= end:
            break
        size = rng.lognormvariate(4.0, 1.0 + erratic)
        amount = int(min(size, 5e6)) * 100 + 100
        if rng.random() < decline_rate:
            events.append({"customer_id": customer_id, "occurred_at": day,
                           "kind": "payment_declined", "amount_minor": amount,
                           "merchant_category": None})
            continue
        events.append({"customer_id": customer_id, "occurred_at": day, "kind": "payment",
                       "amount_minor": amount, "merchant_category": rng.choice(_CATEGORIES)})
        if rng.random() < 0.04:
            events.append({"customer_id": customer_id, "occurred_at": day + dt.timedelta(hours=2),
                           "kind": "refund", "amount_minor": amount, "merchant_category": None})
        if rng.random() < 0.15:
            events.append({"customer_id": customer_id, "occurred_at": day, "kind":
                           "credit_drawdown", "amount_minor": amount, "merchant_category": None})
            late = rng.random() < 1 / (1 + math.exp(2.5 + 1.2 * trait))
            events.append({"customer_id": customer_id,
                           "occurred_at": day + dt.timedelta(days=rng.randint(10, 40)),
                           "kind": "repayment_late" if late else "repayment",
                           "amount_minor": amount, "merchant_category": None})
        if rng.random() < 0.12:  # a wallet top-up before some purchases
            failed = rng.random() < decline_rate
            events.append({"customer_id": customer_id, "occurred_at": day - dt.timedelta(
                minutes=30), "kind": "top_up_failed" if failed else "top_up",
                "amount_minor": amount * 2, "merchant_category": None})
    events.extend(_device_history(rng, customer_id, start, end, tenure_days, trait))
    for event in events:  # one column set for every row, so the table form has device_id
        event.setdefault("device_id", None)
    return application, events


def _device_history(rng: random.Random, customer_id: str, start: dt.datetime,
                    end: dt.datetime, tenure_days: int, trait: float) -> list[dict[str, Any]]:
    """Device sightings (sign-ins) about every two weeks; riskier customers switch often."""
    if not tenure_days:
        return []
    switch_per_day = 1 / (120 * (1 + math.exp(0.8 * trait)) / 2)
    device = 0
    day = start
    sightings = []
    while day < end:
        sightings.append({"customer_id": customer_id, "occurred_at": day, "kind": "device_seen",
                          "amount_minor": 0, "merchant_category": None,
                          "device_id": f"{customer_id}-d{device}"})
        gap = rng.expovariate(1 / 14)
        day += dt.timedelta(days=gap, seconds=rng.randint(0, 86_399))
        if rng.random() < 1 - math.exp(-switch_per_day * gap):
            device += 1
    return sightings


def _true_logit(row: dict[str, Any], trait: float) -> float:
    def value(name: str, default: float = 0.0) -> float:
        v = row[name]
        return default if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    return (-3.0 - 0.6 * trait
            + 0.35 * value("bureau_lenders_in_use") + 0.25 * math.sqrt(value("bureau_inquiries_6m"))
            + 0.6 * value("bureau_delinquencies_24m") + 0.5 * value("late_repayments_180d")
            + 1.2 * min(value("debt_to_income"), 1.5)
            - 0.5 * (math.log(value("monthly_income_minor", 1.0)) - 11.0)
            - 0.4 * (value("platform_tenure_months", 0.0) >= 6)
            + 0.5 * (row["employment_type"] == "unemployed") + 0.3 * (row["age_years"] < 23)
            + 0.8 * max(0.0, min(value("debt_service_ratio"), 1.5) - 0.4)
            + 0.25 * min(value("failed_payments_count_90d"), 4.0)
            + 0.3 * (value("devices_count_90d") >= 3)
            + 0.3 * (value("current_device_age_days", 999.0) < 30)
            + 0.3 * min(value("spend_volatility_6m"), 2.0)
            + 0.2 * (row["housing"] == "family"))


def synthetic_population(n_customers: int, seed: int = 0, bureau_seed: int = 0,
                         start: dt.datetime = dt.datetime(2024, 7, 1, tzinfo=dt.UTC),
                         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(observations, events)``: one observation per customer (with a ``bad`` label)."""
    rng = random.Random(seed)
    bureau = SimulatedBureau(bureau_seed)
    observations: list[dict[str, Any]] = []
    events = []
    for i in range(n_customers):
        customer_id = f"syn-{seed}-{i:06d}"
        as_of = start + dt.timedelta(days=rng.randint(0, 180), seconds=rng.randint(0, 86_399))
        trait = rng.gauss(0.0, 1.0)
        application, history = synthetic_applicant(rng, customer_id, as_of, trait)
        events.extend(history)
        observations.append({"customer_id": customer_id, "as_of": as_of,
                             "application": application,
                             "bureau": bureau.fetch(customer_id, as_of).to_json(),
                             "trait": trait, "draw": rng.random()})
    frame = build_training_set(observations, events)
    for observation, row in zip(observations, frame.to_dict(orient="records"), strict=True):
        logit = _true_logit(row, observation.pop("trait"))
        observation["bad"] = int(observation.pop("draw") < 1 / (1 + math.exp(-logit)))
    return observations, events


def synthetic_accounts(n_accounts: int, seed: int = 0) -> list[dict[str, Any]]:
    """Credit-line accounts with behaviour features and a ``bad`` label (next 6 months)."""
    rng = random.Random(seed)
    accounts = []
    for i in range(n_accounts):
        trait = rng.gauss(0.0, 1.0)
        limit = rng.choice((500_000, 1_000_000, 2_000_000, 5_000_000))
        utilisation = min(1.0, max(0.0, rng.betavariate(2, 3) - 0.1 * trait))
        dpd_max = rng.choices((0, 5, 15, 35, 65), (80, 8, 5, 4, 3))[0] if trait < 1 else 0
        dpd_now = dpd_max if rng.random() < 0.3 else 0
        on_time = round(max(0.0, min(1.0, 0.9 + 0.05 * trait - dpd_max / 200)), 4)
        row: dict[str, Any] = {
            "account_id": f"acct-{seed}-{i:06d}", "customer_id": f"cust-{seed}-{i:06d}",
            "current_limit_minor": limit, "balance_minor": int(limit * utilisation),
            "utilisation": round(utilisation, 4), "dpd_current": dpd_now,
            "dpd_max_6m": dpd_max, "on_time_share_6m": on_time,
            "months_on_book": rng.randint(1, 48), "payments_count_90d": rng.randint(0, 120),
            "other_exposure_minor": rng.choice((0, 0, 1_000_000, 5_000_000))}
        logit = (-3.2 - 0.7 * trait + 1.5 * utilisation + 0.03 * dpd_max + 0.02 * dpd_now
                 - 2.0 * (on_time - 0.9) - 0.02 * row["months_on_book"])
        row["bad"] = int(rng.random() < 1 / (1 + math.exp(-logit)))
        accounts.append(row)
    return accounts


def _sha256(frame: Any) -> str:
    """Hash of the exact training rows (as CSV), recorded in the model manifest."""
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def train_synthetic_models(directory: str | Path, *, seed: int = 0, n_customers: int = 3000,
                           created_at: str, author: str = "synthetic") -> dict[str, Path]:
    """Train application (scorecard + a GBM-free challenger scorecard) and behaviour models.

    Returns ``{"application": dir, "application_challenger": dir, "behaviour": dir}``. The
    challenger is a scorecard with strictly monotone bins (``auto_asc_desc``): a realistic
    alternative to test in production against the champion.
    """
    import pandas as pd

    from creditpay.risk.scoring.artifact import save_model
    from creditpay.risk.scoring.dataset import dataset_from_frame
    from creditpay.risk.scoring.metrics import roc_auc
    from creditpay.risk.scoring.scorecard import ScorecardConfig, fit_scorecard

    directory = Path(directory)
    observations, events = synthetic_population(n_customers, seed=seed, bureau_seed=seed)
    frame = build_training_set(observations, events)
    training = frame[list(APPLICATION_MODEL_FEATURES) + ["bad"]]
    categorical = [f for f in APPLICATION_MODEL_FEATURES if feature(f).kind == "categorical"]
    data = dataset_from_frame(training, "bad", categorical=categorical,
                              numeric=[f for f in APPLICATION_MODEL_FEATURES
                                       if f not in categorical], sha256=_sha256(training))
    # The policy's grade bands, the consumer texts and the decision tests are calibrated on
    # scorecards fitted with 5 % prebins, C = 1 and WoE-only pruning (the defaults before
    # issue #18); these models keep them until those are re-calibrated, while
    # `creditpay model train` uses the new defaults.
    out = {}
    for name, trend in (("application", "auto"), ("application_challenger", "auto_asc_desc")):
        model = fit_scorecard(data, ScorecardConfig(
            monotonic_trend=trend, seed=seed, min_prebin_size=0.05, regularisation_c=1.0,
            value_correlation=False))
        auc = roc_auc(data.bad, -model.score(data.frame))
        out[name] = save_model(directory / name, model, data=data, created_at=created_at,
                               author=author, metrics={"training": {"auc": auc}})
    accounts = pd.DataFrame(synthetic_accounts(n_customers, seed=seed))
    columns = accounts[list(BEHAVIOUR_FEATURES) + ["bad"]]
    behaviour = dataset_from_frame(columns, "bad", numeric=list(BEHAVIOUR_FEATURES),
                                   sha256=_sha256(columns))
    model = fit_scorecard(behaviour, ScorecardConfig(
        seed=seed, min_prebin_size=0.05, regularisation_c=1.0, value_correlation=False))
    out["behaviour"] = save_model(
        directory / "behaviour", model, data=behaviour, created_at=created_at, author=author,
        metrics={"training": {"auc": roc_auc(behaviour.bad, -model.score(behaviour.frame))}})
    return out
