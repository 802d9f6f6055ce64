"""The identity, card and wallet pages in a real browser (phone and desktop, en and zh-CN):
KYC -> link a card -> top up -> balance and history equal to the API's JSON -> withdraw ->
P2P to a second consumer who sees it -> pay a merchant's QR -> a payment code the merchant
collects; the history paged by the API's cursors both ways; a form sent twice moves money
once; bad amounts named and changing nothing. Every page scanned by axe-core.

These tests run their own ``creditpay serve`` (module scope) on a database seeded with an
operator (to deliver the card rail's callbacks: the server runs without its job loop) and a
merchant with an API key (to show a QR and collect a payment code).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.config import Settings
from creditpay.parties.service import Principal
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from tests.web.conftest import DESKTOP, PHONE, axe_check, log_in, running_server

pytestmark = pytest.mark.browser

PASSWORD = "wallet password 1"
GOOD_PAN = "4242424242424242"
_serial = iter(range(10_000, 99_999))


@dataclass(frozen=True)
class Server:
    base: str
    admin_token: str
    merchant_key: str


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="creditpay-wallet-") as folder:
        url = f"sqlite:///{Path(folder) / 'wallet.db'}"
        master = generate_key_bytes()
        app = create_app(Settings.of(database_url=url),
                         config=ApiConfig(master_key=LocalMasterKey(master), pool_size=2))
        rt = app.state.runtime
        try:
            admin = rt.uow.run(lambda tx: rt.parties.create_operator(
                tx, name="wallet-tests", role="admin"))
            operator = Principal("operator", admin["id"], role="admin")
            merchant = rt.uow.run(lambda tx: rt.parties.onboard_merchant(
                tx, operator, name="Corner Café", mcc="5812", discount_rate="0.006"))
        finally:
            rt.close()
        with running_server(url, master) as base:
            yield Server(base, admin["token"], merchant["api_key"]["key"])


# ----------------------------------------------------------------------- helpers
def _client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.base, timeout=30)


def _post(client: httpx.Client, path: str, body: Any, token: str | None = None,
          expect: int | None = None) -> Any:
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = client.post(path, json=body, headers=headers)
    if expect is not None:
        assert response.status_code == expect, response.text
    return response.json()


def _get(client: httpx.Client, path: str, token: str, **params: Any) -> Any:
    response = client.get(path, headers={"Authorization": f"Bearer {token}"}, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class Consumer:
    phone: str
    token: str
    device: str


def _consumer(server: Server) -> Consumer:
    """A registered consumer (through the API, with the dev inbox's code) and its token."""
    phone, device = f"1360000{next(_serial) % 10_000:04d}", f"api-device-{uuid.uuid4().hex[:8]}"
    with _client(server) as client:
        started = _post(client, "/v1/customers", {"phone": phone, "password": PASSWORD,
                                                  "device_id": device}, expect=202)
        code = client.get("/v1/dev/inbox", params={"to": phone}).json()["data"][0]["code"]
        _post(client, "/v1/customers/verify", {"registration_id": started["registration_id"],
                                               "code": code, "device_id": device}, expect=201)
        session = _post(client, "/v1/auth/login", {"identifier": phone, "password": PASSWORD,
                                                   "device_id": device}, expect=200)
    return Consumer(phone, session["access_token"], device)


def _deliver_card_callbacks(server: Server) -> None:
    """What the card network would do a moment later (the server runs with --no-jobs)."""
    with _client(server) as client:
        _post(client, "/v1/operator/jobs/card_rail", {}, server.admin_token, expect=200)


def _submit(page: Any) -> None:
    page.locator("main form.card button[type=submit]").last.click()
    page.wait_for_load_state()


def _minor(page: Any, field: str) -> int:
    return int(page.locator(f'[data-field="{field}"]').first.get_attribute("data-minor"))


def _shown(page: Any, field: str) -> str:
    return page.locator(f'[data-field="{field}"]').first.inner_text().strip()


def _money(minor: int, language: str) -> str:
    from creditpay.formatting import money_text

    return money_text(minor, "CNY", language)


def _passport() -> str:
    return f"E{next(_serial):08d}"


def _kyc_and_card_via_api(server: Server, who: Consumer, top_up_minor: int = 0) -> str:
    """KYC, a linked card and (optionally) a settled top-up, through the JSON API."""
    with _client(server) as client:
        _post(client, "/v1/me/kyc", {"legal_name": "Li Lei", "id_number": _passport(),
                                     "date_of_birth": "1990-01-01"}, who.token, expect=200)
        card = _post(client, "/v1/me/cards", {"pan": GOOD_PAN, "expiry_month": 12,
                                              "expiry_year": 2099}, who.token, expect=201)
        if top_up_minor:
            _post(client, "/v1/me/wallet/top-ups", {"card_id": card["id"],
                                                    "amount_minor": top_up_minor},
                  who.token, expect=201)
    if top_up_minor:
        _deliver_card_callbacks(server)
    return str(card["id"])


TEXT = {
    "en": {"verified": "Your identity is verified.", "linked": "Your card is linked.",
           "pending": "Sent to your card's bank", "done": "Done.", "paid": "Paid.",
           "amount_error": "Enter an amount in yuan greater than zero, like 12.34.",
           "pan_error": "Enter a valid card number.", "wallet": "Wallet", "cards": "Cards"},
    "zh-CN": {"verified": "您的身份已验证。", "linked": "银行卡已绑定。",
              "pending": "已提交给发卡银行", "done": "已完成。", "paid": "已付款。",
              "amount_error": "请输入大于零的金额（元），例如 12.34。",
              "pan_error": "请输入有效的卡号。", "wallet": "钱包", "cards": "银行卡"},
}


# ----------------------------------------------------------------------- the main path
@pytest.mark.parametrize(("viewport", "language"), [(PHONE, "en"), (DESKTOP, "zh-CN")],
                         ids=["phone-en", "desktop-zh-CN"])
def test_kyc_card_top_up_withdraw_p2p_qr_and_payment_code(
        server: Server, new_context: Any, viewport: dict[str, int], language: str) -> None:
    base, text = server.base, TEXT[language]
    me, friend = _consumer(server), _consumer(server)
    _kyc_and_card_via_api(server, friend)
    page = log_in(new_context(viewport, language), base, me.phone, PASSWORD)
    page.locator(f'.langs button[value="{language}"]').click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == language
    nav = page.get_by_role("navigation", name=re.compile("Main|主导航|主要"))
    assert nav.get_by_role("link", name=text["wallet"]).is_visible()
    assert nav.get_by_role("link", name=text["cards"]).is_visible()
    assert page.locator('[data-field="kyc_status"]').get_attribute("data-value") == "unverified"
    axe_check(page)
    client = _client(server)

    # KYC: every field named when empty; then verified, shown masked as the API shows it.
    page.locator('a[href="/app/kyc"]').first.click()
    page.wait_for_url(f"{base}/app/kyc")
    axe_check(page)
    _submit(page)
    for name in ("legal_name", "id_number", "date_of_birth"):
        assert page.locator(f"#{name}").get_attribute("aria-invalid") == "true"
        assert page.locator(f"#{name}-error").is_visible()
    axe_check(page)
    page.locator("#legal_name").fill("Han Meimei")
    page.locator("#id_number").fill(_passport())
    page.locator("#date_of_birth").fill("1992-03-04")
    _submit(page)
    page.wait_for_url(re.compile(r"/app/kyc\?verified=1$"))
    assert text["verified"] in page.locator("main").inner_text()
    profile = _get(client, "/v1/me", me.token)
    assert profile["kyc_status"] == "verified"
    assert _shown(page, "legal_name") == profile["legal_name"]
    assert _shown(page, "id_number") == profile["id_number"]
    axe_check(page)

    # Cards: a bad number is named; the good one is linked and listed masked.
    page.goto(f"{base}/app/cards")
    axe_check(page)
    page.locator("#pan").fill("4242 4242 4242 4241")
    page.locator("#expiry_month").fill("12")
    page.locator("#expiry_year").fill("2099")
    _submit(page)
    assert page.locator("#pan-error").inner_text() == text["pan_error"]
    assert page.locator("#pan").input_value() == ""  # the number is never echoed back
    axe_check(page)
    page.locator("#pan").fill(GOOD_PAN)
    _submit(page)
    page.wait_for_url(re.compile(r"/app/cards\?done=linked$"))
    assert page.get_by_role("status").inner_text() == text["linked"]
    api_cards = _get(client, "/v1/me/cards", me.token)["data"]
    assert [c["masked"] for c in api_cards] == \
        [e.inner_text() for e in page.locator('[data-field="card.masked"]').all()]
    axe_check(page)

    # Top up 150.00: pending until the card network confirms; then balance and history.
    page.goto(f"{base}/app/wallet/top-up")
    axe_check(page)
    page.locator("#amount_minor").fill("150.00")
    _submit(page)
    assert text["pending"] in page.get_by_role("status").inner_text()
    assert _minor(page, "operation.amount_minor") == 15_000
    axe_check(page)
    _deliver_card_callbacks(server)
    page.goto(f"{base}/app/wallet")
    api_wallet = _get(client, "/v1/me/wallet", me.token)
    assert api_wallet["balance_minor"] == 15_000
    for name in ("balance_minor", "available_minor", "incoming_pending_minor"):
        assert _minor(page, f"wallet.{name}") == api_wallet[name]
        assert _shown(page, f"wallet.{name}") == _money(api_wallet[name], language)
    history = _get(client, "/v1/me/wallet/history", me.token)["data"]
    rows = page.locator("[data-operation]")
    assert rows.count() == len(history) == 1
    assert rows.first.get_attribute("data-operation") == history[0]["id"]
    assert rows.first.get_attribute("data-status") == history[0]["status"] == "succeeded"
    assert int(rows.first.get_attribute("data-minor")) == history[0]["amount_minor"]
    assert _money(15_000, language) in rows.first.inner_text()
    axe_check(page)

    # Withdraw 20.50 to the card.
    page.goto(f"{base}/app/wallet/withdraw")
    page.locator("#amount_minor").fill("20.50")
    _submit(page)
    assert _minor(page, "operation.amount_minor") == 2_050
    axe_check(page)
    _deliver_card_callbacks(server)

    # P2P: the payee shown masked before confirming; the friend sees the money arrive.
    page.goto(f"{base}/app/wallet/send")
    axe_check(page)
    page.locator("#to").fill(friend.phone)
    page.locator("#amount_minor").fill("30")
    page.locator("#note").fill("lunch")
    _submit(page)
    masked = _get(client, "/v1/me", friend.token)["phone"]
    assert _shown(page, "payee") == masked and friend.phone not in page.locator("main").inner_text()
    assert _minor(page, "amount_minor") == 3_000
    axe_check(page)
    _submit(page)
    assert page.get_by_role("status").inner_text().strip() == text["done"]
    axe_check(page)
    assert _get(client, "/v1/me/wallet", friend.token)["balance_minor"] == 3_000
    friend_page = log_in(new_context(viewport, language), base, friend.phone, PASSWORD)
    friend_page.goto(f"{base}/app/wallet")
    incoming = friend_page.locator('[data-kind="p2p"]').first
    assert incoming.get_attribute("data-direction") == "in"
    assert int(incoming.get_attribute("data-minor")) == 3_000
    assert _get(client, "/v1/me", me.token)["phone"] in incoming.inner_text()
    axe_check(friend_page)

    # QR pay: the merchant shows a QR; the page shows the shop and amount, pays from balance.
    intent = _post(client, "/v1/payment_intents", {
        "amount_minor": 4_280, "currency": "CNY", "order_id": f"qr-{uuid.uuid4().hex[:10]}",
        "scenario": "offline_qr", "description": "Flat white"}, server.merchant_key,
        expect=201)
    page.goto(f"{base}/app/wallet/qr")
    axe_check(page)
    page.locator("#qr_payload").fill(intent["qr_payload"])
    _submit(page)
    assert _minor(page, "intent.amount_minor") == 4_280
    assert _shown(page, "intent.merchant_name") == "Corner Café"
    assert not page.locator('input[name="funding"]:checked').count()  # nothing preselected
    axe_check(page)
    _submit(page)  # no choice: named, nothing paid
    assert page.locator("#funding-error").is_visible()
    page.locator('input[name="funding"][value="balance"]').check()
    _submit(page)
    assert text["paid"] in page.get_by_role("status").inner_text()
    axe_check(page)
    paid = _get(client, f"/v1/payment_intents/{intent['id']}", server.merchant_key)
    assert paid["funding"] == "balance" and paid["customer_id"] == profile["id"]
    assert page.locator('[data-field="intent.status"]').count() == 1

    # The payment code: shown with its expiry; the merchant's till collects it.
    page.goto(f"{base}/app/wallet/code")
    axe_check(page)
    page.locator('input[name="funding"][value="balance"]').check()
    _submit(page)
    code = _shown(page, "payment_code")
    expires = dt.datetime.fromisoformat(
        page.locator('[data-field="expires_at"]').get_attribute("data-value"))
    assert expires > dt.datetime.now(dt.UTC)
    axe_check(page)
    till = _post(client, "/v1/payment_intents", {
        "amount_minor": 1_000, "currency": "CNY", "order_id": f"pc-{uuid.uuid4().hex[:10]}",
        "scenario": "offline_qr"}, server.merchant_key, expect=201)
    collected = _post(client, f"/v1/payment_intents/{till['id']}/collect",
                      {"payment_code": code}, server.merchant_key, expect=200)
    assert collected["customer_id"] == profile["id"]

    # Every figure of the wallet now equals the API's.
    page.goto(f"{base}/app/wallet")
    api_wallet = _get(client, "/v1/me/wallet", me.token)
    # Payments at shops are held (available) until the shop captures them (balance).
    assert api_wallet["balance_minor"] == 15_000 - 2_050 - 3_000
    assert api_wallet["available_minor"] == 15_000 - 2_050 - 3_000 - 4_280 - 1_000
    assert _minor(page, "wallet.balance_minor") == api_wallet["balance_minor"]
    assert _minor(page, "wallet.available_minor") == api_wallet["available_minor"]
    ids = [r["id"] for r in _get(client, "/v1/me/wallet/history", me.token)["data"]]
    assert [e.get_attribute("data-operation") for e in page.locator("[data-operation]").all()] \
        == ids
    client.close()


# ----------------------------------------------------------------------- history paging
def test_history_pages_follow_the_api_cursor_both_ways(server: Server, new_context: Any
                                                       ) -> None:
    base, me = server.base, _consumer(server)
    card_id = _kyc_and_card_via_api(server, me)
    with _client(server) as client:
        for amount in range(101, 108):  # 7 operations: pages of 3, 3 and 1
            _post(client, "/v1/me/wallet/top-ups", {"card_id": card_id, "amount_minor": amount},
                  me.token, expect=201)
        api_pages, cursor = [], None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            body = _get(client, "/v1/me/wallet/history", me.token, **params)
            api_pages.append(([r["id"] for r in body["data"]], body["next_cursor"]))
            cursor = body["next_cursor"]
            if cursor is None:
                break
    assert [len(ids) for ids, _ in api_pages] == [3, 3, 1]
    page = log_in(new_context(PHONE, "en"), base, me.phone, PASSWORD)
    page.goto(f"{base}/app/wallet?limit=3")

    def shown() -> list[str]:
        return [e.get_attribute("data-operation") for e in page.locator("[data-operation]").all()]

    for number, (ids, next_cursor) in enumerate(api_pages):
        assert shown() == ids
        older = page.locator('a[rel="next"]')
        if next_cursor is None:
            assert older.count() == 0
        else:
            assert f"cursor={next_cursor}" in older.get_attribute("href")  # the API's cursor
            assert "offset" not in older.get_attribute("href")
        assert page.locator('a[rel="prev"]').count() == (1 if number else 0)
        axe_check(page)
        if next_cursor is not None:
            older.click()
            page.wait_for_load_state()
    for ids, _ in reversed(api_pages[:-1]):  # back to the newest, page by page
        page.locator('a[rel="prev"]').click()
        page.wait_for_load_state()
        assert shown() == ids
    assert "cursor=" not in page.url  # the newest page is the history without a cursor
    page.goto(f"{base}/app/wallet?limit=3&cursor=not-a-cursor")
    assert shown() == api_pages[0][0]  # not a cursor the API gave: the newest page instead


# ----------------------------------------------------------------------- idempotency
def _form_fields(page: Any) -> dict[str, str]:
    form = page.locator("main form.card").last
    return {e.get_attribute("name"): e.input_value()
            for e in form.locator("input[name], textarea[name]").all()
            if e.get_attribute("type") not in ("radio", "checkbox") or e.is_checked()}


def test_a_money_form_sent_twice_moves_money_once(server: Server, new_context: Any) -> None:
    base, me, friend = server.base, _consumer(server), _consumer(server)
    _kyc_and_card_via_api(server, me, top_up_minor=50_000)
    _kyc_and_card_via_api(server, friend)
    context = new_context(PHONE, "en")
    page = log_in(context, base, me.phone, PASSWORD)

    # Top-up: the same form (same one-time key) posted twice -> one operation.
    page.goto(f"{base}/app/wallet/top-up")
    page.locator("#amount_minor").fill("77.77")
    fields = _form_fields(page)
    assert fields["idempotency_key"]
    first = context.request.post(f"{base}/app/wallet/top-up", form=fields)
    second = context.request.post(f"{base}/app/wallet/top-up", form=fields)
    assert first.status == second.status == 200
    op = re.search(r'data-operation="([^"]+)"', first.text()).group(1)
    assert op == re.search(r'data-operation="([^"]+)"', second.text()).group(1)
    with _client(server) as client:
        history = _get(client, "/v1/me/wallet/history", me.token)["data"]
        assert [r["amount_minor"] for r in history].count(7_777) == 1

    # P2P (money moves at once): the confirm form sent twice pays the friend once.
    page.goto(f"{base}/app/wallet/send")
    page.locator("#to").fill(friend.phone)
    page.locator("#amount_minor").fill("12.34")
    _submit(page)
    fields = _form_fields(page)
    for _ in range(2):
        assert context.request.post(f"{base}/app/wallet/send", form=fields).status == 200
    with _client(server) as client:
        assert _get(client, "/v1/me/wallet", friend.token)["balance_minor"] == 1_234
        assert _get(client, "/v1/me/wallet", me.token)["balance_minor"] == 50_000 - 1_234


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_bad_amounts_are_named_and_change_nothing(server: Server, new_context: Any,
                                                  language: str) -> None:
    base, me = server.base, _consumer(server)
    _kyc_and_card_via_api(server, me, top_up_minor=10_000)
    context = new_context(DESKTOP, language)
    page = log_in(context, base, me.phone, PASSWORD)
    page.locator(f'.langs button[value="{language}"]').click()
    page.wait_for_load_state()
    with _client(server) as client:
        before = _get(client, "/v1/me/wallet/history", me.token)["data"]
    for path in ("top-up", "withdraw", "send"):
        for bad in ("", "0", "-5", "12.345", "abc", "1e3", "100000000001"):
            page.goto(f"{base}/app/wallet/{path}")
            if path == "send":
                page.locator("#to").fill("13600009999")
            page.locator("#amount_minor").fill(bad)
            _submit(page)
            assert page.locator("#amount_minor").get_attribute("aria-invalid") == "true", bad
            assert page.locator("#amount_minor-error").inner_text() == \
                TEXT[language]["amount_error"], (path, bad)
    axe_check(page)
    # More than the balance: named on the amount, nothing withdrawn.
    page.goto(f"{base}/app/wallet/withdraw")
    page.locator("#amount_minor").fill("100.01")
    _submit(page)
    assert page.locator("#amount_minor-error").is_visible()
    axe_check(page)
    with _client(server) as client:
        assert _get(client, "/v1/me/wallet/history", me.token)["data"] == before
        assert _get(client, "/v1/me/wallet", me.token)["balance_minor"] == 10_000


def test_a_wallet_post_without_the_csrf_token_is_refused(server: Server,
                                                         new_context: Any) -> None:
    base, me = server.base, _consumer(server)
    _kyc_and_card_via_api(server, me, top_up_minor=10_000)
    context = new_context(PHONE, "en")
    page = log_in(context, base, me.phone, PASSWORD)
    page.goto(f"{base}/app/wallet/withdraw")
    page.locator("#amount_minor").fill("10")
    fields = _form_fields(page)
    fields.pop("csrf_token")
    assert context.request.post(f"{base}/app/wallet/withdraw", form=fields).status == 403
    with contextlib.closing(_client(server)) as client:
        assert _get(client, "/v1/me/wallet", me.token)["balance_minor"] == 10_000


# ----------------------------------------------------------------------- step-up
def test_a_large_qr_payment_asks_for_the_code_sent_to_the_phone(server: Server,
                                                                new_context: Any) -> None:
    """From 5 000.00 CNY on, paying needs a one-time code (the API's step-up): the page asks
    for it, a wrong one is named on the code field and pays nothing, the right one pays."""
    base, me = server.base, _consumer(server)
    _kyc_and_card_via_api(server, me, top_up_minor=700_000)
    context = new_context(PHONE, "en")
    page = log_in(context, base, me.phone, PASSWORD)
    page.locator('.langs button[value="en"]').click()
    page.wait_for_load_state()
    with _client(server) as client:
        intent = _post(client, "/v1/payment_intents", {
            "amount_minor": 600_000, "currency": "CNY", "scenario": "offline_qr",
            "order_id": f"big-{uuid.uuid4().hex[:10]}"}, server.merchant_key, expect=201)
    page.goto(f"{base}/app/wallet/qr")
    page.locator("#qr_payload").fill(intent["qr_payload"])
    _submit(page)
    page.locator('input[name="funding"][value="balance"]').check()
    _submit(page)
    assert page.locator("#step_up_code").is_visible()
    axe_check(page)
    page.locator("#step_up_code").fill("000000")
    _submit(page)
    inbox = context.new_page()
    inbox.goto(f"{base}/app/dev/inbox?to={me.phone}")
    code = inbox.locator('.message[data-purpose="payment"] .code').first.inner_text()
    inbox.close()
    if code != "000000":  # (one in a million: the wrong guess was right)
        assert page.locator("#step_up_code-error").is_visible()
        assert page.locator("#step_up_code").get_attribute("aria-invalid") == "true"
        axe_check(page)
        with _client(server) as client:
            assert _get(client, f"/v1/payment_intents/{intent['id']}",
                        server.merchant_key)["status"] == "requires_confirmation"
        page.locator("#step_up_code").fill(code)
        _submit(page)
    assert "Paid." in page.get_by_role("status").inner_text()
    with _client(server) as client:
        paid = _get(client, f"/v1/payment_intents/{intent['id']}", server.merchant_key)
        assert paid["status"] == "requires_capture" and paid["funding"] == "balance"
        assert _get(client, "/v1/me/wallet", me.token)["available_minor"] == 100_000


# ----------------------------------------------------------------------- QR pay on credit
def test_a_qr_payment_offers_credit_with_its_full_cost_never_preselected(
        server: Server, new_context: Any) -> None:
    base, me = server.base, _consumer(server)
    _kyc_and_card_via_api(server, me)
    with _client(server) as client:
        customer_id = _get(client, "/v1/me", me.token)["id"]
        _post(client, f"/v1/operator/customers/{customer_id}/credit_line",
              {"limit_minor": 1_000_000, "product_code": "huabei"}, server.admin_token,
              expect=201)
        intent = _post(client, "/v1/payment_intents", {
            "amount_minor": 60_000, "currency": "CNY", "scenario": "offline_qr",
            "order_id": f"credit-{uuid.uuid4().hex[:10]}"}, server.merchant_key, expect=201)
        api_offers = _post(client, f"/v1/payment_intents/{intent['id']}/credit_offers",
                           {"language": "en"}, me.token, expect=200)["offers"]
    assert api_offers
    context = new_context(DESKTOP, "en")
    page = log_in(context, base, me.phone, PASSWORD)
    page.locator('.langs button[value="en"]').click()
    page.wait_for_load_state()
    page.goto(f"{base}/app/wallet/qr")
    page.locator("#qr_payload").fill(intent["qr_payload"])
    _submit(page)
    shown = page.locator("[data-offer]")
    assert shown.count() == len(api_offers)
    assert not page.locator('input[name="funding"]:checked').count()  # credit never chosen
    axe_check(page)
    by_plan = {(o["product_code"], o["periods"], o["down_payment_minor"]): o
               for o in api_offers}
    assert len(by_plan) == len(api_offers)
    for element in shown.all():
        offer = by_plan[(element.get_attribute("data-product"),
                         int(element.get_attribute("data-periods")),
                         int(element.get_attribute("data-down-payment")))]
        figure = element.locator('[data-field="offer.per_period_amount_minor"]')
        assert int(figure.get_attribute("data-minor")) == offer["per_period_amount_minor"]
        assert element.locator('[data-field="offer.apr_percent"]').inner_text() == \
            f"{offer['apr_percent']}%"
        total = offer["total_payable_minor"] if offer["total_payable_minor"] is not None \
            else offer["total_repayable_minor"]
        assert int(element.locator('[data-field="offer.total_payable_minor"]')
                   .get_attribute("data-minor")) == total
    six = page.locator('[data-product="baitiao"][data-periods="6"][data-down-payment="0"]')
    with context.expect_page() as opened:
        six.get_by_role("link", name=re.compile("Key facts")).click()
    facts = opened.value
    facts.wait_for_load_state()
    assert "60" in facts.locator("body").inner_text()
    facts.close()
    six.locator('input[name="funding"]').check()
    _submit(page)
    assert "Paid." in page.get_by_role("status").inner_text()
    axe_check(page)
    with _client(server) as client:
        paid = _get(client, f"/v1/payment_intents/{intent['id']}", server.merchant_key)
        assert paid["funding"] == "installment_plan" and paid["accepted_offer"] is not None
        assert _get(client, "/v1/me/wallet", me.token)["available_minor"] == 0


def test_a_card_is_removed_from_the_cards_page(server: Server, new_context: Any) -> None:
    base, me = server.base, _consumer(server)
    card_id = _kyc_and_card_via_api(server, me)
    page = log_in(new_context(PHONE, "zh-CN"), base, me.phone, PASSWORD)
    page.goto(f"{base}/app/cards")
    assert page.locator(f'[data-card="{card_id}"]').count() == 1
    page.locator(f'[data-card="{card_id}"] button[type=submit]').click()
    page.wait_for_url(re.compile(r"/app/cards\?done=removed$"))
    assert page.get_by_role("status").inner_text() == "银行卡已解绑。"
    assert page.locator("[data-card]").count() == 0
    axe_check(page)
    with _client(server) as client:
        assert _get(client, "/v1/me/cards", me.token)["data"] == []
