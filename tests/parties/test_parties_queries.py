"""parties.queries: the merchant webhook lookups payments' relay uses, on both stores."""

from __future__ import annotations

import pytest

from creditpay.parties.queries import merchant_webhooks, webhook_secret
from creditpay.parties.tables import merchants
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from creditpay.platform.vault import Vault


@pytest.fixture
def vault(uow):
    vault = Vault(uow, LocalMasterKey(generate_key_bytes()))
    vault.ensure_active_key()
    return vault


def _merchant(tx, merchant_id: str, url: str | None, secret_ct: str | None) -> None:
    tx.conn.execute(merchants.insert().values(
        id=merchant_id, name=merchant_id, mcc="5411", status="active", discount_rate="0.006",
        settlement_currency="CNY", webhook_url=url, webhook_secret_ct=secret_ct,
        created_at=tx.now))


def test_merchant_webhooks_in_one_lookup_and_the_secret_through_the_vault(uow, vault):
    with uow.begin() as tx:
        _merchant(tx, "m_1", "https://one.example/hook",
                  vault.encrypt("merchants.webhook_secret", "m_1", "whsec_one"))
        _merchant(tx, "m_2", None, None)
    with uow.connect() as conn:
        hooks = merchant_webhooks(conn, ["m_1", "m_2", "m_unknown", "m_1"])
        assert merchant_webhooks(conn, []) == {}
    assert set(hooks) == {"m_1", "m_2"}
    assert hooks["m_1"].url == "https://one.example/hook" and hooks["m_2"].url is None
    assert webhook_secret(vault, "m_1", hooks["m_1"].secret_ct) == "whsec_one"
    with pytest.raises(ValueError):
        webhook_secret(vault, "m_2", hooks["m_2"].secret_ct)
    with pytest.raises(Exception):  # noqa: B017 - bound to m_1: another merchant cannot use it
        webhook_secret(vault, "m_2", hooks["m_1"].secret_ct)
