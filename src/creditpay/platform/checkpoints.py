"""Signed audit checkpoints, kept OUTSIDE the database.

A hash chain stored in the database cannot, on its own, show that its tail was cut off: an
attacker who deletes the last records and moves the head back (or empties the table and resets
the head) leaves a shorter chain that is perfectly consistent. Every seal that moves the head
therefore signs the new head with the platform's audit key (:class:`AuditCheckpointer`) and
writes the checkpoint to a :class:`CheckpointStore` the database role cannot write: the chain
must always reach at least as far as the latest checkpoint, with the checkpointed hash at the
checkpointed index (``audit.verify`` with ``checkpoints=``; ``creditpay audit verify``).

The store is a small interface so that a WORM object store (S3 Object Lock, GCS retention
policies) can implement the same three methods; :class:`DirectoryCheckpointStore` is the
directory implementation: one file per checkpoint named by chain index, written atomically and
never replaced. In production the directory must not be writable by the database role (a
separate volume or a separate OS user for the API processes; see docs/security.md, section 6).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from creditpay.errors import DomainError, StateError
from creditpay.platform.keys import ed25519_public_key_hex

__all__ = [
    "CheckpointStore",
    "DirectoryCheckpointStore",
    "CheckpointStoreError",
    "AuditChainBrokenError",
    "AuditCheckpointer",
    "CHECKPOINT_FILE_BYTES_MAX",
    "KEEP_RECENT_DEFAULT",
]

CHECKPOINT_FILE_BYTES_MAX = 4096  # a checkpoint is ~400 bytes of JSON
KEEP_RECENT_DEFAULT = 1_000  # newest checkpoints kept whole; older ones: the last of each day
PRUNE_EVERY_PUTS = 100  # a prune lists the directory: amortise it over this many writes
_FILE_NAME = re.compile(r"checkpoint-(\d{12})\.json")
_INDEX_MAX = 10**12 - 1  # what 12 digits hold; the name sorts by index


class CheckpointStoreError(DomainError):
    """The checkpoint store cannot be read or written, or holds no checkpoint when one is
    needed: nothing can be said about the chain's tail (exit 2 in the CLI)."""

    type_slug = "audit-checkpoint-store"
    status = 500
    title = "Audit checkpoint store unavailable"


class AuditChainBrokenError(StateError):
    """The chain no longer extends the latest checkpoint (tail cut, history rewritten) or does
    not verify: nothing is signed (exit 1 in the CLI)."""

    type_slug = "audit-chain-broken"
    status = 500
    title = "Audit chain broken"


@runtime_checkable
class CheckpointStore(Protocol):
    """Append-only home of checkpoint documents, outside the database.

    ``put`` never replaces a different document at the same chain index (it raises
    :class:`AuditChainBrokenError`: two heads signed for one index is a fork); putting the
    identical document again is a no-op, so two sealers that checkpoint the same head agree.
    ``latest`` is the document with the highest chain index, None when there is none.
    ``location`` names the store in messages.
    """

    @property
    def location(self) -> str: ...

    def put(self, doc: Mapping[str, Any]) -> str: ...

    def latest(self) -> dict[str, Any] | None: ...

    def exists(self) -> bool: ...


def _encode(doc: Mapping[str, Any]) -> bytes:
    return (json.dumps(dict(doc), indent=2, sort_keys=True) + "\n").encode("utf-8")


class DirectoryCheckpointStore:
    """One read-only file ``checkpoint-<chain index, 12 digits>.json`` per checkpoint.

    Written atomically: the bytes go to a temporary file in the same directory, are fsynced,
    then hard-linked to the final name (``link`` fails if the name exists, which
    ``rename`` would silently replace), and the directory is fsynced. Bounded: after every
    :data:`PRUNE_EVERY_PUTS` writes, checkpoints older than the newest ``keep_recent`` are
    deleted except the last one of each UTC day, so the directory holds at most
    ``keep_recent`` + one file per day (about 400 bytes each). Only the latest checkpoint is
    needed to detect a cut tail; the daily ones are evidence of when history was intact.
    """

    def __init__(self, path: str | Path, *, keep_recent: int = KEEP_RECENT_DEFAULT) -> None:
        if isinstance(keep_recent, bool) or not isinstance(keep_recent, int) \
                or not 1 <= keep_recent <= 10_000_000:
            raise ValueError("keep_recent must be 1..10000000")
        self.path = Path(path)
        self.keep_recent = keep_recent
        self._puts = 0
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"DirectoryCheckpointStore({self.location!r})"

    def exists(self) -> bool:
        return self.path.is_dir()

    def _name(self, index: int) -> Path:
        return self.path / f"checkpoint-{index:012d}.json"

    def _indexes(self) -> list[int]:
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CheckpointStoreError(f"cannot list checkpoint store {self.path}: "
                                       f"{exc.strerror}") from exc
        return sorted(int(m.group(1)) for m in map(_FILE_NAME.fullmatch, names) if m)

    def _read(self, index: int) -> dict[str, Any]:
        path = self._name(index)
        try:
            with open(path, "rb") as handle:
                data = handle.read(CHECKPOINT_FILE_BYTES_MAX + 1)
        except OSError as exc:
            raise CheckpointStoreError(f"cannot read checkpoint {path}: {exc.strerror}") from exc
        if len(data) > CHECKPOINT_FILE_BYTES_MAX:
            raise CheckpointStoreError(f"checkpoint {path} is too large to be a checkpoint")
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise CheckpointStoreError(f"checkpoint {path} is not JSON: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("chain_index") != index:
            # The name is what latest() sorts by: a file whose content disagrees is not ours.
            raise CheckpointStoreError(f"checkpoint {path} does not hold chain_index {index}")
        return doc

    def latest(self) -> dict[str, Any] | None:
        indexes = self._indexes()
        return self._read(indexes[-1]) if indexes else None

    def get(self, index: int) -> dict[str, Any] | None:
        """The checkpoint of ``index``, None when there is none (or it was pruned)."""
        return self._read(index) if self._name(index).exists() else None

    def put(self, doc: Mapping[str, Any]) -> str:
        index = doc.get("chain_index")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= _INDEX_MAX:
            raise CheckpointStoreError(f"checkpoint chain_index must be 0..{_INDEX_MAX}")
        data = _encode(doc)
        final = self._name(index)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp",
                                             dir=self.path)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(temporary, 0o444)  # evidence: read-only once written
                try:
                    os.link(temporary, final)
                except FileExistsError:
                    self._same_or_fork(final, data, index)
                    return str(final)
            finally:
                os.unlink(temporary)
            self._fsync_directory()
        except OSError as exc:
            raise CheckpointStoreError(f"cannot write checkpoint {final}: "
                                       f"{exc.strerror or exc}") from exc
        with self._lock:
            self._puts += 1
            due = self._puts % PRUNE_EVERY_PUTS == 0
        if due:
            self.prune()
        return str(final)

    def _same_or_fork(self, final: Path, data: bytes, index: int) -> None:
        with open(final, "rb") as handle:
            existing = handle.read(CHECKPOINT_FILE_BYTES_MAX + 1)
        if existing != data:
            raise AuditChainBrokenError(
                f"a different checkpoint of chain_index {index} already exists in "
                f"{self.path}: the chain forked (head reset and re-sealed?)")

    def _fsync_directory(self) -> None:
        if os.name != "posix":
            return  # Windows cannot open a directory; NTFS journals the link itself
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def prune(self) -> int:
        """Delete checkpoints older than the newest ``keep_recent``, keeping the last one of
        each UTC day (by ``sealed_at``); returns how many were deleted."""
        indexes = self._indexes()
        older = indexes[:-self.keep_recent]
        if not older:
            return 0
        last_of_day: dict[str, int] = {}
        keep: set[int] = set()
        for index in older:
            try:
                day = str(self._read(index).get("sealed_at") or "")[:10]
            except CheckpointStoreError:
                keep.add(index)  # unreadable evidence is left for a person to look at
                continue
            last_of_day[day] = index  # ascending: the last one of the day wins
        keep.update(last_of_day.values())
        deleted = 0
        for index in older:
            if index in keep:
                continue
            try:
                self._name(index).unlink()
                deleted += 1
            except FileNotFoundError:
                pass  # another process pruned it
            except OSError as exc:
                raise CheckpointStoreError(f"cannot prune {self._name(index)}: "
                                           f"{exc.strerror}") from exc
        return deleted


@dataclass(frozen=True)
class AuditCheckpointer:
    """What a sealer needs to checkpoint: the platform's signing key and the store.

    ``extra_trusted_keys`` (hex) are earlier platform keys whose checkpoints a seal may build
    on after the signing key changed; the current key is always trusted.
    """

    signing_key: Ed25519PrivateKey
    store: CheckpointStore
    extra_trusted_keys: frozenset[str] = field(default_factory=frozenset)

    @property
    def public_key(self) -> str:
        return ed25519_public_key_hex(self.signing_key)

    def trusted_keys(self) -> set[str]:
        return {self.public_key, *self.extra_trusted_keys}
