"""My credit shows what the JSON API returns for the same customer; CSRF and the session
cookie; security headers of pages and assets. In a real browser on a real server."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from creditpay.formatting import money_text
from tests.web.conftest import DESKTOP, PHONE, axe_check, log_in, switch_language
from tests.web.seed import CREDIT_PASSWORD, CREDIT_PHONE, SEED_DEVICE

pytestmark = pytest.mark.browser




def _log_in(context: Any, base: str, phone: str = CREDIT_PHONE,
            password: str = CREDIT_PASSWORD) -> Any:
    return log_in(context, base, phone, password)


def _api(base: str) -> tuple[httpx.Client, dict[str, str]]:
    client = httpx.Client(base_url=base, timeout=30)
    session = client.post("/v1/auth/login", json={
        "identifier": CREDIT_PHONE, "password": CREDIT_PASSWORD, "device_id": SEED_DEVICE},
        headers={"Idempotency-Key": uuid.uuid4().hex}).json()
    assert session["status"] == "authenticated", session
    return client, {"Authorization": f"Bearer {session['access_token']}"}


def _figure(page: Any, field: str) -> tuple[int, str]:
    cell = page.locator(f'[data-field="{field}"]').first
    return int(cell.get_attribute("data-minor")), cell.inner_text().strip()


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_my_credit_figures_equal_the_api(web_server: Any, new_context: Any,
                                         language: str) -> None:
    base = web_server.base
    page = _log_in(new_context(PHONE, language), base)
    # The seeded customer's locale is zh-CN: the page follows it until the switch is used.
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    switch_language(page, language)
    client, auth = _api(base)
    try:
        line = client.get("/v1/me/credit_line", headers=auth).raise_for_status().json()
        wallet = client.get("/v1/me/wallet", headers=auth).raise_for_status().json()
        accounts = client.get("/v1/me/credit_accounts", headers=auth).raise_for_status(
            ).json()["data"]
        plans = [a for a in accounts if a["kind"] in ("plan", "loan")]
        schedules = {a["account_id"]: client.get(
            f"/v1/me/credit_accounts/{a['account_id']}/installments", headers=auth
        ).raise_for_status().json()["data"] for a in plans}
    finally:
        client.close()
    assert plans and line["limit_minor"] > line["available_minor"] > 0

    def shown(minor: int) -> str:
        return money_text(minor, "CNY", language)

    for field, value in (("wallet.balance_minor", wallet["balance_minor"]),
                         ("wallet.available_minor", wallet["available_minor"]),
                         ("line.limit_minor", line["limit_minor"]),
                         ("line.available_minor", line["available_minor"])):
        assert _figure(page, field) == (value, shown(value)), field
    axe_check(page)

    page.goto(f"{base}/app/credit")
    for field in ("limit_minor", "available_minor", "used_minor"):
        assert _figure(page, f"line.{field}") == (line[field], shown(line[field])), field
    cards = page.locator("article.plan")
    assert sorted(cards.evaluate_all("els => els.map(e => e.dataset.account)")) == \
        sorted(schedules)
    for account in plans:
        card = page.locator(f'article.plan[data-account="{account["account_id"]}"]')
        principal = card.locator('[data-field="plan.principal_minor"]')
        assert int(principal.get_attribute("data-minor")) == account["principal_minor"]
        assert card.locator('[data-field="plan.next_due_date"]').get_attribute(
            "data-value") == (account["next_due_date"] or "")
        rows = card.locator("tbody tr")
        assert rows.count() == len(schedules[account["account_id"]]) >= 6
        for index, row in enumerate(schedules[account["account_id"]]):
            cells = rows.nth(index).locator("td")
            assert cells.nth(0).get_attribute("data-value") == row["due_date"]
            for n, key in enumerate(("total_minor", "principal_minor", "interest_minor",
                                     "fee_minor", "paid_minor"), start=1):
                assert int(cells.nth(n).get_attribute("data-minor")) == row[key], key
                assert cells.nth(n).inner_text() == shown(row[key])
    axe_check(page)


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(
        web_server: Any, new_context: Any) -> None:
    base = web_server.base
    context = new_context(DESKTOP, "en")
    page = _log_in(context, base)
    token = page.locator('form[action="/app/logout"] input[name="csrf_token"]').input_value()
    for form in ({}, {"csrf_token": ""}, {"csrf_token": token[:-2] + "xx"}):
        refused = page.request.post(f"{base}/app/logout", form=form, max_redirects=0)
        assert refused.status == 403, form
        switched = page.request.post(f"{base}/app/lang", form={**form, "lang": "en",
                                                               "next": "/app/home"},
                                     max_redirects=0)
        assert switched.status == 403, form
    # Still logged in, still in the customer's zh-CN: nothing changed.
    page.goto(f"{base}/app/home")
    assert page.url == f"{base}/app/home"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    # The refusal is a page of the app, in the customer's language.
    assert "此表单已失效" in refused.text()
    # With the token, the same post logs out.
    done = page.request.post(f"{base}/app/logout", form={"csrf_token": token},
                             max_redirects=0)
    assert done.status == 303
    page.goto(f"{base}/app/home")
    assert page.url == f"{base}/app/login"


def test_the_session_cookie_is_httponly_secure_and_not_readable_by_scripts(
        web_server: Any, new_context: Any) -> None:
    context = new_context(PHONE, "zh-CN")
    page = _log_in(context, web_server.base)
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["__Host-cp_session"]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Lax"
    assert session["path"] == "/"
    visible = page.evaluate("document.cookie")
    assert "cp_session" not in visible and session["value"] not in visible
    assert cookies["__Host-cp_device"]["httpOnly"]


def test_pages_send_the_strict_csp_and_assets_are_cached(web_server: Any) -> None:
    with httpx.Client(base_url=web_server.base, timeout=30) as client:
        page = client.get("/app/login")
        assert page.headers["content-security-policy"] == (
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        assert page.headers["cache-control"] == "no-store"
        assert "unsafe-inline" not in page.text and "<script" not in page.text
        assert "style=" not in page.text
        css = re.search(r'href="(/app/static/app\.css\?v=[0-9a-f]{12})"', page.text)
        assert css, "the stylesheet is served by the app"
        asset = client.get(css.group(1))
        assert asset.status_code == 200 and "max-age=86400" in asset.headers["cache-control"]
        # The API keeps its own CSP.
        api = client.get("/v1/health")
        assert api.headers["content-security-policy"] == \
            "default-src 'none'; frame-ancestors 'none'"
