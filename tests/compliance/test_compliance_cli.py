"""``creditpay audit`` / ``creditpay vault`` commands, run through Typer's test runner."""

from __future__ import annotations

import json
import os
import stat

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from creditpay.cli.audit import register
from creditpay.config import AUDIT_CHECKPOINT_DIR_ENV, AUDIT_TRUSTED_KEYS_ENV
from creditpay.db.engine import make_engine
from creditpay.platform import audit, keys
from creditpay.platform.vault import Vault, parse_ciphertext


@pytest.fixture
def app():
    # A private app: importing creditpay.cli would also import every other domain's CLI.
    root = typer.Typer()
    register(root, typer.Typer())
    return root


@pytest.fixture
def checkpoint_dir(tmp_path):
    return tmp_path / "audit-checkpoints"


@pytest.fixture
def run(app, monkeypatch, checkpoint_dir):
    for name in (keys.MASTER_KEY_ENV, keys.MASTER_KEY_FILE_ENV, keys.BLIND_INDEX_KEY_ENV,
                 keys.BLIND_INDEX_KEY_FILE_ENV, keys.AUDIT_SIGNING_KEY_ENV,
                 keys.AUDIT_SIGNING_KEY_FILE_ENV, "CREDITPAY_DATABASE_URL",
                 AUDIT_TRUSTED_KEYS_ENV):
        monkeypatch.delenv(name, raising=False)
    # Each test its own store (on PostgreSQL the default would be under ./var).
    monkeypatch.setenv(AUDIT_CHECKPOINT_DIR_ENV, str(checkpoint_dir))
    runner = CliRunner()

    def invoke(*args, env=None):
        return runner.invoke(app, list(args), env=env)

    return invoke


@pytest.fixture
def master_env(master):
    return {keys.MASTER_KEY_ENV: keys.encode_key(master._key)}


def _append(uow, count):
    for i in range(count):
        with uow.begin() as tx:
            audit.append(tx, "system", "cob", "interest.accrued", "loan", f"loan_{i}",
                         {"amount_minor": i})


def test_verify_intact_chain_exits_0(run, uow, db_url, master_env, checkpoint_dir):
    _append(uow, 4)
    result = run("audit", "seal", "--db", db_url, env=master_env)
    assert result.exit_code == 0 and "sealed 4 records" in result.output
    assert f"checkpoint of chain_index 3 written to {checkpoint_dir}" in result.output
    result = run("audit", "verify", "--db", db_url, env=master_env)
    assert result.exit_code == 0, result.output
    assert "intact: 4 records" in result.output
    assert "consistent with the checkpoint of chain_index 3" in result.output


def test_verify_tampered_chain_exits_1_naming_the_record(run, uow, engine, db_url):
    _append(uow, 5)
    audit.seal(uow, None)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET actor_id = 'x' WHERE chain_index = 3"))
        record_id = conn.execute(text(
            "SELECT id FROM audit_records WHERE chain_index = 3")).scalar_one()
    result = run("audit", "verify", "--db", db_url)
    assert result.exit_code == 1
    assert f"chain_index 3 (record id {record_id})" in result.output


def test_verify_warns_about_unsealed_records_and_can_seal(run, uow, db_url, master_env):
    _append(uow, 2)
    result = run("audit", "verify", "--db", db_url)
    assert result.exit_code == 0 and "2 records are not sealed" in result.output
    result = run("audit", "verify", "--db", db_url, "--seal", env=master_env)
    assert result.exit_code == 0 and "intact: 2 records" in result.output


def test_missing_tables_and_files_give_a_clear_error(run, tmp_path):
    empty = f"sqlite:///{tmp_path}/empty.db"
    make_engine(empty).connect().close()
    for command in (["audit", "verify"], ["audit", "seal"], ["vault", "rotate"]):
        result = run(*command, "--db", empty)
        assert result.exit_code == 2, result.output
        assert "missing" in result.output and "Traceback" not in result.output
    result = run("audit", "verify", "--db", f"sqlite:///{tmp_path}/typo.db")
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not (tmp_path / "typo.db").exists()


def test_checkpoint_round_trip(run, uow, db_url, master_env, tmp_path, checkpoint_dir):
    _append(uow, 3)
    out = tmp_path / "cp.json"
    result = run("audit", "checkpoint", "--db", db_url, "--out", str(out), env=master_env)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["chain_index"] == 2  # --seal is the default
    stored = json.loads((checkpoint_dir / "checkpoint-000000000002.json").read_text())
    assert stored == doc  # the store outside the database has it too
    result = run("audit", "checkpoint", "--db", db_url, "--out", str(out), env=master_env)
    assert result.exit_code == 2 and "exists" in result.output  # evidence is not replaced
    _append(uow, 2)
    result = run("audit", "verify", "--db", db_url, "--seal", "--checkpoint", str(out),
                 "--trusted-key", doc["public_key"], env=master_env)
    assert result.exit_code == 0 and f"checkpoint {out}: ok" in result.output
    result = run("audit", "verify", "--db", db_url, "--checkpoint", str(out),
                 "--trusted-key", "00" * 32)
    assert result.exit_code == 1 and "untrusted" in result.output


def test_checkpoint_without_key_material_fails_cleanly(run, uow, db_url):
    result = run("audit", "checkpoint", "--db", db_url)
    assert result.exit_code == 2 and "no master key" in result.output


def test_init_key_creates_0600_file_and_refuses_overwrite(run, tmp_path):
    path = tmp_path / "var" / "master.key"
    result = run("vault", "init-key", "--path", str(path))
    assert result.exit_code == 0, result.output
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(keys.read_key_file(path)) == 32
    before = path.read_text()
    result = run("vault", "init-key", "--path", str(path))
    assert result.exit_code == 2 and "refusing to overwrite" in result.output
    assert path.read_text() == before


def test_rotate_and_status(run, uow, master, db_url, master_env):
    vault = Vault(uow, master)
    old = parse_ciphertext(vault.encrypt("customers.phone", "c1", "x")).key_id
    result = run("vault", "rotate", "--db", db_url, env=master_env)
    assert result.exit_code == 0, result.output
    new = result.output.split()[4].rstrip(";")
    assert new != old
    result = run("vault", "status", "--db", db_url, env=master_env)
    assert f"{new}  ACTIVE" in result.output and f"{old}  retired" in result.output


def test_rewrap_requires_pinned_blind_index_key(run, uow, master, db_url, master_env,
                                                tmp_path):
    vault = Vault(uow, master)
    ciphertext = vault.encrypt("customers.phone", "c1", "13812345678")
    new_key_file = keys.write_key_file(tmp_path / "new.key", keys.generate_key_bytes())
    result = run("vault", "rewrap", "--db", db_url, "--new-key-file", str(new_key_file),
                 env=master_env)
    assert result.exit_code == 2 and "export-derived-keys" in result.output

    result = run("vault", "export-derived-keys", "--dir", str(tmp_path / "pinned"),
                 env=master_env)
    assert result.exit_code == 0, result.output
    pinned = {keys.BLIND_INDEX_KEY_FILE_ENV: str(tmp_path / "pinned" / "blind-index.key"),
              keys.AUDIT_SIGNING_KEY_FILE_ENV: str(tmp_path / "pinned" / "audit-signing.key")}
    blind_before = keys.load_blind_index_key(master).key
    assert keys.load_blind_index_key(None, keys.KeySources(
        blind_index_key_file=tmp_path / "pinned" / "blind-index.key")).key == blind_before

    result = run("vault", "rewrap", "--db", db_url, "--new-key-file", str(new_key_file),
                 env=master_env | pinned)
    assert result.exit_code == 0, result.output
    assert "re-wrapped 1 data keys" in result.output
    new_master = keys.LocalMasterKey(keys.read_key_file(new_key_file))
    assert Vault(uow, new_master).decrypt("customers.phone", "c1", ciphertext) == "13812345678"


# ----- checkpoints outside the database (issue 13, item 5) ----------------------------------
def _cut_tail(engine, keep_through):
    """Delete every record after ``keep_through`` and move the head back consistently (-1:
    empty the chain and reset the head)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_records WHERE chain_index > :k"),
                     {"k": keep_through})
        if keep_through < 0:
            conn.execute(text("UPDATE audit_chain_head SET last_chain_index = -1, "
                              "last_record_id = NULL, head_hash = :g, sealed_at = NULL"),
                         {"g": audit.GENESIS_HASH})
            return
        last = conn.execute(text("SELECT id, hash FROM audit_records WHERE chain_index = :k"),
                            {"k": keep_through}).one()
        conn.execute(text("UPDATE audit_chain_head SET last_chain_index = :k, "
                          "last_record_id = :i, head_hash = :h"),
                     {"k": keep_through, "i": last.id, "h": last.hash})


@pytest.mark.parametrize("keep_through, words", [
    (3, "tail deleted and head moved back"),
    (-1, "chain emptied and head reset"),
])
def test_clean_cut_fails_verify_by_default(run, uow, engine, db_url, master_env,
                                           keep_through, words):
    _append(uow, 6)
    assert run("audit", "seal", "--db", db_url, env=master_env).exit_code == 0
    _cut_tail(engine, keep_through)
    result = run("audit", "verify", "--db", db_url, env=master_env)
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and words in result.output
    assert f"BROKEN at chain_index {keep_through + 1}" in result.output
    # Only the stored checkpoint sees it: the chain on its own is consistent.
    alone = run("audit", "verify", "--db", db_url, "--no-checkpoint-store", env=master_env)
    assert alone.exit_code == 0 and "not checked against the checkpoint store" in alone.output
    # And a seal refuses to sign the cut chain: exit 1, nothing written.
    _append(uow, 1)
    sealed = run("audit", "seal", "--db", db_url, env=master_env)
    assert sealed.exit_code == 1
    assert "checkpoint shows records up to chain_index 5" in sealed.output


def test_checkpoint_signed_by_another_key_is_refused(run, uow, db_url, master_env):
    _append(uow, 2)
    assert run("audit", "seal", "--db", db_url, env=master_env).exit_code == 0
    other = {keys.MASTER_KEY_ENV: keys.encode_key(keys.generate_key_bytes())}
    result = run("audit", "verify", "--db", db_url, env=other)
    assert result.exit_code == 1 and "checkpoint signed by an untrusted key" in result.output
    platform = keys.ed25519_public_key_hex(keys.load_audit_signing_key(
        keys.LocalMasterKey(keys.decode_key(master_env[keys.MASTER_KEY_ENV], source="t"))))
    result = run("audit", "verify", "--db", db_url, "--trusted-key", platform, env=other)
    assert result.exit_code == 0, result.output


def test_verify_without_any_trusted_key_cannot_run(run, uow, db_url, master_env):
    _append(uow, 1)
    assert run("audit", "seal", "--db", db_url, env=master_env).exit_code == 0
    result = run("audit", "verify", "--db", db_url)
    assert result.exit_code == 2 and "which checkpoint signing key to trust" in result.output


def test_missing_checkpoint_store_with_sealed_records_exits_2(run, uow, db_url, master_env):
    _append(uow, 2)
    audit.seal(uow, None)  # sealed without a checkpoint (e.g. the store path is wrong)
    result = run("audit", "verify", "--db", db_url, env=master_env)
    assert result.exit_code == 2 and "does not exist" in result.output
    assert "deleted tail cannot be ruled out" in result.output


def test_seal_exits_2_when_the_checkpoint_cannot_be_written(run, uow, db_url, master_env,
                                                           tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    _append(uow, 2)
    result = run("audit", "seal", "--db", db_url,
                 env=master_env | {AUDIT_CHECKPOINT_DIR_ENV: str(blocked)})
    assert result.exit_code == 2 and f"checkpoint store {blocked}" in result.output
    assert "Traceback" not in result.output
    # The next seal with a working store writes the checkpoint it missed.
    result = run("audit", "seal", "--db", db_url, env=master_env)
    assert result.exit_code == 0 and "checkpoint of chain_index 1 written" in result.output


def test_seal_without_key_material_seals_nothing(run, uow, engine, db_url):
    _append(uow, 2)
    result = run("audit", "seal", "--db", db_url)
    assert result.exit_code == 2 and "no master key" in result.output
    with engine.connect() as conn:
        assert audit.unsealed_count(conn) == 2
