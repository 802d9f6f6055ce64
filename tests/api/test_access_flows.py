"""Registration, login, step-up on a new device, lockout, refresh rotation, KYC; on both
stores through the real app."""

from __future__ import annotations

from sqlalchemy import select

from creditpay.db.tables import idempotency_keys
from creditpay.parties.tables import customer_sessions, customers
from tests.api.helpers import PASSWORD


def test_new_device_needs_a_code_and_then_is_trusted(api):
    api.customer("13600000001", device="phone-one")
    login = api.post("/v1/auth/login", {"identifier": "+86 136-0000-0001",
                                        "password": PASSWORD, "device_id": "laptop-two"},
                     expect=200).json()
    assert login["status"] == "step_up_required" and login["access_token"] is None
    challenge = login["challenge_id"]
    wrong = api.post("/v1/auth/login/verify", {"challenge_id": challenge, "code": "000000",
                                               "device_id": "laptop-two"})
    code = api.last_code(challenge)
    if code != "000000":
        assert wrong.status_code == 401
    ok = api.post("/v1/auth/login/verify", {"challenge_id": challenge, "code": code,
                                            "device_id": "laptop-two"}, expect=200).json()
    assert ok["status"] == "authenticated"
    api.get("/v1/me", ok["access_token"], expect=200)
    # The code is single use.
    api.post("/v1/auth/login/verify", {"challenge_id": challenge, "code": code,
                                       "device_id": "laptop-two"}, expect=401)
    again = api.post("/v1/auth/login", {"identifier": "13600000001", "password": PASSWORD,
                                        "device_id": "laptop-two"}, expect=200).json()
    assert again["status"] == "authenticated"
    profile = api.get("/v1/me", again["access_token"], expect=200).json()
    assert profile["phone"] == "+86 136****0001"


def test_lockout_after_repeated_failures(api, clock):
    api.customer("13600000002")
    for _ in range(5):
        api.post("/v1/auth/login", {"identifier": "13600000002", "password": "wrong-password",
                                    "device_id": "device-0001"}, expect=401)
    locked = api.post("/v1/auth/login", {"identifier": "13600000002", "password": PASSWORD,
                                         "device_id": "device-0001"}, expect=429)
    assert locked.headers["Retry-After"]
    clock.advance(minutes=16)
    api.post("/v1/auth/login", {"identifier": "13600000002", "password": PASSWORD,
                                "device_id": "device-0001"}, expect=200)
    # Unknown accounts answer exactly like wrong passwords (no enumeration).
    unknown = api.post("/v1/auth/login", {"identifier": "13600000099", "password": PASSWORD,
                                          "device_id": "device-0001"}, expect=401).json()
    assert unknown["detail"] == "wrong phone/email or password"


def test_refresh_rotates_and_reuse_ends_the_family(api, clock):
    api.customer("13600000003")
    first = api.post("/v1/auth/login", {"identifier": "13600000003", "password": PASSWORD,
                                        "device_id": "device-0001"}, expect=200).json()
    clock.advance(minutes=20)  # the access token (15 min) has expired
    api.get("/v1/me", first["access_token"], expect=401)
    second = api.post("/v1/auth/refresh", {"refresh_token": first["refresh_token"]},
                      expect=200).json()
    api.get("/v1/me", second["access_token"], expect=200)
    # Replaying the old refresh token: theft assumed, the whole family is revoked.
    api.post("/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, expect=401)
    api.get("/v1/me", second["access_token"], expect=401)
    api.post("/v1/auth/refresh", {"refresh_token": second["refresh_token"]}, expect=401)
    with api.runtime.uow.connect() as conn:
        statuses = sorted(r.status for r in conn.execute(select(customer_sessions)))
        stored = [r.response for r in conn.execute(select(idempotency_keys))]
    # The helper's own login (another family) is untouched; this family is all revoked.
    assert statuses == ["active", "revoked", "revoked"]
    tokens = [s.get("refresh_token") for s in stored if isinstance(s, dict)]
    assert all(t in (None, "[shown once; not stored]") for t in tokens)


def test_kyc_verification_and_uniqueness(api):
    token = api.customer("13600000004")
    body = {"legal_name": "张三丰", "id_number": "11010519491231002X",
            "date_of_birth": "1949-12-31"}
    verified = api.post("/v1/me/kyc", body, token, expect=200).json()
    assert verified["kyc_status"] == "verified"
    assert verified["legal_name"] == "张**"
    assert verified["id_number"] == "1101**********002X"
    other = api.customer("13600000005")
    dup = api.post("/v1/me/kyc", body, other, expect=409).json()
    assert dup["field"] == "id_number"
    bad = api.post("/v1/me/kyc", {**body, "date_of_birth": "1950-01-01"}, other,
                   expect=422).json()
    assert bad["field"] == "date_of_birth"
    minor = api.post("/v1/me/kyc", {"legal_name": "Kid", "id_number": "E1234567",
                                    "date_of_birth": "2010-01-01"}, other, expect=422).json()
    assert minor["field"] == "date_of_birth"
    with api.runtime.uow.connect() as conn:
        row = conn.execute(select(customers).where(customers.c.kyc_status == "verified")).one()
    assert "11010519491231002X" not in str(tuple(row))


def test_registration_validation_names_the_field(api):
    problem = api.post("/v1/customers", {"phone": "13600000006", "password": "short",
                                         "device_id": "device-0001"}, expect=422).json()
    assert problem["field"] == "password"
    problem = api.post("/v1/customers", {"phone": "13600000006", "password": PASSWORD,
                                         "device_id": "device-0001", "locale": "fr"},
                       expect=422).json()
    assert problem["field"] == "locale"
