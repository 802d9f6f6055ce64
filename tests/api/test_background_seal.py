"""The API's background jobs seal the audit chain every few seconds (both stores), so a
committed audit record stays outside the hash chain only for a bounded window."""

from __future__ import annotations

import asyncio

from creditpay.api.app import AUDIT_SEAL_PERIOD_S, _background
from creditpay.compliance import audit
from creditpay.compliance.tables import audit_records
from tests.api.helpers import build_app


async def _run_for(rt, seconds):
    task = asyncio.create_task(_background(rt, period_s=0.02, seal_period_s=0.1))
    await asyncio.sleep(seconds)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def test_background_jobs_seal_appended_records(store, clock):
    app = build_app(store.url, clock)
    rt = app.state.runtime
    try:
        with rt.uow.begin() as tx:
            audit.append(tx, "system", "tests", "tests.recorded", "thing", "t-1", {"n": 1})
        with rt.uow.connect() as conn:
            assert audit.unsealed_count(conn) == 1
        asyncio.run(_run_for(rt, 0.5))
        with rt.uow.connect() as conn:
            assert audit.unsealed_count(conn) == 0
            assert conn.execute(audit_records.select()).mappings().first()["hash"]
        assert audit.verify_database(rt.uow.engine).ok
    finally:
        rt.close()
    assert 0 < AUDIT_SEAL_PERIOD_S <= 10  # the documented protection window
