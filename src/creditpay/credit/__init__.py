"""Credit math: day counts, due dates, schedules, APR, repayment allocation (pure core)."""

from creditpay.credit.allocation import (
    AllocationResult,
    AllocationStrategy,
    Bucket,
    BucketStatus,
    Component,
    PrepaymentRule,
    allocate_payment,
    reschedule_after_prepayment,
)
from creditpay.credit.apr import (
    AprMethod,
    EuTimeBasis,
    UnitPeriod,
    all_in_annual_cost,
    apr_from_flows,
    apr_of_schedule,
    apr_us,
    aprc_eu,
)
from creditpay.credit.calendar import Frequency, add_months, due_dates
from creditpay.credit.daycount import DayCount, year_fraction
from creditpay.credit.schedule import (
    Installment,
    Method,
    Schedule,
    ScheduleTerms,
    amortisation_schedule,
    build_schedule,
)

__all__ = [
    "AllocationResult",
    "AllocationStrategy",
    "AprMethod",
    "Bucket",
    "BucketStatus",
    "Component",
    "DayCount",
    "EuTimeBasis",
    "Frequency",
    "Installment",
    "Method",
    "PrepaymentRule",
    "Schedule",
    "ScheduleTerms",
    "UnitPeriod",
    "add_months",
    "all_in_annual_cost",
    "allocate_payment",
    "amortisation_schedule",
    "apr_from_flows",
    "apr_of_schedule",
    "apr_us",
    "aprc_eu",
    "build_schedule",
    "due_dates",
    "reschedule_after_prepayment",
    "year_fraction",
]
