"""Process configuration, read once from the environment and passed in (no global state)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "DEFAULT_SQLITE_PATH", "default_database_url"]

DEFAULT_SQLITE_PATH = Path("var") / "creditpay.db"


def default_database_url() -> str:
    """``CREDITPAY_DATABASE_URL`` or SQLite in WAL mode at ``./var/creditpay.db``."""
    url = os.environ.get("CREDITPAY_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path)}"


@dataclass(frozen=True)
class Settings:
    database_url: str

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Settings:
        return cls(database_url=database_url or default_database_url())
