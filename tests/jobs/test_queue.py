"""The PostgreSQL job queue (procrastinate) with real processes: ``creditpay worker`` and
``creditpay scheduler`` as subprocesses on a real PostgreSQL server.

* two schedulers never defer a periodic job twice for the same time;
* a merchant's endpoint that hangs delays no other job: while its request is held, the
  card-rail callback is applied, the audit chain is sealed and another merchant's webhook is
  delivered (proof by order of events: the slow request is still in flight then);
* the worker is then SIGKILLed mid-delivery: it loses nothing and nothing is recorded twice:
  its job is ended by the scheduler once its heartbeat is stale (the next periodic run is
  queued), the delivery is sent again by another worker (the merchant sees the same event id
  again: at least once) and recorded once;
* a worker SIGKILLed mid-nightly: the scheduler puts the job back in the queue, another
  worker runs it, and the books equal those of an uninterrupted run of the same night on a
  copy of the same database (nothing lost, nothing posted twice).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import signal

import psycopg
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from creditpay.cli import app as cli_app
from creditpay.clock import SimulatedClock
from creditpay.credit.tables import credit_cob_runs
from creditpay.jobs import functions as F
from creditpay.jobs import queue as Q
from creditpay.payments.tables import webhook_deliveries
from creditpay.platform import audit
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes
from tests.api.helpers import GOOD_PAN, running_api
from tests.jobs.helpers import (
    book_state,
    environment,
    job_services,
    job_settings,
    start,
    stop,
    wait_for,
)
from tests.payments.webhook_receivers import Receiver

POSTGRES = pytest.mark.parametrize("store", ["postgresql"], indirect=True)
API_START = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def _rows(settings, sql, *params):
    with psycopg.connect(Q.conninfo(settings.database_url), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


class Keys:
    """One set of keys for the test's API and its worker processes (the worker reads the
    merchants' webhook secrets from the vault)."""

    def __init__(self) -> None:
        self.master, self.token, self.blind = (generate_key_bytes() for _ in range(3))

    def api(self) -> dict:
        return {"master_key": LocalMasterKey(self.master), "token_key": self.token,
                "blind_index_key": self.blind}

    def settings(self) -> dict:
        return {"master_key": base64.b64encode(self.master).decode(),
                "token_key": base64.b64encode(self.token).decode(),
                "blind_index_key": base64.b64encode(self.blind).decode()}


@POSTGRES
def test_two_schedulers_never_double_a_periodic_job(store, tmp_path):
    settings = job_settings(store.url, tmp_path)
    services = job_services(settings, SimulatedClock(API_START))

    async def run() -> None:
        stop_event = asyncio.Event()
        tasks = [asyncio.create_task(Q.run_scheduler(settings, stop=stop_event)),
                 asyncio.create_task(Q.run_scheduler(settings, stop=stop_event)),
                 asyncio.create_task(Q.run_workers(settings, services, queues=["jobs"],
                                                   stop=stop_event))]
        await asyncio.sleep(3.5)
        stop_event.set()
        await asyncio.gather(*tasks)

    try:
        asyncio.run(run())
    finally:
        services.close()
    seals = _rows(settings, "SELECT args->>'timestamp', count(*) FROM procrastinate_jobs "
                            "WHERE task_name = 'seal_audit' GROUP BY 1")
    assert len(seals) >= 2, seals  # one a second, each run by the worker
    assert all(count == 1 for _, count in seals), seals
    for task in ("deliver_webhooks", "apply_rail_callbacks"):
        counts = _rows(settings, "SELECT args->>'timestamp', count(*) FROM procrastinate_jobs "
                                 "WHERE task_name = %s GROUP BY 1", task)
        assert counts and all(count == 1 for _, count in counts), (task, counts)
    done = _rows(settings, "SELECT count(*) FROM procrastinate_jobs WHERE task_name = "
                           "'seal_audit' AND status = 'succeeded'")[0][0]
    assert done >= 2
    assert Q.queue_depth(settings)["jobs"] <= 2  # the queueing locks: no pile
    assert Q.jobs_ready(settings) is None
    shown = CliRunner().invoke(cli_app, ["jobs", "status", "--json", "--db", store.url])
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.output)
    assert status["queues"]["jobs"]["succeeded"] == done + _rows(
        settings, "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = 'jobs' AND "
                  "status = 'succeeded' AND task_name <> 'seal_audit'")[0][0]
    assert status["failed"] == []
    refused = CliRunner().invoke(cli_app, ["jobs", "retry", "999999", "--db", store.url])
    assert refused.exit_code == 2 and "job_id" in refused.output


@POSTGRES
def test_a_hanging_merchant_delays_no_job_and_a_killed_worker_loses_nothing(store, tmp_path):
    keys = Keys()
    # The nightly tick's time is set late: no night runs in this test.
    day_one = job_settings(store.url, tmp_path, business_date="2025-03-01",
                           nightly_at="23:59", **keys.settings())
    processes = []
    with Receiver("hold") as slow, Receiver() as fast, \
            running_api(store.url, SimulatedClock(API_START), rail_delay_s=0,
                        webhooks_allow_private=True, **keys.api()) as api:
        try:
            admin = api.operator("admin")
            slow_shop = api.merchant(admin, webhook_url=slow.url(), name="Slow shop")
            fast_shop = api.merchant(admin, webhook_url=fast.url(), name="Fast shop")
            customer = api.customer("13800138000")
            card = api.card(customer, GOOD_PAN)
            api.post("/v1/payment_intents", {"amount_minor": 100, "currency": "CNY",
                                             "order_id": "slow-1"},
                     slow_shop["api_key"]["key"], expect=201)
            processes.append(start(["scheduler"], environment(day_one),
                                   tmp_path / "scheduler.log"))
            doomed = start(["worker"], environment(day_one), tmp_path / "worker-1.log")
            processes.append(doomed)
            wait_for(slow.started.is_set, "the slow merchant's webhook request", 60)

            # 1. While the slow request hangs: a top-up (a rail callback to apply), an
            # audit record (to seal) and another merchant's payment (a webhook to send).
            api.post("/v1/me/wallet/top-ups", {"card_id": card, "amount_minor": 5_000},
                     customer, expect=201)
            with api.runtime.uow.begin() as tx:
                audit.append(tx, "system", "tests", "tests.recorded", "thing", "t-1", {})
            api.post("/v1/payment_intents", {"amount_minor": 200, "currency": "CNY",
                                             "order_id": "fast-1"},
                     fast_shop["api_key"]["key"], expect=201)
            wait_for(lambda: api.wallet(customer)["balance_minor"] == 5_000,
                     "the top-up's rail callback applied", 30)

            def sealed() -> bool:
                with api.runtime.uow.connect() as conn:
                    return audit.unsealed_count(conn) == 0

            wait_for(sealed, "the audit chain sealed", 30)
            wait_for(lambda: len(fast.received) == 1, "the other merchant's webhook", 30)
            # All of it while the slow request was still held, its delivery unrecorded.
            assert slow.in_flight == 1 and not slow.release.is_set()
            slow_id = slow.received[0].headers["Creditpay-Event-Id"]
            with api.runtime.uow.connect() as conn:
                slow_row = conn.execute(select(webhook_deliveries).where(
                    webhook_deliveries.c.id == slow_id)).one()
            assert (slow_row.status, slow_row.attempts) == ("pending", 0)

            # 2. The worker is killed mid-request: it records nothing.
            running = _rows(day_one, "SELECT id FROM procrastinate_jobs WHERE task_name = "
                                     "'deliver_webhooks' AND status = 'doing'")
            assert running
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(10)
            slow.release.set()  # the merchant's server answers from now on
            # The next worker lives later in business time: the dead worker's claim (its
            # lease) has run out by then, as it would after a real outage.
            day_two = job_settings(store.url, tmp_path, business_date="2025-03-02",
                                   nightly_at="23:59", **keys.settings())
            processes.append(start(["worker"], environment(day_two),
                                   tmp_path / "worker-2.log"))

            def delivered() -> bool:
                with api.runtime.uow.connect() as conn:
                    return conn.execute(select(webhook_deliveries.c.status).where(
                        webhook_deliveries.c.id == slow_id)).scalar_one() == "delivered"

            wait_for(delivered, "the delivery sent again and recorded", 60)
            wait_for(lambda: _rows(day_one, "SELECT status::text FROM procrastinate_jobs "
                                            "WHERE id = %s", running[0][0])[0][0]
                     in ("succeeded", "aborted"),
                     "the dead worker's job retried (or ended: its next run queued)", 30)
        finally:
            slow.release.set()
            for process in processes:
                if process.poll() is None:
                    assert stop(process) == 0
    with api.runtime.uow.connect() as conn:
        rows = {row.id: row for row in conn.execute(select(webhook_deliveries))}
    # At least once for the merchant (the same event id again), recorded once here.
    assert [r.headers["Creditpay-Event-Id"] for r in slow.received].count(slow_id) >= 2
    assert (rows[slow_id].status, rows[slow_id].attempts) == ("delivered", 1)
    assert [row.status for row in rows.values()] == ["delivered", "delivered"]
    log = (tmp_path / "worker-2.log").read_text()
    assert "creditpay worker started: store postgresql" in log
    assert "queues webhooks,jobs,nightly, concurrency 2" in log
    assert "creditpay worker stopped" in log  # SIGTERM: a clean stop
    status = Q.status(day_one)
    assert status["store"] == "postgresql" and "webhooks" in status["queues"]


def _pay_with_line(api, token: str, merchant_key: str, amount_minor: int) -> None:
    intent = api.post("/v1/payment_intents", {"amount_minor": amount_minor, "currency": "CNY",
                                              "order_id": f"o-{amount_minor}"}, merchant_key,
                      expect=201).json()
    offers = api.post(f"/v1/payment_intents/{intent['id']}/credit_offers", {}, token,
                      expect=200).json()["offers"]
    offer = next(o for o in offers if o["funding"] == "credit_line")
    api.post(f"/v1/payment_intents/{intent['id']}/confirm", {
        "funding": "credit_line", "offer_id": offer["offer_id"],
        "key_facts_sha256": offer["key_facts_sha256"]}, token, expect=200)
    api.post(f"/v1/payment_intents/{intent['id']}/capture", {}, merchant_key, expect=200)


@POSTGRES
def test_a_nightly_job_killed_mid_run_is_retried_and_runs_once(store, tmp_path, pg_server):
    keys = Keys()
    with running_api(store.url, SimulatedClock(API_START), **keys.api()) as api:
        admin = api.operator("admin")
        merchant = api.merchant(admin)["api_key"]["key"]
        token, _ = api.customer_with_line(admin, "13800000001")
        for number in range(2):
            _pay_with_line(api, token, merchant, 10_000 + number)
    # The same book in a second database: the reference run, never interrupted.
    reference_name = f"{store.url.rsplit('/', 1)[1]}_ref"
    reference_url = pg_server.create_database(reference_name,
                                              template=store.url.rsplit("/", 1)[1])
    # Business date 2025-03-02: the night of 2025-03-01 is over. The tick's time is set
    # late so only the job this test queues runs the night.
    settings = job_settings(store.url, tmp_path, business_date="2025-03-02",
                            nightly_at="23:59", **keys.settings())
    env = environment(settings)
    processes = []
    try:
        queued = CliRunner().invoke(cli_app, ["jobs", "nightly", "--date", "2025-03-01",
                                              "--db", store.url])
        assert queued.exit_code == 0, queued.output
        job_id = _rows(settings, "SELECT id FROM procrastinate_jobs WHERE task_name = "
                                 "'nightly'")[0][0]
        doomed = start(["worker", "--queues", "nightly"], env, tmp_path / "worker-1.log")
        processes.append(doomed)
        wait_for(lambda: _rows(settings, "SELECT status::text FROM procrastinate_jobs "
                                         "WHERE id = %s", job_id)[0][0] == "doing",
                 "the nightly job running", 60, every_s=0.01)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        processes.append(start(["scheduler"], env, tmp_path / "scheduler.log"))
        processes.append(start(["worker", "--queues", "nightly"], env,
                               tmp_path / "worker-2.log"))
        wait_for(lambda: _rows(settings, "SELECT status::text FROM procrastinate_jobs "
                                         "WHERE id = %s", job_id)[0][0] == "succeeded",
                 "the killed nightly job retried and done", 90)
    finally:
        for process in processes:
            if process.poll() is None:
                stop(process)
    attempts = _rows(settings, "SELECT attempts FROM procrastinate_jobs WHERE id = %s",
                     job_id)[0][0]
    assert attempts >= 1  # it ran again after the kill
    assert "of a dead worker retried" in (tmp_path / "scheduler.log").read_text()

    # Its own checkpoint directory: the two databases are forks of one chain.
    reference = job_settings(reference_url, tmp_path / "reference", **keys.settings())
    services = job_services(reference, SimulatedClock(dt.datetime(2025, 3, 2, 9, 0,
                                                                  tzinfo=dt.UTC)))
    try:
        F.nightly(services, dt.date(2025, 3, 1))
        expected = book_state(services.engine)
    finally:
        services.close()
        pg_server.drop_database(reference_name)
    assert book_state(store.engine) == expected
    with store.engine.connect() as conn:
        runs = conn.execute(select(credit_cob_runs.c.business_date,
                                   credit_cob_runs.c.status)).all()
    assert runs == [(dt.date(2025, 3, 1), "done")]
