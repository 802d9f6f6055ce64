"""The hosted checkout's link and the merchant's ``return_url`` (issue #15 item 3).

A payment intent created by a merchant gets a checkout link ``/app/checkout/<token>``:

* the token is ``HMAC(token key, "checkout", intent id : nonce)`` where the nonce is 128
  random bits (``secrets``) stored on the intent; the row keeps only the SHA-256 of the token
  (the page looks the intent up by it). Someone who reads the database cannot rebuild a
  link without the key, and the API can still give the same link again (GET, an idempotent
  replay) without the token being stored anywhere;
* the link is short-lived: it stops working when the intent expires or 30 minutes after it
  was made, whichever comes first;
* it is single-use by the intent's state: once the intent is confirmed (or in review,
  declined, cancelled, expired) the page says so, and confirm refuses a second payment.

``return_url`` is where the shopper's browser is sent back (a redirect, not a request this
server makes, so the webhook SSRF checks do not apply): ``https``, or ``http`` on a loopback
host only when the process allows development targets (the same switch that lets webhooks
reach loopback, ``CREDITPAY_WEBHOOKS_ALLOW_PRIVATE``); no user name or password, no
fragment, at most :data:`RETURN_URL_CHARS_MAX` characters.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from creditpay.errors import ValidationError
from creditpay.parties.security import TokenSigner, sha256_hex

__all__ = ["CHECKOUT_PATH", "CHECKOUT_TTL", "RETURN_URL_CHARS_MAX", "LOOPBACK_HOSTS",
           "check_return_url", "new_checkout_link", "checkout_token", "token_sha256",
           "is_payable", "back_to_merchant"]

CHECKOUT_PATH = "/app/checkout/"
CHECKOUT_TTL = dt.timedelta(minutes=30)
RETURN_URL_CHARS_MAX = 1024
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
NONCE_BYTES = 16  # 128 random bits
_FIELD = "return_url"
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_HOST = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$")


def check_return_url(url: object, *, allow_loopback_http: bool) -> str:
    """``url`` if it may be a ``return_url``; ValidationError naming ``return_url``
    otherwise (pure: no I/O)."""
    if not isinstance(url, str) or not url or len(url) > RETURN_URL_CHARS_MAX:
        raise ValidationError(f"must be a URL of at most {RETURN_URL_CHARS_MAX} characters",
                              field=_FIELD)
    if _BAD_CHARS.search(url) or not url.isprintable() or not url.isascii():
        raise ValidationError("must not contain spaces, control characters, backslashes or "
                              "non-ASCII characters (percent-encode them)", field=_FIELD)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError("is not a valid URL (check the host and port)",
                              field=_FIELD) from exc
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if "@" in parts.netloc:
        raise ValidationError("must not contain a user name or password", field=_FIELD)
    if "#" in url:
        raise ValidationError("must not have a fragment (#...)", field=_FIELD)
    if not host:
        raise ValidationError("must name a host", field=_FIELD)
    if port is not None and not 1 <= port <= 65535:
        raise ValidationError("must have a port between 1 and 65535", field=_FIELD)
    if not (parts.netloc.startswith("[") or _HOST.match(host)):
        raise ValidationError("has a host name that is not valid", field=_FIELD)
    if scheme == "https":
        return url
    if scheme == "http" and host in LOOPBACK_HOSTS:
        if allow_loopback_http:
            return url
        raise ValidationError("must be an https:// URL (http on a loopback host is for "
                              "development only)", field=_FIELD)
    raise ValidationError("must be an https:// URL", field=_FIELD)


def checkout_token(signer: TokenSigner, intent_id: str, nonce: str) -> str:
    """The token of an intent's checkout link (64 hex characters)."""
    return signer.mac("checkout", f"{intent_id}:{nonce}".encode())


def token_sha256(token: str) -> str:
    return sha256_hex(token)


def new_checkout_link(signer: TokenSigner, intent_id: str, now: dt.datetime,
                      intent_expires_at: dt.datetime) -> dict[str, Any]:
    """The columns of a new checkout link for ``intent_id`` (nonce, token hash, expiry)."""
    nonce = secrets.token_hex(NONCE_BYTES)
    return {"checkout_nonce": nonce,
            "checkout_token_sha256": token_sha256(checkout_token(signer, intent_id, nonce)),
            "checkout_expires_at": min(intent_expires_at, now + CHECKOUT_TTL)}


def is_payable(row: Any, now: dt.datetime) -> bool:
    """Whether intent ``row`` can still be paid through its checkout link."""
    return (row.status == "requires_confirmation" and row.checkout_nonce is not None
            and row.checkout_expires_at is not None and now < row.checkout_expires_at
            and now < row.expires_at)


def back_to_merchant(return_url: str, intent_id: str, status: str) -> str:
    """``return_url`` with ``intent_id`` and ``status`` added to its query (any earlier
    parameters of those names replaced, so the merchant reads exactly one of each)."""
    parts = urlsplit(return_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in ("intent_id", "status")]
    query += [("intent_id", intent_id), ("status", status)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))
