"""The job functions and their schedule; both runners (:mod:`creditpay.jobs.queue`,
:mod:`creditpay.jobs.inprocess`) call these and nothing else.

Every function takes the process's :class:`creditpay.bootstrap.Services` (built once per
worker process) and is idempotent:

* :func:`deliver_webhooks`: relays ``payments.*`` outbox events into deliveries (marks them
  published in the same transaction) and sends the due ones through the dispatcher, whose
  leases, retries with backoff and per-merchant slots are unchanged; a delivery is recorded
  by its lease holder only, so a killed run's claims run out and are sent again (the
  merchant de-duplicates on the event id).
* :func:`apply_rail_callbacks`: each due card-rail callback in its own transaction, marked
  delivered with its effects.
* :func:`seal_audit`: chains the committed audit records and writes the signed checkpoint.
* :func:`nightly`: the night's batch for one business date (:func:`creditpay.nightly.
  run_nightly`); every step is idempotent for the date, so a second run for a date already
  done posts nothing and a run after a crash finishes what is left.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from creditpay.config import check_time_of_day, env_name
from creditpay.errors import StateError, ValidationError

if TYPE_CHECKING:
    from creditpay.bootstrap import Services
    from creditpay.config import Settings

__all__ = ["JobSchedule", "prepare", "deliver_webhooks", "apply_rail_callbacks", "seal_audit",
           "nightly", "nightly_tick", "nightly_date_due", "NIGHTLY_CATCH_UP_DAYS_MAX"]

log = logging.getLogger("creditpay.jobs")

# A nightly job closes the days a stopped scheduler missed, in order, up to this many: a
# longer gap is an incident for a person (the job fails, naming the first missing date).
NIGHTLY_CATCH_UP_DAYS_MAX = 31


@dataclass(frozen=True)
class JobSchedule:
    """When the jobs run (from the settings; tests pass short periods)."""

    period_s: int = 2  # webhooks and rail callbacks (CREDITPAY_JOBS_PERIOD_S)
    seal_period_s: int = 5  # audit seal (CREDITPAY_AUDIT_SEAL_PERIOD_S)
    nightly_at: dt.time = dt.time(0, 30)  # business time, UTC (CREDITPAY_NIGHTLY_AT)
    stalled_after_s: int = 30  # a worker silent this long is dead (CREDITPAY_JOBS_STALLED_AFTER_S)

    def __post_init__(self) -> None:
        for name, value, low, high in (("period_s", self.period_s, 1, 60),
                                       ("seal_period_s", self.seal_period_s, 1, 60),
                                       ("stalled_after_s", self.stalled_after_s, 2, 3600)):
            if isinstance(value, bool) or not isinstance(value, int) or \
                    not low <= value <= high:
                raise ValidationError(f"must be an integer from {low} to {high}",
                                      field=name)

    @classmethod
    def from_settings(cls, settings: Settings) -> JobSchedule:
        return cls(period_s=settings.jobs_period_s, seal_period_s=settings.audit_seal_period_s,
                   nightly_at=check_time_of_day(settings.nightly_at, env_name("nightly_at")),
                   stalled_after_s=settings.jobs_stalled_after_s)


def prepare(services: Services) -> None:
    """Build, before the first job, what the jobs use (payments and its card rail, the
    webhook dispatcher, the catalogue, the audit checkpointer): a misconfigured worker fails
    at start, and the first job is not the one that pays for loading them."""
    _ = services.payments, services.webhooks, services.catalogue, services.audit_checkpointer


def nightly_date_due(now: dt.datetime, nightly_at: dt.time) -> dt.date | None:
    """The business date whose nightly batch is due at business time ``now``: the day that
    just ended, once ``nightly_at`` has passed today; None before that."""
    if now.timetz().replace(tzinfo=None) < nightly_at:
        return None
    return now.date() - dt.timedelta(days=1)


async def deliver_webhooks(services: Services) -> dict[str, int]:
    """One round of merchant webhooks: relay the outbox, then send every due delivery (at
    most the dispatcher's ``run_once_max``) within the dispatcher's per-request deadline, and
    wait for them. Async: the requests run on the caller's event loop, the database work in
    threads."""
    import asyncio

    dispatcher = services.webhooks
    relayed = await asyncio.to_thread(dispatcher.relay)
    result = await dispatcher.drain()
    return {"relayed": relayed, "delivered": result.delivered,
            "failed_attempts": result.failed_attempts, "given_up": result.given_up}


def apply_rail_callbacks(services: Services) -> dict[str, int]:
    """The card rail's due callbacks (payments' use case)."""
    from creditpay.payments.rail_callbacks import apply_due_rail_callbacks

    return {"applied": apply_due_rail_callbacks(services.uow, services.payments)}


def seal_audit(services: Services) -> dict[str, Any]:
    """Seal the audit chain and write the signed checkpoint. A checkpoint the store refused
    is logged and written by the next seal (the records are sealed already); a broken chain
    is logged as critical and raised: nothing is signed until a person looks."""
    from creditpay.platform.audit import seal
    from creditpay.platform.checkpoints import AuditChainBrokenError, CheckpointStoreError

    try:
        result = seal(services.uow, services.audit_checkpointer)
    except AuditChainBrokenError as exc:
        log.critical("AUDIT CHAIN BROKEN, checkpoint refused: %s", exc)
        raise
    except CheckpointStoreError as exc:
        log.error("audit checkpoint not written (retried next period): %s", exc)
        return {"records_sealed": None, "checkpoint_written": False}
    return {"records_sealed": result.records_sealed, "checkpoint_written": True}


def nightly(services: Services, business_date: dt.date) -> dict[str, Any]:
    """The night's batch for ``business_date`` (which must have ended: before the business
    date of the services' clock). Days a stopped scheduler missed before it are closed
    first, in order (at most :data:`NIGHTLY_CATCH_UP_DAYS_MAX` in one job). A date already
    done changes nothing (each step is idempotent for its date: the close of business
    returns its stored report, partners settled for the date are not settled again, the
    early warning returns its stored report, the limit review is not due twice, a bureau
    month with nothing new submits nothing, the seal seals nothing new), so a run after a
    worker died mid-batch finishes what was left and posts nothing twice; a date before the
    last one closed is not run at all (``already_done``). Returns the report of each date
    run, by date."""
    from creditpay.credit.queries import last_closed_business_date
    from creditpay.nightly import run_nightly

    if not isinstance(business_date, dt.date) or isinstance(business_date, dt.datetime):
        raise ValidationError("must be a date", field="business_date")
    today = services.clock.today()
    if business_date >= today:
        raise ValidationError(f"{business_date} has not ended (business date is {today})",
                              field="business_date")
    with services.uow.connect() as conn:
        last = last_closed_business_date(conn)
    if last is not None and last > business_date:
        # Later dates are closed: this one was done whole before them (a date's remaining
        # steps are finished by its own retried job, which runs before the next night's).
        return {business_date.isoformat(): {"already_done": True}}
    first = business_date if last is None or last == business_date else \
        last + dt.timedelta(days=1)
    if (business_date - first).days >= NIGHTLY_CATCH_UP_DAYS_MAX:
        raise StateError(f"{(business_date - first).days + 1} days are not closed (from "
                         f"{first}): close them with creditpay nightly --date, oldest first",
                         field="business_date")
    reports: dict[str, Any] = {}
    day = first
    while day <= business_date:
        report = run_nightly(services.uow, day, audit_checkpointer=services.audit_checkpointer,
                             catalogue=services.catalogue, bureau=services.bureau,
                             fx_config=services.fx_config,
                             fx_rate_source=services.fx_rate_source)
        reports[day.isoformat()] = report.as_dict()
        day += dt.timedelta(days=1)
    return reports


def nightly_tick(services: Services, schedule: JobSchedule) -> dict[str, Any] | None:
    """The nightly batch for the business date that just ended, when ``nightly_at`` has
    passed and that date is not closed yet; None otherwise (nothing to do)."""
    from creditpay.credit.queries import last_closed_business_date

    due = nightly_date_due(services.clock.now(), schedule.nightly_at)
    if due is None:
        return None
    with services.uow.connect() as conn:
        last = last_closed_business_date(conn)
    if last is not None and last >= due:
        return None
    return nightly(services, due)
