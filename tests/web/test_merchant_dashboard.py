"""The merchant dashboard (web/merchant.py) in a real browser on a real ``creditpay serve``:
a merchant user logs in with password and a TOTP code, refunds half of a captured payment
and sees the refund in the next settlement, reconciled; sends a webhook delivery again;
creates an API key (shown once, and it works) and revokes it (it works no more); a viewer
reads but cannot refund or manage keys (403); another merchant's payment and settlement
are 404; a merchant session opens no console page and a staff session no dashboard page;
a form without the CSRF token is refused; axe on every page, at phone and desktop width,
in Chinese and English."""

from __future__ import annotations

import base64
import datetime as dt
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import create_engine, select, update

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.clock import SimulatedClock
from creditpay.config import Settings
from creditpay.parties import merchant_users as MU
from creditpay.parties.service import Principal
from creditpay.parties.tables import merchants
from creditpay.payments.tables import payment_intents, webhook_deliveries
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from tests.web.conftest import DESKTOP, PHONE, WebServer, axe_check, running_server
from tests.web.seed_credit import _customer

pytestmark = pytest.mark.browser

PASSWORD = "merchant user pw 42"
STAFF_PASSWORD = "staff password 42"
CUSTOMER_PASSWORD = "merchant test customer 1"
HOOK = "https://hooks.shop.test/in"
# Each user logs in once per module (a TOTP code is accepted once per 30 s step).
# m3 is a shop of its own for the capture test, so m1's settlement does not depend on the
# order the tests run in.
USERS = (("m1", "owner", "refund"), ("m1", "owner", "webhooks"), ("m1", "owner", "isolation"),
         ("m1", "viewer", "viewer"), ("m3", "owner", "capture"))


def _app(url: str, master: bytes, clock: Any = None) -> Any:
    config = ApiConfig(master_key=LocalMasterKey(master), pool_size=2, background_jobs=False)
    settings = Settings.of(database_url=url)
    return create_app(settings, clock, config=config) if clock is not None else \
        create_app(settings, config=config)


def _seed(url: str, master: bytes) -> dict[str, Any]:
    from creditpay.api.routes_operators import deliver_rail_callbacks

    app = _app(url, master)
    rt = app.state.runtime
    try:
        rt.vault.ensure_active_key()
        staff = rt.uow.run(lambda tx: rt.parties.create_operator(
            tx, name="merchant-test-admin", role="admin",
            password_hash=rt.parties.passwords.hash(STAFF_PASSWORD)))
        admin = Principal("operator", staff["id"], role="admin")
        shops = {name: rt.uow.run(lambda tx, n=name: rt.parties.onboard_merchant(
            tx, admin, name=f"Shop {n}", mcc="5411", discount_rate="0.006"))["merchant"]["id"]
            for name in ("m1", "m2", "m3")}
        # The webhook URL written as it is stored (its host is checked by name lookup when
        # set through the API; this test's host resolves nowhere and is never called: the
        # server runs without its delivery worker).
        rt.uow.run(lambda tx: tx.conn.execute(update(merchants).values(webhook_url=HOOK)))
        password_hash = rt.parties.passwords.hash(PASSWORD)
        users = {key: rt.uow.run(lambda tx, s=shop, r=role: MU.create_merchant_user(
            rt.parties, tx, merchant_id=shops[s], name=f"{r} {s}", role=r,
            password_hash=password_hash)) for shop, role, key in USERS}
        users["m2"] = rt.uow.run(lambda tx: MU.create_merchant_user(
            rt.parties, tx, merchant_id=shops["m2"], name="owner m2", role="owner",
            password_hash=password_hash))
        customer = _customer(rt, "13600000001", rt.parties.passwords.hash(CUSTOMER_PASSWORD),
                             dt.date(1985, 5, 5))
        service = rt.payments

        def add_card(tx: Any) -> dict[str, Any]:
            card = service.rail.tokenise(tx, "4242424242424242", 12, 2099)
            return rt.parties.add_card(tx, customer, rail_token=card.token, brand=card.brand,
                                       last4=card.last4, expiry_month=12, expiry_year=2099)

        card = rt.uow.run(add_card)
        rt.uow.run(lambda tx: service.top_up(tx, customer, card_id=card["id"],
                                             amount_minor=500_000))
        deliver_rail_callbacks(rt)

        def paid(shop: str, order_id: str, amount: int, capture: bool) -> str:
            who = Principal("merchant", shops[shop], scopes=frozenset({"payments:write"}))
            intent = rt.uow.run(lambda tx: service.create_intent(
                tx, who, amount_minor=amount, currency="CNY", order_id=order_id))["id"]
            rt.uow.run(lambda tx: service.confirm(tx, customer, intent, funding="balance"))
            if capture:
                rt.uow.run(lambda tx: service.capture(tx, who, intent))
            return str(intent)

        intents = {"half": paid("m1", "order-half", 30_000, True),
                   "held": paid("m3", "order-held", 12_000, False),
                   "other": paid("m2", "order-m2", 5_000, True)}
        rt.webhooks.relay()
        with rt.uow.connect() as conn:
            failed = conn.execute(select(webhook_deliveries.c.id).where(
                webhook_deliveries.c.merchant_id == shops["m1"]).order_by(
                webhook_deliveries.c.created_at, webhook_deliveries.c.id).limit(1)).scalar_one()
        rt.uow.run(lambda tx: tx.conn.execute(update(webhook_deliveries).where(
            webhook_deliveries.c.id == failed).values(
            status="failed", attempts=10, last_status_code=503, last_error="HTTP 503")))
        return {"shops": shops, "users": users, "intents": intents, "failed": failed,
                "staff": staff}
    finally:
        rt.close()


@pytest.fixture(scope="module")
def merchant_server() -> Iterator[WebServer]:
    with tempfile.TemporaryDirectory(prefix="creditpay-web-merchant-") as folder:
        url = f"sqlite:///{Path(folder) / 'merchant.db'}"
        master = generate_key_bytes()
        seeded = _seed(url, master)
        with running_server(url, master) as base:
            yield WebServer(base, {**seeded, "url": url, "master": master})


def _code(secret: str) -> str:
    return TOTP(base64.b32decode(secret), 6, SHA1(), 30).generate(time.time()).decode()


def _log_in(context: Any, base: str, user: dict[str, Any], next_path: str = "") -> Any:
    page = context.new_page()
    page.goto(f"{base}/merchant/login{next_path}")
    page.locator("#user").fill(user["id"])
    page.locator("#password").fill(PASSWORD)
    page.locator("#totp_code").fill(_code(user["totp_secret"]))
    page.locator("form.card button[type=submit]").click()
    return page


def _settle_today(url: str, master: bytes) -> None:
    """The operator's settlement run of today's business, as it runs tomorrow (T+1)."""
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    app = _app(url, master, SimulatedClock(tomorrow))
    rt = app.state.runtime
    try:
        rt.uow.run(lambda tx: rt.payments.settle(tx, tomorrow.date() - dt.timedelta(days=1)))
    finally:
        rt.close()


def _acted(url: str) -> list[tuple[str, str, str]]:
    from creditpay.platform.tables import audit_records

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(audit_records.c.actor_id, audit_records.c.payload)
                                .where(audit_records.c.action == "merchant_user.acted")).all()
    finally:
        engine.dispose()
    return [(r.actor_id, r.payload["user_id"], r.payload["route"]) for r in rows]


def _minor(page: Any, selector: str) -> int:
    return int(page.locator(selector).first.get_attribute("data-minor"))


def test_a_merchant_refunds_half_a_payment_and_sees_it_in_the_next_settlement(
        merchant_server: WebServer, new_context: Any) -> None:
    base, seeded = merchant_server.base, merchant_server.seeded
    intent = seeded["intents"]["half"]
    page = _log_in(new_context(DESKTOP, "en"), base, seeded["users"]["refund"],
                   "?next=/merchant/payments")
    page.wait_for_url(f"{base}/merchant/payments")
    axe_check(page)
    row = page.locator(f'tr[data-intent="{intent}"]')
    assert row.locator('[data-field="status"]').get_attribute("data-value") == "succeeded"
    row.locator("a").click()
    page.wait_for_url(f"{base}/merchant/payments/{intent}")
    axe_check(page)
    funding = page.locator('[data-field="funding"]')
    assert (funding.get_attribute("data-value"), funding.inner_text()) == (
        "balance", "Wallet balance")
    # More decimals than the yuan has: said on the page, nothing refunded.
    page.locator("#refund-amount").fill("150.005")
    page.locator('form[data-form="refund"] button[type=submit]').click()
    page.wait_for_selector('.error[role="alert"]')
    assert _minor(page, '[data-field="refunded_minor"]') == 0
    axe_check(page)
    page.locator("#refund-amount").fill("150.00")
    page.locator("#refund-reason").fill("one of two items returned")
    page.locator('form[data-form="refund"] button[type=submit]').click()
    page.wait_for_selector('[data-done="refunded"]')
    assert _minor(page, '[data-done="refunded"]') == 15_000
    assert _minor(page, '[data-field="refunded_minor"]') == 15_000
    assert page.locator('li[data-event="refunded"]').get_attribute("data-minor") == "15000"
    axe_check(page)
    # The merchant's refund is audited with the person who made it.
    assert _acted(seeded["url"]) == [(seeded["shops"]["m1"], seeded["users"]["refund"]["id"],
                                      f"/v1/payment_intents/{intent}/refunds")]

    _settle_today(seeded["url"], seeded["master"])
    page.goto(f"{base}/merchant/settlements")
    axe_check(page)
    [settlement] = page.locator("tr[data-settlement]").all()
    assert _minor(settlement, '[data-field="refunds_minor"]') == 15_000
    assert _minor(settlement, '[data-field="gross_minor"]') == 30_000
    settlement.locator("a").click()
    page.wait_for_selector('[data-field="adds_up"]')
    axe_check(page)
    assert page.locator('[data-field="adds_up"]').get_attribute("data-value") == "yes"
    line = page.locator(f'tr[data-intent="{intent}"]')
    assert (_minor(line, '[data-field="captured_minor"]'),
            _minor(line, '[data-field="refunded_minor"]'),
            _minor(line, '[data-field="net_minor"]')) == (30_000, 15_000, 15_000)
    # Fee 0.6 % of (300.00 - 150.00) = 0.90; net 149.10 paid out.
    assert (_minor(page, 'dd[data-field="fee_minor"]'),
            _minor(page, 'dd[data-field="net_minor"]'),
            _minor(page, 'dd[data-field="payout_minor"]')) == (90, 14_910, 14_910)
    page.goto(f"{base}/merchant/fees")
    axe_check(page)
    assert _minor(page, '[data-field="fee_minor"]') == 90
    page.goto(f"{base}/merchant/disputes")
    axe_check(page)


def test_the_held_payment_is_captured_from_its_page(merchant_server: WebServer,
                                                    new_context: Any) -> None:
    base, seeded = merchant_server.base, merchant_server.seeded
    intent = seeded["intents"]["held"]
    page = _log_in(new_context(PHONE, "zh-CN"), base, seeded["users"]["capture"],
                   f"?next=/merchant/payments/{intent}")
    page.wait_for_url(f"{base}/merchant/payments/{intent}")
    assert page.locator("h1").inner_text().startswith("付款")
    page.locator('form[data-form="capture"] button[type=submit]').click()
    page.wait_for_selector('[data-done="captured"]')
    assert _minor(page, '[data-field="captured_minor"]') == 12_000
    assert page.locator('[data-field="status"]').get_attribute("data-value") == "succeeded"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    axe_check(page)
    # Without the form's CSRF token a refund is refused and nothing changes.
    cookie = next(c for c in page.context.cookies() if c["name"] == "__Host-cp_merchant")
    assert cookie["httpOnly"] and cookie["secure"]
    refused = httpx.post(f"{base}/merchant/payments/{intent}/refund",
                         data={"once": "web-no-csrf-token-0001", "amount": "1.00"},
                         cookies={"__Host-cp_merchant": cookie["value"]})
    assert refused.status_code == 403
    engine = create_engine(seeded["url"])
    try:
        with engine.connect() as conn:
            refunded = conn.execute(select(payment_intents.c.refunded_minor).where(
                payment_intents.c.id == intent)).scalar_one()
    finally:
        engine.dispose()
    assert refunded == 0


def test_a_webhook_delivery_is_sent_again_and_a_key_is_created_then_revoked(
        merchant_server: WebServer, new_context: Any) -> None:
    base, seeded = merchant_server.base, merchant_server.seeded
    page = _log_in(new_context(PHONE, "zh-CN"), base, seeded["users"]["webhooks"],
                   "?next=/merchant/webhooks")
    page.wait_for_url(f"{base}/merchant/webhooks")
    axe_check(page)
    card = page.locator(f'[data-delivery="{seeded["failed"]}"]')
    assert card.locator('[data-field="status"]').get_attribute("data-value") == "failed"
    assert card.locator('[data-field="attempts"]').inner_text() == "10"
    card.locator("button").click()
    page.wait_for_selector(f'[data-done="{seeded["failed"]}"]')
    card = page.locator(f'[data-delivery="{seeded["failed"]}"]')
    assert card.locator('[data-field="status"]').get_attribute("data-value") == "pending"
    axe_check(page)

    page.goto(f"{base}/merchant/keys")
    axe_check(page)
    page.locator('input[name="scope.payments:read"]').check()
    page.locator('input[name="scope.reports:read"]').check()
    page.locator('form[data-form="create-key"] button[type=submit]').click()
    page.wait_for_selector("[data-created]")
    key = page.locator('[data-field="key"]').inner_text()
    key_id = page.locator("[data-created]").get_attribute("data-created")
    assert key.startswith("cpk")
    axe_check(page)
    api = httpx.get(f"{base}/v1/settlements", headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 200
    page.goto(f"{base}/merchant/keys")  # shown once: not on the page any more
    assert page.locator('[data-field="key"]').count() == 0
    page.locator(f'[data-key="{key_id}"] button').click()
    page.wait_for_selector(f'[data-revoked="{key_id}"]')
    assert page.locator(f'[data-key="{key_id}"] [data-field="revoked"]').get_attribute(
        "data-value") == "yes"
    api = httpx.get(f"{base}/v1/settlements", headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 401


def test_a_viewer_reads_but_cannot_refund_or_manage_keys(merchant_server: WebServer,
                                                         new_context: Any) -> None:
    base, seeded = merchant_server.base, merchant_server.seeded
    page = _log_in(new_context(PHONE, "en"), base, seeded["users"]["viewer"])
    page.wait_for_url(f"{base}/merchant/")
    assert page.locator('[data-field="user.role"]').inner_text() == "Viewer"
    assert page.locator('a[href="/merchant/keys"]').count() == 0
    axe_check(page)
    page.goto(f"{base}/merchant/payments/{seeded['intents']['half']}")
    assert page.locator('form[data-form="refund"]').count() == 0
    axe_check(page)
    response = page.goto(f"{base}/merchant/keys")
    assert response is not None and response.status == 403
    assert page.locator("h1").inner_text() == "Not for your role"
    axe_check(page)
    # A refund posted with the session's own CSRF token is still refused to the role.
    token = page.locator('form[action="/merchant/logout"] input[type=hidden]')
    csrf_name, csrf = token.get_attribute("name"), token.get_attribute("value")
    cookie = next(c for c in page.context.cookies() if c["name"] == "__Host-cp_merchant")
    refused = httpx.post(f"{base}/merchant/payments/{seeded['intents']['half']}/refund",
                         data={csrf_name: csrf, "once": "web-viewer-refund-0001", "amount": "1"},
                         cookies={"__Host-cp_merchant": cookie["value"]})
    assert refused.status_code == 403


def test_another_merchants_records_are_404_and_sessions_stay_in_their_app(
        merchant_server: WebServer, new_context: Any) -> None:
    base, seeded = merchant_server.base, merchant_server.seeded
    context = new_context(DESKTOP, "zh-CN")
    page = context.new_page()
    page.goto(f"{base}/merchant/payments")
    page.wait_for_url(f"{base}/merchant/login?next=/merchant/payments")
    axe_check(page)
    page = _log_in(context, base, seeded["users"]["isolation"])
    page.wait_for_url(f"{base}/merchant/")
    axe_check(page)
    response = page.goto(f"{base}/merchant/payments/{seeded['intents']['other']}")
    assert response is not None and response.status == 404
    axe_check(page)
    # A merchant session is no staff session.
    page.goto(f"{base}/console/")
    page.wait_for_url(f"{base}/console/login")
    page.goto(f"{base}/console/approvals")
    page.wait_for_url(f"{base}/console/login?next=/console/approvals")

    staff = context.browser.new_context(viewport=DESKTOP, locale="en")
    try:
        console = staff.new_page()
        console.goto(f"{base}/console/login")
        console.locator("#operator").fill(seeded["staff"]["id"])
        console.locator("#password").fill(STAFF_PASSWORD)
        console.locator("#totp_code").fill(_code(seeded["staff"]["totp_secret"]))
        console.locator("form.card button[type=submit]").click()
        console.wait_for_url(f"{base}/console/")
        # ... and a staff session is no merchant session.
        console.goto(f"{base}/merchant/payments")
        console.wait_for_url(f"{base}/merchant/login?next=/merchant/payments")
    finally:
        staff.close()


def test_the_log_in_goes_back_to_dashboard_pages_only() -> None:
    from creditpay.web.framework import safe_next
    from creditpay.web.merchant import _merchant_next

    assert safe_next("/merchant/payments?status=succeeded") == \
        "/merchant/payments?status=succeeded"
    for bad in ("/merchant//evil.example", "https://evil.example/merchant/", "/merchant\\x",
                "//evil.example"):
        assert safe_next(bad) is None, bad
    assert _merchant_next("/console/approvals") is None  # not a dashboard page
    assert _merchant_next("/merchant/keys") == "/merchant/keys"
