"""Background jobs: what runs outside a request (issue #19, part 3).

* :mod:`creditpay.jobs.functions`: the job functions (merchant webhook delivery, the card
  rail's due callbacks, the audit seal, the nightly batch) and their schedule. Each calls
  services and holds no business rule; each is idempotent (one transaction, or a sequence
  of idempotent ones), so a run killed half way is simply run again.
* :mod:`creditpay.jobs.queue`: the PostgreSQL runner, a procrastinate queue (``creditpay
  worker``, ``creditpay scheduler``, ``creditpay jobs status``), with stalled-job retry.
* :mod:`creditpay.jobs.inprocess`: the embedded runner (SQLite, and the development server):
  an asyncio loop calling the same functions on the same schedule.

See docs/operations.md, "Jobs".
"""

from __future__ import annotations

__all__: list[str] = []
