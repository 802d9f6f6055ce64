"""Master key loading, key files, wrapping and the derived secondary keys."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from creditpay.platform import keys
from creditpay.platform.keys import (
    KeyMaterialError,
    KeyUnwrapError,
    LocalMasterKey,
    encode_key,
    generate_key_bytes,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def test_master_key_from_env_base64():
    raw = generate_key_bytes()
    master = keys.load_master_key(keys.KeySources(master_key=encode_key(raw)))
    assert master.key_id == LocalMasterKey(raw).key_id
    assert master.key_id.startswith("local:")


@pytest.mark.parametrize("value, message", [
    ("not base64!!", "not valid base64"),
    (base64.b64encode(b"short").decode(), "32 bytes"),
])
def test_master_key_env_rejects_malformed_values(value, message):
    with pytest.raises(KeyMaterialError, match=message):
        keys.load_master_key(keys.KeySources(master_key=value))


def test_missing_master_key_explains_how_to_create_one():
    with pytest.raises(KeyMaterialError, match="vault init-key"):
        keys.load_master_key()


def test_env_and_file_together_are_ambiguous(tmp_path):
    path = keys.write_key_file(tmp_path / "m.key", generate_key_bytes())
    with pytest.raises(KeyMaterialError, match="not both"):
        keys.load_master_key(keys.KeySources(master_key=encode_key(generate_key_bytes()),
                                             master_key_file=path))


@posix_only
def test_write_key_file_is_0600_and_never_overwrites(tmp_path):
    path = keys.write_key_file(tmp_path / "sub" / "m.key", generate_key_bytes())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_text()
    with pytest.raises(KeyMaterialError, match="already exists"):
        keys.write_key_file(path, generate_key_bytes())
    assert path.read_text() == before


@posix_only
def test_key_file_readable_by_group_is_refused(tmp_path):
    raw = generate_key_bytes()
    path = keys.write_key_file(tmp_path / "m.key", raw)
    assert keys.load_master_key(keys.KeySources(master_key_file=path)).key_id == \
        LocalMasterKey(raw).key_id
    path.chmod(0o640)
    with pytest.raises(KeyMaterialError, match="chmod 600"):
        keys.load_master_key(keys.KeySources(master_key_file=path))


def test_missing_key_file_is_reported(tmp_path):
    with pytest.raises(KeyMaterialError, match="does not exist"):
        keys.read_key_file(tmp_path / "nope.key")


def test_wrap_unwrap_binds_key_to_its_row_and_master(master):
    data_key = generate_key_bytes()
    wrapped = master.wrap(data_key, b"key-a")
    assert data_key not in wrapped
    assert master.unwrap(wrapped, b"key-a") == data_key
    with pytest.raises(KeyUnwrapError):
        master.unwrap(wrapped, b"key-b")  # copied onto another row
    with pytest.raises(KeyUnwrapError):
        LocalMasterKey(generate_key_bytes()).unwrap(wrapped, b"key-a")
    tampered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    with pytest.raises(KeyUnwrapError):
        master.unwrap(tampered, b"key-a")


def test_repr_never_shows_key_material():
    raw = generate_key_bytes()
    master = LocalMasterKey(raw)
    text = repr(master) + repr(keys.load_blind_index_key(master))
    assert encode_key(raw) not in text and raw.hex() not in text


def test_derived_keys_are_deterministic_and_independent(master):
    blind = keys.load_blind_index_key(master)
    assert blind.source == "derived"
    assert blind.key == keys.load_blind_index_key(master).key
    signing = keys.load_audit_signing_key(master)
    assert keys.ed25519_public_key_hex(signing) == keys.ed25519_public_key_hex(
        keys.load_audit_signing_key(master))
    other = LocalMasterKey(generate_key_bytes())
    assert keys.load_blind_index_key(other).key != blind.key
    # Distinct HKDF labels: the blind-index key is not the signing seed.
    assert master.derive(b"creditpay/audit-signing/v1") != blind.key


def test_pinned_secondary_keys_take_precedence(master, tmp_path):
    pinned = generate_key_bytes()
    blind = keys.load_blind_index_key(master, keys.KeySources(blind_index_key=encode_key(pinned)))
    assert (blind.key, blind.source) == (pinned, "env")
    path = keys.write_key_file(tmp_path / "sign.key", pinned)
    signing = keys.load_audit_signing_key(None, keys.KeySources(audit_signing_key_file=path))
    derived = keys.load_audit_signing_key(master)
    assert keys.ed25519_public_key_hex(signing) != keys.ed25519_public_key_hex(derived)


class _KmsLike:
    """A provider that never exposes its key, like a KMS: wrap/unwrap only."""

    def __init__(self):
        self._inner = LocalMasterKey(generate_key_bytes())

    @property
    def key_id(self):
        return "kms:test"

    def wrap(self, plaintext_key, aad):
        return self._inner.wrap(plaintext_key, aad)

    def unwrap(self, wrapped_key, aad):
        return self._inner.unwrap(wrapped_key, aad)


def test_kms_provider_satisfies_protocol_but_needs_pinned_secondary_keys():
    provider = _KmsLike()
    assert isinstance(provider, keys.MasterKeyProvider)
    with pytest.raises(KeyMaterialError, match=keys.BLIND_INDEX_KEY_ENV):
        keys.load_blind_index_key(provider)
    with pytest.raises(KeyMaterialError, match=keys.AUDIT_SIGNING_KEY_ENV):
        keys.load_audit_signing_key(provider)
