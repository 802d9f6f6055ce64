"""/docs (Swagger UI) and /redoc render the API's operations in a real Chromium, with every
asset from the app itself (nothing is fetched from another origin) and no CSP violation but
the refusal of ReDoc's own logo from its CDN; the relaxed policy is on those pages only."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx


def _watch(page: Any, base: str) -> tuple[list[str], list[str]]:
    elsewhere: list[str] = []
    problems: list[str] = []
    origin = urlsplit(base).netloc
    # Fetched, not merely asked for: ReDoc's sidebar asks for its maker's logo from
    # cdn.redoc.ly, which the policy refuses (img-src 'self' data:), so nothing leaves.
    page.on("requestfinished", lambda r: elsewhere.append(r.url)
            if urlsplit(r.url).scheme in ("http", "https") and urlsplit(r.url).netloc != origin
            else None)
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text
            and "cdn.redoc.ly" not in m.text else None)
    return elsewhere, problems


def test_swagger_ui_lists_the_operations_from_the_app_itself(desktop, web_server):
    elsewhere, problems = _watch(desktop, web_server.base)
    desktop.goto(f"{web_server.base}/docs")
    desktop.locator(".swagger-ui .opblock").first.wait_for()
    # Above 100 operations Swagger UI renders the list virtually (only what is near the
    # viewport): scroll through it and collect every operation it draws.
    seen: set[str] = set()
    confirm_seen = False
    for _ in range(400):
        seen.update(desktop.locator(".swagger-ui .opblock-summary-path").all_inner_texts())
        if "/v1/payment_intents/{intent_id}/confirm" in seen and not confirm_seen:
            confirm_seen = desktop.get_by_text(
                "/v1/payment_intents/{intent_id}/confirm").first.is_visible()
        at_end = desktop.evaluate(
            "window.scrollY + window.innerHeight >= document.body.scrollHeight - 2")
        if at_end:
            break
        desktop.mouse.wheel(0, 600)
        desktop.wait_for_timeout(20)  # a frame for the list to draw what scrolled in
    assert len(seen) > 50, sorted(seen)
    assert confirm_seen
    assert elsewhere == [] and problems == []


def test_redoc_renders_the_document_from_the_app_itself(desktop, web_server):
    elsewhere, problems = _watch(desktop, web_server.base)
    desktop.goto(f"{web_server.base}/redoc")
    desktop.get_by_text("creditpay API").first.wait_for()
    desktop.locator("[data-section-id]").first.wait_for()
    assert desktop.locator("[data-section-id]").count() > 50
    assert elsewhere == [] and problems == []


def test_only_the_docs_pages_carry_the_relaxed_policy(web_server):
    with httpx.Client(base_url=web_server.base, timeout=30) as client:
        docs = client.get("/docs")
        asset = client.get("/docs/assets/swagger-ui-bundle.js")
        api = client.get("/v1/health")
    assert "'unsafe-inline'" in docs.headers["content-security-policy"]
    assert "script-src 'self';" in docs.headers["content-security-policy"]
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
