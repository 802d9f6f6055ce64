"""The bootstrap: one function builds every service from settings and a clock."""

from __future__ import annotations

import base64

import pytest

from creditpay.bootstrap import DatabaseUnavailableError, ServiceOptions, build_services
from creditpay.config import Settings
from creditpay.ledger.chart import platform_key
from creditpay.payments.fraud import ScreeningRiskGateway
from creditpay.payments.risk import AllowAllRiskGateway
from creditpay.platform.keys import KeyMaterialError, generate_key_bytes


def _key() -> str:
    return base64.b64encode(generate_key_bytes()).decode()


def test_services_are_wired_to_each_other_and_started(store, clock, tmp_path):
    settings = Settings.of(database_url=store.url, master_key=_key(),
                           audit_checkpoint_dir=tmp_path / "checkpoints")
    services = build_services(settings, clock, ServiceOptions(pool_size=2)).start()
    try:
        assert services.uow.clock is clock
        assert services.payments.parties is services.parties
        assert services.payments.credit is services.credit
        assert services.payments.risk is services.risk
        # Fraud screening is on by default, with the rules the package ships.
        assert isinstance(services.risk, ScreeningRiskGateway)
        assert (services.risk.screener.rulebook.current.version
                == "creditpay-default-rules-2026.1")
        assert services.parties.vault is services.vault
        assert services.webhooks is not None and services.webhook_targets is not None
        with services.uow.connect() as conn:
            from creditpay.ledger.service import get_account_by_key

            assert get_account_by_key(conn, platform_key("equity", "CNY")) is not None
    finally:
        services.close()


def test_keys_are_loaded_only_by_services_that_need_them(store, clock):
    services = build_services(Settings.of(database_url=store.url), clock,
                              ServiceOptions(pool_size=2))
    try:
        with services.uow.connect() as conn:  # reading needs no key
            assert conn is not None
        with pytest.raises(KeyMaterialError, match="CREDITPAY_MASTER_KEY"):
            _ = services.vault
    finally:
        services.close()


def test_settings_choose_the_keys_and_the_fraud_switch(store, clock):
    token = base64.b64encode(b"t" * 32).decode()
    settings = Settings.of(database_url=store.url, master_key=_key(), token_key=token,
                           fraud_screening=True)
    services = build_services(settings, clock, ServiceOptions(pool_size=2))
    try:
        assert services.token_key == b"t" * 32
        assert isinstance(services.payments.risk, ScreeningRiskGateway)
    finally:
        services.close()


def test_two_processes_in_one_interpreter_share_nothing(store, clock):
    """No process-global configuration: different settings give different services."""
    one = build_services(Settings.of(database_url=store.url, master_key=_key()), clock,
                         ServiceOptions(pool_size=2))
    two = build_services(Settings.of(database_url=store.url, master_key=_key()), clock,
                         ServiceOptions(pool_size=2))
    try:
        assert one.indexer.index("phone", "13800000000") != two.indexer.index(
            "phone", "13800000000")
        assert one.token_key != two.token_key
    finally:
        one.close()
        two.close()


def test_a_read_only_process_never_creates_its_database(tmp_path, clock):
    missing = tmp_path / "none" / "x.db"
    with pytest.raises(DatabaseUnavailableError, match="does not exist"):
        build_services(Settings.of(database_url=str(missing)), clock,
                       ServiceOptions(read_only=True))
    assert not missing.parent.exists()


def test_a_read_only_process_opens_an_existing_database(store, clock):
    services = build_services(Settings.of(database_url=store.url), clock,
                              ServiceOptions(read_only=True, pool_size=2))
    try:
        with services.uow.connect() as conn:
            assert conn is not None
    finally:
        services.close()


def test_screening_off_is_explicit_and_logged_at_every_start(store, clock, caplog):
    settings = Settings.of(database_url=store.url, fraud_screening=False)
    with caplog.at_level("WARNING", logger="creditpay.bootstrap"):
        services = build_services(settings, clock, ServiceOptions(pool_size=2))
    try:
        assert isinstance(services.risk, AllowAllRiskGateway)
    finally:
        services.close()
    lines = [r for r in caplog.records if "FRAUD SCREENING IS OFF" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "WARNING"
    assert "CREDITPAY_FRAUD_SCREENING=false" in lines[0].getMessage()
    caplog.clear()
    with caplog.at_level("WARNING", logger="creditpay.bootstrap"):
        build_services(Settings.of(database_url=store.url), clock,
                       ServiceOptions(pool_size=2)).close()
    assert not [r for r in caplog.records if "FRAUD SCREENING" in r.getMessage()]
