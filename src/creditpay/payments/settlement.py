"""Merchant settlement (T+1: fee, payout, the settled rows) and its views and reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from creditpay.db.uow import Tx
from creditpay.errors import (
    NotFoundError,
    ValidationError,
)
from creditpay.ledger.chart import platform_key
from creditpay.ledger.model import TransferRequest
from creditpay.ledger.service import (
    create_transfers,
)
from creditpay.parties.security import new_id
from creditpay.parties.service import (
    Principal,
)
from creditpay.payments.common import (
    PaymentsContext,
)
from creditpay.payments.tables import (
    merchant_settlements,
    payment_captures,
    payment_intents,
    payment_refunds,
)
from creditpay.platform import audit

__all__ = ["Settlement"]


# Constant statements with bound parameters (per merchant and business day): compiled once,
# their cache keys remembered, instead of statements built per call.
_UNSETTLED_TOTALS = {
    t.name: select(t.c.merchant_id, t.c.currency, func.sum(t.c.amount_minor), func.count())
    .where(t.c.business_date == bindparam("business_date"), t.c.settlement_id.is_(None))
    .group_by(t.c.merchant_id, t.c.currency)
    for t in (payment_captures, payment_refunds)}
_MARK_SETTLED = {
    t.name: update(t).where(
        # (parameters named unlike the columns: an UPDATE reserves the column names)
        t.c.merchant_id == bindparam("of_merchant"), t.c.currency == bindparam("of_currency"),
        t.c.business_date == bindparam("of_date"), t.c.settlement_id.is_(None))
    .values(settlement_id=bindparam("new_settlement_id"))
    for t in (payment_captures, payment_refunds)}
_INSERT_SETTLEMENT = merchant_settlements.insert()
_SETTLEMENT_BY_ID = select(merchant_settlements).where(
    merchant_settlements.c.id == bindparam("id"))


@dataclass
class Settlement:
    """Settlement use cases (see the module docstring)."""

    ctx: PaymentsContext

    # ================================================================== settlement
    def settle(self, tx: Tx, business_date: dt.date, *, actor: tuple[str, str] = (
            "system", "settlement")) -> list[dict[str, Any]]:
        """Settle every merchant's captures and refunds of ``business_date`` (T+1: only once
        that day is over). Fee = discount rate x (captures - refunds), half-up to the minor
        unit, never negative; net = captures - refunds - fee, paid out when positive (a
        negative net stays on the payable and is netted next time)."""
        if business_date >= tx.today:
            raise ValidationError("a business day is settled from the next day on (T+1)",
                                  field="business_date")
        totals: dict[tuple[str, str], dict[str, int]] = {}
        day = {"business_date": business_date}
        for row in tx.conn.execute(_UNSETTLED_TOTALS[payment_captures.name], day):
            totals.setdefault((row[0], row[1]), {"g": 0, "gc": 0, "r": 0, "rc": 0}).update(
                g=int(row[2]), gc=int(row[3]))
        for row in tx.conn.execute(_UNSETTLED_TOTALS[payment_refunds.name], day):
            totals.setdefault((row[0], row[1]), {"g": 0, "gc": 0, "r": 0, "rc": 0}).update(
                r=int(row[2]), rc=int(row[3]))
        results = []
        for (merchant_id, currency), t in sorted(totals.items()):
            merchant = self.ctx.parties.get_merchant(tx.conn, merchant_id)
            rate = Decimal(merchant.discount_rate)
            base = t["g"] - t["r"]
            fee = int((Decimal(base) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP)) \
                if base > 0 else 0
            net = base - fee
            settlement_id = new_id("set")
            payable = self.ctx.payable_id(tx, merchant_id, currency)
            requests = []
            if fee > 0:
                requests.append(TransferRequest(
                    f"{settlement_id}.fee", "settlement.fee", debit_account_id=payable,
                    credit_account_id=self.ctx.account_id(
                        tx.conn, platform_key("merchant_fee_income", currency)),
                    amount_minor=fee, reference=settlement_id))
            if net > 0:
                requests.append(TransferRequest(
                    f"{settlement_id}.payout", "settlement.payout", debit_account_id=payable,
                    credit_account_id=self.ctx.account_id(
                        tx.conn, platform_key("bank_settlement", currency)),
                    amount_minor=net, reference=settlement_id))
            if requests:
                create_transfers(tx, requests)
            tx.conn.execute(_INSERT_SETTLEMENT, dict(
                id=settlement_id, merchant_id=merchant_id, currency=currency,
                business_date=business_date, settled_on=tx.today, gross_minor=t["g"],
                refunds_minor=t["r"], fee_minor=fee, net_minor=net, discount_rate=str(rate),
                capture_count=t["gc"], refund_count=t["rc"], created_at=tx.now))
            for table in (payment_captures, payment_refunds):
                tx.conn.execute(_MARK_SETTLED[table.name], {
                    "of_merchant": merchant_id, "of_currency": currency,
                    "of_date": business_date, "new_settlement_id": settlement_id})
            audit.append(tx, actor[0], actor[1], "settlement.paid", "merchant", merchant_id,
                         {"settlement_id": settlement_id, "net_minor": net, "fee_minor": fee})
            view = self.settlement_view(self._settlement(tx.conn, settlement_id))
            tx.emit("payments.settlement.paid", "settlement", settlement_id,
                    {"merchant_id": merchant_id, "type": "settlement.paid", "object": view})
            results.append(view)
        return results

    def _settlement(self, conn: Connection, settlement_id: str) -> Any:
        row = conn.execute(_SETTLEMENT_BY_ID, {"id": settlement_id}).first()
        if row is None:
            raise NotFoundError(f"no settlement {settlement_id}", field="settlement_id")
        return row

    def settlement_view(self, row: Any) -> dict[str, Any]:
        return {"id": row.id, "merchant_id": row.merchant_id, "currency": row.currency,
                "business_date": _date_text(row.business_date),
                "settled_on": _date_text(row.settled_on), "gross_minor": row.gross_minor,
                "refunds_minor": row.refunds_minor, "fee_minor": row.fee_minor,
                "net_minor": row.net_minor, "discount_rate": row.discount_rate,
                "capture_count": row.capture_count, "refund_count": row.refund_count}

    def settlement_report(self, conn: Connection, principal: Principal, settlement_id: str
                          ) -> dict[str, Any]:
        row = self._settlement(conn, settlement_id)
        if principal.kind == "merchant" and row.merchant_id != principal.id:
            raise NotFoundError(f"no settlement {settlement_id}", field="settlement_id")
        lines = []
        for kind, table in (("capture", payment_captures), ("refund", payment_refunds)):
            for line in conn.execute(select(table, payment_intents.c.order_id).join(
                    payment_intents, payment_intents.c.id == table.c.intent_id).where(
                    table.c.settlement_id == settlement_id).order_by(table.c.created_at,
                                                                     table.c.id)):
                lines.append({"kind": kind, "id": line.id, "intent_id": line.intent_id,
                              "order_id": line.order_id,
                              "amount_minor": line.amount_minor if kind == "capture"
                              else -line.amount_minor,
                              "created_at": line.created_at.isoformat()})
        return {**self.settlement_view(row), "lines": lines}

    def list_settlements(self, conn: Connection, merchant_id: str, *,
                         before_seq: int | None, limit: int
                         ) -> tuple[list[dict[str, Any]], int | None]:
        s = merchant_settlements.c
        query = select(merchant_settlements).where(s.merchant_id == merchant_id)
        if before_seq is not None:
            query = query.where(s.seq < before_seq)
        rows = conn.execute(query.order_by(s.seq.desc()).limit(limit + 1)).all()
        page = rows[:limit]
        return [self.settlement_view(r) for r in page], (page[-1].seq if len(rows) > limit
                                                         else None)



def _date_text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
