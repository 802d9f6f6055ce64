"""The horizon each portfolio chart's measure needs, and the count interval its points carry
(issue #18): pure rules shared by the simulated run's report (:mod:`creditpay.sim.book_charts`
re-exports them) and the console's dashboard (:mod:`creditpay.reporting.dashboard`), here
below both. Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Horizon", "chart_warnings", "unmatured_approvals_message", "horizon_rules", "HORIZON_RULES", "wilson_interval",
           "VINTAGE_LEVEL", "ROLL_MONTH_ENDS_MIN", "VINTAGE_MONTHS_ON_BOOK_MIN",
           "FRAUD_MATURED_DAYS_MIN", "BAD_OUTCOME_DAYS", "UNMATURED_APPROVALS_SHARE_MAX",
           "WRITE_OFF_DPD"]

VINTAGE_LEVEL = 0.95  # the intervals' confidence level


def wilson_interval(successes: int, trials: int,
                    level: float = VINTAGE_LEVEL) -> tuple[float, float]:
    """Wilson score interval of a proportion (scipy.stats.binomtest): unlike the normal
    approximation it stays inside 0..1 and has a width when no account (or every one) is
    bad."""
    from scipy.stats import binomtest

    interval = binomtest(successes, trials).proportion_ci(confidence_level=level,
                                                          method="wilson")
    return float(interval.low), float(interval.high)



# ------------------------------------------------------------- horizons the charts need

ROLL_MONTH_ENDS_MIN = 2  # a matrix compares a month end with the previous one
VINTAGE_MONTHS_ON_BOOK_MIN = 3  # first bill about a month after opening, then 30 days late
FRAUD_MATURED_DAYS_MIN = 14  # days of screening whose fraud labels have all arrived
BAD_OUTCOME_DAYS = 61  # a purchase's first due date (up to a month) plus 30 days past due
# Above this share of approvals younger than BAD_OUTCOME_DAYS the bad rate by grade is
# materially understated; below it, as in any book still lending, it is the usual young tail.
UNMATURED_APPROVALS_SHARE_MAX = 0.2
WRITE_OFF_DPD = 90  # the pay-later line is written off at M3 (creditpay.sim.economy)

# Each chart's rule, as the report's note under it states it.
HORIZON_RULES: dict[str, str] = {
    "roll_rate_matrix": (f"a roll-rate matrix compares one month end with the previous one: "
                         f"it needs at least {ROLL_MONTH_ENDS_MIN} month ends in the run"),
    "vintages": (f"30+ days past due can first show about {VINTAGE_MONTHS_ON_BOOK_MIN} months "
                 "on book (a first bill about a month after opening, then 30 days late): "
                 f"a vintage younger than {VINTAGE_MONTHS_ON_BOOK_MIN} months on book is flat "
                 "whatever its quality (drawn dashed); the chart needs at least one vintage "
                 "that old"),
    "grade_outcomes": (f"an approval can go 30+ days past due only {BAD_OUTCOME_DAYS} days "
                       "after it (a first due date up to a month later, then 30 days late): "
                       "approvals younger than that understate the bad rate, materially above "
                       f"{UNMATURED_APPROVALS_SHARE_MAX:.0%} of the approvals"),
    "fraud": ("a payment's fraud label (the victim's report, the chargeback) arrives up to "
              "{label_days} days after it: precision and recall of the last {label_days} days "
              f"are provisional, and at least {FRAUD_MATURED_DAYS_MIN} days of matured labels "
              "are needed to read them"),
    "alerts": ("a dynamic band is computed from the previous {window} days: nothing can be "
               "flagged in the first {window} days, and a run needs at least twice that to "
               "watch as many days as it warmed up"),
    "delinquency": (f"an account reaches write-off {WRITE_OFF_DPD} days past due: buckets "
                    f"past M3 and write-offs need {WRITE_OFF_DPD} days after the first past-due "
                    "day"),
}


@dataclass(frozen=True)
class Horizon:
    """What a run covered, for :func:`chart_warnings` (dates are business dates)."""

    start: dt.date
    end: dt.date
    month_ends: Sequence[dt.date] = ()  # month ends recorded by the platform in the run
    vintage_months_on_book: Mapping[str, float] = field(default_factory=dict)  # at the end
    approval_dates: Sequence[dt.date] = ()
    first_past_due: dt.date | None = None  # first day any account was past due
    fraud_label_days: int = 6
    monitor_window_days: int = 14


def horizon_rules(horizon: Horizon) -> dict[str, str]:
    """:data:`HORIZON_RULES` with the run's parameters filled in."""
    return {chart: rule.format(label_days=horizon.fraud_label_days,
                               window=horizon.monitor_window_days)
            for chart, rule in HORIZON_RULES.items()}


def unmatured_approvals_message(recent: int, approvals: int,
                                end: str = "the run's end") -> str | None:
    """The grade outcomes' warning when more than :data:`UNMATURED_APPROVALS_SHARE_MAX` of
    ``approvals`` are ``recent`` (younger than :data:`BAD_OUTCOME_DAYS` days at ``end``);
    None otherwise. For callers that count approvals in the database rather than list
    their dates (the console's grades view)."""
    if recent > UNMATURED_APPROVALS_SHARE_MAX * approvals:
        return (f"{recent:,} of {approvals:,} approvals were made less than "
                f"{BAD_OUTCOME_DAYS} days before {end}: their bad rate is understated")
    return None


def chart_warnings(horizon: Horizon) -> list[dict[str, str]]:
    """One warning per chart whose measure needs a longer horizon than the run gave it:
    ``{"chart", "rule", "message"}`` (the rule from :func:`horizon_rules`, the message
    saying what the run lacked). Empty when every chart had what it needs."""
    rules = horizon_rules(horizon)
    days = (horizon.end - horizon.start).days + 1
    found: list[tuple[str, str]] = []
    month_ends = len(horizon.month_ends)
    if month_ends < ROLL_MONTH_ENDS_MIN:
        found.append(("roll_rate_matrix", f"the run has {month_ends} month end(s): no "
                                          "roll-rate matrix yet"))
    ages = horizon.vintage_months_on_book
    if not ages:
        found.append(("vintages", "no vintage has reached the end of its opening month yet"))
    elif max(ages.values()) < VINTAGE_MONTHS_ON_BOOK_MIN:
        found.append(("vintages", (
            f"every vintage is under {VINTAGE_MONTHS_ON_BOOK_MIN} months on book (the oldest "
            f"at {max(ages.values()):.1f}): the curves cannot show 30+ dpd losses yet, flat "
            "is not good news")))
    recent = sum(1 for d in horizon.approval_dates
                 if (horizon.end - d).days < BAD_OUTCOME_DAYS)
    grade_message = unmatured_approvals_message(recent, len(horizon.approval_dates))
    if grade_message is not None:
        found.append(("grade_outcomes", grade_message))
    matured = days - horizon.fraud_label_days
    if matured < FRAUD_MATURED_DAYS_MIN:
        found.append(("fraud", f"only {max(matured, 0)} day(s) of the run have matured fraud "
                               "labels"))
    if days < 2 * horizon.monitor_window_days:
        found.append(("alerts", f"the run has {days} days: bands existed for "
                                f"{max(days - horizon.monitor_window_days, 0)} of them"))
    if horizon.first_past_due is not None:
        late_days = (horizon.end - horizon.first_past_due).days
        if late_days < WRITE_OFF_DPD:
            found.append(("delinquency", (
                f"the first account went past due {late_days} days before the run's end: "
                "later buckets and write-offs cannot have appeared yet")))
    return [{"chart": chart, "rule": rules[chart], "message": message}
            for chart, message in found]
