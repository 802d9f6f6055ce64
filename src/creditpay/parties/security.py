"""Credentials: argon2id passwords, signed access tokens, hashed API keys and refresh tokens,
one-time codes.

Why SHA-256 (not argon2) for API keys, operator tokens and refresh tokens: each is 256 bits
from the OS CSPRNG, so there is nothing to brute-force (2**256 guesses) and a slow hash would
only cost CPU on every request. Passwords are low-entropy and chosen by people: argon2id.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from creditpay.errors import AuthenticationError, ValidationError

__all__ = [
    "TOKEN_KEY_ENV", "PasswordPolicy", "TokenSigner", "load_token_key", "new_id",
    "new_secret", "sha256_hex", "split_api_key", "make_api_key", "one_time_code",
    "TOTP_STEP_S", "new_totp_secret", "totp_code", "totp_provisioning_uri", "totp_step",
    "totp_matching_step",
]

TOKEN_KEY_ENV = "CREDITPAY_TOKEN_KEY"  # nosec B105 - the name of an environment variable
_HKDF_INFO_TOKENS = b"creditpay/api-tokens/v1"
PASSWORD_CHARS_MIN = 10
PASSWORD_CHARS_MAX = 128


def new_id(prefix: str) -> str:
    """``prefix_`` + 20 hex chars (80 random bits): unguessable resource ids."""
    return f"{prefix}_{secrets.token_hex(10)}"


def new_secret() -> str:
    """256 random bits, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_api_key(kind: str) -> tuple[str, str, str]:
    """A new key ``<kind>_<prefix>_<secret>``; returns (full key, prefix, secret hash).

    The prefix (lookup id, not secret) lets us find the row by an index without comparing
    hashes across rows; the secret part is compared in constant time against its SHA-256.
    """
    prefix = f"{kind}{secrets.token_hex(8)}"
    secret = new_secret()
    return f"{prefix}_{secret}", prefix, sha256_hex(secret)


def split_api_key(key: str) -> tuple[str, str]:
    prefix, sep, secret = key.partition("_")
    if not sep or not prefix or len(secret) < 32 or len(key) > 200:
        raise AuthenticationError("malformed credentials")
    return prefix, secret


def one_time_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10 ** digits):0{digits}d}"


# TOTP (RFC 6238) as every authenticator app does it: HMAC-SHA1, 6 digits, 30-second steps
# counted from the Unix epoch. The codes come from ``cryptography``'s implementation; only
# the choice of which steps to try (skew, replay) is ours.
TOTP_STEP_S = 30
TOTP_DIGITS = 6
TOTP_SKEW_STEPS = 1  # the previous and the next step are accepted too (clock drift)
_TOTP_SECRET_BYTES = 20  # 160 bits, RFC 4226's recommended length for HMAC-SHA1


def new_totp_secret() -> str:
    """A new TOTP secret, base32 without padding (what authenticator apps are given)."""
    return base64.b32encode(secrets.token_bytes(_TOTP_SECRET_BYTES)).decode("ascii"
                                                                           ).rstrip("=")


def _totp(secret_b32: str) -> Any:
    from cryptography.hazmat.primitives.hashes import SHA1
    from cryptography.hazmat.primitives.twofactor.totp import TOTP

    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    # SHA-1 is what RFC 6238 apps implement; as an HMAC key it is not weakened by SHA-1's
    # collisions.
    return TOTP(key, TOTP_DIGITS, SHA1(), TOTP_STEP_S)  # nosec B303


def totp_step(unix_s: float) -> int:
    """The TOTP time step (30 s) that contains ``unix_s`` (seconds since the epoch)."""
    return int(unix_s) // TOTP_STEP_S


def totp_code(secret_b32: str, step: int) -> str:
    """The 6-digit code of ``step`` for this secret."""
    return _totp(secret_b32).generate(step * TOTP_STEP_S).decode("ascii")


def totp_provisioning_uri(secret_b32: str, account: str, issuer: str = "creditpay") -> str:
    """The ``otpauth://totp/...`` URI an authenticator app enrols from (shown as a QR code)."""
    return str(_totp(secret_b32).get_provisioning_uri(account, issuer))


def totp_matching_step(secret_b32: str, code: str, unix_s: float,
                       last_step: int | None) -> int | None:
    """The step whose code ``code`` is, among the current step and ``TOTP_SKEW_STEPS``
    either side of it, and only later than ``last_step`` (the step of the last code
    accepted: a code is good once, and an older one never again); None when none matches.
    Every candidate is compared in constant time."""
    if not isinstance(code, str) or len(code) != TOTP_DIGITS or not code.isascii() \
            or not code.isdigit():
        return None
    now = totp_step(unix_s)
    found = None
    for step in range(max(0, now - TOTP_SKEW_STEPS), now + TOTP_SKEW_STEPS + 1):
        if hmac.compare_digest(totp_code(secret_b32, step), code) and \
                (last_step is None or step > last_step):
            found = step
    return found


class PasswordPolicy:
    """argon2id with OWASP's minimum (19 MiB, t=2, p=1) by default."""

    def __init__(self, *, time_cost: int = 2, memory_cost_kib: int = 19_456) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib,
                                      parallelism=1)
        # Verifying against this for unknown users keeps login timing uniform.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        check_password_shape(password)
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and \
                password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def check_password_shape(password: str) -> None:
    if not isinstance(password, str) or not (
            PASSWORD_CHARS_MIN <= len(password) <= PASSWORD_CHARS_MAX):
        raise ValidationError(
            f"must be {PASSWORD_CHARS_MIN}..{PASSWORD_CHARS_MAX} characters", field="password")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Compact HMAC-SHA256 signed tokens: ``v1.<base64url json>.<base64url mac>``.

    Used for access tokens, merchant-presented QR payloads and consumer payment codes; each
    carries a ``typ`` so one kind can never be replayed as another, and ``exp`` in business
    time (epoch seconds).
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValidationError("token key must be at least 32 bytes", field="token_key")
        self._key = bytes(key)

    def mac(self, label: str, message: bytes) -> str:
        """A keyed MAC for other uses (one-time code hashes), domain-separated by label."""
        return hmac.new(self._key, label.encode() + b"\x00" + message, hashlib.sha256
                        ).hexdigest()

    def sign(self, typ: str, claims: Mapping[str, Any], expires_at: dt.datetime) -> str:
        body = dict(claims, typ=typ, exp=int(expires_at.timestamp()))
        encoded = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        signature = hmac.new(self._key, f"v1.{encoded}".encode(), hashlib.sha256).digest()
        return f"v1.{encoded}.{_b64(signature)}"

    def verify(self, token: str, typ: str | tuple[str, ...], now: dt.datetime
               ) -> dict[str, Any]:
        """Claims of a valid, unexpired token of kind ``typ`` (or of one of the kinds of a
        tuple); else AuthenticationError."""
        kinds = (typ,) if isinstance(typ, str) else typ
        parts = token.split(".") if isinstance(token, str) and len(token) < 4096 else []
        if len(parts) != 3 or parts[0] != "v1":
            raise AuthenticationError("malformed token")
        expected = hmac.new(self._key, f"v1.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            given = _unb64(parts[2])
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, TypeError) as exc:
            raise AuthenticationError("malformed token") from exc
        if not hmac.compare_digest(expected, given):
            raise AuthenticationError("token signature is invalid")
        if not isinstance(claims, dict) or claims.get("typ") not in kinds:
            raise AuthenticationError("wrong kind of token")
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= now.timestamp():
            raise AuthenticationError("token has expired")
        return claims


def load_token_key(master_derive: Any | None = None, text: str | None = None) -> bytes:
    """``text`` (the ``CREDITPAY_TOKEN_KEY`` setting: base64, >= 32 bytes) or HKDF of the
    master key.

    ``master_derive`` is a ``LocalMasterKey`` (has ``derive(info)``). Never a built-in value.
    """
    if text:
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except ValueError as exc:
            raise ValidationError("is not valid base64", field=TOKEN_KEY_ENV) from exc
        if len(key) < 32:
            raise ValidationError("must decode to at least 32 bytes", field=TOKEN_KEY_ENV)
        return key
    if master_derive is None or not hasattr(master_derive, "derive"):
        raise ValidationError(f"set {TOKEN_KEY_ENV}: it cannot be derived without a local "
                              "master key", field=TOKEN_KEY_ENV)
    return master_derive.derive(_HKDF_INFO_TOKENS)
