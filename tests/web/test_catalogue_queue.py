"""A product change in the console's approvals queue (issue #16), in a real browser against a
real ``creditpay serve``: the proposal reads as its kind, product code, version and content
hash (the whole document is not shown), fits a phone, passes axe; a second operator approves
it and the serving process stores the version as active, naming the approver."""

from __future__ import annotations

import base64
import datetime as dt
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import create_engine, select

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.clock import SimulatedClock
from creditpay.config import Settings
from creditpay.credit import catalogue_versions as V
from creditpay.credit.products import PRODUCTS_DIR
from creditpay.credit.tables import credit_catalogue_versions
from creditpay.platform import approvals as A
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from tests.web.conftest import DESKTOP, PHONE, WebServer, axe_check, running_server

pytestmark = pytest.mark.browser

PASSWORD = "staff password 43"
SHOTS = Path(tempfile.gettempdir()) / "creditpay-catalogue-shots"


def _seed(url: str, master: bytes) -> dict[str, Any]:
    app = create_app(Settings.of(database_url=url), SimulatedClock(dt.datetime.now(dt.UTC)),
                     config=ApiConfig(master_key=LocalMasterKey(master), pool_size=2))
    rt = app.state.runtime
    try:
        rt.vault.ensure_active_key()
        staff_hash = rt.parties.passwords.hash(PASSWORD)
        staff = {key: rt.uow.run(lambda tx, k=key, r=role: rt.parties.create_operator(
            tx, name=f"{k}-catalogue", role=r, password_hash=staff_hash))
            for key, role in (("maker", "risk_analyst"), ("checker", "admin"),
                              ("reader", "compliance_officer"))}
        document = yaml.safe_load((PRODUCTS_DIR / "jiebei_v1.yaml").read_text("utf-8"))
        del document["version"]
        document["annual_rate"] = "0.146"
        maker = A.Actor(staff["maker"]["id"], "risk_analyst")
        proposal = rt.uow.run(lambda tx: A.propose(
            tx, rt.controlled_actions["product.change"],
            V.check_product(tx.conn, rt.services.packaged_catalogue, document), maker,
            policy=rt.four_eyes))
        return {"staff": staff, "approval_id": proposal.approval_id,
                "content_hash": proposal.payload["content_hash"]}
    finally:
        rt.close()


@pytest.fixture(scope="module")
def catalogue_server() -> Iterator[WebServer]:
    with tempfile.TemporaryDirectory(prefix="creditpay-web-catalogue-") as folder:
        url = f"sqlite:///{Path(folder) / 'catalogue.db'}"
        master = generate_key_bytes()
        seeded = _seed(url, master)
        with running_server(url, master) as base:
            yield WebServer(base, {**seeded, "url": url})


def _log_in(context: Any, base: str, operator: dict[str, Any]) -> Any:
    page = context.new_page()
    page.goto(f"{base}/console/login?next=/console/approvals")
    page.locator("#operator").fill(operator["id"])
    page.locator("#password").fill(PASSWORD)
    code = TOTP(base64.b32decode(operator["totp_secret"]), 6, SHA1(), 30).generate(
        time.time()).decode()
    page.locator("#totp_code").fill(code)
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url(f"{base}/console/approvals")
    return page


def test_a_product_change_reads_as_code_version_and_hash_and_is_approved(
        catalogue_server: WebServer, new_context: Any) -> None:
    base, seeded = catalogue_server.base, catalogue_server.seeded
    approval_id, staff = seeded["approval_id"], seeded["staff"]
    SHOTS.mkdir(exist_ok=True)

    reader = _log_in(new_context(DESKTOP, "en"), base, staff["reader"])
    card = reader.locator(f'[data-approval="{approval_id}"]')
    assert "Activate a product version" in card.inner_text()
    assert card.locator('[data-field="payload.code"]').inner_text() == "jiebei"
    assert card.locator('[data-field="payload.version"]').inner_text() == "2"
    assert card.locator('[data-field="payload.content_hash"]').inner_text() == \
        seeded["content_hash"]
    assert card.locator('[data-field="payload.document"]').count() == 0
    assert "annual_rate" not in card.inner_text()
    axe_check(reader)
    reader.screenshot(path=str(SHOTS / "queue-desktop.png"), full_page=True)

    checker = _log_in(new_context(PHONE, "zh-CN"), base, staff["checker"])
    card = checker.locator(f'[data-approval="{approval_id}"]')
    assert "启用产品新版本" in card.inner_text() and "产品代码" in card.inner_text()
    assert checker.evaluate("document.documentElement.scrollWidth") <= 390  # the hash wraps
    axe_check(checker)
    checker.screenshot(path=str(SHOTS / "queue-phone.png"), full_page=True)
    card.locator("form.decide button.primary").click()
    checker.wait_for_selector(f'[data-done="{approval_id}"]')
    axe_check(checker)

    engine = create_engine(seeded["url"])
    try:
        with engine.connect() as conn:
            row = conn.execute(select(credit_catalogue_versions)).one()
    finally:
        engine.dispose()
    assert (row.code, row.version, row.content_hash) == ("jiebei", 2, seeded["content_hash"])
    assert (row.proposed_by, row.activated_by) == (staff["maker"]["id"],
                                                   staff["checker"]["id"])
