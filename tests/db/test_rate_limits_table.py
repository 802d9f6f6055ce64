"""The shared rate limits (creditpay.platform.rate_limits): the GCRA arithmetic (Hypothesis)
and its one-statement upsert on both stores, against the same arithmetic."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.api.access import MemoryRateLimits
from creditpay.db.uow import UnitOfWork
from creditpay.platform.rate_limits import Limit, RateLimits, gcra


class FakeClock:
    def __init__(self, now_s: float = 1_700_000_000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def _admitted_times(limit: Limit, gaps_us: list[int]) -> tuple[list[int], list[int]]:
    """Run requests ``gaps_us`` apart through gcra(): (admitted times, refused times)."""
    tat: int | None = None
    now = 0
    admitted, refused = [], []
    for gap in gaps_us:
        now += gap
        ok, tat, wait = gcra(tat, now, limit.interval_us, limit.tolerance_us)
        (admitted if ok else refused).append(now)
        assert (wait == 0) == ok
    return admitted, refused


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(1, 20), rate=st.sampled_from([0.5, 1.0, 2.0, 10.0, 100.0]),
       gaps_us=st.lists(st.integers(0, 3_000_000), min_size=1, max_size=120))
def test_gcra_never_admits_more_than_capacity_plus_rate_times_window(capacity, rate, gaps_us):
    limit = Limit(capacity, rate)
    admitted, _refused = _admitted_times(limit, gaps_us)
    # Every window [admitted[i], admitted[j]] of t µs holds at most capacity + t / T.
    for i in range(len(admitted)):
        for j in range(i, len(admitted)):
            window_us = admitted[j] - admitted[i]
            assert j - i + 1 <= capacity + window_us / limit.interval_us


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 20), rate=st.sampled_from([0.5, 1.0, 10.0]),
       gaps_us=st.lists(st.integers(0, 3_000_000), min_size=1, max_size=60))
def test_gcra_refuses_only_when_the_bucket_is_empty_and_says_when_to_retry(capacity, rate,
                                                                          gaps_us):
    limit = Limit(capacity, rate)
    tat: int | None = None
    now = 0
    for gap in gaps_us:
        now += gap
        before = tat
        ok, tat, wait = gcra(tat, now, limit.interval_us, limit.tolerance_us)
        if not ok:
            assert tat == before  # a refusal changes nothing
            # At now + wait the same request is admitted, a microsecond earlier it is not.
            assert gcra(tat, now + wait, limit.interval_us, limit.tolerance_us)[0]
            assert not gcra(tat, now + wait - 1, limit.interval_us, limit.tolerance_us)[0]
    # A burst of ``capacity`` after a full refill is always admitted.
    now = (tat or 0) + limit.interval_us
    for _ in range(capacity):
        ok, tat, _wait = gcra(tat, now, limit.interval_us, limit.tolerance_us)
        assert ok


def test_limit_refuses_bad_parameters():
    with pytest.raises(ValueError, match="capacity"):
        Limit(0, 1.0)
    with pytest.raises(ValueError, match="refill_per_s"):
        Limit(1, 0.0)


def test_table_runs_the_same_arithmetic_as_gcra_and_as_memory(store, clock):
    """A fixed schedule of requests on two keys, checked together and apart: the table,
    the in-process buckets and gcra() agree request by request."""
    fake = FakeClock()
    table = RateLimits(UnitOfWork(store.engine, clock), now_s=fake)
    memory = MemoryRateLimits(now_s=fake)
    ip, cred = Limit(4, 2.0), Limit(2, 1.0)
    tats: dict[str, int | None] = {"ip:a": None, "cred:x": None}
    steps = [0.0, 0.0, 0.1, 0.1, 0.2, 0.3, 0.3, 1.0, 1.0, 1.0, 2.5, 2.5, 2.5, 2.6, 9.0]
    for n, t in enumerate(steps):
        fake.now_s = 1_700_000_000.0 + t
        checks = [("ip:a", ip)] + ([("cred:x", cred)] if n % 3 else [])
        now_us = int(fake.now_s * 1_000_000)
        expected_us = 0
        for key, limit in checks:
            ok, tats[key], wait = gcra(tats[key], now_us, limit.interval_us,
                                       limit.tolerance_us)
            expected_us = max(expected_us, 0 if ok else max(wait, 1))
        assert table.take(checks) == expected_us / 1_000_000, (n, t)
        assert memory.take(checks) == expected_us / 1_000_000, (n, t)


def test_concurrent_checks_admit_exactly_the_capacity(store, clock):
    """Eight threads, 60 requests at one instant on one key: the upsert is atomic, so
    exactly ``capacity`` are admitted (a read-then-write would admit more)."""
    fake = FakeClock()
    table = RateLimits(UnitOfWork(store.engine, clock), now_s=fake)
    limit = Limit(25, 0.001)
    results: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(60 // 8 + 1):
            wait = table.take_one("ip:hot", limit)
            with lock:
                results.append(wait)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for wait in results if wait == 0) == 25
    assert all(wait > 0 for wait in results if wait) and len(results) == 64


def test_expired_rows_are_purged_and_live_ones_kept(store, clock):
    fake = FakeClock()
    table = RateLimits(UnitOfWork(store.engine, clock), now_s=fake, purge_period_s=60)
    for n in range(50):
        table.take_one(f"ip:{n}", Limit(10, 1.0))  # full again after 1 s
    table.take_one("ip:slow", Limit(2, 0.01))  # full again after 100 s
    assert table.rows() == 51
    fake.now_s += 30  # before the purge period: nothing is deleted
    table.take_one("ip:other", Limit(10, 1.0))
    assert table.rows() == 52
    fake.now_s += 31  # a purge: only the slow bucket is still below full (and the new one)
    table.take_one("ip:new", Limit(10, 1.0))
    assert table.rows() == 2
    # A purged key starts full, as it would have been anyway.
    assert table.take_one("ip:0", Limit(1, 1.0)) == 0.0


def test_keys_are_stored_as_digests(store, clock):
    from sqlalchemy import text

    table = RateLimits(UnitOfWork(store.engine, clock), now_s=FakeClock())
    table.take_one("ip:203.0.113.9", Limit(5, 1.0))
    with store.engine.connect() as conn:
        keys = conn.execute(text("SELECT key FROM platform_rate_limits")).scalars().all()
    assert len(keys) == 1 and "203.0.113.9" not in keys[0] and len(keys[0]) == 32


def test_postgresql_table_is_unlogged_with_room_for_in_place_updates(store):
    """Migration 0036: no WAL per request's check, HOT updates of the hot rows."""
    if store.kind != "postgresql":
        return
    from sqlalchemy import text

    with store.engine.connect() as conn:
        persistence, options = conn.execute(text(
            "SELECT relpersistence, reloptions FROM pg_class "
            "WHERE relname = 'platform_rate_limits'")).one()
    assert persistence == "u" and options == ["fillfactor=50"]


@pytest.mark.parametrize(("text", "value"), [("600,100", (600, 100.0)), (" 5 , 0.5 ", (5, 0.5)),
                                              ("[3, 1]", (3, 1.0))])
def test_rate_limit_settings_read_burst_and_rate(text, value):
    from creditpay.config import Settings

    assert Settings.from_env("sqlite://", environ={
        "CREDITPAY_RATE_LIMIT_CREDENTIAL": text}).rate_limit_credential == value


@pytest.mark.parametrize("text", ["0,1", "5", "5,0", "a,b", "5,-1", "5,inf", "1,2,3"])
def test_a_bad_rate_limit_setting_is_an_error_naming_it(text):
    from creditpay.config import Settings
    from creditpay.errors import ValidationError

    with pytest.raises(ValidationError, match="CREDITPAY_RATE_LIMIT_IP") as raised:
        Settings.from_env("sqlite://", environ={"CREDITPAY_RATE_LIMIT_IP": text})
    assert raised.value.field == "CREDITPAY_RATE_LIMIT_IP"
