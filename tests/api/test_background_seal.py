"""The in-process job runner (``creditpay serve`` in development mode, ``creditpay worker``
on SQLite) seals the audit chain every few seconds (both stores), so a committed audit
record stays outside the hash chain only for a bounded window, and each seal writes a signed
checkpoint outside the database (a failed write is logged, then caught up)."""

from __future__ import annotations

import asyncio
import logging

from creditpay.config import Settings
from creditpay.jobs.functions import JobSchedule
from creditpay.jobs.inprocess import InProcessRunner
from creditpay.platform import audit
from creditpay.platform.checkpoints import AuditCheckpointer, DirectoryCheckpointStore
from creditpay.platform.tables import audit_records
from tests.api.helpers import build_app


async def _run_for(rt, seconds):
    schedule = JobSchedule(period_s=1, seal_period_s=1)
    task = asyncio.create_task(InProcessRunner(rt.services, schedule, nightly=False).run())
    await asyncio.sleep(seconds)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def test_background_jobs_seal_appended_records(store, clock, tmp_path):
    checkpoints = DirectoryCheckpointStore(tmp_path / "checkpoints")
    app = build_app(store.url, clock, audit_checkpoint_store=checkpoints)
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
            result = audit.verify_against_store(
                conn, checkpoints, trusted_public_keys=rt.audit_checkpointer.trusted_keys())
        assert result.ok and result.checkpoint_index == 0
    finally:
        rt.close()
    # The documented protection window (docs/security.md): the default seal period.
    assert 0 < Settings.of().audit_seal_period_s <= 10


def test_a_checkpoint_the_background_could_not_write_is_logged_and_caught_up(
        store, clock, tmp_path, caplog):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    app = build_app(store.url, clock, audit_checkpoint_store=DirectoryCheckpointStore(blocked))
    rt = app.state.runtime
    try:
        with rt.uow.begin() as tx:
            audit.append(tx, "system", "tests", "tests.recorded", "thing", "t-1", {"n": 1})
        with caplog.at_level(logging.ERROR, logger="creditpay.jobs"):
            asyncio.run(_run_for(rt, 0.5))
        assert any("audit checkpoint not written" in r.getMessage() for r in caplog.records)
        working = DirectoryCheckpointStore(tmp_path / "checkpoints")
        # The runner seals with the services' checkpointer (the runtime holds the same one).
        rt.services.audit_checkpointer = AuditCheckpointer(rt.audit_checkpointer.signing_key,
                                                           working)
        asyncio.run(_run_for(rt, 0.5))
        assert working.latest()["chain_index"] == 0  # nothing new sealed, still written
    finally:
        rt.close()
