"""The consumer's first journey in a real browser, at a phone and a desktop viewport, in
en and zh-CN: register (code from the dev inbox) -> log in on a new device (step-up code
from the dev inbox) -> home -> My credit -> log out; every page scanned by axe-core."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import DESKTOP, PHONE, axe_check

pytestmark = pytest.mark.browser

PASSWORD = "browser password 1"
TEXT = {
    "en": {"register": "Create an account", "send": "Send me a code",
           "create": "Create my account", "login": "Log in", "confirm": "Confirm",
           "home": "Home", "credit": "My credit", "logout": "Log out",
           "ready": "Your account is ready. Log in.", "no_line": "You have no credit line."},
    "zh-CN": {"register": "注册账户", "send": "发送验证码", "create": "完成注册",
              "login": "登录", "confirm": "确认", "home": "首页", "credit": "我的信用",
              "logout": "退出登录", "ready": "账户已创建，请登录。",
              "no_line": "您还没有信用额度。"},
}
_phones = iter(range(1000, 9999))


def _new_phone() -> str:
    return f"1370000{next(_phones):04d}"


def _latest_code(context: Any, base: str, to: str) -> str:
    """The newest code sent to ``to``, read from the development inbox page."""
    page = context.new_page()
    page.goto(f"{base}/app/dev/inbox?to={to}")
    code = page.locator(".message .code").first.inner_text()
    axe_check(page)
    page.close()
    assert re.fullmatch(r"\d{6}", code), code
    return code


def _choose_language(page: Any, language: str) -> None:
    page.locator(f'.langs button[value="{language}"]').click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == language


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_register_login_new_device_home_credit(web_server: Any, new_context: Any,
                                               viewport: dict[str, int], language: str
                                               ) -> None:
    base, text, phone_number = web_server.base, TEXT[language], _new_phone()
    # Registering device: the browser defaults to the other language, the switch decides.
    first = new_context(viewport, "en" if language == "zh-CN" else "zh-CN")
    page = first.new_page()
    page.goto(f"{base}/app/register")
    _choose_language(page, language)
    assert page.get_by_role("heading", level=1).inner_text() == text["register"]
    axe_check(page)
    page.get_by_label(re.compile("Mobile number|手机号")).fill(phone_number)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password_again").fill(PASSWORD)
    page.get_by_role("button", name=text["send"]).click()
    page.wait_for_url(f"{base}/app/register/verify")
    axe_check(page)
    page.locator("#code").fill(_latest_code(first, base, phone_number))
    page.get_by_role("button", name=text["create"]).click()
    page.wait_for_url(re.compile(r"/app/login\?registered=1$"))
    assert page.get_by_role("status").inner_text() == text["ready"]
    axe_check(page)

    # Another browser: a new device, so the login asks for a one-time code.
    second = new_context(viewport, language)
    page = second.new_page()
    page.goto(f"{base}/app/login")
    assert page.locator("html").get_attribute("lang") == language  # from Accept-Language
    page.locator("#identifier").fill(phone_number)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name=text["login"], exact=True).click()
    page.wait_for_url(f"{base}/app/login/verify")
    axe_check(page)
    page.locator("#code").fill(_latest_code(second, base, phone_number))
    # Keyboard only: Enter in the field submits the form.
    page.locator("#code").press("Enter")
    page.wait_for_url(f"{base}/app/home")
    assert page.get_by_role("heading", level=1).inner_text() == text["home"]
    assert page.locator('[data-field="wallet.balance_minor"]').get_attribute("data-minor") == "0"
    assert text["no_line"] in page.locator("main").inner_text()
    axe_check(page)

    page.get_by_role("link", name=text["credit"]).click()
    page.wait_for_url(f"{base}/app/credit")
    assert page.get_by_role("heading", level=1).inner_text() == text["credit"]
    axe_check(page)

    # The session cookie is invisible to scripts; the language cookie too.
    assert "cp_session" not in page.evaluate("document.cookie")
    page.get_by_role("button", name=text["logout"]).click()
    page.wait_for_url(f"{base}/app/login")
    page.goto(f"{base}/app/home")
    page.wait_for_url(f"{base}/app/login")
