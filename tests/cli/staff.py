"""Operators for the CLI's staff-command tests: created as ``creditpay operator-create`` does
(the parties service with a vault), on a database the test opened; their ``cpo_`` token is
what a command's ``--token`` takes."""

from __future__ import annotations

from typing import Any

from creditpay.db.uow import UnitOfWork
from creditpay.parties.security import PasswordPolicy, TokenSigner
from creditpay.parties.service import Parties
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from creditpay.platform.vault import BlindIndexer, Vault

# One master key for every test database (a vault's data keys are wrapped by it).
MASTER = LocalMasterKey(generate_key_bytes())


def new_operator(uow: UnitOfWork, role: str, name: str | None = None) -> dict[str, Any]:
    """A new operator with ``role``: ``{"id", "role", "token", ...}``."""
    parties = Parties(vault=Vault(uow, MASTER),
                      indexer=BlindIndexer(generate_key_bytes()),
                      signer=TokenSigner(generate_key_bytes()),
                      passwords=PasswordPolicy(time_cost=1, memory_cost_kib=1024))
    # The vault's data key first: on SQLite the vault cannot create it inside the writer's
    # transaction (as operator-create does).
    parties.vault.ensure_active_key()
    return uow.run(lambda tx: parties.create_operator(tx, name=name or f"{role}-cli",
                                                      role=role))
