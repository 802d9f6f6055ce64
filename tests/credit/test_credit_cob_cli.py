"""`creditpay cob run` on a SQLite file: runs, is idempotent, refuses a future date."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from creditpay.cli import app
from creditpay.config import AUDIT_CHECKPOINT_DIR_ENV
from creditpay.platform import keys
from creditpay.protection.auto_debit_consents import ReferencedAutoDebitConsents
from tests.catalogues import CATALOGUE


def test_cob_run_command(tmp_path, monkeypatch):
    db = str(tmp_path / "cob.db")
    runner = CliRunner()
    monkeypatch.delenv(keys.AUDIT_SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv(keys.AUDIT_SIGNING_KEY_FILE_ENV, raising=False)
    monkeypatch.delenv(keys.MASTER_KEY_FILE_ENV, raising=False)
    monkeypatch.delenv(keys.MASTER_KEY_ENV, raising=False)
    refused = runner.invoke(app, ["cob", "run", "--date", "2020-01-01", "--db", db, "--json"])
    # Without key material the close's audit seal could not be checkpointed: nothing runs.
    assert refused.exit_code == 2 and "no master key" in refused.output
    monkeypatch.setenv(keys.MASTER_KEY_ENV, keys.encode_key(keys.generate_key_bytes()))
    monkeypatch.setenv(AUDIT_CHECKPOINT_DIR_ENV, str(tmp_path / "checkpoints"))
    first = runner.invoke(app, ["cob", "run", "--date", "2020-01-01", "--db", db, "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["business_date"] == "2020-01-01"
    # The close's audit record was sealed and the head checkpointed outside the database.
    assert (tmp_path / "checkpoints" / "checkpoint-000000000000.json").exists()
    again = runner.invoke(app, ["cob", "run", "--date", "2020-01-01", "--db", db, "--json"])
    assert json.loads(again.stdout)["already_done"] is True
    future = runner.invoke(app, ["cob", "run", "--date", "2999-01-01", "--db", db, "--json"])
    assert future.exit_code == 2 and future.stdout == ""


def test_close_of_business_seals_the_audit_chain(uow, clock, tmp_path):
    """Records appended during the day are chained by the night's close of business, and
    the new head is checkpointed."""
    import datetime as dt

    from creditpay.credit.cob import run_close_of_business
    from creditpay.platform import audit
    from creditpay.platform.checkpoints import AuditCheckpointer, DirectoryCheckpointStore

    checkpointer = AuditCheckpointer(
        keys.load_audit_signing_key(keys.LocalMasterKey(keys.generate_key_bytes())),
        DirectoryCheckpointStore(tmp_path / "checkpoints"))
    with uow.begin() as tx:
        audit.append(tx, "staff", "op1", "config.changed", "product", "huabei",
                     {"field": "grace_days", "to": 3})
    with uow.connect() as conn:
        assert audit.unsealed_count(conn) == 1
    run_close_of_business(uow, clock.today() - dt.timedelta(days=1),
                          audit_checkpointer=checkpointer,
                          auto_debit_consents=ReferencedAutoDebitConsents(), catalogue=CATALOGUE)
    with uow.connect() as conn:
        assert audit.unsealed_count(conn) == 0
        assert audit.verify(conn).ok
        assert checkpointer.store.latest()["chain_index"] == 1  # the day's record + COB's
