"""Credit products as versioned configuration (YAML), validated on load with pydantic.

Three kinds, one file per product version under ``credit/products/``:

* ``credit_line`` (花呗-style pay-later line): statement day, due day (or days after the
  statement), style ``revolve`` (minimum payment; daily interest on what is unpaid after the
  due date) or ``no_revolve`` (unpaid becomes overdue and accrues daily penalty interest),
  bill-installment options with a fee per period.
* ``installment_plan`` (白条-style): period counts with a ``flat`` fee per period on the
  original principal, or an ``apr`` on the declining balance; ``fee_payer: merchant`` for
  merchant-subsidised plans; ``frequency`` monthly (default), biweekly or weekly; an optional
  down payment (``down_payment_rate`` of the price, paid from the wallet at checkout: not
  credit), for the whole product or per option (an option may repeat a period count with
  another down payment rate, so a plan can be offered with and without one). ``periods``
  counts the installments of the financed part; with a down payment the consumer pays
  ``periods + 1`` installments, the first at purchase (pay-in-4 = 25 % down + 3).
* ``cash_loan`` (借呗-style): methods and terms (months or days); interest accrues daily on
  the actual outstanding principal.

Rates are ``Decimal`` and must be written as strings in YAML (``"0.12"``): a YAML float is
refused, because ``0.1`` parsed as a float is not one tenth. Every rate must be a whole number
of millionths (the vectorised close of business stores rates as integer millionths).
Errors are :class:`creditpay.errors.ValidationError` naming the field (``options[1].periods``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from creditpay.credit.allocation import AllocationStrategy
from creditpay.credit.daycount import DayCount, days_in_year_basis
from creditpay.credit.funding_core import Arrangement
from creditpay.credit.schedule import Method
from creditpay.errors import NotFoundError, ValidationError, field_path
from creditpay.money import validate_currency

if TYPE_CHECKING:
    from creditpay.credit.caps import Caps

__all__ = [
    "ProductKind",
    "LineStyle",
    "CreditLineProduct",
    "InstallmentPlanProduct",
    "CashLoanProduct",
    "Product",
    "parse_product",
    "load_product_file",
    "Catalogue",
    "LiveCatalogue",
    "load_catalogue",
    "rate_micro",
    "PRODUCTS_DIR",
    "HardshipPolicy",
    "HARDSHIP_REASONS",
]

PRODUCTS_DIR = Path(__file__).parent / "products"
MICRO = 1_000_000
PLAN_PERIODS = (3, 6, 9, 12, 24)
BILL_INSTALLMENT_PERIODS = (3, 6, 9, 12)


class ProductKind(enum.StrEnum):
    CREDIT_LINE = "credit_line"
    INSTALLMENT_PLAN = "installment_plan"
    CASH_LOAN = "cash_loan"


class LineStyle(enum.StrEnum):
    REVOLVE = "revolve"
    NO_REVOLVE = "no_revolve"


def rate_micro(rate: Decimal) -> int:
    """A rate as integer millionths; exact by validation (see ``_rate``)."""
    scaled = rate * MICRO
    assert scaled == scaled.to_integral_value(), rate
    return int(scaled)


def _rate(value: object) -> Decimal:
    if isinstance(value, float):
        raise ValueError("floats are refused for rates; write the rate as a string, e.g. '0.12'")
    if isinstance(value, bool):
        raise ValueError("must be a decimal rate")
    try:
        rate = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except Exception:  # noqa: BLE001 - any parse failure is the same user error
        raise ValueError(f"{value!r} is not a decimal rate") from None
    if not rate.is_finite() or rate < 0 or rate > 10:
        raise ValueError("must be between 0 and 10 (1000 %)")
    if rate * MICRO != (rate * MICRO).to_integral_value():
        raise ValueError("must be a whole number of millionths (at most 6 decimals)")
    return rate


Rate = Annotated[Decimal, Field()]

# Day counts the servicing engine can accrue exactly: it accrues interest day by day as
# actual days / a fixed year (``year_basis_days``: 365 or 360), so only ACT/365 and ACT/360
# post the interest the schedule discloses. 30/360 counts months as 30 days and ACT/ACT
# divides by 366 in leap years: the daily accrual would drift from the disclosed schedule.
ACCRUAL_DAY_COUNTS = (DayCount.ACT_365, DayCount.ACT_360)


def _check_accrual_day_count(day_count: DayCount, what: str) -> None:
    """Refuse a day count the daily accrual cannot reproduce, naming ``day_count``."""
    if day_count not in ACCRUAL_DAY_COUNTS:
        raise ValueError(f"day_count: {what} accrues interest daily on actual days; use"
                         f" ACT/365 or ACT/360, not {day_count.value}")


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_floats(cls, value: object, info: Any) -> object:
        if info.field_name and "rate" in info.field_name:
            return _rate(value)
        return value


class _Product(_Base):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,47}$")
    version: int = Field(ge=1, le=10_000)
    kind: ProductKind
    status: Literal["active", "draft", "retired"] = "active"
    name: dict[str, str] = Field(default_factory=dict)  # {"zh-CN": ..., "en": ...}
    currency: str = "CNY"
    jurisdiction: str = Field(default="CN", pattern=r"^[A-Z]{2}$")
    day_count: DayCount = DayCount.ACT_365
    grace_days: int = Field(default=3, ge=0, le=30)  # days after a due date before lateness
    late_fee_minor: int = Field(default=0, ge=0, le=100_000_00)
    penalty_annual_rate: Rate = Decimal(0)
    write_off_dpd: int = Field(default=180, ge=30, le=1_000)
    # Upper dpd bound of each bucket M0, M1, ... (M0 = 0 = current); beyond the last: "M<n>+".
    bucket_bounds: tuple[int, ...] = (0, 30, 60, 90, 120, 150, 180)
    allocation: dict[str, Any] = Field(default_factory=dict)
    prepayment_rule: Literal["reduce_term", "reduce_installment"] = "reduce_term"
    amount_min_minor: int = Field(default=100, ge=1)
    amount_max_minor: int = Field(default=20_000_000, ge=1)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return validate_currency(value)

    @field_validator("bucket_bounds")
    @classmethod
    def _bounds(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or value[0] != 0 or any(b <= a for a, b in zip(value, value[1:],
                                                                         strict=False)):
            raise ValueError("must start at 0 and increase strictly")
        return value

    @field_validator("allocation")
    @classmethod
    def _allocation(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            AllocationStrategy.from_config(value)
        except ValidationError as exc:
            raise ValueError(f"{exc.field}: {exc.detail}") from None
        return value

    @model_validator(mode="after")
    def _amounts(self) -> _Product:
        if self.amount_max_minor < self.amount_min_minor:
            raise ValueError("amount_max_minor must not be below amount_min_minor")
        return self

    @property
    def key(self) -> tuple[str, int]:
        return (self.code, self.version)

    @property
    def strategy(self) -> AllocationStrategy:
        config = dict(self.allocation)
        config.setdefault("prepayment_rule", self.prepayment_rule)
        return AllocationStrategy.from_config(config)

    @property
    def year_basis_days(self) -> int:
        return days_in_year_basis(self.day_count)


class BillInstallmentOption(_Base):
    periods: int
    fee_rate_per_period: Rate

    @field_validator("periods")
    @classmethod
    def _periods(cls, value: int) -> int:
        if value not in BILL_INSTALLMENT_PERIODS:
            raise ValueError(f"must be one of {BILL_INSTALLMENT_PERIODS}")
        return value


class CreditLineProduct(_Product):
    kind: Literal[ProductKind.CREDIT_LINE] = ProductKind.CREDIT_LINE
    style: LineStyle
    statement_day: int = Field(ge=1, le=28)  # 1-28 so every month has one
    due_day: int | None = Field(default=None, ge=1, le=28)
    due_days_after_statement: int | None = Field(default=None, ge=1, le=60)
    interest_annual_rate: Rate = Decimal(0)  # revolve: on what is unpaid after the due date
    # revolve: share of the statement's principal (carried balances included) in its minimum
    minimum_payment_rate: Rate = Decimal("0.1")
    bill_installment_options: tuple[BillInstallmentOption, ...] = ()
    # Hardship rules (None: none): the line's balance moves into a hardship plan
    # (docs/hardship.md, "A pay-later line").
    hardship: HardshipPolicy | None = None

    @model_validator(mode="after")
    def _line(self) -> CreditLineProduct:
        if (self.due_day is None) == (self.due_days_after_statement is None):
            raise ValueError("give exactly one of due_day and due_days_after_statement")
        if self.style is LineStyle.REVOLVE and self.interest_annual_rate == 0:
            raise ValueError("interest_annual_rate: a revolving line needs an interest rate")
        if self.minimum_payment_rate > 1:
            raise ValueError("minimum_payment_rate must be at most 1")
        if self.interest_annual_rate > 0:
            _check_accrual_day_count(self.day_count, "a line with an interest rate")
        periods = [o.periods for o in self.bill_installment_options]
        if len(set(periods)) != len(periods):
            raise ValueError("bill_installment_options: periods must be distinct")
        return self

    def bill_option(self, periods: int) -> BillInstallmentOption:
        for option in self.bill_installment_options:
            if option.periods == periods:
                return option
        raise ValidationError(f"{self.code} v{self.version} offers no {periods}-period bill"
                              " installments", field="periods")


HARDSHIP_REASONS = ("job_loss", "illness", "income_drop", "family", "other")


class HardshipEligibility(_Base):
    """Who may ask: at most ``dpd_max`` days past due, never a written-off account, and at
    most ``arrangements_max`` arrangements started in the last ``window_months`` months."""

    dpd_max: int = Field(default=90, ge=0, le=180)
    arrangements_max: int = Field(default=1, ge=1, le=12)
    window_months: int = Field(default=12, ge=1, le=60)


class HardshipAutoApproval(_Base):
    """Approved without an operator when the account is at most ``dpd_max`` days past due
    and the reason is one of ``reasons``; every other eligible request is referred."""

    dpd_max: int = Field(default=30, ge=0, le=180)
    reasons: tuple[Literal["job_loss", "illness", "income_drop", "family", "other"], ...] = (
        "job_loss", "illness")


class HardshipPolicy(_Base):
    """A product's hardship rules (docs/hardship.md). ``payment_holiday_cycles_max``: the
    most installments a payment holiday defers (0: no holiday offered);
    ``reamortisation_term_extension_max``: the most periods a re-amortisation adds (0: not
    offered); ``reduced_rate_floor``: the lowest annual rate a reduced-interest plan goes
    down to (omitted: not offered; offered only to an account whose rate is above it);
    ``holiday_interest``: ``accrues`` (interest runs on during
    the holiday at the contract rate) or ``waived`` (none is charged for the holiday);
    ``broken_after_days``: a new installment unpaid this many days after its due date ends
    the arrangement as broken."""

    payment_holiday_cycles_max: int = Field(default=0, ge=0, le=12)
    reamortisation_term_extension_max: int = Field(default=0, ge=0, le=60)
    reduced_rate_floor: Rate | None = None
    holiday_interest: Literal["accrues", "waived"] = "accrues"
    broken_after_days: int = Field(default=15, ge=1, le=90)
    eligibility: HardshipEligibility = Field(default_factory=HardshipEligibility)
    auto_approval: HardshipAutoApproval = Field(default_factory=HardshipAutoApproval)

    @model_validator(mode="after")
    def _consistent(self) -> HardshipPolicy:
        if self.auto_approval.dpd_max > self.eligibility.dpd_max:
            raise ValueError("auto_approval.dpd_max must not exceed eligibility.dpd_max")
        if not (self.payment_holiday_cycles_max or self.reamortisation_term_extension_max
                or self.reduced_rate_floor is not None):
            raise ValueError("payment_holiday_cycles_max: offer at least one option (a "
                             "holiday, a term extension or a reduced-rate floor)")
        return self


class PlanOption(_Base):
    periods: int
    fee_rate_per_period: Rate = Decimal(0)
    # None: the product's down payment rate; a rate (0 allowed) overrides it for this option.
    down_payment_rate: Rate | None = None

    @field_validator("down_payment_rate")
    @classmethod
    def _down_payment(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and value >= 1:
            raise ValueError("must be below 1 (the rest of the price is the credit)")
        return value

    @field_validator("periods")
    @classmethod
    def _periods(cls, value: int) -> int:
        if value not in PLAN_PERIODS:
            raise ValueError(f"must be one of {PLAN_PERIODS}")
        return value


class InstallmentPlanProduct(_Product):
    kind: Literal[ProductKind.INSTALLMENT_PLAN] = ProductKind.INSTALLMENT_PLAN
    pricing: Literal["flat", "apr"]
    annual_rate: Rate = Decimal(0)  # apr pricing: on the declining balance
    options: tuple[PlanOption, ...]
    fee_payer: Literal["customer", "merchant"] = "customer"
    down_payment_rate: Rate = Decimal(0)
    frequency: Literal["monthly", "biweekly", "weekly"] = "monthly"
    hardship: HardshipPolicy | None = None  # hardship rules (None: no hardship options)

    @model_validator(mode="after")
    def _plan(self) -> InstallmentPlanProduct:
        if not self.options:
            raise ValueError("options: at least one period count")
        keys = [(o.periods, self.down_payment_rate_of(o)) for o in self.options]
        if len(set(keys)) != len(keys):
            raise ValueError("options: each (periods, down_payment_rate) must be distinct")
        if self.pricing == "flat" and self.annual_rate != 0:
            raise ValueError("annual_rate: a flat-fee plan charges fees, not interest")
        if self.pricing == "apr" and any(o.fee_rate_per_period for o in self.options):
            raise ValueError("options: an apr plan charges interest, not fees")
        if self.down_payment_rate >= 1:
            raise ValueError("down_payment_rate: must be below 1 (the rest of the price is"
                             " the credit)")
        if self.pricing == "apr" and self.annual_rate > 0:
            _check_accrual_day_count(self.day_count, "a plan priced by an annual rate")
            if self.frequency != "monthly":
                # Rescheduling an annuity after a refund or prepayment re-amortises monthly.
                raise ValueError("frequency: a plan priced by an annual rate is monthly")
        if self.hardship is not None and self.frequency != "monthly":
            raise ValueError("hardship: hardship options move a schedule by monthly cycles;"
                             " the plan's frequency must be monthly")
        return self

    @property
    def method(self) -> Method:
        return Method.FLAT if self.pricing == "flat" else Method.EQUAL_INSTALLMENT

    def down_payment_rate_of(self, option: PlanOption) -> Decimal:
        """The share of the price paid down at checkout with ``option`` (0 = none)."""
        if option.down_payment_rate is not None:
            return option.down_payment_rate
        return self.down_payment_rate

    def option(self, periods: int, down_payment_rate: Decimal | str | None = None
               ) -> PlanOption:
        """The option of ``periods`` installments with that down payment rate (None: the
        first option of ``periods``); ValidationError naming ``periods`` if there is none."""
        wanted = None if down_payment_rate is None else Decimal(str(down_payment_rate))
        for option in self.options:
            if option.periods == periods and (
                    wanted is None or self.down_payment_rate_of(option) == wanted):
                return option
        raise ValidationError(f"{self.code} offers no {periods}-period plan"
                              + ("" if wanted is None else f" with {wanted} down"),
                              field="periods")


class LoanTerm(_Base):
    months: int | None = Field(default=None, ge=1, le=60)
    days: int | None = Field(default=None, ge=1, le=365)

    @model_validator(mode="after")
    def _one(self) -> LoanTerm:
        if (self.months is None) == (self.days is None):
            raise ValueError("give exactly one of months and days")
        return self


class CashLoanProduct(_Product):
    kind: Literal[ProductKind.CASH_LOAN] = ProductKind.CASH_LOAN
    annual_rate: Rate
    methods: tuple[Method, ...]
    terms: tuple[LoanTerm, ...]
    hardship: HardshipPolicy | None = None  # hardship rules (None: no hardship options)

    @model_validator(mode="after")
    def _loan(self) -> CashLoanProduct:
        if not self.methods or not self.terms:
            raise ValueError("methods and terms must not be empty")
        _check_accrual_day_count(self.day_count, "a cash loan")
        if any(t.days is not None for t in self.terms) and Method.BULLET not in self.methods:
            raise ValueError("terms: a term in days needs the bullet method")
        return self

    def check_term(self, periods: int, method: Method) -> LoanTerm:
        """The configured term for ``periods`` (months, or days for a bullet in days)."""
        if method not in self.methods:
            raise ValidationError(f"{self.code} does not offer {method.value}", field="method")
        for term in self.terms:
            if term.months == periods:
                return term
            if term.days == periods and method is Method.BULLET:
                return term
        raise ValidationError(f"{self.code} offers no term of {periods}", field="periods")


Product = CreditLineProduct | InstallmentPlanProduct | CashLoanProduct
_BY_KIND: dict[str, type[_Product]] = {
    ProductKind.CREDIT_LINE: CreditLineProduct,
    ProductKind.INSTALLMENT_PLAN: InstallmentPlanProduct,
    ProductKind.CASH_LOAN: CashLoanProduct,
}


def _field_of(error: Mapping[str, Any], message: str, model: type[_Product]) -> str:
    """The field an error is about: its location, or for a check across fields (no
    location) the field its message starts with ("day_count: ...")."""
    head = message.split(":", 1)[0]
    if not error.get("loc") and head in model.model_fields:
        return head
    return ".".join(field_path(error.get("loc"))) or "product"


def parse_product(document: Mapping[str, Any]) -> Product:
    """Validate one product document; raise ValidationError naming the first bad field."""
    if not isinstance(document, Mapping):
        raise ValidationError("must be a mapping", field="product")
    kind = document.get("kind")
    model = _BY_KIND.get(str(kind))
    if model is None:
        raise ValidationError(f"unknown kind {kind!r}; use one of "
                              f"{', '.join(k.value for k in ProductKind)}", field="kind")
    try:
        return model.model_validate(dict(document))  # type: ignore[return-value]
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
        raise ValidationError(message, field=_field_of(first, message, model)) from None
    except ValidationError:
        raise


def load_product_file(path: Path) -> Product:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read {path.name}: {exc}", field="product") from None
    return parse_product(document)


class Catalogue:
    """Every product version known, by (code, version), and the regulatory caps of each
    jurisdiction they are sold in; the latest active version of a code is what new business
    uses, and every origination records the version it used.

    Configuration, never a process global: the bootstrap loads one (:func:`load_catalogue`)
    and hands it to every service that prices or services credit, so two catalogues can be
    used side by side in one process. Read-only once built."""

    __slots__ = ("_by_key", "_caps", "_arrangements")

    def __init__(self, products: list[Product],
                 caps: Mapping[str, Caps] | None = None,
                 arrangements: Mapping[tuple[str, int], Arrangement] | None = None) -> None:
        by_key: dict[tuple[str, int], Product] = {}
        for product in products:
            if product.key in by_key:
                raise ValidationError(f"{product.code} v{product.version} is defined twice",
                                      field="version")
            by_key[product.key] = product
        self._by_key: Mapping[tuple[str, int], Product] = MappingProxyType(by_key)
        self._caps: Mapping[str, Caps] = MappingProxyType(dict(caps or {}))
        # Partner funding arrangements in force, by (code, version) (credit.funding); a
        # product version without one is funded by the platform alone.
        self._arrangements: Mapping[tuple[str, int], Arrangement] = MappingProxyType(
            dict(arrangements or {}))

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable (the Spark engine ships the catalogue to its tasks): rebuilt from its
        # parts, since the read-only mapping proxies themselves do not pickle.
        return (Catalogue, (list(self._by_key.values()), dict(self._caps),
                            dict(self._arrangements)))

    def get(self, code: str, version: int | None = None) -> Product:
        if version is not None:
            product = self._by_key.get((code, version))
            if product is None:
                raise NotFoundError(f"no product {code} v{version}", field="product_code")
            return product
        versions = [p for (c, _), p in self._by_key.items() if c == code and
                    p.status == "active"]
        if not versions:
            raise NotFoundError(f"no active product {code!r}", field="product_code")
        return max(versions, key=lambda p: p.version)

    def active(self, kind: ProductKind | None = None) -> list[Product]:
        codes = sorted({c for (c, _), p in self._by_key.items() if p.status == "active"})
        products = [self.get(code) for code in codes]
        return [p for p in products if kind is None or p.kind == kind]

    def all(self) -> list[Product]:
        return list(self._by_key.values())

    def caps(self, jurisdiction: str) -> Caps:
        """The caps of ``jurisdiction`` this catalogue was checked against; NotFoundError
        naming ``jurisdiction`` when it has none."""
        caps = self._caps.get(jurisdiction)
        if caps is None:
            raise NotFoundError(f"no caps for jurisdiction {jurisdiction!r}",
                                field="jurisdiction")
        return caps

    def all_caps(self) -> dict[str, Caps]:
        """The caps of every jurisdiction, by jurisdiction."""
        return dict(self._caps)

    def with_caps(self, caps: Caps) -> Catalogue:
        """The same products under other caps for ``caps.jurisdiction`` (e.g. a new LPR);
        the products are not checked again: :func:`load_catalogue` does that on load."""
        return Catalogue(self.all(), {**self.all_caps(), caps.jurisdiction: caps},
                         self.all_arrangements())

    def arrangement(self, code: str, version: int) -> Arrangement | None:
        """The partner funding arrangement in force for product ``code`` v``version``, or
        None (the platform funds it alone)."""
        return self._arrangements.get((code, version))

    def all_arrangements(self) -> dict[tuple[str, int], Arrangement]:
        return dict(self._arrangements)

    def with_arrangements(self, arrangements: Mapping[tuple[str, int], Arrangement]
                          ) -> Catalogue:
        """The same products and caps with these funding arrangements."""
        return Catalogue(self.all(), self.all_caps(), arrangements)


class LiveCatalogue(Catalogue):
    """The catalogue a serving process hands to its services: it reads as the catalogue it
    holds now, which :meth:`use` replaces when product or caps versions are activated
    (credit.catalogue_versions). Every service keeps this one object, so one swap reaches
    them all; the swap is one reference assignment, so a reader sees the old catalogue or
    the new one whole, never products of one with caps of the other. ``marker`` is the
    activation number (``activation_seq``) the catalogue held was built from."""

    __slots__ = ("_current", "marker", "checked_at")

    def __init__(self, current: Catalogue, marker: int) -> None:  # noqa: D107
        # Not Catalogue.__init__: every read is delegated to ``_current``.
        self._current = current
        self.marker = marker
        self.checked_at = float("-inf")  # monotonic seconds of the last staleness check

    @property
    def current(self) -> Catalogue:
        return self._current

    def use(self, catalogue: Catalogue, marker: int) -> None:
        """Hold ``catalogue`` (built from activations up to ``marker``) from now on; an
        older one than held is ignored (two refreshes may finish out of order)."""
        if marker >= self.marker:
            self._current, self.marker = catalogue, marker

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as the catalogue it holds now (what a Spark task needs: a fixed copy).
        return self._current.__reduce__()

    def get(self, code: str, version: int | None = None) -> Product:
        return self._current.get(code, version)

    def active(self, kind: ProductKind | None = None) -> list[Product]:
        return self._current.active(kind)

    def all(self) -> list[Product]:
        return self._current.all()

    def caps(self, jurisdiction: str) -> Caps:
        return self._current.caps(jurisdiction)

    def all_caps(self) -> dict[str, Caps]:
        return self._current.all_caps()

    def arrangement(self, code: str, version: int) -> Arrangement | None:
        return self._current.arrangement(code, version)

    def all_arrangements(self) -> dict[tuple[str, int], Arrangement]:
        return self._current.all_arrangements()


def load_catalogue(products_dir: Path = PRODUCTS_DIR, caps_dir: Path | None = None
                   ) -> Catalogue:
    """The products of ``products_dir`` (one YAML file per version) with the caps of every
    jurisdiction they are sold in (``caps_dir``, default the packaged caps), each active
    product checked against its jurisdiction's caps (a product whose worst case breaks a cap
    cannot be activated: loading fails with CapExceededError naming the cap). Not cached:
    call it once per process (the bootstrap does) and pass the result on."""
    from creditpay.credit.caps import CAPS_DIR, activate_product, load_jurisdiction_caps

    products = [load_product_file(path) for path in sorted(products_dir.glob("*.yaml"))]
    caps = {jurisdiction: load_jurisdiction_caps(jurisdiction, caps_dir or CAPS_DIR)
            for jurisdiction in sorted({p.jurisdiction for p in products})}
    for product in products:
        if product.status == "active":
            activate_product(product, caps[product.jurisdiction])
    return Catalogue(products, caps)


# --------------------------------------------------------------------------- schedule terms
def plan_terms(product: InstallmentPlanProduct, periods: int, principal_minor: int,
               start_date: Any, currency: str | None = None,
               down_payment_rate: Decimal | str | None = None) -> Any:
    """Schedule terms of an installment plan of ``periods`` on ``principal_minor`` (the
    financed part, minor units: a down payment is not in it), at the product's frequency
    from ``start_date`` (the first installment one period later). ``down_payment_rate``
    picks among options of the same period count. Merchant-paid fees are still in the
    schedule; who pays them is decided by ``fee_payer``."""
    from creditpay.credit.schedule import ScheduleTerms

    option = product.option(periods, down_payment_rate)
    return ScheduleTerms(principal_minor=principal_minor, currency=currency or product.currency,
                         annual_rate=product.annual_rate, periods=periods,
                         method=product.method, start_date=start_date,
                         frequency=product.frequency,  # type: ignore[arg-type]
                         day_count=product.day_count,
                         fee_rate_per_period=option.fee_rate_per_period)


def bill_installment_terms(product: CreditLineProduct, periods: int, principal_minor: int,
                           start_date: Any, currency: str | None = None) -> Any:
    """A statement converted to ``periods`` installments: flat fee on the converted amount."""
    from creditpay.credit.schedule import ScheduleTerms

    option = product.bill_option(periods)
    return ScheduleTerms(principal_minor=principal_minor, currency=currency or product.currency,
                         annual_rate=Decimal(0), periods=periods, method=Method.FLAT,
                         start_date=start_date, day_count=product.day_count,
                         fee_rate_per_period=option.fee_rate_per_period)


def loan_terms(product: CashLoanProduct, periods: int, method: Method | str,
               principal_minor: int, start_date: Any, currency: str | None = None) -> Any:
    """A cash loan of ``periods`` months, or (bullet) ``periods`` days when the product has
    that term in days."""
    from creditpay.credit.calendar import Frequency
    from creditpay.credit.schedule import ScheduleTerms

    try:
        method = Method(method)
    except ValueError:
        raise ValidationError(f"unknown method {method!r}", field="method") from None
    term = product.check_term(periods, method)
    if term.days is not None and term.months is None:
        return ScheduleTerms(principal_minor=principal_minor,
                             currency=currency or product.currency,
                             annual_rate=product.annual_rate, periods=term.days,
                             method=Method.BULLET, start_date=start_date,
                             frequency=Frequency.DAILY, day_count=product.day_count)
    return ScheduleTerms(principal_minor=principal_minor, currency=currency or product.currency,
                         annual_rate=product.annual_rate, periods=periods, method=method,
                         start_date=start_date, day_count=product.day_count)
