"""Partner funding, the pure core: routing a loan to funders, and splitting every cash flow of
a funded loan between them. No I/O, no clock; amounts are integers in minor units, rates in
basis points. The service (:mod:`creditpay.credit.funding`) reads the state, calls these
functions and posts what they return.

A funded loan has one :class:`Funder` per funder: the platform (``PLATFORM``) and each partner
lender. Each flow of the loan is split so that the parts add up to the flow to the minor unit
(largest remainder, :func:`creditpay.money.allocate_minor`), and each part is within one minor
unit of the funder's exact share:

* **principal** (repaid, prepaid, refunded, withdrawn, written off) in proportion to each
  funder's *outstanding* principal just before the flow. The outstanding amounts are the
  shares as they stand (the parts of earlier flows were rounded), so a flow that clears the
  loan gives each funder exactly what it has outstanding, and no funder ever goes below zero;
* **charges** collected (interest, fees, penalty interest) in proportion to each funder's
  funded principal; a partner's part is capped at what it has earned at its own funding rate
  (simple interest, actual/365, on its outstanding principal) and not yet been paid: the
  platform keeps the rest as its service fee;
* **recoveries** after a write-off in proportion to each funder's unrecovered loss. A
  partner's loss on a write-off is first paid by the guarantee (first-loss cover, up to a
  percentage of the partner's funded principal), whose payer (the platform) then carries it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from creditpay.errors import ValidationError
from creditpay.money import allocate_minor

__all__ = [
    "PLATFORM", "BPS", "Arrangement", "ARRANGEMENT_TYPES", "FALLBACKS", "Funder", "Part", "Appetite",
    "PartnerOffer", "RoutingRules", "Candidate", "Skipped", "Placement", "rank_candidates",
    "place", "partner_part_minor",
    "split_principal", "split_charges", "split_recovery", "accrue", "earned_unpaid_minor",
    "apply_principal", "apply_charges", "apply_write_off", "apply_reversal",
    "apply_recovery", "apply_clawback", "ACCRUAL_DENOMINATOR", "SimulatedPolicy",
    "simulated_decision",
]

PLATFORM = "platform"
BPS = 10_000
YEAR_DAYS = 365
# Accrual numerators are in units of 1 / (BPS * YEAR_DAYS) of a minor unit: exact integers.
ACCRUAL_DENOMINATOR = BPS * YEAR_DAYS
ARRANGEMENT_TYPES = ("own", "joint", "facilitation")
FALLBACKS = ("own", "decline")


@dataclass(frozen=True, slots=True)
class Funder:
    """One funder's position in one loan. ``rate_bps``: the partner's funding rate (0 for the
    platform, which keeps the residue). ``accrual_num``: lifetime interest earned at that
    rate, exact (see ACCRUAL_DENOMINATOR); ``income_paid_minor``: charges passed to it."""

    funder_id: str
    funded_minor: int
    outstanding_minor: int
    rate_bps: int = 0
    accrual_num: int = 0
    accrued_through: dt.date | None = None
    income_paid_minor: int = 0
    written_off_minor: int = 0   # principal written off (the platform: every component)
    guaranteed_minor: int = 0    # of that, paid to the partner by the guarantee
    loss_minor: int = 0          # borne and not yet recovered
    recovered_minor: int = 0

    @property
    def is_platform(self) -> bool:
        return self.funder_id == PLATFORM


@dataclass(frozen=True, slots=True)
class Part:
    """One funder's part of one flow. ``kind``: principal | charges | write_off | guarantee |
    recovery | reversal | clawback."""

    funder_id: str
    kind: str
    amount_minor: int


def _check_amount(amount_minor: int, field_name: str = "amount_minor") -> None:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor < 0:
        raise ValidationError("must be a non-negative integer", field=field_name)


def split_principal(amount_minor: int, outstanding_minor: Sequence[int]) -> list[int]:
    """``amount_minor`` of principal split by the funders' outstanding principal. Each part is
    at most that funder's outstanding (the largest remainder adds at most one unit to a
    floor strictly below it), and a flow of the whole outstanding returns each exactly."""
    _check_amount(amount_minor)
    total = sum(outstanding_minor)
    if amount_minor > total:
        raise ValidationError(f"exceeds the {total} outstanding", field="amount_minor")
    if amount_minor == 0:
        return [0] * len(outstanding_minor)
    return allocate_minor(amount_minor, list(outstanding_minor))


def split_charges(amount_minor: int, funded_minor: Sequence[int], cap_minor: Sequence[int | None]
                  ) -> list[int]:
    """``amount_minor`` of charges split by funded principal, each capped at ``cap_minor``
    (None: no cap, the platform); what a cap holds back goes to the uncapped funders (in
    practice the platform alone: its fee). Sums to ``amount_minor``."""
    _check_amount(amount_minor)
    weights = list(funded_minor) if sum(funded_minor) else [1] * len(funded_minor)
    raw = allocate_minor(amount_minor, weights)
    parts = [raw[i] if cap is None else min(raw[i], max(cap, 0))
             for i, cap in enumerate(cap_minor)]
    left = amount_minor - sum(parts)
    if left:
        open_ = [i for i, cap in enumerate(cap_minor) if cap is None]
        if not open_:
            raise ValidationError("no uncapped funder takes the residue", field="funders")
        extra = allocate_minor(left, [weights[i] or 1 for i in open_])
        for i, more in zip(open_, extra, strict=True):
            parts[i] += more
    return parts


def split_recovery(amount_minor: int, loss_minor: Sequence[int]) -> list[int]:
    """A recovery split by each funder's unrecovered loss (never above it while the losses
    cover the amount; a recovery above every loss goes to the last funder, the platform)."""
    _check_amount(amount_minor)
    total = sum(loss_minor)
    if total == 0:
        parts = [0] * len(loss_minor)
        parts[-1] = amount_minor
        return parts
    covered = min(amount_minor, total)
    parts = allocate_minor(covered, list(loss_minor))
    parts[-1] += amount_minor - covered
    return parts


def accrue(funder: Funder, day: dt.date) -> Funder:
    """The funder with its interest accrued to ``day`` (simple, actual/365) on the
    principal outstanding since its last accrual."""
    if funder.accrued_through is None or day <= funder.accrued_through:
        return funder if funder.accrued_through is not None else replace(
            funder, accrued_through=day)
    days = (day - funder.accrued_through).days
    return replace(funder, accrual_num=funder.accrual_num
                   + funder.outstanding_minor * funder.rate_bps * days, accrued_through=day)


def earned_unpaid_minor(funder: Funder) -> int:
    """Interest earned at the funder's rate and not yet paid to it (floored)."""
    return max(funder.accrual_num // ACCRUAL_DENOMINATOR - funder.income_paid_minor, 0)


def _order(funders: Sequence[Funder]) -> None:
    if not funders or not funders[-1].is_platform or any(
            f.is_platform for f in funders[:-1]):
        raise ValidationError("the platform must be the last funder", field="funders")


def apply_principal(funders: Sequence[Funder], amount_minor: int, day: dt.date
                    ) -> tuple[list[Funder], list[Part]]:
    """Principal returned to the funders (repaid, prepaid, refunded, withdrawn)."""
    _order(funders)
    accrued = [accrue(f, day) for f in funders]
    parts = split_principal(amount_minor, [f.outstanding_minor for f in accrued])
    return ([replace(f, outstanding_minor=f.outstanding_minor - p)
             for f, p in zip(accrued, parts, strict=True)],
            [Part(f.funder_id, "principal", p) for f, p in zip(accrued, parts, strict=True)])


def apply_charges(funders: Sequence[Funder], amount_minor: int, day: dt.date
                  ) -> tuple[list[Funder], list[Part]]:
    """Charges collected: each partner gets its share, up to what it earned and was not
    paid; the platform the rest."""
    _order(funders)
    accrued = [accrue(f, day) for f in funders]
    caps: list[int | None] = [None if f.is_platform else earned_unpaid_minor(f)
                              for f in accrued]
    parts = split_charges(amount_minor, [f.funded_minor for f in accrued], caps)
    return ([replace(f, income_paid_minor=f.income_paid_minor + p)
             for f, p in zip(accrued, parts, strict=True)],
            [Part(f.funder_id, "charges", p) for f, p in zip(accrued, parts, strict=True)])


def apply_clawback(funders: Sequence[Funder], amount_minor: int
                   ) -> tuple[list[Funder], list[Part]]:
    """Charges refunded to the borrower (a withdrawal): taken back from the funders in the
    proportion they were paid, never more than a funder received."""
    _order(funders)
    paid = [f.income_paid_minor for f in funders]
    take = min(amount_minor, sum(paid))
    parts = allocate_minor(take, paid) if take else [0] * len(funders)
    parts[-1] += amount_minor - take
    return ([replace(f, income_paid_minor=f.income_paid_minor - p)
             for f, p in zip(funders, parts, strict=True)],
            [Part(f.funder_id, "clawback", p) for f, p in zip(funders, parts, strict=True)])


def apply_write_off(funders: Sequence[Funder], principal_minor: int, charges_minor: int,
                    guarantee_left_minor: Mapping[str, int], day: dt.date
                    ) -> tuple[list[Funder], list[Part]]:
    """A write-off of ``principal_minor`` principal and ``charges_minor`` charges. Each
    partner's principal part is its loss, paid first by the guarantee up to
    ``guarantee_left_minor[partner]``; the platform bears its part, the charges and what the
    guarantee paid. Parts: ``write_off`` (borne by the funder) and ``guarantee``."""
    _order(funders)
    _check_amount(charges_minor, "charges_minor")
    accrued = [accrue(f, day) for f in funders]
    shares = split_principal(principal_minor, [f.outstanding_minor for f in accrued])
    out: list[Funder] = []
    parts: list[Part] = []
    guaranteed_total = 0
    for f, share in zip(accrued, shares, strict=True):
        if f.is_platform:
            borne = share + charges_minor + guaranteed_total
            out.append(replace(f, outstanding_minor=f.outstanding_minor - share,
                               written_off_minor=f.written_off_minor + share + charges_minor,
                               loss_minor=f.loss_minor + borne))
            parts.append(Part(f.funder_id, "write_off", share))
            continue
        covered = min(share, max(guarantee_left_minor.get(f.funder_id, 0), 0))
        guaranteed_total += covered
        out.append(replace(f, outstanding_minor=f.outstanding_minor - share,
                           written_off_minor=f.written_off_minor + share,
                           guaranteed_minor=f.guaranteed_minor + covered,
                           loss_minor=f.loss_minor + share - covered))
        parts.append(Part(f.funder_id, "write_off", share - covered))
        parts.append(Part(f.funder_id, "guarantee", covered))
    return out, parts


def apply_reversal(funders: Sequence[Funder], before: Sequence[Funder]
                   ) -> tuple[list[Funder], list[Part]]:
    """Undo a write-off exactly: each funder back to its position ``before`` it (only
    possible while nothing was recovered). Parts carry what each partner gets back on its
    principal (``reversal``)."""
    _order(funders)
    out: list[Funder] = []
    parts: list[Part] = []
    for f, b in zip(funders, before, strict=True):
        if f.recovered_minor != b.recovered_minor:
            raise ValidationError("recoveries since the write-off", field="recovered_minor")
        out.append(replace(f, outstanding_minor=b.outstanding_minor,
                           written_off_minor=b.written_off_minor,
                           guaranteed_minor=b.guaranteed_minor, loss_minor=b.loss_minor))
        parts.append(Part(f.funder_id, "reversal", b.outstanding_minor - f.outstanding_minor))
    return out, parts


def apply_recovery(funders: Sequence[Funder], amount_minor: int
                   ) -> tuple[list[Funder], list[Part]]:
    """A recovery after write-off, by each funder's unrecovered loss (the guarantee's payer,
    the platform, carries what it paid)."""
    _order(funders)
    parts = split_recovery(amount_minor, [f.loss_minor for f in funders])
    return ([replace(f, loss_minor=max(f.loss_minor - p, 0),
                     recovered_minor=f.recovered_minor + p)
             for f, p in zip(funders, parts, strict=True)],
            [Part(f.funder_id, "recovery", p) for f, p in zip(funders, parts, strict=True)])


# ----------------------------------------------------------------------------- routing
@dataclass(frozen=True, slots=True)
class Arrangement:
    """A product version's funding arrangement (versioned data; the catalogue carries the
    one in force: :meth:`creditpay.credit.products.Catalogue.arrangement`)."""

    id: int
    product_code: str
    product_version: int
    version: int
    arrangement_type: str
    partners: tuple[tuple[str, int | None], ...]  # (partner id, fixed share bps or None)
    platform_share_bps: int
    guarantee_bps: int
    fallback: str

    def view(self) -> dict[str, Any]:
        return {"arrangement_id": self.id, "product_code": self.product_code,
                "product_version": self.product_version, "version": self.version,
                "arrangement_type": self.arrangement_type,
                "partners": [{"partner_id": p, "share_bps": s} for p, s in self.partners],
                "platform_share_bps": self.platform_share_bps,
                "guarantee_bps": self.guarantee_bps, "fallback": self.fallback}


@dataclass(frozen=True, slots=True)
class Appetite:
    """What a partner funds: grades (empty: any), the highest PD, products (empty: any)."""

    grades: tuple[str, ...] = ()
    max_pd: Decimal = Decimal(1)
    products: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PartnerOffer:
    """A partner as routing sees it: its price and appetite, and the room left under its
    limits for this borrower (minor units)."""

    partner_id: str
    funding_rate_bps: int
    appetite: Appetite
    exposure_left_minor: int       # its total exposure cap less its outstanding
    borrower_left_minor: int       # its per-borrower cap less this borrower's outstanding


@dataclass(frozen=True, slots=True)
class RoutingRules:
    """The arrangement and the jurisdiction's rules that bind one routing."""

    arrangement_type: str                 # own | joint | facilitation
    platform_share_bps: int               # joint: the platform's share (>= the minimum)
    platform_share_min_bps: int           # the jurisdiction's minimum for joint loans
    fallback: str                         # own | decline


@dataclass(frozen=True, slots=True)
class Candidate:
    partner_id: str
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Skipped:
    partner_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Placement:
    """Who funds how much: partners' amounts and the platform's (sums to the principal)."""

    partners: tuple[Candidate, ...]
    platform_minor: int
    skipped: tuple[Skipped, ...] = field(default=())


def rank_candidates(offers: Sequence[PartnerOffer], *, product_code: str, grade: str | None,
                    pd: Decimal | None) -> tuple[list[PartnerOffer], list[Skipped]]:
    """The partners whose appetite takes this loan, cheapest first (then most room, then
    id), and those skipped with the reason."""
    eligible: list[PartnerOffer] = []
    skipped: list[Skipped] = []
    for offer in offers:
        app = offer.appetite
        if app.products and product_code not in app.products:
            skipped.append(Skipped(offer.partner_id, "product_outside_appetite"))
        elif app.grades and (grade is None or grade not in app.grades):
            skipped.append(Skipped(offer.partner_id, "grade_outside_appetite"))
        elif pd is None or pd > app.max_pd:
            skipped.append(Skipped(offer.partner_id, "pd_above_appetite"))
        elif min(offer.exposure_left_minor, offer.borrower_left_minor) <= 0:
            skipped.append(Skipped(offer.partner_id, "limit_reached"))
        else:
            eligible.append(offer)
    eligible.sort(key=lambda o: (o.funding_rate_bps,
                                 -min(o.exposure_left_minor, o.borrower_left_minor),
                                 o.partner_id))
    return eligible, skipped


def partner_part_minor(principal_minor: int, rules: RoutingRules) -> int:
    """What the partners fund of a loan: all of it (facilitation), the share beyond the
    platform's (joint: floored, so the platform's share is never under its own), none (own)."""
    if rules.arrangement_type == "facilitation":
        return principal_minor
    if rules.arrangement_type == "joint":
        return principal_minor * (BPS - rules.platform_share_bps) // BPS
    return 0


def place(principal_minor: int, rules: RoutingRules, eligible: Sequence[PartnerOffer],
          declined: frozenset[str] = frozenset(), *,
          together_minor: int | None = None) -> Placement | None:
    """Place the partners' part of a loan along the waterfall (cheapest first, each up to
    its room), skipping those in ``declined``; ``together_minor``: the most all the
    partners of this loan may fund together (the borrower-wide room; None: no such limit).
    None when the partners' part cannot be placed whole and the arrangement's fallback is
    ``decline``; with fallback ``own`` the platform funds what no partner took."""
    _check_amount(principal_minor, "principal_minor")
    wanted = partner_part_minor(principal_minor, rules)
    left = wanted if together_minor is None else min(wanted, max(together_minor, 0))
    if left < wanted and rules.fallback == "decline":
        return None
    chosen: list[Candidate] = []
    for offer in eligible:
        if left == 0:
            break
        if offer.partner_id in declined:
            continue
        take = min(left, offer.exposure_left_minor, offer.borrower_left_minor)
        if take > 0:
            chosen.append(Candidate(offer.partner_id, take))
            left -= take
    if left and rules.fallback == "decline":
        return None
    return Placement(tuple(chosen), principal_minor - sum(c.amount_minor for c in chosen))


# ----------------------------------------------------------------------------- simulated partner
@dataclass(frozen=True, slots=True)
class SimulatedPolicy:
    """A simulated partner's own credit policy (its adapter's rules, not the platform's)."""

    max_pd: Decimal = Decimal("0.08")
    grades: tuple[str, ...] = ()
    kyc_required: bool = True
    min_payments_count_90d: int = 0
    max_amount_minor: int = 20_000_000


def simulated_decision(policy: SimulatedPolicy, *, amount_minor: int, grade: str | None,
                       pd: Decimal | None, shared: Mapping[str, object]
                       ) -> tuple[bool, tuple[str, ...]]:
    """A simulated partner's answer from only what it was given: approve, or decline with
    every reason that applies."""
    reasons: list[str] = []
    if pd is None or pd > policy.max_pd:
        reasons.append("pd_above_partner_policy")
    if policy.grades and grade not in policy.grades:
        reasons.append("grade_outside_partner_policy")
    if amount_minor > policy.max_amount_minor:
        reasons.append("amount_above_partner_policy")
    if policy.kyc_required and shared.get("kyc_verified") is not True:
        reasons.append("identity_not_verified")
    count = shared.get("payments_count_90d")
    if policy.min_payments_count_90d and (not isinstance(count, int)
                                          or count < policy.min_payments_count_90d):
        reasons.append("payment_history_too_short")
    return (not reasons, tuple(reasons))
