"""The fraud features' state rows in the database (``fraud_entity_state``, issue #19).

Screening one payment (:func:`fold_event`), in the payment's own transaction:

1. one SELECT reads the rows of the event's entities (customer, device, card, merchant,
   terminal), ``FOR UPDATE`` on PostgreSQL, in key order (so two transactions lock shared
   rows in the same order and cannot deadlock on them); an entity never seen gets an empty
   row first (``INSERT ... ON CONFLICT DO NOTHING``: a row this transaction inserted is its
   own until it commits, so it is not read back; one another transaction inserted first is
   read and locked the same way), so a concurrent first screening of the same entity waits
   for this one instead of both starting from nothing;
2. the features and the new rows are computed purely
   (:class:`~creditpay.risk.fraud.entity_state.EntityStateEngine`);
3. the rows are written back (``version`` + 1, checked against the version read).

The rows therefore commit with the payment and its ``fraud_screenings`` record, or not at
all: after a crash the state is exactly the committed screenings', nothing to replay. On
SQLite, writers are serialised by the database (and a stale read fails the write, which the
unit of work retries). A concurrent screening of the same entity on PostgreSQL waits for
the first transaction's commit. The merchant's and terminal's rows, which many customers
share, are read unlocked and written as the transaction's last step (:data:`SHARED_KINDS`,
``Tx.before_commit``), so a busy merchant's row is locked for the commit only. On SQLite,
which locks no rows, the payment's own rows and the shared rows' first read in a
transaction are one SELECT; on PostgreSQL, one statement too (the own rows' locking SELECT
as a WITH query, then the shared rows' unlocked read).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, select

from creditpay.db.engine import driver_connection
from creditpay.db.metadata import column_bind
from creditpay.db.uow import Tx, insert_new
from creditpay.errors import ConflictError
from creditpay.risk.fraud.entity_state import KIND_CODES, EntityKey, EntityStateEngine
from creditpay.risk.fraud.features import ENTITY_KINDS, FraudLabel, PaymentEvent, stable_id_hash
from creditpay.risk.fraud.tables import fraud_entity_state as t

__all__ = ["fold_event", "fold_label", "read_rows", "lock_rows", "write_rows", "insert_rows",
           "state_sizes"]

Loaded = dict[EntityKey, tuple[bytes, int]]  # key -> (state, version)


# Pure memo (kept): the 63-bit hash of an entity id, a function of the id only (blake2b
# per id was ~10 us a screening's keys, computed again when the rows are written).
_entity_hash = functools.lru_cache(maxsize=65_536)(stable_id_hash)


def _codes(keys: Iterable[EntityKey]) -> dict[tuple[int, int], EntityKey]:
    return {(_entity_hash(entity), KIND_CODES[kind]): (kind, entity) for kind, entity in keys}


def _select(conn: Connection, features_version: str, codes: Mapping[tuple[int, int], EntityKey],
            lock: bool) -> Loaded:
    hashes = sorted({h for h, _ in codes})
    dialect = conn.dialect
    cursor = driver_connection(conn).cursor()
    try:
        cursor.execute(_select_sql(dialect.paramstyle, dialect.name, len(hashes), lock),
                       (features_version, *hashes))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    out: Loaded = {}
    for entity_hash, kind, state, version in rows:
        key = codes.get((entity_hash, kind))
        if key is not None:
            out[key] = (bytes(state), version)
    return out


@functools.lru_cache(maxsize=64)
def _select_sql(paramstyle: str, dialect: str, n_hashes: int, lock: bool) -> str:
    """The rows' SELECT as driver SQL: it runs once per payment, so it skips SQLAlchemy's
    per-statement machinery (as the unit of work's own hot inserts do); same columns and
    order as a Core select would read."""
    mark = "?" if paramstyle == "qmark" else "%s"
    sql = (f"SELECT entity_hash, kind, state, version FROM {t.name}"  # nosec B608
           f" WHERE features_version = {mark}"
           f" AND entity_hash IN ({', '.join([mark] * n_hashes)})"
           " ORDER BY entity_hash, kind")
    return sql + " FOR UPDATE" if lock and dialect == "postgresql" else sql


def _select_locked_and_unlocked(conn: Connection, features_version: str,
                                locked: Mapping[tuple[int, int], EntityKey],
                                unlocked: Mapping[tuple[int, int], EntityKey]
                                ) -> tuple[Loaded, Loaded]:
    """PostgreSQL: the rows of ``locked`` read FOR UPDATE (in key order) and those of
    ``unlocked`` read as committed, in one round trip; each part's rows are told apart by
    the part they came from (a hash can be in both parts, with other kinds)."""
    locked_hashes = sorted({h for h, _ in locked})
    unlocked_hashes = sorted({h for h, _ in unlocked})
    cursor = driver_connection(conn).cursor()
    try:
        cursor.execute(_locked_and_unlocked_sql(len(locked_hashes), len(unlocked_hashes)),
                       (features_version, *locked_hashes, features_version,
                        *unlocked_hashes))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    parts: tuple[Loaded, Loaded] = ({}, {})
    for part, entity_hash, kind, state, version in rows:
        key = (locked, unlocked)[part].get((entity_hash, kind))
        if key is not None:
            parts[part][key] = (bytes(state), version)
    return parts


@functools.lru_cache(maxsize=64)
def _locked_and_unlocked_sql(n_locked: int, n_unlocked: int) -> str:
    """The locking SELECT of :func:`_select_sql` as a WITH query (PostgreSQL runs it to
    completion, locking in key order as the plain statement does), its rows followed by
    the unlocked read's, each tagged with its part (0 locked, 1 unlocked)."""
    columns = "entity_hash, kind, state, version"
    locked = _select_sql("format", "postgresql", n_locked, True)
    unlocked = _select_sql("format", "postgresql", n_unlocked, False)
    return (f"WITH l AS ({locked}) SELECT 0, {columns} FROM l UNION ALL"
            f" SELECT 1, {columns} FROM ({unlocked}) AS u")


@functools.lru_cache(maxsize=4)
def _update_sql(paramstyle: str) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    return (f"UPDATE {t.name} SET state = {mark}, version = {mark}, updated_at = {mark}"  # nosec
            f" WHERE features_version = {mark} AND entity_hash = {mark} AND kind = {mark}"
            f" AND version = {mark}")


def read_rows(conn: Connection, features_version: str, keys: Iterable[EntityKey]
              ) -> dict[EntityKey, bytes]:
    """The current rows of ``keys`` (absent: never seen), without locking."""
    loaded = _select(conn, features_version, _codes(keys), lock=False)
    return {key: state for key, (state, _) in loaded.items() if state}


def lock_rows(tx: Tx, features_version: str, keys: Iterable[EntityKey]) -> Loaded:
    """The rows of ``keys``, locked until ``tx`` ends (PostgreSQL); an entity never seen
    gets an empty row (state b"", version 0) so it is locked too."""
    codes = _codes(keys)
    return _with_empty_rows(tx, features_version, codes,
                            _select(tx.conn, features_version, codes, lock=True))


def _with_empty_rows(tx: Tx, features_version: str, codes: Mapping[tuple[int, int], EntityKey],
                     loaded: Loaded) -> Loaded:
    """``loaded`` (the rows of ``codes`` read, locked) with an empty row inserted for each
    entity never seen (see :func:`lock_rows`)."""
    conn = tx.conn
    missing = sorted(code for code, key in codes.items() if key not in loaded)
    if missing:
        dialect = conn.dialect
        at = _updated_at_bind(dialect)(tx.now)
        cursor = driver_connection(conn).cursor()
        try:
            cursor.executemany(_insert_empty_sql(dialect.paramstyle),
                               [(features_version, h, k, b"", 0, at) for h, k in missing])
            inserted = cursor.rowcount
        finally:
            cursor.close()
        _mark_written(tx, features_version, [codes[code] for code in missing])
        if inserted == len(missing):
            # Every empty row is this transaction's own (and, on PostgreSQL, locked by its
            # insert until the commit): nothing to read back.
            loaded.update((codes[code], (b"", 0)) for code in missing)
        else:  # another transaction inserted some first: read (and lock) them as they are
            loaded.update(_select(conn, features_version,
                                  {code: codes[code] for code in missing}, lock=True))
    return loaded


@functools.lru_cache(maxsize=4)
def _insert_empty_sql(paramstyle: str) -> str:
    """An entity's empty row, doing nothing if the row exists (both stores' syntax)."""
    mark = "?" if paramstyle == "qmark" else "%s"
    return (f"INSERT INTO {t.name} (features_version, entity_hash, kind, state, version,"  # nosec
            f" updated_at) VALUES ({', '.join([mark] * 6)})"
            " ON CONFLICT (features_version, entity_hash, kind) DO NOTHING")


# Pure memo (kept): the column type's conversion for one dialect object.
@functools.lru_cache(maxsize=8)
def _updated_at_bind(dialect: Any) -> Any:
    return column_bind(t.c.updated_at, dialect)


def write_rows(tx: Tx, features_version: str, loaded: Loaded,
               new_rows: Mapping[EntityKey, bytes]) -> None:
    """Write ``new_rows`` over the rows read by :func:`lock_rows` (version checked)."""
    if not new_rows:
        return
    _mark_written(tx, features_version, new_rows)
    dialect = tx.conn.dialect
    at = _updated_at_bind(dialect)(tx.now)
    params = []
    for key, state in new_rows.items():
        kind, entity = key
        old = loaded[key][1]
        params.append((state, old + 1, at, features_version, _entity_hash(entity),
                       KIND_CODES[kind], old))
    cursor = driver_connection(tx.conn).cursor()
    try:
        cursor.executemany(_update_sql(dialect.paramstyle), params)
        changed = cursor.rowcount
    finally:
        cursor.close()
    # sqlite3 sums executemany's rows; psycopg reports them as well. A short count means a
    # row changed since it was read (cannot happen under the lock, but never overwrite).
    if changed >= 0 and changed != len(params):
        raise ConflictError("a fraud state row changed since it was read", field="fraud_state")


_WRITTEN = "fraud_state.written"


def _mark_written(tx: Tx, features_version: str, keys: Iterable[EntityKey]) -> None:
    """Note the rows this transaction inserted or changed (see _SharedWrites.commit)."""
    tx.scratch.setdefault(f"{_WRITTEN}:{features_version}", set()).update(keys)


# Entities many customers' payments share: their rows are read without a lock when the
# payment is screened and written as the transaction's last step (Tx.before_commit), so
# concurrent checkouts at one merchant queue for the commit only, not the whole checkout.
SHARED_KINDS = frozenset({"merchant", "terminal"})
_SCRATCH = "fraud_state.shared"


@dataclass
class _SharedWrites:
    """The shared rows one transaction changes: as it read them (state, version), as its
    screenings left them, and its events in order (with the other rows each one saw), to
    apply again on the rows current at commit if another transaction changed them since."""

    version: str
    engine: EntityStateEngine
    read: Loaded = field(default_factory=dict)
    rows: dict[EntityKey, bytes] = field(default_factory=dict)
    events: list[tuple[PaymentEvent, dict[EntityKey, bytes]]] = field(default_factory=list)

    def unread(self, keys: list[EntityKey]) -> list[EntityKey]:
        """Those of ``keys`` this transaction has not read yet."""
        return [key for key in keys if key not in self.read]

    def view(self, conn: Connection, keys: list[EntityKey],
             found: Loaded | None = None) -> dict[EntityKey, bytes]:
        """The rows of ``keys`` as this transaction sees them (its own screenings included);
        ``found``: the unread ones, read by the caller."""
        unread = self.unread(keys)
        if unread:
            if found is None:
                found = _select(conn, self.version, _codes(unread), lock=False)
            for key in unread:
                self.read[key] = found.get(key, (b"", 0))
                self.rows.setdefault(key, self.read[key][0])
        return {key: self.rows[key] for key in keys if self.rows[key]}

    def commit(self, tx: Tx) -> None:
        """Lock the rows (key order) and write them; where another transaction committed a
        change since they were read, apply this transaction's events to the current rows.

        On SQLite the rows are as read unless this transaction changed them itself: no
        other writer can commit between a write transaction's first statement and its
        commit (creditpay begins it IMMEDIATE; a deferred one that read a row another
        writer changed since cannot write any more, and this one wrote its own rows after
        reading these). So when this transaction wrote none of them (labels, another
        engine's screenings), they are written without being read again; an empty row
        is still inserted first for an entity that had none."""
        written = tx.scratch.get(f"{_WRITTEN}:{self.version}", ())
        if tx.conn.dialect.name == "sqlite" and not any(key in written for key in self.read):
            read = {key: row for key, row in self.read.items() if row != (b"", 0)}
            current = _with_empty_rows(tx, self.version, _codes(self.read), read)
            write_rows(tx, self.version, current, self.rows)
            return
        current = lock_rows(tx, self.version, list(self.read))
        if all(current[key][1] == self.read[key][1] for key in self.read):
            write_rows(tx, self.version, current, self.rows)
            return
        rows = {key: state for key, (state, _) in current.items()}
        for event, own in self.events:
            keys = [key for key in self.engine.event_keys(event) if key in rows]
            if not keys:
                continue
            # A payment that started first may commit second, after another at the same
            # merchant crossed into a newer window bucket: it then counts in that bucket
            # (moved by the milliseconds between the two), as the windows are time-ordered.
            latest = max(self.engine.window_last_s(key[0], rows[key]) for key in keys)
            applied = event if event.timestamp_s >= latest else replace(
                event, timestamp_s=latest)
            _, new_rows = self.engine.update(applied, {**own, **{k: rows[k] for k in keys}})
            rows.update({key: new_rows[key] for key in keys if key in new_rows})
        write_rows(tx, self.version, current, rows)


def fold_event(tx: Tx, engine: EntityStateEngine, event: PaymentEvent) -> np.ndarray:
    """Features of ``event`` from the shared state, the state updated in ``tx``.

    The customer's, device's and card's rows are locked and written now. The merchant's and
    terminal's are read as committed (plus this transaction's own screenings) and written
    just before the commit, under their lock; if another transaction changed them in
    between, this transaction's events are applied to the current rows: no update is lost,
    and a payment's screening does not wait for another customer's checkout at the same
    merchant. The price: two payments in flight at one merchant at the same moment do not
    see each other in the merchant's short windows (as if both came first); the risk
    features, which count only days before the payment's, are the same either way."""
    version = engine.config.version
    keys = engine.event_keys(event)
    own = [key for key in keys if key[0] not in SHARED_KINDS]
    shared = [key for key in keys if key[0] in SHARED_KINDS]
    writes: _SharedWrites | None = None
    if shared:
        # One set of pending writes per engine in this transaction, each committed once.
        scratch_key = f"{_SCRATCH}:{version}:{id(engine)}"
        writes = tx.scratch.get(scratch_key)
        if writes is None:
            writes = tx.scratch[scratch_key] = _SharedWrites(version, engine)
            tx.before_commit(writes.commit)
    unread = writes.unread(shared) if writes is not None else []
    found: Loaded | None = None
    if unread and tx.conn.dialect.name == "sqlite":
        # SQLite locks nothing per row (a write transaction holds the database from its
        # BEGIN IMMEDIATE): the own rows' read and the shared rows' first read are the same
        # plain SELECT in the same transaction, so they are one statement.
        own_codes = _codes(own)
        shared_codes = _codes(unread)
        found = _select(tx.conn, version, {**own_codes, **shared_codes}, lock=False)
        loaded = _with_empty_rows(tx, version, own_codes,
                                  {key: row for key, row in found.items() if key in own})
    elif unread and own:
        # PostgreSQL: the own rows locked (key order) and the shared rows' first read,
        # unlocked, in one statement (see _locked_and_unlocked_sql).
        own_codes = _codes(own)
        loaded, found = _select_locked_and_unlocked(tx.conn, version, own_codes,
                                                    _codes(unread))
        loaded = _with_empty_rows(tx, version, own_codes, loaded)
    else:
        loaded = lock_rows(tx, version, own)
    own_states = {key: state for key, (state, _) in loaded.items()}
    shared_states: dict[EntityKey, bytes] = {}
    if writes is not None:
        shared_states = writes.view(tx.conn, shared, found)
    x, new_rows = engine.update(event, {**own_states, **shared_states})
    write_rows(tx, version, loaded, {key: new_rows[key] for key in own if key in new_rows})
    if writes is not None:
        writes.rows.update({key: new_rows[key] for key in shared if key in new_rows})
        writes.events.append((event, own_states))
    return x


def fold_label(tx: Tx, engine: EntityStateEngine, label: FraudLabel) -> bool:
    """Make a confirmed label usable by the risk features; returns whether rows changed."""
    version = engine.config.version
    keys = engine.label_keys(label)
    if not keys or not label.is_fraud:
        engine.record_label(label, {})  # validates it
        return False
    loaded = lock_rows(tx, version, keys)
    changed = engine.record_label(label, {key: state for key, (state, _) in loaded.items()})
    write_rows(tx, version, loaded, changed)
    return bool(changed)


def insert_rows(tx: Tx, features_version: str, rows: Mapping[EntityKey, bytes], *,
                batch_rows: int = 10_000) -> int:
    """Insert state rows of entities not in the table yet (a state built elsewhere, e.g.
    a replay in memory: :class:`~creditpay.risk.fraud.entity_state.MemoryEntityStore`);
    returns how many were given."""
    _mark_written(tx, features_version, rows)
    statement = insert_new(tx, t, "features_version", "entity_hash", "kind")
    batch: list[dict[str, Any]] = []
    for (kind, entity), state in rows.items():
        batch.append({"features_version": features_version,
                      "entity_hash": stable_id_hash(entity), "kind": KIND_CODES[kind],
                      "state": state, "version": 1, "updated_at": tx.now})
        if len(batch) >= batch_rows:
            tx.conn.execute(statement, batch)
            batch = []
    if batch:
        tx.conn.execute(statement, batch)
    return len(rows)


def state_sizes(conn: Connection, features_version: str) -> dict[str, Any]:
    """Rows and stored state bytes per entity kind."""
    rows = conn.execute(select(t.c.kind, func.count(), func.sum(func.length(t.c.state)))
                        .where(t.c.features_version == features_version)
                        .group_by(t.c.kind)).all()
    return {ENTITY_KINDS[kind]: {"rows": int(n), "state_bytes": int(size or 0)}
            for kind, n, size in rows}
