"""Process configuration, read once from the environment and passed in (no global state)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "DEFAULT_SQLITE_PATH", "default_database_url", "env_flag"]

DEFAULT_SQLITE_PATH = Path("var") / "creditpay.db"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def default_database_url() -> str:
    """``CREDITPAY_DATABASE_URL`` or SQLite in WAL mode at ``./var/creditpay.db``."""
    url = os.environ.get("CREDITPAY_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path)}"


def env_flag(name: str) -> bool:
    """A yes/no setting from the environment (unset: no). Anything but true/false, yes/no,
    on/off or 1/0 is an error rather than a guess: a typo must not switch a safeguard."""
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


@dataclass(frozen=True)
class Settings:
    database_url: str
    # Development only: merchant webhooks may target loopback and private addresses, and use
    # http (CREDITPAY_WEBHOOKS_ALLOW_PRIVATE=true). Off in production; logged when on.
    webhooks_allow_private: bool = False

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Settings:
        return cls(database_url=database_url or default_database_url(),
                   webhooks_allow_private=env_flag("CREDITPAY_WEBHOOKS_ALLOW_PRIVATE"))
