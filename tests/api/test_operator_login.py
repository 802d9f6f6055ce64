"""Staff identity: operators log in with password + TOTP (POST /v1/operator/auth/login), over
real HTTP on both stores; the token it gives works on the operator routes with the role."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update

from creditpay.parties.security import TOTP_STEP_S, totp_code
from creditpay.parties.service import OPERATOR_LOGIN_FAILED
from creditpay.parties.tables import operators
from creditpay.platform.tables import audit_records
from tests.api.helpers import Api

STAFF_PASSWORD = "operator pass phrase 7"
# A fixed wall time for TOTP (the authenticator app's clock), in the middle of a step.
T0 = 1_765_000_000 - 1_765_000_000 % TOTP_STEP_S + 10
STEP0 = T0 // TOTP_STEP_S


def new_staff(api: Api, role: str = "risk_analyst") -> dict[str, Any]:
    """An operator with a password (hashed before the transaction, as the CLI does)."""
    parties = api.runtime.parties
    password_hash = parties.passwords.hash(STAFF_PASSWORD)
    parties.totp_clock = lambda: T0
    return api.runtime.uow.run(lambda tx: parties.create_operator(
        tx, name=f"{role}-person", role=role, password_hash=password_hash))


def login(api: Api, staff: dict[str, Any], *, step: int = STEP0,
          password: str = STAFF_PASSWORD, code: str | None = None) -> Any:
    return api.post("/v1/operator/auth/login", {
        "operator_id": staff["id"], "password": password,
        "totp_code": code if code is not None else totp_code(staff["totp_secret"], step)})


def failures(api: Api, operator_id: str) -> list[str]:
    with api.runtime.uow.connect() as conn:
        rows = conn.execute(select(audit_records.c.payload).where(
            audit_records.c.action == "operator.login_failed",
            audit_records.c.subject_id == operator_id).order_by(audit_records.c.id)).all()
    return [r.payload["reason"] for r in rows]


def assert_refused(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["detail"] == OPERATOR_LOGIN_FAILED


def test_login_gives_a_token_that_acts_with_the_operators_role(api):
    staff = new_staff(api, "risk_analyst")
    response = login(api, staff)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["operator_id"] == staff["id"] and body["role"] == "risk_analyst"
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    token = body["access_token"]
    assert token.startswith("v1.")
    # A route a risk analyst may call, one it may not, and a customer's route.
    api.get("/v1/operator/approvals", token, expect=200)
    api.post("/v1/operator/merchants", {"name": "Shop", "mcc": "5411",
                                        "discount_rate": "0.006"}, token, expect=403)
    api.get("/v1/me", token, expect=403)
    with api.runtime.uow.connect() as conn:
        logged_in = conn.execute(select(audit_records).where(
            audit_records.c.action == "operator.logged_in")).one()
    assert (logged_in.actor_type, logged_in.actor_id) == ("staff", staff["id"])
    # The token expires with its 15 minutes (business time).
    api.runtime.clock.advance(minutes=16)
    api.get("/v1/operator/approvals", token, expect=401)


def test_the_token_stops_when_the_operator_is_disabled_or_changes_role(api):
    staff = new_staff(api, "admin")
    token = login(api, staff).json()["access_token"]
    api.get("/v1/operator/approvals", token, expect=200)
    with api.runtime.uow.begin() as tx:
        tx.conn.execute(update(operators).where(operators.c.id == staff["id"])
                        .values(role="support"))
    api.get("/v1/operator/approvals", token, expect=401)
    with api.runtime.uow.begin() as tx:
        tx.conn.execute(update(operators).where(operators.c.id == staff["id"])
                        .values(role="admin", disabled_at=tx.now))
    api.get("/v1/operator/approvals", token, expect=401)


def test_wrong_password_is_refused_generically_and_audited(api):
    staff = new_staff(api)
    assert_refused(login(api, staff, password="not the password"))
    assert_refused(api.post("/v1/operator/auth/login", {
        "operator_id": "op_00000000000000000000", "password": STAFF_PASSWORD,
        "totp_code": "123456"}))
    assert failures(api, staff["id"]) == ["password"]
    assert failures(api, "unknown") == ["unknown_operator"]


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_a_code_of_the_step_either_side_is_accepted(api, offset):
    staff = new_staff(api)
    assert login(api, staff, step=STEP0 + offset).status_code == 200


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_an_expired_or_future_code_is_refused(api, offset):
    staff = new_staff(api)
    assert_refused(login(api, staff, step=STEP0 + offset))
    assert failures(api, staff["id"]) == ["totp_code"]


def test_a_wrong_code_is_refused(api):
    staff = new_staff(api)
    right = totp_code(staff["totp_secret"], STEP0)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert_refused(login(api, staff, code=wrong))


def test_a_code_is_good_once_and_no_older_code_after_it(api):
    staff = new_staff(api)
    assert login(api, staff, step=STEP0 + 1).status_code == 200
    # The same code again (a replay, within its step), then the still-valid older codes.
    assert_refused(login(api, staff, step=STEP0 + 1))
    assert_refused(login(api, staff, step=STEP0))
    assert_refused(login(api, staff, step=STEP0 - 1))
    assert failures(api, staff["id"]) == ["totp_code"] * 3
    # The next step's code works once the clock reaches it.
    api.runtime.parties.totp_clock = lambda: T0 + TOTP_STEP_S
    assert login(api, staff, step=STEP0 + 2).status_code == 200


def test_repeated_failures_lock_the_operator_out(api):
    staff = new_staff(api)
    policy = api.runtime.parties.policy
    for _ in range(policy.login_failures_max):
        assert_refused(login(api, staff, password="not the password"))
    # Locked: even the right password and code are refused, with 429, until it ends.
    locked = login(api, staff)
    assert locked.status_code == 429, locked.text
    assert int(locked.headers["Retry-After"]) > 0
    with api.runtime.uow.connect() as conn:
        assert conn.execute(select(audit_records).where(
            audit_records.c.action == "operator.locked_out",
            audit_records.c.subject_id == staff["id"])).first() is not None
    api.runtime.clock.advance(minutes=policy.lockout_s / 60 + 1)
    assert login(api, staff).status_code == 200


def test_wrong_codes_count_toward_the_lockout_too(api):
    staff = new_staff(api)
    for _ in range(api.runtime.parties.policy.login_failures_max):
        assert_refused(login(api, staff, step=STEP0 + 5))
    assert login(api, staff).status_code == 429


def test_a_disabled_operator_cannot_log_in(api):
    staff = new_staff(api)
    with api.runtime.uow.begin() as tx:
        tx.conn.execute(update(operators).where(operators.c.id == staff["id"])
                        .values(disabled_at=tx.now))
    assert_refused(login(api, staff))
    assert failures(api, staff["id"]) == ["disabled"]


def test_an_operator_without_a_password_cannot_log_in_but_its_token_works(api):
    token = api.operator("admin")  # machine credential only (no password)
    with api.runtime.uow.connect() as conn:
        row = conn.execute(select(operators).where(operators.c.password_hash.is_(None))).one()
    assert_refused(api.post("/v1/operator/auth/login", {
        "operator_id": row.id, "password": STAFF_PASSWORD, "totp_code": "123456"}))
    api.get("/v1/operator/approvals", token, expect=200)


def test_the_totp_secret_is_stored_encrypted_only(api):
    staff = new_staff(api)
    secret = staff["totp_secret"]
    assert staff["totp_uri"].startswith("otpauth://totp/") and f"secret={secret}" in \
        staff["totp_uri"]
    with api.runtime.uow.connect() as conn:
        row = conn.execute(select(operators).where(operators.c.id == staff["id"])).one()
    assert all(secret not in str(value) for value in row)
    assert STAFF_PASSWORD not in str(tuple(row))
    assert row.password_hash.startswith("$argon2id$")
    assert api.runtime.vault.decrypt("operators.totp_secret", staff["id"],
                                     row.totp_secret_ct) == secret
    # Bound to its operator: another operator's id does not decrypt it.
    with pytest.raises(Exception):  # noqa: B017 - the vault's own error type
        api.runtime.vault.decrypt("operators.totp_secret", "op_other", row.totp_secret_ct)


def test_a_malformed_body_is_422_naming_the_field(api):
    staff = new_staff(api)
    response = api.post("/v1/operator/auth/login", {
        "operator_id": staff["id"], "password": STAFF_PASSWORD, "totp_code": "12ab56"})
    assert response.status_code == 422
    assert "totp_code" in response.text


def test_login_needs_an_idempotency_key_and_is_never_replayed(api):
    staff = new_staff(api)
    body = {"operator_id": staff["id"], "password": STAFF_PASSWORD,
            "totp_code": totp_code(staff["totp_secret"], STEP0)}
    no_key = api.client.post("/v1/operator/auth/login", json=body)
    assert no_key.status_code == 422 and "Idempotency-Key" in no_key.text
    assert api.post("/v1/operator/auth/login", body, idem="login-key-0001").status_code == 200
    # The same key and body again: the code is spent, so the retry is refused (no token).
    assert_refused(api.post("/v1/operator/auth/login", body, idem="login-key-0001"))


def test_lockout_is_in_business_time_not_the_totp_clock(api):
    """Locking uses the business clock (as customers'); the TOTP clock only picks codes."""
    staff = new_staff(api)
    for _ in range(api.runtime.parties.policy.login_failures_max):
        login(api, staff, password="not the password")
    api.runtime.parties.totp_clock = lambda: T0 + dt.timedelta(hours=1).total_seconds()
    assert login(api, staff, step=STEP0 + 120).status_code == 429
