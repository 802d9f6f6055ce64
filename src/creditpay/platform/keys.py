"""Key material for the compliance layer: master key, blind-index key, audit signing key.

Key hierarchy (docs/security.md has the full picture)::

    master key (32 bytes, env / 0600 file / KMS)         -- never stored in the database
      +-- wraps data keys (vault_data_keys.wrapped_key)  -- AES-256-GCM, one per rotation
      +-- HKDF "creditpay/blind-index/v1"    -> blind-index HMAC key  (unless pinned by env)
      +-- HKDF "creditpay/audit-signing/v1"  -> Ed25519 checkpoint key (unless pinned by env)

Nothing here reads the environment: the values come from ``creditpay.config.Settings``
through :class:`KeySources` (the bootstrap builds one). Nothing here has a default value: a process without key material refuses to start the
vault instead of falling back to a key that would be the same for every installation.
The master key sits behind :class:`MasterKeyProvider` so a KMS or HSM, which never lets the
key leave the device, can replace :class:`LocalMasterKey` without touching the vault.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from creditpay.errors import DomainError

__all__ = [
    "KEY_BYTES",
    "MASTER_KEY_ENV",
    "MASTER_KEY_FILE_ENV",
    "BLIND_INDEX_KEY_ENV",
    "BLIND_INDEX_KEY_FILE_ENV",
    "AUDIT_SIGNING_KEY_ENV",
    "AUDIT_SIGNING_KEY_FILE_ENV",
    "KeySources",
    "KeyMaterialError",
    "KeyUnwrapError",
    "MasterKeyProvider",
    "LocalMasterKey",
    "DerivedKey",
    "generate_key_bytes",
    "encode_key",
    "decode_key",
    "read_key_file",
    "write_key_file",
    "load_master_key",
    "load_blind_index_key",
    "load_audit_signing_key",
    "ed25519_public_key_hex",
]

KEY_BYTES = 32  # AES-256, HMAC-SHA256 and Ed25519 seeds are all 256-bit

MASTER_KEY_ENV = "CREDITPAY_MASTER_KEY"
MASTER_KEY_FILE_ENV = "CREDITPAY_MASTER_KEY_FILE"
BLIND_INDEX_KEY_ENV = "CREDITPAY_BLIND_INDEX_KEY"
BLIND_INDEX_KEY_FILE_ENV = "CREDITPAY_BLIND_INDEX_KEY_FILE"
AUDIT_SIGNING_KEY_ENV = "CREDITPAY_AUDIT_SIGNING_KEY"
AUDIT_SIGNING_KEY_FILE_ENV = "CREDITPAY_AUDIT_SIGNING_KEY_FILE"

# HKDF "info" labels: distinct labels give independent keys from one master (RFC 5869 §3.2).
_INFO_KEY_ID = b"creditpay/master-key-id/v1"
_INFO_BLIND_INDEX = b"creditpay/blind-index/v1"
_INFO_AUDIT_SIGNING = b"creditpay/audit-signing/v1"
_WRAP_AAD_PREFIX = b"creditpay/vault/data-key/v1\x00"
_NONCE_BYTES = 12
_KEY_FILE_BYTES_MAX = 4096  # a key file is one base64 line; anything bigger is not a key file


class KeyMaterialError(DomainError):
    """Key material is missing, malformed or stored unsafely (wrong file mode)."""

    type_slug = "key-material"
    status = 500
    title = "Key material unavailable"


class KeyUnwrapError(DomainError):
    """A wrapped key failed authentication: wrong master key or a tampered row."""

    type_slug = "key-unwrap-failed"
    status = 500
    title = "Key unwrap failed"


@runtime_checkable
class MasterKeyProvider(Protocol):
    """The root of the key hierarchy: wraps and unwraps data keys, never exports itself.

    ``key_id`` is a stable, non-secret fingerprint stored next to every wrapped key so a
    re-wrap can tell which master protected which row. ``aad`` binds a wrapped key to its
    row (the data key id), so swapping ``wrapped_key`` values between rows fails to unwrap.
    """

    @property
    def key_id(self) -> str: ...

    def wrap(self, plaintext_key: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, wrapped_key: bytes, aad: bytes) -> bytes: ...


def _hkdf(key: bytes, info: bytes, length: int = KEY_BYTES) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(key)


class LocalMasterKey:
    """A master key held in process memory (from env or a 0600 file): AES-256-GCM wrapping.

    GCM with a random 96-bit nonce is safe here because the number of wraps per master key is
    tiny (one per data-key rotation), far below the 2**32 random-nonce bound of NIST SP 800-38D.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyMaterialError(f"master key must be {KEY_BYTES} bytes, got {len(key)}")
        self._key = bytes(key)
        self._aead = AESGCM(self._key)
        # The id is derived, not hashed raw, so it reveals nothing usable about the key.
        self._key_id = "local:" + _hkdf(self._key, _INFO_KEY_ID, 8).hex()

    @property
    def key_id(self) -> str:
        """``local:`` + 16 hex chars of HKDF output: identifies the key, reveals nothing."""
        return self._key_id

    def wrap(self, plaintext_key: bytes, aad: bytes) -> bytes:
        """Encrypt a data key: ``nonce(12) || ciphertext+tag``."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext_key, _WRAP_AAD_PREFIX + aad)

    def unwrap(self, wrapped_key: bytes, aad: bytes) -> bytes:
        """Decrypt a data key wrapped by :meth:`wrap` with the same ``aad``."""
        if len(wrapped_key) <= _NONCE_BYTES:
            raise KeyUnwrapError("wrapped key is truncated")
        nonce, body = wrapped_key[:_NONCE_BYTES], wrapped_key[_NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, _WRAP_AAD_PREFIX + aad)
        except InvalidTag as exc:
            raise KeyUnwrapError(
                f"data key does not authenticate under master key {self._key_id}") from exc

    def derive(self, info: bytes) -> bytes:
        """An independent 32-byte subkey for ``info`` (HKDF-SHA256)."""
        return _hkdf(self._key, info)

    def __repr__(self) -> str:  # never print the key itself
        return f"LocalMasterKey(key_id={self._key_id!r})"


@dataclass(frozen=True)
class DerivedKey:
    """A loaded secondary key and where it came from (``env``, ``file`` or ``derived``)."""

    key: bytes
    source: str

    def __repr__(self) -> str:
        return f"DerivedKey(source={self.source!r})"


def generate_key_bytes() -> bytes:
    """32 random bytes from the OS CSPRNG."""
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """Standard base64, the format of the env vars and key files."""
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, *, source: str) -> bytes:
    """Decode a base64 key and check it is exactly 32 bytes; ``source`` names it in errors."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyMaterialError(f"{source} is not valid base64") from exc
    if len(key) != KEY_BYTES:
        raise KeyMaterialError(f"{source} must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def read_key_file(path: str | Path) -> bytes:
    """Read a base64 key file, refusing it on POSIX unless only the owner can read it."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise KeyMaterialError(f"key file {path} does not exist") from exc
    if not stat.S_ISREG(info.st_mode):
        raise KeyMaterialError(f"key file {path} is not a regular file")
    if os.name == "posix" and info.st_mode & 0o077:
        # Same rule as ssh for private keys: group/other access means the key may have leaked.
        raise KeyMaterialError(
            f"key file {path} has mode {stat.S_IMODE(info.st_mode):04o}; "
            f"it must be readable by its owner only (chmod 600 {path})")
    if info.st_size > _KEY_FILE_BYTES_MAX:
        raise KeyMaterialError(f"key file {path} is too large to be a key file")
    return decode_key(path.read_text(encoding="ascii"), source=f"key file {path}")


def write_key_file(path: str | Path, key: bytes) -> Path:
    """Create ``path`` with mode 0600 holding ``key`` in base64; never overwrites a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL makes "refuse to overwrite" atomic, and the mode is set at creation so the key
    # is never readable by others, not even between open() and a later chmod().
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyMaterialError(f"{path} already exists; refusing to overwrite a key") from exc
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(encode_key(key) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return path


@dataclass(frozen=True)
class KeySources:
    """Where each key comes from: base64 text or a 0600 file, at most one of the two (the
    ``*_ENV`` names are the settings that fill them in, named in error messages). Empty:
    nothing pinned, the derived keys come from the master key."""

    master_key: str | None = field(default=None, repr=False)
    master_key_file: Path | None = None
    blind_index_key: str | None = field(default=None, repr=False)
    blind_index_key_file: Path | None = None
    audit_signing_key: str | None = field(default=None, repr=False)
    audit_signing_key_file: Path | None = None

    @property
    def audit_signing_pinned(self) -> bool:
        return bool(self.audit_signing_key or self.audit_signing_key_file)


_NO_SOURCES = KeySources()


def _load_secret(value: str | None, path: Path | str | None, env_name: str,
                 file_env_name: str) -> DerivedKey | None:
    if value and path:
        raise KeyMaterialError(f"set either {env_name} or {file_env_name}, not both")
    if value:
        return DerivedKey(decode_key(value, source=env_name), "env")
    if path:
        return DerivedKey(read_key_file(path), "file")
    return None


def load_master_key(sources: KeySources = _NO_SOURCES) -> LocalMasterKey:
    """The master key from ``CREDITPAY_MASTER_KEY`` (base64) or ``CREDITPAY_MASTER_KEY_FILE``."""
    loaded = _load_secret(sources.master_key, sources.master_key_file, MASTER_KEY_ENV,
                          MASTER_KEY_FILE_ENV)
    if loaded is None:
        raise KeyMaterialError(
            f"no master key: set {MASTER_KEY_ENV} (base64 of 32 bytes) or {MASTER_KEY_FILE_ENV} "
            "(a 0600 file; create one for development with "
            "'creditpay vault init-key --path var/master.key')")
    return LocalMasterKey(loaded.key)


def _derivable(master: MasterKeyProvider | None, what: str, env_name: str) -> LocalMasterKey:
    if isinstance(master, LocalMasterKey):
        return master
    raise KeyMaterialError(
        f"no {what} key: set {env_name}; it cannot be derived from a master key that is not "
        "held in process memory (KMS/HSM)")


def load_blind_index_key(master: MasterKeyProvider | None,
                         sources: KeySources = _NO_SOURCES) -> DerivedKey:
    """The blind-index HMAC key: pinned by env/file, else HKDF of the master key.

    Pin it in production: a derived key changes when the master key is replaced, and every
    stored blind index would then have to be recomputed (``creditpay vault rewrap`` refuses
    to run while it is derived).
    """
    loaded = _load_secret(sources.blind_index_key, sources.blind_index_key_file,
                          BLIND_INDEX_KEY_ENV, BLIND_INDEX_KEY_FILE_ENV)
    if loaded is not None:
        return loaded
    local = _derivable(master, "blind-index", BLIND_INDEX_KEY_ENV)
    return DerivedKey(local.derive(_INFO_BLIND_INDEX), "derived")


def load_audit_signing_key(master: MasterKeyProvider | None,
                           sources: KeySources = _NO_SOURCES) -> Ed25519PrivateKey:
    """The Ed25519 checkpoint signing key: a pinned 32-byte seed, else HKDF of the master key.

    Each checkpoint carries its public key, so a changed signing key (after a master-key
    replacement) leaves earlier checkpoints verifiable; publish every public key you use.
    """
    loaded = _load_secret(sources.audit_signing_key, sources.audit_signing_key_file,
                          AUDIT_SIGNING_KEY_ENV, AUDIT_SIGNING_KEY_FILE_ENV)
    if loaded is None:
        local = _derivable(master, "audit signing", AUDIT_SIGNING_KEY_ENV)
        loaded = DerivedKey(local.derive(_INFO_AUDIT_SIGNING), "derived")
    return Ed25519PrivateKey.from_private_bytes(loaded.key)


def ed25519_public_key_hex(key: Ed25519PrivateKey) -> str:
    """The raw 32-byte public key in hex (the form checkpoints carry)."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

