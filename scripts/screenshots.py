"""Regenerate docs/screenshots/: the consumer app's pages at the phone viewport (390x844),
in zh-CN and en, on a seeded server (the browser tests' fixtures).

    PYTHONPATH=src:. .venv/bin/python scripts/screenshots.py

Needs Debian's chromium (scripts/ensure-system-deps.sh) and the dev extra (playwright).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.web.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    TIMEOUT_MS,
    log_in,
    running_server,
)
from tests.web.seed import CREDIT_PASSWORD, CREDIT_PHONE, seed  # noqa: E402

from creditpay.platform.keys import generate_key_bytes  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def main() -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="creditpay-shots-") as folder:
        url = f"sqlite:///{Path(folder) / 'shots.db'}"
        master = generate_key_bytes()
        seed(url, master)
        with running_server(url, master) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for language in ("zh-CN", "en"):
                context = browser.new_context(viewport=PHONE, locale=language,
                                              is_mobile=True, has_touch=True)
                context.set_default_timeout(TIMEOUT_MS)
                page = context.new_page()
                page.goto(f"{base}/app/login")
                page.locator(f'.langs button[value="{language}"]').click()
                page.wait_for_function(f"document.documentElement.lang === '{language}'")
                shoot(page, "login", language)
                page.goto(f"{base}/app/register")
                shoot(page, "register", language)
                page.goto(f"{base}/app/login")
                page.locator("#identifier").fill(CREDIT_PHONE)
                page.locator("#password").fill(CREDIT_PASSWORD)
                page.locator("form.card button[type=submit]").click()
                page.wait_for_url(f"{base}/app/login/verify")
                shoot(page, "login-verify", language)
                inbox = context.new_page()
                inbox.goto(f"{base}/app/dev/inbox?to={CREDIT_PHONE}")
                shoot(inbox, "dev-inbox", language)
                code = inbox.locator('.message[data-purpose="login"] .code').first.inner_text()
                inbox.close()
                page.locator("#code").fill(code)
                page.locator("form.card button[type=submit]").click()
                page.wait_for_url(f"{base}/app/home")
                shoot(page, "home", language)
                page.goto(f"{base}/app/credit")
                shoot(page, "my-credit", language, full_page=True)
                wallet_shots(page, base, language)
                context.close()
            browser.close()


def shoot(page: object, name: str, language: str, *, full_page: bool = False) -> None:
    path = OUT / f"{name}.{language}.png"
    page.screenshot(path=str(path), full_page=full_page)  # type: ignore[attr-defined]
    print(path.relative_to(ROOT))


def wallet_shots(page: object, base: str, language: str) -> None:
    """The identity, card and wallet pages (web/wallet.py) of the seeded customer."""
    for name, path, full in (("wallet", "/app/wallet", True), ("cards", "/app/cards", True),
                             ("kyc", "/app/kyc", False),
                             ("wallet-top-up", "/app/wallet/top-up", False),
                             ("wallet-send", "/app/wallet/send", False),
                             ("wallet-qr", "/app/wallet/qr", False)):
        page.goto(f"{base}{path}")  # type: ignore[attr-defined]
        shoot(page, name, language, full_page=full)
    page.goto(f"{base}/app/wallet/code")  # type: ignore[attr-defined]
    page.locator('input[name="funding"][value="balance"]').check()  # type: ignore[attr-defined]
    page.locator("main form.card button[type=submit]").click()  # type: ignore[attr-defined]
    page.wait_for_selector('[data-field="payment_code"]')  # type: ignore[attr-defined]
    shoot(page, "wallet-code", language, full_page=True)
    page.goto(f"{base}/app/wallet/top-up")  # type: ignore[attr-defined]
    page.locator("#amount_minor").fill("12.345")  # type: ignore[attr-defined]
    page.locator("main form.card button[type=submit]").click()  # type: ignore[attr-defined]
    page.wait_for_selector("#amount_minor-error")  # type: ignore[attr-defined]
    shoot(page, "wallet-top-up-error", language, full_page=True)


def credit_pages() -> None:
    """The credit pages (web/credit_pages.py) on the credit seed: repay, its result, apply,
    a decision, the credit score, consents, the auto-debit consent."""
    from playwright.sync_api import sync_playwright
    from tests.web.seed_credit import PASSWORD, borrower, seed_credit

    with tempfile.TemporaryDirectory(prefix="creditpay-shots-") as folder:
        url = f"sqlite:///{Path(folder) / 'credit.db'}"
        master = generate_key_bytes()
        seeded = seed_credit(url, master)
        with running_server(url, master) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for n, language in enumerate(("zh-CN", "en")):
                context = browser.new_context(viewport=PHONE, locale=language,
                                              is_mobile=True, has_touch=True)
                context.set_default_timeout(TIMEOUT_MS)
                page = log_in(context, base, borrower(n), PASSWORD, language)
                page.goto(f"{base}/app/credit/repay")
                shoot(page, "credit-repay", language, full_page=True)
                page.locator("form#repay-bill button[type=submit]").click()
                page.wait_for_selector("[data-repayment]")
                shoot(page, "credit-repaid", language, full_page=True)
                page.goto(f"{base}/app/credit")
                page.locator("form.switch button").first.click()
                shoot(page, "credit-auto-debit-consent", language, full_page=True)
                context.close()
                context = browser.new_context(viewport=PHONE, locale=language,
                                              is_mobile=True, has_touch=True)
                context.set_default_timeout(TIMEOUT_MS)
                page = log_in(context, base, borrower(n + 2), PASSWORD, language)
                page.goto(f"{base}/app/credit/convert")
                page.locator("article.offer summary").first.click()
                shoot(page, "credit-convert", language, full_page=True)
                page.goto(f"{base}/app/credit/loans")
                page.locator("#amount").fill("3000")
                page.locator("form.card button[type=submit]").click()
                page.wait_for_selector("article.offer")
                shoot(page, "credit-loans", language, full_page=True)
                page.locator("article.offer summary").first.click()  # unfold the first
                with context.expect_page() as opened:
                    page.locator("a.facts-link").first.click()
                opened.value.wait_for_load_state()
                shoot(opened.value, "credit-loan-key-facts", language, full_page=True)
                opened.value.close()
                page.goto(f"{base}/app/credit")
                page.locator('a[href^="/app/credit/withdraw"]').first.click()
                shoot(page, "credit-withdraw", language, full_page=True)
                page.goto(f"{base}/app/complaints")
                shoot(page, "complaints", language, full_page=True)
                context.close()
                context = browser.new_context(viewport=PHONE, locale=language,
                                              is_mobile=True, has_touch=True)
                context.set_default_timeout(TIMEOUT_MS)
                page = log_in(context, base, seeded["applicants"][n], PASSWORD,
                                     language)
                page.goto(f"{base}/app/credit/apply")
                shoot(page, "credit-apply", language, full_page=True)
                page.locator("#agree-bureau_inquiry").check()
                page.locator("#agree-credit_assessment").check()
                page.locator("#income").fill("25000")
                page.locator("#employment").select_option("salaried")
                page.locator("form.card button[type=submit]").click()
                page.wait_for_selector("section.decision")
                shoot(page, "credit-decision", language, full_page=True)
                page.goto(f"{base}/app/credit/score")
                shoot(page, "credit-score", language, full_page=True)
                page.goto(f"{base}/app/consents")
                shoot(page, "consents", language, full_page=True)
                context.close()
            browser.close()


def checkout_shots() -> None:
    """The hosted checkout (web/checkout.py): a shop's purchase, the ways to pay with their
    cost, a plan's key facts, the receipt, for the seeded customer with a line."""
    from playwright.sync_api import sync_playwright
    from tests.web.shop import running_shop

    with running_shop() as shop, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for language in ("zh-CN", "en"):
            context = browser.new_context(viewport=PHONE, locale=language, is_mobile=True,
                                          has_touch=True)
            context.set_default_timeout(TIMEOUT_MS)
            intent = shop.intent(359_900, return_url=False)
            page = log_in(context, shop.base, CREDIT_PHONE, CREDIT_PASSWORD, language)
            page.goto(intent["checkout_url"])
            shoot(page, "checkout", language, full_page=True)
            page.locator('.co-credit[data-periods="6"] a.co-kf').first.click()
            page.wait_for_url("**/key_facts/**")
            shoot(page, "checkout-key-facts", language, full_page=True)
            page.goto(intent["checkout_url"])
            page.locator('.co-credit[data-periods="6"] input[type=radio]').first.check()
            page.locator("form.co-form button.primary").click()
            page.wait_for_selector("[data-status]")
            shoot(page, "checkout-done", language, full_page=True)
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
    credit_pages()
    checkout_shots()
