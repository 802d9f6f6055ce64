"""Platform events from the owning domains' public reads, end to end through the real app:
top-ups (one failed), a device change, a captured and partly refunded payment, and the
features an online decision computes from them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from tests.api.helpers import DECLINE_PAN, PASSWORD, Api, running_api

from creditpay.api.routes_operators import deliver_rail_callbacks
from creditpay.payments.history import customer_activity
from creditpay.risk.features import compute_features
from creditpay.risk.features.compute import normalise_events
from creditpay.risk.features.platform import platform_events

from .conftest import GOOD_APPLICATION


@pytest.fixture
def api(store, clock) -> Iterator[Api]:
    with running_api(store.url, clock) as api:
        yield api


def _login_on_new_device(api: Api, phone: str, device: str) -> str:
    login = api.post("/v1/auth/login", {"identifier": phone, "password": PASSWORD,
                                        "device_id": device}, expect=200).json()
    assert login["status"] == "step_up_required"
    code = api.last_code(login["challenge_id"])
    return api.post("/v1/auth/login/verify", {"challenge_id": login["challenge_id"],
                                              "code": code, "device_id": device},
                    expect=200).json()["access_token"]


def test_activity_and_devices_become_point_in_time_features(api, clock):
    admin = api.operator("admin")
    mkey = api.merchant(admin)["api_key"]["key"]
    alice = api.customer("13800000011", device="phone-old-0001")
    customer_id = api.get("/v1/me", alice, expect=200).json()["id"]
    api.fund(alice, 50_000)
    bad_card = api.card(alice, DECLINE_PAN)
    api.post("/v1/me/wallet/top-ups", {"card_id": bad_card, "amount_minor": 7_000}, alice)
    deliver_rail_callbacks(api.runtime)
    clock.advance(days=40)
    alice = _login_on_new_device(api, "13800000011", "phone-new-0002")  # 40 days on
    intent = api.post("/v1/payment_intents", {"amount_minor": 10_000, "currency": "CNY",
                                              "order_id": "o-1"}, mkey, expect=201).json()
    api.post(f"/v1/payment_intents/{intent['id']}/confirm", {"funding": "balance"}, alice,
             expect=200)
    api.post(f"/v1/payment_intents/{intent['id']}/capture", {}, mkey, expect=200)
    api.post(f"/v1/payment_intents/{intent['id']}/refunds", {"amount_minor": 2_500}, mkey,
             expect=201)
    clock.advance(days=5)
    as_of = clock.now()
    with api.runtime.uow.connect() as conn:
        table = platform_events(conn, customer_id, as_of=as_of, activity=customer_activity)
        earlier = platform_events(conn, customer_id, as_of=as_of - dt.timedelta(days=20),
                                  activity=customer_activity)
    kinds = sorted(row["kind"] for row in table)
    assert kinds.count("top_up") == 1 and kinds.count("top_up_failed") == 1
    assert kinds.count("payment") == 1 and kinds.count("refund") == 1
    assert {row["device_id"] for row in table if row["kind"] == "device_seen"} and all(
        row["occurred_at"] < as_of for row in table)
    values = compute_features(as_of=as_of, application=GOOD_APPLICATION,
                              events=normalise_events(table, customer_id=customer_id),
                              bureau=None)
    assert values["top_ups_count_90d"] == 1 and values["top_ups_amount_minor_90d"] == 50_000
    assert values["failed_payments_count_90d"] == 1
    assert values["failed_payments_share_90d"] == pytest.approx(1 / 3, abs=1e-6)
    assert values["payments_amount_minor_90d"] == 10_000
    assert values["refund_share_90d"] == 0.25
    assert values["devices_count_90d"] == 2
    assert values["current_device_age_days"] == 5  # the new phone, first seen 5 days ago
    # Twenty days earlier the payment and the new phone had not happened yet.
    before = compute_features(as_of=as_of - dt.timedelta(days=20), application=GOOD_APPLICATION,
                              events=normalise_events(earlier, customer_id=customer_id),
                              bureau=None)
    assert before["payments_count_90d"] == 0 and before["devices_count_90d"] == 1
    assert before["current_device_age_days"] == 25


def test_platform_events_read_activity_through_the_source_the_caller_passes(uow, clock):
    """Risk reads no payments table: the activity rows are the given source's, asked for
    the look-back window ending at ``as_of``."""
    from creditpay.risk.features.platform import LOOKBACK_DAYS, ActivityRow

    as_of = clock.now()
    asked = []

    def source(conn, customer_id, *, before, since=None):
        asked.append((customer_id, before, since))
        return [ActivityRow(occurred_at=as_of - dt.timedelta(days=3), kind="payment",
                            amount_minor=1_234, currency="CNY", category="online")]

    with uow.connect() as conn:
        table = platform_events(conn, "cust-1", as_of=as_of, activity=source)
    assert asked == [("cust-1", as_of, as_of - dt.timedelta(days=LOOKBACK_DAYS))]
    assert table == [{"customer_id": "cust-1", "occurred_at": as_of - dt.timedelta(days=3),
                      "kind": "payment", "amount_minor": 1_234,
                      "merchant_category": "online", "device_id": None}]
