from __future__ import annotations

from sqlalchemy import func, select

from creditpay.credit import tables as T
from creditpay.db.tables import outbox_events
from creditpay.ledger.tables import ledger_accounts, ledger_transfers


def snapshot(uow) -> tuple:
    """Everything a refused call (or a replayed close of business) must leave unchanged."""
    tables = [ledger_accounts, ledger_transfers, T.credit_lines, T.credit_accounts,
              T.credit_installments, T.credit_authorisations, T.credit_purchases,
              T.credit_repayments, T.credit_statements, T.credit_refunds]
    with uow.connect() as conn:
        rows = tuple(tuple(map(tuple, conn.execute(select(t).order_by(*t.primary_key.columns)
                                                   ).all())) for t in tables)
        events = conn.execute(select(func.count()).select_from(outbox_events)).scalar_one()
    return rows, events
