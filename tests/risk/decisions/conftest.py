"""Fixtures of the decision tests: synthetic models trained once, a store set up per test."""

from __future__ import annotations

import datetime as dt

import pytest

from creditpay.risk.bureau import SimulatedBureau
from creditpay.risk.decisions import registry
from creditpay.risk.decisions.policy import activate_policy, bundled_policy_path, load_policy_file
from creditpay.risk.features.synthetic import train_synthetic_models

CONSENT = "consent-123"


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return train_synthetic_models(folder, seed=11, n_customers=2500,
                                  created_at="2025-01-01T00:00:00+00:00", author="tests")


def allow_all(tx, customer_id, purpose, consent_reference):
    """A consent checker that accepts any named consent (the compliance one is stricter)."""
    if not consent_reference:
        from creditpay.errors import ConsentRequiredError
        raise ConsentRequiredError("no consent", field="consent_reference")


@pytest.fixture
def risk_store(uow, model_dirs):
    """A store with the application and behaviour models registered and policies active."""
    with uow.begin() as tx:
        for name, folder in (("application", model_dirs["application"]),
                             ("application", model_dirs["application_challenger"]),
                             ("behaviour", model_dirs["behaviour"])):
            registry.register_model(tx, folder, name=name, registered_by="tests")
        registry.promote(tx, "application", 1, actor="tests", reason="initial")
        registry.promote(tx, "behaviour", 1, actor="tests", reason="initial")
        for kind in ("application", "limit_review"):
            activate_policy(tx, load_policy_file(bundled_policy_path(kind)), actor="tests")
    return uow


def grant(tx, customer_id: str, purpose: str) -> str:
    """Record the customer's consent for ``purpose``; returns its reference ``consent:<id>``."""
    from creditpay.protection.consent import consent_text, grant_consent
    from creditpay.protection.consent_refs import reference_of

    text = consent_text(purpose, "en")
    return reference_of(grant_consent(tx, customer_id=customer_id, purpose=purpose,
                                      language="en", text_version=text.version,
                                      text_sha256=text.sha256, channel="app"))


GOOD_APPLICATION = {"date_of_birth": "1990-05-17", "monthly_income_minor": 2_500_000,
                    "employment_type": "salaried", "kyc_verified": True}


def good_events(customer_id: str, now: dt.datetime, n: int = 60) -> list[dict]:
    """A steady payment history ending the day before ``now``, plus events after ``now``."""
    events = []
    for i in range(n):
        at = now - dt.timedelta(days=400 - i * 6.5)
        events.append({"customer_id": customer_id, "occurred_at": at, "kind": "payment",
                       "amount_minor": 10_000 + 100 * i,
                       "merchant_category": ("groceries", "dining", "transport")[i % 3]})
    for k in range(5):  # the future: must never change anything
        events.append({"customer_id": customer_id, "occurred_at": now + dt.timedelta(days=k),
                       "kind": "repayment_late", "amount_minor": 99_999,
                       "merchant_category": None})
    return events


def clean_bureau(**overrides) -> dict:
    values = {"debt_minor": 0, "monthly_repayment_minor": 0, "inquiries_6m": 0,
              "lenders_in_use": 0, "delinquencies_24m": 0}
    values.update(overrides)
    return values


def bureau_for(customer_id: str, **overrides) -> SimulatedBureau:
    return SimulatedBureau(3, overrides={customer_id: clean_bureau(**overrides)})
