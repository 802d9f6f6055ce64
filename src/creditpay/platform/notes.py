"""Free text people write that must be kept: encrypted by the vault, erasable, referenced.

The audit chain cannot forget: anything written into a sealed record stays for as long as the
chain does, so a name or a phone number typed into a "reason" or "note" field could never be
erased. Such text goes here instead. :meth:`Notes.store` encrypts it with the vault (bound to
the note's id, so a ciphertext moved to another row does not decrypt) and returns a reference
``note_<24 hex>``; the audit record carries only that reference. :meth:`Notes.read` decrypts
it for a staff member with a purpose code, and records that access in the audit chain.
:func:`erase_customer_notes` (called by the data-subject erasure) drops the ciphertexts of
every note about a customer; the references in the chain then resolve to "erased".

Who may read which note is the caller's decision (the API checks roles); this module only
refuses text that is empty or too long, and audits every read.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, ValidationError
from creditpay.platform import audit
from creditpay.platform.tables import vault_notes
from creditpay.platform.vault import Vault

__all__ = ["Notes", "NoteView", "NOTE_CHARS_MAX", "NOTE_FIELD", "erase_customer_notes",
           "note_exists"]

NOTE_CHARS_MAX = 4_000  # an analyst's note; a bound on what one field can hold
NOTE_FIELD = "vault_notes.text"  # the vault field every note is encrypted under
_KIND_CHARS_MAX = 64


@dataclass(frozen=True)
class NoteView:
    """A note as its authorised reader sees it; ``text`` is None once erased."""

    id: str
    kind: str
    about_type: str
    about_id: str
    customer_id: str | None
    author_id: str
    created_at: Any
    erased_at: Any
    text: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _check_text(text: object, field: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("must be non-empty text", field=field)
    if len(text) > NOTE_CHARS_MAX:
        raise ValidationError(f"must be at most {NOTE_CHARS_MAX} characters", field=field)
    return text


def _check_kind(kind: object) -> str:
    if not isinstance(kind, str) or not 1 <= len(kind) <= _KIND_CHARS_MAX \
            or not kind.replace(".", "").replace("_", "").isalnum() or not kind.islower():
        raise ValidationError("must be a lower-case code like 'fraud_case.note'", field="kind")
    return kind


class Notes:
    """Vaulted free text; one per process (it holds the vault, no other state)."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def store(self, tx: Tx, *, text: str, kind: str, about_type: str, about_id: str,
              author_id: str, customer_id: str | None = None, field: str = "note") -> str:
        """Encrypt ``text`` in ``tx`` and return its reference (``note_<24 hex>``).

        ``customer_id`` names the person the text may be about, so that their erasure drops
        it; ``field`` names the caller's input in a ValidationError.
        """
        _check_text(text, field)
        _check_kind(kind)
        for name, value in (("about_type", about_type), ("about_id", about_id),
                            ("author_id", author_id)):
            if not isinstance(value, str) or not 1 <= len(value) <= 128:
                raise ValidationError("must be 1..128 characters", field=name)
        if customer_id is not None and (not isinstance(customer_id, str)
                                        or not 1 <= len(customer_id) <= 64):
            raise ValidationError("must be a customer id", field="customer_id")
        note_id = "note_" + secrets.token_hex(12)
        tx.conn.execute(vault_notes.insert().values(
            id=note_id, kind=kind, about_type=about_type, about_id=about_id,
            customer_id=customer_id, author_id=author_id,
            ciphertext=self.vault.encrypt(NOTE_FIELD, note_id, text), created_at=tx.now,
            erased_at=None))
        return note_id

    def read(self, tx: Tx, note_id: str, *, staff_id: str, purpose: str) -> NoteView:
        """The note decrypted for ``staff_id`` reading it for ``purpose`` (a code of
        :class:`creditpay.platform.purposes.AccessPurpose`); the read is audited in
        ``tx`` as ``personal_data.read`` of the person the note is about."""
        row = _row(tx.conn, note_id)
        subject = ("customer", row.customer_id) if row.customer_id else ("vault_note", row.id)
        audit.record_personal_data_access(tx, staff_id, subject[0], subject[1], ["note"],
                                          purpose, note_id=row.id)
        text = None if row.ciphertext is None else \
            self.vault.decrypt(NOTE_FIELD, row.id, row.ciphertext)
        return NoteView(row.id, row.kind, row.about_type, row.about_id, row.customer_id,
                        row.author_id, row.created_at, row.erased_at, text)


def _row(conn: Connection, note_id: object) -> Any:
    if not isinstance(note_id, str) or not 1 <= len(note_id) <= 32:
        raise ValidationError("must be a note reference (note_...)", field="note_id")
    row = conn.execute(select(vault_notes).where(vault_notes.c.id == note_id)).first()
    if row is None:
        raise NotFoundError(f"no note {note_id}", field="note_id")
    return row


def note_exists(conn: Connection, note_id: str) -> bool:
    """True when ``note_id`` names a stored note (erased or not)."""
    return conn.execute(select(vault_notes.c.id).where(
        vault_notes.c.id == note_id)).first() is not None


def erase_customer_notes(tx: Tx, customer_id: str) -> int:
    """Drop the text of every note about ``customer_id`` (erasure); returns how many notes
    were erased now (already erased ones are not counted again)."""
    result = tx.conn.execute(update(vault_notes).where(
        vault_notes.c.customer_id == customer_id,
        vault_notes.c.ciphertext.is_not(None)).values(ciphertext=None, erased_at=tx.now))
    return int(result.rowcount or 0)
