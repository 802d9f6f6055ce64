"""The platform's own profit and loss, and the portfolio ratios a risk manager reads next to
it (issue #18): the pure definitions the simulated run's report (:mod:`creditpay.sim.pnl`,
which re-exports these) and the console's ``pnl`` view (:mod:`creditpay.reporting.dashboard`)
share, here below both. Pure: no I/O, no clock; money is integer minor units,
rates are basis points or :class:`~decimal.Decimal` / :class:`~fractions.Fraction` shares,
and every rounding to the minor unit is explicit (half up, done once per figure).

The economy (:meth:`creditpay.sim.economy.Economy.figures`) reads the ledger and the book
over a run, the dashboard reads the ledger's movements per month, and both call these; the
definitions are in docs/simulator.md, "P&L", and docs/console.md, "P&L".

* **revenue** = the income accounts' movement over the run (merchant fees, interest, credit
  fees, penalty interest) minus ``partner_income_share`` (the charges passed to partner
  lenders, a contra-income account). What the platform keeps of a partner-funded loan's
  charges above the partner's funding rate is its service fee: it is already in the income
  accounts, net of the partner's part.
* **funding cost** = Σ over the run's days of the platform's own-funded outstanding principal
  × ``funding_rate_bps`` / 10 000 / 365, summed exactly and rounded half up once.
  Partner-funded principal costs the platform nothing (the partner prices it in its share).
* **credit losses** = write-offs (``write_off_expense``) − the partners' borne part net of
  their recoveries (``partner_loss_share``) − recoveries (``recovery_income``): the
  platform's write-offs net of the platform's recoveries. A first-loss guarantee the
  platform paid stays in its part.
* **fraud losses** = fraud that got through (captured) and was not charged back to the
  merchant by the end of the run.
* **net** = revenue − funding cost − credit losses − fraud losses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from creditpay.credit.schedule import round_fraction  # half up: halves away from zero
from creditpay.errors import ValidationError

__all__ = ["BPS", "DAYS_PER_YEAR", "funding_cost_minor", "platform_pnl",
           "pnl_parts", "annualised_rate",
           "share_of", "net_charge_off_rate", "expected_loss_minor", "PNL_PARTS", "DPD30_MIN",
           "FUNDING_RATE_BPS_DEFAULT", "LGD_BPS_DEFAULT"]

BPS = 10_000
DAYS_PER_YEAR = 365  # actual/365, as the credit products accrue interest
DPD30_MIN = 30  # "30+ DPD": 30 or more days past due
# A mid-tier consumer lender's cost of wholesale funds (the simulated bank partner lends at
# 450 bps, the consumer-finance company at 900): 5 % a year on what the platform funds itself.
FUNDING_RATE_BPS_DEFAULT = 500
# Unsecured consumer credit written off at M3 recovers little: 80 % of the exposure is lost
# on default (in the range Basel's retail unsecured estimates and Chinese lenders report).
LGD_BPS_DEFAULT = 8000
# The P&L's parts, in the order net is computed from them (revenue first, then each cost).
PNL_PARTS = ("revenue_minor", "funding_cost_minor", "credit_losses_minor",
             "fraud_losses_minor")


def _minor(value: object, field: str, *, signed: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("must be an integer amount in minor units", field=field)
    if not signed and value < 0:
        raise ValidationError("must not be negative", field=field)
    return value


def funding_cost_minor(daily_own_outstanding_minor: Sequence[int], funding_rate_bps: int,
                       *, days_per_year: int = DAYS_PER_YEAR) -> int:
    """Cost of the money the platform lends itself: Σ daily own-funded outstanding principal
    (minor units, one value per business day of the run) × ``funding_rate_bps`` / 10 000 /
    ``days_per_year``, summed exactly and rounded half up once (so the cost does not depend
    on how the days are grouped)."""
    if isinstance(funding_rate_bps, bool) or not isinstance(funding_rate_bps, int) \
            or not 0 <= funding_rate_bps <= BPS:
        raise ValidationError("must be an integer 0..10000 (basis points a year)",
                              field="funding_rate_bps")
    total = sum(_minor(v, "daily_own_outstanding_minor") for v in daily_own_outstanding_minor)
    return round_fraction(Fraction(total * funding_rate_bps, BPS * days_per_year))


def platform_pnl(*, income_by_source_minor: Mapping[str, int], partner_income_share_minor: int,
                 write_offs_minor: int, partner_loss_share_minor: int, recoveries_minor: int,
                 funding_cost_minor: int, fraud_lost_minor: int, fraud_charged_back_minor: int
                 ) -> dict[str, Any]:
    """The platform's P&L from the ledger's movements over the run (see the module docstring).

    ``income_by_source_minor``: the income accounts' movement by source (credit-normal, >= 0);
    ``partner_income_share_minor``: charges passed to partners; ``write_offs_minor``: every
    write-off, partner-funded parts included; ``partner_loss_share_minor``: the partners'
    borne write-offs net of their recoveries (may be any sign while recoveries run ahead);
    ``recoveries_minor``: every recovery on written-off debt; ``fraud_lost_minor``: fraud
    captured; ``fraud_charged_back_minor``: of it, charged back to merchants.
    Returns the five contract fields plus the breakdown they come from."""
    income = {str(k): _minor(v, f"income_by_source_minor.{k}")
              for k, v in income_by_source_minor.items()}
    partner_income = _minor(partner_income_share_minor, "partner_income_share_minor")
    written_off = _minor(write_offs_minor, "write_offs_minor")
    partner_losses = _minor(partner_loss_share_minor, "partner_loss_share_minor", signed=True)
    recovered = _minor(recoveries_minor, "recoveries_minor")
    funding = _minor(funding_cost_minor, "funding_cost_minor")
    lost = _minor(fraud_lost_minor, "fraud_lost_minor")
    charged_back = _minor(fraud_charged_back_minor, "fraud_charged_back_minor")
    return {**pnl_parts(revenue_gross_minor=sum(income.values()),
                        partner_income_share_minor=partner_income,
                        write_offs_minor=written_off,
                        partner_loss_share_minor=partner_losses, recoveries_minor=recovered,
                        funding_cost_minor=funding, fraud_losses_minor=lost - charged_back),
            "revenue_by_source_minor": dict(sorted(income.items())),
            "partner_share_minor": partner_income,
            "write_offs_minor": written_off, "partner_loss_share_minor": partner_losses,
            "recoveries_minor": recovered,
            "fraud_captured_minor": lost, "fraud_charged_back_minor": charged_back}


def pnl_parts(*, revenue_gross_minor: int, partner_income_share_minor: int,
              write_offs_minor: int, partner_loss_share_minor: int, recoveries_minor: int,
              funding_cost_minor: int, fraud_losses_minor: int) -> dict[str, int]:
    """The contract's five figures from their parts (minor units, any sign: a month's
    movement can be negative, e.g. fees reversed on a withdrawal): revenue = gross income −
    partners' share; credit losses = write-offs − partners' borne part − recoveries; net =
    revenue − funding − credit − fraud. :func:`platform_pnl` (a whole run) and the console's
    monthly P&L both compute them here."""
    revenue = revenue_gross_minor - partner_income_share_minor
    credit = write_offs_minor - partner_loss_share_minor - recoveries_minor
    return {"revenue_minor": revenue, "funding_cost_minor": funding_cost_minor,
            "credit_losses_minor": credit, "fraud_losses_minor": fraud_losses_minor,
            "net_minor": revenue - funding_cost_minor - credit - fraud_losses_minor}


def annualised_rate(amount_minor: int, daily_outstanding_minor: Sequence[int]) -> Fraction:
    """``amount`` / average daily outstanding × 365 / days = amount × 365 / Σ daily
    outstanding, exact; 0 when nothing was outstanding."""
    total = sum(_minor(v, "daily_outstanding_minor") for v in daily_outstanding_minor)
    if not total:
        return Fraction(0)
    return Fraction(_minor(amount_minor, "amount_minor", signed=True) * DAYS_PER_YEAR, total)


def share_of(numerator_minor: int, denominator_minor: int) -> float:
    """``numerator / denominator`` to 4 decimals (a ratio for display, never money); 0.0 when
    the denominator is 0."""
    if not denominator_minor:
        return 0.0
    return round(numerator_minor / denominator_minor, 4)


def net_charge_off_rate(net_charge_offs_minor: int, daily_outstanding_minor: Sequence[int]
                        ) -> dict[str, Any]:
    """Annualised net charge-off rate: (write-offs − recoveries) / average daily outstanding
    principal × 365 / days, ``days`` = the number of daily values. Returns the rate (4
    decimals, 0.0 without outstanding) with its parts: the numerator and the average
    (rounded half up to the minor unit, for display; the rate uses the exact average)."""
    days = len(daily_outstanding_minor)
    total = sum(_minor(v, "daily_outstanding_minor") for v in daily_outstanding_minor)
    net = _minor(net_charge_offs_minor, "net_charge_offs_minor", signed=True)
    rate = round(float(annualised_rate(net, daily_outstanding_minor)), 4)
    return {"rate": rate, "net_charge_offs_minor": net,
            "average_outstanding_minor": round_fraction(Fraction(total, days)) if days else 0,
            "days": days}


def expected_loss_minor(exposures: Iterable[tuple[int, Decimal]], lgd: Decimal) -> int:
    """Σ PD × LGD × exposure over (exposure in minor units, PD 0..1) pairs, exact, rounded
    half up once."""
    if not isinstance(lgd, Decimal) or not Decimal(0) <= lgd <= Decimal(1):
        raise ValidationError("must be a Decimal share 0..1", field="lgd")
    total = Fraction(0)
    for exposure, pd in exposures:
        _minor(exposure, "exposure_minor")
        if not isinstance(pd, Decimal) or not Decimal(0) <= pd <= Decimal(1):
            raise ValidationError("must be a Decimal share 0..1", field="pd")
        total += Fraction(pd) * exposure
    return round_fraction(total * Fraction(lgd))
