from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import Api, build_app


@pytest.fixture
def api(store, clock) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    """The real app on the test store (SQLite and PostgreSQL), driven through httpx."""
    app = build_app(store.url, clock)
    client = TestClient(app, raise_server_exceptions=False)
    try:
        yield Api(client, app)
    finally:
        client.close()
        app.state.runtime.close()
