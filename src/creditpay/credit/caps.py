"""Regulatory caps as data, per jurisdiction (``credit/caps/<CC>.yaml``).

Default CN: the all-in annual cost (IRR method, every fee included; :func:`all_in_annual_cost`)
of new credit at most 24 %; penalty interest at most 4 x the one-year LPR (configurable,
3.0 % today, so 12 %); unsecured exposure per borrower at most 200,000.00 CNY.

A product whose worst case breaks a cap cannot be activated (:func:`activate_product`); an
origination that would break one is refused with :class:`CapExceededError` whose ``cap``
names the cap (``all_in_annual_cost_max``, ``penalty_rate_max``,
``unsecured_exposure_max_minor``).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from creditpay.credit.apr import all_in_annual_cost
from creditpay.credit.schedule import Schedule, build_schedule
from creditpay.errors import CapExceededError, NotFoundError, ValidationError

__all__ = ["Caps", "parse_caps", "load_caps", "load_jurisdiction_caps", "activate_product", "check_all_in_cost",
           "check_all_in_cost_value",
           "check_penalty_rate", "check_exposure", "CAPS_DIR"]

CAPS_DIR = Path(__file__).parent / "caps"
# Worst case of a product: its cheapest and dearest amounts (fee rounding weighs most on
# small amounts), on a mid-month and a month-end start (ACT/365 periods differ in length).
_PROBE_STARTS = (dt.date(2025, 1, 15), dt.date(2025, 1, 31))


class Caps(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    jurisdiction: str = Field(pattern=r"^[A-Z]{2}$")
    version: int = Field(ge=1)
    currency: str
    all_in_annual_cost_max: Decimal
    lpr_one_year: Decimal
    penalty_lpr_multiple: Decimal
    unsecured_exposure_max_minor: int = Field(ge=0)
    # Partner lending (docs/partner-lending.md): the platform's smallest share of a joint
    # loan (basis points), and what partner lenders together may fund one borrower.
    joint_platform_share_min_bps: int = Field(default=3000, ge=0, le=10000)
    partner_funded_borrower_max_minor: int = Field(default=20_000_000, ge=0)

    @field_validator("all_in_annual_cost_max", "lpr_one_year", "penalty_lpr_multiple",
                     mode="before")
    @classmethod
    def _decimal(cls, value: object) -> object:
        if isinstance(value, float):
            raise ValueError("floats are refused; write the rate as a string")
        return value

    @property
    def penalty_rate_max(self) -> Decimal:
        return self.lpr_one_year * self.penalty_lpr_multiple

    def with_lpr(self, lpr_one_year: Decimal) -> Caps:
        """The same caps with another LPR (the PBOC publishes it monthly)."""
        if not isinstance(lpr_one_year, Decimal) or not 0 <= lpr_one_year < 1:
            raise ValidationError("must be a Decimal between 0 and 1", field="lpr_one_year")
        return self.model_copy(update={"lpr_one_year": lpr_one_year})


def parse_caps(document: Any) -> Caps:
    """Validate one caps document (a caps YAML file's content, or the same as JSON); raise
    ValidationError naming the first bad field."""
    try:
        return Caps.model_validate(document)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        raise ValidationError(str(first.get("msg")),
                              field=".".join(map(str, first.get("loc", ()))) or "caps") from None


def load_caps(path: Path) -> Caps:
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read {path.name}: {exc}", field="caps") from None
    return parse_caps(document)


def load_jurisdiction_caps(jurisdiction: str = "CN", caps_dir: Path = CAPS_DIR) -> Caps:
    """The caps of ``jurisdiction`` from ``caps_dir`` (``<CC>.yaml``); NotFoundError naming
    ``jurisdiction`` when there is no file. Not cached: the caps a service applies are those
    of the catalogue it was given (:meth:`creditpay.credit.products.Catalogue.caps`)."""
    if not re.fullmatch(r"[A-Z]{2}", jurisdiction):
        raise ValidationError("must be a two-letter country code", field="jurisdiction")
    path = caps_dir / f"{jurisdiction}.yaml"
    if not path.exists():
        raise NotFoundError(f"no caps for jurisdiction {jurisdiction!r}", field="jurisdiction")
    return load_caps(path)


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).quantize(Decimal('0.01'))} %"


def check_all_in_cost(schedule: Schedule, caps: Caps, *, what: str = "this credit") -> Decimal:
    """The schedule's all-in annual cost, or CapExceededError if it is above the cap."""
    cost = Decimal(0) if schedule.totals.interest_minor + schedule.totals.fee_minor == 0 \
        else all_in_annual_cost(schedule)
    return check_all_in_cost_value(cost, caps, what=what)


def check_all_in_cost_value(cost: Decimal, caps: Caps, *, what: str = "this credit"
                            ) -> Decimal:
    """``cost`` (an all-in annual cost already solved, a fraction), or CapExceededError
    if it is above the cap."""
    if cost > caps.all_in_annual_cost_max:
        raise CapExceededError(
            f"all-in annual cost of {what} is {_percent(cost)}, above the"
            f" {caps.jurisdiction} cap of {_percent(caps.all_in_annual_cost_max)}",
            field="all_in_annual_cost", cap="all_in_annual_cost_max",
            jurisdiction=caps.jurisdiction, caps_version=caps.version)
    return cost


def check_penalty_rate(rate: Decimal, caps: Caps) -> None:
    if rate > caps.penalty_rate_max:
        raise CapExceededError(
            f"penalty rate {_percent(rate)} is above {caps.penalty_lpr_multiple} x LPR"
            f" ({_percent(caps.penalty_rate_max)})", field="penalty_annual_rate",
            cap="penalty_rate_max", jurisdiction=caps.jurisdiction,
            caps_version=caps.version)


def check_exposure(current_minor: int, new_minor: int, caps: Caps, currency: str) -> None:
    """Refuse credit that would take the borrower's unsecured exposure above the cap."""
    if currency != caps.currency:
        return  # the cap is written in the jurisdiction's currency; others are not capped here
    if current_minor + new_minor > caps.unsecured_exposure_max_minor:
        raise CapExceededError(
            f"unsecured exposure would be {current_minor + new_minor} minor units, above the"
            f" cap of {caps.unsecured_exposure_max_minor}", field="amount_minor",
            cap="unsecured_exposure_max_minor", jurisdiction=caps.jurisdiction,
            caps_version=caps.version)


def _probe_schedules(product: Any) -> list[tuple[str, Schedule]]:
    from creditpay.credit import products as P

    amounts = sorted({product.amount_min_minor, product.amount_max_minor})
    found: list[tuple[str, Schedule]] = []
    for start in _PROBE_STARTS:
        for amount in amounts:
            if isinstance(product, P.InstallmentPlanProduct):
                if product.fee_payer == "merchant":
                    continue  # the consumer pays nothing; the merchant's fee is not credit
                for option in product.options:
                    found.append((f"{option.periods}-period plan", build_schedule(
                        P.plan_terms(product, option.periods, amount, start,
                                     down_payment_rate=product.down_payment_rate_of(option)))))
            elif isinstance(product, P.CreditLineProduct):
                for bill in product.bill_installment_options:
                    found.append((f"{bill.periods}-period bill installments", build_schedule(
                        P.bill_installment_terms(product, bill.periods, amount, start))))
            else:
                for method in product.methods:
                    for term in product.terms:
                        periods = term.months if term.months is not None else term.days
                        if term.months is None and method.value != "bullet":
                            continue
                        found.append((f"{method.value} over {periods}", build_schedule(
                            P.loan_terms(product, periods, method, amount, start))))
    return found


def activate_product(product: Any, caps: Caps) -> None:
    """Refuse (CapExceededError naming the cap) a product whose worst case breaks a cap."""
    from creditpay.credit import products as P

    check_penalty_rate(product.penalty_annual_rate, caps)
    if isinstance(product, P.CreditLineProduct) and \
            product.interest_annual_rate > caps.all_in_annual_cost_max:
        raise CapExceededError(
            f"revolving interest {_percent(product.interest_annual_rate)} is above the cap",
            field="interest_annual_rate", cap="all_in_annual_cost_max",
            jurisdiction=caps.jurisdiction, caps_version=caps.version)
    for what, schedule in _probe_schedules(product):
        check_all_in_cost(schedule, caps, what=f"{product.code} v{product.version} {what}")
