"""The simulator's phones are a whole Notifier: registration codes and notices land there too."""

from __future__ import annotations

from creditpay.parties.security import TokenSigner
from creditpay.parties.service import Parties
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from creditpay.platform.vault import BlindIndexer, Vault
from creditpay.sim.economy import SimPhone


def test_registration_through_the_sim_phone_on_both_stores(uow):
    vault = Vault(uow, LocalMasterKey(generate_key_bytes()))
    vault.ensure_active_key()
    phone = SimPhone()
    parties = Parties(vault=vault, indexer=BlindIndexer(b"b" * 32),
                      signer=TokenSigner(b"t" * 32), notifier=phone)
    with uow.begin() as tx:
        started = parties.start_registration(tx, phone="+86 138-1234-5678", email=None,
                                             password_hash="$argon2id$x",
                                             device_id="device-0001")
    registration_id = started["registration_id"]
    code = phone.registration_codes[registration_id]  # only the phone's owner reads it
    with uow.begin() as tx:
        customer = parties.complete_registration(tx, registration_id=registration_id,
                                                 code=code, device_id="device-0001")
    with uow.begin() as tx:  # the same phone again: its owner is told, no code is sent
        again = parties.start_registration(tx, phone="+86 138-1234-5678", email=None,
                                           password_hash="$argon2id$x",
                                           device_id="device-0002")
    assert again["registration_id"] not in phone.registration_codes
    assert phone.registration_attempts == [(customer["id"], "sms")]
