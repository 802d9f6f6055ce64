"""Tamper-evident audit log: append in the business transaction, seal into a hash chain later.

Why two steps. If every business transaction extended the hash chain itself, each one would
have to lock the chain head until it commits, and PostgreSQL would commit one business
transaction at a time. Instead:

1. :func:`append` inserts a record in the caller's transaction (so it exists if and only if
   the decision / money movement / access it describes commits). No shared row is touched.
2. :func:`seal`, in its own short transaction holding the lock on the single
   ``audit_chain_head`` row, takes every unsealed record in id order, gives each the next
   ``chain_index``, ``prev_hash`` and ``hash = SHA-256(prev_hash || canonical JSON)`` and moves
   the head. Run it at the end of each API request batch, at close of business, and before
   :func:`verify` / :func:`checkpoint`.

Protection window: a record appended but not yet sealed is not protected by the chain (a
database administrator could edit or delete it unnoticed). Keep the window short by sealing
often; :func:`verify` reports how many records are still unsealed.

Checkpoints: every :func:`seal` given a checkpointer signs the new head with the platform's
Ed25519 key and writes it to a store outside the database (:mod:`.checkpoints`), after checking
the chain still extends the latest one. :func:`verify` with ``checkpoints=`` (and
:func:`verify_against_store`, what ``creditpay audit verify`` runs) then sees what the chain
alone cannot: a tail cut off with the head moved back, a chain emptied with the head reset,
or history rewritten and re-hashed, even by someone able to recompute every hash.

No personal data: :func:`append` refuses values that look like phone, ID, card numbers or
emails anywhere, and prose under keys that name free text (reason, note, purpose, ...): the
chain cannot forget, so words a person typed go to the vault (:mod:`.notes`) and the record
carries their reference.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine, RowMapping, func, select
from sqlalchemy.exc import IntegrityError

from creditpay.db.engine import driver_connection
from creditpay.db.metadata import JsonText, fast_bind, result_conversion
from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import StateError, ValidationError
from creditpay.platform.checkpoints import (
    AuditChainBrokenError,
    AuditCheckpointer,
    CheckpointStore,
    CheckpointStoreError,
)
from creditpay.platform.keys import ed25519_public_key_hex
from creditpay.platform.logging_filter import find_pii
from creditpay.platform.purposes import check_purpose
from creditpay.platform.tables import audit_chain_head, audit_records

__all__ = [
    "GENESIS_HASH",
    "HASH_FORMAT_VERSION",
    "ACTOR_TYPES",
    "FREE_TEXT_CODE",
    "SealResult",
    "VerifyResult",
    "append",
    "record_personal_data_access",
    "seal",
    "verify",
    "verify_database",
    "snapshot_connection",
    "checkpoint",
    "verify_checkpoint",
    "verify_against_store",
    "write_checkpoint",
    "checkpoint_problem",
    "sealed_count",
    "AuditChainBrokenError",
    "CheckpointStoreError",
    "record_hash",
    "canonical_json",
    "unsealed_count",
]

GENESIS_HASH = "0" * 64
HASH_FORMAT_VERSION = 1
CHECKPOINT_FORMAT_VERSION = 1
HEAD_ROW_ID = 1
SEAL_BATCH_MAX = 2_000  # records per seal transaction: keeps the head lock short
SEAL_BATCHES_MAX = 10_000  # one seal() call never loops forever behind a flood of appends
VERIFY_PAGE_SIZE = 2_000
PAYLOAD_BYTES_MAX = 16 * 1024
PAYLOAD_DEPTH_MAX = 16
ID_CHARS_MAX = 128

# Who can act. "staff" covers operators and compliance officers; "system" is automated
# decisioning, close of business and batch jobs.
ACTOR_TYPES = frozenset({"system", "staff", "customer", "merchant", "partner_lender",
                         "regulator"})
_SLUG = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")
# A key naming personal data must not hold a number that looks like one, even an int.
_PII_KEY_HINT = re.compile(r"phone|mobile|tel|card|pan|id_number|id_card|identity|email|mail",
                           re.IGNORECASE)
# Keys that by their name hold words a person typed (a reason, a note, a name, an address).
# The chain can never erase what it holds, and the PII detectors cannot see a name, so a value
# under such a key must be a code (FREE_TEXT_CODE), never prose: the prose goes to the vault
# (compliance.notes) and the payload carries its ``note_id``. Matched by whole key or by its
# last "_" word, so ``reason_code``, ``note_id``, ``note_given`` and ``agency_name`` (a
# business, from configuration) are not caught, while ``dismiss_reason`` and ``legal_name`` are.
_FREE_TEXT_KEY = re.compile(
    r"(?:.*_)?(?:reason|note|notes|comment|comments|description|message|text|remark|remarks"
    r"|memo|purpose|address|explanation|justification)"
    r"|name|full_name|legal_name|customer_name|person_name|contact_name|first_name"
    r"|last_name|family_name|given_name|payee_name|payer_name",
    re.IGNORECASE)
FREE_TEXT_CODE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")
_NOTE_ID = re.compile(r"note_[0-9a-f]{24}")


# ----- canonical form and hashing -----------------------------------------------------------
# The encoders are built once: ``json.dumps`` with any argument builds a new JSONEncoder on
# every call. Same class, same arguments, same bytes.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False)
# What the payload column stores: SQLAlchemy's JSON bind (``json.dumps(value)``) of the
# payload's canonical round trip (sorted keys, tuples as lists), in one encoding.
_STORED = json.JSONEncoder(sort_keys=True)


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no whitespace: one byte string per value."""
    return _CANONICAL.encode(value).encode("utf-8")


def _utc_text(value: dt.datetime) -> str:
    # One text per instant whatever the zone of the aware value, so a hash survives either store.
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _as_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValidationError("business time must be timezone-aware", field="now")
    return value.astimezone(dt.UTC)


def record_hash(prev_hash: str, record: Mapping[str, Any] | RowMapping) -> str:
    """``SHA-256(prev_hash bytes || canonical JSON of the record's content)`` in hex.

    ``record`` has the columns of ``audit_records`` (a database row mapping); everything but
    ``prev_hash`` and ``hash`` is covered, including ``chain_index``, ``id`` and both times, so
    moving, renumbering or re-dating a record breaks its hash.
    """
    return _digest(prev_hash, record["chain_index"], record["id"],
                   _utc_text(record["recorded_at"]), _utc_text(record["sealed_at"]),
                   record["actor_type"], record["actor_id"], record["action"],
                   record["subject_type"], record["subject_id"], record["payload"])


def _digest(prev_hash: str, chain_index: int, record_id: int, recorded_text: str,
            sealed_text: str, actor_type: str, actor_id: str, action: str, subject_type: str,
            subject_id: str, payload: Any) -> str:
    # The one definition of a record's hash (format v1): record_hash, the seal and the
    # walk of verify all come here.
    content = {
        "v": HASH_FORMAT_VERSION,
        "chain_index": chain_index,
        "id": record_id,
        "recorded_at": recorded_text,
        "sealed_at": sealed_text,
        "actor_type": actor_type,
        "actor_id": actor_id,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "payload": payload,
    }
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical_json(content)).hexdigest()


# ----- the rows as the driver returns them ---------------------------------------------------
# The seal and verify's walk read and write many records per call through constant SQL sent
# to the driver (as ``ledger/service.py`` does), with the conversions SQLAlchemy's column
# types did done here: the payload's JSON text decoded (SQLite; psycopg decodes JSONB itself)
# and the business times turned into the hash's UTC text.
_RECORD_COLUMNS = ("id, recorded_at, actor_type, actor_id, action, subject_type, subject_id,"
                   " payload")
# SQLAlchemy's SQLite DATETIME storage format, four-digit year: sliced into the hash's text
# directly (the same text as parsing it and formatting the datetime).
_SQLITE_STORED_TIME = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
                                 r"\.[0-9]{6}")


class _DriverRows:
    """Statements and conversions of ``audit_records`` for one connection's dialect."""

    def __init__(self, conn: Connection) -> None:
        dialect = conn.dialect
        self.driver = driver_connection(conn)
        self.sqlite = dialect.name == "sqlite"
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.mark = mark
        self._time = result_conversion(audit_records.c.recorded_at, dialect)
        self._json = result_conversion(audit_records.c.payload, dialect)
        self.bind_time = fast_bind(audit_records.c.sealed_at.type, dialect)

    def time_text(self, value: Any) -> str:
        if self.sqlite and type(value) is str and _SQLITE_STORED_TIME.fullmatch(value):
            return f"{value[:10]}T{value[11:]}Z"
        parsed = self._time(value) if self._time is not None else value
        assert isinstance(parsed, dt.datetime), "a sealed record's time is never NULL"
        return _utc_text(parsed)

    def payload(self, value: Any) -> Any:
        if self._json is None or value is None:
            return value
        if self.sqlite and type(value) is str:
            return json.loads(value)
        return self._json(value)

    def fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        cursor = self.driver.cursor()
        try:
            cursor.execute(sql.replace("?", self.mark), params)
            return list(cursor.fetchall())
        finally:
            cursor.close()


# ----- append -------------------------------------------------------------------------------
def _check_slug(value: str, field: str) -> None:
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise ValidationError("must be a lower-case slug like 'loan.approved' (1..64 chars)",
                              field=field)


def _may_hold_pii(text: str) -> bool:
    """False when ``find_pii(text, strict=True)`` cannot find anything: every kind it finds
    holds an "@" (an email) or at least 8 digits, so at least 8 characters (phone numbers
    11, or "+" and 8; card numbers 13; ID numbers 18)."""
    return len(text) >= 8 or "@" in text


def _check_identifier(value: str, field: str) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= ID_CHARS_MAX:
        raise ValidationError(f"must be a string of 1..{ID_CHARS_MAX} characters", field=field)
    found = find_pii(value, strict=True) if _may_hold_pii(value) else None
    if found:
        raise ValidationError(
            f"looks like a plaintext {found[0].kind}; reference people by their internal id",
            field=field)


def _check_payload(value: Any, path: str, depth: int) -> None:
    if depth > PAYLOAD_DEPTH_MAX:
        raise ValidationError(f"nested deeper than {PAYLOAD_DEPTH_MAX} levels", field=path)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError("payload keys must be strings", field=f"{path}.{key!r}")
            child = f"{path}.{key}"
            pii_kind, free_text, pii_hint = _key_checks(key)
            if pii_kind is not None:
                raise ValidationError(
                    f"contains what looks like a plaintext {pii_kind}; audit payloads must "
                    "hold ids, blind indexes or masked values, never personal data",
                    field=child)
            if free_text:
                _require_code(item, child)
            if isinstance(item, int | float) and not isinstance(item, bool) and pii_hint:
                _reject_pii_text(str(item), child)
            _check_payload(item, child, depth + 1)
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            _check_payload(item, f"{path}[{position}]", depth + 1)
    elif isinstance(value, str):
        _reject_pii_text(value, path)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError("must be a finite number", field=path)
    elif value is not None and not isinstance(value, bool | int):
        raise ValidationError(f"{type(value).__name__} is not JSON; use str/int/list/dict",
                              field=path)


def _payload_ok(value: Any, depth: int) -> bool:
    """True only if :func:`_check_payload` would accept ``value``: the same checks on plain
    dicts, lists, tuples and scalars, without building a path per key. Anything it is not
    sure of (an error, a subclass, another Mapping) returns False, and the caller runs
    :func:`_check_payload`, which decides and names the field."""
    kind = type(value)
    if kind is dict:
        if value and depth >= PAYLOAD_DEPTH_MAX:
            return False
        for key, item in value.items():
            if type(key) is not str:
                return False
            pii_kind, free_text, pii_hint = _key_checks(key)
            if pii_kind is not None or (free_text and not _is_code(item)):
                return False
            item_kind = type(item)
            if item_kind is str:
                if _may_hold_pii(item) and find_pii(item, strict=True):
                    return False
            elif item_kind is int:
                if pii_hint and find_pii(str(item), strict=True):
                    return False
            elif item_kind is float:
                if not math.isfinite(item) or (pii_hint and find_pii(str(item), strict=True)):
                    return False
            elif item is not None and item_kind is not bool and not _payload_ok(item,
                                                                                depth + 1):
                return False
        return True
    if kind is list or kind is tuple:
        if value and depth >= PAYLOAD_DEPTH_MAX:
            return False
        return all(_payload_ok(item, depth + 1) for item in value)
    if kind is str:
        return not (_may_hold_pii(value) and find_pii(value, strict=True))
    if kind is float:
        return math.isfinite(value)
    return value is None or kind is int or kind is bool


def _is_code(value: Any) -> bool:
    """True only if :func:`_require_code` accepts ``value``."""
    kind = type(value)
    if kind is str:
        return FREE_TEXT_CODE.fullmatch(value) is not None
    if kind is list or kind is tuple:
        return all(item is None or type(item) in (bool, int)
                   or (type(item) is str and FREE_TEXT_CODE.fullmatch(item) is not None)
                   for item in value)
    return value is None or kind is bool or kind is int


# Pure memo (kept): a function of the key's text only. Payloads reuse a few hundred key
# names ("amount_minor", "reason", ...) in every record; the three scans of each key
# (personal data, free-text name, personal-data hint) were a third of an append.
@lru_cache(maxsize=4096)
def _key_checks(key: str) -> tuple[str | None, bool, bool]:
    """(the kind of personal data ``key`` looks like or None, whether it names free text,
    whether it hints at personal data: numbers under it are scanned too)."""
    found = find_pii(key, strict=True)
    return (found[0].kind if found else None, bool(_FREE_TEXT_KEY.fullmatch(key)),
            bool(_PII_KEY_HINT.search(key)))


def _require_code(value: Any, path: str) -> None:
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if item is None or isinstance(item, bool | int):
            continue
        if not isinstance(item, str) or not FREE_TEXT_CODE.fullmatch(item):
            raise ValidationError(
                "free text is not allowed here: the audit chain cannot forget it; use a code "
                "(lower-case letters, digits, _.:- up to 64 characters) and keep the words in "
                "a vaulted note (compliance.notes), referenced by its note_id", field=path)


def _reject_pii_text(text: str, path: str) -> None:
    # Numbers are only inspected under keys that name personal data (see _check_payload):
    # amounts in minor units and epoch-millisecond times would otherwise be mistaken for
    # phone or card numbers.
    found = find_pii(text, strict=True) if _may_hold_pii(text) else None
    if found:
        raise ValidationError(
            f"contains what looks like a plaintext {found[0].kind}; audit payloads must hold "
            "ids, blind indexes or masked values, never personal data", field=path)


def append(tx: Tx, actor_type: str, actor_id: str, action: str, subject_type: str,
           subject_id: str, payload: dict[str, Any]) -> None:
    """Insert an audit record in the caller's transaction (queued: written with the
    transaction's other records in one statement just before it commits, so it exists if
    and only if the transaction commits; its id is given then).

    ``recorded_at`` is the transaction's business time. The record joins the hash chain at the
    next :func:`seal`. Raises ValidationError naming the offending field or payload key when
    an argument is malformed, a value looks like a phone, ID, card number or email, or a key
    that names free text (``reason``, ``note``, ``purpose``, ``legal_name``, ...) holds
    anything but a code (:data:`FREE_TEXT_CODE`), a number, a boolean or null.
    """
    if actor_type not in ACTOR_TYPES:
        raise ValidationError(f"must be one of {sorted(ACTOR_TYPES)}", field="actor_type")
    _check_identifier(actor_id, "actor_id")
    _check_slug(action, "action")
    _check_slug(subject_type, "subject_type")
    _check_identifier(subject_id, "subject_id")
    if not isinstance(payload, Mapping):
        raise ValidationError("must be a JSON object", field="payload")
    # The usual case in one encoding: the stored text (the canonical JSON's round trip as
    # the column's bind encodes it) is ASCII and never shorter than the canonical UTF-8
    # (the same keys, order and numbers, plus spaces and \u escapes), so within the size
    # limit it proves the canonical form is too; it also encodes when the canonical form
    # cannot (NaN, infinity: _payload_ok refuses those; a lone surrogate: its escape
    # starts with "\ud", sent to the full path with astral characters' pairs). Anything
    # else takes the full path below, which decides and raises exactly as before.
    try:
        text: str | None = _STORED.encode(payload)
    except (TypeError, ValueError):
        text = None
    if text is not None and len(text) <= PAYLOAD_BYTES_MAX and "\\ud" not in text \
            and _payload_ok(payload, 0):
        stored: Any = JsonText(text)
    else:
        try:
            encoded = canonical_json(payload)
        except (TypeError, ValueError):
            encoded = b""  # not JSON: _check_payload names the offending key below
        if len(encoded) > PAYLOAD_BYTES_MAX:  # size first: bounds the cost of the PII scan
            raise ValidationError(f"must be at most {PAYLOAD_BYTES_MAX} bytes as JSON",
                                  field="payload")
        if not encoded or not _payload_ok(payload, 0):
            _check_payload(payload, "payload", 0)  # the authority: raises naming the field
        if encoded:
            # The canonical JSON's round trip, encoded as the column's bind would: the same
            # text as json.dumps(json.loads(encoded)) without decoding and encoding again.
            stored = JsonText(text if text is not None else _STORED.encode(payload))
        else:
            stored = json.loads(encoded)  # not reached for a valid payload; raises as before
    # Queued, not executed: a checkout appends three records, and one executemany at commit
    # costs what one insert does (Tx.queue_insert).
    tx.queue_insert(audit_records, {
        "recorded_at": _as_utc(tx.now),
        "actor_type": actor_type,
        "actor_id": actor_id,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        # Stored as its JSON round trip (tuples become lists) so the hash computed at seal
        # time equals what any later reader decodes.
        "payload": stored,
    })


def record_personal_data_access(tx: Tx, staff_id: str, subject_type: str, subject_id: str,
                                fields: list[str], purpose: str, *,
                                note_id: str | None = None) -> None:
    """Audit that a staff member read personal data fields of one subject, and why.

    ``purpose`` is a code of :class:`creditpay.platform.purposes.AccessPurpose`; anything
    else (free text could name a person, and the chain can never forget it) is refused with
    ValidationError naming ``purpose``. A justification in words is stored with
    :class:`creditpay.platform.notes.Notes` and referenced here by ``note_id``.
    """
    purpose = check_purpose(purpose)
    if not isinstance(fields, list | tuple) or not fields or not all(
            isinstance(name, str) and _SLUG.fullmatch(name) for name in fields):
        raise ValidationError("name at least one field, as lower-case names like 'phone'",
                              field="fields")
    payload: dict[str, Any] = {"fields": sorted(fields), "purpose": purpose}
    if note_id is not None:
        if not isinstance(note_id, str) or not _NOTE_ID.fullmatch(note_id):
            raise ValidationError("must be a note reference note_<24 hex>", field="note_id")
        payload["note_id"] = note_id
    append(tx, "staff", staff_id, "personal_data.read", subject_type, subject_id, payload)


# ----- seal ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SealResult:
    """What one :func:`seal` call did; ``checkpoint`` is the document it wrote to the store
    (None: no checkpointer, or the head had not moved past the latest checkpoint)."""

    records_sealed: int
    last_chain_index: int  # -1 while the chain is empty
    head_hash: str
    checkpoint: dict[str, Any] | None = None


def _ensure_head(engine: Engine) -> None:
    # Outside the seal transaction: on PostgreSQL two first-ever sealers would both miss the
    # row and one insert would fail; the loser just carries on and locks the winner's row.
    with engine.connect().execution_options(read_only=True) as conn:
        exists = conn.execute(select(audit_chain_head.c.id)).first()
    if exists is None:
        try:
            with engine.begin() as conn:
                conn.execute(audit_chain_head.insert().values(
                    id=HEAD_ROW_ID, last_chain_index=-1, last_record_id=None,
                    head_hash=GENESIS_HASH, sealed_at=None))
        except IntegrityError:
            pass


_HEAD_SQL = "SELECT last_chain_index, head_hash FROM audit_chain_head WHERE id = ?"
_UNSEALED_SQL = (f"SELECT {_RECORD_COLUMNS} FROM audit_records"  # nosec B608 - constants
                 " WHERE chain_index IS NULL ORDER BY id LIMIT ?")
_SEAL_SQL = ("UPDATE audit_records SET chain_index = ?, prev_hash = ?, hash = ?, sealed_at = ?"
             " WHERE id = ? AND chain_index IS NULL")
_MOVE_HEAD_SQL = ("UPDATE audit_chain_head SET last_chain_index = ?, last_record_id = ?,"
                  " head_hash = ?, sealed_at = ? WHERE id = ?")


def _seal_batch(tx: Tx, batch_max: int) -> tuple[int, int, str]:
    rows_io = _DriverRows(tx.conn)
    head_sql = _HEAD_SQL + ("" if rows_io.sqlite else " FOR UPDATE")
    heads = rows_io.fetch(head_sql, (HEAD_ROW_ID,))
    if not heads:  # _ensure_head made it: raise what reading it through SQLAlchemy raises
        tx.conn.execute(select(audit_chain_head).where(
            audit_chain_head.c.id == HEAD_ROW_ID)).one()
    index, prev_hash = heads[0]
    rows = rows_io.fetch(_UNSEALED_SQL, (batch_max,))
    if not rows:
        return 0, index, prev_hash
    sealed_at = _as_utc(tx.now)
    sealed_text = _utc_text(sealed_at)
    sealed_param = rows_io.bind_time(sealed_at) if rows_io.bind_time else sealed_at
    time_text, payload = rows_io.time_text, rows_io.payload
    updates = []
    for (record_id, recorded_at, actor_type, actor_id, action, subject_type, subject_id,
         stored_payload) in rows:
        index += 1
        record_digest = _digest(prev_hash, index, record_id, time_text(recorded_at),
                                sealed_text, actor_type, actor_id, action, subject_type,
                                subject_id, payload(stored_payload))
        updates.append((index, prev_hash, record_digest, sealed_param, record_id))
        prev_hash = record_digest
    cursor = rows_io.driver.cursor()
    try:
        cursor.executemany(_SEAL_SQL.replace("?", rows_io.mark), updates)
        if cursor.rowcount != len(updates):
            # Someone sealed behind the head lock's back: abort rather than fork the chain.
            raise StateError(f"sealed {cursor.rowcount} of {len(updates)} audit records")
        cursor.execute(_MOVE_HEAD_SQL.replace("?", rows_io.mark),
                       (index, rows[-1][0], prev_hash, sealed_param, HEAD_ROW_ID))
    finally:
        cursor.close()
    return len(rows), index, prev_hash


def seal(uow: UnitOfWork, checkpointer: AuditCheckpointer | None, *,
         batch_max: int = SEAL_BATCH_MAX) -> SealResult:
    """Chain every record appended (and committed) before the call, then checkpoint the head.

    Each batch of at most ``batch_max`` records is one short transaction holding the chain-head
    lock, so concurrent sealers take turns and every record is sealed exactly once. With a
    ``checkpointer`` (every production sealer passes one; there is deliberately no default),
    :func:`write_checkpoint` then signs the head and writes it to the store outside the
    database whenever the head is past the store's latest checkpoint: this also catches up a
    checkpoint an earlier seal failed to write. It raises (after the records are sealed)
    :class:`AuditChainBrokenError` when the chain no longer extends the latest checkpoint and
    :class:`CheckpointStoreError` when the store cannot be written: a seal never passes
    silently without its checkpoint. ``None`` seals only (tests, benchmarks, and jobs that a
    checkpointing seal follows).
    """
    if not 1 <= batch_max <= 100_000:
        raise ValidationError("must be 1..100000", field="batch_max")
    _ensure_head(uow.engine)
    total = 0
    index, head_hash = -1, GENESIS_HASH
    for _ in range(SEAL_BATCHES_MAX):
        count, index, head_hash = uow.run(lambda tx: _seal_batch(tx, batch_max))
        total += count
        if count < batch_max:
            break
    doc = write_checkpoint(uow.engine, checkpointer) if checkpointer is not None else None
    return SealResult(total, index, head_hash, doc)


def unsealed_count(conn: Connection) -> int:
    """Records appended but not yet protected by the chain."""
    return int(conn.execute(select(func.count()).select_from(audit_records)
                            .where(audit_records.c.chain_index.is_(None))).scalar_one())


def sealed_count(conn: Connection) -> int:
    """Records in the chain (sealed), whatever the head row says."""
    return int(conn.execute(select(func.count()).select_from(audit_records)
                            .where(audit_records.c.chain_index.is_not(None))).scalar_one())


# ----- verify -------------------------------------------------------------------------------
@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a chain walk. ``first_broken_index``/``_id`` name where it first fails;
    ``checkpoint_index`` is the highest checkpoint the chain was checked against."""

    ok: bool
    records_checked: int
    first_broken_index: int | None = None
    reason: str | None = None
    first_broken_id: int | None = None
    head_index: int = -1
    head_hash: str = GENESIS_HASH
    unsealed: int = 0
    checkpoint_index: int | None = None

    def describe(self) -> str:
        """One line for operators."""
        if self.ok:
            against = "" if self.checkpoint_index is None else \
                f", consistent with the checkpoint of chain_index {self.checkpoint_index}"
            return (f"audit chain intact: {self.records_checked} records, head index "
                    f"{self.head_index}, head hash {self.head_hash}, {self.unsealed} unsealed"
                    f"{against}")
        where = f"chain_index {self.first_broken_index}"
        if self.first_broken_id is not None:
            where += f" (record id {self.first_broken_id})"
        return f"audit chain BROKEN at {where}: {self.reason}"


_PAGE_SQL = (f"SELECT chain_index, prev_hash, hash, {_RECORD_COLUMNS}, sealed_at"  # nosec B608
             " FROM audit_records WHERE chain_index > ? ORDER BY chain_index LIMIT ?")
_PAGE_UP_TO_SQL = (f"SELECT chain_index, prev_hash, hash, {_RECORD_COLUMNS},"  # nosec B608
                   " sealed_at FROM audit_records WHERE chain_index > ? AND chain_index <= ?"
                   " ORDER BY chain_index LIMIT ?")


def _sealed_rows(conn: Connection, after_index: int, up_to_index: int | None,
                 page_size: int) -> Iterator[tuple[int, int, str, str, str]]:
    """(chain_index, id, prev_hash, hash, the hash recomputed from the record's content
    with its own prev_hash) of every sealed record after ``after_index``, in chain order."""
    # Keyset pagination: bounded memory for a chain of any length.
    rows_io = _DriverRows(conn)
    time_text, payload = rows_io.time_text, rows_io.payload
    after = after_index
    while True:
        if up_to_index is None:
            page = rows_io.fetch(_PAGE_SQL, (after, page_size))
        else:
            page = rows_io.fetch(_PAGE_UP_TO_SQL, (after, up_to_index, page_size))
        for (chain_index, prev_hash, stored_hash, record_id, recorded_at, actor_type,
             actor_id, action, subject_type, subject_id, stored_payload, sealed_at) in page:
            yield (chain_index, record_id, prev_hash, stored_hash,
                   _digest(prev_hash, chain_index, record_id, time_text(recorded_at),
                           time_text(sealed_at), actor_type, actor_id, action,
                           subject_type, subject_id, payload(stored_payload)))
        if len(page) < page_size:
            return
        after = page[-1][0]


def _anchor(doc: Mapping[str, Any]) -> tuple[int, str]:
    try:
        index, head_hash = int(doc["chain_index"]), str(doc["head_hash"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"malformed checkpoint: {exc}", field="checkpoint") from exc
    return index, head_hash


def _unreached(last_index: int, anchor_index: int) -> str:
    seen = "the chain is empty" if last_index < 0 else \
        f"the chain ends at chain_index {last_index}"
    cut = "chain emptied and head reset" if last_index < 0 else \
        "tail deleted and head moved back"
    return (f"{seen}, but a signed checkpoint shows records up to chain_index "
            f"{anchor_index} were sealed ({cut}?)")


def verify(conn: Connection, *, up_to_index: int | None = None,
           page_size: int = VERIFY_PAGE_SIZE,
           checkpoints: Sequence[Mapping[str, Any]] = (),
           after: Mapping[str, Any] | None = None) -> VerifyResult:
    """Walk the chain in ``chain_index`` order, recomputing every hash and link.

    Detects edited content (hash mismatch), deleted records (a gap in ``chain_index`` or a
    ``prev_hash`` that does not link), reordered records, and a head that does not match the
    last record. ``up_to_index`` checks only a prefix and skips the head comparison.

    ``checkpoints`` are checkpoint documents whose signatures the caller has checked
    (:func:`checkpoint_problem`): the chain must reach each one's ``chain_index`` and the
    record there must carry its ``head_hash``. This is what catches a clean cut (tail deleted
    and head moved back, or the chain emptied and the head reset) and a tail deleted and then
    re-grown past the checkpoint by new seals. ``after`` is a checked checkpoint to start
    from: records before it are not walked again (the record at its index is checked), which
    makes checking a seal cost what the seal cost. Run it on a snapshot
    (:func:`snapshot_connection`) so a concurrent seal does not look like tampering.
    """
    head = conn.execute(select(audit_chain_head).where(
        audit_chain_head.c.id == HEAD_ROW_ID)).one_or_none()
    unsealed = unsealed_count(conn)
    anchors: dict[int, str] = {}
    for doc in checkpoints:
        index, head_hash = _anchor(doc)
        if index >= 0 and (up_to_index is None or index <= up_to_index):
            if anchors.setdefault(index, head_hash) != head_hash:
                return VerifyResult(False, 0, index, "two checkpoints sign different hashes "
                                    "for one chain_index (forked history)")
    top_anchor = max(anchors) if anchors else None
    expected_index, prev_hash, checked = 0, GENESIS_HASH, 0
    last_id: int | None = None

    def broken(index: int, record_id: int | None, reason: str) -> VerifyResult:
        return VerifyResult(False, checked, index, reason, record_id,
                            head.last_chain_index if head else -1,
                            head.head_hash if head else GENESIS_HASH, unsealed)

    if after is not None:
        start_index, start_hash = _anchor(after)
        if start_index >= 0:
            row = conn.execute(select(audit_records).where(
                audit_records.c.chain_index == start_index)).mappings().one_or_none()
            if row is None:
                last = conn.execute(select(func.max(audit_records.c.chain_index))).scalar()
                last = -1 if last is None else int(last)
                if last < start_index:
                    return broken(last + 1, None, _unreached(last, start_index))
                return broken(start_index, None, "the record of the latest checkpoint is "
                              "missing (deleted?)")
            if row["hash"] != start_hash:
                return broken(start_index, row["id"], "record does not carry the hash of the "
                              "latest checkpoint (history rewritten after the checkpoint)")
            if record_hash(row["prev_hash"], row) != row["hash"]:
                return broken(start_index, row["id"],
                              "content does not match its hash (record edited)")
            expected_index, prev_hash, last_id = start_index + 1, start_hash, row["id"]

    for index, record_id, row_prev_hash, row_hash, content_hash in _sealed_rows(
            conn, expected_index - 1, up_to_index, page_size):
        if index != expected_index:
            if index < expected_index:
                return broken(index, record_id, "chain_index out of order or duplicated")
            return broken(expected_index, record_id,
                          f"record(s) at chain_index {expected_index}..{index - 1} missing "
                          f"(deleted?); next sealed record is index {index}")
        if row_prev_hash != prev_hash:
            return broken(index, record_id,
                          "prev_hash does not link to the previous record "
                          "(record deleted, inserted or reordered)")
        # Hashed with the record's own prev_hash, equal to prev_hash here (checked above).
        if content_hash != row_hash:
            return broken(index, record_id,
                          "content does not match its hash (record edited or reordered)")
        if index in anchors and anchors[index] != row_hash:
            return broken(index, record_id, "record does not carry the checkpointed hash "
                          "(history rewritten and re-hashed after the checkpoint)")
        prev_hash, last_id = row_hash, record_id
        expected_index += 1
        checked += 1

    if top_anchor is not None and expected_index <= top_anchor:
        return broken(expected_index, None, _unreached(expected_index - 1, top_anchor))
    if up_to_index is not None:
        if expected_index <= up_to_index:
            return broken(expected_index, None,
                          f"chain ends at index {expected_index - 1}, before {up_to_index}")
        return VerifyResult(True, checked, None, None, None, up_to_index, prev_hash, unsealed,
                            top_anchor)
    if head is None:
        if expected_index:
            return broken(0, None, "chain head row is missing but sealed records exist")
        return VerifyResult(True, 0, unsealed=unsealed)
    if head.last_chain_index != expected_index - 1:
        if head.last_chain_index > expected_index - 1:
            return broken(expected_index, None,
                          f"head says the chain ends at index {head.last_chain_index} but the "
                          f"last record is index {expected_index - 1} (tail deleted?)")
        return broken(head.last_chain_index + 1, None,
                      f"records beyond the head index {head.last_chain_index} "
                      "(forged records or head rolled back)")
    if head.head_hash != prev_hash or (expected_index and head.last_record_id != last_id):
        return broken(expected_index - 1, last_id,
                      "head hash or record id does not match the last record (head edited)")
    return VerifyResult(True, checked, None, None, None, head.last_chain_index,
                        head.head_hash, unsealed, top_anchor)


def verify_database(engine: Engine, *,
                    checkpoints: Sequence[Mapping[str, Any]] = ()) -> VerifyResult:
    """:func:`verify` on one consistent snapshot of ``engine``'s database."""
    with snapshot_connection(engine) as conn:
        return verify(conn, checkpoints=checkpoints)


@contextmanager
def snapshot_connection(engine: Engine) -> Iterator[Connection]:
    """A read-only connection whose reads all see one snapshot; always rolled back."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # REPEATABLE READ: the head and every page come from the same snapshot.
            conn = conn.execution_options(isolation_level="REPEATABLE READ",
                                          postgresql_readonly=True)
        else:
            # On SQLite the engine's read_only path issues a deferred BEGIN: a WAL snapshot
            # that never blocks writers.
            conn = conn.execution_options(read_only=True)
        with conn.begin() as transaction:
            try:
                yield conn
            finally:
                transaction.rollback()


# ----- checkpoints --------------------------------------------------------------------------
def _checkpoint_body(checkpoint_doc: Mapping[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in checkpoint_doc.items() if k != "signature"})


def _signed_head(head: Any, signing_key: Ed25519PrivateKey) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": CHECKPOINT_FORMAT_VERSION,
        "chain_index": head.last_chain_index if head else -1,
        "head_hash": head.head_hash if head else GENESIS_HASH,
        "record_id": head.last_record_id if head else None,
        "sealed_at": _utc_text(head.sealed_at) if head and head.sealed_at else None,
        "public_key": ed25519_public_key_hex(signing_key),
    }
    doc["signature"] = base64.b64encode(signing_key.sign(_checkpoint_body(doc))).decode("ascii")
    return doc


def checkpoint(conn: Connection, signing_key: Ed25519PrivateKey) -> dict[str, Any]:
    """A signed statement of the current head, after verifying the whole chain.

    Returns ``{version, chain_index, head_hash, record_id, sealed_at, public_key, signature}``;
    the Ed25519 signature covers the canonical JSON of every other field. Refuses (StateError)
    to sign a chain that does not verify. Sealers use :func:`write_checkpoint`, which also
    stores it and checks the chain still extends the latest stored checkpoint.
    """
    result = verify(conn)
    if not result.ok:
        raise StateError("refusing to sign a broken chain: " + result.describe())
    head = conn.execute(select(audit_chain_head).where(
        audit_chain_head.c.id == HEAD_ROW_ID)).one_or_none()
    return _signed_head(head, signing_key)


def checkpoint_problem(checkpoint_doc: Mapping[str, Any],
                       trusted_public_keys: Collection[str]) -> str | None:
    """Why a checkpoint cannot be relied on (untrusted key, bad signature), None if it can.

    Only a key in ``trusted_public_keys`` (hex) counts: a checkpoint signed by any other key,
    however valid its signature, proves nothing about this platform's chain. Raises
    ValidationError (field ``checkpoint``) for a malformed document.
    """
    try:
        public_hex = str(checkpoint_doc["public_key"])
        signature = base64.b64decode(str(checkpoint_doc["signature"]), validate=True)
        int(checkpoint_doc["chain_index"])
        str(checkpoint_doc["head_hash"])
        public_key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
    except (KeyError, ValueError, TypeError) as exc:
        raise ValidationError(f"malformed checkpoint: {exc}", field="checkpoint") from exc
    if public_hex not in trusted_public_keys:
        return "checkpoint signed by an untrusted key"
    try:
        public_key.verify(signature, _checkpoint_body(checkpoint_doc))
    except InvalidSignature:
        return "checkpoint signature is invalid (edited?)"
    return None


def verify_checkpoint(checkpoint_doc: Mapping[str, Any], conn: Connection, *,
                      trusted_public_keys: Collection[str]) -> VerifyResult:
    """Check a past checkpoint's signature and that it is still a prefix of the chain.

    ``trusted_public_keys`` (hex) are the keys you published (the platform's own audit key
    and earlier ones); a checkpoint signed by any other key is refused. There is no default:
    trusting the key embedded in the checkpoint would let anyone sign a forged history.
    """
    problem = checkpoint_problem(checkpoint_doc, trusted_public_keys)
    index, _ = _anchor(checkpoint_doc)
    if problem is not None:
        return VerifyResult(False, 0, index, problem)
    if index < 0:
        return VerifyResult(True, 0, None, None, None, -1, GENESIS_HASH)
    return verify(conn, up_to_index=index, checkpoints=[checkpoint_doc])


def verify_against_store(conn: Connection, store: CheckpointStore, *,
                         trusted_public_keys: Collection[str],
                         extra_checkpoints: Sequence[Mapping[str, Any]] = ()) -> VerifyResult:
    """:func:`verify` the whole chain against the store's latest checkpoint (and
    ``extra_checkpoints``, e.g. files kept elsewhere): what ``creditpay audit verify`` does.

    A checkpoint signed by a key outside ``trusted_public_keys`` fails the result
    ("checkpoint signed by an untrusted key"). A store without any checkpoint while the chain
    has sealed records raises CheckpointStoreError: without a checkpoint a cut tail cannot be
    ruled out, and passing would hide exactly that attack behind a misconfigured path.
    """
    latest = store.latest()
    docs = ([latest] if latest is not None else []) + list(extra_checkpoints)
    for doc in docs:
        problem = checkpoint_problem(doc, trusted_public_keys)
        if problem is not None:
            return VerifyResult(False, 0, _anchor(doc)[0], problem)
    result = verify(conn, checkpoints=docs)
    if result.ok and latest is None and sealed_count(conn):
        state = "is empty" if store.exists() else "does not exist"
        raise CheckpointStoreError(
            f"checkpoint store {store.location} {state} but the chain has "
            f"{result.records_checked} sealed records: a deleted tail cannot be ruled out "
            "(point the store setting at the right place, or write one with "
            "'creditpay audit checkpoint')")
    return result


def write_checkpoint(engine: Engine, checkpointer: AuditCheckpointer) -> dict[str, Any] | None:
    """Sign the current head and put it in the store, if it is past the latest checkpoint.

    First checks, on one snapshot, that the chain still extends the latest stored checkpoint
    (its record is there with its hash, and every record after it verifies: the cost of what
    was sealed since), or the whole chain when there is no checkpoint yet; refuses with
    :class:`AuditChainBrokenError` otherwise, so a platform key never signs a cut or rewritten
    chain. Returns the document written, None when the head is the latest checkpoint's (or
    the chain is empty).
    """
    # The store is read before the snapshot is taken: a checkpoint written by a concurrent
    # sealer after our snapshot would otherwise look like a head moved back.
    latest = checkpointer.store.latest()
    with snapshot_connection(engine) as conn:
        if latest is not None:
            problem = checkpoint_problem(latest, checkpointer.trusted_keys())
            if problem is not None:
                raise AuditChainBrokenError(
                    f"latest checkpoint in {checkpointer.store.location}: {problem}")
        result = verify(conn, after=latest)
        if not result.ok:
            raise AuditChainBrokenError("refusing to sign the audit chain head: "
                                        + result.describe())
        head = conn.execute(select(audit_chain_head).where(
            audit_chain_head.c.id == HEAD_ROW_ID)).one_or_none()
        if head is None or head.last_chain_index < 0 or (
                latest is not None and head.last_chain_index == _anchor(latest)[0]):
            return None
        doc = _signed_head(head, checkpointer.signing_key)
    checkpointer.store.put(doc)
    return doc
