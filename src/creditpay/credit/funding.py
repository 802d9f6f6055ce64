"""Partner funding (联合贷 joint lending, 助贷 loan facilitation): which funders fund a loan,
and every cash flow of that loan split between them, in the ledger. Issue #17,
docs/partner-lending.md.

* **Arrangements** (:func:`set_arrangement`): per product version, as versioned data: ``own``
  (the platform funds 100 %), ``joint`` (the platform keeps at least the jurisdiction's minimum
  share, partners fund the rest), ``facilitation`` (partners fund 100 %, the platform earns its
  service fee), an optional first-loss guarantee, and the fallback when no partner funds.
* **Routing** (:meth:`Funding.route`, at a plan's capture and a cash loan's disbursement, in
  the same transaction): the waterfall (cheapest partner first, within its appetite and its
  limits, locked) proposes funders; each partner decides for itself through its adapter, from
  only the data the consumer consented to share with *that* partner
  (``reporting.data_sharing``, injected as :data:`ShareData`); a loan is funded only when
  every funder in it approved. A partner that declines is replaced by the next; when the
  partners' part cannot be placed the product's fallback applies: the platform funds it, or
  the loan is refused naming ``funding``.
* **Money** (:func:`fund_loan`, :func:`follow_ledger`): per-partner ledger accounts
  (``partner_principal``, ``partner_payable``, ``partner_funding_due``). Servicing never
  knows about partners: :func:`follow_ledger` follows the credit journal (repayments,
  refunds, withdrawals, write-offs, reversals, recoveries of funded loans, in journal order)
  and splits each flow with the pure core (:mod:`creditpay.credit.funding_core`), posting each
  partner's part. It runs in the nightly batch and before any settlement, report or
  reconciliation, and is idempotent (a cursor on the journal, moved in the same
  transaction).
* **Settlement** (:func:`settle`): per partner and business date, the flows not yet settled are
  netted (collections owed to the partner against funding owed by it) and posted.
  :func:`reconcile` checks every partner's flows against the ledger and the loans.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Connection, func, insert, select, update

from creditpay import ledger as L
from creditpay.credit import funding_core as core
from creditpay.credit.caps import Caps
from creditpay.credit.lines import platform_ledger_accounts, post, transfer
from creditpay.credit.products import CashLoanProduct, InstallmentPlanProduct
from creditpay.credit.tables import (
    credit_accounts,
    credit_funding_arrangements,
    credit_funding_cursor,
    credit_funding_decisions,
    credit_funding_flows,
    credit_funding_followed,
    credit_funding_loans,
    credit_funding_positions,
    credit_funding_settlements,
    credit_funding_shares,
    credit_purchases,
)
from creditpay.db.uow import Tx, insert_new
from creditpay.errors import ConsentRequiredError, NotFoundError, StateError, ValidationError
from creditpay.ledger.chart import party_key
from creditpay.ledger.model import AccountSpec, NormalSide
from creditpay.ledger.queries import (
    TailTransfer,
    count_transfers,
    last_transfer_seq,
    transfers_after,
)
from creditpay.parties import partners as P
from creditpay.platform import audit

__all__ = [
    "PartnerRequest", "PartnerAnswer", "check_arrangement", "PartnerAdapter", "SimulatedPartnerAdapter",
    "ShareData", "BorrowerRisk", "Funding", "Arrangement", "set_arrangement",
    "active_arrangement", "list_arrangements", "arrangement_of", "arrangements_in_force",
    "fund_loan", "follow_ledger", "settle",
    "reconcile", "partners_report", "partner_loans", "partner_flows", "partner_settlements",
    "settlement_lines", "partner_accounts", "funders_of_customer", "FOLLOWED_CODES", "ACCOUNT_CODES",
]

# The credit journal's codes a funded loan's funders follow.
FOLLOWED_CODES = ("credit.repayment", "credit.withdrawal", "credit.refund",
                  "credit.withdrawal_refund", "credit.write_off", "credit.write_off_reversal",
                  "credit.recovery")
# Per-partner ledger accounts: its funded principal outstanding (held on its behalf), what
# was collected for it and not yet settled, the funding it owes and has not yet paid.
ACCOUNT_CODES = {"principal": ("partner_principal", NormalSide.CREDIT),
                 "payable": ("partner_payable", NormalSide.CREDIT),
                 "funding_due": ("partner_funding_due", NormalSide.DEBIT)}
PAGE_TRANSFERS = 5_000
# PostgreSQL draws journal seqs before the transaction commits, so a transfer may become
# visible after one with a higher seq was followed: each run re-reads this many seqs behind
# its cursor and skips the transfers it already split (credit_funding_followed). A ledger
# transaction is milliseconds; 100,000 seqs is far more than any in flight at once.
LOOKBACK_SEQS_POSTGRESQL = 100_000
PLATFORM = core.PLATFORM


# ----------------------------------------------------------------------------- ports
@dataclass(frozen=True, slots=True)
class PartnerRequest:
    """What a partner lender is asked to decide on: the loan, the platform's grade and PD,
    and only the consented fields (``shared``)."""

    partner_id: str
    reference: str
    product_code: str
    currency: str
    amount_minor: int
    grade: str | None
    pd: Decimal | None
    shared: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PartnerAnswer:
    approved: bool
    reasons: tuple[str, ...] = ()


class PartnerAdapter(Protocol):
    """A partner lender's decision service (an HTTP client in production)."""

    def decide(self, request: PartnerRequest) -> PartnerAnswer: ...


@dataclass(frozen=True)
class SimulatedPartnerAdapter:
    """The default adapter: a simulated partner deciding by its own policy (its terms'
    ``policy``), from only what it was sent."""

    policy: core.SimulatedPolicy

    @classmethod
    def of(cls, partner: P.Partner) -> SimulatedPartnerAdapter:
        p = partner.terms.policy
        return cls(core.SimulatedPolicy(max_pd=p.max_pd, grades=p.grades,
                                        kyc_required=p.kyc_required,
                                        min_payments_count_90d=p.min_payments_count_90d,
                                        max_amount_minor=p.max_amount_minor))

    def decide(self, request: PartnerRequest) -> PartnerAnswer:
        approved, reasons = core.simulated_decision(
            self.policy, amount_minor=request.amount_minor, grade=request.grade,
            pd=request.pd, shared=request.shared)
        return PartnerAnswer(approved, reasons)


# (tx, customer_id, partner_id, fields) -> {"consent_record_id", "fields": {...}}; raises
# ConsentRequiredError without the consumer's consent for that partner (nothing shared).
ShareData = Callable[[Tx, str, str, Sequence[str]], Mapping[str, Any]]
# (conn, customer_id) -> (grade, PD) of the customer's latest credit decision, or (None, None).
BorrowerRisk = Callable[[Connection, str], "tuple[str | None, Decimal | None]"]


# ----------------------------------------------------------------------------- arrangements
Arrangement = core.Arrangement


def arrangement_of(row: Any) -> Arrangement:
    """An arrangement row as the catalogue carries it."""
    return Arrangement(int(row.id), row.product_code, int(row.product_version),
                       int(row.version), row.arrangement_type,
                       tuple((str(p["partner_id"]), p.get("share_bps"))
                             for p in row.partner_ids),
                       int(row.platform_share_bps), int(row.guarantee_bps), row.fallback)


def _bps(value: object, field_name: str, *, low: int = 0, high: int = core.BPS) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"must be an integer from {low} to {high} (basis points)",
                              field=field_name)
    return value


def check_arrangement(conn: Connection, *, product: Any, arrangement_type: str,
                      partners: Sequence[Mapping[str, Any]] = (),
                      platform_share_bps: int | None = None, guarantee_bps: int = 0,
                      fallback: str = "own", caps: Caps) -> dict[str, Any]:
    """The arrangement as it would be stored for ``product`` (a product version of the
    catalogue), checked against the jurisdiction's ``caps``, writing nothing: the payload of
    a ``funding.arrange`` proposal and of :func:`set_arrangement`. Refused naming the field
    for an unknown type or fallback, a plan whose fee the merchant pays, an
    unknown, inactive or other-currency partner (``partners``), fixed shares that do not add
    up to 100 % with the platform's (``partners``), a platform share under the minimum
    (``platform_share_bps``), or a partner whose funding rate plus the platform's service
    fee would put the consumer's cost above the cap (``partners``)."""
    if arrangement_type not in core.ARRANGEMENT_TYPES:
        raise ValidationError(f"must be one of {list(core.ARRANGEMENT_TYPES)}",
                              field="arrangement_type")
    if fallback not in core.FALLBACKS:
        raise ValidationError(f"must be one of {list(core.FALLBACKS)}", field="fallback")
    if not isinstance(product, InstallmentPlanProduct | CashLoanProduct):
        raise ValidationError("only installment plans and cash loans are funded by partners",
                              field="product_code")
    if arrangement_type != "own" and getattr(product, "fee_payer", "customer") == "merchant":
        raise ValidationError("a plan whose fee the merchant pays earns nothing a partner "
                              "could be paid from: fund it own", field="product_code")
    guarantee_bps = _bps(guarantee_bps, "guarantee_bps")
    minimum = caps.joint_platform_share_min_bps
    if arrangement_type == "own":
        share, entries = core.BPS, list[dict[str, Any]]()
    else:
        if isinstance(partners, str | bytes) or not isinstance(partners, Sequence) \
                or not partners or len(partners) > 20:
            raise ValidationError("name 1..20 partners", field="partners")
        entries = []
        for i, entry in enumerate(partners):
            if not isinstance(entry, Mapping) or "partner_id" not in entry:
                raise ValidationError("each partner is {partner_id, share_bps?}",
                                      field=f"partners[{i}]")
            try:
                partner = P.get_partner(conn, entry["partner_id"])
            except (NotFoundError, ValidationError):
                raise ValidationError(f"no partner lender {entry['partner_id']!r}",
                                      field="partners") from None
            if partner.status not in ("active", "onboarding"):
                raise ValidationError(f"partner {partner.partner_id} is {partner.status}",
                                      field="partners")
            if partner.currency != product.currency:
                raise ValidationError(f"partner {partner.partner_id} lends in "
                                      f"{partner.currency}, the product in "
                                      f"{product.currency}", field="partners")
            cost_bps = partner.terms.funding_rate_bps + partner.terms.service_fee_bps
            cap_bps = int(caps.all_in_annual_cost_max * core.BPS)
            if cost_bps > cap_bps:
                raise ValidationError(
                    f"partner {partner.partner_id}'s funding rate and the platform's service "
                    f"fee ({cost_bps} bps) exceed the all-in cost cap ({cap_bps} bps)",
                    field="partners")
            fixed = entry.get("share_bps")
            if fixed is not None:
                fixed = _bps(fixed, f"partners[{i}].share_bps", low=1)
            entries.append({"partner_id": partner.partner_id, "share_bps": fixed})
        if len({e["partner_id"] for e in entries}) != len(entries):
            raise ValidationError("names a partner twice", field="partners")
        if arrangement_type == "facilitation":
            share = 0
            if platform_share_bps not in (None, 0):
                raise ValidationError("facilitation: the partners fund 100 %",
                                      field="platform_share_bps")
        else:
            share = _bps(minimum if platform_share_bps is None else platform_share_bps,
                         "platform_share_bps")
            if share < minimum:
                raise ValidationError(
                    f"the platform's share of a joint loan must be at least {minimum} bps "
                    f"(rule joint_platform_share_min_bps of caps {caps.jurisdiction} "
                    f"v{caps.version})", field="platform_share_bps")
            if share >= core.BPS:
                raise ValidationError("a joint loan has a partner share: use own",
                                      field="platform_share_bps")
        fixed_shares = [e["share_bps"] for e in entries]
        if any(s is not None for s in fixed_shares):
            if any(s is None for s in fixed_shares) or \
                    sum(fixed_shares) + share != core.BPS:
                raise ValidationError(
                    f"fixed shares and the platform's {share} bps must add up to 10000",
                    field="partners")
    if arrangement_type == "own":
        guarantee_bps = 0
    return {"product_code": product.code, "product_version": product.version,
            "arrangement_type": arrangement_type, "partners": entries,
            "platform_share_bps": share, "guarantee_bps": guarantee_bps,
            "fallback": fallback}


def set_arrangement(tx: Tx, actor_id: str, *, product: Any, arrangement_type: str,
                    partners: Sequence[Mapping[str, Any]] = (),
                    platform_share_bps: int | None = None, guarantee_bps: int = 0,
                    fallback: str = "own", caps: Caps,
                    approved_by: str | None = None) -> dict[str, Any]:
    """Store a new arrangement version for ``product`` (:func:`check_arrangement` first:
    refused naming the field, nothing written); audited with its proposer (and the operator
    who approved it, under four-eyes). A serving process sees it once its catalogue is
    refreshed (``Services.refresh_catalogue``)."""
    checked = check_arrangement(tx.conn, product=product, arrangement_type=arrangement_type,
                                partners=partners, platform_share_bps=platform_share_bps,
                                guarantee_bps=guarantee_bps, fallback=fallback, caps=caps)
    entries, share = checked["partners"], checked["platform_share_bps"]
    guarantee_bps = checked["guarantee_bps"]
    current = active_arrangement(tx.conn, product.code, product.version)
    version = (current.version if current else 0) + 1
    arrangement_id = tx.conn.execute(insert(credit_funding_arrangements).values(
        product_code=product.code, product_version=product.version, version=version,
        arrangement_type=arrangement_type, partner_ids=entries, platform_share_bps=share,
        guarantee_bps=guarantee_bps, fallback=fallback, created_by=actor_id,
        created_at=tx.now).returning(credit_funding_arrangements.c.id)).scalar_one()
    arrangement = active_arrangement(tx.conn, product.code, product.version)
    assert arrangement is not None and arrangement.id == arrangement_id
    audit.append(tx, "staff", actor_id, "funding.arrangement_set", "product",
                 f"{product.code}:v{product.version}",
                 {**arrangement.view(), "approved_by": approved_by})
    return arrangement.view()


def active_arrangement(conn: Connection, product_code: str, product_version: int
                       ) -> Arrangement | None:
    """The arrangement in force for a product version (its latest), or None (own)."""
    row = conn.execute(select(credit_funding_arrangements).where(
        credit_funding_arrangements.c.product_code == product_code,
        credit_funding_arrangements.c.product_version == product_version).order_by(
        credit_funding_arrangements.c.version.desc()).limit(1)).first()
    return arrangement_of(row) if row is not None else None


def arrangements_in_force(conn: Connection) -> dict[tuple[str, int], Arrangement]:
    """The arrangement in force of every product version that has one (the catalogue
    carries them: :func:`creditpay.credit.catalogue_versions.current`)."""
    rows = conn.execute(select(credit_funding_arrangements).order_by(
        credit_funding_arrangements.c.product_code,
        credit_funding_arrangements.c.product_version,
        credit_funding_arrangements.c.version)).all()
    return {(row.product_code, int(row.product_version)): arrangement_of(row) for row in rows}


def list_arrangements(conn: Connection) -> list[dict[str, Any]]:
    """Every product version's arrangement in force."""
    return [arrangement.view() for arrangement in arrangements_in_force(conn).values()]


# ----------------------------------------------------------------------------- ledger accounts
def _specs(partner_id: str, currency: str) -> list[AccountSpec]:
    return [AccountSpec(party_key(code, partner_id, currency), currency, code, "partner",
                        partner_id, side) for code, side in ACCOUNT_CODES.values()]


def partner_accounts(tx: Tx, partner_id: str, currency: str) -> dict[str, int]:
    """The partner's ledger account ids by role (opened idempotently)."""
    accounts = L.open_accounts(tx, _specs(partner_id, currency))
    return {role: account.id for role, account in zip(ACCOUNT_CODES, accounts, strict=True)}


# ----------------------------------------------------------------------------- routing
@dataclass(frozen=True, slots=True)
class Decision:
    partner_id: str
    outcome: str  # approved | declined | skipped
    reasons: tuple[str, ...]
    fields_shared: tuple[str, ...] = ()
    consent_record_id: int | None = None


@dataclass(frozen=True)
class Routed:
    """A loan's funders as routed: partners' amounts (each approved), the platform's, and
    every partner's answer or reason to be skipped."""

    arrangement: Arrangement
    placement: core.Placement
    decisions: tuple[Decision, ...]
    terms: Mapping[str, P.Partner] = field(default_factory=dict)


def _lock_positions(tx: Tx, partner_ids: Sequence[str], currency: str) -> dict[str, Any]:
    """The partners' funding positions, locked (created at zero when missing): the caps are
    checked against them, so two originations never both take a partner's last room. A
    missing row is inserted with ON CONFLICT DO NOTHING, so originations racing on a
    partner's first loans all find it (none fails on the key), then every row is read
    under the lock."""
    c = credit_funding_positions.c
    if not partner_ids:
        return {}
    existing = {row.partner_id for row in tx.conn.execute(select(c.partner_id).where(
        c.partner_id.in_(partner_ids), c.currency == currency))}
    missing = [pid for pid in partner_ids if pid not in existing]
    if missing:
        rows = [{"partner_id": pid, "currency": currency, "outstanding_minor": 0,
                 "funded_minor": 0, "guarantee_cover_minor": 0, "guarantee_paid_minor": 0,
                 "loans": 0, "updated_at": tx.now} for pid in missing]
        tx.conn.execute(insert_new(tx, credit_funding_positions, "partner_id", "currency"),
                        rows)
    query = select(credit_funding_positions).where(c.partner_id.in_(partner_ids),
                                                   c.currency == currency)
    if tx.conn.dialect.name == "postgresql":
        query = query.order_by(c.partner_id).with_for_update()
    return {row.partner_id: row for row in tx.conn.execute(query)}


def _borrower_outstanding(conn: Connection, customer_id: str, currency: str
                          ) -> dict[str, int]:
    s = credit_funding_shares.c
    return {row.funder_id: int(row.total) for row in conn.execute(
        select(s.funder_id, func.sum(s.outstanding_minor).label("total")).where(
            s.customer_id == customer_id, s.currency == currency,
            s.funder_id != PLATFORM).group_by(s.funder_id))}


@dataclass(frozen=True)
class Funding:
    """Partner funding bound to one process: how consented data reaches a partner, where
    the borrower's grade and PD are read, and the partners' adapters (default: each
    partner's simulated adapter from its terms)."""

    share_data: ShareData | None = None
    borrower_risk: BorrowerRisk | None = None
    adapters: Mapping[str, PartnerAdapter] = field(default_factory=dict)

    def adapter(self, partner: P.Partner) -> PartnerAdapter:
        return self.adapters.get(partner.partner_id) or SimulatedPartnerAdapter.of(partner)

    def route(self, tx: Tx, *, reference: str, customer_id: str, product: Any,
              principal_minor: int, caps: Caps, arrangement: Arrangement | None
              ) -> Routed | None:
        """The funders of a new loan of ``principal_minor`` on ``product`` under
        ``arrangement`` (the catalogue's for the product version; None or ``own``: the
        platform funds it alone, and nothing is read). Raises StateError naming ``funding``
        when the partners' part cannot be placed and the arrangement's fallback is decline;
        the partners' answers are then lost with the transaction (nothing else is kept)."""
        if arrangement is None or arrangement.arrangement_type == "own":
            return None
        currency = product.currency
        known = P.get_partners(tx.conn, [pid for pid, _ in arrangement.partners])
        # A partner removed from the register since the arrangement funds nothing.
        candidates = [pid for pid, _ in arrangement.partners if pid in known]
        partners = {pid: known[pid] for pid in candidates}
        positions = _lock_positions(tx, candidates, currency)
        borrower = _borrower_outstanding(tx.conn, customer_id, currency)
        grade, pd = self.borrower_risk(tx.conn, customer_id) if self.borrower_risk \
            else (None, None)
        partner_funded_left = caps.partner_funded_borrower_max_minor - sum(borrower.values())
        offers, decisions = [], []
        for pid in candidates:
            partner = partners[pid]
            if partner.status != "active":
                decisions.append(Decision(pid, "skipped", ("partner_not_active",)))
                continue
            terms = partner.terms
            offers.append(core.PartnerOffer(
                pid, terms.funding_rate_bps,
                core.Appetite(terms.appetite.grades, terms.appetite.max_pd,
                              terms.appetite.products),
                terms.exposure_cap_minor - int(positions[pid].outstanding_minor),
                min(terms.per_borrower_cap_minor - borrower.get(pid, 0),
                    partner_funded_left)))
        eligible, skipped = core.rank_candidates(offers, product_code=product.code,
                                                 grade=grade, pd=pd)
        decisions.extend(Decision(s.partner_id, "skipped", (s.reason,)) for s in skipped)
        rules = core.RoutingRules(arrangement.arrangement_type, arrangement.platform_share_bps,
                                  caps.joint_platform_share_min_bps, arrangement.fallback)
        fixed = {pid: bps for pid, bps in arrangement.partners if bps is not None}
        declined: set[str] = set()
        answered: dict[str, Decision] = {}
        placement: core.Placement | None = None
        # What partners together may still fund this borrower: one room shared by all the
        # partners of the loan, not given to each.
        together = max(partner_funded_left, 0)
        for _ in range(len(candidates) + 1):
            placement = _fixed_placement(principal_minor, fixed, eligible, declined,
                                         together) \
                if fixed else core.place(principal_minor, rules, eligible,
                                         frozenset(declined), together_minor=together)
            if placement is None:
                break
            newly = [c for c in placement.partners if c.partner_id not in answered]
            if not newly:
                break
            for candidate in newly:
                decision = self._ask(tx, partners[candidate.partner_id], reference=reference,
                                     customer_id=customer_id, product=product,
                                     amount_minor=candidate.amount_minor, grade=grade, pd=pd)
                answered[candidate.partner_id] = decision
                if decision.outcome != "approved":
                    declined.add(candidate.partner_id)
            if all(answered[c.partner_id].outcome == "approved" for c in placement.partners):
                break
        else:  # pragma: no cover - bounded: each round declines at least one candidate
            placement = None
        decisions.extend(answered.values())
        if placement is not None and any(answered.get(c.partner_id, Decision(
                c.partner_id, "declined", ())).outcome != "approved"
                for c in placement.partners):
            placement = None
        if placement is None:
            if arrangement.fallback == "decline":
                raise StateError(
                    "no partner lender funds this loan and the product is not funded by the "
                    "platform alone (" + ", ".join(
                        f"{d.partner_id}: {'/'.join(d.reasons) or d.outcome}"
                        for d in decisions) + ")", field="funding",
                    decisions=[{"partner_id": d.partner_id, "outcome": d.outcome,
                                "reasons": list(d.reasons)} for d in decisions])
            placement = core.Placement((), principal_minor)
        return Routed(arrangement, placement, tuple(decisions), partners)

    def _ask(self, tx: Tx, partner: P.Partner, *, reference: str, customer_id: str,
             product: Any, amount_minor: int, grade: str | None, pd: Decimal | None
             ) -> Decision:
        if self.share_data is None:
            return Decision(partner.partner_id, "skipped", ("no_data_channel",))
        try:
            shared = self.share_data(tx, customer_id, partner.partner_id,
                                     list(partner.terms.data_fields))
        except ConsentRequiredError:
            return Decision(partner.partner_id, "skipped", ("no_consent",))
        answer = self.adapter(partner).decide(PartnerRequest(
            partner.partner_id, reference, product.code, product.currency, amount_minor,
            grade, pd, dict(shared["fields"])))
        return Decision(partner.partner_id, "approved" if answer.approved else "declined",
                        tuple(answer.reasons), tuple(sorted(shared["fields"])),
                        shared.get("consent_record_id"))


def _fixed_placement(principal_minor: int, fixed: Mapping[str, int],
                     eligible: Sequence[core.PartnerOffer], declined: set[str],
                     together_minor: int) -> core.Placement | None:
    """Fixed shares: every named partner funds its share (floored, the platform keeps the
    rest) or the loan falls back: all of them, or none; the partners' total stays within
    ``together_minor`` (the borrower-wide room left for partner funding)."""
    rooms = {o.partner_id: min(o.exposure_left_minor, o.borrower_left_minor) for o in eligible}
    chosen = []
    for pid, bps in fixed.items():
        amount = principal_minor * bps // core.BPS
        if pid in declined or rooms.get(pid, 0) < amount:
            return None
        chosen.append(core.Candidate(pid, amount))
    if sum(c.amount_minor for c in chosen) > together_minor:
        return None
    return core.Placement(tuple(chosen), principal_minor - sum(c.amount_minor for c in chosen))


def _share_bps(part: int, whole: int) -> int:
    return (part * core.BPS * 2 + whole) // (2 * whole) if whole else 0


def fund_loan(tx: Tx, routed: Routed, *, account_id: str, customer_id: str, product: Any,
              principal_minor: int, reference: str) -> dict[str, Any]:
    """Record a routed loan's funders and post each partner's funding (funding it owes ->
    its principal held for it), in the caller's transaction, right after the loan's own
    posting. Updates the partners' positions (locked by :meth:`Funding.route`)."""
    placement = routed.placement
    currency = product.currency
    assert placement.platform_minor + sum(c.amount_minor for c in placement.partners) \
        == principal_minor, "the funders' parts must add up to the principal"
    _ensure_cursor(tx)
    for decision in routed.decisions:
        tx.conn.execute(insert(credit_funding_decisions).values(
            reference=reference, customer_id=customer_id, partner_id=decision.partner_id,
            outcome=decision.outcome, reasons=list(decision.reasons),
            fields_shared=list(decision.fields_shared),
            consent_record_id=decision.consent_record_id,
            amount_minor=next((c.amount_minor for c in placement.partners
                               if c.partner_id == decision.partner_id), 0),
            decided_at=tx.now))
    tx.conn.execute(insert(credit_funding_loans).values(
        account_id=account_id, customer_id=customer_id, currency=currency,
        product_code=product.code, product_version=product.version,
        arrangement_id=routed.arrangement.id,
        arrangement_type=routed.arrangement.arrangement_type if placement.partners else "own",
        principal_minor=principal_minor, platform_minor=placement.platform_minor,
        opened_on=tx.today, write_off_snapshot=None, created_at=tx.now))
    if not placement.partners:
        # Fell back to the platform alone: the answers and the loan's fallback are kept,
        # but there is nothing to split (no funders to follow).
        return {"account_id": account_id, "funders": [
            {"funder_id": PLATFORM, "funded_minor": principal_minor, "share_bps": core.BPS}]}
    guarantee_bps = routed.arrangement.guarantee_bps
    rows = [_share_row(account_id, PLATFORM, customer_id, currency, None, 0, 0,
                       placement.platform_minor, principal_minor, tx)]
    requests: list[L.TransferRequest] = []
    flows = []
    for candidate in placement.partners:
        partner = routed.terms[candidate.partner_id]
        rows.append(_share_row(account_id, candidate.partner_id, customer_id, currency,
                               partner.terms_version, partner.terms.funding_rate_bps,
                               guarantee_bps, candidate.amount_minor, principal_minor, tx))
        accounts = partner_accounts(tx, candidate.partner_id, currency)
        transfer_id = f"funding:{account_id}:{candidate.partner_id}:fund"
        requests.append(transfer(transfer_id, "funding.partner_funding",
                                 accounts["funding_due"], accounts["principal"],
                                 candidate.amount_minor, account_id))
        flows.append(_flow(account_id, candidate.partner_id, currency, "fund",
                           candidate.amount_minor, tx.today, None, transfer_id, tx))
        cover = candidate.amount_minor * guarantee_bps // core.BPS
        tx.conn.execute(update(credit_funding_positions).where(
            credit_funding_positions.c.partner_id == candidate.partner_id,
            credit_funding_positions.c.currency == currency).values(
            outstanding_minor=credit_funding_positions.c.outstanding_minor
            + candidate.amount_minor,
            funded_minor=credit_funding_positions.c.funded_minor + candidate.amount_minor,
            guarantee_cover_minor=credit_funding_positions.c.guarantee_cover_minor + cover,
            loans=credit_funding_positions.c.loans + 1, updated_at=tx.now))
    tx.conn.execute(insert(credit_funding_shares), rows)
    if requests:
        post(tx, requests)
        tx.conn.execute(insert(credit_funding_flows), flows)
    funders = [{"funder_id": r["funder_id"], "funded_minor": r["funded_minor"],
                "share_bps": r["share_bps"]} for r in rows]
    tx.emit("credit.loan.funded", "credit_account", account_id, {
        "arrangement_type": routed.arrangement.arrangement_type, "funders": funders})
    return {"account_id": account_id, "funders": funders}


def _share_row(account_id: str, funder_id: str, customer_id: str, currency: str,
               terms_version: int | None, rate_bps: int, guarantee_bps: int, funded: int,
               principal: int, tx: Tx) -> dict[str, Any]:
    return {"account_id": account_id, "funder_id": funder_id, "customer_id": customer_id,
            "currency": currency, "terms_version": terms_version,
            "share_bps": _share_bps(funded, principal), "rate_bps": rate_bps,
            "guarantee_bps": guarantee_bps, "funded_minor": funded, "outstanding_minor": funded,
            "accrual_num": 0, "accrued_through": tx.today, "income_paid_minor": 0,
            "written_off_minor": 0, "guaranteed_minor": 0, "loss_minor": 0,
            "recovered_minor": 0, "updated_at": tx.now}


def _flow(account_id: str, partner_id: str, currency: str, kind: str, amount: int,
          day: dt.date, seq: int | None, transfer_id: str | None, tx: Tx) -> dict[str, Any]:
    return {"account_id": account_id, "partner_id": partner_id, "currency": currency,
            "kind": kind, "amount_minor": amount, "business_date": day,
            "source_transfer_seq": seq, "transfer_id": transfer_id, "settlement_id": None,
            "created_at": tx.now}


def _ensure_cursor(tx: Tx) -> None:
    """Start following the journal here the first time a loan is funded: nothing before
    concerns a funded loan."""
    if tx.conn.execute(select(credit_funding_cursor.c.name).where(
            credit_funding_cursor.c.name == "ledger")).first() is not None:
        return
    # Two first fundings at once: the second's insert does nothing (no key conflict).
    tx.conn.execute(insert_new(tx, credit_funding_cursor, "name").values(
        name="ledger", last_seq=last_transfer_seq(tx.conn), updated_at=tx.now))


# ----------------------------------------------------------------------------- following
_FUNDER_FIELDS = ("funded_minor", "outstanding_minor", "rate_bps", "accrual_num",
                  "accrued_through", "income_paid_minor", "written_off_minor",
                  "guaranteed_minor", "loss_minor", "recovered_minor")


def _funder_of(row: Any) -> core.Funder:
    return core.Funder(row.funder_id, *(getattr(row, name) for name in _FUNDER_FIELDS))


def _funder_json(f: core.Funder) -> dict[str, Any]:
    return {"funder_id": f.funder_id, **{name: (getattr(f, name).isoformat()
                                                if isinstance(getattr(f, name), dt.date)
                                                else getattr(f, name))
                                         for name in _FUNDER_FIELDS}}


def _funder_from_json(d: Mapping[str, Any]) -> core.Funder:
    values = dict(d)
    if values.get("accrued_through"):
        values["accrued_through"] = dt.date.fromisoformat(values["accrued_through"])
    return core.Funder(**values)


@dataclass
class _Loan:
    account_id: str
    currency: str
    receivables: dict[int, str]  # ledger account id -> component
    funders: list[core.Funder]
    guarantee_bps: dict[str, int]
    snapshot: list[dict[str, Any]] | None
    changed: bool = False


@dataclass
class FollowResult:
    transfers: int = 0
    flows: int = 0
    loans: int = 0
    last_seq: int = 0


def follow_ledger(tx: Tx, *, pages_max: int = 1_000) -> FollowResult:
    """Split every credit flow of funded loans posted since the last call (see the module
    docstring), in the caller's transaction; returns what it did."""
    # The cursor row is locked (PostgreSQL; SQLite's writer lock serialises already): two
    # followers at once would otherwise both split the same transfers.
    query = select(credit_funding_cursor.c.last_seq).where(
        credit_funding_cursor.c.name == "ledger")
    if tx.conn.dialect.name == "postgresql":
        query = query.with_for_update()
    cursor = tx.conn.execute(query).scalar()
    result = FollowResult(last_seq=int(cursor or 0))
    if cursor is None:
        return result  # no loan was ever funded
    lookback = LOOKBACK_SEQS_POSTGRESQL if tx.conn.dialect.name == "postgresql" else 0
    seq = max(int(cursor) - lookback, 0)
    last = int(cursor)
    for _ in range(pages_max):
        page = transfers_after(tx.conn, seq, FOLLOWED_CODES, limit=PAGE_TRANSFERS)
        if not page:
            break
        seq = page[-1].seq
        last = max(last, seq)
        result.transfers += len(page)
        _follow_page(tx, page, result)
    tx.conn.execute(update(credit_funding_cursor).where(
        credit_funding_cursor.c.name == "ledger").values(last_seq=last, updated_at=tx.now))
    if lookback:
        # What falls out of the window is never read again: forget it.
        tx.conn.execute(credit_funding_followed.delete().where(
            credit_funding_followed.c.seq <= last - lookback))
    result.last_seq = last
    return result


def _load_loans(tx: Tx, account_ids: set[str]) -> dict[str, _Loan]:
    if not account_ids:
        return {}
    loans: dict[str, _Loan] = {}
    ids = sorted(account_ids)
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        for row in tx.conn.execute(select(
                credit_funding_loans.c.account_id, credit_funding_loans.c.currency,
                credit_funding_loans.c.write_off_snapshot, credit_accounts.c.principal_account_id,
                credit_accounts.c.interest_account_id, credit_accounts.c.fee_account_id,
                credit_accounts.c.penalty_account_id).join(
                credit_accounts, credit_accounts.c.account_id
                == credit_funding_loans.c.account_id).where(
                credit_funding_loans.c.account_id.in_(chunk),
                credit_funding_loans.c.arrangement_type != "own")):
            loans[row.account_id] = _Loan(
                row.account_id, row.currency,
                {int(row.principal_account_id): "principal",
                 int(row.interest_account_id): "interest", int(row.fee_account_id): "fee",
                 int(row.penalty_account_id): "penalty"}, [], {}, row.write_off_snapshot)
        shares = tx.conn.execute(select(credit_funding_shares).where(
            credit_funding_shares.c.account_id.in_(chunk))).all()
        by_account: dict[str, list[Any]] = defaultdict(list)
        for share in shares:
            by_account[share.account_id].append(share)
        for account_id, rows in by_account.items():
            loan = loans.get(account_id)
            if loan is None:
                continue
            rows.sort(key=lambda r: (r.funder_id == PLATFORM, r.funder_id))
            loan.funders = [_funder_of(r) for r in rows]
            loan.guarantee_bps = {r.funder_id: int(r.guarantee_bps) for r in rows}
    return loans


def _purchase_accounts(tx: Tx, purchase_ids: set[str]) -> dict[str, str]:
    if not purchase_ids:
        return {}
    return {row.purchase_id: row.account_id for row in tx.conn.execute(select(
        credit_purchases.c.purchase_id, credit_purchases.c.account_id).where(
        credit_purchases.c.purchase_id.in_(sorted(purchase_ids))))}


def _guarantee_left(tx: Tx, currency: str, partner_ids: Iterable[str]) -> dict[str, int]:
    c = credit_funding_positions.c
    return {row.partner_id: int(row.guarantee_cover_minor) - int(row.guarantee_paid_minor)
            for row in tx.conn.execute(select(c.partner_id, c.guarantee_cover_minor,
                                              c.guarantee_paid_minor).where(
                c.partner_id.in_(list(partner_ids)), c.currency == currency))}


def _follow_page(tx: Tx, page: Sequence[TailTransfer], result: FollowResult) -> None:
    refunds = {t.reference for t in page if t.code == "credit.refund" and t.reference}
    by_purchase = _purchase_accounts(tx, refunds)
    account_of = {t.seq: (by_purchase.get(t.reference or "") if t.code == "credit.refund"
                          else t.reference) for t in page}
    loans = _load_loans(tx, {a for a in account_of.values() if a})
    if not loans:
        return
    mine = [t.seq for t in page if (account_of[t.seq] or "") in loans]
    done = {int(row.seq) for row in tx.conn.execute(select(credit_funding_followed.c.seq)
                                                    .where(credit_funding_followed.c.seq
                                                           .in_(mine)))} if mine else set()
    if len(done) == len(mine):
        return
    tx.conn.execute(insert(credit_funding_followed),
                    [{"seq": seq} for seq in mine if seq not in done])
    requests: list[L.TransferRequest] = []
    flows: list[dict[str, Any]] = []
    platform_ids: dict[str, dict[str, int]] = {}
    accounts_of: dict[tuple[str, str], dict[str, int]] = {}
    for t in page:
        loan = loans.get(account_of[t.seq] or "")
        if loan is None or not loan.funders or t.seq in done:
            continue
        parts = _apply(tx, loan, t)
        if not parts:
            continue
        loan.changed = True
        if loan.currency not in platform_ids:
            platform_ids[loan.currency] = platform_ledger_accounts(tx, loan.currency)
        platform = platform_ids[loan.currency]
        day = t.created_at.date()
        for part in parts:
            if part.funder_id == PLATFORM or part.amount_minor == 0:
                continue
            key = (part.funder_id, loan.currency)
            if key not in accounts_of:
                accounts_of[key] = partner_accounts(tx, part.funder_id, loan.currency)
            debit, credit = _legs(part.kind, accounts_of[key], platform)
            transfer_id = f"funding:{t.seq}:{part.funder_id}:{part.kind}"
            requests.append(transfer(transfer_id, f"funding.partner_{part.kind}", debit,
                                     credit, part.amount_minor, loan.account_id))
            flows.append(_flow(loan.account_id, part.funder_id, loan.currency,
                               _flow_kind(t.code, part.kind), part.amount_minor, day, t.seq,
                               transfer_id, tx))
            if part.kind == "guarantee":
                _position_add(tx, part.funder_id, loan.currency, guarantee_paid=part.amount_minor)
            if part.kind == "gt_reversal":
                _position_add(tx, part.funder_id, loan.currency,
                              guarantee_paid=-part.amount_minor)
            delta = {"principal": -1, "write_off": -1, "guarantee": -1, "wo_reversal": 1,
                     "gt_reversal": 1}.get(part.kind)
            if delta:
                _position_add(tx, part.funder_id, loan.currency,
                              outstanding=delta * part.amount_minor)
    if requests:
        post(tx, requests)
        tx.conn.execute(insert(credit_funding_flows), flows)
        result.flows += len(flows)
    for loan in loans.values():
        if not loan.changed:
            continue
        result.loans += 1
        for f in loan.funders:
            tx.conn.execute(update(credit_funding_shares).where(
                credit_funding_shares.c.account_id == loan.account_id,
                credit_funding_shares.c.funder_id == f.funder_id).values(
                **{name: getattr(f, name) for name in _FUNDER_FIELDS if name != "rate_bps"
                   and name != "funded_minor"}, updated_at=tx.now))
        tx.conn.execute(update(credit_funding_loans).where(
            credit_funding_loans.c.account_id == loan.account_id).values(
            write_off_snapshot=loan.snapshot))


def _position_add(tx: Tx, partner_id: str, currency: str, *, outstanding: int = 0,
                  guarantee_paid: int = 0) -> None:
    c = credit_funding_positions.c
    tx.conn.execute(update(credit_funding_positions).where(
        c.partner_id == partner_id, c.currency == currency).values(
        outstanding_minor=c.outstanding_minor + outstanding,
        guarantee_paid_minor=c.guarantee_paid_minor + guarantee_paid, updated_at=tx.now))


def _flow_kind(code: str, part_kind: str) -> str:
    if part_kind == "principal":
        return {"credit.refund": "refund", "credit.withdrawal": "withdrawal"}.get(
            code, "principal")
    return part_kind


def _legs(kind: str, partner: Mapping[str, int], platform: Mapping[str, int]
          ) -> tuple[int, int]:
    """(debit, credit) of a partner's part of a flow (docs/partner-lending.md, "Ledger")."""
    return {
        "principal": (partner["principal"], partner["payable"]),
        "charges": (platform["partner_income_share"], partner["payable"]),
        "clawback": (partner["payable"], platform["partner_income_share"]),
        "write_off": (partner["principal"], platform["partner_loss_share"]),
        "guarantee": (partner["principal"], partner["payable"]),
        "recovery": (platform["partner_loss_share"], partner["payable"]),
        "wo_reversal": (platform["partner_loss_share"], partner["principal"]),
        "gt_reversal": (partner["payable"], partner["principal"]),
    }[kind]


def _apply(tx: Tx, loan: _Loan, t: TailTransfer) -> list[core.Part]:
    """Apply one journal transfer to a loan's funders; the parts to post (reversals post
    their own exact undo and return no parts)."""
    day = t.created_at.date()
    amount = t.amount_minor
    component = loan.receivables.get(t.credit_account_id) if t.code != \
        "credit.write_off_reversal" else loan.receivables.get(t.debit_account_id)
    funders = loan.funders
    parts: list[core.Part]
    if t.code in ("credit.repayment", "credit.withdrawal", "credit.refund"):
        if component == "principal":
            funders, parts = core.apply_principal(funders, amount, day)
        elif component in ("interest", "fee", "penalty"):
            funders, parts = core.apply_charges(funders, amount, day)
        else:
            return []
    elif t.code == "credit.withdrawal_refund":
        funders, parts = core.apply_clawback(funders, amount)
    elif t.code == "credit.write_off":
        if loan.snapshot is None:
            loan.snapshot = [_funder_json(f) for f in funders]
        if component == "principal":
            left = _guarantee_left(tx, loan.currency, [f.funder_id for f in funders
                                                       if not f.is_platform])
            left = {pid: value if loan.guarantee_bps.get(pid) else 0
                    for pid, value in left.items()}
            funders, parts = core.apply_write_off(funders, amount, 0, left, day)
        else:
            funders, parts = core.apply_write_off(funders, 0, amount, {}, day)
            parts = []
    elif t.code == "credit.write_off_reversal":
        if component != "principal" or loan.snapshot is None:
            return []  # the principal's reversal restores every funder from the snapshot
        before = [_funder_from_json(d) for d in loan.snapshot]
        before = [replace(b, accrued_through=f.accrued_through, accrual_num=f.accrual_num,
                          income_paid_minor=f.income_paid_minor)
                  for b, f in zip(before, funders, strict=True)]
        previous = funders
        funders, _ = core.apply_reversal(funders, before)
        loan.snapshot = None
        parts = _reversal_parts(previous, funders)
    elif t.code == "credit.recovery":
        funders, parts = core.apply_recovery(funders, amount)
    else:  # pragma: no cover - FOLLOWED_CODES only
        return []
    loan.funders = list(funders)
    return parts


def _reversal_parts(previous: Sequence[core.Funder], restored: Sequence[core.Funder]
                    ) -> list[core.Part]:
    """A reversal undoes each partner's write-off postings: its borne loss and what the
    guarantee paid go back onto its principal: ``wo_reversal`` (no cash) and ``gt_reversal``
    (the guarantee's payment taken back at the next settlement)."""
    parts = []
    for before, after in zip(previous, restored, strict=True):
        if before.is_platform:
            continue
        parts.append(core.Part(before.funder_id, "wo_reversal",
                               before.loss_minor - after.loss_minor))
        parts.append(core.Part(before.funder_id, "gt_reversal",
                               before.guaranteed_minor - after.guaranteed_minor))
    return parts


# ----------------------------------------------------------------------------- settlement
# How each flow kind moves the cash between the platform and the partner at settlement:
# +1 the platform owes it to the partner, -1 the partner owes it, 0 no cash (book only).
CASH_SIGN = {"fund": -1, "principal": 1, "refund": 1, "withdrawal": 1, "charges": 1,
             "clawback": -1, "guarantee": 1, "recovery": 1, "write_off": 0,
             "wo_reversal": 0, "gt_reversal": -1}


def _settlement_id(partner_id: str, currency: str, day: dt.date) -> str:
    return f"stl_{partner_id}_{currency}_{day.isoformat()}"


def settle(tx: Tx, day: dt.date, *, partner_id: str | None = None) -> list[dict[str, Any]]:
    """Settle every partner (or one) for business date ``day``: follow the journal first,
    then net each partner's unsettled flows dated on or before ``day`` into one settlement,
    posted (collections owed to the partner against the funding it owes; the rest through
    ``bank_settlement``). Idempotent: a partner settled for ``day`` is returned as it was."""
    if not isinstance(day, dt.date):
        raise ValidationError("must be a date", field="date")
    if day > tx.today:
        raise ValidationError(f"{day} is after the business date {tx.today}", field="date")
    follow_ledger(tx)
    f = credit_funding_flows.c
    query = select(f.partner_id, f.currency).where(f.settlement_id.is_(None),
                                                    f.business_date <= day).distinct()
    if partner_id is not None:
        P.get_partner(tx.conn, partner_id)
        query = query.where(f.partner_id == partner_id)
    pending = sorted({(row.partner_id, row.currency) for row in tx.conn.execute(query)})
    s = credit_funding_settlements.c
    done = select(credit_funding_settlements).where(s.business_date == day)
    if partner_id is not None:
        done = done.where(s.partner_id == partner_id)
    existing = {(row.partner_id, row.currency): row for row in tx.conn.execute(done)}
    out = [_settlement_view(row) for key, row in sorted(existing.items())]
    for pid, currency in pending:
        if (pid, currency) in existing:
            continue  # settled for this day already; later flows wait for the next day
        out.append(_settle_one(tx, pid, currency, day))
    return out


def _settle_one(tx: Tx, partner_id: str, currency: str, day: dt.date) -> dict[str, Any]:
    f = credit_funding_flows.c
    rows = tx.conn.execute(select(f.kind, func.sum(f.amount_minor).label("amount"),
                                  func.count().label("n")).where(
        f.partner_id == partner_id, f.currency == currency, f.settlement_id.is_(None),
        f.business_date <= day).group_by(f.kind)).all()
    by_kind = {row.kind: int(row.amount) for row in rows}
    count = sum(int(row.n) for row in rows)
    payable = sum(CASH_SIGN[k] * v for k, v in by_kind.items() if CASH_SIGN[k] and k != "fund")
    due = by_kind.get("fund", 0)
    settlement_id = _settlement_id(partner_id, currency, day)
    accounts = partner_accounts(tx, partner_id, currency)
    bank = platform_ledger_accounts(tx, currency)["bank_settlement"]
    requests = []
    netted = min(max(payable, 0), due)
    if netted:
        requests.append(transfer(f"{settlement_id}:net", "funding.settlement_net",
                                 accounts["payable"], accounts["funding_due"], netted,
                                 settlement_id))
    rest_payable, rest_due = payable - netted, due - netted
    if rest_payable > 0:
        requests.append(transfer(f"{settlement_id}:pay", "funding.settlement_paid",
                                 accounts["payable"], bank, rest_payable, settlement_id))
    elif rest_payable < 0:
        requests.append(transfer(f"{settlement_id}:owed", "funding.settlement_received",
                                 bank, accounts["payable"], -rest_payable, settlement_id))
    if rest_due > 0:
        requests.append(transfer(f"{settlement_id}:funding", "funding.settlement_received",
                                 bank, accounts["funding_due"], rest_due, settlement_id))
    if requests:
        post(tx, requests)
    row = {"settlement_id": settlement_id, "partner_id": partner_id, "currency": currency,
           "business_date": day, "funding_minor": due,
           "principal_minor": sum(by_kind.get(k, 0) for k in ("principal", "refund",
                                                                "withdrawal")),
           "income_minor": by_kind.get("charges", 0) - by_kind.get("clawback", 0),
           "guarantee_minor": by_kind.get("guarantee", 0) - by_kind.get("gt_reversal", 0),
           "recovery_minor": by_kind.get("recovery", 0),
           "reversal_minor": by_kind.get("wo_reversal", 0), "net_minor": payable - due,
           "flows": count, "created_at": tx.now}
    tx.conn.execute(insert(credit_funding_settlements).values(row))
    tx.conn.execute(update(credit_funding_flows).where(
        f.partner_id == partner_id, f.currency == currency, f.settlement_id.is_(None),
        f.business_date <= day).values(settlement_id=settlement_id))
    audit.append(tx, "system", "credit.funding", "funding.settled", "partner_lender",
                 partner_id, {k: (v.isoformat() if isinstance(v, dt.date | dt.datetime)
                                  else v) for k, v in row.items()})
    tx.emit("credit.partner.settled", "partner_lender", partner_id,
            {"settlement_id": settlement_id, "net_minor": row["net_minor"],
             "currency": currency, "business_date": day.isoformat()})
    return _settlement_view(row)


def _settlement_view(row: Any) -> dict[str, Any]:
    data = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    data.pop("created_at", None)
    data["business_date"] = data["business_date"].isoformat()
    return data


def settlement_lines(conn: Connection, partner_id: str, day: dt.date) -> list[dict[str, Any]]:
    """The flows settled for ``partner_id`` on ``day``, one line per flow: the settlement
    file's rows (docs/partner-lending.md, "Settlement files")."""
    f = credit_funding_flows.c
    rows = conn.execute(select(credit_funding_flows).where(
        f.partner_id == partner_id,
        f.settlement_id.like(f"stl_{partner_id}_%_{day.isoformat()}")).order_by(f.id)).all()
    return [{"settlement_id": r.settlement_id, "partner_id": r.partner_id,
             "account_id": r.account_id, "currency": r.currency, "kind": r.kind,
             "amount_minor": int(r.amount_minor), "cash_sign": CASH_SIGN[r.kind],
             "business_date": r.business_date.isoformat(), "transfer_id": r.transfer_id}
            for r in rows]


# ----------------------------------------------------------------------------- reconciliation
def reconcile(tx: Tx, day: dt.date | None = None) -> dict[str, Any]:
    """Every partner's cash flows against the ledger (after following the journal): its
    principal account equals the outstanding of its loan shares and its position; its
    payable and funding-due accounts equal its unsettled flows; every flow has its posting;
    no loan's funders hold more principal than the loan (or less than zero). ``day``: also
    check that the flows settled for that day add up to the settlements' totals."""
    follow_ledger(tx)
    differences: list[dict[str, Any]] = []
    partners = []
    s, f, pos = credit_funding_shares.c, credit_funding_flows.c, credit_funding_positions.c
    outstanding = {(r.funder_id, r.currency): int(r.total) for r in tx.conn.execute(
        select(s.funder_id, s.currency, func.sum(s.outstanding_minor).label("total")).where(
            s.funder_id != PLATFORM).group_by(s.funder_id, s.currency))}
    unsettled: defaultdict[tuple[str, str], int] = defaultdict(int)
    unsettled_due: defaultdict[tuple[str, str], int] = defaultdict(int)
    for r in tx.conn.execute(select(f.partner_id, f.currency, f.kind,
                                    func.sum(f.amount_minor).label("amount")).where(
            f.settlement_id.is_(None)).group_by(f.partner_id, f.currency, f.kind)):
        if r.kind == "fund":
            unsettled_due[(r.partner_id, r.currency)] += int(r.amount)
        else:
            unsettled[(r.partner_id, r.currency)] += CASH_SIGN[r.kind] * int(r.amount)
    positions = {(r.partner_id, r.currency): int(r.outstanding_minor)
                 for r in tx.conn.execute(select(pos.partner_id, pos.currency,
                                                 pos.outstanding_minor))}
    keys = sorted(set(outstanding) | set(positions) | set(unsettled) | set(unsettled_due))
    for partner_id, currency in keys:
        key = party_key("partner_principal", partner_id, currency)
        ledger = {}
        for role, (code, _) in ACCOUNT_CODES.items():
            try:
                ledger[role] = L.get_account_by_key(
                    tx.conn, party_key(code, partner_id, currency)).balance_minor
            except NotFoundError:
                ledger[role] = 0
        checks = {
            "principal": (ledger["principal"], outstanding.get((partner_id, currency), 0)),
            "position": (positions.get((partner_id, currency), 0),
                         outstanding.get((partner_id, currency), 0)),
            "payable": (ledger["payable"], unsettled.get((partner_id, currency), 0)),
            "funding_due": (ledger["funding_due"], unsettled_due.get((partner_id, currency), 0)),
        }
        for what, (book, expected) in checks.items():
            if book != expected:
                differences.append({"partner_id": partner_id, "currency": currency,
                                    "check": what, "ledger_minor": book,
                                    "expected_minor": expected})
        partners.append({"partner_id": partner_id, "currency": currency,
                         "outstanding_minor": outstanding.get((partner_id, currency), 0),
                         "unsettled_payable_minor": ledger["payable"],
                         "unsettled_funding_minor": ledger["funding_due"], "account": key})
    ids = [r.transfer_id for r in tx.conn.execute(select(f.transfer_id).where(
        f.transfer_id.is_not(None)))]
    posted = count_transfers(tx.conn, ids)
    if posted != len(ids):
        differences.append({"check": "flow_postings", "flows": len(ids), "posted": posted})
    over = tx.conn.execute(select(s.account_id, func.sum(s.outstanding_minor).label("funders"),
                                  credit_accounts.c.principal_unbilled_minor
                                  + credit_accounts.c.principal_billed_minor
                                  + credit_accounts.c.principal_past_due_minor).join(
        credit_accounts, credit_accounts.c.account_id == s.account_id).group_by(
        s.account_id, credit_accounts.c.principal_unbilled_minor,
        credit_accounts.c.principal_billed_minor,
        credit_accounts.c.principal_past_due_minor)).all()
    for account_id, funders, principal in over:
        if int(funders) != int(principal):
            differences.append({"check": "loan_principal", "account_id": account_id,
                                "funders_minor": int(funders), "loan_minor": int(principal)})
    if day is not None:
        st = credit_funding_settlements.c
        for row in tx.conn.execute(select(credit_funding_settlements).where(
                st.business_date == day)):
            lines = settlement_lines(tx.conn, row.partner_id, day)
            net = sum(line["cash_sign"] * line["amount_minor"] for line in lines
                      if line["currency"] == row.currency)
            if net != int(row.net_minor):
                differences.append({"check": "settlement", "settlement_id": row.settlement_id,
                                    "lines_net_minor": net, "net_minor": int(row.net_minor)})
    verify = L.verify_ledger(tx.conn)
    if not verify.ok:
        differences.append({"check": "ledger", "problems": list(verify.problems)[:10]})
    return {"ok": not differences, "differences": len(differences), "details": differences[:100],
            "partners": partners, "date": day.isoformat() if day else None}


# ----------------------------------------------------------------------------- reads
def partners_report(conn: Connection) -> dict[str, Any]:
    """Per partner: funded volume and loans, outstanding, income, losses, guarantee, and
    ``platform_share_min_bps`` (the smallest platform share of any joint loan it joined;
    None without joint loans). Call after :func:`follow_ledger` for today's figures."""
    s, f = credit_funding_shares.c, credit_funding_flows.c
    loans = credit_funding_loans.c
    shares = {r.funder_id: r for r in conn.execute(select(
        s.funder_id, func.count().label("loans"), func.sum(s.funded_minor).label("funded"),
        func.sum(s.outstanding_minor).label("outstanding"),
        func.sum(s.income_paid_minor).label("income"),
        func.sum(s.loss_minor).label("loss"),
        func.sum(s.guaranteed_minor).label("guaranteed"),
        func.sum(s.recovered_minor).label("recovered"),
        func.sum(s.written_off_minor).label("written_off")).where(
        s.funder_id != PLATFORM).group_by(s.funder_id))}
    minimum: dict[str, int] = {}
    for r in conn.execute(select(s.funder_id, loans.platform_minor, loans.principal_minor).join(
            credit_funding_loans, loans.account_id == s.account_id).where(
            s.funder_id != PLATFORM, loans.arrangement_type == "joint")):
        # Floored: the figure never shows a share above the one the loan has.
        share = int(r.platform_minor) * core.BPS // int(r.principal_minor)
        minimum[r.funder_id] = min(minimum.get(r.funder_id, core.BPS), share)
    facilitation = {r.funder_id: int(r.funded) for r in conn.execute(select(
        s.funder_id, func.sum(s.funded_minor).label("funded")).join(
        credit_funding_loans, loans.account_id == s.account_id).where(
        s.funder_id != PLATFORM, loans.arrangement_type == "facilitation").group_by(
        s.funder_id))}
    settled = {r.partner_id: int(r.net) for r in conn.execute(select(
        credit_funding_settlements.c.partner_id,
        func.sum(credit_funding_settlements.c.net_minor).label("net")).group_by(
        credit_funding_settlements.c.partner_id))}
    decisions = {(r.partner_id, r.outcome): int(r.n) for r in conn.execute(select(
        credit_funding_decisions.c.partner_id, credit_funding_decisions.c.outcome,
        func.count().label("n")).group_by(credit_funding_decisions.c.partner_id,
                                          credit_funding_decisions.c.outcome))}
    unsettled = {r.partner_id: int(r.n) for r in conn.execute(select(
        f.partner_id, func.count().label("n")).where(f.settlement_id.is_(None)).group_by(
        f.partner_id))}
    out = []
    for partner in P.list_partners(conn):
        pid = partner.partner_id
        row = shares.get(pid)
        funded = int(row.funded) if row else 0
        out.append({
            "partner_id": pid, "name": partner.name, "licence_type": partner.licence_type,
            "status": partner.status, "currency": partner.currency,
            "funding_rate_bps": partner.terms.funding_rate_bps,
            "service_fee_bps": partner.terms.service_fee_bps,
            "exposure_cap_minor": partner.terms.exposure_cap_minor,
            "loans": int(row.loans) if row else 0, "funded_minor": funded,
            "outstanding_minor": int(row.outstanding) if row else 0,
            "income_minor": int(row.income) if row else 0,
            "written_off_minor": int(row.written_off) if row else 0,
            "guarantee_paid_minor": int(row.guaranteed) if row else 0,
            "losses_minor": int(row.loss) if row else 0,
            "recovered_minor": int(row.recovered) if row else 0,
            "facilitation_funded_minor": facilitation.get(pid, 0),
            "joint_funded_minor": funded - facilitation.get(pid, 0),
            "platform_share_min_bps": int(minimum[pid]) if pid in minimum else None,
            "approved": decisions.get((pid, "approved"), 0),
            "declined": decisions.get((pid, "declined"), 0),
            "skipped": decisions.get((pid, "skipped"), 0),
            "settled_net_minor": settled.get(pid, 0),
            "unsettled_flows": unsettled.get(pid, 0)})
    return {"partners": out}


def _page(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ValidationError("must be 1..1000", field="limit")
    return limit


def partner_loans(conn: Connection, partner_id: str, *, after: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    """The loans ``partner_id`` funds (its share of each), by account id after ``after``."""
    s, loans = credit_funding_shares.c, credit_funding_loans.c
    query = select(s.account_id, s.currency, s.share_bps, s.rate_bps, s.guarantee_bps,
                   s.funded_minor, s.outstanding_minor, s.income_paid_minor,
                   s.written_off_minor, s.guaranteed_minor, s.recovered_minor,
                   loans.product_code, loans.product_version, loans.arrangement_type,
                   loans.principal_minor, loans.opened_on).join(
        credit_funding_loans, loans.account_id == s.account_id).where(
        s.funder_id == partner_id).order_by(s.account_id).limit(_page(limit))
    if after:
        query = query.where(s.account_id > after)
    return [{**dict(r._mapping), "opened_on": r.opened_on.isoformat()}
            for r in conn.execute(query)]


def partner_flows(conn: Connection, partner_id: str, *, after: int = 0, limit: int = 100,
                  since: dt.date | None = None) -> list[dict[str, Any]]:
    """The partner's cash flows in the order they happened (id after ``after``)."""
    f = credit_funding_flows.c
    query = select(f.id, f.account_id, f.currency, f.kind, f.amount_minor, f.business_date,
                   f.settlement_id).where(f.partner_id == partner_id,
                                          f.id > after).order_by(f.id).limit(_page(limit))
    if since is not None:
        query = query.where(f.business_date >= since)
    return [{**dict(r._mapping), "business_date": r.business_date.isoformat(),
             "cash_sign": CASH_SIGN[r.kind]} for r in conn.execute(query)]


def partner_settlements(conn: Connection, partner_id: str, *, limit: int = 100
                        ) -> list[dict[str, Any]]:
    """The partner's settlements, latest first."""
    st = credit_funding_settlements.c
    return [_settlement_view(r) for r in conn.execute(
        select(credit_funding_settlements).where(st.partner_id == partner_id).order_by(
            st.business_date.desc()).limit(_page(limit)))]


def loan_funders(conn: Connection, account_id: str) -> list[dict[str, Any]]:
    """A loan's funders and their positions (empty: the platform funds it alone)."""
    s = credit_funding_shares.c
    return [dict(r._mapping) | {"accrued_through": r.accrued_through.isoformat()
                                if r.accrued_through else None,
                                "updated_at": r.updated_at.isoformat()}
            for r in conn.execute(select(credit_funding_shares).where(
                s.account_id == account_id).order_by(s.funder_id == PLATFORM, s.funder_id))]


def funders_of_customer(conn: Connection, customer_id: str, *, platform_name: str
                        ) -> dict[str, list[dict[str, Any]]]:
    """Who lent each of the customer's partner-funded loans, by account id: ``[{"name",
    "partner_id" (None: the platform, named ``platform_name``), "share_bps"}]``, partners
    first (the consumer's right to know who lends to them). Loans the platform funds alone
    are absent. Two statements whatever the number of loans."""
    s, loans = credit_funding_shares.c, credit_funding_loans.c
    rows = conn.execute(select(s.account_id, s.funder_id, s.share_bps).join(
        credit_funding_loans, loans.account_id == s.account_id).where(
        loans.customer_id == customer_id).order_by(
        s.account_id, s.funder_id == PLATFORM, s.funder_id)).all()
    names = {pid: p.name for pid, p in P.get_partners(
        conn, {row.funder_id for row in rows if row.funder_id != PLATFORM}).items()}
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        platform = row.funder_id == PLATFORM
        out[row.account_id].append({
            "name": platform_name if platform else names.get(row.funder_id, row.funder_id),
            "partner_id": None if platform else row.funder_id,
            "share_bps": int(row.share_bps)})
    return dict(out)
