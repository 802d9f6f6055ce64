"""A merchant's slow webhook endpoint slows no one else (issue 13, item 3), on both stores.

The real app runs its background jobs (``create_app`` lifespan, as ``creditpay serve``). A
merchant's endpoint takes the request and then drip-feeds its answer, one byte at a time, for
as long as the test wants: per-read timeouts never fire on that. While it is in flight,
another customer's card top-up must be applied (card-rail callback) and another merchant's
webhook delivered. The slow endpoint is released only after the test has seen both, and the
slow delivery is then still unrecorded: proof by order of events, not by timing.
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from creditpay.payments.tables import webhook_deliveries
from creditpay.payments.webhooks import DeliveryLimits
from tests.api.helpers import GOOD_PAN, Api, build_app
from tests.payments.webhook_receivers import Receiver, wait_for


def test_slow_merchant_delays_neither_card_callbacks_nor_other_merchants(store, clock):
    # A deadline far beyond the test: the slow request is still in flight at the end.
    limits = DeliveryLimits(deadline_s=300, lease_s=600, poll_s=0.05)
    app = build_app(store.url, clock, background_jobs=True, webhooks_allow_private=True,
                    webhook_limits=limits)
    with Receiver("drip", drip_s=0.05, drip_cap_s=100) as slow, Receiver() as fast, \
            TestClient(app, raise_server_exceptions=False) as client:  # runs the lifespan
        api = Api(client, app)
        admin = api.operator("admin")
        slow_shop = api.merchant(admin, webhook_url=slow.url(), name="Slow shop")
        fast_shop = api.merchant(admin, webhook_url=fast.url(), name="Fast shop")
        customer = api.customer("13800138000")
        card = api.card(customer, GOOD_PAN)

        api.post("/v1/payment_intents", {"amount_minor": 100, "currency": "CNY",
                                         "order_id": "slow-1"},
                 slow_shop["api_key"]["key"], expect=201)
        wait_for(slow.started.is_set, "the slow merchant's webhook request")

        api.post("/v1/me/wallet/top-ups", {"card_id": card, "amount_minor": 5_000}, customer,
                 expect=201)
        api.post("/v1/payment_intents", {"amount_minor": 200, "currency": "CNY",
                                         "order_id": "fast-1"},
                 fast_shop["api_key"]["key"], expect=201)
        wait_for(lambda: api.wallet(customer)["balance_minor"] == 5_000,
                 "the top-up's card-rail callback applied")
        wait_for(lambda: len(fast.received) == 1, "the other merchant's webhook")

        with app.state.runtime.uow.connect() as conn:
            slow_row = conn.execute(select(webhook_deliveries).where(
                webhook_deliveries.c.merchant_id == slow_shop["merchant"]["id"])).one()
        # Both happened while the slow answer was still dripping, its attempt unrecorded.
        assert slow.in_flight == 1 and not slow.release.is_set()
        assert (slow_row.status, slow_row.attempts) == ("pending", 0)
        assert slow_row.claim_token is not None

        slow.release.set()  # the endpoint hangs up mid-answer: a failed attempt

        def slow_recorded() -> bool:
            with app.state.runtime.uow.connect() as conn:
                return conn.execute(select(webhook_deliveries.c.attempts).where(
                    webhook_deliveries.c.id == slow_row.id)).scalar_one() == 1

        wait_for(slow_recorded, "the slow delivery recorded as a failed attempt")
