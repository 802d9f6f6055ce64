"""Settings: every CREDITPAY_* variable in one typed class, validated, documented in the README."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditpay.config import (
    DEV_TOOL_VARIABLES,
    Settings,
    env_name,
    parse_database_url,
    settings_table,
)
from creditpay.errors import ValidationError

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "creditpay"
KEY = "A" * 43 + "="  # base64 of 32 bytes


def test_every_variable_the_code_names_is_a_setting():
    named = set()
    for path in SRC.rglob("*.py"):
        named |= set(re.findall(r"CREDITPAY_[A-Z_]*[A-Z]", path.read_text(encoding="utf-8")))
    known = {env_name(name) for name in Settings.model_fields} | set(DEV_TOOL_VARIABLES)
    # CREDITPAY_MASTER_KEY[_FILE] in prose is the same two variables.
    assert named - known == set()


def test_no_module_but_config_reads_the_environment_for_a_setting():
    readers = []
    for path in SRC.rglob("*.py"):
        if path.name == "config.py" and path.parent == SRC:
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"environ\.get\(|getenv\(|environ\[", text):
            readers.append(str(path.relative_to(SRC)))
    # devtools/pgserver: the test harness's PostgreSQL, before any Settings exist.
    # platform/metrics: prometheus-client's own PROMETHEUS_MULTIPROC_DIR (not a creditpay
    # setting: the library reads it itself; serve sets it for its workers).
    assert sorted(readers) == ["devtools/pgserver.py", "platform/metrics.py"]


def test_the_readme_table_is_generated_from_the_class():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "settings_table.py"),
                             "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme
    for name, field in Settings.model_fields.items():
        assert field.description, name  # every setting says what it does
        assert f"`{env_name(name)}`" in readme


@pytest.mark.parametrize("name", ["webhooks_allow_private", "dev_inbox", "fraud_screening"])
@pytest.mark.parametrize("typo", ["maybe", "of", "tru", "2", "enabled"])
def test_a_switch_that_does_not_parse_is_an_error_naming_it(name, typo):
    variable = env_name(name)
    with pytest.raises(ValidationError, match=variable) as raised:
        Settings.from_env("sqlite://", environ={variable: typo})
    assert raised.value.field == variable


@pytest.mark.parametrize(("text", "value"), [("true", True), ("ON", True), ("1", True),
                                              ("yes", True), ("false", False), ("off", False),
                                              ("0", False), ("", True)])
def test_switches_read_the_usual_spellings(text, value):
    settings = Settings.from_env("sqlite://", environ={"CREDITPAY_FRAUD_SCREENING": text})
    assert settings.fraud_screening is value


def test_secrets_are_never_shown():
    settings = Settings.from_env("sqlite://", environ={"CREDITPAY_MASTER_KEY": KEY,
                                                       "CREDITPAY_TOKEN_KEY": KEY})
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())
    assert settings.secret("master_key") == KEY
    assert settings.key_sources().master_key == KEY and KEY not in repr(settings.key_sources())


def test_trusted_keys_are_checked_and_split():
    good = "ab" * 32
    settings = Settings.from_env("sqlite://", environ={
        "CREDITPAY_AUDIT_TRUSTED_KEYS": f"{good.upper()}, {good}"})
    assert settings.audit_trusted_keys == (good, good)
    with pytest.raises(ValidationError, match="CREDITPAY_AUDIT_TRUSTED_KEYS"):
        Settings.from_env("sqlite://", environ={"CREDITPAY_AUDIT_TRUSTED_KEYS": "nothex"})


def test_of_ignores_the_environment(monkeypatch):
    monkeypatch.setenv("CREDITPAY_DEV_INBOX", "true")
    monkeypatch.setenv("CREDITPAY_DATABASE_URL", "sqlite:///elsewhere.db")
    assert Settings.from_env().dev_inbox is True
    assert Settings.from_env().database_url == "sqlite:///elsewhere.db"
    settings = Settings.of(database_url="x.db")
    assert settings.dev_inbox is False and settings.database_url == "sqlite:///x.db"


def test_the_command_line_database_wins_over_the_variable(monkeypatch):
    monkeypatch.setenv("CREDITPAY_DATABASE_URL", "sqlite:///elsewhere.db")
    assert Settings.from_env("sqlite:///here.db").database_url == "sqlite:///here.db"


@pytest.mark.parametrize(("text", "url"), [
    ("var/x.db", "sqlite:///var/x.db"),
    ("/tmp/x.db", "sqlite:////tmp/x.db"),
    ("sqlite:///var/x.db", "sqlite:///var/x.db"),
    ("SQLITE:///var/x.db", "sqlite:///var/x.db"),
    ("sqlite://", "sqlite://"),
    ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("C:\\data\\x.db", "sqlite:///C:\\data\\x.db"),  # a drive letter is a path
])
def test_a_database_is_a_url_or_a_path(text, url):
    assert parse_database_url(text) == url


@pytest.mark.parametrize("text", ["sqlite:x.db", "mysql://u@h/db", "http://h/x", "", "  "])
def test_anything_else_that_looks_like_a_url_is_refused(text):
    with pytest.raises(ValidationError) as raised:
        parse_database_url(text)
    assert raised.value.field == "--db"


@given(st.text(alphabet=st.characters(categories=("L", "N"), include_characters="/._-"),
               min_size=1, max_size=40).filter(lambda t: ":" not in t and t.strip() == t))
def test_every_plain_path_means_sqlite_at_that_path(path):
    assert parse_database_url(path) == f"sqlite:///{path}"


def test_safe_defaults():
    settings = Settings.of()
    assert settings.mode == "development"
    assert settings.fraud_screening is True  # on unless explicitly switched off
    assert settings.allow_development_features is False
    assert settings.dev_inbox is False and settings.webhooks_allow_private is False


@pytest.mark.parametrize("switch", ["dev_inbox", "webhooks_allow_private"])
def test_production_mode_refuses_a_development_switch_naming_it(store, clock, switch, caplog):
    from creditpay.bootstrap import ServiceOptions, build_services

    variable = env_name(switch)
    settings = Settings.from_env(store.url, environ={"CREDITPAY_MODE": "production",
                                                     variable: "true"})
    with pytest.raises(ValidationError, match=variable) as raised:
        build_services(settings, clock, ServiceOptions(pool_size=1))
    assert raised.value.field == variable
    assert "CREDITPAY_ALLOW_DEVELOPMENT_FEATURES" in str(raised.value)
    allowed = settings.model_copy(update={"allow_development_features": True})
    with caplog.at_level("WARNING", logger="creditpay.bootstrap"):
        build_services(allowed, clock, ServiceOptions(pool_size=1)).close()
    assert any(variable in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)
    # Development mode: the switch is simply on.
    build_services(settings.model_copy(update={"mode": "development"}), clock,
                   ServiceOptions(pool_size=1)).close()


def test_production_mode_refuses_the_simulated_rail_and_bureau_at_start(store, clock,
                                                                         tmp_path, caplog):
    from creditpay.api.app import create_app
    from tests.api.helpers import api_config

    settings = Settings.of(database_url=store.url, mode="production",
                           audit_checkpoint_dir=tmp_path / "checkpoints")
    with pytest.raises(ValidationError, match="CREDITPAY_ALLOW_DEVELOPMENT_FEATURES") as raised:
        create_app(settings, clock, config=api_config())
    assert "simulated" in str(raised.value)
    allowed = settings.model_copy(update={"allow_development_features": True})
    with caplog.at_level("WARNING", logger="creditpay.bootstrap"):
        app = create_app(allowed, clock, config=api_config())
    app.state.runtime.close()
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "simulated card rail" in warned and "simulated credit bureau" in warned


def test_production_mode_needs_a_master_key(store, clock, tmp_path):
    from creditpay.bootstrap import ServiceOptions, build_services
    from creditpay.platform.keys import KeyMaterialError

    settings = Settings.of(database_url=store.url, mode="production",
                           allow_development_features=True,
                           audit_checkpoint_dir=tmp_path / "checkpoints")
    services = build_services(settings, clock, ServiceOptions(pool_size=1))
    try:
        with pytest.raises(KeyMaterialError, match="CREDITPAY_MASTER_KEY"):
            services.start()
    finally:
        services.close()
