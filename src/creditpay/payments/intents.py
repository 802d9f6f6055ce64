"""Payment intents: create, read (views, the customers of an intent), list, cancel and
expire (releasing the authorisation's holds), and the merchant events of an intent."""

from __future__ import annotations

import datetime as dt
import hmac
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, text, update

from creditpay.db.engine import driver_connection
from creditpay.db.metadata import result_conversion
from creditpay.db.prepared import Prepared
from creditpay.db.uow import Tx
from creditpay.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
    ValidationError,
)
from creditpay.ledger.model import TransferKind, TransferRequest
from creditpay.ledger.service import (
    create_transfer,
    expire_holds,
)
from creditpay.parties.security import new_id
from creditpay.parties.service import (
    Principal,
)
from creditpay.payments.checkout_links import (
    CHECKOUT_PATH,
    check_return_url,
    checkout_token,
    is_payable,
    new_checkout_link,
    token_sha256,
)
from creditpay.payments.common import (
    CREDIT_FUNDING,
    LINE_ITEMS_MAX,
    SCENARIOS,
    PaymentsContext,
    check_amount,
)
from creditpay.payments.tables import (
    INTENT_CAPTURE_DUE_SQL,
    INTENT_CONFIRM_DUE_SQL,
    payment_intents,
)
from creditpay.platform import audit

__all__ = ["Intents"]


# Constant statements run on the driver (creditpay.db.prepared): compiled once, where
# SQLAlchemy's per-execution work cost more than running them (several per checkout).
_INTENT_OF_ORDER = Prepared(select(payment_intents.c.id).where(
    payment_intents.c.merchant_id == bindparam("merchant_id"),
    payment_intents.c.order_id == bindparam("order_id")))
# The columns a new intent's insert writes (the others stay NULL; seq is the store's).
_NEW_INTENT_COLUMNS = (
    "id", "merchant_id", "order_id", "amount_minor", "currency", "scenario", "description",
    "line_items", "status", "captured_minor", "refunded_minor", "expires_at", "created_at",
    "return_url", "checkout_nonce", "checkout_token_sha256", "checkout_expires_at")
_INSERT_INTENT = Prepared(payment_intents.insert().returning(payment_intents.c.seq),
                          columns=_NEW_INTENT_COLUMNS)
# An intent's columns set to NULL (the columns a new intent's insert leaves out stay NULL).
_NO_VALUES = {column.name: None for column in payment_intents.c if column.name != "seq"}
_INTENT_BY_CHECKOUT_TOKEN = select(payment_intents).where(
    payment_intents.c.checkout_token_sha256 == bindparam("sha"))
_TOKEN = re.compile(r"^[0-9a-f]{64}$")


class IntentRow(SimpleNamespace):
    """A ``payment_intents`` row: every column as an attribute, with the values SQLAlchemy's
    column types give (aware UTC datetimes, decoded JSON), and ``_mapping`` (a new dict of
    them) as a SQLAlchemy Row has."""

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(vars(self))


_INTENT_COLUMNS = tuple(column.name for column in payment_intents.c)
# The intent's read by id, driver SQL (qmark / psycopg's format); its PostgreSQL locked form.
_INTENT_SQL = (f"SELECT {', '.join(_INTENT_COLUMNS)} FROM payment_intents"  # nosec B608
               " WHERE id = ?")
_INTENT_SQL_BY_PARAMSTYLE = {
    "qmark": (_INTENT_SQL, _INTENT_SQL + " FOR UPDATE"),
    "format": (_INTENT_SQL.replace("?", "%s"), _INTENT_SQL.replace("?", "%s") + " FOR UPDATE"),
    "pyformat": (_INTENT_SQL.replace("?", "%s"), _INTENT_SQL.replace("?", "%s") + " FOR UPDATE"),
}
# Each column's result conversion by dialect (SQLAlchemy's own, from the column's type):
# pure type information, taken once per dialect object.
_INTENT_PROCESSORS: weakref.WeakKeyDictionary[Any, tuple[tuple[int, str, Any], ...]] = \
    weakref.WeakKeyDictionary()


def _intent_processors(dialect: Any) -> tuple[tuple[int, str, Any], ...]:
    """(position, name, conversion) of each column whose type converts what the driver
    returns on ``dialect`` (the others are taken as they come)."""
    found = _INTENT_PROCESSORS.get(dialect)
    if found is None:
        found = tuple(
            (i, column.name, process) for i, column in enumerate(payment_intents.c)
            if (process := result_conversion(column, dialect)) is not None)
        _INTENT_PROCESSORS[dialect] = found
    return found


def _read_intent(conn: Connection, intent_id: str, *, lock: bool) -> IntentRow | None:
    """The intent ``intent_id`` read straight through the driver, as ``select(payment_intents)``
    returns it: the read runs several times in every checkout, and SQLAlchemy's own work per
    execution (cache key, parameters, execution context, result) cost several times what
    the store needs for it. Each value goes through the column type's result processor, so
    the values are the ones SQLAlchemy gives (tests/payments/test_intent_read.py compares
    them on both stores)."""
    dialect = conn.dialect
    plain, locked = _INTENT_SQL_BY_PARAMSTYLE[dialect.paramstyle]
    cursor = driver_connection(conn).cursor()
    try:
        # Locked on PostgreSQL only (SQLite's write lock already serialises writers).
        cursor.execute(locked if lock and dialect.name == "postgresql" else plain,
                       (intent_id,))
        found = cursor.fetchone()
    finally:
        cursor.close()
    if found is None:
        return None
    values = dict(zip(_INTENT_COLUMNS, found, strict=True))
    for i, name, process in _intent_processors(dialect):
        if found[i] is not None:
            values[name] = process(found[i])
    return IntentRow(**values)


@dataclass
class Intents:
    """Intent use cases (see the module docstring)."""

    ctx: PaymentsContext
    # The ``fx`` object of a foreign-currency intent (conn, row, principal -> dict | None):
    # ``CrossBorder.fx_of``, set by the payments facade (issue #21).
    fx_of: Callable[[Connection, Any, Principal], dict[str, Any] | None] | None = field(
        default=None, repr=False)

    # ================================================================== intents: views
    def intent_view(self, row: Any, *, merchant_name: str | None = None) -> dict[str, Any]:
        return {
            "id": row.id, "merchant_id": row.merchant_id, "merchant_name": merchant_name,
            "order_id": row.order_id, "amount_minor": row.amount_minor,
            "currency": row.currency, "scenario": row.scenario,
            "description": row.description, "line_items": row.line_items,
            "status": row.status, "customer_id": row.customer_id, "funding": row.funding,
            "card_id": row.card_id, "accepted_offer": row.accepted_offer,
            "risk_outcome": row.risk_outcome, "captured_minor": row.captured_minor,
            "refunded_minor": row.refunded_minor,
            "capture_before": row.capture_before.isoformat() if row.capture_before
            else None,
            "expires_at": row.expires_at.isoformat(),
            "created_at": row.created_at.isoformat(),
            "confirmed_at": row.confirmed_at.isoformat() if row.confirmed_at else None,
            "return_url": row.return_url,
            # The link carries a token: only the merchant's create and GET add it
            # (checkout_path), never a stored or listed copy.
            "checkout_url": None,
        }

    def intent_row(self, conn: Connection, intent_id: str, *, lock: bool = False) -> Any:
        """The intent's row (locked on PostgreSQL with ``lock``): an :class:`IntentRow`, read
        through the driver (see :func:`_read_intent`); NotFoundError naming ``intent_id``."""
        row = _read_intent(conn, intent_id, lock=lock)
        if row is None:
            raise NotFoundError(f"no payment intent {intent_id}", field="intent_id")
        return row

    def intent_for(self, conn: Connection, principal: Principal, intent_id: str, *,
                   lock: bool = False) -> Any:
        """The intent if ``principal`` may see it; 404 (not 403) otherwise, so ids of other
        parties' intents cannot be probed."""
        row = self.intent_row(conn, intent_id, lock=lock)
        if principal.kind == "merchant" and row.merchant_id == principal.id:
            return row
        if principal.kind == "customer" and (
                row.customer_id == principal.id or (
                row.customer_id is None and row.status == "requires_confirmation")):
            return row
        if principal.kind == "operator":
            return row
        raise NotFoundError(f"no payment intent {intent_id}", field="intent_id")

    def intent_customers(self, conn: Connection, intent_id: str) -> tuple[str, ...]:
        """The customer who paid (or is paying) intent ``intent_id``, if any."""
        customer = conn.execute(select(payment_intents.c.customer_id).where(
            payment_intents.c.id == intent_id)).scalar_one_or_none()
        return (customer,) if customer else ()

    # ================================================================== checkout link
    def checkout_path(self, conn: Connection, principal: Principal, intent_id: str,
                      now: dt.datetime) -> str | None:
        """The path of the intent's hosted checkout page (``/app/checkout/<token>``) for the
        merchant who created it, while the intent can still be paid through it; None
        otherwise (another party, or paid, cancelled, expired, or the link's 30 minutes
        are over)."""
        row = self.intent_row(conn, intent_id)
        if principal.kind != "merchant" or row.merchant_id != principal.id \
                or not is_payable(row, now):
            return None
        return CHECKOUT_PATH + checkout_token(self.ctx.parties.signer, row.id,
                                              row.checkout_nonce)

    def intent_by_checkout_token(self, conn: Connection, token: str) -> Any | None:
        """The intent whose checkout link carries ``token`` (whatever its state), or None.
        Looked up by the token's SHA-256, then the token is recomputed from the stored nonce
        and compared in constant time."""
        if not isinstance(token, str) or not _TOKEN.match(token):
            return None
        row = conn.execute(_INTENT_BY_CHECKOUT_TOKEN, {"sha": token_sha256(token)}).first()
        if row is None or row.checkout_nonce is None:
            return None
        expected = checkout_token(self.ctx.parties.signer, row.id, row.checkout_nonce)
        return row if hmac.compare_digest(expected, token) else None

    def get_intent_view(self, conn: Connection, principal: Principal, intent_id: str
                        ) -> dict[str, Any]:
        row = self.intent_for(conn, principal, intent_id)
        merchant = self.ctx.parties.get_merchant(conn, row.merchant_id)
        view = self.intent_view(row, merchant_name=merchant.name)
        if self.fx_of is not None and row.currency != self.ctx.policy.home_currency:
            view["fx"] = self.fx_of(conn, row, principal)
        return view

    def list_intents(self, conn: Connection, principal: Principal, *, before_seq: int | None,
                     limit: int) -> tuple[list[dict[str, Any]], int | None]:
        p = payment_intents.c
        column = p.merchant_id if principal.kind == "merchant" else p.customer_id
        query = select(payment_intents).where(column == principal.id)
        if before_seq is not None:
            query = query.where(p.seq < before_seq)
        rows = conn.execute(query.order_by(p.seq.desc()).limit(limit + 1)).all()
        page = rows[:limit]
        views = [self.intent_view(r) for r in page]
        if self.fx_of is not None:
            # Payments abroad: each shows its conversion (one read each, for those only).
            home = self.ctx.policy.home_currency
            for row, view in zip(page, views, strict=True):
                if row.currency != home:
                    view["fx"] = self.fx_of(conn, row, principal)
        return views, (page[-1].seq if len(rows) > limit else None)

    # ================================================================== intents: create
    def create_intent(self, tx: Tx, merchant: Principal, *, amount_minor: int, currency: str,
                      order_id: str, scenario: str = "online", description: str | None = None,
                      line_items: list[dict[str, Any]] | None = None,
                      return_url: str | None = None, allow_loopback_http: bool = False
                      ) -> dict[str, Any]:
        """A new intent awaiting the consumer, with its hosted checkout link (see
        :mod:`creditpay.payments.checkout_links`; ``allow_loopback_http``: development,
        ``return_url`` may be http on a loopback host)."""
        if return_url is not None:
            return_url = check_return_url(return_url, allow_loopback_http=allow_loopback_http)
        amount_minor = check_amount(amount_minor, "amount_minor", self.ctx.policy.amount_minor_max)
        self.ctx.operated_currency(currency)
        merchant_row = self.ctx.parties.get_merchant(tx.conn, merchant.id)
        if merchant_row.status != "active":
            raise PermissionDeniedError("the merchant is suspended")
        if currency != merchant_row.settlement_currency:
            raise ValidationError(f"this merchant settles in {merchant_row.settlement_currency}",
                                  field="currency")
        if scenario not in SCENARIOS:
            raise ValidationError(f"must be one of {list(SCENARIOS)}", field="scenario")
        items = line_items or []
        if len(items) > LINE_ITEMS_MAX:
            raise ValidationError(f"at most {LINE_ITEMS_MAX} items", field="line_items")
        if items:
            total = sum(int(i["quantity"]) * int(i["unit_amount_minor"]) for i in items)
            if total != amount_minor:
                raise ValidationError(f"line items add up to {total}, not {amount_minor}",
                                      field="line_items")
        existing = _INTENT_OF_ORDER.first(tx.conn, {"merchant_id": merchant.id,
                                                    "order_id": order_id})
        if existing is not None:
            raise ConflictError(f"order {order_id} already has intent {existing.id}",
                                field="order_id", intent_id=existing.id)
        intent_id = new_id("pi")
        expires_at = tx.now + dt.timedelta(seconds=self.ctx.policy.intent_ttl_s)
        values = dict(
            id=intent_id, merchant_id=merchant.id, order_id=order_id,
            amount_minor=amount_minor, currency=currency, scenario=scenario,
            description=description, line_items=items, status="requires_confirmation",
            captured_minor=0, refunded_minor=0, expires_at=expires_at, created_at=tx.now,
            return_url=return_url,
            **new_checkout_link(self.ctx.parties.signer, intent_id, tx.now, expires_at))
        assert tuple(values) == _NEW_INTENT_COLUMNS, "a new intent's columns changed"
        seq = int(_INSERT_INTENT.scalar(tx.conn, values))
        audit.append(tx, "merchant", merchant.id, "payment_intent.created", "payment_intent",
                     intent_id, {"amount_minor": amount_minor, "currency": currency,
                                 "scenario": scenario})
        # The intent as written (no re-read): every column the insert left out is NULL.
        row = SimpleNamespace(**{**_NO_VALUES, **values, "seq": seq})
        self.emit(tx, "payment_intent.created", intent_id, merchant.id, row=row)
        view = self.intent_view(row, merchant_name=merchant_row.name)
        if scenario == "offline_qr":
            view["qr_payload"] = self.ctx.parties.signer.sign(
                "qr", {"pi": intent_id},
                tx.now + dt.timedelta(seconds=self.ctx.policy.qr_ttl_s))
        return view

    def emit(self, tx: Tx, event_type: str, intent_id: str, merchant_id: str,
             extra: dict[str, Any] | None = None, *, row: Any = None) -> None:
        """Queue the merchant event; ``row`` is the intent as it is now (read if absent)."""
        if row is None:
            row = self.intent_row(tx.conn, intent_id)
        tx.emit(f"payments.{event_type}", "payment_intent", intent_id, {
            "merchant_id": merchant_id, "type": event_type,
            "object": {"id": row.id, "order_id": row.order_id, "status": row.status,
                       "amount_minor": row.amount_minor, "currency": row.currency,
                       "captured_minor": row.captured_minor,
                       "refunded_minor": row.refunded_minor, "funding": row.funding,
                       **(extra or {})}})

    def void_hold(self, tx: Tx, row: Any, hold_id: str) -> None:
        """Void a pending ledger hold still live (one past its timeout is already
        released)."""
        from creditpay.ledger.service import get_transfer

        hold = get_transfer(tx.conn, hold_id)
        if str(hold.hold_status) == "pending" and (
                hold.expires_at is None or hold.expires_at > tx.now):
            create_transfer(tx, TransferRequest(f"{hold_id}.void", "payment.void",
                                                TransferKind.VOID, pending_id=hold.id,
                                                reference=row.id))

    def cancel(self, tx: Tx, merchant: Principal, intent_id: str) -> dict[str, Any]:
        row = self.intent_for(tx.conn, merchant, intent_id, lock=True)
        if row.status in ("requires_confirmation", "in_review"):
            pass
        elif row.status == "requires_capture":
            self._release(tx, row)
        else:
            raise StateError(f"intent is {row.status}", field="intent_id")
        tx.conn.execute(update(payment_intents).where(payment_intents.c.id == row.id)
                        .values(status="canceled"))
        audit.append(tx, "merchant", merchant.id, "payment.canceled", "payment_intent", row.id,
                     {})
        self.emit(tx, "payment_intent.canceled", row.id, row.merchant_id)
        return self.intent_view(self.intent_row(tx.conn, row.id))

    def _release(self, tx: Tx, row: Any) -> None:
        if row.funding in CREDIT_FUNDING:
            self.ctx.credit.void_authorisation(tx, authorisation_id=row.credit_authorisation_id)
            if (row.accepted_offer or {}).get("down_payment_minor"):
                self.void_hold(tx, row, f"{row.id}.down")
            return
        from creditpay.ledger.service import get_transfer

        hold = get_transfer(tx.conn, f"{row.id}.auth")
        if str(hold.hold_status) == "pending" and (
                hold.expires_at is None or hold.expires_at > tx.now):
            create_transfer(tx, TransferRequest(f"{row.id}.void", "payment.void",
                                                TransferKind.VOID, pending_id=hold.id,
                                                reference=row.id))

    def expire_one(self, tx: Tx, row: Any) -> None:
        if row.status == "requires_capture":
            self._release(tx, row)
        tx.conn.execute(update(payment_intents).where(payment_intents.c.id == row.id)
                        .values(status="expired"))
        audit.append(tx, "system", "expiry", "payment.expired", "payment_intent", row.id, {})
        self.emit(tx, "payment_intent.expired", row.id, row.merchant_id)

    def expire_due(self, tx: Tx, *, limit: int = 1000) -> dict[str, int]:
        """Close-of-business sweep: ledger holds past their timeout, then the intents."""
        holds = expire_holds(tx)
        p = payment_intents.c
        rows = tx.conn.execute(select(payment_intents).where(or_(
            and_(text(INTENT_CAPTURE_DUE_SQL), p.capture_before <= tx.now),
            and_(text(INTENT_CONFIRM_DUE_SQL), p.expires_at <= tx.now)))
            .order_by(p.seq).limit(limit)).all()
        for row in rows:
            self.expire_one(tx, row)
        return {"holds_expired": holds, "intents_expired": len(rows)}

