"""Where a merchant's webhook may point: the checks against server-side request forgery.

A merchant configures a URL and creditpay then sends requests to it from inside its own
network, so without checks that URL could reach the loopback interface, private networks,
link-local addresses or a cloud metadata service (SSRF). The checks run when a merchant sets
the URL (:meth:`WebhookTargets.check`) and again at every delivery
(:meth:`WebhookTargets.check_async`), because what a host name resolves to can change between
the two (DNS rebinding). A delivery then connects to the very address that was checked, never
to the result of a second lookup.

What is checked:

* the text (pure, :func:`parse_webhook_url`): ``https`` only (``http`` in development), no
  user name or password, no backslash, space or control character, a port in 1..65535, a host
  that is either a canonical IP literal or a fully qualified name of letters, digits and
  hyphens; numeric hosts in the integer, octal or hexadecimal notations that resolvers accept
  (``2130706433``, ``0x7f.1``, ``127.1``) are refused rather than interpreted; and httpx must
  read the same scheme, host and port as this module, so no parser difference can send a
  request elsewhere than where the check looked;
* every address the host resolves to (pure, :func:`address_refusal`): loopback, private
  (RFC 1918, ULA ``fc00::/7``), link-local (``169.254/16``, ``fe80::/10``), cloud metadata
  (``169.254.169.254``, ``fd00:ec2::254``, ``100.100.100.200``, ...), carrier-grade NAT
  ``100.64/10``, unspecified, multicast, broadcast, reserved, site-local and every other
  special-purpose block that is not globally reachable, and the IPv4-mapped, IPv4-compatible,
  NAT64 (``64:ff9b::/96``), 6to4 (``2002::/16``) and Teredo forms of those.

The development setting (``allow_private``, ``CREDITPAY_WEBHOOKS_ALLOW_PRIVATE=true``) lets
``http`` and loopback, private, CGNAT and link-local targets through, for local development and
the test suite's own receivers; metadata, multicast, broadcast, unspecified and reserved
addresses stay refused even then.

Host name lookups (``getaddrinfo``, which cannot be cancelled) run on threads of their own
through :class:`HostLookup`, at most ``threads_max`` at once and ``per_key_max`` per merchant;
a lookup that outlives its caller's deadline keeps its slot until the operating system gives
up, so a merchant whose DNS never answers uses up its own slots only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import re
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from creditpay.errors import RateLimitedError, ValidationError

__all__ = [
    "WebhookTargets", "WebhookTarget", "ParsedWebhookUrl", "HostLookup", "LookupBusyError",
    "Resolve", "parse_webhook_url", "address_refusal", "vet_addresses", "system_resolve",
    "URL_CHARS_MAX", "LOOKUP_TIMEOUT_S",
]

FIELD = "webhook_url"
URL_CHARS_MAX = 512
# How long setting a webhook URL waits for its host name lookup (seconds).
LOOKUP_TIMEOUT_S = 3.0
# Seconds a caller refused for busy lookups should wait (an OS resolver gives up on a silent
# server after a few such periods).
BUSY_RETRY_AFTER_S = 5
ADDRESSES_MAX = 32  # a host name with more addresses than this is refused, not half-checked

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host name, port) -> the addresses it resolves to, as text. Injected in tests.
Resolve = Callable[[str, int], Iterable[str]]

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# What a resolver (inet_aton) or a WHATWG URL parser reads as an IPv4 number: a decimal,
# octal (leading 0) or hexadecimal (0x) integer.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f\\]")

# Cloud instance metadata services: never a webhook target, even in development.
_METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean ...
    "169.254.170.2",  # AWS ECS task metadata
    "fd00:ec2::254",  # AWS IPv6
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",  # Oracle Cloud
))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_TEREDO = ipaddress.ip_network("2001::/32")
_BROADCAST = ipaddress.ip_address("255.255.255.255")


def _error(detail: str) -> ValidationError:
    return ValidationError(detail, field=FIELD)


@dataclass(frozen=True)
class ParsedWebhookUrl:
    """A webhook URL that passed the text checks. ``host`` is ASCII (IDNA), lower case, as
    sent in the Host header and TLS SNI; ``ip`` is set when the host is an IP literal."""

    url: str
    scheme: str
    host: str
    port: int
    ip: IPAddress | None


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook URL and the addresses its host resolved to, every one of them allowed."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        """The Host header the merchant's server expects (its name, not our address)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_webhook_url(url: object, *, allow_private: bool) -> ParsedWebhookUrl:
    """The text checks (no I/O); :class:`ValidationError` naming ``webhook_url`` if refused."""
    if not isinstance(url, str) or not url or len(url) > URL_CHARS_MAX:
        raise _error(f"must be a URL of at most {URL_CHARS_MAX} characters")
    if _BAD_CHARS.search(url) or not url.isprintable():
        raise _error("must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port_given = parts.port
    except ValueError as exc:
        raise _error("is not a valid URL (check the host and port)") from exc
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and allow_private):
        raise _error("must be an https:// URL")
    if "@" in parts.netloc:
        raise _error("must not contain a user name or password")
    host = (parts.hostname or "").lower()
    if not host:
        raise _error("must name a host")
    if port_given is not None and not 1 <= port_given <= 65535:
        raise _error("must have a port between 1 and 65535")
    ip = _ip_literal(host, bracketed=parts.netloc.startswith("["))
    ascii_host = str(ip) if ip is not None else _host_name(host)
    _same_as_httpx(url, scheme, ip or ascii_host, port_given)
    port = port_given or (443 if scheme == "https" else 80)
    # "shop.example." is the same name; SNI and the Host header carry it without the dot.
    return ParsedWebhookUrl(url=url, scheme=scheme, host=ascii_host.removesuffix("."),
                            port=port, ip=ip)


def _ip_literal(host: str, *, bracketed: bool) -> IPAddress | None:
    if bracketed:
        if "%" in host:
            raise _error("must not use an IPv6 zone index")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise _error("has an invalid IPv6 address") from exc
    labels = host.removesuffix(".").split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        # Resolvers read "2130706433", "0x7f.1", "127.1" and "0177.0.0.1" as 127.0.0.1: the
        # only numeric form accepted is the canonical one, four decimal numbers.
        try:
            return ipaddress.IPv4Address(host)
        except ValueError as exc:
            raise _error("must write an IPv4 address as four decimal numbers 0-255, with no "
                         "integer, octal or hexadecimal forms") from exc
    return None


def _host_name(host: str) -> str:
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError as exc:
        raise _error("has a host name that is not valid") from exc
    name = ascii_host.removesuffix(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _error("has a host name that is not valid (letters, digits and hyphens only)")
    if labels[-1] == "localhost":
        raise _error("must not point at localhost")
    if len(labels) < 2:
        # A single label resolves through the local search domains: an internal name.
        raise _error("must use a fully qualified host name")
    return ascii_host


def _same_as_httpx(url: str, scheme: str, host: str | IPAddress, port: int | None) -> None:
    """httpx sends the request: it must read the URL as this module did."""
    import httpx

    try:
        parsed = httpx.URL(url)
        raw_host = parsed.raw_host.decode("ascii").lower()
        seen_host: str | IPAddress = (ipaddress.ip_address(raw_host)
                                      if not isinstance(host, str) else raw_host)
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise _error("is not a valid URL") from exc
    default = 443 if scheme == "https" else 80
    if (parsed.scheme, seen_host, parsed.port) != (
            scheme, host, None if port in (None, default) else port):
        raise _error("is ambiguous (URL parsers disagree on its host or port)")


def address_refusal(address: IPAddress | str, *, allow_private: bool = False) -> str | None:
    """Why ``address`` may not be a webhook target (e.g. "a loopback address"), or None.

    With ``allow_private`` (development) loopback, private, CGNAT and link-local addresses
    pass; metadata, multicast, broadcast, unspecified and reserved addresses never do."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    refusal = _refusal(ip)
    if refusal is None or (allow_private and refusal[1]):
        return None
    return refusal[0]


def _refusal(ip: IPAddress) -> tuple[str, bool] | None:
    """(reason, allowed in development) or None when ``ip`` is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
                                      if ip in _NAT64 else None)
        if embedded is not None:
            # The IPv6 form reaches the IPv4 address inside it: judge that one.
            inner = _refusal(embedded)
            form = "IPv4-mapped" if ip.ipv4_mapped else "NAT64"
            return (f"{inner[0]} in {form} form", inner[1]) if inner else None
        if int(ip) >> 32 == 0 and int(ip) > 1:
            return "a deprecated IPv4-compatible address", False
        if ip.sixtofour is not None:
            inner = _refusal(ip.sixtofour)
            if inner:
                return f"{inner[0]} in 6to4 form", inner[1]
        if ip in _TEREDO:
            return "a Teredo tunnel address", False
        if ip.scope_id is not None:
            return "a link-local address (zone index)", True
    checks: tuple[tuple[bool, str, bool], ...] = (
        (ip in _METADATA, "a cloud metadata address", False),
        (ip.is_unspecified, "the unspecified address", False),
        (ip.is_loopback, "a loopback address", True),
        (ip.is_link_local, "a link-local address", True),
        (ip.is_multicast, "a multicast address", False),
        (ip == _BROADCAST, "the broadcast address", False),
        (ip in _CGNAT, "a carrier-grade NAT address", True),
        (ip in _NAT64_LOCAL, "a private address (local-use NAT64)", True),
        (ip.is_reserved, "a reserved address", False),
        (ip.is_private, "a private address", True),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local,
         "a site-local address", True),
        (not ip.is_global, "an address that is not globally reachable", False),
    )
    for refused, reason, allowed_in_development in checks:
        if refused:
            return reason, allowed_in_development
    return None


def vet_addresses(parsed: ParsedWebhookUrl, addresses: Iterable[str], *,
                  allow_private: bool) -> WebhookTarget:
    """``parsed`` with its resolved ``addresses`` if every one is allowed; else a
    :class:`ValidationError` naming ``webhook_url`` and the first refused address."""
    checked: list[str] = []
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError as exc:
            raise _error(f"resolves to {text!r}, which is not an IP address") from exc
        reason = address_refusal(ip, allow_private=allow_private)
        if reason:
            shown = parsed.host if parsed.ip is None else "the host"
            raise _error(f"must not point at {reason} ({shown} is {text})")
        if str(ip) not in checked:
            checked.append(str(ip))
        if len(checked) > ADDRESSES_MAX:
            raise _error(f"resolves to more than {ADDRESSES_MAX} addresses")
    if not checked:
        raise _error(f"has a host name that does not resolve: {parsed.host}")
    return WebhookTarget(url=parsed.url, scheme=parsed.scheme, host=parsed.host,
                         port=parsed.port, addresses=tuple(checked))


def system_resolve(host: str, port: int) -> list[str]:
    """The operating system's answer (``getaddrinfo``), TCP addresses only."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class LookupBusyError(RateLimitedError):
    """Too many host name lookups still running (for this merchant, or in all)."""


@dataclass
class HostLookup:
    """``resolve`` on daemon threads of its own, bounded in all and per key (a merchant).

    ``getaddrinfo`` cannot be cancelled, so a caller that stops waiting (its deadline passed)
    leaves the thread running: the slot stays taken until that thread returns. Bounding per key
    means a merchant whose DNS never answers blocks its own later lookups only; the overall
    bound keeps the number of threads finite. Threads are daemons so a hung lookup never
    holds up the process's exit.
    """

    resolve: Resolve = system_resolve
    threads_max: int = 16
    per_key_max: int = 2
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _per_key: Counter[str] = field(default_factory=Counter, repr=False)

    def __post_init__(self) -> None:
        if self.threads_max < 1 or not 1 <= self.per_key_max <= self.threads_max:
            raise ValueError("need threads_max >= per_key_max >= 1")

    @property
    def running(self) -> int:
        with self._lock:
            return sum(self._per_key.values())

    def free(self) -> int:
        return self.threads_max - self.running

    def busy_keys(self) -> frozenset[str]:
        """Keys with all their slots taken."""
        with self._lock:
            return frozenset(k for k, n in self._per_key.items() if n >= self.per_key_max)

    def submit(self, key: str, host: str, port: int) -> concurrent.futures.Future[list[str]]:
        """Start a lookup; :class:`LookupBusyError` (``webhook_url``) when no slot is free."""
        with self._lock:
            if sum(self._per_key.values()) >= self.threads_max:
                raise LookupBusyError("too many host name lookups are running; try again "
                                      "shortly", field=FIELD, retry_after_s=BUSY_RETRY_AFTER_S)
            if self._per_key[key] >= self.per_key_max:
                raise LookupBusyError("earlier host name lookups for this merchant have not "
                                      "finished; try again shortly", field=FIELD,
                                      retry_after_s=BUSY_RETRY_AFTER_S)
            self._per_key[key] += 1
        future: concurrent.futures.Future[list[str]] = concurrent.futures.Future()

        def work() -> None:
            # Running from here on: a waiter's cancel (its deadline) cannot void the result.
            future.set_running_or_notify_cancel()
            try:
                result = list(self.resolve(host, port))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                future.set_exception(exc)
            else:
                future.set_result(result)
            finally:
                self._release(key)

        threading.Thread(target=work, name=f"webhook-lookup-{host}", daemon=True).start()
        return future

    def _release(self, key: str) -> None:
        with self._lock:
            self._per_key[key] -= 1
            if self._per_key[key] <= 0:
                del self._per_key[key]


@dataclass
class WebhookTargets:
    """The checks with their policy: what setting a URL and each delivery call."""

    allow_private: bool = False
    lookup: HostLookup = field(default_factory=HostLookup)
    lookup_timeout_s: float = LOOKUP_TIMEOUT_S

    def parse(self, url: object) -> ParsedWebhookUrl:
        return parse_webhook_url(url, allow_private=self.allow_private)

    def check(self, url: object, *, key: str) -> WebhookTarget:
        """The whole check, blocking at most ``lookup_timeout_s`` on the host name lookup.
        Call it before a transaction starts: it does network I/O."""
        parsed = self.parse(url)
        if parsed.ip is not None:
            return vet_addresses(parsed, [str(parsed.ip)], allow_private=self.allow_private)
        future = self.lookup.submit(key, parsed.host, parsed.port)
        try:
            addresses = future.result(timeout=self.lookup_timeout_s)
        except concurrent.futures.TimeoutError as exc:
            raise _error(f"has a host name that did not resolve within "
                         f"{self.lookup_timeout_s:g} s: {parsed.host}") from exc
        except OSError as exc:
            raise _error(f"has a host name that does not resolve: {parsed.host}") from exc
        return vet_addresses(parsed, addresses, allow_private=self.allow_private)

    async def check_async(self, url: object, *, key: str) -> WebhookTarget:
        """The whole check for a delivery; the caller's deadline bounds the lookup."""
        parsed = self.parse(url)
        if parsed.ip is not None:
            return vet_addresses(parsed, [str(parsed.ip)], allow_private=self.allow_private)
        try:
            addresses = await asyncio.wrap_future(
                self.lookup.submit(key, parsed.host, parsed.port))
        except OSError as exc:
            raise _error(f"has a host name that does not resolve: {parsed.host}") from exc
        return vet_addresses(parsed, addresses, allow_private=self.allow_private)
