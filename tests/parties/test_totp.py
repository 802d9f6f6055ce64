"""TOTP codes for staff logins (RFC 6238 through ``cryptography``) and which steps are
accepted: the current one and one either side, each once, never one at or before the last
accepted step."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from creditpay.parties.security import (
    TOTP_STEP_S,
    new_totp_secret,
    totp_code,
    totp_matching_step,
    totp_provisioning_uri,
    totp_step,
)

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()  # RFC 6238 appendix B (SHA-1)


def test_codes_are_rfc_6238_sha1_six_digits():
    # The RFC's 8-digit values, last 6 digits (HOTP truncation is modulo 10**digits).
    for unix_s, expected in ((59, "287082"), (1111111109, "081804"),
                             (1234567890, "005924"), (2000000000, "279037")):
        assert totp_code(RFC_SECRET, totp_step(unix_s)) == expected


def test_a_new_secret_is_160_bits_base32_and_its_uri_names_the_issuer():
    secret = new_totp_secret()
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == 20
    uri = totp_provisioning_uri(secret, "alice (op_1)")
    assert uri.startswith("otpauth://totp/creditpay:") and "issuer=creditpay" in uri
    assert "period=30" in uri and "digits=6" in uri and f"secret={secret}" in uri


@given(unix_s=st.integers(min_value=TOTP_STEP_S * 5, max_value=2**32),
       offset=st.integers(min_value=-4, max_value=4),
       last=st.one_of(st.none(), st.integers(min_value=-3, max_value=3)))
def test_accepted_iff_within_one_step_and_after_the_last_used(unix_s, offset, last):
    now = totp_step(unix_s)
    step = now + offset
    last_step = None if last is None else now + last
    found = totp_matching_step(RFC_SECRET, totp_code(RFC_SECRET, step), unix_s, last_step)
    fresh = last_step is None or step > last_step
    if abs(offset) <= 1 and fresh:
        assert found == step
    elif found is not None:
        # Only when a code of another acceptable step happens to be equal (1 in 10**6).
        assert found != step and totp_code(RFC_SECRET, found) == totp_code(RFC_SECRET, step)


@given(code=st.text(max_size=8))
def test_anything_but_six_ascii_digits_never_matches(code):
    if len(code) == 6 and code.isascii() and code.isdigit():
        return
    assert totp_matching_step(RFC_SECRET, code, 1_765_000_000, None) is None
