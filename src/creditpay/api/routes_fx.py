"""Foreign exchange over HTTP (issue #21; docs/fx.md): a consumer asks what a foreign amount
costs in CNY and gets a quote locked for 30 minutes; operators read the FX configuration in
force and the daily FX position.

Routes map HTTP to :mod:`creditpay.fx` and back; bad input is 422 naming the field, a pair
with no stored rate 404 naming ``buy_currency``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from creditpay.api.access import access
from creditpay.api.common import IdempotencyKey, runtime
from creditpay.api.common import post as idempotent_post
from creditpay.api.runtime import Runtime
from creditpay.api.schemas import AmountMinor, Currency, Strict, examples
from creditpay.errors import ValidationError
from creditpay.parties.service import Principal

__all__ = ["router", "READ_ROLES", "quote_use_case", "fx_setup"]

router = APIRouter(prefix="/v1", tags=["fx"])
CUSTOMER = access(customer=True)
READ_ROLES = frozenset({"admin", "risk_analyst", "compliance_officer"})
READ = access(roles=set(READ_ROLES))

_QUOTE = {"quote_id": "fxq_5f0c8c4d2b1a49e3a7c1", "sell_currency": "CNY",
          "buy_currency": "JPY", "buy_amount_minor": 100000, "sell_amount_minor": 485856,
          "mid_rate": "0.0482000000", "markup_bps": 80, "client_rate": "0.0485856000",
          "markup_minor": 3856, "quoted_at": "2026-12-07T09:00:00+00:00",
          "expires_at": "2026-12-07T09:30:00+00:00"}


class FxQuoteIn(Strict):
    model_config = examples({"sell_currency": "CNY", "buy_currency": "JPY",
                             "buy_amount_minor": 100000})
    sell_currency: str = Currency
    buy_currency: str = Currency
    buy_amount_minor: int = AmountMinor


class FxQuoteOut(BaseModel):
    model_config = examples(_QUOTE)
    quote_id: str
    sell_currency: str
    buy_currency: str
    buy_amount_minor: int
    sell_amount_minor: int
    mid_rate: str
    markup_bps: int
    client_rate: str
    markup_minor: int
    quoted_at: str
    expires_at: str


class FxMarkupOut(BaseModel):
    sell: str
    buy: str
    markup_bps: int


class FxLimitsOut(BaseModel):
    currency: str
    per_transaction_minor: int
    daily_minor: int


class FxConfigOut(BaseModel):
    model_config = examples({
        "version": "fx-2026-12-07.1", "home_currency": "CNY", "quote_lock_minutes": 30,
        "default_markup_bps": 100, "currencies": ["CNY", "JPY"],
        "markups": [{"sell": "CNY", "buy": "JPY", "markup_bps": 80}],
        "limits": {"currency": "CNY", "per_transaction_minor": 5000000,
                   "daily_minor": 30000000},
        "rate_max_age_days": 3, "rate_source": "simulated:0"})
    version: str
    home_currency: str
    quote_lock_minutes: int
    default_markup_bps: int
    currencies: list[str]
    markups: list[FxMarkupOut]
    limits: FxLimitsOut
    rate_max_age_days: int
    rate_source: str


class FxPositionLineOut(BaseModel):
    report_date: str
    currency: str
    home_currency: str
    balance_minor: int
    mid_rate: str
    value_home_minor: int
    previous_value_home_minor: int
    value_change_home_minor: int
    revaluation_home_minor: int
    realised_revenue_home_minor: int
    quotes_used: int


class FxPositionOut(BaseModel):
    model_config = examples({
        "report_date": "2026-12-07", "home_currency": "CNY",
        "lines": [{"report_date": "2026-12-07", "currency": "JPY", "home_currency": "CNY",
                   "balance_minor": -100000, "mid_rate": "0.0482000000",
                   "value_home_minor": -482000, "previous_value_home_minor": 0,
                   "value_change_home_minor": -482000, "revaluation_home_minor": 0,
                   "realised_revenue_home_minor": 3856, "quotes_used": 1}],
        "value_home_minor": -482000, "revaluation_home_minor": 0,
        "realised_revenue_home_minor": 3856, "quotes_used": 1})
    report_date: str
    home_currency: str
    lines: list[FxPositionLineOut]
    value_home_minor: int
    revaluation_home_minor: int
    realised_revenue_home_minor: int
    quotes_used: int


def fx_setup(rt: Runtime) -> tuple[Any, Any]:
    """The FX configuration and rate source of this process (the bootstrap's)."""
    if rt.services is not None:
        return rt.services.fx_config, rt.services.fx_rate_source
    from creditpay.fx.config import load_fx_config
    from creditpay.fx.rates import SimulatedRateSource

    return load_fx_config(), SimulatedRateSource(0)


def quote_use_case(rt: Runtime, tx: Any, who: Principal, body: FxQuoteIn) -> dict[str, Any]:
    """POST /v1/fx/quotes's use case: a quote for the caller, locked for 30 minutes."""
    from creditpay.fx.quotes import create_quote

    config, source = fx_setup(rt)
    return create_quote(tx, sell_currency=body.sell_currency,
                        buy_currency=body.buy_currency,
                        buy_amount_minor=body.buy_amount_minor, customer_id=who.id,
                        config=config, source=source).as_dict()


@router.post("/fx/quotes", status_code=201, response_model=FxQuoteOut,
             summary="What a foreign amount costs you, at a rate locked for 30 minutes")
def create_fx_quote(request: Request, body: FxQuoteIn, idempotency_key: str = IdempotencyKey,
                    who: Principal = Depends(CUSTOMER)) -> Any:
    """Customer. Quotes buy_amount_minor of buy_currency (e.g. JPY) paid in sell_currency
    (CNY): the mid rate, the markup in basis points, the client rate (sell units per one buy
    unit: mid × (1 + markup_bps/10000)), the amount to pay rounded half up to the sell
    currency's minor unit, and when the 30-minute lock ends (expires_at). A payment abroad
    uses the quote once. 422 naming the field: a currency unknown or not quoted, the same
    currency twice, an amount that is not a positive integer, or an amount over the
    per-transaction or daily limit (amount_minor); 404 naming buy_currency when no rate is
    stored for the pair. Idempotency-Key required: a retry with the same key and body replays
    the first quote; another body with that key is 409 idempotency-conflict."""
    rt = runtime(request)
    return idempotent_post(request, who.scope_key, body,
                           lambda tx: quote_use_case(rt, tx, who, body), status_code=201)


@router.get("/operator/fx/config", response_model=FxConfigOut,
            summary="The FX configuration in force: markups, quote lock, limits, rate source")
def fx_config(request: Request, who: Principal = Depends(READ)) -> Any:
    """Operator (admin, risk analyst, compliance officer). The versioned FX configuration
    this process quotes with (markup per currency pair, default markup, quote lock, limits in
    CNY) and the name of its rate source. Changes nothing."""
    config, source = fx_setup(runtime(request))
    return {**config.as_dict(), "rate_source": source.name}


@router.get("/operator/fx/position", response_model=FxPositionOut,
            summary="The FX position of a day: balances, CNY value, revaluation, FX revenue")
def fx_position(request: Request,
                date: str = Query(..., pattern=r"^\d{4}-\d{2}-\d{2}$",
                                  description="the business date YYYY-MM-DD"),
                who: Principal = Depends(READ)) -> Any:
    """Operator (admin, risk analyst, compliance officer). The FX position report the
    nightly run stored for the date: per currency the fx_position balance, its CNY value at
    the day's mid, the revaluation and the markup earned; with totals. 404 naming date when
    no report is stored for it; 422 for a date that is not YYYY-MM-DD. Changes nothing."""
    from creditpay.errors import NotFoundError
    from creditpay.fx.position import position_summary, stored_position

    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        raise ValidationError("must be a date YYYY-MM-DD", field="date") from None
    rt = runtime(request)
    config, _ = fx_setup(rt)
    with rt.uow.connect() as conn:
        lines = stored_position(conn, day)
    if not lines:
        raise NotFoundError(f"no FX position stored for {day}", field="date")
    return position_summary(day, lines, config.home_currency)
