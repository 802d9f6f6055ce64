"""Who may call what: credential resolution, per-endpoint access rules, rate limits and
security headers.

Every route declares an :class:`Access` rule (customers, merchant scopes, operator roles,
partner lender scopes, or public); the authorisation-matrix test reads these rules from the app's routes and checks
every endpoint against every kind of caller.

Rate limits are in-process token buckets (per client IP and per credential): enough for one
process; several processes behind a load balancer each enforce their own share (a shared
store such as Redis would be needed for a global limit).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditpay.errors import PROBLEM_BASE, AuthenticationError, PermissionDeniedError
from creditpay.parties.service import Principal

__all__ = ["Access", "TokenBuckets", "GuardMiddleware", "bearer", "SECURITY_HEADERS"]

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


class TokenBuckets:
    """Thread-safe token buckets keyed by string, bounded in memory (LRU)."""

    def __init__(self, capacity: int, refill_per_s: float, keys_max: int = 100_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.refill_per_s = refill_per_s
        self._keys_max = keys_max
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """0 if allowed, else seconds until a token is available."""
        now = self._monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.capacity), now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill_per_s)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1 - tokens) / self.refill_per_s
            self._buckets.move_to_end(key)
            while len(self._buckets) > self._keys_max:
                self._buckets.popitem(last=False)
            return wait


class GuardMiddleware:
    """Rate limits (per IP, per credential) and security headers on every response.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` runs the app in a separate
    task and re-streams its body, which cost about a millisecond per request."""

    def __init__(self, app: ASGIApp, per_ip: TokenBuckets, per_credential: TokenBuckets
                 ) -> None:
        self.app = app
        self.per_ip = per_ip
        self.per_credential = per_credential

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        wait = self.per_ip.take("ip:" + ip)
        auth = _header(scope, b"authorization")
        if not wait and auth:
            wait = self.per_credential.take("cred:" + hashlib.sha256(auth).hexdigest()[:32])

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
