"""The customer's IANA time zone (used by the fair-collections quiet hours), on both stores."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from creditpay.errors import PermissionDeniedError, ValidationError
from creditpay.parties.security import TokenSigner
from creditpay.parties.service import Parties, Principal
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from creditpay.platform.tables import audit_records
from creditpay.platform.vault import BlindIndexer, Vault


@pytest.fixture
def parties(uow):
    vault = Vault(uow, LocalMasterKey(generate_key_bytes()))
    vault.ensure_active_key()
    return Parties(vault=vault, indexer=BlindIndexer(b"b" * 32), signer=TokenSigner(b"t" * 32))


def _register(uow, parties, phone):
    with uow.begin() as tx:
        return parties.register(tx, phone=phone, email=None, password_hash="$argon2id$x",
                                device_id="device-0001")["id"]


def test_time_zone_defaults_to_shanghai_and_is_set_by_its_customer(uow, parties):
    alice = _register(uow, parties, "+86 138-1234-5678")
    bob = _register(uow, parties, "+86 139-8765-4321")
    with uow.connect() as conn:
        assert parties.get_time_zone(conn, alice) == "Asia/Shanghai"
    with uow.begin() as tx:
        assert parties.set_time_zone(tx, Principal("customer", alice), alice,
                                     "Europe/London") == "Europe/London"
    with uow.begin() as tx:  # an operator may correct it too
        parties.set_time_zone(tx, Principal("operator", "op_1", role="collections_agent"),
                              bob, "America/New_York")
    for zone in ("Mars/Olympus", "", "../../etc/passwd", None, "x" * 65):
        with uow.begin() as tx, pytest.raises(ValidationError) as exc:
            parties.set_time_zone(tx, Principal("customer", alice), alice, zone)
        assert exc.value.field == "time_zone"
    with uow.begin() as tx, pytest.raises(PermissionDeniedError):
        parties.set_time_zone(tx, Principal("customer", bob), alice, "Asia/Tokyo")
    with uow.connect() as conn:
        assert parties.get_time_zone(conn, alice) == "Europe/London"
        assert parties.get_time_zone(conn, bob) == "America/New_York"
        payloads = conn.execute(select(audit_records.c.payload).where(
            audit_records.c.action == "customer.time_zone_set").order_by(
            audit_records.c.id)).scalars().all()
    assert payloads == [{"from": "Asia/Shanghai", "to": "Europe/London"},
                        {"from": "Asia/Shanghai", "to": "America/New_York"}]
