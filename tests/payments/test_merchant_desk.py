"""The merchant dashboard's use cases and JSON routes (issue #16), on both stores: merchant
users log in with password and TOTP (lockout, codes good once, a token of its own that
the API refuses); a merchant's payments filtered and with their events; a settlement
reconciled line by line (Hypothesis: it adds up exactly when the settlement does);
webhook deliveries listed and sent again; chargebacks and fees; every one scoped to the
merchant (another merchant's ids are 404)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from creditpay.errors import (
    AuthenticationError,
    NotFoundError,
    RateLimitedError,
    StateError,
    ValidationError,
)
from creditpay.parties import merchant_users as MU
from creditpay.parties.security import totp_code, totp_step
from creditpay.parties.service import Principal
from creditpay.parties.tables import merchant_users
from creditpay.payments import merchant_desk
from creditpay.payments.tables import webhook_deliveries
from creditpay.risk.fraud.cases import ingest_chargeback
from tests.api.helpers import Api, fake_dns, running_api

PASSWORD = "merchant user pw 1"
PUBLIC = "93.184.215.14"
WALL = 1_765_000_000.0  # the TOTP clock of these tests (Unix seconds)


@pytest.fixture
def api(store, clock):  # type: ignore[no-untyped-def]
    dns = {"hooks.shop.test": [PUBLIC]}
    with running_api(store.url, clock, webhook_resolve=fake_dns(dns)) as api:
        api.runtime.parties.totp_clock = lambda: WALL
        yield api


def _shop(api: Api, admin: str, name: str) -> tuple[str, str]:
    made = api.merchant(admin, name=name, webhook_url="https://hooks.shop.test/in")
    return made["merchant"]["id"], made["api_key"]["key"]


def _user(api: Api, merchant_id: str, role: str = "owner") -> dict[str, Any]:
    rt = api.runtime
    rt.vault.ensure_active_key()
    password_hash = rt.parties.passwords.hash(PASSWORD)
    return rt.uow.run(lambda tx: MU.create_merchant_user(
        rt.parties, tx, merchant_id=merchant_id, name="Mia", role=role,
        password_hash=password_hash))


def _log_in(api: Api, user: dict[str, Any], *, step_offset: int = 0,
            password: str = PASSWORD) -> Principal:
    code = totp_code(user["totp_secret"], totp_step(WALL) + step_offset)
    return MU.authenticate_merchant_user(api.runtime.parties, api.runtime.uow,
                                         user_id=user["id"], password=password,
                                         totp_code=code)


# ----------------------------------------------------------------------- merchant users
def test_a_merchant_user_logs_in_once_per_code_and_acts_as_its_merchant(api):
    admin = api.operator()
    merchant_id, _ = _shop(api, admin, "M1")
    owner = _user(api, merchant_id)
    assert owner["totp_uri"].startswith("otpauth://totp/") and owner["merchant_id"] == \
        merchant_id
    who = _log_in(api, owner)
    assert (who.kind, who.id, who.credential_id, who.role) == (
        "merchant", merchant_id, owner["id"], "owner")
    assert who.scopes == frozenset(MU.ROLE_SCOPES["owner"])
    with pytest.raises(AuthenticationError):  # the same code again: refused
        _log_in(api, owner)
    assert _log_in(api, owner, step_offset=1).id == merchant_id  # the next step's code
    viewer = _log_in(api, _user(api, merchant_id, "viewer"))
    assert viewer.scopes == {"payments:read", "reports:read"}

    rt = api.runtime
    token = MU.issue_merchant_user_token(rt.parties, who, rt.clock.now())
    with rt.uow.connect() as conn:
        assert MU.merchant_user_of_token(rt.parties, conn, token, rt.clock.now()) == who
    # Not a credential of the JSON API, nor of the console.
    assert api.get("/v1/merchant", token).status_code == 401
    assert api.get("/v1/payment_intents", token).status_code == 401
    with rt.uow.connect() as conn, pytest.raises(AuthenticationError):
        rt.parties.authenticate_operator_token(conn, token, rt.clock.now())
    # A role changed or a user disabled ends the token at once.
    rt.uow.run(lambda tx: tx.conn.execute(update(merchant_users).where(
        merchant_users.c.id == owner["id"]).values(role="viewer")))
    with rt.uow.connect() as conn, pytest.raises(AuthenticationError):
        MU.merchant_user_of_token(rt.parties, conn, token, rt.clock.now())


def test_wrong_passwords_lock_the_user_out_and_nothing_tells_which_part_was_wrong(api):
    merchant_id, _ = _shop(api, api.operator(), "M1")
    user = _user(api, merchant_id)
    for _ in range(4):
        with pytest.raises(AuthenticationError, match=MU.LOGIN_FAILED):
            _log_in(api, user, password="not the password")
    with pytest.raises(AuthenticationError, match=MU.LOGIN_FAILED):
        MU.authenticate_merchant_user(api.runtime.parties, api.runtime.uow,
                                      user_id="mu_nobody", password=PASSWORD,
                                      totp_code="123456")
    with pytest.raises(AuthenticationError):  # the fifth failure locks
        _log_in(api, user, password="not the password")
    with pytest.raises(RateLimitedError):  # even with everything right
        _log_in(api, user)


def test_creating_a_user_checks_its_role_name_and_merchant(api):
    merchant_id, _ = _shop(api, api.operator(), "M1")
    rt = api.runtime
    rt.vault.ensure_active_key()
    for field, kwargs in (("role", {"role": "admin"}), ("name", {"name": " "}),
                          ("merchant_id", {"merchant_id": "mer_missing"})):
        args = {"merchant_id": merchant_id, "name": "Mia", "role": "owner", **kwargs}
        with pytest.raises((ValidationError, NotFoundError)) as raised:
            rt.uow.run(lambda tx, a=args: MU.create_merchant_user(
                rt.parties, tx, password_hash="x", **a))
        assert raised.value.field == field
    with rt.uow.connect() as conn:
        assert conn.execute(select(merchant_users)).all() == []


# ----------------------------------------------------------------------- payments
def _paid(api: Api, key: str, customer: str, order_id: str, amount: int = 10_000) -> str:
    intent = api.post("/v1/payment_intents", {"amount_minor": amount, "currency": "CNY",
                                              "order_id": order_id}, key, expect=201).json()
    api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"}, customer,
             expect=200)
    return str(intent["id"])


def test_payments_filtered_with_their_events_and_another_merchants_are_404(api, clock):
    admin = api.operator()
    m1, k1 = _shop(api, admin, "M1")
    m2, _ = _shop(api, admin, "M2")
    alice = api.customer("13900000001")
    api.fund(alice, 100_000)
    captured = _paid(api, k1, alice, "o-1")
    held = _paid(api, k1, alice, "o-2")
    api.post(f"/v1/payment_intents/{captured}/capture", {}, k1, expect=200)
    api.post(f"/v1/payment_intents/{captured}/refunds", {"amount_minor": 4_000}, k1,
             expect=201)
    me, other = Principal("merchant", m1), Principal("merchant", m2)
    with api.runtime.uow.connect() as conn:
        rows, more = merchant_desk.list_payments(conn, me, status="requires_capture")
        assert [r.id for r in rows] == [held] and more is None
        assert [r.id for r in merchant_desk.list_payments(conn, me, order_id="o-1")[0]] == [
            captured]
        rows, more = merchant_desk.list_payments(conn, me, limit=1)
        assert [r.id for r in rows] == [held] and more is not None
        assert [r.id for r in merchant_desk.list_payments(conn, me, before_seq=more)[0]] == [
            captured]
        assert merchant_desk.list_payments(conn, other)[0] == []
        events = merchant_desk.payment_events(conn, me, captured)
        assert [(e["kind"], e["amount_minor"]) for e in events] == [
            ("created", 10_000), ("confirmed", 10_000), ("captured", 10_000),
            ("refunded", 4_000)]
        with pytest.raises(NotFoundError):
            merchant_desk.payment_events(conn, other, captured)
        with pytest.raises(ValidationError) as bad:
            merchant_desk.list_payments(conn, me, status="paid")
        assert bad.value.field == "status"
    # The same through the JSON routes.
    _, k2 = _shop(api, admin, "M3")
    listed = api.get("/v1/merchant/payments", k1, params={"status": "requires_capture"},
                     expect=200).json()
    assert [p["id"] for p in listed["data"]] == [held] and listed["next_cursor"] is None
    page = api.get("/v1/merchant/payments", k1, params={"limit": 1}, expect=200).json()
    assert [p["id"] for p in page["data"]] == [held]
    rest = api.get("/v1/merchant/payments", k1, params={"cursor": page["next_cursor"]},
                   expect=200).json()
    assert [p["id"] for p in rest["data"]] == [captured]
    assert api.get("/v1/merchant/payments", k1, params={"order_id": "o-1"},
                   expect=200).json()["data"][0]["refunded_minor"] == 4_000
    assert api.get("/v1/merchant/payments", k2, expect=200).json()["data"] == []
    assert api.get("/v1/merchant/payments", k1, params={"status": "paid"}).status_code == 422
    events = api.get(f"/v1/merchant/payments/{captured}/events", k1, expect=200).json()
    assert [e["kind"] for e in events["data"]] == ["created", "confirmed", "captured",
                                                   "refunded"]
    assert api.get(f"/v1/merchant/payments/{captured}/events", k2).status_code == 404


# ----------------------------------------------------------------------- reconciliation
def _report(captures: list[int], refunds: list[int], rate: str) -> dict[str, Any]:
    """A settlement report as Settlement.settle and settlement_report make it."""
    gross, back = sum(captures), sum(refunds)
    base = gross - back
    fee = int((Decimal(base) * Decimal(rate)).quantize(Decimal(1), rounding=ROUND_HALF_UP)) \
        if base > 0 else 0
    lines = [{"kind": "capture", "id": f"cap_{n}", "intent_id": f"pi_{n % 3}",
              "order_id": f"o-{n % 3}", "amount_minor": a} for n, a in enumerate(captures)]
    lines += [{"kind": "refund", "id": f"re_{n}", "intent_id": f"pi_{n % 3}",
               "order_id": f"o-{n % 3}", "amount_minor": -a} for n, a in enumerate(refunds)]
    return {"gross_minor": gross, "refunds_minor": back, "fee_minor": fee,
            "net_minor": base - fee, "discount_rate": rate, "lines": lines}


@given(captures=st.lists(st.integers(1, 10**9), max_size=8),
       refunds=st.lists(st.integers(1, 10**9), max_size=8),
       rate=st.decimals(min_value=0, max_value=Decimal("0.1"), places=4),
       tamper=st.sampled_from([None, "gross_minor", "refunds_minor", "fee_minor",
                               "net_minor"]))
def test_a_reconciliation_adds_up_exactly_when_the_settlement_does(captures, refunds, rate,
                                                                   tamper):
    report = _report(captures, refunds, str(rate))
    if tamper is not None:
        report[tamper] += 1
    rec = merchant_desk.reconcile(report)
    assert rec["adds_up"] is (tamper is None)
    assert sum(p["net_minor"] for p in rec["payments"]) == sum(captures) - sum(refunds)
    assert rec["payout_minor"] + rec["carried_minor"] == report["net_minor"]
    if tamper is not None:
        assert [name for name, ok in rec["checks"].items() if not ok]


def test_a_half_refund_is_in_the_next_settlement_and_its_reconciliation(api, clock):
    admin = api.operator()
    m1, k1 = _shop(api, admin, "M1")
    alice = api.customer("13900000001")
    api.fund(alice, 100_000)
    intent = _paid(api, k1, alice, "half", 30_000)
    api.post(f"/v1/payment_intents/{intent}/capture", {}, k1, expect=200)
    api.post(f"/v1/payment_intents/{intent}/refunds", {"amount_minor": 15_000}, k1,
             expect=201)
    clock.advance(days=1)
    [settled] = api.post("/v1/operator/settlements/run", {"business_date": "2025-03-01"},
                         admin, expect=200).json()["data"]
    with api.runtime.uow.connect() as conn:
        report = api.runtime.payments.settlement_report(conn, Principal("merchant", m1),
                                                        settled["id"])
    rec = merchant_desk.reconcile(report)
    assert rec["adds_up"] and rec["base_minor"] == 15_000 and report["fee_minor"] == 90
    assert rec["payments"] == [{"intent_id": intent, "order_id": "half",
                                "captured_minor": 30_000, "refunded_minor": 15_000,
                                "net_minor": 15_000, "lines": report["lines"]}]
    over_api = api.get(f"/v1/merchant/settlements/{settled['id']}/reconciliation", k1,
                       expect=200).json()
    assert over_api["adds_up"] and over_api["settlement"]["refunds_minor"] == 15_000
    assert over_api["payments"][0]["refunded_minor"] == 15_000
    _, k2 = _shop(api, admin, "M2")
    assert api.get(f"/v1/merchant/settlements/{settled['id']}/reconciliation", k2
                   ).status_code == 404
    fees = api.get("/v1/merchant/fees", k1, expect=200).json()
    assert (fees["settlements"], fees["fee_minor"], fees["net_minor"]) == (1, 90, 14_910)
    assert (fees["discount_rate"], fees["discount_rate_percent"]) == ("0.006", "0.6")


# ----------------------------------------------------------------------- webhooks
def _deliveries(api: Api, key: str, count: int) -> None:
    for n in range(count):
        api.post("/v1/payment_intents", {"amount_minor": 100 + n, "currency": "CNY",
                                         "order_id": f"w-{n}"}, key, expect=201)
    api.runtime.webhooks.relay()


def test_deliveries_are_listed_and_sent_again_only_by_their_merchant(api, clock):
    admin = api.operator()
    m1, k1 = _shop(api, admin, "M1")
    _, k2 = _shop(api, admin, "M2")
    _deliveries(api, k1, 2)
    listed = api.get("/v1/merchant/webhook_deliveries", k1, expect=200).json()["data"]
    assert len(listed) == 2 and {d["status"] for d in listed} == {"pending"}
    assert api.get("/v1/merchant/webhook_deliveries", k2, expect=200).json()["data"] == []
    first = listed[0]["id"]
    # Given up after its attempts: a resend makes it pending and due now.
    later = clock.advance(hours=1)
    api.runtime.uow.run(lambda tx: tx.conn.execute(update(webhook_deliveries).where(
        webhook_deliveries.c.id == first).values(status="failed", attempts=10,
                                                 last_status_code=503)))
    failed = api.get("/v1/merchant/webhook_deliveries", k1, params={"status": "failed"},
                     expect=200).json()["data"]
    assert [d["id"] for d in failed] == [first] and failed[0]["attempts"] == 10
    assert api.post(f"/v1/merchant/webhook_deliveries/{first}/resend", {}, k2
                    ).status_code == 404
    again = api.post(f"/v1/merchant/webhook_deliveries/{first}/resend", {}, k1,
                     expect=200).json()
    assert again["status"] == "pending" and again["attempts"] == 10
    assert dt.datetime.fromisoformat(again["next_attempt_at"]) == later
    assert api.get("/v1/merchant/webhook_deliveries", k1, params={"status": "bogus"}
                   ).status_code == 422
    # While an attempt is being sent (a live lease) it is not touched.
    claims = api.runtime.webhooks.claim(10)
    assert first in {c.id for c in claims}
    with pytest.raises(StateError):
        api.runtime.uow.run(lambda tx: merchant_desk.resend_delivery(
            tx, Principal("merchant", m1), first))
    with api.runtime.uow.connect() as conn:
        row = conn.execute(select(webhook_deliveries).where(
            webhook_deliveries.c.id == first)).one()
    assert row.claim_token == claims[0].token


# ----------------------------------------------------------------------- disputes
def test_chargebacks_are_shown_to_their_merchant_only(api, clock):
    admin = api.operator()
    m1, k1 = _shop(api, admin, "M1")
    _, k2 = _shop(api, admin, "M2")
    api.runtime.uow.run(lambda tx: ingest_chargeback(
        tx, chargeback_id="cb-1", subject_id="pi_x", customer_id=None, merchant_id=m1,
        transaction_at=clock.now() - dt.timedelta(days=3), amount_minor=12_300,
        currency="CNY", reason_code="10.4", recorded_by="test"))
    [mine] = api.get("/v1/merchant/disputes", k1, expect=200).json()["data"]
    assert (mine["reference"], mine["amount_minor"], mine["is_fraud"]) == (
        "cb-1", 12_300, True)
    assert api.get("/v1/merchant/disputes", k2, expect=200).json()["data"] == []
