"""Who may call what: credential resolution, per-endpoint access rules, rate limits and
security headers.

Every route declares an :class:`Access` rule (customers, merchant scopes, operator roles,
partner lender scopes, or public); the authorisation-matrix test reads these rules from the app's routes and checks
every endpoint against every kind of caller.

Rate limits (per client IP, per credential, per login identity) are GCRA buckets
(:mod:`creditpay.platform.rate_limits`). On PostgreSQL they live in the database, shared by
every API process (``creditpay serve --workers N``; several machines behind a load balancer
too): one upsert per request checks both the IP's and the credential's limit. On SQLite,
where one process serves (``--workers`` above 1 is refused), they live in that process's
memory (:class:`MemoryRateLimits`, the same arithmetic): a database write per request would
queue every request behind SQLite's one writer. ``ApiConfig.rate_limits`` overrides the
choice.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditpay.errors import PROBLEM_BASE, AuthenticationError, PermissionDeniedError
from creditpay.parties.service import Principal
from creditpay.platform.rate_limits import Limit, gcra

__all__ = ["Access", "RateLimiter", "MemoryRateLimits", "LoginThrottle", "GuardMiddleware",
           "Limit", "bearer", "SECURITY_HEADERS"]

_log = logging.getLogger("creditpay.api")

bearer = HTTPBearer(auto_error=False, description="customer access token, merchant API key "
                    "(cpk...), operator login token (from /v1/operator/auth/login), "
                    "operator machine token (cpo...) or partner lender API key (cpl...)")

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class Access:
    """A FastAPI dependency resolving the caller and enforcing one endpoint's rule."""

    customer: bool = False
    merchant_scopes: frozenset[str] | None = None  # None: merchants not allowed
    roles: frozenset[str] = frozenset()  # operator roles allowed
    # Partner lenders' read-only keys (issue #17): None refuses them. Unlike a merchant
    # rule, an empty set lets no partner in: a partner route always names its scope.
    partner_scopes: frozenset[str] | None = None

    def allows(self, principal: Principal) -> bool:
        if principal.kind == "customer":
            return self.customer
        if principal.kind == "merchant":
            return self.merchant_scopes is not None and (
                not self.merchant_scopes or bool(self.merchant_scopes & principal.scopes))
        if principal.kind == "partner":
            return bool(self.partner_scopes and self.partner_scopes & principal.scopes)
        return principal.kind == "operator" and principal.role in self.roles

    def dependency(self) -> Callable[..., Principal]:
        from fastapi import Depends

        rule = self

        def resolve(request: Request, credentials: HTTPAuthorizationCredentials | None
                    = Depends(bearer)) -> Principal:
            if credentials is None or credentials.scheme.lower() != "bearer":
                raise AuthenticationError("send Authorization: Bearer <token or API key>")
            runtime = request.app.state.runtime
            token = credentials.credentials
            with runtime.uow.connect() as conn:
                if token.startswith("v1."):
                    # A customer's access token or an operator's login token.
                    principal = runtime.parties.authenticate_signed_token(
                        conn, token, runtime.clock.now())
                else:
                    principal = runtime.parties.authenticate_api_key(conn, token)
            if not rule.allows(principal):
                needs = (rule.merchant_scopes if principal.kind == "merchant" else
                         rule.partner_scopes if principal.kind == "partner" else None)
                raise PermissionDeniedError(
                    "this credential may not call this endpoint"
                    + (f" (needs one of scopes {sorted(needs)})" if needs else ""))
            request.state.principal = principal
            return principal

        resolve.access_rule = rule  # type: ignore[attr-defined]
        return resolve


def access(*, customer: bool = False, merchant: set[str] | None = None,
           roles: set[str] | None = None, partner: set[str] | None = None
           ) -> Callable[..., Principal]:
    """Shorthand: ``Depends(access(customer=True, merchant={"payments:read"}))``."""
    return Access(customer, frozenset(merchant) if merchant is not None else None,
                  frozenset(roles or ()),
                  frozenset(partner) if partner is not None else None).dependency()


class RateLimiter(Protocol):
    """Checks and counts one request against several ``(key, limit)``: 0.0 if admitted,
    else seconds until it would be (:class:`creditpay.platform.rate_limits.RateLimits` in
    the database, :class:`MemoryRateLimits` in process)."""

    def take(self, checks: Sequence[tuple[str, Limit]]) -> float: ...


class MemoryRateLimits:
    """GCRA buckets in this process's memory (one API process: SQLite), thread-safe and
    bounded (LRU over ``keys_max`` keys); the arithmetic of the database's
    (:func:`creditpay.platform.rate_limits.gcra`)."""

    def __init__(self, keys_max: int = 100_000,
                 now_s: Callable[[], float] = time.monotonic) -> None:
        self._keys_max = keys_max
        self._now_s = now_s
        self._lock = threading.Lock()
        self._tats: OrderedDict[str, int] = OrderedDict()

    def take(self, checks: Sequence[tuple[str, Limit]]) -> float:
        now_us = int(self._now_s() * 1_000_000)
        wait_us = 0
        with self._lock:
            for key, limit in checks:
                admitted, tat_us, wait = gcra(self._tats.get(key), now_us, limit.interval_us,
                                              limit.tolerance_us)
                self._tats[key] = tat_us
                self._tats.move_to_end(key)
                if not admitted:
                    wait_us = max(wait_us, wait, 1)
            while len(self._tats) > self._keys_max:
                self._tats.popitem(last=False)
        return wait_us / 1_000_000


class LoginThrottle:
    """The per-login-identity limit (``app.state.login_buckets``): ``take(key)`` is 0.0 or
    the seconds to wait, checked before any password work."""

    def __init__(self, limiter: RateLimiter, limit: Limit) -> None:
        self.limiter = limiter
        self.limit = limit

    def take(self, key: str) -> float:
        return self.limiter.take([("login:" + key, self.limit)])


class GuardMiddleware:
    """Rate limits (per IP, per credential) and security headers on every response.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` runs the app in a separate
    task and re-streams its body, which cost about a millisecond per request. A limiter
    that does I/O (``blocking``: the database's) is called in a worker thread, so the event
    loop keeps serving while the check waits for the database."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, ip_limit: Limit,
                 credential_limit: Limit, blocking: bool = False) -> None:
        self.app = app
        self.limiter = limiter
        self.ip_limit = ip_limit
        self.credential_limit = credential_limit
        self.blocking = blocking
        self._next_warning_s = 0.0

    def _limits_unavailable(self) -> None:
        """Log (at most every 10 s) that the shared limits could not be checked."""
        now = time.monotonic()
        if now >= self._next_warning_s:
            self._next_warning_s = now + 10.0
            _log.exception("rate limits unavailable (database unreachable?): requests are "
                           "admitted without them")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        checks = [("ip:" + ip, self.ip_limit)]
        auth = _header(scope, b"authorization")
        if auth:
            checks.append(("cred:" + hashlib.sha256(auth).hexdigest()[:32],
                           self.credential_limit))
        if self.blocking:
            try:
                wait = await run_in_threadpool(self.limiter.take, checks)
            except Exception:  # noqa: BLE001 - the limits fail open, loudly
                # The database holding the limits is unreachable: refusing every request
                # would also fail the liveness probe and every route that needs no
                # database; the request goes on (one that needs the database fails there).
                self._limits_unavailable()
                wait = 0.0
        else:
            wait = self.limiter.take(checks)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in _SECURITY_HEADER_BYTES
                               if header[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        if wait:
            from creditpay.api.problems import problem_response

            response: Response = problem_response({
                "type": PROBLEM_BASE + "rate-limited", "title": "Too many requests",
                "status": 429, "detail": "rate limit exceeded; retry later",
                "instance": scope.get("path", "")},
                headers={"Retry-After": str(int(wait) + 1)})
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


_SECURITY_HEADER_BYTES = tuple((name.lower().encode("latin-1"), value.encode("latin-1"))
                               for name, value in SECURITY_HEADERS.items())


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None
