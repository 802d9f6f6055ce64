"""Process configuration, read once from the environment and passed in (no global state)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from creditpay.errors import ValidationError

__all__ = ["Settings", "DEFAULT_SQLITE_PATH", "DEFAULT_CHECKPOINT_ROOT",
           "AUDIT_CHECKPOINT_DIR_ENV", "AUDIT_TRUSTED_KEYS_ENV", "default_database_url",
           "default_checkpoint_dir", "parse_public_keys", "env_flag"]

DEFAULT_SQLITE_PATH = Path("var") / "creditpay.db"
# Where audit checkpoints go when the database is not a SQLite file (docs/security.md §6).
DEFAULT_CHECKPOINT_ROOT = Path("var") / "audit-checkpoints"
AUDIT_CHECKPOINT_DIR_ENV = "CREDITPAY_AUDIT_CHECKPOINT_DIR"
AUDIT_TRUSTED_KEYS_ENV = "CREDITPAY_AUDIT_TRUSTED_KEYS"
_PUBLIC_KEY = re.compile(r"[0-9a-f]{64}")
_DATABASE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
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


def env_flag(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """A yes/no setting from the environment (unset: no). Anything but true/false, yes/no,
    on/off or 1/0 is an error rather than a guess: a typo must not switch a safeguard."""
    value = (os.environ if environ is None else environ).get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


def default_checkpoint_dir(database_url: str) -> Path:
    """The audit checkpoint directory used when none is configured.

    A SQLite file ``DIR/NAME.db`` gets ``DIR/NAME.audit-checkpoints`` (one store per file, so
    two databases never share one); any other database gets
    ``var/audit-checkpoints/<database name>``. An in-memory database has no default: its
    chain dies with the process, and a store shared by such chains would only hold stale
    checkpoints. In production set ``CREDITPAY_AUDIT_CHECKPOINT_DIR`` to a directory the
    database role cannot write.
    """
    from sqlalchemy.engine import make_url

    from creditpay.db.engine import normalise_url

    parsed = make_url(normalise_url(database_url))
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite":
        if database in ("", ":memory:") or database.startswith("file:"):
            raise ValidationError(
                f"an in-memory database has no default audit checkpoint directory; set "
                f"{AUDIT_CHECKPOINT_DIR_ENV}", field="audit_checkpoint_dir")
        path = Path(database)
        return path.with_name(path.stem + ".audit-checkpoints")
    if not _DATABASE_NAME.fullmatch(database):
        raise ValidationError(f"cannot derive a checkpoint directory from database name "
                              f"{database!r}; set {AUDIT_CHECKPOINT_DIR_ENV}",
                              field="audit_checkpoint_dir")
    return DEFAULT_CHECKPOINT_ROOT / database


def parse_public_keys(text: str | None, *, field: str) -> tuple[str, ...]:
    """Comma- or space-separated hex Ed25519 public keys (64 lower-case hex characters)."""
    keys = tuple(part.strip().lower() for part in re.split(r"[,\s]+", text or "")
                 if part.strip())
    for key in keys:
        if not _PUBLIC_KEY.fullmatch(key):
            raise ValidationError("must be hex Ed25519 public keys (64 hex characters each)",
                                  field=field)
    return keys


@dataclass(frozen=True)
class Settings:
    """``database_url``; ``audit_checkpoint_dir`` (None: :func:`default_checkpoint_dir`);
    ``audit_trusted_keys``: earlier platform audit keys whose checkpoints stay trusted
    (after a signing-key change), besides the current key."""

    database_url: str
    audit_checkpoint_dir: Path | None = None
    audit_trusted_keys: tuple[str, ...] = ()
    # Development only: merchant webhooks may target loopback and private addresses, and use
    # http (CREDITPAY_WEBHOOKS_ALLOW_PRIVATE=true). Off in production; logged when on.
    webhooks_allow_private: bool = False
    # Development only: GET /v1/dev/inbox shows the codes and notices sent to simulated
    # phones and e-mails (CREDITPAY_DEV_INBOX=true). Off by default; logged when on.
    dev_inbox: bool = False

    @classmethod
    def from_env(cls, database_url: str | None = None,
                 environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        directory = environ.get(AUDIT_CHECKPOINT_DIR_ENV)
        return cls(database_url=database_url or default_database_url(),
                   audit_checkpoint_dir=Path(directory) if directory else None,
                   audit_trusted_keys=parse_public_keys(environ.get(AUDIT_TRUSTED_KEYS_ENV),
                                                        field=AUDIT_TRUSTED_KEYS_ENV),
                   webhooks_allow_private=env_flag("CREDITPAY_WEBHOOKS_ALLOW_PRIVATE",
                                                   environ),
                   dev_inbox=env_flag("CREDITPAY_DEV_INBOX", environ))

    def checkpoint_dir(self) -> Path:
        """The audit checkpoint directory: configured, else the default for the database."""
        if self.audit_checkpoint_dir is not None:
            return Path(self.audit_checkpoint_dir)
        return default_checkpoint_dir(self.database_url)
