"""Browser sessions: the API's own customer session, carried in a cookie, and CSRF tokens.

The session cookie holds what ``POST /v1/auth/login`` would return to an app (the access
and refresh tokens of a customer session made by :class:`~creditpay.parties.service.Parties`)
plus a random CSRF secret, signed with the token key (a MAC, so a cookie a third party
planted or edited is ignored). It is ``HttpOnly`` (no script reads it), ``Secure`` and
``SameSite=Lax``, with the ``__Host-`` prefix (this host only, path ``/``). An expired access
token is renewed with the refresh token, rotating it as the API's refresh does.

CSRF: every form carries the session's CSRF secret in a hidden field; every POST compares
it with the cookie's in constant time before anything else runs, and a POST without it
is refused with 403. A visitor who is not logged in gets a session with a CSRF secret only
(log-in and register forms are protected too); logging in or out starts a new secret.

The device cookie is a random device id (the API's ``device_id``): long-lived, so a
browser that passed a new-device step-up is trusted next time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from dataclasses import dataclass, replace
from typing import Any

from starlette.responses import Response

from creditpay.errors import AuthenticationError
from creditpay.parties.security import TokenSigner
from creditpay.parties.service import Principal

__all__ = ["SESSION_COOKIE", "DEVICE_COOKIE", "LANGUAGE_COOKIE", "CSRF_FIELD", "WebSession",
           "read_session", "write_session", "csrf_matches", "new_device_id"]

SESSION_COOKIE = "__Host-cp_session"
DEVICE_COOKIE = "__Host-cp_device"
LANGUAGE_COOKIE = "__Host-cp_lang"
CSRF_FIELD = "csrf_token"
_MAC_LABEL = "web-session"
_COOKIE_CHARS_MAX = 3800  # browsers keep cookies up to 4096 bytes
DEVICE_COOKIE_MAX_AGE_S = 400 * 24 * 3600  # Chromium's cap on a cookie's lifetime
SESSION_COOKIE_MAX_AGE_S = 30 * 24 * 3600  # the refresh token's lifetime (AccessPolicy)


@dataclass(frozen=True)
class WebSession:
    """What the session cookie holds. ``access``/``refresh``: the customer session's tokens
    (None: not logged in); ``challenge``: a login step-up awaiting its code;
    ``registration``: a registration awaiting its code."""

    csrf: str
    access: str | None = None
    refresh: str | None = None
    challenge: str | None = None
    registration: str | None = None

    @classmethod
    def anonymous(cls) -> WebSession:
        return cls(csrf=secrets.token_urlsafe(32))

    def logged_in(self, access: str, refresh: str) -> WebSession:
        """A new session (and a new CSRF secret) for a customer who just logged in."""
        return WebSession(csrf=secrets.token_urlsafe(32), access=access, refresh=refresh)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_session(signer: TokenSigner, session: WebSession) -> str:
    body = {k: v for k, v in (("c", session.csrf), ("a", session.access),
                              ("r", session.refresh), ("h", session.challenge),
                              ("g", session.registration)) if v is not None}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{signer.mac(_MAC_LABEL, payload.encode())}"


def decode_session(signer: TokenSigner, value: str | None) -> WebSession | None:
    """The session of a cookie value, or None when absent, malformed or not ours."""
    if not value or len(value) > _COOKIE_CHARS_MAX:
        return None
    payload, _, mac = value.partition(".")
    if not hmac.compare_digest(signer.mac(_MAC_LABEL, payload.encode()), mac):
        return None
    try:
        body: Any = json.loads(_unb64(payload))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("c"), str):
        return None
    fields = {name: body.get(key) for key, name in (("a", "access"), ("r", "refresh"),
                                                   ("h", "challenge"), ("g", "registration"))}
    if not all(v is None or isinstance(v, str) for v in fields.values()):
        return None
    return WebSession(csrf=body["c"], **fields)


def read_session(signer: TokenSigner, cookies: dict[str, str]) -> WebSession:
    """The request's session; a new anonymous one if it has none (or a bad one)."""
    return decode_session(signer, cookies.get(SESSION_COOKIE)) or WebSession.anonymous()


def write_session(response: Response, signer: TokenSigner, session: WebSession, *,
                  cookie: str = SESSION_COOKIE, max_age_s: int = SESSION_COOKIE_MAX_AGE_S
                  ) -> None:
    """Set the session cookie ``cookie`` (the customer's, or the console's staff session)."""
    response.set_cookie(cookie, encode_session(signer, session), max_age=max_age_s, path="/",
                        secure=True, httponly=True, samesite="lax")


def csrf_matches(session: WebSession, submitted: str | None) -> bool:
    """Whether a form's CSRF field is this session's secret (constant-time compare)."""
    return isinstance(submitted, str) and hmac.compare_digest(
        submitted.encode(), session.csrf.encode())


def new_device_id() -> str:
    return "web-" + secrets.token_urlsafe(24)


def write_device(response: Response, device_id: str) -> None:
    response.set_cookie(DEVICE_COOKIE, device_id, max_age=DEVICE_COOKIE_MAX_AGE_S, path="/",
                        secure=True, httponly=True, samesite="lax")


def authenticate(rt: Any, session: WebSession) -> tuple[Principal | None, WebSession]:
    """The customer of the session and the session to keep (renewed when its access token
    had expired); ``(None, anonymous session)`` when it has ended."""
    if session.access is None:
        return None, session
    with rt.uow.connect() as conn:
        try:
            return rt.parties.authenticate_access_token(conn, session.access,
                                                        rt.clock.now()), session
        except AuthenticationError:
            pass
    if session.refresh is None:
        return None, WebSession.anonymous()
    try:
        renewed = rt.uow.run(lambda tx: rt.parties.refresh(tx, session.refresh))
    except AuthenticationError:
        return None, WebSession.anonymous()
    if renewed.get("revoked"):  # a copied refresh token: the whole login was ended
        return None, WebSession.anonymous()
    session = replace(session, access=renewed["access_token"], refresh=renewed["refresh_token"])
    with rt.uow.connect() as conn:
        return rt.parties.authenticate_access_token(conn, session.access,
                                                    rt.clock.now()), session
