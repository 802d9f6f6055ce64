"""The night's batch across domains, in order, for one business date.

The close of business belongs to credit and must not reach into risk or consumer protection, so the
jobs that follow it are chained here: the partner lenders' daily settlement (credit), the
periodic limit review (risk, when a behaviour model and a limit-review policy are in force),
the early-warning metrics, monitors and alerts (risk), the decline of referred applications
past their deadline (risk), complaint escalation (consumer protection), the disputes whose
merchant did not answer in time moved to review (payments), the day's FX mid rates and the
FX position with its revaluation (fx), the purge of expired
registrations (parties), on a month end's night the month's credit-bureau submission
(reporting), then the audit seal, so the night's records join the hash chain. Collections
contact people and run in the day (`creditpay collections run`), not here: a night run would
meet quiet hours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from creditpay.db.uow import UnitOfWork

if TYPE_CHECKING:
    from creditpay.credit.cob import AutoDebitConsents
    from creditpay.credit.products import Catalogue
    from creditpay.fx.config import FxConfig
    from creditpay.fx.rates import RateSource
    from creditpay.platform.checkpoints import AuditCheckpointer
    from creditpay.risk.bureau import BureauAdapter

__all__ = ["NightlyReport", "run_nightly", "limit_review_configured",
           "auto_debit_consents"]


@dataclass
class NightlyReport:
    business_date: str
    close_of_business: dict[str, Any]
    limit_review: dict[str, Any] | None = None  # None: not configured
    complaints_escalated: int = 0
    audit_sealed: int = 0
    skipped: list[str] = field(default_factory=list)
    early_warning: dict[str, Any] | None = None  # risk early-warning job's report
    referrals_expired: int = 0  # referred applications declined at their deadline
    registrations_purged: int = 0  # expired or ended registrations deleted (parties)
    month_end_cells: int | None = None  # portfolio month-end cells recorded (month ends)
    bureau_submission: dict[str, Any] | None = None  # the month's bureau report (month ends)
    partner_settlements: int = 0  # partner lenders settled for the date (credit.funding)
    disputes_to_review: int = 0  # disputes the merchant did not answer in time (#20)
    fx_rates_stored: int = 0  # the day's mid rates stored from the rate source (#21)
    fx_position: dict[str, Any] | None = None  # the day's FX position report (#21)

    def as_dict(self) -> dict[str, Any]:
        return {"business_date": self.business_date,
                "close_of_business": self.close_of_business,
                "limit_review": self.limit_review,
                "complaints_escalated": self.complaints_escalated,
                "audit_sealed": self.audit_sealed, "skipped": self.skipped,
                "early_warning": self.early_warning,
                "referrals_expired": self.referrals_expired,
                "registrations_purged": self.registrations_purged,
                "month_end_cells": self.month_end_cells,
                "bureau_submission": self.bureau_submission,
                "partner_settlements": self.partner_settlements,
                "disputes_to_review": self.disputes_to_review,
                "fx_rates_stored": self.fx_rates_stored, "fx_position": self.fx_position}


def limit_review_configured(uow: UnitOfWork) -> bool:
    """True when a behaviour model has a champion and a limit-review policy is active
    (``creditpay risk bootstrap`` or an operator put them in force)."""
    from creditpay.errors import NotFoundError
    from creditpay.risk.decisions.policy import active_policy
    from creditpay.risk.decisions.registry import current_assignment

    with uow.connect() as conn:
        try:
            current_assignment(conn, "behaviour")
            active_policy(conn, "limit_review")
        except NotFoundError:
            return False
    return True


def auto_debit_consents() -> AutoDebitConsents:
    """The close of business's auto-debit consent check: consumer protection's, wired here
    because credit sits below protection and may not import it."""
    from creditpay.protection.auto_debit_consents import ReferencedAutoDebitConsents

    return ReferencedAutoDebitConsents()


def run_nightly(uow: UnitOfWork, business_date: dt.date, *, progress: bool = False,
                currency: str = "CNY", early_warning_monitors: Any = None,
                audit_checkpointer: AuditCheckpointer | None,
                consents: AutoDebitConsents | None = None,
                catalogue: Catalogue, bureau: BureauAdapter | None = None,
                fx_config: FxConfig | None = None,
                fx_rate_source: RateSource | None = None) -> NightlyReport:
    """Close ``business_date``, then the jobs that follow it. Each step is idempotent for
    the date, so a re-run after a crash finishes what is left. ``early_warning_monitors``:
    the monitors the early-warning job evaluates (default: its bundled set).
    ``audit_checkpointer`` signs and stores a checkpoint at each seal (required, no default:
    None only in tests; docs/security.md section 6). ``consents``: the close of business's
    auto-debit consent check (default: :func:`auto_debit_consents`). ``catalogue``: the
    products and caps the close of business services accounts with (the bootstrap's).
    ``bureau``: where a month end's night reports the month (default: the simulated bureau;
    an adapter that takes no submissions skips it). ``fx_config``, ``fx_rate_source``: the
    FX configuration and rate source (the bootstrap's; default: the packaged configuration
    and the simulated source), for the day's rates and FX position (#21)."""
    from creditpay.credit.cob import run_close_of_business
    from creditpay.credit.portfolio_queries import is_month_end, record_month_end
    from creditpay.parties.service import purge_registrations
    from creditpay.payments.reporting import daily_screening_counts
    from creditpay.platform.audit import seal
    from creditpay.protection.complaints import escalate_overdue
    from creditpay.risk.decisions.limit_review_job import run_limit_review
    from creditpay.risk.decisions.referrals import expire_referrals
    from creditpay.risk.early_warning.job import run_early_warning

    cob = run_close_of_business(uow, business_date, progress=progress,
                                audit_checkpointer=audit_checkpointer,
                                auto_debit_consents=consents or auto_debit_consents(),
                                catalogue=catalogue)
    report = NightlyReport(business_date.isoformat(), cob.as_dict())
    # The dashboard's roll rates and vintage curves need where accounts stood at each month
    # end; the accounts keep only today's state, so the month's last close records it.
    if is_month_end(business_date):
        report.month_end_cells = uow.run(lambda tx: record_month_end(tx.conn, business_date))
        _report_to_bureau(uow, business_date, bureau, report)
    # Partner lenders: the day's flows of funded loans (the close's write-offs included) are
    # split from the credit journal and each partner is settled for the date, one
    # transaction. Idempotent: a partner settled for the date is not settled again.
    from creditpay.credit.funding import settle as settle_partners

    report.partner_settlements = len(uow.run(lambda tx: settle_partners(tx, business_date)))
    if limit_review_configured(uow):
        review = run_limit_review(uow, business_date, currency=currency)
        report.limit_review = review.as_dict()
    else:
        report.skipped.append("limit_review: no behaviour model or limit_review policy")
    # After the close and the limit review: today's buckets and limits are final.
    report.early_warning = run_early_warning(uow, business_date,
                                             screening=daily_screening_counts,
                                             currency=currency,
                                             monitors=early_warning_monitors).as_dict()
    report.referrals_expired = len(uow.run(lambda tx: expire_referrals(tx)))
    report.complaints_escalated = len(uow.run(lambda tx: escalate_overdue(tx)))
    # Disputes whose merchant did not answer by the deadline go to an operator (#20).
    from creditpay.payments.disputes import sweep_deadlines

    report.disputes_to_review = uow.run(lambda tx: sweep_deadlines(tx, business_date))
    _fx_position(uow, business_date, report, fx_config, fx_rate_source)
    report.registrations_purged = uow.run(lambda tx: purge_registrations(tx))
    report.audit_sealed = seal(uow, audit_checkpointer).records_sealed
    return report


def _fx_position(uow: UnitOfWork, day: dt.date, report: NightlyReport,
                 config: FxConfig | None, source: RateSource | None) -> None:
    """The day's mid rates from the rate source, then the FX position and its revaluation
    (idempotent: rates and lines already stored for the day are kept)."""
    from creditpay.fx.config import load_fx_config
    from creditpay.fx.position import position_summary, write_position
    from creditpay.fx.rates import SimulatedRateSource, refresh_rates

    config = config or load_fx_config()
    source = source or SimulatedRateSource(0, home_currency=config.home_currency)
    rates = uow.run(lambda tx: refresh_rates(tx, source, day))
    report.fx_rates_stored = len(rates)
    lines = uow.run(lambda tx: write_position(tx, day, config=config, source=source))
    report.fx_position = position_summary(day, lines, config.home_currency) if lines else None


def _report_to_bureau(uow: UnitOfWork, month_end: dt.date, bureau: BureauAdapter | None,
                      report: NightlyReport) -> None:
    """The month of ``month_end``, reported on its own night (the close of the month end is
    done, so the accounts' rows are the month end's state: the past-due amounts are exact).
    A refusal is noted in ``skipped`` and the night goes on (the seal must still run); the
    month can be reported again with ``creditpay bureau report``."""
    from creditpay.errors import DomainError
    from creditpay.reporting.bureau_reporting import report_month
    from creditpay.risk.bureau import BureauFurnishing, SimulatedBureau

    furnishing = bureau if bureau is not None else SimulatedBureau(0)
    if not isinstance(furnishing, BureauFurnishing):
        report.skipped.append("bureau_reporting: the bureau adapter takes no submissions")
        return
    month = f"{month_end.year:04d}-{month_end.month:02d}"
    try:
        result = uow.run(lambda tx: report_month(tx, month=month, bureau=furnishing,
                                                 actor="nightly"))
    except DomainError as exc:
        report.skipped.append(f"bureau_reporting: {exc}")
        return
    report.bureau_submission = result.as_dict()
