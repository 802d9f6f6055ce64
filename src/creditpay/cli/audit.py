"""``creditpay audit ...`` and ``creditpay vault ...`` commands.

Exit codes: 0 success; 1 the audit chain or a checkpoint does not verify (also when a seal
finds the chain no longer extends the latest checkpoint); 2 the command could not run (missing
table or database, missing or unsafe key material, checkpoint store missing or unwritable,
bad input).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from creditpay.cli.common import DbOption, settings_for

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from creditpay.config import Settings
    from creditpay.db.uow import UnitOfWork
    from creditpay.platform.audit import VerifyResult
    from creditpay.platform.checkpoints import AuditCheckpointer
    from creditpay.platform.vault import Vault

__all__ = ["register", "audit_app", "vault_app"]

EXIT_BROKEN = 1
EXIT_ERROR = 2

audit_app = typer.Typer(help="Tamper-evident audit log: seal, verify, checkpoint.",
                        no_args_is_help=True)
vault_app = typer.Typer(help="Personal-data encryption keys: init, rotate, rewrap.",
                        no_args_is_help=True)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:  # noqa: ARG001
    """Add the ``audit`` and ``vault`` sub-commands to the main app."""
    app.add_typer(audit_app, name="audit")
    app.add_typer(vault_app, name="vault")


def _fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _handled() -> Iterator[None]:
    """Turn expected failures into one clear line and exit code 2 (1 for a broken audit
    chain), never a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from creditpay.errors import DomainError
    from creditpay.platform.checkpoints import AuditChainBrokenError

    try:
        yield
    except AuditChainBrokenError as exc:
        raise _fail(str(exc), EXIT_BROKEN) from None
    except DomainError as exc:
        raise _fail(str(exc)) from None
    except SQLAlchemyError as exc:
        first_line = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise _fail(f"database error: {first_line}") from None
    except OSError as exc:
        raise _fail(str(exc)) from None


def _database_url(db: str | None) -> str:
    from creditpay.db.engine import normalise_url

    return normalise_url(settings_for(db).database_url)


def _open_engine(db: str | None, tables: Sequence[str]) -> Engine:
    """An engine on ``db`` that has ``tables``, or exit 2 with a message naming what is wrong."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from creditpay.db.engine import make_engine

    url = _database_url(db)
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)  # never echo a password
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        # make_engine would create an empty file; a typo in --db must not look like an
        # empty (and therefore "intact") audit log.
        if not Path(parsed.database).exists():
            raise _fail(f"database file {parsed.database} does not exist ({shown})")
    engine = make_engine(url, pool_size=2)
    inspector = inspect(engine)
    missing = [name for name in tables if not inspector.has_table(name)]
    if missing:
        raise _fail(f"table(s) {', '.join(missing)} missing in {shown}; "
                    "run the database migrations first")
    return engine


def _uow(engine: Engine) -> UnitOfWork:
    from creditpay.clock import SystemClock
    from creditpay.db.uow import UnitOfWork

    # The CLI is the imperative shell: in production business time is wall time.
    return UnitOfWork(engine, SystemClock())


# ----- audit --------------------------------------------------------------------------------
_AUDIT_TABLES = ("audit_records", "audit_chain_head")

CheckpointDirOption = Annotated[Path | None, typer.Option(
    "--checkpoint-dir", file_okay=False,
    help="Checkpoint store directory (default: CREDITPAY_AUDIT_CHECKPOINT_DIR, else "
         "NAME.audit-checkpoints next to a SQLite file, else var/audit-checkpoints/DBNAME).")]


def _settings(db: str | None, checkpoint_dir: Path | None) -> Settings:
    settings = settings_for(db)
    if checkpoint_dir is not None:
        settings = settings.model_copy(update={"audit_checkpoint_dir": checkpoint_dir})
    return settings


def _checkpointer(settings: Settings) -> AuditCheckpointer:
    from creditpay.bootstrap import audit_checkpointer

    # Before anything is sealed: a seal must not run without its checkpoint (exit 2).
    return audit_checkpointer(settings)


def _own_public_key(settings: Settings) -> str | None:
    """The platform's audit public key from the configured key material, if any."""
    from creditpay.platform import keys

    sources = settings.key_sources()
    try:
        master = None if sources.audit_signing_pinned else keys.load_master_key(sources)
        return keys.ed25519_public_key_hex(keys.load_audit_signing_key(master, sources))
    except keys.KeyMaterialError:
        return None


@audit_app.command("seal")
def audit_seal(db: DbOption = None, checkpoint_dir: CheckpointDirOption = None) -> None:
    """Chain every committed, unsealed audit record and write a signed checkpoint of the new
    head to the checkpoint store (run after batches and at COB; needs the key material)."""
    from creditpay.platform import audit

    with _handled():
        engine = _open_engine(db, _AUDIT_TABLES)
        checkpointer = _checkpointer(_settings(db, checkpoint_dir))
        result = audit.seal(_uow(engine), checkpointer)
        typer.echo(f"sealed {result.records_sealed} records; head index "
                   f"{result.last_chain_index}, head hash {result.head_hash}")
        if result.checkpoint is not None:
            typer.echo(f"checkpoint of chain_index {result.checkpoint['chain_index']} written "
                       f"to {checkpointer.store.location}")


def _read_checkpoint_file(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise _fail(f"{path} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise _fail(f"{path} is not a checkpoint (a JSON object)")
    return doc


@audit_app.command("verify")
def audit_verify(
    db: DbOption = None,
    checkpoint_files: Annotated[list[Path] | None, typer.Option(
        "--checkpoint", help="Also check this checkpoint file is still a prefix (repeatable).",
        exists=True, dir_okay=False)] = None,
    trusted_keys: Annotated[list[str] | None, typer.Option(
        "--trusted-key", help="Hex Ed25519 public key that may sign checkpoints, besides the "
        "platform's own (repeatable).")] = None,
    seal_first: Annotated[bool, typer.Option(
        "--seal/--no-seal", help="Seal pending records first (needs write access).")] = False,
    checkpoint_dir: CheckpointDirOption = None,
    use_store: Annotated[bool, typer.Option(
        "--checkpoint-store/--no-checkpoint-store",
        help="Check against the latest checkpoint in the store (default). Without it only the "
             "chain's own consistency and --checkpoint files are checked, which cannot see a "
             "cut tail.")] = True,
) -> None:
    """Recompute the audit hash chain and check it against the latest signed checkpoint;
    exit 1 naming the first broken record."""
    from creditpay.config import parse_public_keys
    from creditpay.platform import audit
    from creditpay.platform.checkpoints import DirectoryCheckpointStore

    with _handled():
        engine = _open_engine(db, _AUDIT_TABLES)
        settings = _settings(db, checkpoint_dir)
        trusted = set(parse_public_keys(" ".join(trusted_keys or ()), field="--trusted-key"))
        trusted |= set(settings.audit_trusted_keys)
        own = _own_public_key(settings)
        if own is not None:
            trusted.add(own)
        if seal_first:
            audit.seal(_uow(engine), _checkpointer(settings))
        files = [(path, _read_checkpoint_file(path)) for path in checkpoint_files or []]
        store = DirectoryCheckpointStore(settings.checkpoint_dir()) if use_store else None
        if not trusted and (files or (store is not None and store.latest() is not None)):
            raise _fail("cannot tell which checkpoint signing key to trust: set the key "
                        "material (CREDITPAY_MASTER_KEY[_FILE] or "
                        "CREDITPAY_AUDIT_SIGNING_KEY[_FILE]) or pass --trusted-key HEX")
        docs = [doc for _, doc in files]
        with audit.snapshot_connection(engine) as conn:
            if store is not None:
                result = audit.verify_against_store(conn, store, trusted_public_keys=trusted,
                                                    extra_checkpoints=docs)
            else:
                result = _verify_files(conn, docs, trusted)
        typer.echo(result.describe())
        if not result.ok:
            raise typer.Exit(EXIT_BROKEN)
        if store is None:
            typer.echo("warning: not checked against the checkpoint store: a deleted tail "
                       "would not be seen", err=True)
        if result.unsealed:
            typer.echo(f"warning: {result.unsealed} records are not sealed yet and not "
                       "protected; run 'creditpay audit seal'", err=True)
        for path, doc in files:
            typer.echo(f"checkpoint {path}: ok (chain_index {doc.get('chain_index')})")


def _verify_files(conn: Connection, docs: Sequence[Mapping[str, Any]],
                  trusted: Collection[str]) -> VerifyResult:
    from creditpay.platform import audit

    for doc in docs:
        problem = audit.checkpoint_problem(doc, trusted)
        if problem is not None:
            return audit.VerifyResult(False, 0, doc.get("chain_index"), problem)
    return audit.verify(conn, checkpoints=docs)


@audit_app.command("checkpoint")
def audit_checkpoint(
    db: DbOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Also write the checkpoint JSON to this new file (default: stdout).",
        dir_okay=False)] = None,
    seal_first: Annotated[bool, typer.Option(
        "--seal/--no-seal", help="Seal pending records first (default).")] = True,
    checkpoint_dir: CheckpointDirOption = None,
) -> None:
    """Check the chain extends the latest checkpoint, sign its head into the checkpoint store
    and print that Ed25519-signed checkpoint (for a copy kept elsewhere)."""
    from creditpay.platform import audit

    with _handled():
        engine = _open_engine(db, _AUDIT_TABLES)
        checkpointer = _checkpointer(_settings(db, checkpoint_dir))
        if seal_first:
            audit.seal(_uow(engine), checkpointer)
        doc = audit.write_checkpoint(engine, checkpointer) or checkpointer.store.latest()
        if doc is None:  # an empty chain: nothing to store, the statement is still printed
            with audit.snapshot_connection(engine) as conn:
                doc = audit.checkpoint(conn, checkpointer.signing_key)
        text = json.dumps(doc, indent=2, sort_keys=True)
        if out is None:
            typer.echo(text)
            return
        # A checkpoint is evidence: never silently replace an earlier one.
        with open(out, "x", encoding="utf-8") as handle:
            handle.write(text + "\n")
        typer.echo(f"checkpoint of chain_index {doc['chain_index']} written to {out}")


# ----- vault --------------------------------------------------------------------------------
_VAULT_TABLES = ("vault_data_keys",)


@vault_app.command("init-key")
def vault_init_key(
    path: Annotated[Path, typer.Option("--path", help="New key file (mode 0600).",
                                       dir_okay=False)] = Path("var/master.key"),
) -> None:
    """Create a development master key file; refuses to overwrite an existing file."""
    from creditpay.platform import keys

    with _handled():
        keys.write_key_file(path, keys.generate_key_bytes())
        typer.echo(f"master key written to {path} (mode 0600). Use it with:\n"
                   f"  export {keys.MASTER_KEY_FILE_ENV}={path.resolve()}\n"
                   "Keep it out of version control and backups of the database.")


def _vault(engine: Engine, settings: Settings) -> Vault:
    from creditpay.platform import keys
    from creditpay.platform.vault import Vault

    return Vault(_uow(engine), keys.load_master_key(settings.key_sources()))


@vault_app.command("status")
def vault_status(db: DbOption = None) -> None:
    """List data keys (ids, wrapping master key, dates; no secrets)."""
    from creditpay.platform import keys

    with _handled():
        engine = _open_engine(db, _VAULT_TABLES)
        settings = settings_for(db)
        vault = _vault(engine, settings)
        typer.echo(f"current master key: {vault.master_key_id}")
        infos = vault.data_keys()
        if not infos:
            typer.echo("no data keys yet (the first encryption creates one)")
        for info in infos:
            state = "ACTIVE " if info.active else f"retired {info.retired_at}"
            typer.echo(f"{info.key_id}  {state}  created {info.created_at}  "
                       f"wrapped by {info.master_key_id}")
        sources = settings.key_sources()
        source = keys.load_blind_index_key(keys.load_master_key(sources), sources).source
        typer.echo(f"blind-index key: {source}")


@vault_app.command("rotate")
def vault_rotate(db: DbOption = None) -> None:
    """Make a new data key active; older keys stay for decryption."""
    with _handled():
        engine = _open_engine(db, _VAULT_TABLES)
        key_id = _vault(engine, settings_for(db)).rotate_data_key()
        typer.echo(f"new active data key {key_id}; re-encrypt stored fields to retire the "
                   "previous key")


@vault_app.command("rewrap")
def vault_rewrap(
    new_key_file: Annotated[Path, typer.Option(
        "--new-key-file", help="The new master key file (0600).", dir_okay=False)],
    db: DbOption = None,
    allow_blind_index_change: Annotated[bool, typer.Option(
        "--allow-blind-index-change",
        help="Proceed although the blind-index key is derived from the master key.")] = False,
) -> None:
    """Re-wrap every data key under a new master key (ciphertexts are untouched)."""
    from creditpay.platform import keys

    with _handled():
        engine = _open_engine(db, _VAULT_TABLES)
        settings = settings_for(db)
        sources = settings.key_sources()
        vault = _vault(engine, settings)
        blind_source = keys.load_blind_index_key(keys.load_master_key(sources), sources).source
        if blind_source == "derived" and not allow_blind_index_change:
            raise _fail(
                "the blind-index key is derived from the current master key, so replacing the "
                "master would invalidate every stored blind index. Pin it first: "
                "'creditpay vault export-derived-keys --dir DIR', then set "
                f"{keys.BLIND_INDEX_KEY_FILE_ENV} (and {keys.AUDIT_SIGNING_KEY_FILE_ENV}).")
        new_master = keys.LocalMasterKey(keys.read_key_file(new_key_file))
        changed = vault.rewrap_all(new_master)
        typer.echo(f"re-wrapped {changed} data keys under {new_master.key_id}. Now set "
                   f"{keys.MASTER_KEY_FILE_ENV}={new_key_file.resolve()} and restart; "
                   "destroy the old master key once no backup needs it.")


@vault_app.command("export-derived-keys")
def vault_export_derived_keys(
    directory: Annotated[Path, typer.Option("--dir", help="Directory for the 0600 key files.",
                                            file_okay=False)],
) -> None:
    """Write the blind-index and audit-signing keys to files so they outlive the master key."""
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from creditpay.platform import keys

    with _handled():
        sources = settings_for(None).key_sources()
        master = keys.load_master_key(sources)
        blind = keys.load_blind_index_key(master, sources)
        signing = keys.load_audit_signing_key(master, sources)
        seed = signing.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        blind_path = keys.write_key_file(directory / "blind-index.key", blind.key)
        signing_path = keys.write_key_file(directory / "audit-signing.key", seed)
        typer.echo(f"wrote {blind_path} and {signing_path} (mode 0600); set\n"
                   f"  {keys.BLIND_INDEX_KEY_FILE_ENV}={blind_path.resolve()}\n"
                   f"  {keys.AUDIT_SIGNING_KEY_FILE_ENV}={signing_path.resolve()}\n"
                   f"audit public key: {keys.ed25519_public_key_hex(signing)}")
