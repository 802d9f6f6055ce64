"""Registration proves the phone (or e-mail) with a code before the customer exists, and
answers the same whether or not the phone or e-mail is taken: nobody can use it to find out
who is a customer. The owner of a taken one is told. Codes are counted and never in the
outbox in clear. On both stores, through the real app."""

from __future__ import annotations

from sqlalchemy import func, select

from creditpay.db.tables import outbox_events
from creditpay.parties.notifier import (
    TOPIC_CODE,
    TOPIC_REGISTRATION_ATTEMPT,
    TOPIC_REGISTRATION_CODE,
)
from creditpay.parties.service import purge_registrations
from creditpay.parties.tables import customer_registrations, customers
from tests.api.helpers import PASSWORD


def _customers(api) -> int:
    with api.runtime.uow.connect() as conn:
        return conn.execute(select(func.count()).select_from(customers)).scalar_one()


def _shape(body: dict) -> tuple:
    return tuple(sorted((k, type(v).__name__) for k, v in body.items()))


def test_registration_needs_the_code_sent_to_the_phone(api):
    started = api.post("/v1/customers", {"phone": "138 4000 0001", "password": PASSWORD,
                                         "device_id": "device-0001"}, expect=202).json()
    assert started["status"] == "verification_required" and started["channel"] == "sms"
    assert _customers(api) == 0  # nobody exists before the code is entered
    code = api.registration_code(started["registration_id"])
    # Another device cannot finish it, even with the code.
    api.post("/v1/customers/verify", {"registration_id": started["registration_id"],
                                      "code": code, "device_id": "other-device"}, expect=401)
    created = api.post("/v1/customers/verify", {"registration_id": started["registration_id"],
                                                "code": code, "device_id": "device-0001"},
                       expect=201).json()
    assert created["phone"] == "+86 138****0001"
    token = api.login("13840000001", "device-0001")  # the registering device is trusted
    assert api.get("/v1/me", token, expect=200).json()["id"] == created["id"]
    # Used once: the personal data and the password hash left the registration row.
    api.post("/v1/customers/verify", {"registration_id": started["registration_id"],
                                      "code": code, "device_id": "device-0001"}, expect=401)
    with api.runtime.uow.connect() as conn:
        row = conn.execute(select(customer_registrations)).one()
    assert (row.status, row.phone_ct, row.password_hash) == ("completed", None, None)


def test_a_taken_phone_or_email_gets_the_same_answer_and_its_owner_is_told(api):
    api.register({"phone": "13840000002", "email": "owner@example.com", "password": PASSWORD,
                  "device_id": "owner-phone"})
    owner = _customers(api)
    fresh = api.post("/v1/customers", {"phone": "13840000003", "password": PASSWORD,
                                       "device_id": "device-0009"}, expect=202)
    taken = api.post("/v1/customers", {"phone": "+86 138-4000-0002", "password": PASSWORD,
                                       "device_id": "device-0009"}, expect=202)
    taken_email = api.post("/v1/customers", {"email": "OWNER@example.com",
                                             "password": PASSWORD, "device_id": "device-0009"},
                           expect=202)
    for response in (taken, taken_email):
        assert _shape(response.json()) == _shape(fresh.json())
        assert response.headers.keys() == fresh.headers.keys()
        assert response.json()["channel"] == ("sms" if response is taken else "email")
    # No code reaches the registrant of a taken phone: guessing never completes it.
    registration = taken.json()["registration_id"]
    answers = {api.post("/v1/customers/verify", {"registration_id": registration,
                                                  "code": f"{n:06d}",
                                                  "device_id": "device-0009"}).status_code
               for n in range(8)}
    assert answers == {401}
    assert _customers(api) == owner
    with api.runtime.uow.connect() as conn:
        codes = conn.execute(select(func.count()).select_from(outbox_events).where(
            outbox_events.c.topic == TOPIC_REGISTRATION_CODE,
            outbox_events.c.aggregate_id == registration)).scalar_one()
        told = conn.execute(select(outbox_events.c.aggregate_id, outbox_events.c.payload).where(
            outbox_events.c.topic == TOPIC_REGISTRATION_ATTEMPT)).all()
    assert codes == 0
    owner_id = api.get("/v1/me", api.login("13840000002", "owner-phone")).json()["id"]
    assert [(who, payload["channel"]) for who, payload in told] == [
        (owner_id, "sms"), (owner_id, "email")]


def test_an_unknown_registration_answers_as_a_wrong_code(api):
    started = api.post("/v1/customers", {"phone": "13840000004", "password": PASSWORD,
                                         "device_id": "device-0001"}, expect=202).json()
    wrong = api.post("/v1/customers/verify", {"registration_id": started["registration_id"],
                                              "code": "000000", "device_id": "device-0001"})
    unknown = api.post("/v1/customers/verify", {"registration_id": "reg_nothing_here",
                                                "code": "000000", "device_id": "device-0001"})
    if api.registration_code(started["registration_id"]) != "000000":
        assert (wrong.status_code, unknown.status_code) == (401, 401)
        # Each answer names its own request (request_id); nothing else tells them apart.
        assert {k: v for k, v in wrong.json().items() if k not in ("instance", "request_id")} \
            == {k: v for k, v in unknown.json().items() if k not in ("instance", "request_id")}


def test_wrong_registration_codes_are_counted(api):
    started = api.post("/v1/customers", {"phone": "13840000005", "password": PASSWORD,
                                         "device_id": "device-0001"}, expect=202).json()
    registration = started["registration_id"]
    code = api.registration_code(registration)
    attempts_max = api.runtime.parties.policy.challenge_attempts_max
    for n in range(attempts_max):
        guess = f"{(int(code) + 1 + n) % 1_000_000:06d}"
        api.post("/v1/customers/verify", {"registration_id": registration, "code": guess,
                                          "device_id": "device-0001"}, expect=401)
    api.post("/v1/customers/verify", {"registration_id": registration, "code": code,
                                      "device_id": "device-0001"}, expect=401)
    assert _customers(api) == 0


def test_codes_are_never_in_the_outbox_in_clear(api):
    token = api.customer("13840000006", device="phone-one")
    login = api.post("/v1/auth/login", {"identifier": "13840000006", "password": PASSWORD,
                                        "device_id": "laptop-two"}, expect=200).json()
    step_up = api.last_code(login["challenge_id"])
    registration = api.post("/v1/customers", {"email": "new@example.com",
                                              "password": PASSWORD,
                                              "device_id": "device-0002"}, expect=202).json()
    sent = api.registration_code(registration["registration_id"])
    with api.runtime.uow.connect() as conn:
        rows = conn.execute(select(outbox_events.c.topic, outbox_events.c.payload).where(
            outbox_events.c.topic.in_((TOPIC_CODE, TOPIC_REGISTRATION_CODE)))).all()
    text = repr([tuple(r) for r in rows])
    assert len(rows) == 3  # the first registration, the login challenge, the e-mail one
    for secret in (step_up, sent, "new@example.com", "8613840000006", "13840000006"):
        assert secret not in text, secret
    assert api.get("/v1/me", token, expect=200)


def test_expired_registrations_are_purged_with_their_personal_data(api, clock):
    api.post("/v1/customers", {"phone": "13840000007", "password": PASSWORD,
                               "device_id": "device-0001"}, expect=202)
    rt = api.runtime
    assert rt.uow.run(lambda tx: purge_registrations(tx)) == 0
    clock.advance(seconds=rt.parties.policy.challenge_ttl_s + 1)
    assert rt.uow.run(lambda tx: purge_registrations(tx)) == 1
    with rt.uow.connect() as conn:
        assert conn.execute(select(func.count()).select_from(
            customer_registrations)).scalar_one() == 0
