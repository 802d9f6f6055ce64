"""The night's batch chains the close of business, the limit review (only when configured),
complaint escalation and the audit seal; a re-run of the date changes nothing."""

from __future__ import annotations

import datetime as dt

from creditpay.nightly import limit_review_configured, run_nightly
from creditpay.platform import audit
from creditpay.platform.checkpoints import AuditCheckpointer, DirectoryCheckpointStore
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes, load_audit_signing_key
from tests.catalogues import CATALOGUE


def test_nightly_runs_each_step_once_and_seals(uow, clock, tmp_path):
    checkpointer = AuditCheckpointer(
        load_audit_signing_key(LocalMasterKey(generate_key_bytes())),
        DirectoryCheckpointStore(tmp_path / "checkpoints"))
    with uow.begin() as tx:
        audit.append(tx, "staff", "op1", "config.changed", "product", "huabei",
                     {"field": "grace_days", "to": 3})
    yesterday = clock.today() - dt.timedelta(days=1)
    assert limit_review_configured(uow) is False
    first = run_nightly(uow, yesterday, audit_checkpointer=checkpointer, catalogue=CATALOGUE)
    assert first.close_of_business["business_date"] == yesterday.isoformat()
    assert first.limit_review is None and first.skipped
    with uow.connect() as conn:
        assert audit.unsealed_count(conn) == 0 and audit.verify(conn).ok
        # The night's seal left a signed checkpoint of the head outside the database.
        result = audit.verify_against_store(conn, checkpointer.store,
                                            trusted_public_keys=checkpointer.trusted_keys())
        assert result.ok and result.checkpoint_index == result.head_index >= 1
    again = run_nightly(uow, yesterday, audit_checkpointer=checkpointer, catalogue=CATALOGUE)
    assert again.close_of_business["already_done"] is True
    assert again.complaints_escalated == 0
