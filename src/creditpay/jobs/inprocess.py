"""The embedded runner: the job functions of :mod:`creditpay.jobs.functions` on their
schedule, in asyncio tasks of the running process. ``creditpay worker`` uses it on SQLite
(the embedded default has no queue server), and ``creditpay serve`` in development mode.

Three tasks, so nothing one waits on holds up another: merchant webhooks (the dispatcher's
continuous pump, ``WebhookDispatcher.run_forever``: a slow merchant holds only its own
slots, each for at most the per-request deadline), the frequent
jobs (card-rail callbacks every ``period_s``, the audit seal every ``seal_period_s``), and
the nightly batch (checked every minute; runs once ``nightly_at`` has passed for the date
that just ended, when that date is not closed yet). A failing job is logged and the loop
goes on: the next period runs it again (every job is idempotent)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import TYPE_CHECKING

from creditpay.jobs import functions as F

if TYPE_CHECKING:
    from creditpay.bootstrap import Services

__all__ = ["InProcessRunner", "NIGHTLY_CHECK_S"]

log = logging.getLogger("creditpay.jobs")

NIGHTLY_CHECK_S = 60.0


class InProcessRunner:
    """Runs the jobs on ``services`` until the task running :meth:`run` is cancelled.
    ``nightly``: also run the nightly batch (``creditpay worker`` on SQLite; the development
    API server leaves it to the worker or to ``creditpay nightly``, as before)."""

    def __init__(self, services: Services, schedule: F.JobSchedule, *,
                 nightly: bool = True) -> None:
        self.services = services
        self.schedule = schedule
        self.nightly = nightly

    async def run(self) -> None:
        loops = [self._webhooks(), self._frequent()]
        if self.nightly:
            loops.append(self._nightly())
        tasks = [asyncio.create_task(loop) for loop in loops]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _webhooks(self) -> None:
        # The continuous form of deliver_webhooks: the dispatcher's own pump claims new
        # deliveries while earlier ones are in flight, so one slow merchant holds only its
        # own slots, never a round (it restarts after an unexpected error).
        while True:
            try:
                await self.services.webhooks.run_forever()
            except Exception:  # noqa: BLE001 - a failing job must not stop the loop
                log.exception("job deliver_webhooks failed")
                await asyncio.sleep(self.schedule.period_s)

    async def _frequent(self) -> None:
        last_seal = -math.inf
        while True:
            try:
                await asyncio.to_thread(F.apply_rail_callbacks, self.services)
            except Exception:  # noqa: BLE001 - a failing job must not stop the loop
                log.exception("job apply_rail_callbacks failed")
            if time.monotonic() - last_seal >= self.schedule.seal_period_s:
                last_seal = time.monotonic()
                try:
                    await asyncio.to_thread(F.seal_audit, self.services)
                except Exception:  # noqa: BLE001 - logged (critical when the chain broke)
                    log.exception("job seal_audit failed")
            await asyncio.sleep(min(self.schedule.period_s, self.schedule.seal_period_s))

    async def _nightly(self) -> None:
        while True:
            try:
                await asyncio.to_thread(F.nightly_tick, self.services, self.schedule)
            except Exception:  # noqa: BLE001 - logged; checked again next minute
                log.exception("job nightly failed")
            await asyncio.sleep(NIGHTLY_CHECK_S)
