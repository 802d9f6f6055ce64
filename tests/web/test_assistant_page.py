"""The assistant's chat panel (/app/assistant) in a real browser on a real ``creditpay
serve``, at the phone viewport: reached from the app's navigation, a question asked by the
plain form (no script), the answer with the consumer's own figure, proposals shown as
buttons that only lead somewhere (nothing done without a click), zh-CN and en, axe on
every state. Screenshots go to a temporary folder (docs/screenshots/assistant.*.png are
copies)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from creditpay.formatting import money_text
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from tests.web.conftest import PHONE, WebServer, axe_check, log_in, running_server

pytestmark = pytest.mark.browser
PASSWORD = "bench password 1"  # seed_world's
SHOTS = Path(tempfile.gettempdir()) / "creditpay-assistant-shots"


@pytest.fixture(scope="module")
def assistant_server() -> Iterator[WebServer]:
    from creditpay.api.runtime import ApiConfig, build_runtime
    from creditpay.benchmarks.assistant import seed_world
    from creditpay.clock import SimulatedClock
    from creditpay.config import Settings
    from tests.api.helpers import FAST_PASSWORDS

    with tempfile.TemporaryDirectory(prefix="creditpay-web-assistant-") as folder:
        url = f"sqlite:///{Path(folder) / 'assistant.db'}"
        master = generate_key_bytes()
        clock = SimulatedClock("2025-03-01T09:00:00+00:00")
        rt = build_runtime(Settings.of(database_url=url), clock, ApiConfig(
            master_key=LocalMasterKey(master), pool_size=2, passwords=FAST_PASSWORDS))
        try:
            people = seed_world(rt, clock)
        finally:
            rt.close()
        with running_server(url, master) as base:
            yield WebServer(base, people)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_chat_panel(assistant_server, new_context, language):
    base, a = assistant_server.base, assistant_server.seeded["a"]
    context = new_context(PHONE, locale=language)
    page = log_in(context, base, a["phone"], PASSWORD, language=language)
    page.locator('nav.tabs a[href="/app/assistant"]').click()
    page.wait_for_url(f"{base}/app/assistant")
    axe_check(page)
    question = "我这个月账单多少钱" if language == "zh-CN" else "how much is my bill"
    page.locator("#message").fill(question)
    page.locator("form.chat-form button[type=submit]").click()
    answer = page.locator('.chat-bot[data-intent="bill_amount"]')
    answer.wait_for()
    assert money_text(a["closing"], "CNY", language) in answer.inner_text()
    repay = answer.locator('a[data-action="repay"]')
    assert repay.get_attribute("href") == "/app/credit/repay"
    # A proposal is a form the consumer submits: asking about auto-debit switches nothing.
    page.locator("#message").fill("自动还款开了吗" if language == "zh-CN" else "is autopay on")
    page.locator("form.chat-form button[type=submit]").click()
    autopay = page.locator('.chat-bot[data-intent="autopay"]')
    autopay.wait_for()
    assert autopay.locator('form[data-action="switch_autopay"] button').count() == 1
    assert page.locator(".chat-me").count() == 2
    axe_check(page)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"assistant.{language}.png"), full_page=True)
    with httpx.Client(base_url=base, timeout=30) as client:
        token = client.post("/v1/auth/login", json={
            "identifier": a["phone"], "password": PASSWORD, "device_id": "bench-device"},
            headers={"Idempotency-Key": f"assistant-page-{language}"}).json()["access_token"]
        accounts = client.get("/v1/me/credit_accounts",
                              headers={"Authorization": f"Bearer {token}"}).json()["data"]
    line = next(x for x in accounts if x["kind"] == "line")
    assert line.get("auto_debit_enabled", False) is False


def test_the_form_needs_its_csrf_token(assistant_server, new_context):
    base, a = assistant_server.base, assistant_server.seeded["a"]
    page = log_in(new_context(PHONE), base, a["phone"], PASSWORD)
    response = page.request.post(f"{base}/app/assistant", form={"message": "hi"})
    assert response.status == 403
