from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.helpers import Api, running_api


@pytest.fixture
def api(store, clock) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    """The real app on the test store (SQLite and PostgreSQL), driven through httpx."""
    with running_api(store.url, clock) as api:
        yield api


@pytest.fixture(scope="session")
def application_model(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The synthetic application model (1,500 customers, seed 11) that the consumer-credit
    and credit-score tests decide with: trained once per test process, not per module."""
    from creditpay.risk.features.synthetic import train_synthetic_models

    folder = tmp_path_factory.mktemp("api-application-model")
    return train_synthetic_models(folder, seed=11, n_customers=1500,
                                  created_at="2025-01-01T00:00:00+00:00",
                                  author="tests")["application"]
