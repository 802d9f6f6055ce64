"""Field-level envelope encryption and blind indexes for personal data.

Ciphertext format, version 1 (base64 text of the bytes below)::

    0x01 | key_id (16 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext || tag (16 bytes)

The associated data is ``"creditpay/vault/v1" | header | len+field | len+subject_id``:
a ciphertext decrypts only for the field and subject it was written for, so a value copied to
another row, another column or edited in its header fails authentication instead of silently
decrypting. Data keys are random 256-bit keys wrapped by the master key
(:mod:`creditpay.platform.keys`) and stored in ``vault_data_keys``; unwrapped keys are kept
in a bounded in-process cache so a hot path does one AES-GCM operation and no I/O.

Blind indexes give exact-match lookup on encrypted columns: HMAC-SHA256 under a separate key
of a normalised value, truncated to 128 bits. They reveal equality (two rows with the same
phone have the same index) by design, and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from hashlib import sha256

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from creditpay.db.uow import UnitOfWork
from creditpay.errors import DomainError, NotFoundError, ValidationError
from creditpay.platform.keys import KEY_BYTES, MasterKeyProvider
from creditpay.platform.tables import vault_data_keys

__all__ = [
    "CIPHERTEXT_VERSION",
    "DecryptionError",
    "DataKeyInfo",
    "Vault",
    "BlindIndexer",
    "BLIND_INDEX_KINDS",
    "normalise_phone",
    "normalise_id_number",
    "normalise_email",
    "parse_ciphertext",
]

CIPHERTEXT_VERSION = 1
_KEY_ID_BYTES = 16
_NONCE_BYTES = 12
_TAG_BYTES = 16
_HEADER_BYTES = 1 + _KEY_ID_BYTES + _NONCE_BYTES
_AAD_LABEL = b"creditpay/vault/v1"
PLAINTEXT_BYTES_MAX = 64 * 1024  # personal data fields are short; a bound stops abuse
FIELD_CHARS_MAX = 128
SUBJECT_CHARS_MAX = 128
CACHE_KEYS_MAX = 256
ACTIVE_KEY_TTL_S = 30.0
ROTATE_ATTEMPTS_MAX = 3


class DecryptionError(DomainError):
    """A ciphertext is malformed, or fails authentication for this field and subject."""

    type_slug = "decryption-failed"
    status = 500
    title = "Decryption failed"


@dataclass(frozen=True)
class DataKeyInfo:
    """Non-secret description of a data key (for ``creditpay vault status``)."""

    key_id: str
    master_key_id: str
    created_at: object
    active: bool
    retired_at: object


@dataclass(frozen=True)
class _Parsed:
    version: int
    key_id: str
    nonce: bytes
    body: bytes
    header: bytes


def parse_ciphertext(ciphertext: str) -> _Parsed:
    """Split a stored ciphertext into its parts (no key needed); raises DecryptionError."""
    try:
        raw = base64.b64decode(ciphertext, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise DecryptionError("ciphertext is not valid base64") from exc
    if len(raw) < _HEADER_BYTES + _TAG_BYTES:
        raise DecryptionError("ciphertext is truncated")
    version = raw[0]
    if version != CIPHERTEXT_VERSION:
        raise DecryptionError(f"unsupported ciphertext version {version}")
    key_id = raw[1:1 + _KEY_ID_BYTES].hex()
    nonce = raw[1 + _KEY_ID_BYTES:_HEADER_BYTES]
    return _Parsed(version, key_id, nonce, raw[_HEADER_BYTES:], raw[:_HEADER_BYTES])


def _length_prefixed(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack(">I", len(data)) + data


def _aad(header: bytes, field: str, subject_id: str) -> bytes:
    # Length prefixes make the encoding injective: ("a|b", "c") and ("a", "b|c") differ.
    return _AAD_LABEL + header + _length_prefixed(field) + _length_prefixed(subject_id)


def _check_binding(field: str, subject_id: str) -> None:
    if not field or len(field) > FIELD_CHARS_MAX:
        raise ValidationError(f"must be 1..{FIELD_CHARS_MAX} characters", field="field")
    if not subject_id or len(subject_id) > SUBJECT_CHARS_MAX:
        raise ValidationError(f"must be 1..{SUBJECT_CHARS_MAX} characters", field="subject_id")


class Vault:
    """Encrypts and decrypts personal-data fields with envelope encryption.

    Thread-safe. Reads and writes ``vault_data_keys`` through its own short transactions, so
    ``encrypt`` can be called inside or outside a service's unit of work. The active key id is
    cached for ``active_key_ttl_s`` seconds of monotonic time (a cache lifetime, not business
    time): after a rotation in another process, this one switches within that delay, and
    meanwhile its ciphertexts under the previous key stay decryptable because retired keys
    are kept.
    """

    def __init__(self, uow: UnitOfWork, master: MasterKeyProvider, *,
                 active_key_ttl_s: float = ACTIVE_KEY_TTL_S,
                 cache_keys_max: int = CACHE_KEYS_MAX,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if cache_keys_max < 1:
            raise ValidationError("must be at least 1", field="cache_keys_max")
        self._uow = uow
        self._master = master
        self._ttl_s = active_key_ttl_s
        self._cache_max = cache_keys_max
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._ciphers: OrderedDict[str, AESGCM] = OrderedDict()
        self._active: tuple[str, float] | None = None  # (key_id, fetched at monotonic s)

    @property
    def master_key_id(self) -> str:
        """Fingerprint of the master key this vault wraps and unwraps with."""
        return self._master.key_id

    # ----- field encryption -------------------------------------------------------------
    def encrypt(self, field: str, subject_id: str, plaintext: str) -> str:
        """Encrypt ``plaintext`` for ``field`` (e.g. ``"customers.phone"``) of ``subject_id``."""
        _check_binding(field, subject_id)
        data = plaintext.encode("utf-8")
        if len(data) > PLAINTEXT_BYTES_MAX:
            raise ValidationError(f"must be at most {PLAINTEXT_BYTES_MAX} bytes",
                                  field="plaintext")
        key_id = self._active_key_id()
        cipher = self._cipher(key_id)
        header = bytes([CIPHERTEXT_VERSION]) + bytes.fromhex(key_id) + secrets.token_bytes(
            _NONCE_BYTES)
        body = cipher.encrypt(header[1 + _KEY_ID_BYTES:], data, _aad(header, field, subject_id))
        return base64.b64encode(header + body).decode("ascii")

    def decrypt(self, field: str, subject_id: str, ciphertext: str) -> str:
        """Decrypt a value written by :meth:`encrypt` for the same field and subject."""
        _check_binding(field, subject_id)
        parsed = parse_ciphertext(ciphertext)
        cipher = self._cipher(parsed.key_id)
        try:
            data = cipher.decrypt(parsed.nonce, parsed.body,
                                  _aad(parsed.header, field, subject_id))
        except InvalidTag as exc:
            raise DecryptionError(
                f"ciphertext does not authenticate for {field} of this subject "
                "(copied from another row, or tampered)") from exc
        return data.decode("utf-8")

    def reencrypt(self, items: Iterable[tuple[str, str, str]]) -> Iterator[str]:
        """New ciphertexts under the active key for ``(field, subject_id, ciphertext)`` items.

        Lazily yields one result per item, in order, so millions of rows can be streamed in
        batches. A value already under the active key is returned unchanged (no need to write
        it back); every other one is decrypted and encrypted afresh.
        """
        active = self._active_key_id()
        for field, subject_id, ciphertext in items:
            if parse_ciphertext(ciphertext).key_id == active:
                # Still authenticate it: a re-encryption job must not launder a forged value.
                self.decrypt(field, subject_id, ciphertext)
                yield ciphertext
            else:
                yield self.encrypt(field, subject_id, self.decrypt(field, subject_id, ciphertext))

    # ----- key management ---------------------------------------------------------------
    def ensure_active_key(self) -> str:
        """The active data key id, creating the first data key if there is none."""
        return self._active_key_id()

    def rotate_data_key(self) -> str:
        """Retire the active data key and make a new one active; returns the new key id.

        Retired keys stay in the table (and cache) so older ciphertexts still decrypt; run
        :meth:`reencrypt` over the stored values to move them to the new key.
        """
        for attempt in range(1, ROTATE_ATTEMPTS_MAX + 1):
            try:
                with self._uow.begin() as tx:
                    tx.conn.execute(
                        update(vault_data_keys)
                        .where(vault_data_keys.c.active.is_not(None))
                        .values(active=None, retired_at=tx.now))
                    key_id = self._insert_new_key(tx.conn, tx.now)
            except IntegrityError:
                # Another process rotated at the same moment and won the unique "active" slot.
                if attempt == ROTATE_ATTEMPTS_MAX:
                    raise
                continue
            with self._lock:
                self._active = (key_id, self._monotonic())
            return key_id
        raise AssertionError("unreachable")  # pragma: no cover

    def rewrap_all(self, new_master: MasterKeyProvider) -> int:
        """Re-wrap every data key under ``new_master``; returns how many rows changed.

        One transaction with the rows locked: either all keys move to the new master or none
        do. Rows already under ``new_master`` are skipped, so an interrupted procedure can be
        re-run. Ciphertexts are untouched (the data keys themselves do not change).
        """
        changed = 0
        with self._uow.begin() as tx:
            rows = tx.conn.execute(
                select(vault_data_keys.c.key_id, vault_data_keys.c.wrapped_key,
                       vault_data_keys.c.master_key_id)
                .order_by(vault_data_keys.c.key_id)
                .with_for_update()).all()
            for row in rows:
                if row.master_key_id == new_master.key_id:
                    continue
                if row.master_key_id != self._master.key_id:
                    raise DomainError(
                        f"data key {row.key_id} is wrapped by master {row.master_key_id}, "
                        f"neither the current ({self._master.key_id}) nor the new one")
                aad = row.key_id.encode("ascii")
                data_key = self._master.unwrap(row.wrapped_key, aad)
                tx.conn.execute(
                    update(vault_data_keys)
                    .where(vault_data_keys.c.key_id == row.key_id)
                    .values(wrapped_key=new_master.wrap(data_key, aad),
                            master_key_id=new_master.key_id))
                changed += 1
        with self._lock:
            self._master = new_master
        return changed

    def data_keys(self) -> list[DataKeyInfo]:
        """All data keys, oldest first (no secret material)."""
        with self._uow.connect() as conn:
            rows = conn.execute(select(vault_data_keys).order_by(
                vault_data_keys.c.created_at, vault_data_keys.c.key_id)).all()
        return [DataKeyInfo(r.key_id, r.master_key_id, r.created_at, bool(r.active),
                            r.retired_at) for r in rows]

    # ----- internals --------------------------------------------------------------------
    def _insert_new_key(self, conn: Connection, now: object) -> str:
        key_id = secrets.token_bytes(_KEY_ID_BYTES).hex()
        data_key = secrets.token_bytes(KEY_BYTES)
        conn.execute(vault_data_keys.insert().values(
            key_id=key_id,
            wrapped_key=self._master.wrap(data_key, key_id.encode("ascii")),
            master_key_id=self._master.key_id,
            created_at=now,
            active=True,
            retired_at=None,
        ))
        with self._lock:
            self._remember(key_id, AESGCM(data_key))
        return key_id

    def _active_key_id(self) -> str:
        with self._lock:
            if self._active is not None and self._monotonic() - self._active[1] < self._ttl_s:
                return self._active[0]
        with self._uow.connect() as conn:
            key_id = conn.execute(select(vault_data_keys.c.key_id).where(
                vault_data_keys.c.active.is_not(None))).scalar_one_or_none()
        if key_id is None:
            try:
                with self._uow.begin() as tx:
                    key_id = self._insert_new_key(tx.conn, tx.now)
            except IntegrityError:
                # A concurrent first use created the key; use that one.
                with self._uow.connect() as conn:
                    key_id = conn.execute(select(vault_data_keys.c.key_id).where(
                        vault_data_keys.c.active.is_not(None))).scalar_one()
        with self._lock:
            self._active = (key_id, self._monotonic())
        return key_id

    def _cipher(self, key_id: str) -> AESGCM:
        with self._lock:
            cipher = self._ciphers.get(key_id)
            if cipher is not None:
                self._ciphers.move_to_end(key_id)
                return cipher
        with self._uow.connect() as conn:
            row = conn.execute(select(vault_data_keys.c.wrapped_key, vault_data_keys.c.master_key_id)
                               .where(vault_data_keys.c.key_id == key_id)).one_or_none()
        if row is None:
            raise NotFoundError(f"data key {key_id} not found", field="key_id")
        cipher = AESGCM(self._master.unwrap(row.wrapped_key, key_id.encode("ascii")))
        with self._lock:
            self._remember(key_id, cipher)
        return cipher

    def _remember(self, key_id: str, cipher: AESGCM) -> None:
        # Caller holds self._lock. LRU bound: a process never holds every key ever made.
        self._ciphers[key_id] = cipher
        self._ciphers.move_to_end(key_id)
        while len(self._ciphers) > self._cache_max:
            self._ciphers.popitem(last=False)


# ----- blind indexes ------------------------------------------------------------------------
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_ID_SEPARATORS = re.compile(r"[\s\-]")
_ID_SHAPE = re.compile(r"[0-9A-Z]{5,32}")
_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE_DIGITS_MIN = 8
PHONE_DIGITS_MAX = 15  # E.164


def normalise_phone(value: str, default_country_code: str = "86") -> str:
    """Digits only, with the country code: ``+86 138-1234-5678`` -> ``8613812345678``.

    ``+`` or ``00`` marks an international number; an 11-digit Chinese mobile (1[3-9]...) gets
    ``86``; any other national number gets ``default_country_code`` after dropping one trunk
    ``0``. Raises ValidationError(field="phone") for anything that is not a phone number.
    """
    text = _PHONE_SEPARATORS.sub("", value.strip())
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    else:
        digits = None
    candidate = text if digits is None else digits
    if not candidate.isascii() or not candidate.isdigit():
        raise ValidationError("a phone number has only digits, spaces, dashes and a leading +",
                              field="phone")
    if digits is None:
        if len(candidate) == 11 and candidate[0] == "1" and candidate[1] in "3456789":
            digits = "86" + candidate
        elif default_country_code == "86" and len(candidate) == 13 and candidate.startswith(
                "861"):
            digits = candidate
        else:
            digits = default_country_code + candidate.removeprefix("0")
    if not PHONE_DIGITS_MIN <= len(digits) <= PHONE_DIGITS_MAX:
        raise ValidationError(
            f"must have {PHONE_DIGITS_MIN}..{PHONE_DIGITS_MAX} digits with its country code",
            field="phone")
    return digits


def normalise_id_number(value: str) -> str:
    """Identity document number without spaces/dashes, upper-cased (``x`` check digit -> X)."""
    text = _ID_SEPARATORS.sub("", value.strip()).upper()
    if not _ID_SHAPE.fullmatch(text):
        raise ValidationError("must be 5..32 letters and digits", field="id_number")
    return text


def normalise_email(value: str) -> str:
    """Trimmed and lower-cased (treating the local part case-insensitively, as providers do)."""
    text = value.strip().lower()
    if len(text) > 254 or not _EMAIL_SHAPE.fullmatch(text):
        raise ValidationError("is not an email address", field="email")
    return text


BLIND_INDEX_KINDS: dict[str, Callable[[str], str]] = {
    "phone": normalise_phone,
    "id_number": normalise_id_number,
    "email": normalise_email,
}
BLIND_INDEX_HEX_CHARS = 32  # 128 bits: collisions need ~2**64 values, far beyond any table


class BlindIndexer:
    """Keyed, truncated HMAC-SHA256 of a normalised value, for exact-match lookup.

    The kind is part of the MAC input, so a phone and an ID number with the same digits get
    unrelated indexes. Without the key an attacker with the database cannot test guesses
    (phone numbers have only ~10**10 values; a plain hash would be reversed in minutes).
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValidationError(f"must be {KEY_BYTES} bytes", field="blind_index_key")
        self._key = bytes(key)

    def index(self, kind: str, value: str) -> str:
        """The blind index of ``value`` as ``kind`` (``phone``, ``id_number`` or ``email``)."""
        normaliser = BLIND_INDEX_KINDS.get(kind)
        if normaliser is None:
            raise ValidationError(f"unknown kind {kind!r}; one of {sorted(BLIND_INDEX_KINDS)}",
                                  field="kind")
        message = kind.encode("ascii") + b"\x00" + normaliser(value).encode("utf-8")
        return hmac.new(self._key, message, sha256).hexdigest()[:BLIND_INDEX_HEX_CHARS]

    def __repr__(self) -> str:
        return "BlindIndexer(<key hidden>)"
