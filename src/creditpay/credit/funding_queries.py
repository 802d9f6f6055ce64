"""Read-only queries on partner funding for the regulatory reports (issue #17 item 6):
what partners funded in a period and where their positions stood at the end of a business
date, from the funding records and the partners' dated flows (credit.funding).

As-of figures are rebuilt from the flows dated on or before the date, not from the shares'
live positions, so a report for a past date stays the same report when made later. The
flows exist once :func:`creditpay.credit.funding.follow_ledger` has followed the journal
(the nightly batch does, when it settles the partners); these functions only SELECT.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from creditpay.credit.funding_core import BPS, PLATFORM
from creditpay.credit.tables import (
    credit_accounts,
    credit_authorisations,
    credit_funding_flows,
    credit_funding_loans,
    credit_funding_shares,
    credit_purchases,
)

__all__ = ["FundedShare", "funded_shares", "partner_outstanding_at",
           "partner_guarantee_paid_at", "OUTSTANDING_SIGN"]

# How each flow kind moves a partner's funded principal outstanding (credit.funding's
# positions: funding adds, repaid / refunded / withdrawn / written-off / guaranteed principal
# takes away, a write-off's reversal puts back); charges, recoveries and clawbacks are income
# or cash, not principal.
OUTSTANDING_SIGN = {"fund": 1, "principal": -1, "refund": -1, "withdrawal": -1,
                    "write_off": -1, "guarantee": -1, "wo_reversal": 1, "gt_reversal": 1}


@dataclass(frozen=True)
class FundedShare:
    """One partner's share of one loan funded with partners (minor units). ``apr_percent``:
    the consumer's all-in annual cost as the accepted plan offer stated it (percent, as a
    Decimal), None for a cash loan (``loan_seq`` lets the caller compute it from the loan's
    schedule, as the originations report does)."""

    account_id: str
    partner_id: str
    currency: str
    product_code: str
    kind: str  # plan | loan
    arrangement_type: str  # joint | facilitation
    opened_on: dt.date
    loan_principal_minor: int
    platform_minor: int
    funded_minor: int
    guarantee_bps: int
    loan_seq: int
    apr_percent: Decimal | None

    @property
    def guarantee_cover_minor(self) -> int:
        """The first-loss cover granted on this share: floored, as funding grants it."""
        return self.funded_minor * self.guarantee_bps // BPS


def funded_shares(conn: Connection, start: dt.date | None, end: dt.date) -> list[FundedShare]:
    """Every partner's share of the loans funded with partners opened in ``[start, end]``
    (``start`` None: from the first), by account and partner."""
    s, loans, a = credit_funding_shares.c, credit_funding_loans.c, credit_accounts.c
    query = select(s.account_id, s.funder_id, s.currency, s.funded_minor, s.guarantee_bps,
                   loans.product_code, loans.arrangement_type, loans.opened_on,
                   loans.principal_minor, loans.platform_minor, a.kind, a.seq).join(
        credit_funding_loans, loans.account_id == s.account_id).join(
        credit_accounts, a.account_id == s.account_id).where(
        s.funder_id != PLATFORM, loans.arrangement_type != "own",
        loans.opened_on <= end).order_by(s.account_id, s.funder_id)
    if start is not None:
        query = query.where(loans.opened_on >= start)
    rows = conn.execute(query).all()
    plans = sorted({r.account_id for r in rows if r.kind == "plan"})
    offers: dict[str, Any] = {}
    for i in range(0, len(plans), 1000):
        p, au = credit_purchases.c, credit_authorisations.c
        for o in conn.execute(select(p.account_id, au.offer).join(
                credit_authorisations, au.authorisation_id == p.authorisation_id).where(
                p.account_id.in_(plans[i:i + 1000]))):
            offers[o.account_id] = dict(o.offer or {})
    out = []
    for r in rows:
        cost = offers.get(r.account_id, {}).get("all_in_annual_cost_percent") \
            if r.kind == "plan" else None
        out.append(FundedShare(
            r.account_id, r.funder_id, r.currency, r.product_code, r.kind,
            r.arrangement_type, r.opened_on, int(r.principal_minor), int(r.platform_minor),
            int(r.funded_minor), int(r.guarantee_bps), int(r.seq),
            None if cost is None else Decimal(str(cost))))
    return out


def _flow_sums(conn: Connection, end: dt.date, kinds: tuple[str, ...]
               ) -> list[Any]:
    f, loans = credit_funding_flows.c, credit_funding_loans.c
    return list(conn.execute(select(f.partner_id, f.currency, loans.arrangement_type, f.kind,
                               func.sum(f.amount_minor).label("amount")).join(
        credit_funding_loans, loans.account_id == f.account_id).where(
        f.business_date <= end, f.kind.in_(kinds)).group_by(
        f.partner_id, f.currency, loans.arrangement_type, f.kind)))


def partner_outstanding_at(conn: Connection, end: dt.date
                           ) -> dict[tuple[str, str, str], int]:
    """(partner id, currency, arrangement type) -> the partner's funded principal
    outstanding at the end of ``end``, from its flows dated on or before it."""
    out: defaultdict[tuple[str, str, str], int] = defaultdict(int)
    for r in _flow_sums(conn, end, tuple(OUTSTANDING_SIGN)):
        out[(r.partner_id, r.currency, r.arrangement_type)] += \
            OUTSTANDING_SIGN[r.kind] * int(r.amount)
    return dict(out)


def partner_guarantee_paid_at(conn: Connection, end: dt.date) -> dict[tuple[str, str], int]:
    """(partner id, currency) -> what the platform's first-loss guarantee has paid the
    partner up to the end of ``end`` (net of payments taken back by write-off reversals)."""
    out: defaultdict[tuple[str, str], int] = defaultdict(int)
    for r in _flow_sums(conn, end, ("guarantee", "gt_reversal")):
        out[(r.partner_id, r.currency)] += (1 if r.kind == "guarantee" else -1) * int(r.amount)
    return dict(out)
