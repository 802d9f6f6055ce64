from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.helpers import Api, running_api


@pytest.fixture
def api(store, clock) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    """The real app on the test store (SQLite and PostgreSQL), driven through httpx."""
    with running_api(store.url, clock) as api:
        yield api
