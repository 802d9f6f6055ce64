"""Checkout benchmark: pay with credit (intent -> offers -> confirm 6 installments -> capture).

(a) in process, through the service layer, one client;
(b) over HTTP on loopback (``creditpay serve`` in a subprocess, uvicorn) with ``concurrency``
    client threads, each its own customer; on PostgreSQL twice, ``serve --workers 1`` and
    ``serve --workers 2`` (``http_workers``: throughput side by side, ``ratio_2_vs_1``).

Where the CPU goes over HTTP (``http_workers.<n>.cpu_ms_per_checkout``): the server's
processes (uvicorn's supervisor and its workers), the load generator (this process: the
httpx clients) and PostgreSQL (the postmaster and its backends), measured from their
CPU times over the run. With everything on one machine, ``cpu_count`` cores give at most
``cpu_count * 1000 / total`` checkouts/s whatever the number of workers, and one worker
at most ``1000 / server`` (``ceiling_checkouts_per_s``, :func:`_workers_summary`): the
ratio 2 vs 1 cannot exceed the ratio of the two ceilings (``ratio_ceiling_2_vs_1``).

Reference measured in the same run on the same store: durable single-row commits/s (a bare
``BEGIN; INSERT; COMMIT``) at the same concurrency. One checkout is 4 write transactions
(intent, offers quote, confirm, capture), so the reference checkouts/s is raw commits/s / 4
and ``ratio`` = checkouts/s / (raw commits/s / 4): 1.0 would be a checkout as cheap as its
four bare commits. When the credit engine is not installed the benchmark pays with balance
and says so (``funding``).

A second reference, for what storage cannot explain: ``pure_work_cpu_ms_per_checkout`` is
the CPU time of the checkout's pure work alone (:func:`pure_work_ms`: pricing every offer
with its exact rates and rendering its key-facts document, the accepted document again and
the plan's schedule at capture; no storage), and
``in_process.commits_and_pure_work_checkouts_per_s`` the rate a checkout would reach if it
cost only its four commits plus that work (``ratio_to_commits_and_pure_work``).
``cpu_ms_per_checkout_p50`` is this thread's CPU time per in-process checkout, which other
processes' disk traffic on a shared machine barely moves (unlike the raw commits).

``sql_statements_per_confirm`` / ``..._per_capture``: data statements (SELECT, INSERT,
UPDATE, DELETE) one confirm and one capture of an installment checkout run, counted by
:class:`StatementCounter` (deterministic: tests/payments/test_checkout_statements.py keeps
them at most 20 on both stores). Counted on a customer's SECOND checkout, the steady state
every later checkout repeats: the first confirm also stores the customer's acceptance of
the key-facts template (its row and its audit record, two statements more, once per
customer and template version), reported apart as ``sql_statements_per_first_confirm``.
Fraud screening is on (the default since issue #19): its statements (state rows, journal
row, rule-set look) are in the confirm's count and also reported alone as
``sql_statements_per_confirm_screening``.

Each confirm sends the picked offer's ``key_facts_sha256`` (the consumer accepts the
key-facts document shown) and passes the affordability rules at origination: a customer
holds at most ``concurrent_plans_max`` open plans, so the checkouts rotate over enough
customers (each one buys at most that many plans).
"""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event

from creditpay.credit.affordability import DEFAULT_POLICY
from creditpay.platform.keys import LocalMasterKey, encode_key, generate_key_bytes

__all__ = ["run"]

AMOUNT_MINOR = 12_000  # 120.00 CNY: below the step-up threshold
LIMIT_MINOR = 5_000_000
WRITE_TRANSACTIONS_PER_CHECKOUT = 4
REQUESTS_PER_CHECKOUT = 4  # over HTTP: intent, offers, confirm, capture
PLANS_PER_CUSTOMER = DEFAULT_POLICY.concurrent_plans_max


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@contextlib.contextmanager
def _store(kind: str) -> Iterator[tuple[str, Callable[[], Any], Any]]:
    """(database URL, a raw DB-API connect, the PostgreSQL server or None)."""
    if kind == "sqlite":
        import sqlite3

        with tempfile.TemporaryDirectory(prefix="creditpay-bench-") as folder:
            path = Path(folder) / "checkout.db"

            def connect() -> Any:
                conn = sqlite3.connect(path, isolation_level=None, timeout=60)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                return conn

            yield f"sqlite:///{path}", connect, None
        return
    import psycopg

    from creditpay.devtools.pgserver import running_postgres

    with running_postgres(fsync=True) as server:
        url = server.create_database("checkout")

        def connect_pg() -> Any:
            return psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres"
                                   " dbname=checkout", autocommit=True)

        yield url, connect_pg, server


def _run_threads(target: Callable[[int], None], threads: int) -> float:
    """Run ``target(0)`` .. ``target(threads - 1)`` in threads at once; the wall seconds
    until the last one ends."""
    start = time.perf_counter()
    pool = [threading.Thread(target=target, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - start


def _raw_commits(kind: str, connect: Callable[[], Any], threads: int, seconds: float
                 ) -> float:
    """Durable single-row commits/s with ``threads`` writers."""
    setup = connect()
    setup.execute("CREATE TABLE IF NOT EXISTS raw_commits (id TEXT PRIMARY KEY, a BIGINT)")
    setup.close()
    p = "?" if kind == "sqlite" else "%s"
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def worker(n: int) -> None:
        conn = connect()
        while time.perf_counter() < deadline:
            conn.execute("BEGIN IMMEDIATE" if kind == "sqlite" else "BEGIN")
            conn.execute(f"INSERT INTO raw_commits VALUES ({p}, {p})",  # nosec B608
                         (uuid.uuid4().hex, n))
            conn.execute("COMMIT")
            counts[n] += 1
        conn.close()

    elapsed = _run_threads(worker, threads)
    return sum(counts) / elapsed


_DATA_STATEMENT = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)


class StatementCounter:
    """Counts the data statements (SELECT / INSERT / UPDATE / DELETE) run on ``engine``
    while :attr:`active`, one per ``execute`` or ``executemany`` call.

    SQLAlchemy's statements are counted with its ``before_cursor_execute`` event. The
    ledger and the outbox send their hot statements straight to the DB-API cursor (no
    SQLAlchemy event fires), so those are counted at the driver too, to hide nothing:
    SQLite's trace callback (it fires once per row of an ``executemany``: consecutive
    identical statement texts outside SQLAlchemy are one call) and, on PostgreSQL, a
    cursor class that counts its ``execute`` / ``executemany`` / ``copy`` calls.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.active = False
        self.statements: list[str] = []
        self._in_sqlalchemy = False
        self._last_driver: str | None = None
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "checkin", self._checkin)

    def close(self) -> None:
        for name, fn in (("before_cursor_execute", self._before),
                         ("after_cursor_execute", self._after), ("checkout", self._checkout),
                         ("checkin", self._checkin)):
            event.remove(self.engine, name, fn)

    @contextlib.contextmanager
    def counting(self) -> Iterator[list[str]]:
        """Count inside the block; yields the list the statements are appended to."""
        self.statements = []
        self._last_driver = None
        self.active = True
        try:
            yield self.statements
        finally:
            self.active = False

    def _record(self, statement: str) -> None:
        if self.active and _DATA_STATEMENT.match(statement):
            self.statements.append(" ".join(statement.split()))

    def _before(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                executemany: bool) -> None:
        self._in_sqlalchemy = True
        self._last_driver = None
        self._record(statement)

    def _after(self, *args: Any) -> None:
        self._in_sqlalchemy = False

    def _driver(self, statement: str) -> None:
        if self._in_sqlalchemy:
            return
        text = _LITERALS.sub("?", statement)
        if text == self._last_driver:  # the next row of the same executemany
            return
        self._last_driver = text
        self._record(statement)

    def _checkout(self, dbapi_conn: Any, record: Any, proxy: Any) -> None:
        if self.engine.dialect.name == "sqlite":
            dbapi_conn.set_trace_callback(self._driver)
            return
        counter = self

        class CountingCursor(_PG_CURSOR):
            def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                counter._pg(query)
                return super().execute(query, *args, **kwargs)

            def executemany(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                counter._pg(query)
                return super().executemany(query, *args, **kwargs)

            def copy(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
                counter._pg("INSERT /* COPY */ " + str(statement))
                return super().copy(statement, *args, **kwargs)

        dbapi_conn.cursor_factory = CountingCursor

    def _pg(self, query: Any) -> None:
        if not self._in_sqlalchemy:
            self._record(str(query))

    def _checkin(self, dbapi_conn: Any, record: Any) -> None:
        if self.engine.dialect.name == "sqlite":
            dbapi_conn.set_trace_callback(None)
        else:
            dbapi_conn.cursor_factory = _PG_CURSOR


_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b|X'[0-9A-Fa-f]*'|NULL")
try:
    import psycopg

    _PG_CURSOR: Any = psycopg.Cursor
except ImportError:  # pragma: no cover - SQLite-only installs
    _PG_CURSOR = object


def statements_per_checkout(rt: Any, world: dict[str, Any], customer: Any,
                            order_id: str = "count-1") -> dict[str, Any]:
    """Data statements of one confirm and one capture of a 6-installment checkout (the
    intent and the offers are made first, uncounted; the customer's line and the ledger
    accounts already exist). Returns the counts and the statements."""
    service = rt.payments
    merchant = world["merchant_principal"]
    counter = StatementCounter(rt.uow.engine)
    try:
        intent_id = rt.uow.run(lambda tx: service.create_intent(
            tx, merchant, amount_minor=AMOUNT_MINOR, currency="CNY", order_id=order_id))["id"]
        quote = rt.uow.run(lambda tx: service.quote_offers(tx, customer, intent_id))
        picked = _pick(quote["offers"])
        with counter.counting() as confirm:
            rt.uow.run(lambda tx: service.confirm(tx, customer, intent_id, **picked))
        with counter.counting() as capture:
            rt.uow.run(lambda tx: service.capture(tx, merchant, intent_id))
    finally:
        counter.close()
    return {"confirm": len(confirm), "capture": len(capture),
            # Fraud screening's own statements (on by default): its state rows, its journal
            # row and the rule-set look; the checkout's budget is the rest.
            "confirm_screening": sum("fraud_" in text for text in confirm),
            "confirm_statements": list(confirm), "capture_statements": list(capture)}


def _world(url: str, master: LocalMasterKey, customers: int) -> tuple[Any, dict[str, Any]]:
    """App runtime on ``url`` with a merchant and ``customers`` KYC'd customers with lines."""
    from creditpay.api.app import create_app
    from creditpay.api.runtime import ApiConfig
    from creditpay.config import Settings

    app = create_app(Settings.of(database_url=url),
                     config=ApiConfig(master_key=master, pool_size=4))
    return app, populate(app.state.runtime, customers)


def populate(rt: Any, customers: int, *, first_phone: int = 0) -> dict[str, Any]:
    """A merchant and ``customers`` KYC'd customers, each with a pay-later line (or a
    funded wallet when credit is not installed), on the runtime ``rt``."""
    from creditpay.parties.service import Principal

    admin = rt.uow.run(lambda tx: rt.parties.create_operator(tx, name="bench", role="admin"))
    operator = Principal("operator", admin["id"], role="admin")
    merchant = rt.uow.run(lambda tx: rt.parties.onboard_merchant(
        tx, operator, name="Bench shop", mcc="5411", discount_rate="0.006"))
    password_hash = rt.parties.passwords.hash("bench password 1")
    people = []
    credit = rt.payments.credit.available
    for i in range(first_phone, first_phone + customers):
        phone = f"1380000{i:04d}"
        view = rt.uow.run(lambda tx, p=phone: rt.parties.register(
            tx, phone=p, email=None, password_hash=password_hash, device_id="bench-device"))
        principal = Principal("customer", view["id"])
        if credit:
            id_number = _resident_id(i)
            rt.uow.run(lambda tx, pr=principal, n=id_number: rt.parties.verify_kyc(
                tx, pr, legal_name="测试", id_number=n,
                date_of_birth=__import__("datetime").date(1990, 1, 1)))
            rt.uow.run(lambda tx, c=view["id"]: rt.origination.open_credit_line(
                tx, operator, c, limit_minor=LIMIT_MINOR, product_code="huabei"))
        else:
            _fund(rt, principal, LIMIT_MINOR)
        people.append({"phone": phone, "principal": principal})
    return {"merchant": merchant, "people": people, "credit": credit,
                 "merchant_principal": Principal("merchant", merchant["merchant"]["id"],
                                                 scopes=frozenset({"payments:write"}))}


def _resident_id(i: int) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    body = f"110105" f"1990{1 + i // 1000 % 12:02d}01" f"{i % 1000:03d}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + check


def _fund(rt: Any, principal: Any, amount: int) -> None:
    from creditpay.api.routes_operators import deliver_rail_callbacks

    card = rt.uow.run(lambda tx: rt.parties.add_card(
        tx, principal, **_card_fields(rt, tx)))
    rt.uow.run(lambda tx: rt.payments.top_up(tx, principal, card_id=card["id"],
                                             amount_minor=amount))
    deliver_rail_callbacks(rt)


def _card_fields(rt: Any, tx: Any) -> dict[str, Any]:
    card = rt.payments.rail.tokenise(tx, "4242424242424242", 12, 2099)
    return {"rail_token": card.token, "brand": card.brand, "last4": card.last4,
            "expiry_month": 12, "expiry_year": 2099}


def _pick(offers: list[dict[str, Any]]) -> dict[str, Any]:
    """The 6-installment offer (the consumer's explicit pick) with its key-facts hash."""
    plans = [o for o in offers if o["funding"] == "installment_plan" and o["periods"] == 6]
    offer = (plans or offers)[0]
    return {"funding": offer["funding"], "offer_id": offer["offer_id"],
            "key_facts_sha256": offer["key_facts_sha256"]}


def _customers_for(checkouts: int) -> int:
    """Customers needed so that none holds more plans than the affordability rules allow."""
    return max(1, -(-checkouts // PLANS_PER_CUSTOMER))


def _one_checkout(rt: Any, world: dict[str, Any], merchant: Any, customer: Any,
                  order_id: str) -> None:
    """Intent, (offers,) confirm, capture: each its own transaction, as the API does."""
    service = rt.payments
    intent_id = rt.uow.run(lambda tx: service.create_intent(
        tx, merchant, amount_minor=AMOUNT_MINOR, currency="CNY", order_id=order_id))["id"]
    if world["credit"]:
        quote = rt.uow.run(lambda tx: service.quote_offers(tx, customer, intent_id))
        picked = _pick(quote["offers"])
        rt.uow.run(lambda tx: service.confirm(tx, customer, intent_id, **picked))
    else:
        rt.uow.run(lambda tx: service.confirm(tx, customer, intent_id, funding="balance"))
    rt.uow.run(lambda tx: service.capture(tx, merchant, intent_id))


def _in_process(rt: Any, world: dict[str, Any], payments: int) -> dict[str, Any]:
    merchant = world["merchant_principal"]
    people = world["people"][:_customers_for(payments)]
    latencies = []
    cpu_ms = []
    start = time.perf_counter()
    for i in range(payments):
        customer = people[i // PLANS_PER_CUSTOMER]["principal"]
        t0, c0 = time.perf_counter(), time.thread_time()
        _one_checkout(rt, world, merchant, customer, f"inproc-{i}")
        cpu_ms.append((time.thread_time() - c0) * 1000)
        latencies.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - start
    # CPU time of this thread per checkout: what the code costs, unlike the wall-clock
    # figures, barely moved by other processes' disk traffic on a shared machine.
    return {"checkouts": payments, "checkouts_per_s": round(payments / elapsed, 1),
            "latency_ms_p50": round(statistics.median(latencies), 2),
            "latency_ms_p99": round(_percentile(latencies, 0.99), 2), "concurrency": 1,
            "cpu_ms_per_checkout_p50": round(statistics.median(cpu_ms), 2)}


def pure_work_ms(catalogue: Any, repeats: int = 20) -> float:
    """CPU ms of a checkout's pure work alone, no storage: what no store can remove.

    Pricing every offer for ``AMOUNT_MINOR`` on the packaged line and plans (schedules, the
    all-in cost), each plan's exact rates (the EU rate), each offer's key-facts document in
    the language shown (figures and HTML), then the accepted document rendered again at
    confirm and the plan's schedule built again at capture, as the checkout does.
    Median of ``repeats`` runs of this thread's CPU time."""
    import datetime as dt

    from creditpay.credit import products as P
    from creditpay.credit.offers import exact_rates, plan_schedules, price_products
    from creditpay.payments.credit_port import _key_facts_of, _shown
    from creditpay.protection.disclosure import render_document

    as_of = dt.date(2025, 3, 2)
    line = catalogue.get("huabei")
    products = [line] + [p for p in catalogue.active(P.ProductKind.INSTALLMENT_PLAN)
                         if p.currency == "CNY"]
    samples = []
    for _ in range(repeats):
        start = time.thread_time()
        priced = price_products(products, customer_id="bench", amount_minor=AMOUNT_MINOR,
                                currency="CNY", as_of=as_of, available_minor=LIMIT_MINOR)
        shown = []
        for offer, costs in priced:
            figures = dict(offer.figures(), currency="CNY")
            rates = exact_rates(costs) if costs is not None else None
            facts = _key_facts_of(_shown(figures), offer.offer_id, "creditpay", catalogue,
                                  costs, rates)
            render_document(facts, "zh-CN")
            shown.append((figures, rates))
        figures, rates = next((f, r) for f, r in shown
                              if f["funding"] == "plan" and f["periods"] == 6)
        render_document(_key_facts_of(_shown(figures), figures["offer_id"], "creditpay",
                                      catalogue, rates=rates), "zh-CN")
        plan = catalogue.get(figures["product_code"], figures["product_version"])
        plan_schedules(plan, 6, int(figures["financed_minor"]), as_of, "CNY",
                       figures["down_payment_rate"])
        samples.append((time.thread_time() - start) * 1000)
    return statistics.median(samples)


@contextlib.contextmanager
def _server(url: str, master: LocalMasterKey, master_bytes: bytes, workers: int = 1
            ) -> Iterator[Any]:
    """``creditpay serve --workers N`` in a subprocess: yields its ApiProcess."""
    from creditpay.devtools.apiserver import running_api_process

    with running_api_process(url, encode_key(master_bytes), start_timeout_s=120,
                             workers=workers) as server:
        yield server


def _tree_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) of process ``pid`` and its descendants, the ended
    children it waited for included (PostgreSQL's ended backends); 0.0 when unknown."""
    if pid is None:
        return 0.0
    import psutil

    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
        return total
    except psutil.Error:
        return 0.0


def _postmaster_pid(server: Any) -> int | None:
    """The PostgreSQL server's postmaster (first line of ``postmaster.pid``)."""
    try:
        return int((Path(server.data) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _over_http(base: str, world: dict[str, Any], payments: int, concurrency: int,
               first_customer: int, cpu: Callable[[], dict[str, float]] | None = None,
               run: str = "http") -> dict[str, Any]:
    """``payments`` checkouts by ``concurrency`` clients, customers from ``first_customer``
    on; ``cpu`` (optional) reads the CPU seconds of each process group, before and after
    the timed part."""
    import httpx

    merchant_key = world["merchant"]["api_key"]["key"]
    per_client = max(1, payments // concurrency)
    # Earlier runs used the first customers; each client logs in its own (before the clock
    # starts), enough that none exceeds the plans a customer may hold.
    people = world["people"][first_customer:]
    per_client_customers = _customers_for(per_client)
    tokens: list[list[str]] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for n in range(concurrency):
            tokens.append([])
            for person in people[n * per_client_customers:(n + 1) * per_client_customers]:
                response = client.post("/v1/auth/login", json={
                    "identifier": person["phone"], "password": "bench password 1",
                    "device_id": "bench-device"},
                    headers={"Idempotency-Key": uuid.uuid4().hex})
                tokens[n].append(response.json()["access_token"])
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client_loop(n: int) -> None:
        merchant = {"Authorization": f"Bearer {merchant_key}"}
        with httpx.Client(base_url=base, timeout=30) as http:
            def call(path: str, body: dict[str, Any], auth: dict[str, str]) -> Any:
                response = http.post(path, json=body,
                                     headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
                if response.status_code >= 300:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
                return response.json()

            for i in range(per_client):
                customer = {"Authorization": f"Bearer {tokens[n][i // PLANS_PER_CUSTOMER]}"}
                t0 = time.perf_counter()
                try:
                    intent = call("/v1/payment_intents", {
                        "amount_minor": AMOUNT_MINOR, "currency": "CNY",
                        "order_id": f"{run}-{n}-{i}"}, merchant)
                    url = f"/v1/payment_intents/{intent['id']}"
                    if world["credit"]:
                        quote = call(f"{url}/credit_offers", {}, customer)
                        call(f"{url}/confirm", _pick(quote["offers"]), customer)
                    else:
                        call(f"{url}/confirm", {"funding": "balance"}, customer)
                    call(f"{url}/capture", {}, merchant)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    with lock:
                        errors.append(str(exc)[:200])
                    continue
                with lock:
                    latencies.append((time.perf_counter() - t0) * 1000)

    cpu_before = cpu() if cpu else {}
    elapsed = _run_threads(client_loop, concurrency)
    result: dict[str, Any] = {
        "checkouts": len(latencies), "errors": len(errors), "error_sample": errors[:3],
        "checkouts_per_s": round(len(latencies) / elapsed, 1),
        "latency_ms_p50": round(statistics.median(latencies), 2) if latencies else None,
        "latency_ms_p99": round(_percentile(latencies, 0.99), 2) if latencies else None,
        "concurrency": concurrency, "elapsed_s": round(elapsed, 2)}
    if cpu:
        used = {name: value - cpu_before[name] for name, value in cpu().items()}
        done = max(1, len(latencies))
        per = {name: round(value * 1000 / done, 2) for name, value in used.items()}
        per["total"] = round(sum(used.values()) * 1000 / done, 2)
        result["cpu_s"] = {name: round(value, 2) for name, value in used.items()}
        result["cpu_ms_per_checkout"] = per
        # The share of the machine's cores the run kept busy (all processes, this run's).
        result["cores_busy"] = round(sum(used.values()) / elapsed, 2)
    return result


HTTP_WORKERS = (1, 2)  # serve --workers compared on PostgreSQL


def measure(kind: str, payments: int, http_payments: int, concurrency: int) -> dict[str, Any]:
    master_bytes = generate_key_bytes()
    master = LocalMasterKey(master_bytes)
    runs = HTTP_WORKERS if kind == "postgresql" else (1,)
    with _store(kind) as (url, connect, pg_server):
        in_process_customers = _customers_for(payments)
        concurrency = max(concurrency, 1)
        http_customers = concurrency * _customers_for(max(1, http_payments // concurrency))
        # One more customer, last, for counting statements (their plans do not count
        # against the others').
        app, world = _world(url, master, in_process_customers + len(runs) * http_customers
                            + 1)
        rt = app.state.runtime
        try:
            counts = first = None
            if world["credit"]:
                counter = world["people"][-1]["principal"]
                first = statements_per_checkout(rt, world, counter, order_id="count-1")
                counts = statements_per_checkout(rt, world, counter, order_id="count-2")
            in_process = _in_process(rt, world, payments)
        finally:
            rt.close()
        postmaster = _postmaster_pid(pg_server) if pg_server is not None else None
        by_workers: dict[int, dict[str, Any]] = {}
        for n, workers in enumerate(runs):
            with _server(url, master, master_bytes, workers) as server:
                def cpu(pid: int = server.pid) -> dict[str, float]:
                    figures = {"server": _tree_cpu_s(pid), "load_generator": time.process_time()}
                    if postmaster is not None:
                        figures["postgresql"] = _tree_cpu_s(postmaster)
                    return figures

                by_workers[workers] = {"workers": workers, **_over_http(
                    server.base, world, http_payments, concurrency,
                    in_process_customers + n * http_customers, cpu, run=f"http{workers}")}
        http = by_workers[1]
        limits = _rate_limit_cost(url, postmaster, concurrency) if postmaster else None
        raw_1 = _raw_commits(kind, connect, 1, 2.0)
        raw_n = _raw_commits(kind, connect, concurrency, 2.0)
    per = WRITE_TRANSACTIONS_PER_CHECKOUT
    pure_ms = pure_work_ms(rt.catalogue) if world["credit"] else 0.0
    # What the store's four commits and the pure work alone would allow, one client.
    floor_per_s = 1 / (per / raw_1 + pure_ms / 1000)
    result = {
        "bench": "checkout", "store": kind, "cpu_count": os.cpu_count(),
        "funding": "installment_plan (6 periods)" if world["credit"] else
        "balance (credit engine not installed)",
        "write_transactions_per_checkout": per,
        "sql_statements_per_confirm": counts["confirm"] if counts else None,
        "sql_statements_per_confirm_screening": counts["confirm_screening"] if counts else None,
        "sql_statements_per_capture": counts["capture"] if counts else None,
        "sql_statements_per_first_confirm": first["confirm"] if first else None,
        "pure_work_cpu_ms_per_checkout": round(pure_ms, 2),
        "in_process": {**in_process, "raw_commits_per_s": round(raw_1, 1),
                       "reference_checkouts_per_s": round(raw_1 / per, 1),
                       "ratio": round(in_process["checkouts_per_s"] / (raw_1 / per), 4),
                       "commits_and_pure_work_checkouts_per_s": round(floor_per_s, 1),
                       "ratio_to_commits_and_pure_work": round(
                           in_process["checkouts_per_s"] / floor_per_s, 4)},
        "http": {**http, "raw_commits_per_s": round(raw_n, 1),
                 "reference_checkouts_per_s": round(raw_n / per, 1),
                 "ratio": round(http["checkouts_per_s"] / (raw_n / per), 4)},
    }
    if len(by_workers) > 1:
        result["http_workers"] = _workers_summary(by_workers)
    if limits is not None:
        total_ms = http.get("cpu_ms_per_checkout", {}).get("total")
        limits["share_of_http_checkout_cpu"] = round(
            limits["cpu_us_per_check"]["total"] * REQUESTS_PER_CHECKOUT / 1000 / total_ms,
            4) if total_ms else None
        result["rate_limit_check"] = limits
    return result


def _rate_limit_cost(url: str, postmaster: int, threads: int, seconds: float = 2.0
                     ) -> dict[str, Any]:
    """The shared rate limit's price: ``threads`` threads checking ONE key (the bench's
    clients all come from 127.0.0.1: the hottest row there is) and a credential each, as
    the API does per request; checks/s and CPU µs per check in this process and in
    PostgreSQL."""
    from creditpay.clock import SystemClock
    from creditpay.db.engine import make_engine
    from creditpay.db.uow import UnitOfWork
    from creditpay.platform.rate_limits import Limit, RateLimits

    engine = make_engine(url, pool_size=threads)
    limits = RateLimits(UnitOfWork(engine, SystemClock()))
    ip, credential = Limit(10**9, 10**9), Limit(10**9, 10**9)  # never refuses
    counts = [0] * threads
    try:
        limits.take([("ip:127.0.0.1", ip)])  # connect and create the row first
        deadline = time.perf_counter() + seconds

        def worker(n: int) -> None:
            while time.perf_counter() < deadline:
                limits.take([("ip:127.0.0.1", ip), (f"cred:{n}", credential)])
                counts[n] += 1

        cpu_before, pg_before = time.process_time(), _tree_cpu_s(postmaster)
        elapsed = _run_threads(worker, threads)
        client_s, pg_s = time.process_time() - cpu_before, _tree_cpu_s(postmaster) - pg_before
    finally:
        engine.dispose()
    checks = max(1, sum(counts))
    return {"threads": threads, "checks_per_s": round(checks / elapsed, 1),
            "cpu_us_per_check": {"client": round(client_s * 1e6 / checks, 1),
                                 "postgresql": round(pg_s * 1e6 / checks, 1),
                                 "total": round((client_s + pg_s) * 1e6 / checks, 1)}}


def _workers_summary(by_workers: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """HTTP throughput with 1 and 2 API workers side by side, and the ceiling the machine
    puts on each: a worker is one Python process (one core at most, its GIL), so ``n``
    workers give at most ``n * 1000 / server_ms`` checkouts/s, and every process shares
    the ``cpu_count`` cores, so at most ``cpu_count * 1000 / total_ms``
    (``ceiling_checkouts_per_s``: the lower of the two, from the run's CPU per checkout).
    ``ratio_ceiling_2_vs_1`` is the ratio of the two ceilings: what 2 workers could give
    over 1 on this machine with the load generator and PostgreSQL on the same cores.
    ``cores_busy``: the cores the run's processes kept busy (other load on the machine
    shows as fewer than ``cpu_count`` while the throughput is below its ceiling)."""
    cores = os.cpu_count() or 1
    summary: dict[str, Any] = {}
    for workers, run in by_workers.items():
        cpu = run.get("cpu_ms_per_checkout", {})
        ceiling = None
        if cpu.get("server") and cpu.get("total"):
            ceiling = round(min(workers * 1000 / cpu["server"], cores * 1000 / cpu["total"]), 1)
        summary[str(workers)] = {
            **run, "throughput_per_s": run["checkouts_per_s"],
            "requests_per_s": round(run["checkouts_per_s"] * REQUESTS_PER_CHECKOUT, 1),
            "ceiling_checkouts_per_s": ceiling,
            "share_of_ceiling": round(run["checkouts_per_s"] / ceiling, 3) if ceiling else None}
    one, two = summary["1"], summary["2"]
    summary["ratio_2_vs_1"] = round(two["throughput_per_s"] / one["throughput_per_s"], 3) \
        if one["throughput_per_s"] else None
    summary["ratio_ceiling_2_vs_1"] = round(
        two["ceiling_checkouts_per_s"] / one["ceiling_checkouts_per_s"], 3) \
        if two["ceiling_checkouts_per_s"] and one["ceiling_checkouts_per_s"] else None
    summary["cpu_count"] = cores
    return summary


def run(stores: list[str], payments: int, http_payments: int, concurrency: int,
        progress: bool = False) -> list[dict[str, Any]]:
    results = []
    for kind in stores:
        if progress:
            from rich.console import Console

            Console(stderr=True).log(f"checkout benchmark on {kind} ...")
        results.append(measure(kind, payments, http_payments, concurrency))
    return results
