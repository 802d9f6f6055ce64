"""Erasure of a customer's raw credit inputs, once no retention duty keeps them.

The compliance domain's erasure (:func:`creditpay.reporting.subject_rights.erase_subject`)
decides *whether* a person may be erased; this module is how the risk domain, which owns the
tables, does its part:

* each of the customer's ``credit_decisions`` keeps what was decided and why (outcome, grade,
  score, PD, limit, price, reasons, model and policy versions, the derived feature values
  that portfolio statistics and model monitoring read) but its ``inputs`` lose the raw data:
  the application as typed (date of birth, income, employment...), the bureau report, the
  consent references and the digests of the platform history;
* the customer's platform histories (``credit_decision_histories``: every payment, top-up
  and device sighting a decision read) are deleted;
* the customer's ``bureau_pulls`` keep the inquiry (who asked, when, why, and the report's
  SHA-256) and lose the report.

An erased decision can no longer be replayed: :func:`creditpay.risk.decisions.service.
replay_decision` refuses it, naming the erasure. Idempotent: a second call finds nothing
left to erase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update

from creditpay.db.uow import Tx
from creditpay.risk.decisions.tables import (
    bureau_pulls,
    credit_decision_histories,
    credit_decisions,
)

__all__ = ["ERASED_KEY", "RiskErasure", "erase_customer_inputs", "is_erased"]

ERASED_KEY = "erased_at"
# What an erased decision's inputs keep: when and for what it was decided, and whether the
# platform's data was used; none of it says anything about the person.
_KEPT_INPUTS = ("as_of", "product_code", "platform_consented")
_ERASED_REPORT = {"erased": True}


@dataclass(frozen=True)
class RiskErasure:
    """What :func:`erase_customer_inputs` changed (counts of rows)."""

    decisions_anonymised: int
    platform_histories_deleted: int
    bureau_reports_erased: int


def is_erased(inputs: dict[str, Any]) -> bool:
    """Whether a decision's stored inputs were erased."""
    return ERASED_KEY in inputs


def erase_customer_inputs(tx: Tx, customer_id: str) -> RiskErasure:
    """Erase the raw credit inputs of ``customer_id`` in ``tx`` (see the module docstring).

    The caller has checked that no retention duty remains; this function does not judge.
    """
    d = credit_decisions.c
    rows = tx.conn.execute(select(d.id, d.inputs).where(d.customer_id == customer_id)
                           .order_by(d.decided_at, d.id)).all()
    changed = [{"decision_id": row.id,
                "new_inputs": {**{k: row.inputs.get(k) for k in _KEPT_INPUTS},
                               ERASED_KEY: tx.now.isoformat()}}
               for row in rows if not is_erased(row.inputs)]
    if changed:
        tx.conn.execute(update(credit_decisions)
                        .where(d.id == bindparam("decision_id"))
                        .values(inputs=bindparam("new_inputs")), changed)
    histories = tx.conn.execute(credit_decision_histories.delete().where(
        credit_decision_histories.c.customer_id == customer_id)).rowcount
    p = bureau_pulls.c
    pulls = [row.id for row in tx.conn.execute(select(p.id, p.report).where(
        p.customer_id == customer_id)) if row.report != _ERASED_REPORT]
    if pulls:
        tx.conn.execute(update(bureau_pulls).where(p.id.in_(pulls))
                        .values(report=_ERASED_REPORT))
    return RiskErasure(len(changed), int(histories or 0), len(pulls))
