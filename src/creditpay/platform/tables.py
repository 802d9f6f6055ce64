"""Tables owned by the platform services: vault data keys, vaulted free-text notes and the
tamper-evident audit log.

Only :mod:`creditpay.platform.vault` writes ``vault_data_keys``, only
:mod:`creditpay.platform.notes` writes ``vault_notes``, only
:mod:`creditpay.platform.audit` writes ``audit_records`` / ``audit_chain_head``, only
:mod:`creditpay.platform.approvals` writes ``approvals`` (four-eyes proposals) and only
:mod:`creditpay.platform.rate_limits` writes ``platform_rate_limits`` (the API's shared rate
limits).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from creditpay.db.metadata import BigIntPK, JSONType, UtcDateTime, metadata

__all__ = ["vault_data_keys", "vault_notes", "audit_records", "audit_chain_head",
           "approvals", "platform_rate_limits", "COMPLIANCE_TABLES"]

# Envelope encryption: each row is a random 256-bit data key, encrypted ("wrapped") by the
# master key, which never touches the database. ``active`` is TRUE for the one key new
# ciphertexts use and NULL for retired keys: a UNIQUE constraint ignores NULLs on both SQLite
# and PostgreSQL, so the database itself guarantees at most one active key, even when two
# processes create or rotate keys at the same moment.
vault_data_keys = Table(
    "vault_data_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),  # 16 random bytes, hex; in each ciphertext
    Column("wrapped_key", LargeBinary, nullable=False),  # nonce(12) || AES-GCM(data key) || tag
    Column("master_key_id", String(64), nullable=False),  # fingerprint of the wrapping master
    Column("created_at", UtcDateTime(), nullable=False),
    Column("active", Boolean, nullable=True, unique=True),
    Column("retired_at", UtcDateTime(), nullable=True),
    CheckConstraint(
        "(active IS NOT NULL AND retired_at IS NULL) OR (active IS NULL AND retired_at IS NOT NULL)",
        name="active_xor_retired",
    ),
)

# Free text a person wrote that must be kept (an analyst's case note, a justification): never
# in the audit chain, which cannot forget, but here, encrypted by the vault and referenced by
# ``id`` from the audit record. Erasure sets ``ciphertext`` to NULL and stamps ``erased_at``;
# the row stays so the reference in the chain still resolves (to "erased").
vault_notes = Table(
    "vault_notes",
    metadata,
    Column("id", String(32), primary_key=True),  # "note_" + 24 hex characters
    Column("kind", String(64), nullable=False),  # e.g. fraud_case.note
    Column("about_type", String(32), nullable=False),  # the record the note belongs to
    Column("about_id", String(128), nullable=False),
    Column("customer_id", String(64), nullable=True),  # whose data it may hold (erasure)
    Column("author_id", String(128), nullable=False),
    Column("ciphertext", Text, nullable=True),  # vault ciphertext; NULL once erased
    Column("created_at", UtcDateTime(), nullable=False),
    Column("erased_at", UtcDateTime(), nullable=True),
    CheckConstraint("(ciphertext IS NULL) = (erased_at IS NOT NULL)",
                    name="erased_xor_ciphertext"),
    Index("ix_vault_notes_customer_id", "customer_id"),
    Index("ix_vault_notes_about", "about_type", "about_id"),
)

# Append-only audit records. A business transaction inserts a row with the chain columns
# NULL; ``audit.seal`` later assigns chain_index / prev_hash / hash / sealed_at under the
# chain-head lock, so business commits never queue on one hash-chain head.
audit_records = Table(
    "audit_records",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("recorded_at", UtcDateTime(), nullable=False),  # business time (tx.now)
    Column("actor_type", String(32), nullable=False),
    Column("actor_id", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", String(128), nullable=False),
    Column("payload", JSONType, nullable=False),
    Column("chain_index", BigInteger, nullable=True, unique=True),  # 0, 1, 2, ... once sealed
    Column("prev_hash", String(64), nullable=True),
    Column("hash", String(64), nullable=True),
    Column("sealed_at", UtcDateTime(), nullable=True),
    CheckConstraint(
        "(chain_index IS NULL AND prev_hash IS NULL AND hash IS NULL AND sealed_at IS NULL)"
        " OR (chain_index IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL"
        " AND sealed_at IS NOT NULL)",
        name="sealed_all_or_nothing",
    ),
    # "Who touched this customer?" is the question regulators and data subjects ask.
    Index("ix_audit_records_subject", "subject_type", "subject_id", "id"),
)

# Exactly one row (id = 1): the last sealed record. Sealers lock it (SELECT ... FOR UPDATE on
# PostgreSQL; BEGIN IMMEDIATE on SQLite) so the chain has a single writer.
audit_chain_head = Table(
    "audit_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_chain_index", BigInteger, nullable=False),  # -1 while nothing is sealed
    Column("last_record_id", BigInteger, nullable=True),
    Column("head_hash", String(64), nullable=False),  # genesis: 64 zeros
    Column("sealed_at", UtcDateTime(), nullable=True),
    CheckConstraint("id = 1", name="single_row"),
)

# Four-eyes control (maker-checker): an operator's controlled action waits here as a
# proposal until a second operator approves (it is then executed, once) or rejects it.
# ``status`` is stored as pending / approved / rejected; a pending proposal past
# ``expires_at`` reads as expired and can no longer be decided.
approvals = Table(
    "approvals",
    metadata,
    Column("approval_id", String(32), primary_key=True),  # "apv_" + 24 hex characters
    Column("kind", String(64), nullable=False),  # e.g. credit_line.grant, playbook.run
    Column("status", String(16), nullable=False),
    Column("payload", JSONType, nullable=False),  # the action's arguments, as proposed
    Column("proposed_by", String(128), nullable=False),
    Column("proposer_role", String(32), nullable=True),
    Column("proposed_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("decided_by", String(128), nullable=True),
    Column("decider_role", String(32), nullable=True),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("reason", Text, nullable=True),  # a rejection's reason, as the checker wrote it
    Column("result", JSONType, nullable=True),  # what the executed action returned
    CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
    Index("ix_approvals_status_proposed", "status", "proposed_at"),
)

COMPLIANCE_TABLES = (vault_data_keys, vault_notes, audit_records, audit_chain_head, approvals)


# The API's rate limits, shared by every API process (issue #19): one row per limited key
# (a client IP, a credential, a login identity), stored as a SHA-256 digest so no address
# or identifier is kept. GCRA: ``tat_us`` is the bucket's theoretical arrival time
# (microseconds since the Unix epoch, wall clock); a row whose ``tat_us`` has passed is a full
# bucket, the same as no row, and is purged. ``tolerance_us`` (burst tolerance) travels with
# the row so that one statement can check several limits; ``admitted`` is the outcome of the
# row's last check (RETURNING sees only the new row). Unlogged on PostgreSQL (migration
# 0036): no WAL per request; a crash empties the table, that is resets every limit.
platform_rate_limits = Table(
    "platform_rate_limits",
    metadata,
    Column("key", String(32), primary_key=True),  # sha256(limited key)[:16 bytes], hex
    Column("tat_us", BigInteger, nullable=False),
    Column("tolerance_us", BigInteger, nullable=False),
    Column("admitted", Boolean, nullable=False),
)
