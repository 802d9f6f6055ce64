"""Close of business (COB): one business date's servicing over every active account.

For business date D, per chunk of accounts (by ``seq`` range; one transaction per chunk,
recorded in ``credit_cob_chunks`` in that same transaction, so a crash resumes at the first
chunk not recorded and a date run twice changes nothing):

1. auto-debit: accounts with auto-debit on and an item due on D are debited from the wallet
   for everything due by D (all or nothing: a short wallet is left for collections), if the
   auto-debit consent they were switched on under is still in force; if it was revoked
   since, the account is not debited and its auto-debit is switched off (outbox event
   ``credit.auto_debit.changed`` with the refusal rule);
2. accrue and age (vectorised, :mod:`creditpay.credit.cob_vectorised`): interest for day D,
   penalty interest after the grace days, dpd, bucket;
3. roll: billed items due on or before D and unpaid become past due (after the accrual:
   the due date is the last day to pay); a revolving line is late only on a statement whose
   minimum is unpaid; accounts that owe no principal more drop the sub-minor remainder of
   their accruals (never rounded up against the customer);
4. late fees (once per missed due date, after the grace days);
5. write-off at the product's dpd (default 180), receivables to ``write_off_expense``;
6. billing: installments due on D+1 are billed, posting the interest accrued for their period
   (so a customer paying on the due date sees the exact amount); lines whose statement day
   is D get their statement (a revolving line's balances in good standing are carried onto
   it, due on its due date, with their share of its minimum); on the last day of a month
   accrued penalty is posted;
7. after the chunks, expired authorisation holds are released (ledger ``expire_holds``).

How a chunk runs: the repository (:mod:`creditpay.credit.accounts_repo`) reads the chunk's
installments, then its accounts as arrays, leaving out the idle ones (no step can change
them today: ``accounts_repo.IDLE_CONDITION``; they are only counted);
a consent pre-pass checks the auto-debit candidates through the injected
:class:`AutoDebitConsents` (credit may not import consumer protection); the wallet pulls are
attempted (unlinked: the ledger alone judges a short wallet); the pure business steps of
:mod:`creditpay.credit.cob_steps` run in their declared order (``STEPS``: steps 1 to 6 above)
on the arrays; one executor posts their transfer requests in linked ledger batches, writes
the rows with executemany batches and emits their events. Only the sparse events (a due
date, a statement, a late fee) build per-account rows in Python, to hand them to the store.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy import Connection, case, func, select, text

from creditpay import ledger as L
from creditpay.credit import accounts_repo as repo
from creditpay.credit import products as P
from creditpay.credit.cob_steps import (
    COUNT_KEYS,
    ChunkOutput,
    ChunkState,
    DayInputs,
    PlanInstallment,
    auto_debit_candidates,
    auto_debit_pulls,
    run_steps,
)
from creditpay.credit.cob_vectorised import day_number
from creditpay.credit.day_end import record_day_end
from creditpay.credit.lines import platform_ledger_accounts, post
from creditpay.credit.tables import (
    credit_accounts,
    credit_cob_chunks,
    credit_cob_runs,
    credit_installments,
)
from creditpay.db.uow import Tx, UnitOfWork
from creditpay.errors import StateError, ValidationError
from creditpay.platform import metrics

if TYPE_CHECKING:
    from creditpay.platform.checkpoints import AuditCheckpointer

__all__ = ["AutoDebitConsents", "CobReport", "run_close_of_business", "CHUNK_SIZE_DEFAULT",
           "process_chunk", "read_chunk", "ChunkRead", "chunk_fingerprint", "highest_seq", "ChunkReader", "StepsRunner", "ENGINES"]

ENGINES = ("local", "spark")  # where the pure steps run: this process, or Spark tasks


class AutoDebitConsents(Protocol):
    """The auto-debit consent check (consumer protection implements it above credit:
    ``creditpay.protection.auto_debit_consents.ReferencedAutoDebitConsents``)."""

    def refusals(self, conn: Connection, wanted: Sequence[tuple[str, str | None]]
                 ) -> list[str | None]:
        """For each ``(customer_id, consent reference)``: None when the auto-debit consent
        the reference names is still in force, else the refusal rule. Writes nothing."""
        ...

CHUNK_SIZE_DEFAULT = 50_000
HOLDS_CHUNK = -1  # the chunk number recording the hold-expiry step


@dataclass
class CobReport:
    business_date: str
    accounts: int = 0
    interest_accrued_minor: int = 0  # whole minor units of the day's accrual (rounded sum)
    penalty_accrued_minor: int = 0
    auto_debits: int = 0
    auto_debit_minor: int = 0
    auto_debits_failed: int = 0
    auto_debits_stopped_no_consent: int = 0
    rolled_past_due: int = 0
    late_fees: int = 0
    write_offs: int = 0
    written_off_minor: int = 0
    installments_billed: int = 0
    statements: int = 0
    transfers: int = 0
    holds_expired: int = 0
    authorisations_expired: int = 0
    hardship_completed: int = 0  # hardship arrangements ended today (credit.hardship)
    hardship_broken: int = 0
    hardship_rates_restored: int = 0
    chunks: int = 0
    chunks_resumed: int = 0
    already_done: bool = False
    engine: str = "local"  # where the pure steps ran (ENGINES): the metrics' label
    seconds: float = 0.0
    by_bucket: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def add(self, counts: dict[str, Any]) -> None:
        for key, value in counts.items():
            if key == "by_bucket":
                for bucket, n in value.items():
                    self.by_bucket[bucket] = self.by_bucket.get(bucket, 0) + n
            elif hasattr(self, key):
                setattr(self, key, getattr(self, key) + value)


# ----------------------------------------------------------------------------- one chunk
def _consent_pre_pass(conn: Connection, state: ChunkState, day: int,
                      consents: AutoDebitConsents) -> tuple[np.ndarray, np.ndarray]:
    """Per account, the refusal rule of the auto-debit consent of today's auto-debit
    candidates (None: in force, or not a candidate) and the stored reference: one read of the
    references and one consent check for the whole chunk, before any step runs."""
    refusal = np.full(state.n, None, dtype=object)
    reference = np.full(state.n, None, dtype=object)
    candidates = auto_debit_candidates(state, day)
    if len(candidates) == 0:
        return refusal, reference
    a = state.a
    seqs = a["seq"][candidates].tolist()
    refs = repo.auto_debit_references(conn, seqs)
    wanted = [(str(a["customer_id"][i]), refs.get(seq)) for i, seq in zip(candidates, seqs,
                                                                           strict=True)]
    for i, (_, ref), rule in zip(candidates, wanted, consents.refusals(conn, wanted),
                                 strict=True):
        refusal[i] = rule
        reference[i] = ref
    return refusal, reference


def _attempt_pulls(tx: Tx, n: int, positions: np.ndarray,
                   pulls: list[L.TransferRequest]) -> np.ndarray:
    """Post the auto-debit wallet pulls one by one (unlinked): the ledger, under its locks,
    is the only safe judge of a wallet that may be short. Returns, per account, whether its
    pull was posted."""
    collected = np.zeros(n, dtype=bool)
    size = L.service.BATCH_SIZE_MAX
    outcomes: list[Any] = []
    for start in range(0, len(pulls), size):
        outcomes.extend(L.create_transfers_unlinked(tx, pulls[start:start + size]))
    for i, outcome in zip(positions, outcomes, strict=True):
        collected[i] = isinstance(outcome, L.Transfer)
    return collected


def _execute(tx: Tx, day: int, loaded: dict[str, np.ndarray], out: ChunkOutput) -> None:
    """The one executor: post the steps' transfer requests (linked ledger batches), write
    the rows (executemany) and emit the events, all in the chunk's transaction."""
    if out.requests:
        post(tx, list(out.requests))
    repo.save_chunk(tx.conn, tx.now, day, loaded, out.state, out.writes)
    for event in out.events:
        tx.emit(event.topic, event.aggregate_type, event.aggregate_id, dict(event.payload))


@dataclass(frozen=True)
class ChunkRead:
    """What a chunk's close of business reads from the credit tables before any step runs
    (the snapshot of one chunk): the accounts that are not idle as arrays
    (:func:`creditpay.credit.accounts_repo.load_chunk`), their open installments and those
    due by tomorrow (rows of :data:`~creditpay.credit.accounts_repo.ITEM_COLUMNS`), the
    scheduled installments of the accounts billed, the installment numbers and plan
    installments of the lines cutting a statement, the seqs billed ahead and the count of
    idle accounts. The live inputs (consents, platform accounts, wallet pulls) are not in
    it: they are read in the chunk's transaction."""

    loaded: dict[str, np.ndarray]
    open_rows: list[Sequence[Any]]
    due_rows: list[Sequence[Any]]
    ahead: list[int]
    idle_count: int
    scheduled_seq: np.ndarray
    scheduled_due: np.ndarray
    installment_numbers: dict[int, int]
    plan_installments: dict[str, tuple[PlanInstallment, ...]]


ChunkReader = Callable[[Connection, dt.date, int, int, int], ChunkRead]
"""Reads chunk ``number`` (seqs ``lo`` to ``hi``) of ``business_date``: :func:`read_chunk`
(the database, the default) or a snapshot reader (``creditpay.spark.snapshot``)."""

StepsRunner = Callable[[ChunkState, DayInputs], ChunkOutput]
"""Runs the pure steps over a chunk: :func:`creditpay.credit.cob_steps.run_steps` in this
process (the local engine), or the same steps in Spark tasks (``creditpay.spark``)."""


def read_chunk(conn: Connection, business_date: dt.date, number: int, lo: int, hi: int
               ) -> ChunkRead:
    """Read chunk ``number`` (accounts with seq in [lo, hi]) for ``business_date`` from the
    database (``number`` names the chunk for snapshot readers; unused here)."""
    del number
    day = day_number(business_date)
    # The installments first: the accounts with one due by tomorrow are never idle; the
    # idle accounts (nothing can change them today, repo.IDLE_CONDITION) are not read.
    open_rows = repo.open_item_rows(conn, lo, hi)
    due_rows = repo.due_item_rows(conn, day, lo, hi)
    ahead = repo.billed_ahead_seqs(conn, day, lo, hi)
    idle = repo.IdleFilter(statement_day=business_date.day,
                           busy=repo.busy_seqs(open_rows, due_rows, day, ahead))
    loaded = repo.load_chunk(conn, day, lo, hi, skip_idle=idle)
    idle_count = repo.count_idle(conn, day, lo, hi, idle)
    seq = loaded["seq"]
    due_items = repo.item_arrays(due_rows, seq)
    billed_seqs = np.unique(due_items["account_seq"][due_items["valid"]]).tolist()
    scheduled_seq, scheduled_due = repo.load_scheduled(conn, billed_seqs)
    lines = np.flatnonzero((loaded["kind"] == "line")
                           & (loaded["statement_day"] == business_date.day))
    return ChunkRead(
        loaded=loaded, open_rows=open_rows, due_rows=due_rows, ahead=list(ahead),
        idle_count=idle_count, scheduled_seq=scheduled_seq, scheduled_due=scheduled_due,
        installment_numbers=repo.installment_numbers(conn, seq[lines].tolist()),
        plan_installments=dict(repo.plan_installments_in_cycle(
            conn, [str(x) for x in loaded["line_id"][lines]], business_date)))


def chunk_fingerprint(conn: Connection, lo: int, hi: int) -> dict[str, Any]:
    """What a snapshot of the chunk of seqs [lo, hi] was taken from: its accounts (count,
    latest update) and their installments (count, highest id, amounts paid, interest, and
    how many are open, by status). A snapshot whose fingerprint no longer matches the
    database is stale (an account or installment changed since) and is refused."""
    ca, ci = credit_accounts, credit_installments
    count, latest = conn.execute(select(func.count(), func.max(ca.c.updated_at)).where(
        ca.c.seq.between(lo, hi))).one()
    statuses = [func.coalesce(func.sum(case((ci.c.status == status, 1), else_=0)), 0)
                for status in repo.OPEN_STATUSES]
    items = conn.execute(select(
        func.count(), func.coalesce(func.max(ci.c.id), 0),
        func.coalesce(func.sum(ci.c.principal_paid_minor + ci.c.interest_paid_minor
                               + ci.c.fee_paid_minor), 0),
        func.coalesce(func.sum(ci.c.interest_minor), 0), *statuses).where(
        ci.c.account_seq.between(lo, hi))).one()
    return {"accounts": {"rows": int(count),
                         "updated_at": None if latest is None else str(latest)},
            "installments": [int(x) for x in items]}


def process_chunk(tx: Tx, business_date: dt.date, lo: int, hi: int,
                  consents: AutoDebitConsents, *, catalogue: P.Catalogue,
                  number: int = 0, reader: ChunkReader = read_chunk,
                  steps_runner: StepsRunner = run_steps) -> dict[str, Any]:
    """Run the close of business of ``business_date`` for accounts with seq in [lo, hi]
    inside ``tx``: read (``reader``), consent pre-pass, wallet pulls, the pure steps in their
    order (:data:`creditpay.credit.cob_steps.STEPS`, run by ``steps_runner``), then the
    executor; returns the chunk's counts."""
    conn = tx.conn
    day = day_number(business_date)
    counts: dict[str, Any] = dict.fromkeys(COUNT_KEYS, 0)
    read = reader(conn, business_date, number, lo, hi)
    loaded, idle_count = read.loaded, read.idle_count
    n = len(loaded["seq"])
    counts["accounts"] = n + idle_count
    if n == 0:
        counts["by_bucket"] = {repo.CURRENT_BUCKET: idle_count} if idle_count else {}
        return counts
    currencies = set(loaded["currency"].tolist())
    if len(currencies) != 1:
        # One platform account set per currency: run the currencies one after the other.
        raise StateError("a chunk holds one currency; use chunk boundaries per currency",
                         field="currency")
    platform = platform_ledger_accounts(tx, currencies.pop())
    seq = loaded["seq"]
    state = ChunkState(loaded, repo.item_arrays(read.open_rows, seq))
    refusal, reference = _consent_pre_pass(conn, state, day, consents)
    inputs = DayInputs(
        day=day, platform=platform, catalogue=catalogue, consent_refusal=refusal,
        consent_reference=reference, collected=np.zeros(n, dtype=bool),
        due_items=repo.item_arrays(read.due_rows, seq), scheduled_seq=read.scheduled_seq,
        scheduled_due=read.scheduled_due, installment_numbers=read.installment_numbers,
        plan_installments=read.plan_installments,
        ahead_seqs=np.asarray(read.ahead, dtype=np.int64))
    debit, pulls = auto_debit_pulls(state, inputs)
    if pulls:
        inputs = replace(inputs, collected=_attempt_pulls(tx, n, debit, pulls))
    out = steps_runner(state, inputs)
    _execute(tx, day, loaded, out)
    counts.update({k: counts.get(k, 0) + v for k, v in out.counts.items()})
    counts["transfers"] = len(out.requests) + counts["auto_debits"] + \
        counts["auto_debits_failed"]
    a = out.state.a
    # Counted in a dict: sorting 50,000 label strings (np.unique) cost more than the steps.
    by_bucket = Counter(a["bucket"][a["status"] == "active"].tolist())
    by_bucket[repo.CURRENT_BUCKET] += idle_count  # idle accounts are current (dpd 0)
    counts["by_bucket"] = {str(k): n for k, n in sorted(by_bucket.items()) if n}
    return counts


# ----------------------------------------------------------------------------- the run
def next_business_date(conn: Any) -> dt.date | None:
    """The business date after the last day whose close of business is done (where a
    simulation left the database), or None before any close of business."""
    last = _previous_done(conn)
    return None if last is None else last + dt.timedelta(days=1)


def _previous_done(conn: Any) -> dt.date | None:
    return conn.execute(select(func.max(credit_cob_runs.c.business_date)).where(
        credit_cob_runs.c.status == "done")).scalar()


def highest_seq(conn: Any) -> int:
    """The highest account seq (0 without accounts): the close of business's chunks cover
    seqs 1 to it (one currency per database, as :func:`_chunk_bounds` checks)."""
    return _chunk_bounds(conn, CHUNK_SIZE_DEFAULT)[0]


def _chunk_bounds(conn: Any, chunk_size: int) -> tuple[int, list[tuple[int, int]]]:
    """Chunks of ``chunk_size`` consecutive seqs, split further at currency changes so each
    chunk has one currency (and so one set of platform accounts)."""
    seq_max = conn.execute(select(func.coalesce(func.max(credit_accounts.c.seq), 0))
                           ).scalar_one()
    currencies = conn.execute(select(credit_accounts.c.currency,
                                     func.min(credit_accounts.c.seq),
                                     func.max(credit_accounts.c.seq))
                              .group_by(credit_accounts.c.currency)).all()
    bounds: list[tuple[int, int]] = []
    if len(currencies) <= 1:
        for lo in range(1, int(seq_max) + 1, chunk_size):
            bounds.append((lo, min(lo + chunk_size - 1, int(seq_max))))
        return int(seq_max), bounds
    raise StateError("the close of business runs one currency per database for now",
                     field="currency")


def run_close_of_business(uow: UnitOfWork, business_date: dt.date, *, progress: bool = False,
                          chunk_size: int = CHUNK_SIZE_DEFAULT,
                          _after_chunk: Callable[[int], None] | None = None,
                          audit_checkpointer: AuditCheckpointer | None,
                          auto_debit_consents: AutoDebitConsents,
                          catalogue: P.Catalogue, engine: str = "local",
                          steps_runner: StepsRunner = run_steps,
                          reader: ChunkReader = read_chunk) -> CobReport:
    """Run (or resume, or replay as a no-op) the close of business for ``business_date``.

    Dates run in order: the date after the last one done, or any date for the first run.
    ``_after_chunk`` is a test hook called after each committed chunk (to simulate a crash).
    The run ends with an audit seal that checkpoints through ``audit_checkpointer`` (required,
    no default: None only where a checkpointing seal follows, as in tests).
    ``auto_debit_consents`` checks, before any wallet is debited, that each auto-debit's
    consent is still in force (consumer protection implements it; credit may not import it).
    ``catalogue`` is the process's product catalogue (from the bootstrap).
    ``engine`` names where the pure steps run (:data:`ENGINES`, recorded in the report);
    ``steps_runner`` runs them (``run_steps`` here; ``creditpay.spark`` passes its Spark
    runner) and ``reader`` reads a chunk (the database, or a snapshot). Whatever runs the
    steps, the reads, the consent check, the wallet pulls and the executor are the same.
    """
    if engine not in ENGINES:
        raise ValidationError(f"must be one of {', '.join(ENGINES)}", field="engine")
    if not isinstance(business_date, dt.date) or isinstance(business_date, dt.datetime):
        raise ValidationError("must be a date", field="business_date")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or \
            not 1 <= chunk_size <= 1_000_000:
        raise ValidationError("must be from 1 to 1,000,000", field="chunk_size")
    started = time.perf_counter()
    with uow.begin() as tx:
        if business_date > tx.today:
            raise ValidationError(f"{business_date} has not begun (business date is"
                                  f" {tx.today})", field="business_date")
        stored = tx.conn.execute(select(credit_cob_runs).where(
            credit_cob_runs.c.business_date == business_date)).mappings().first()
        if stored is not None and stored["status"] == "done":
            return CobReport(**{**stored["report"], "already_done": True})
        run: dict[str, Any] | None = None if stored is None else dict(stored)
        last = _previous_done(tx.conn)
        if run is None:
            if last is not None and business_date != last + dt.timedelta(days=1):
                raise StateError(f"the close of business of {last + dt.timedelta(days=1)}"
                                 f" must run before {business_date}" if business_date > last
                                 else f"{business_date} is before the last run ({last})",
                                 field="business_date")
            seq_max, _ = _chunk_bounds(tx.conn, chunk_size)
            tx.conn.execute(credit_cob_runs.insert(), {
                "business_date": business_date, "status": "running", "chunk_size": chunk_size,
                "seq_max": seq_max, "report": None, "started_at": tx.now})
            run = {"chunk_size": chunk_size, "seq_max": seq_max}
    chunk_size = run["chunk_size"]
    seq_max = run["seq_max"]
    bounds = [(lo, min(lo + chunk_size - 1, seq_max)) for lo in range(1, seq_max + 1,
                                                                        chunk_size)]
    report = CobReport(business_date=business_date.isoformat(), engine=engine)
    with uow.connect() as conn:
        done = {row[0]: row[1] for row in conn.execute(
            select(credit_cob_chunks.c.chunk, credit_cob_chunks.c.counts).where(
                credit_cob_chunks.c.business_date == business_date))}
    bar = _progress(progress, len(bounds) + 1, business_date)
    try:
        for number, (lo, hi) in enumerate(bounds):
            if number in done:
                report.add(done[number])
                report.chunks_resumed += 1
            else:
                def one(tx: Tx, number: int = number, lo: int = lo, hi: int = hi
                        ) -> dict[str, Any]:
                    counts = process_chunk(tx, business_date, lo, hi, auto_debit_consents,
                                           catalogue=catalogue, number=number,
                                           reader=reader, steps_runner=steps_runner)
                    tx.conn.execute(credit_cob_chunks.insert(), {
                        "business_date": business_date, "chunk": number, "counts": counts,
                        "finished_at": tx.now})
                    return counts

                report.add(uow.run(one))
                if _after_chunk is not None:
                    _after_chunk(number)
            report.chunks += 1
            if bar is not None:
                bar[0].advance(bar[1])
        if HOLDS_CHUNK not in done:
            def holds(tx: Tx) -> dict[str, Any]:
                expired = 0
                while True:
                    batch = L.expire_holds(tx)
                    expired += batch
                    if batch < 10_000:
                        break
                counts = {"holds_expired": expired,
                          "authorisations_expired": _close_expired_authorisations(tx)}
                # Hardship arrangements: end the completed or broken ones, restore the rate
                # after a holiday whose interest was waived (credit.hardship).
                from creditpay.credit.hardship import end_arrangements

                counts.update(end_arrangements(tx, business_date))
                tx.conn.execute(credit_cob_chunks.insert(), {
                    "business_date": business_date, "chunk": HOLDS_CHUNK, "counts": counts,
                    "finished_at": tx.now})
                return counts

            report.add(uow.run(holds))
        else:
            report.add(done[HOLDS_CHUNK])
        if bar is not None:
            bar[0].advance(bar[1])
    finally:
        if bar is not None:
            bar[0].stop()
    report.seconds = round(time.perf_counter() - started, 3)
    with uow.begin() as tx:
        # The positions as this close leaves them, in the transaction that marks the date
        # done: a closed date always has its day-end positions, so its reports can be made
        # again later (reporting.regulatory) whatever moves afterwards.
        record_day_end(tx.conn, business_date)
        tx.conn.execute(credit_cob_runs.update().where(
            credit_cob_runs.c.business_date == business_date).values(
            status="done", report=report.as_dict(), finished_at=tx.now))
        tx.emit("credit.cob.completed", "credit_cob_run", business_date.isoformat(),
                report.as_dict())
        # One audit record per business date (counts and totals), not one per posting.
        from creditpay.platform.audit import append

        append(tx, "system", "close_of_business", "credit.cob.completed", "credit_cob_run",
               business_date.isoformat(),
               {k: v for k, v in report.as_dict().items()
                if k not in ("seconds", "already_done", "chunks_resumed", "engine")})
    # The nightly batch also seals the audit chain, so no record of the day stays outside
    # the hash chain past the night (docs/security.md, "protection window").
    from creditpay.platform.audit import seal

    seal(uow, audit_checkpointer)
    # A run that did the work (not the no-op replay of a date already done above).
    metrics.observe_close_of_business(time.perf_counter() - started, "local")
    return report


_AUTHORISATIONS_PER_BATCH = 1_000


def _close_expired_authorisations(tx: Tx) -> int:
    """Mark voided the credit authorisations whose ledger hold expired (the limit is back on
    the line; the authorisation can no longer be captured), so that nothing, the exposure
    check included, counts an expired hold as live. Returns how many."""
    from creditpay.credit.service import HOLD_TIMEOUT_SECONDS
    from creditpay.credit.tables import AUTHORISATION_OPEN_SQL
    from creditpay.credit.tables import credit_authorisations as ca

    # Only authorisations older than the timeout can have an expired hold.
    cutoff = tx.now - dt.timedelta(seconds=HOLD_TIMEOUT_SECONDS)
    closed = 0
    after = ""
    while True:
        rows = tx.conn.execute(select(ca.c.authorisation_id, ca.c.hold_transfer_id).where(
            text(AUTHORISATION_OPEN_SQL), ca.c.created_at <= cutoff,
            ca.c.authorisation_id > after).order_by(ca.c.authorisation_id).limit(
            _AUTHORISATIONS_PER_BATCH)).all()
        expired = [auth_id for auth_id, hold_id in rows
                   if L.get_transfer(tx.conn, hold_id).hold_status == L.HoldStatus.EXPIRED]
        if expired:
            tx.conn.execute(ca.update().where(ca.c.authorisation_id.in_(expired)).values(
                status="voided", updated_at=tx.now))
            for auth_id in expired:
                tx.emit("credit.purchase.expired", "credit_authorisation", auth_id, {})
        closed += len(expired)
        if len(rows) < _AUTHORISATIONS_PER_BATCH:
            return closed
        after = rows[-1][0]


def _progress(enabled: bool, total: int, business_date: dt.date) -> Any:
    if not enabled:
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn(f"close of business {business_date}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total} chunks"), TimeElapsedColumn())
    bar.start()
    return bar, bar.add_task("cob", total=total)
