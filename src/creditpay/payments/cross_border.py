"""Paying abroad (issue #21): a payment intent in a foreign merchant's currency, paid in the
consumer's home currency (CNY) at a locked FX quote.

The consumer always sees the CNY cost first: :meth:`CrossBorder.current_quote` gives the
quote locked for this intent and customer (a new one once the last has expired or been
used), and the confirm must name the ``quote_id`` it accepted (no dynamic currency
conversion without a choice). The quote's rates, lock and single use are ``creditpay.fx``'s;
this module keeps, per intent, the quotes shown and the converted amounts of the accepted
one (``payment_fx``), and the FX position accounts the checkout's legs go through:

* the consumer's side, in CNY: wallet, card clearing or credit → ``platform:fx_position:CNY``
  (exactly as a CNY purchase is funded, with the FX position in the merchant's place);
* the merchant's side, in its currency: ``platform:fx_position:<CCY>`` → the merchant's
  payable in that currency (settled T+1 like any payable).

A capture of part of the foreign amount moves its share of the CNY amount, and a refund
returns its share at the original rate, both allocated cumulatively
(:func:`creditpay.fx.core.refund_sell_minor`): the parts always add up to exactly the CNY
the consumer paid, and the platform's position absorbs any later rate movement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from creditpay.db.uow import Tx
from creditpay.errors import StateError, ValidationError
from creditpay.fx import core as fx_core
from creditpay.fx import quotes as fx_quotes
from creditpay.ledger.chart import ensure_platform_accounts, platform_key
from creditpay.parties.service import Principal
from creditpay.payments.common import PaymentsContext
from creditpay.payments.cross_border_tables import payment_fx
from creditpay.payments.intents import Intents
from creditpay.protection.disclosure import CurrencyConversion

__all__ = ["CrossBorder", "FxLeg", "FX_POSITION"]

FX_POSITION = "fx_position"

_F = payment_fx.c
_SHOWN_FOR = select(payment_fx).where(
    _F.intent_id == bindparam("intent_id"), _F.customer_id == bindparam("customer_id"),
    _F.status == "shown").order_by(_F.created_at.desc(), _F.quote_id.desc())
_ALL_SHOWN_FOR = select(payment_fx).where(
    _F.intent_id == bindparam("intent_id"), _F.customer_id == bindparam("customer_id")
    ).order_by(_F.created_at.desc(), _F.quote_id.desc())
_ACCEPTED_OF = select(payment_fx).where(_F.intent_id == bindparam("intent_id"),
                                        _F.status == "accepted").order_by(
    _F.accepted_at.desc())
_BY_QUOTE = select(payment_fx).where(_F.quote_id == bindparam("quote_id"))


@dataclass(frozen=True)
class FxLeg:
    """The consumer's side of a foreign payment: the accepted quote's converted amounts."""

    quote_id: str
    sell_currency: str
    sell_amount_minor: int
    buy_currency: str
    buy_amount_minor: int
    sell_captured_minor: int
    sell_refunded_minor: int

    @classmethod
    def of(cls, row: Any) -> FxLeg:
        return cls(quote_id=row.quote_id, sell_currency=row.sell_currency,
                   sell_amount_minor=int(row.sell_amount_minor),
                   buy_currency=row.buy_currency, buy_amount_minor=int(row.buy_amount_minor),
                   sell_captured_minor=int(row.sell_captured_minor),
                   sell_refunded_minor=int(row.sell_refunded_minor))

    def capture_sell_minor(self, captured_buy_minor: int) -> int:
        """The CNY moved by capturing ``captured_buy_minor`` of the foreign amount (all of
        it: exactly the quote's CNY amount)."""
        return fx_core.refund_sell_minor(
            sell_amount_minor=self.sell_amount_minor, buy_amount_minor=self.buy_amount_minor,
            refunded_buy_before_minor=0, refund_buy_minor=captured_buy_minor)

    def refund_sell_minor(self, *, captured_buy_minor: int, refunded_buy_before_minor: int,
                          refund_buy_minor: int) -> int:
        """The CNY returned for refunding ``refund_buy_minor`` of the captured foreign amount,
        at the original rate, cumulatively over the captured part (so a whole refund in any
        parts returns exactly the CNY captured)."""
        return fx_core.refund_sell_minor(
            sell_amount_minor=self.sell_captured_minor, buy_amount_minor=captured_buy_minor,
            refunded_buy_before_minor=refunded_buy_before_minor,
            refund_buy_minor=refund_buy_minor)


@dataclass
class CrossBorder:
    """Cross-border use cases (see the module docstring)."""

    ctx: PaymentsContext
    intents: Intents

    @property
    def home_currency(self) -> str:
        return self.ctx.policy.home_currency

    def is_foreign(self, row: Any) -> bool:
        """Whether intent ``row`` is in a currency other than the consumer's home one."""
        return str(row.currency) != self.home_currency

    def position_id(self, tx: Tx, currency: str) -> int:
        """The id of ``platform:fx_position:<currency>`` (opened with the currency's platform
        accounts when missing)."""
        key = platform_key(FX_POSITION, currency)
        accounts = ensure_platform_accounts(tx, currency)
        if FX_POSITION not in accounts:  # pragma: no cover - the chart names it
            raise StateError(f"the ledger chart has no {key}", field="currency")
        return accounts[FX_POSITION].id

    # ------------------------------------------------------------------ quotes shown
    def fx_quote(self, tx: Tx, principal: Principal, intent_id: str) -> dict[str, Any]:
        """The locked FX quote ``principal`` (a customer) sees for intent ``intent_id``."""
        row = self.intents.intent_for(tx.conn, principal, intent_id)
        return self.current_quote(tx, principal, row)

    def current_quote(self, tx: Tx, principal: Principal, row: Any) -> dict[str, Any]:
        """The FX quote the customer sees for intent ``row``: the last one shown to them
        while it is locked and unused, else a new one (the refresh). Written in ``tx``."""
        if not self.is_foreign(row):
            raise ValidationError(f"the payment is in {self.home_currency}: no conversion",
                                  field="intent_id")
        if row.status != "requires_confirmation":
            raise StateError(f"intent is {row.status}", field="intent_id")
        for shown in tx.conn.execute(_SHOWN_FOR, {"intent_id": row.id,
                                                  "customer_id": principal.id}):
            if shown.expires_at > tx.now:
                quote = fx_quotes.get_quote(tx.conn, shown.quote_id)
                if quote is not None and quote.used_at is None:
                    return self.quote_view(quote, shown)
            break  # only the latest counts: an older one is stale
        source = self.ctx.fx_rate_source() if self.ctx.fx_rate_source is not None else None
        quote = fx_quotes.create_quote(
            tx, sell_currency=self.home_currency, buy_currency=row.currency,
            buy_amount_minor=int(row.amount_minor), customer_id=principal.id,
            config=self.ctx.fx_config, source=source)
        merchant = self.ctx.parties.get_merchant(tx.conn, row.merchant_id)
        tx.conn.execute(payment_fx.insert().values(
            quote_id=quote.quote_id, intent_id=row.id, customer_id=principal.id,
            merchant_id=row.merchant_id, merchant_country=merchant.country,
            sell_currency=quote.sell_currency, sell_amount_minor=quote.sell_amount_minor,
            buy_currency=quote.buy_currency, buy_amount_minor=quote.buy_amount_minor,
            mid_rate=str(quote.mid_rate), client_rate=str(quote.client_rate),
            markup_bps=quote.markup_bps, markup_minor=quote.markup_minor,
            expires_at=quote.expires_at, status="shown", accepted_at=None,
            sell_captured_minor=0, sell_refunded_minor=0, created_at=tx.now))
        return self.quote_view(quote, None)

    @staticmethod
    def quote_view(quote: Any, _row: Any) -> dict[str, Any]:
        view: dict[str, Any] = quote.as_dict()
        view["used"] = quote.used_at is not None
        return view

    def checked_quote(self, conn: Connection, principal: Principal, row: Any,
                      quote_id: object, now: Any) -> Any:
        """The ``payment_fx`` row of the quote the consumer names at confirm, checked before
        anything is written: shown to them for this intent, the latest shown, unused and
        still locked. Errors name ``quote_id``."""
        if not isinstance(quote_id, str) or not quote_id:
            raise ValidationError(
                f"a payment in {row.currency} needs the quote_id of the {self.home_currency} "
                f"amount you accepted; ask for the quote first", field="quote_id")
        shown = conn.execute(_BY_QUOTE, {"quote_id": quote_id}).first()
        if shown is None or shown.intent_id != row.id or shown.customer_id != principal.id:
            raise ValidationError("not a quote shown to you for this payment",
                                  field="quote_id")
        latest = conn.execute(_SHOWN_FOR, {"intent_id": row.id,
                                           "customer_id": principal.id}).first()
        if shown.status != "shown" or latest is None or latest.quote_id != quote_id:
            raise StateError(f"quote {quote_id} is no longer the current quote for this "
                             "payment; look at the new amount and confirm again",
                             field="quote_id")
        if shown.expires_at <= now:
            raise StateError(f"quote {quote_id} has expired; look at the new amount and "
                             "confirm again", field="quote_id")
        if int(shown.buy_amount_minor) != int(row.amount_minor) \
                or shown.buy_currency != row.currency:  # pragma: no cover - intents are fixed
            raise StateError(f"quote {quote_id} is for another amount", field="quote_id")
        return shown

    def accept(self, tx: Tx, principal: Principal, row: Any, shown: Any) -> FxLeg:
        """Use the quote (once: ``creditpay.fx.quotes.use_quote`` refuses a used or expired
        one naming ``quote_id``) and mark it the intent's accepted quote."""
        fx_quotes.use_quote(tx, shown.quote_id, reference=row.id, customer_id=principal.id)
        tx.conn.execute(update(payment_fx).where(_F.quote_id == shown.quote_id)
                        .values(status="accepted", accepted_at=tx.now))
        return FxLeg.of(shown)

    def check_limits(self, tx: Tx, principal: Principal, shown: Any) -> None:
        """The CNY per-transaction and daily limits (data owned by ``creditpay.fx``)."""
        fx_quotes.check_limits(tx.conn, customer_id=principal.id,
                               sell_amount_minor=int(shown.sell_amount_minor),
                               sell_currency=shown.sell_currency, today=tx.today,
                               config=self.ctx.fx_config)

    # ------------------------------------------------------------------ the accepted leg
    def accepted(self, conn: Connection, intent_id: str) -> FxLeg | None:
        found = conn.execute(_ACCEPTED_OF, {"intent_id": intent_id}).first()
        return FxLeg.of(found) if found is not None else None

    def record_capture(self, tx: Tx, leg: FxLeg, sell_minor: int) -> None:
        tx.conn.execute(update(payment_fx).where(_F.quote_id == leg.quote_id).values(
            sell_captured_minor=leg.sell_captured_minor + sell_minor))

    def record_refund(self, tx: Tx, leg: FxLeg, sell_minor: int) -> None:
        tx.conn.execute(update(payment_fx).where(_F.quote_id == leg.quote_id).values(
            sell_refunded_minor=leg.sell_refunded_minor + sell_minor))

    # ------------------------------------------------------------------ key facts
    @staticmethod
    def conversion(fx_row: Any) -> CurrencyConversion:
        """The key-facts conversion of a ``payment_fx`` row: the figures only (no quote id,
        no lock time), so a document of the same amount at the same rates has the same
        bytes whichever of the day's quotes it came from."""
        return CurrencyConversion(
            buy_amount_minor=int(fx_row.buy_amount_minor), buy_currency=fx_row.buy_currency,
            mid_rate=fx_row.mid_rate, client_rate=fx_row.client_rate,
            markup_bps=int(fx_row.markup_bps), markup_minor=int(fx_row.markup_minor))

    def conversion_for(self, conn: Connection, row: Any, customer_id: str,
                       amount_minor: int, quote_id: str | None = None
                       ) -> CurrencyConversion | None:
        """The conversion behind a credit offer of ``amount_minor`` (home currency) for a
        foreign intent: quote ``quote_id`` when given, else the latest quote shown to the
        customer for that amount; None for a home-currency intent."""
        if not self.is_foreign(row):
            return None
        if quote_id is not None:
            found = conn.execute(_BY_QUOTE, {"quote_id": quote_id}).first()
        else:
            found = next((r for r in conn.execute(_ALL_SHOWN_FOR, {
                "intent_id": row.id, "customer_id": customer_id})
                if int(r.sell_amount_minor) == amount_minor), None)
        return self.conversion(found) if found is not None else None

    def fx_of(self, conn: Connection, row: Any, principal: Principal | None = None
              ) -> dict[str, Any] | None:
        """The ``fx`` object of intent ``row``: the accepted quote's keys (with the CNY
        captured and refunded), else, for the customer looking at it, the latest quote shown
        to them; None for a home-currency intent."""
        if not self.is_foreign(row):
            return None
        found = conn.execute(_ACCEPTED_OF, {"intent_id": row.id}).first()
        if found is None and principal is not None and principal.kind == "customer":
            found = conn.execute(_SHOWN_FOR, {"intent_id": row.id,
                                              "customer_id": principal.id}).first()
        if found is None:
            return None
        return fx_row_view(found)


def latest_payment_abroad(conn: Connection, customer_id: str) -> dict[str, Any] | None:
    """The customer's latest accepted conversion (a payment abroad they confirmed), as
    :func:`fx_row_view` shows it, or None: what the assistant's FX answer quotes back."""
    c = payment_fx.c
    found = conn.execute(select(payment_fx).where(
        c.customer_id == customer_id, c.status == "accepted")
        .order_by(c.accepted_at.desc(), c.quote_id.desc()).limit(1)).first()
    return fx_row_view(found) if found is not None else None


def fx_row_view(row: Any) -> dict[str, Any]:
    """A ``payment_fx`` row as the API shows it (the quote's keys)."""
    return {"quote_id": row.quote_id, "sell_currency": row.sell_currency,
            "buy_currency": row.buy_currency, "mid_rate": row.mid_rate,
            "markup_bps": int(row.markup_bps), "client_rate": row.client_rate,
            "sell_amount_minor": int(row.sell_amount_minor),
            "buy_amount_minor": int(row.buy_amount_minor),
            "markup_minor": int(row.markup_minor),
            "quoted_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat(), "status": row.status,
            "accepted_at": row.accepted_at.isoformat() if row.accepted_at else None,
            "sell_captured_minor": int(row.sell_captured_minor),
            "sell_refunded_minor": int(row.sell_refunded_minor)}
