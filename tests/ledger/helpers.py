from __future__ import annotations

from sqlalchemy import func, select

from creditpay import ledger as L
from creditpay.db.tables import outbox_events
from creditpay.db.uow import UnitOfWork
from creditpay.ledger.tables import ledger_accounts, ledger_transfers


def open_basic(uow: UnitOfWork, currency: str = "CNY", suffix: str = "") -> dict[str, L.Account]:
    """Platform cash (asset), a wallet that must not go negative, a credit line limited by a
    flag, and a merchant payable."""
    with uow.begin() as tx:
        accounts = L.open_accounts(tx, [
            L.AccountSpec(f"cash{suffix}:{currency}", currency, "cash", "platform", "platform",
                          L.NormalSide.DEBIT),
            L.AccountSpec(f"wallet{suffix}:c1:{currency}", currency, "wallet", "customer", "c1",
                          L.NormalSide.CREDIT, debits_must_not_exceed_credits=True),
            L.AccountSpec(f"merchant{suffix}:m1:{currency}", currency, "merchant_payable",
                          "merchant", "m1", L.NormalSide.CREDIT),
            L.AccountSpec(f"line{suffix}:c1:{currency}", currency, "credit_line_available",
                          "customer", "c1", L.NormalSide.CREDIT,
                          debits_must_not_exceed_credits=True),
            L.AccountSpec(f"limit{suffix}:c1:{currency}", currency, "credit_limit_control",
                          "platform", "platform", L.NormalSide.DEBIT),
        ])
    return dict(zip(["cash", "wallet", "merchant", "line", "limit"], accounts, strict=True))


def snapshot(uow: UnitOfWork) -> tuple:
    """Everything a failed call must leave unchanged."""
    with uow.connect() as conn:
        accounts = conn.execute(select(ledger_accounts).order_by(ledger_accounts.c.id)).all()
        transfers = conn.execute(
            select(ledger_transfers).order_by(ledger_transfers.c.seq)).all()
        events = conn.execute(select(func.count()).select_from(outbox_events)).scalar_one()
    return tuple(map(tuple, accounts)), tuple(map(tuple, transfers)), events
