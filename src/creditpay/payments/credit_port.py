"""The payments side of credit: every call goes through ``creditpay.credit.service``.

Payments never touches credit tables; it asks the servicing facade, inside its own
transaction, for offers, an authorisation (limit reservation), a capture, a void or a refund.
When the facade is not installed, credit funding answers 503 ``credit-unavailable`` and
balance and card payments keep working.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
from decimal import Decimal
from typing import Any

from creditpay.db.uow import Tx
from creditpay.errors import DomainError

__all__ = ["CreditUnavailableError", "CreditFacade", "offer_to_dict"]

OFFER_FIELDS = ("offer_id", "funding", "periods", "per_period_amount_minor",
                "total_repayable_minor", "total_fee_minor", "total_interest_minor",
                "apr_percent", "all_in_annual_cost_percent")


class CreditUnavailableError(DomainError):
    type_slug = "credit-unavailable"
    status = 503
    title = "Credit is not available"


_PLAIN_TYPES = frozenset({str, int, bool, float, type(None)})


def _json_value(value: Any) -> Any:
    if type(value) in _PLAIN_TYPES:  # most figures: returned as they are, checked first
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Field by field: ``dataclasses.asdict`` deep-copies every leaf first (slow).
        return {f.name: _json_value(getattr(value, f.name))
                for f in dataclasses.fields(value)}
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        return value.value
    return value


def offer_to_dict(offer: Any) -> dict[str, Any]:
    """Every figure the facade put on the offer, exactly (Decimals as strings)."""
    if dataclasses.is_dataclass(offer) and not isinstance(offer, type):
        raw = offer
    elif isinstance(offer, dict):
        raw = dict(offer)
    else:
        raw = {name: getattr(offer, name) for name in dir(offer)
               if not name.startswith("_") and not callable(getattr(offer, name))}
    result = _json_value(raw)
    # The facade names funding "line" / "plan"; the API names them as the checkout does.
    result["funding"] = {"line": "credit_line", "plan": "installment_plan"}.get(
        result.get("funding"), result.get("funding"))
    missing = [name for name in OFFER_FIELDS if name not in result]
    if missing:
        raise CreditUnavailableError(f"credit offer lacks {missing}")
    return result


class CreditFacade:
    """Thin adapter over ``creditpay.credit.service`` (resolved at first use)."""

    def __init__(self, module_name: str = "creditpay.credit.service") -> None:
        self._module_name = module_name
        self._module: Any = None

    def _service(self) -> Any:
        if self._module is None:
            try:
                self._module = importlib.import_module(self._module_name)
            except ImportError as exc:
                raise CreditUnavailableError(
                    "the credit servicing engine is not installed; pay with balance or card"
                ) from exc
        return self._module

    @property
    def available(self) -> bool:
        try:
            self._service()
        except CreditUnavailableError:
            return False
        return True

    def quote_offers(self, tx: Tx, *, customer_id: str, amount_minor: int,
                     currency: str, product_codes: list[str] | None = None
                     ) -> list[dict[str, Any]]:
        """Offers the checkout can accept, every figure exact. Offers that need a down
        payment are left out: the checkout does not collect down payments yet."""
        offers = self._service().quote_offers(
            tx, customer_id=customer_id, amount_minor=amount_minor, currency=currency,
            product_codes=product_codes)
        shown = [offer_to_dict(o) for o in offers]
        return [o for o in shown if not o.get("down_payment_minor")
                and o.get("within_available_limit", True)]

    def open_credit_line(self, tx: Tx, **kwargs: Any) -> Any:
        return self._service().open_credit_line(tx, **kwargs)

    def authorise_purchase(self, tx: Tx, **kwargs: Any) -> Any:
        return self._service().authorise_purchase(tx, **kwargs)

    def capture_purchase(self, tx: Tx, **kwargs: Any) -> Any:
        return self._service().capture_purchase(tx, **kwargs)

    def void_authorisation(self, tx: Tx, **kwargs: Any) -> Any:
        return self._service().void_authorisation(tx, **kwargs)

    def refund_purchase(self, tx: Tx, **kwargs: Any) -> Any:
        return self._service().refund_purchase(tx, **kwargs)
