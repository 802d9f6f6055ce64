"""Where a merchant's webhook may point (creditpay.platform.webhook_targets): the URL text, every
address its host resolves to (with an injected resolver, never real DNS), the development
setting, and the bounded host name lookups."""

from __future__ import annotations

import asyncio
import ipaddress
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditpay.errors import RateLimitedError, ValidationError
from creditpay.platform.webhook_targets import (
    HostLookup,
    LookupBusyError,
    WebhookTargets,
    address_refusal,
    parse_webhook_url,
)
from tests.api.helpers import fake_dns
from tests.payments.webhook_receivers import wait_for

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
DNS = fake_dns({
    "hooks.shop.example": [PUBLIC_V4, PUBLIC_V6],
    "internal.shop.example": ["10.1.2.3"],
    "mixed.shop.example": [PUBLIC_V4, "127.0.0.1"],
    "ula.shop.example": [PUBLIC_V6, "fd12:3456:789a::1"],
    "metadata.shop.example": ["169.254.169.254"],
    "mapped.shop.example": ["::ffff:10.0.0.1"],
    "cgnat.shop.example": ["100.64.0.9"],
    "loop.shop.example": ["127.0.0.1"],
    "empty.shop.example": [],
})


def _targets(allow_private: bool = False) -> WebhookTargets:
    return WebhookTargets(allow_private, HostLookup(DNS))


def _refused(url: str, *, allow_private: bool = False) -> str:
    with pytest.raises(ValidationError) as caught:
        _targets(allow_private).check(url, key="mer_1")
    assert caught.value.field == "webhook_url" and caught.value.status == 422
    return caught.value.detail


@pytest.mark.parametrize("url, says", [
    # scheme, credentials, characters, ports
    ("http://hooks.shop.example/h", "https://"),
    ("ftp://hooks.shop.example/h", "https://"),
    ("javascript:alert(1)", "https://"),
    ("//hooks.shop.example/h", "https://"),
    ("https://user:pw@hooks.shop.example/h", "user name or password"),
    ("https://user@hooks.shop.example/h", "user name or password"),
    ("https://hooks.shop.example\\@127.0.0.1/", "backslashes"),
    ("https://hooks.shop.example /h", "spaces"),
    ("https://hooks.shop.example/h\r\nX-Evil: 1", "control characters"),
    ("https://hooks.shop.example:0/h", "port"),
    ("https://hooks.shop.example:65536/h", "URL"),
    ("https://" + "a" * 600 + ".example/", "512 characters"),
    ("https:///h", "host"),
    # names that are internal by construction
    ("https://localhost/h", "localhost"),
    ("https://LOCALHOST./h", "localhost"),
    ("https://api.localhost/h", "localhost"),
    ("https://intranet/h", "fully qualified"),
    ("https://under_score.example/h", "host name"),
    ("https://%31%32%37.0.0.1/h", "four decimal numbers"),
    ("https://%6c%6fcalhost.example/h", "host name"),
    # numeric notations a resolver reads as 127.0.0.1 or 10.0.0.1
    ("https://2130706433/h", "four decimal numbers"),
    ("https://0x7f000001/h", "four decimal numbers"),
    ("https://0x7f.1/h", "four decimal numbers"),
    ("https://0177.0.0.1/h", "four decimal numbers"),
    ("https://127.1/h", "four decimal numbers"),
    ("https://127.0.0.01/h", "four decimal numbers"),
    ("https://10.1/h", "four decimal numbers"),
    ("https://1.2.3.4.5/h", "four decimal numbers"),
    ("https://017700000001/h", "four decimal numbers"),
    ("https://[fe80::1%25eth0]/h", "zone index"),
    ("https://[::1/h", "URL"),
    # IP literals
    ("https://127.0.0.1/h", "loopback"),
    ("https://127.8.9.10:8443/h", "loopback"),
    ("https://10.0.0.1/h", "private"),
    ("https://172.16.5.4/h", "private"),
    ("https://192.168.1.1/h", "private"),
    ("https://169.254.1.1/h", "link-local"),
    ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("https://100.100.100.200/h", "cloud metadata"),
    ("https://100.64.0.1/h", "carrier-grade NAT"),
    ("https://100.127.255.254/h", "carrier-grade NAT"),
    ("https://0.0.0.0/h", "unspecified"),
    ("https://224.0.0.1/h", "multicast"),
    ("https://239.255.255.250/h", "multicast"),
    ("https://255.255.255.255/h", "broadcast"),
    ("https://240.0.0.1/h", "reserved"),
    ("https://192.0.2.10/h", "private"),  # TEST-NET-1: documentation only
    ("https://198.18.0.1/h", "private"),  # benchmarking
    ("https://[::1]/h", "loopback"),
    ("https://[::]/h", "unspecified"),
    ("https://[fe80::1]/h", "link-local"),
    ("https://[fc00::1]/h", "private"),
    ("https://[fd00:ec2::254]/h", "cloud metadata"),
    ("https://[fec0::1]/h", "site-local"),
    ("https://[ff02::1]/h", "multicast"),
    ("https://[::ffff:127.0.0.1]/h", "loopback address in IPv4-mapped form"),
    ("https://[::ffff:7f00:1]/h", "loopback address in IPv4-mapped form"),
    ("https://[::ffff:169.254.169.254]/h", "cloud metadata address in IPv4-mapped form"),
    ("https://[::127.0.0.1]/h", "IPv4-compatible"),
    ("https://[::a00:1]/h", "IPv4-compatible"),
    ("https://[64:ff9b::7f00:1]/h", "loopback address in NAT64 form"),
    ("https://[64:ff9b::a9fe:a9fe]/h", "cloud metadata address in NAT64 form"),
    ("https://[64:ff9b:1::a00:1]/h", "local-use NAT64"),
    ("https://[2002:7f00:1::1]/h", "loopback address in 6to4 form"),
    ("https://[2002:c0a8:101::1]/h", "private address in 6to4 form"),
    ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/h", "Teredo"),
    ("https://[2001:db8::1]/h", "private"),  # documentation
    # host names, checked on every address they resolve to
    ("https://internal.shop.example/h", "private address (internal.shop.example is 10.1.2.3)"),
    ("https://mixed.shop.example/h", "loopback address (mixed.shop.example is 127.0.0.1)"),
    ("https://ula.shop.example/h", "private"),
    ("https://metadata.shop.example/h", "cloud metadata"),
    ("https://mapped.shop.example/h", "private address in IPv4-mapped form"),
    ("https://cgnat.shop.example/h", "carrier-grade NAT"),
    ("https://unknown.shop.example/h", "does not resolve"),
    ("https://empty.shop.example/h", "does not resolve"),
])
def test_refused(url, says):
    assert says in _refused(url)


@pytest.mark.parametrize("url, addresses", [
    ("https://hooks.shop.example/webhooks?x=1", (PUBLIC_V4, PUBLIC_V6)),
    ("https://HOOKS.shop.example:8443/h", (PUBLIC_V4, PUBLIC_V6)),
    ("https://hooks.shop.example./h", (PUBLIC_V4, PUBLIC_V6)),
    ("https://8.8.8.8/h", ("8.8.8.8",)),
    ("https://[2606:4700:4700::1111]/h", ("2606:4700:4700::1111",)),
    ("https://[::ffff:8.8.8.8]/h", ("::ffff:808:808",)),  # judged by the IPv4 inside
    ("https://[64:ff9b::808:808]/h", ("64:ff9b::808:808",)),  # NAT64 of a public address
])
def test_allowed(url, addresses):
    target = _targets().check(url, key="mer_1")
    assert target.url == url and target.addresses == addresses


def test_host_header_and_sni_name_are_the_merchants_not_our_address():
    target = _targets().check("https://HOOKS.shop.example:8443/h", key="mer_1")
    assert (target.host, target.port, target.host_header) == (
        "hooks.shop.example", 8443, "hooks.shop.example:8443")
    assert _targets().check("https://hooks.shop.example:443/h",
                            key="mer_1").host_header == "hooks.shop.example"


def test_development_setting_allows_loopback_and_private_but_never_metadata():
    dev = _targets(allow_private=True)
    for url in ("http://127.0.0.1:8080/h", "https://[::1]/h", "http://loop.shop.example/h",
                "https://internal.shop.example/h", "https://10.0.0.1/h",
                "https://cgnat.shop.example/h"):
        assert dev.check(url, key="mer_1").url == url
    for url, says in (("http://169.254.169.254/latest/", "cloud metadata"),
                      ("http://metadata.shop.example/", "cloud metadata"),
                      ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
                      ("http://0.0.0.0:8080/", "unspecified"),
                      ("http://224.0.0.1/", "multicast"),
                      ("http://2130706433/", "four decimal numbers"),
                      ("http://localhost:8080/", "localhost"),
                      ("http://u:p@127.0.0.1/", "user name"),
                      ("ftp://127.0.0.1/", "https://")):
        assert says in _refused(url, allow_private=True)


def test_parse_needs_no_network():
    parsed = parse_webhook_url("https://xn--bcher-kva.example/h", allow_private=False)
    assert parsed.host == "xn--bcher-kva.example" and parsed.ip is None
    assert parse_webhook_url("https://bücher.example/h", allow_private=False).host == \
        "xn--bcher-kva.example"


# ----- every address form, as properties -------------------------------------------------
FORBIDDEN_V4 = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4")]
v4_addresses = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
forbidden_v4 = st.sampled_from(FORBIDDEN_V4).flatmap(
    lambda net: st.integers(0, net.num_addresses - 1).map(lambda i: net[i]))


@given(forbidden_v4)
def test_every_address_of_the_forbidden_ipv4_blocks_is_refused(ip):
    assert address_refusal(ip)


@given(v4_addresses)
def test_ipv6_forms_of_an_ipv4_address_are_judged_as_the_address_itself(ip):
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(ip))
    verdict = address_refusal(ip) is None
    assert (address_refusal(mapped) is None) == verdict
    assert (address_refusal(nat64) is None) == verdict
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(ip) << 80) | 1)
    if not verdict:
        assert address_refusal(sixtofour)
    if int(ip) > 1:
        assert "IPv4-compatible" in address_refusal(ipaddress.IPv6Address(int(ip)))


@given(v4_addresses)
def test_integer_octal_and_hex_notations_are_refused_whatever_the_address(ip):
    n = int(ip)
    a, b, c, d = ip.packed
    for host in (str(n), hex(n), f"0{n:o}", f"{a}.{(b << 16) | (c << 8) | d}",
                 f"0x{a:x}.{b}.{c}.{d}", f"0{a:o}.{b}.{c}.{d}" if a else f"00.{b}.{c}.{d}"):
        with pytest.raises(ValidationError) as caught:
            parse_webhook_url(f"https://{host}/h", allow_private=False)
        assert "four decimal numbers" in caught.value.detail


@given(st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address))
def test_an_allowed_ipv6_address_is_global_unicast(ip):
    if address_refusal(ip) is None:
        assert ip.is_global and not ip.is_multicast and not ip.is_private
        assert not ip.is_loopback and not ip.is_link_local and not ip.is_site_local


# ----- bounded lookups -------------------------------------------------------------------
def test_lookups_are_bounded_per_merchant_and_a_hung_one_keeps_its_slot():
    answer = threading.Event()

    def hanging(host: str, port: int) -> list[str]:
        answer.wait(60)
        return [PUBLIC_V4]

    lookup = HostLookup(hanging, threads_max=3, per_key_max=2)
    targets = WebhookTargets(False, lookup, lookup_timeout_s=0.05)
    try:
        for _ in range(2):
            assert "did not resolve within" in pytest.raises(
                ValidationError, targets.check, "https://slow.example/h", key="mer_slow"
            ).value.detail
        # Both lookups still run after their callers gave up: that merchant has no slot
        # left; another merchant still has one.
        assert lookup.busy_keys() == {"mer_slow"} and lookup.running == 2
        with pytest.raises(LookupBusyError) as busy:
            targets.check("https://slow.example/h", key="mer_slow")
        assert isinstance(busy.value, RateLimitedError) and busy.value.field == "webhook_url"
        pending = lookup.submit("mer_other", "other.example", 443)
        with pytest.raises(LookupBusyError):  # and then the total is reached
            lookup.submit("mer_third", "third.example", 443)
    finally:
        answer.set()
    assert pending.result(timeout=60) == [PUBLIC_V4]
    wait_for(lambda: lookup.running == 0, "every lookup thread returned its slot")
    assert lookup.busy_keys() == frozenset()


def test_delivery_check_is_cancellable_by_its_deadline_and_keeps_the_slot():
    answer = threading.Event()

    def hanging(host: str, port: int) -> list[str]:
        answer.wait(60)
        return ["127.0.0.1"]

    targets = WebhookTargets(False, HostLookup(hanging, threads_max=2, per_key_max=1))

    async def deliver() -> None:
        async with asyncio.timeout(0.05):
            await targets.check_async("https://slow.example/h", key="mer_slow")

    try:
        with pytest.raises(TimeoutError):
            asyncio.run(deliver())
        assert targets.lookup.busy_keys() == {"mer_slow"}
    finally:
        answer.set()
    wait_for(lambda: targets.lookup.running == 0, "the late lookup returned its slot")
