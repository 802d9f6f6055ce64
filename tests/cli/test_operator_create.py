"""``creditpay operator-create``: the bootstrap of a deployment's staff prints the token, the
TOTP enrolment and (when it made one) the password, once; the operator can then log in with
password + code, and the token works as a staff command's ``--token``."""

from __future__ import annotations

import base64
import json

import pytest
from typer.testing import CliRunner

from creditpay.cli import app
from creditpay.cli.common import services
from creditpay.errors import AuthenticationError
from creditpay.parties.security import totp_code, totp_step

runner = CliRunner()
T = 1_765_000_010.0


@pytest.fixture
def keyed_env(monkeypatch, tmp_path):
    key = base64.b64encode(bytes(range(32))).decode()
    monkeypatch.setenv("CREDITPAY_MASTER_KEY", key)
    monkeypatch.delenv("CREDITPAY_OPERATOR_TOKEN", raising=False)
    return str(tmp_path / "ops.db")


def login(db: str, operator_id: str, password: str, code: str):
    built = services(db, read_only=False)
    try:
        built.parties.totp_clock = lambda: T
        return built.parties.authenticate_operator(built.uow, operator_id=operator_id,
                                                   password=password, totp_code=code)
    finally:
        built.close()


def test_a_generated_password_is_printed_once_and_logs_in_with_the_code(keyed_env):
    db = keyed_env
    result = runner.invoke(app, ["operator-create", "--name", "Ada", "--role",
                                 "risk_analyst", "--db", db])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["token"].startswith("cpo") and created["role"] == "risk_analyst"
    assert created["totp_uri"].startswith("otpauth://totp/creditpay:")
    assert len(created["password"]) >= 32
    code = totp_code(created["totp_secret"], totp_step(T))
    who = login(db, created["id"], created["password"], code)
    assert (who.kind, who.id, who.role) == ("operator", created["id"], "risk_analyst")
    with pytest.raises(AuthenticationError):  # the code is spent
        login(db, created["id"], created["password"], code)


def test_a_password_file_is_used_and_never_printed(keyed_env, tmp_path):
    db = keyed_env
    secret_file = tmp_path / "pw.txt"
    secret_file.write_text("a long staff pass phrase\n", encoding="utf-8")
    result = runner.invoke(app, ["operator-create", "--name", "Bo", "--role", "admin",
                                 "--password-file", str(secret_file), "--db", db])
    assert result.exit_code == 0, result.output
    assert "a long staff pass phrase" not in result.output
    created = json.loads(result.output)
    assert "password" not in created
    code = totp_code(created["totp_secret"], totp_step(T))
    assert login(db, created["id"], "a long staff pass phrase", code).role == "admin"
    short = tmp_path / "short.txt"
    short.write_text("short\n", encoding="utf-8")
    refused = runner.invoke(app, ["operator-create", "--name", "Cy", "--role", "admin",
                                  "--password-file", str(short), "--db", db])
    assert refused.exit_code == 2 and "--password-file" in refused.output
    assert "short" not in refused.output.replace("--password-file", "")
