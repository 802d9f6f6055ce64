"""``creditpay audit`` / ``creditpay vault`` commands, run through Typer's test runner."""

from __future__ import annotations

import json
import os
import stat

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from creditpay.compliance import audit, keys
from creditpay.compliance.cli import register
from creditpay.compliance.vault import Vault, parse_ciphertext
from creditpay.db.engine import make_engine


@pytest.fixture
def app():
    # A private app: importing creditpay.cli would also import every other domain's CLI.
    root = typer.Typer()
    register(root, typer.Typer())
    return root


@pytest.fixture
def run(app, monkeypatch):
    for name in (keys.MASTER_KEY_ENV, keys.MASTER_KEY_FILE_ENV, keys.BLIND_INDEX_KEY_ENV,
                 keys.BLIND_INDEX_KEY_FILE_ENV, keys.AUDIT_SIGNING_KEY_ENV,
                 keys.AUDIT_SIGNING_KEY_FILE_ENV, "CREDITPAY_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
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


def test_verify_intact_chain_exits_0(run, uow, db_url):
    _append(uow, 4)
    result = run("audit", "seal", "--db", db_url)
    assert result.exit_code == 0 and "sealed 4 records" in result.output
    result = run("audit", "verify", "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "intact: 4 records" in result.output


def test_verify_tampered_chain_exits_1_naming_the_record(run, uow, engine, db_url):
    _append(uow, 5)
    audit.seal(uow)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET actor_id = 'x' WHERE chain_index = 3"))
        record_id = conn.execute(text(
            "SELECT id FROM audit_records WHERE chain_index = 3")).scalar_one()
    result = run("audit", "verify", "--db", db_url)
    assert result.exit_code == 1
    assert f"chain_index 3 (record id {record_id})" in result.output


def test_verify_warns_about_unsealed_records_and_can_seal(run, uow, db_url):
    _append(uow, 2)
    result = run("audit", "verify", "--db", db_url)
    assert result.exit_code == 0 and "2 records are not sealed" in result.output
    result = run("audit", "verify", "--db", db_url, "--seal")
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


def test_checkpoint_round_trip(run, uow, db_url, master_env, tmp_path):
    _append(uow, 3)
    out = tmp_path / "cp.json"
    result = run("audit", "checkpoint", "--db", db_url, "--out", str(out), env=master_env)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["chain_index"] == 2  # --seal is the default
    result = run("audit", "checkpoint", "--db", db_url, "--out", str(out), env=master_env)
    assert result.exit_code == 2 and "exists" in result.output  # evidence is not replaced
    _append(uow, 2)
    result = run("audit", "verify", "--db", db_url, "--seal", "--checkpoint", str(out),
                 "--trusted-key", doc["public_key"])
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
    blind_before = keys.load_blind_index_key(master, {}).key
    assert keys.load_blind_index_key(None, pinned).key == blind_before

    result = run("vault", "rewrap", "--db", db_url, "--new-key-file", str(new_key_file),
                 env=master_env | pinned)
    assert result.exit_code == 0, result.output
    assert "re-wrapped 1 data keys" in result.output
    new_master = keys.LocalMasterKey(keys.read_key_file(new_key_file))
    assert Vault(uow, new_master).decrypt("customers.phone", "c1", ciphertext) == "13812345678"
