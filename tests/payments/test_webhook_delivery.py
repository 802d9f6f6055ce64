"""Webhook delivery (both stores): the address is checked again at every attempt and the
request goes to that address (Host and TLS carry the merchant's name); a total deadline ends a
drip-fed answer; answers are read only up to a bound and redirects are not followed; at most
``per_merchant_max`` requests per merchant are in flight, in all workers together, while other
merchants are served; leases make a dead worker's claims come back and keep two workers from
sending the same attempt."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest
from sqlalchemy import select

from creditpay.payments.tables import webhook_deliveries
from creditpay.payments.webhooks import DeliveryLimits, Outcome, WebhookDispatcher
from tests.api.helpers import Api, fake_dns, running_api
from tests.payments.webhook_receivers import Receiver, tls_contexts, wait_for

PUBLIC = "93.184.215.14"


def _api(store: Any, clock: Any, **overrides: Any) -> contextlib.AbstractContextManager[Api]:
    return running_api(store.url, clock, **overrides)


def _merchant(api: Api, admin: str, url: str, name: str = "Shop") -> tuple[str, str]:
    """(merchant id, API key) of a merchant whose webhook is ``url``."""
    onboarded = api.merchant(admin, webhook_url=url, name=name)
    return onboarded["merchant"]["id"], onboarded["api_key"]["key"]


def _events(api: Api, merchant_key: str, count: int, prefix: str) -> None:
    """``count`` payment_intent.created events for the merchant, relayed to deliveries."""
    for n in range(count):
        api.post("/v1/payment_intents", {"amount_minor": 100 + n, "currency": "CNY",
                                         "order_id": f"{prefix}-{n}"}, merchant_key, expect=201)
    api.runtime.webhooks.relay()


def _rows(api: Api, merchant_id: str | None = None) -> list[Any]:
    query = select(webhook_deliveries).order_by(webhook_deliveries.c.next_attempt_at,
                                                webhook_deliveries.c.id)
    if merchant_id is not None:
        query = query.where(webhook_deliveries.c.merchant_id == merchant_id)
    with api.runtime.uow.connect() as conn:
        return conn.execute(query).all()


@pytest.mark.parametrize("answers_at_delivery, refused_as", [
    (["127.0.0.1"], "loopback"),
    ([PUBLIC, "10.20.30.40"], "private"),
    (["::ffff:127.0.0.1"], "loopback address in IPv4-mapped form"),
    (["169.254.169.254"], "cloud metadata"),
    (["fd12:3456::1"], "private"),
])
def test_delivery_checks_the_address_again_and_never_connects(store, clock, answers_at_delivery,
                                                              refused_as):
    dns = {"hooks.shop.test": [PUBLIC]}  # public when the merchant sets the URL
    with Receiver() as receiver, _api(store, clock, webhook_resolve=fake_dns(dns)) as api:
        merchant_id, key = _merchant(api, api.operator(), receiver.url("hooks.shop.test",
                                                                       "https"))
        _events(api, key, 1, "rebind")
        dns["hooks.shop.test"] = answers_at_delivery  # ... and rebinds before the delivery
        result = api.runtime.webhooks.run_once()
        [row] = _rows(api, merchant_id)
    assert (result.delivered, result.failed_attempts) == (0, 1)
    assert receiver.connections == 0 and receiver.received == []
    assert row.status == "pending" and row.attempts == 1 and row.last_status_code is None
    assert "refused: webhook_url: must not point at" in row.last_error
    assert refused_as in row.last_error and answers_at_delivery[-1] in row.last_error


@pytest.mark.parametrize("certificate_for, delivered", [
    ("hooks.merchant.test", True),
    ("another.merchant.test", False),  # the address answers, but not as the merchant's host
])
def test_request_goes_to_the_checked_address_with_the_merchants_name_in_tls_and_host(
        store, clock, tmp_path, certificate_for, delivered):
    server_tls, client_tls = tls_contexts(tmp_path, certificate_for)
    lookups: list[str] = []
    resolve = fake_dns({"hooks.merchant.test": ["127.0.0.1"]})

    def counting(host: str, port: int) -> list[str]:
        lookups.append(host)
        return resolve(host, port)

    # The system resolver does not know hooks.merchant.test: had httpx looked the name up
    # itself, the connection would have failed. It connects to the address checked.
    with Receiver(tls=server_tls) as receiver, _api(
            store, clock, webhooks_allow_private=True, webhook_resolve=counting,
            webhook_tls_verify=client_tls) as api:
        merchant_id, key = _merchant(api, api.operator(),
                                     receiver.url("hooks.merchant.test", "https"))
        _events(api, key, 1, "tls")
        result = api.runtime.webhooks.run_once()
        [row] = _rows(api, merchant_id)
    assert lookups == ["hooks.merchant.test"] * 2  # when set, and once for the delivery
    assert receiver.sni == ["hooks.merchant.test"]  # SNI: the name, not the address
    if delivered:
        assert result.delivered == 1 and row.status == "delivered"
        [request] = receiver.received
        assert request.headers["Host"] == f"hooks.merchant.test:{receiver.port}"
        assert request.headers["Creditpay-Event-Id"] == row.id
    else:
        assert result.failed_attempts == 1 and receiver.received == []
        assert "CERTIFICATE_VERIFY_FAILED" in row.last_error


def test_total_deadline_ends_a_drip_fed_answer_as_a_failed_attempt(store, clock):
    # Each byte comes well within any per-read timeout; only a deadline on the whole request
    # ends it. The receiver stops by itself much later, so the old code failed, not hung.
    limits = DeliveryLimits(deadline_s=1.0)
    with Receiver("drip", drip_s=0.05) as receiver, _api(
            store, clock, webhooks_allow_private=True, webhook_limits=limits) as api:
        merchant_id, key = _merchant(api, api.operator(), receiver.url())
        _events(api, key, 1, "drip")
        result = api.runtime.webhooks.run_once()
        [row] = _rows(api, merchant_id)
        assert not receiver.release.is_set()  # still dripping when the attempt ended
    assert receiver.started.is_set()
    assert (result.delivered, result.failed_attempts) == (0, 1)
    assert row.attempts == 1 and row.status == "pending" and row.claim_token is None
    assert "deadline" in row.last_error and row.next_attempt_at > row.created_at


def test_answer_read_only_up_to_the_bound_and_redirects_not_followed(store, clock):
    with Receiver("huge") as huge, Receiver() as elsewhere, \
            Receiver("status", status=302, location=elsewhere.url()) as redirecting, \
            _api(store, clock, webhooks_allow_private=True) as api:
        admin = api.operator()
        huge_id, huge_key = _merchant(api, admin, huge.url(), "Huge")
        redirect_id, redirect_key = _merchant(api, admin, redirecting.url(), "Redirect")
        _events(api, huge_key, 1, "huge")
        _events(api, redirect_key, 1, "redirect")
        result = api.runtime.webhooks.run_once()
        [huge_row], [redirect_row] = _rows(api, huge_id), _rows(api, redirect_id)
        wait_for(lambda: huge.in_flight == 0, "the huge answer's writer stopped")
    assert (result.delivered, result.failed_attempts) == (1, 1)
    assert huge_row.status == "delivered"
    # 64 MiB offered; the client read 64 KiB and closed (kernel buffers take a few MiB more).
    assert huge.sent_bytes < 16 * 1024 * 1024
    assert redirect_row.last_status_code == 302 and redirect_row.last_error == "HTTP 302"
    assert elsewhere.connections == 0


def test_per_merchant_bound_holds_while_other_merchants_are_served(store, clock):
    limits = DeliveryLimits(per_merchant_max=2, in_flight_max=8, deadline_s=50, lease_s=100)
    with Receiver("hold") as slow, Receiver() as fast, _api(
            store, clock, webhooks_allow_private=True, webhook_limits=limits) as api:
        admin = api.operator()
        slow_id, slow_key = _merchant(api, admin, slow.url(), "Slow")
        fast_id, fast_key = _merchant(api, admin, fast.url(), "Fast")
        _events(api, slow_key, 5, "slow")  # five due deliveries, older than the fast one's
        _events(api, fast_key, 1, "fast")
        results: list[Any] = []
        worker = threading.Thread(target=lambda: results.append(api.runtime.webhooks.run_once()))
        worker.start()
        try:
            wait_for(lambda: slow.in_flight == 2, "two requests to the slow merchant at once")
            wait_for(lambda: _rows(api, fast_id)[0].status == "delivered",
                     "the other merchant's delivery, while the slow one holds its two")
            # A second worker (another process) finds nothing it may send to the slow
            # merchant: its two leases are live.
            other = WebhookDispatcher(api.runtime.uow, api.runtime.parties,
                                      api.runtime.webhooks.targets, limits=limits)
            assert other.claim(10) == []
            leased = [r for r in _rows(api, slow_id) if r.claim_token is not None]
            assert len(leased) == 2 and slow.in_flight == 2 and len(slow.received) == 2
            assert {r.id for r in leased} == {r.id for r in _rows(api, slow_id)[:2]}  # oldest
        finally:
            slow.release.set()
            worker.join(timeout=120)
    assert not worker.is_alive()
    assert results[0].delivered == 6 and slow.in_flight_max == 2
    assert [r.status for r in _rows(api, slow_id)] == ["delivered"] * 5


def test_a_dead_workers_claims_are_sent_once_its_lease_has_run_out(store, clock):
    limits = DeliveryLimits(lease_s=60)
    with Receiver() as receiver, _api(store, clock, webhooks_allow_private=True,
                                      webhook_limits=limits) as api:
        merchant_id, key = _merchant(api, api.operator(), receiver.url())
        _events(api, key, 2, "lease")
        webhooks = api.runtime.webhooks
        dead = webhooks.claim(10)  # a worker claims both, then its process dies
        assert len(dead) == 2
        assert webhooks.run_once().delivered == 0 and receiver.received == []  # leased
        clock.advance(seconds=61)
        assert webhooks.run_once().delivered == 2
        # The dead worker comes back to life: its lease is gone, its outcome is not stored.
        assert webhooks.record(dead[0], Outcome(500, None)) is None
        rows = _rows(api, merchant_id)
    assert [(r.status, r.attempts, r.last_status_code) for r in rows] == [
        ("delivered", 1, 200)] * 2
    assert sorted(r.headers["Creditpay-Event-Id"] for r in receiver.received) == sorted(
        r.id for r in rows)


def test_two_workers_never_claim_the_same_delivery(store, clock):
    limits = DeliveryLimits(per_merchant_max=2)
    with _api(store, clock, webhooks_allow_private=True, webhook_limits=limits) as api:
        admin = api.operator()
        merchants = [_merchant(api, admin, f"http://127.0.0.1:9/hooks/{n}", f"Shop {n}")
                     for n in range(3)]
        for n, (_, key) in enumerate(merchants):
            _events(api, key, 3, f"m{n}")
        workers = [WebhookDispatcher(api.runtime.uow, api.runtime.parties,
                                     api.runtime.webhooks.targets, limits=limits)
                   for _ in range(2)]
        start = threading.Barrier(2)
        claimed: list[list[Any]] = [[], []]

        def claim(n: int) -> None:
            start.wait()
            claimed[n] = workers[n].claim(10)

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    ids = [c.id for batch in claimed for c in batch]
    assert len(ids) == len(set(ids)) == 6  # disjoint, and two per merchant in all
    for merchant_id, _ in merchants:
        assert sum(c.merchant_id == merchant_id for c in [*claimed[0], *claimed[1]]) == 2


def test_a_merchant_whose_dns_never_answers_holds_only_its_own_lookups(store, clock):
    answer = threading.Event()
    public = fake_dns({"fast.shop.test": ["127.0.0.1"], "hang.shop.test": ["127.0.0.1"]})
    hanging = {"on": False}

    def resolve(host: str, port: int) -> list[str]:
        if host == "hang.shop.test" and hanging["on"]:
            answer.wait(120)
        return public(host, port)

    limits = DeliveryLimits(deadline_s=2.0)  # ample for the merchant whose DNS answers
    with Receiver() as receiver, _api(store, clock, webhooks_allow_private=True,
                                      webhook_resolve=resolve, webhook_limits=limits) as api:
        admin = api.operator()
        hang_id, hang_key = _merchant(api, admin, receiver.url("hang.shop.test"), "Hang")
        fast_id, fast_key = _merchant(api, admin, receiver.url("fast.shop.test"), "Fast")
        hanging["on"] = True  # its DNS stops answering after the URL was set
        _events(api, hang_key, 1, "hang")
        _events(api, fast_key, 1, "fast")
        webhooks = api.runtime.webhooks
        try:
            result = webhooks.run_once()
            assert (result.delivered, result.failed_attempts) == (1, 1)
            [hang_row] = _rows(api, hang_id)
            assert "deadline" in hang_row.last_error
            # The lookup outlived the deadline: its thread still counts against that
            # merchant's slots and the worker's total, nobody else's.
            assert webhooks.targets.lookup.running == 1
            assert _rows(api, fast_id)[0].status == "delivered"
        finally:
            answer.set()
        wait_for(lambda: webhooks.targets.lookup.running == 0, "the hung lookup returned")
