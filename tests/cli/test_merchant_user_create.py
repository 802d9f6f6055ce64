"""``creditpay merchant-user-create``: a merchant's dashboard user is created with a TOTP
enrolment and (when generated) a password, printed once; the user then logs in with
password + code as its merchant, with the scopes of its role; bad input exits 2 naming the
option and creates nothing."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from creditpay.cli import app
from creditpay.cli.common import services
from creditpay.errors import AuthenticationError
from creditpay.parties import merchant_users as MU
from creditpay.parties.security import totp_code, totp_step
from creditpay.parties.service import Principal
from creditpay.parties.tables import merchant_users

runner = CliRunner()
T = 1_765_000_010.0


@pytest.fixture
def shop(monkeypatch, tmp_path):
    key = base64.b64encode(bytes(range(32))).decode()
    monkeypatch.setenv("CREDITPAY_MASTER_KEY", key)
    db = str(tmp_path / "shop.db")
    built = services(db, read_only=False)
    try:
        built.parties.vault.ensure_active_key()
        admin = Principal("operator", "op_cli", role="admin")
        merchant = built.uow.run(lambda tx: built.parties.onboard_merchant(
            tx, admin, name="Corner shop", mcc="5411", discount_rate="0.006"))
    finally:
        built.close()
    return db, merchant["merchant"]["id"]


def _login(db: str, user_id: str, password: str, code: str):
    built = services(db, read_only=False)
    try:
        built.parties.totp_clock = lambda: T
        return MU.authenticate_merchant_user(built.parties, built.uow, user_id=user_id,
                                             password=password, totp_code=code)
    finally:
        built.close()


def _users(db: str) -> int:
    built = services(db, read_only=True)
    try:
        with built.uow.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(merchant_users))
                       .scalar_one())
    finally:
        built.close()


def test_a_user_is_created_and_logs_in_as_its_merchant(shop):
    db, merchant_id = shop
    result = runner.invoke(app, ["merchant-user-create", "--merchant", merchant_id,
                                 "--name", "Mia", "--role", "viewer", "--db", db])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert (created["merchant_id"], created["role"]) == (merchant_id, "viewer")
    assert created["totp_uri"].startswith("otpauth://totp/creditpay:")
    assert len(created["password"]) >= 32
    code = totp_code(created["totp_secret"], totp_step(T))
    who = _login(db, created["id"], created["password"], code)
    assert (who.kind, who.id, who.scopes) == ("merchant", merchant_id,
                                              {"payments:read", "reports:read"})
    with pytest.raises(AuthenticationError):  # the code is spent
        _login(db, created["id"], created["password"], code)


@pytest.mark.parametrize("args, option", [
    (["--merchant", "mer_missing"], "--merchant"),
    (["--role", "admin"], "--role"),
    (["--name", ""], "--name"),
])
def test_bad_input_names_the_option_and_creates_nothing(shop, args, option):
    db, merchant_id = shop
    base = {"--merchant": merchant_id, "--name": "Mia", "--role": "owner"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = ["merchant-user-create", "--db", db]
    for name, value in base.items():
        argv += [name, value]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2 and option in result.output, result.output
    assert _users(db) == 0
