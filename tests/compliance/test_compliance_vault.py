"""Envelope encryption, rotation, re-wrap, re-encryption and blind indexes."""

from __future__ import annotations

import base64
import threading

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.exc import IntegrityError

from creditpay.errors import NotFoundError, ValidationError
from creditpay.platform.keys import KeyUnwrapError, LocalMasterKey, generate_key_bytes
from creditpay.platform.tables import vault_data_keys
from creditpay.platform.vault import (
    CIPHERTEXT_VERSION,
    BlindIndexer,
    DecryptionError,
    Vault,
    normalise_email,
    normalise_id_number,
    normalise_phone,
    parse_ciphertext,
)

FIELD = "customers.phone"


@pytest.fixture
def vault(uow, master):
    return Vault(uow, master)


def _active_rows(engine):
    with engine.connect() as conn:
        return conn.execute(select(vault_data_keys.c.key_id)
                            .where(vault_data_keys.c.active.is_not(None))).scalars().all()


def test_round_trip_and_format(vault, engine):
    ciphertext = vault.encrypt(FIELD, "cust_1", "张三丰 13812345678")
    assert vault.decrypt(FIELD, "cust_1", ciphertext) == "张三丰 13812345678"
    raw = base64.b64decode(ciphertext)
    assert raw[0] == CIPHERTEXT_VERSION
    parsed = parse_ciphertext(ciphertext)
    assert _active_rows(engine) == [parsed.key_id]
    assert len(raw) == 1 + 16 + 12 + len("张三丰 13812345678".encode()) + 16
    # A random nonce per encryption: equal plaintexts never give equal ciphertexts.
    again = vault.encrypt(FIELD, "cust_1", "张三丰 13812345678")
    assert again != ciphertext and parse_ciphertext(again).nonce != parsed.nonce


@pytest.mark.parametrize("field, subject", [(FIELD, "cust_2"), ("customers.email", "cust_1")])
def test_ciphertext_copied_to_another_row_or_column_fails(vault, field, subject):
    ciphertext = vault.encrypt(FIELD, "cust_1", "13812345678")
    with pytest.raises(DecryptionError, match="does not authenticate"):
        vault.decrypt(field, subject, ciphertext)


def test_tampered_ciphertext_fails(vault):
    raw = bytearray(base64.b64decode(vault.encrypt(FIELD, "cust_1", "13812345678")))
    for position in (20, len(raw) - 1):  # a nonce byte, a tag byte
        forged = bytearray(raw)
        forged[position] ^= 0x01
        with pytest.raises(DecryptionError):
            vault.decrypt(FIELD, "cust_1", base64.b64encode(forged).decode())
    forged = bytearray(raw)
    forged[0] = 9
    with pytest.raises(DecryptionError, match="version 9"):
        vault.decrypt(FIELD, "cust_1", base64.b64encode(forged).decode())
    forged = bytearray(raw)
    forged[3] ^= 0x01  # the key id: no such data key
    with pytest.raises(NotFoundError):
        vault.decrypt(FIELD, "cust_1", base64.b64encode(forged).decode())
    with pytest.raises(DecryptionError, match="base64"):
        vault.decrypt(FIELD, "cust_1", "%%%")


def test_new_process_decrypts_and_wrong_master_cannot(uow, master, vault):
    ciphertext = vault.encrypt(FIELD, "cust_1", "secret")
    assert Vault(uow, master).decrypt(FIELD, "cust_1", ciphertext) == "secret"
    with pytest.raises(KeyUnwrapError):
        Vault(uow, LocalMasterKey(generate_key_bytes())).decrypt(FIELD, "cust_1", ciphertext)


def test_unwrapped_keys_are_cached(vault, engine):
    ciphertext = vault.encrypt(FIELD, "cust_1", "secret")
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(50):
            assert vault.decrypt(FIELD, "cust_1", ciphertext) == "secret"
            vault.encrypt(FIELD, "cust_1", "secret")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert statements == []


def test_rotation_keeps_old_ciphertexts_readable(uow, master, vault, engine, clock):
    old = vault.encrypt(FIELD, "cust_1", "old value")
    old_key = parse_ciphertext(old).key_id
    clock.advance(days=1)
    new_key = vault.rotate_data_key()
    assert new_key != old_key and _active_rows(engine) == [new_key]
    assert parse_ciphertext(vault.encrypt(FIELD, "cust_1", "x")).key_id == new_key
    assert Vault(uow, master).decrypt(FIELD, "cust_1", old) == "old value"
    with engine.connect() as conn:
        retired = conn.execute(select(vault_data_keys).where(
            vault_data_keys.c.key_id == old_key)).one()
    assert retired.active is None and retired.retired_at is not None


def test_database_allows_one_active_key_only(vault, engine, master, clock):
    vault.ensure_active_key()
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(vault_data_keys).values(
            key_id="ff" * 16, wrapped_key=master.wrap(generate_key_bytes(), b"x"),
            master_key_id=master.key_id, created_at=clock.now(), active=True, retired_at=None))


def test_concurrent_first_use_creates_one_active_key(uow, master, engine):
    vaults = [Vault(uow, master) for _ in range(6)]
    results: list[str] = []
    barrier = threading.Barrier(len(vaults))

    def work(v):
        barrier.wait()
        results.append(v.encrypt(FIELD, "cust_1", "x"))

    threads = [threading.Thread(target=work, args=(v,)) for v in vaults]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(_active_rows(engine)) == 1
    assert {parse_ciphertext(c).key_id for c in results} == set(_active_rows(engine))


def test_reencrypt_moves_values_to_the_active_key(vault):
    items = [(FIELD, f"cust_{i}", vault.encrypt(FIELD, f"cust_{i}", f"v{i}")) for i in range(5)]
    new_key = vault.rotate_data_key()
    items.append((FIELD, "cust_9", vault.encrypt(FIELD, "cust_9", "v9")))  # already current
    out = list(vault.reencrypt(items))
    assert len(out) == len(items)
    assert {parse_ciphertext(c).key_id for c in out} == {new_key}
    assert out[-1] == items[-1][2]
    for (field, subject, _), ciphertext in zip(items, out, strict=True):
        assert vault.decrypt(field, subject, ciphertext) == "v" + subject.split("_")[1]
    forged = [(FIELD, "cust_other", items[0][2])]
    with pytest.raises(DecryptionError):
        list(vault.reencrypt(forged))


def test_rewrap_all_moves_every_key_to_the_new_master(uow, master, vault, engine):
    first = vault.encrypt(FIELD, "cust_1", "one")
    vault.rotate_data_key()
    second = vault.encrypt(FIELD, "cust_1", "two")
    new_master = LocalMasterKey(generate_key_bytes())
    assert vault.rewrap_all(new_master) == 2
    assert vault.rewrap_all(new_master) == 0  # re-runnable
    with engine.connect() as conn:
        assert set(conn.execute(select(vault_data_keys.c.master_key_id)).scalars()) == {
            new_master.key_id}
    fresh = Vault(uow, new_master)
    assert (fresh.decrypt(FIELD, "cust_1", first), fresh.decrypt(FIELD, "cust_1", second)) == \
        ("one", "two")
    with pytest.raises(KeyUnwrapError):
        Vault(uow, master).decrypt(FIELD, "cust_1", first)
    assert vault.decrypt(FIELD, "cust_1", first) == "one"


def test_plaintext_size_and_binding_are_bounded(vault):
    with pytest.raises(ValidationError) as info:
        vault.encrypt(FIELD, "", "x")
    assert info.value.field == "subject_id"
    with pytest.raises(ValidationError) as info:
        vault.encrypt(FIELD, "c", "x" * (64 * 1024 + 1))
    assert info.value.field == "plaintext"


# ----- blind indexes ------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["13812345678", "+86 138-1234-5678", "0086 13812345678",
                                 "(+86) 138 1234 5678", "8613812345678"])
def test_phone_normalisation(raw):
    assert normalise_phone(raw) == "8613812345678"


def test_other_normalisers():
    assert normalise_phone("+1 (415) 555-0100") == "14155550100"
    assert normalise_phone("020 1234 5678", default_country_code="44") == "442012345678"
    assert normalise_id_number(" 11010119900307123x ") == "11010119900307123X"
    assert normalise_email("  Alice.B@Example.COM ") == "alice.b@example.com"
    for bad, func, field in [("call me", normalise_phone, "phone"),
                             ("123", normalise_phone, "phone"),
                             ("12$4567", normalise_id_number, "id_number"),
                             ("no-at-sign", normalise_email, "email")]:
        with pytest.raises(ValidationError) as info:
            func(bad)
        assert info.value.field == field


def test_blind_index_matches_equal_values_only():
    indexer = BlindIndexer(generate_key_bytes())
    a = indexer.index("phone", "13812345678")
    assert a == indexer.index("phone", "+86 138 1234 5678")
    assert len(a) == 32 and int(a, 16) >= 0
    assert a != indexer.index("phone", "13812345679")
    # Kind is part of the input: equal digits as a phone and as an ID do not collide.
    assert indexer.index("id_number", "8613812345678") != a
    assert BlindIndexer(generate_key_bytes()).index("phone", "13812345678") != a
    assert indexer.index("email", "A@B.cn") == indexer.index("email", "a@b.CN")
    with pytest.raises(ValidationError) as info:
        indexer.index("name", "x")
    assert info.value.field == "kind"
