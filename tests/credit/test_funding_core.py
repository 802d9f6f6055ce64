"""Properties of the partner-funding pure core (issue #17, credit/funding_core.py): for any
funders, shares and sequence of flows, every flow's parts add up to the flow to the minor
unit, each principal part is within one minor unit of its exact share, nothing goes below
zero, a flow that clears the loan returns each funder exactly its outstanding, and a
partner is never paid charges above what it earned at its own rate; routing never gives a
partner more than its room, keeps the platform's joint share, and respects appetite; the
simulated partner declines with every reason that applies.

The tests keep their own model of the interest each partner earned (a running sum of
outstanding x rate x days, in 1 / (10,000 x 365) of a minor unit), independent of the core's
accrual fields."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.credit import funding_core as core
from creditpay.credit.funding_core import BPS, PLATFORM, Funder

START = dt.date(2025, 3, 1)
GRADES = ("A", "B", "C", "D", "E")
PRODUCTS = ("jiebei", "baitiao", "flat_loan")
PD = st.integers(0, 1000).map(lambda m: Decimal(m) / 1000)


@st.composite
def funders(draw: st.DrawFn) -> list[Funder]:
    """1..4 partners and the platform (last, as the core requires). The platform's part
    may be zero (facilitation)."""
    partners = draw(st.integers(1, 4))
    out = [Funder(f"ptn_{i}", amount, amount, rate_bps=draw(st.integers(0, 3_600)),
                  accrued_through=START)
           for i, amount in enumerate(draw(st.lists(st.integers(1, 20_000_000),
                                                    min_size=partners, max_size=partners)))]
    platform = draw(st.integers(0, 20_000_000))
    return [*out, Funder(PLATFORM, platform, platform, accrued_through=START)]


FLOW = st.one_of(
    # Principal returned (repayment, prepayment, refund, withdrawal): per mille of what is
    # outstanding; 1000 clears the loan.
    st.tuples(st.just("principal"), st.integers(1, 1000)),
    st.tuples(st.just("clear"), st.just(0)),
    st.tuples(st.just("days"), st.integers(1, 400)),
    st.tuples(st.just("charges"), st.integers(0, 5_000_000)),
    st.tuples(st.just("clawback"), st.integers(1, 1000)),  # per mille of charges paid
)
AFTER_WRITE_OFF = st.one_of(
    st.tuples(st.just("recovery"), st.integers(0, 30_000_000)),
    st.tuples(st.just("days"), st.integers(1, 400)),
)


def _within_one_unit(parts: list[int], amount: int, weights: list[int]) -> None:
    """Each part within one minor unit of amount x weight / total weight (exactly: the
    scaled difference is under one total weight)."""
    total = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part * total - amount * weight) < total, (parts, amount, weights)


def _non_negative(state: list[Funder]) -> None:
    for f in state:
        for name in ("outstanding_minor", "income_paid_minor", "written_off_minor",
                     "guaranteed_minor", "loss_minor", "recovered_minor", "accrual_num"):
            assert getattr(f, name) >= 0, (f.funder_id, name, getattr(f, name))


@dataclass
class _Earned:
    """The test's own model of each funder's lifetime interest at its rate."""

    num: dict[str, int]
    day: dt.date

    def advance(self, state: list[Funder], day: dt.date) -> None:
        days = (day - self.day).days
        for f in state:
            self.num[f.funder_id] += f.outstanding_minor * f.rate_bps * days
        self.day = day


@settings(max_examples=300, deadline=None)
@given(funders(), st.lists(FLOW, max_size=25), st.booleans(),
       st.integers(0, BPS), st.integers(0, 3_000_000), st.lists(AFTER_WRITE_OFF, max_size=8))
def test_every_flow_splits_exactly(start: list[Funder], flows: list[tuple[str, int]],
                                   write_off: bool, guarantee_bps: int, charges_written_off: int,
                                   after: list[tuple[str, int]]) -> None:
    state = list(start)
    day = START
    earned = _Earned({f.funder_id: 0 for f in state}, START)
    for kind, value in flows:
        outstanding = [f.outstanding_minor for f in state]
        total = sum(outstanding)
        if kind == "days":
            day += dt.timedelta(days=value)
            continue
        if kind in ("principal", "clear"):
            amount = total if kind == "clear" else total * value // 1000
            earned.advance(state, day)
            state, parts = core.apply_principal(state, amount, day)
            amounts = [p.amount_minor for p in parts]
            assert sum(amounts) == amount
            if total:
                _within_one_unit(amounts, amount, outstanding)
            for before, part in zip(outstanding, amounts, strict=True):
                assert part <= before
            if amount == total:  # clears the loan: each funder gets exactly its outstanding
                assert amounts == outstanding
                assert all(f.outstanding_minor == 0 for f in state)
        elif kind == "charges":
            earned.advance(state, day)
            unpaid = {f.funder_id: earned.num[f.funder_id] // core.ACCRUAL_DENOMINATOR
                      - f.income_paid_minor for f in state}
            state, parts = core.apply_charges(state, value, day)
            assert sum(p.amount_minor for p in parts) == value
            for part in parts:
                if part.funder_id != PLATFORM:
                    assert part.amount_minor <= max(unpaid[part.funder_id], 0), (
                        part, unpaid)
        else:  # clawback of charges refunded to the borrower, at most what was paid
            paid = [f.income_paid_minor for f in state]
            amount = sum(paid) * value // 1000
            state, parts = core.apply_clawback(state, amount)
            amounts = [p.amount_minor for p in parts]
            assert sum(amounts) == amount
            assert all(a <= p for a, p in zip(amounts, paid, strict=True))
        _non_negative(state)
        # Never paid above what it earned at its own rate (the test's model, not the core's).
        for f in state:
            if f.funder_id != PLATFORM:
                assert f.income_paid_minor * core.ACCRUAL_DENOMINATOR <= \
                    earned.num[f.funder_id], f
    if not write_off:
        return
    earned.advance(state, day)
    guarantee_left = {f.funder_id: f.funded_minor * guarantee_bps // BPS for f in state
                      if f.funder_id != PLATFORM}
    outstanding = [f.outstanding_minor for f in state]
    principal = sum(outstanding)
    before = state
    state, parts = core.apply_write_off(state, principal, charges_written_off,
                                        guarantee_left, day)
    by_funder: dict[str, dict[str, int]] = {}
    for part in parts:
        by_funder.setdefault(part.funder_id, {})[part.kind] = part.amount_minor
    # The write-off clears the loan: each funder loses exactly its outstanding, a partner's
    # first paid by the guarantee up to what is left of its cover.
    assert sum(p.amount_minor for p in parts) == principal
    guaranteed = 0
    for f, b, out in zip(state, before, outstanding, strict=True):
        got = by_funder[f.funder_id]
        assert got.get("write_off", 0) + got.get("guarantee", 0) == out
        assert f.outstanding_minor == 0
        if f.funder_id != PLATFORM:
            assert got["guarantee"] == min(out, guarantee_left[f.funder_id])
            assert f.loss_minor - b.loss_minor == out - got["guarantee"]
            guaranteed += got["guarantee"]
        else:
            # The platform bears its own part, the charges and what the guarantee paid.
            assert f.loss_minor - b.loss_minor == out + charges_written_off + guaranteed
    _non_negative(state)
    for kind, value in after:
        if kind == "days":
            day += dt.timedelta(days=value)
            continue
        losses = [f.loss_minor for f in state]
        state, parts = core.apply_recovery(state, value)
        amounts = [p.amount_minor for p in parts]
        assert sum(amounts) == value
        covered = min(value, sum(losses))
        if sum(losses):
            # Within the losses, each part within one unit of its share of the loss, and
            # never above it; only the platform takes what exceeds every loss.
            exact = [a if i < len(amounts) - 1 else a - (value - covered)
                     for i, a in enumerate(amounts)]
            _within_one_unit(exact, covered, losses)
            assert all(e <= loss for e, loss in zip(exact, losses, strict=True))
        else:
            assert amounts[:-1] == [0] * (len(amounts) - 1)
        _non_negative(state)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=6), st.integers(0, 1000))
def test_split_principal_exact_and_bounded(outstanding: list[int], per_mille: int) -> None:
    total = sum(outstanding)
    amount = total * per_mille // 1000
    parts = core.split_principal(amount, outstanding)
    assert sum(parts) == amount
    assert all(0 <= p <= o for p, o in zip(parts, outstanding, strict=True))
    if total:
        _within_one_unit(parts, amount, outstanding)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**8), min_size=1, max_size=5),
       st.lists(st.one_of(st.none(), st.integers(0, 10**8)), min_size=5, max_size=5))
def test_split_charges_respects_caps(amount: int, funded: list[int],
                                     caps: list[int | None]) -> None:
    caps = [*caps[:len(funded) - 1], None]  # the platform (last) is uncapped
    parts = core.split_charges(amount, funded, caps)
    assert sum(parts) == amount and all(p >= 0 for p in parts)
    for part, cap in zip(parts, caps, strict=True):
        if cap is not None:
            assert part <= cap


# ----------------------------------------------------------------------------- routing
@st.composite
def offers(draw: st.DrawFn) -> list[core.PartnerOffer]:
    out = []
    for i in range(draw(st.integers(0, 5))):
        out.append(core.PartnerOffer(
            f"ptn_{i}", draw(st.integers(0, 3_600)),
            core.Appetite(tuple(draw(st.sets(st.sampled_from(GRADES)))), draw(PD),
                          tuple(draw(st.sets(st.sampled_from(PRODUCTS))))),
            draw(st.integers(-1_000, 5_000_000)), draw(st.integers(-1_000, 5_000_000))))
    return out


RULES = st.builds(
    lambda kind, share, minimum, fallback: core.RoutingRules(
        kind, 0 if kind == "facilitation" else max(share, minimum), minimum, fallback),
    st.sampled_from(core.ARRANGEMENT_TYPES), st.integers(0, BPS - 1),
    st.integers(0, BPS - 1), st.sampled_from(core.FALLBACKS))


@settings(max_examples=400, deadline=None)
@given(offers(), st.sampled_from(PRODUCTS), st.one_of(st.none(), st.sampled_from(GRADES)),
       st.one_of(st.none(), PD))
def test_rank_candidates_respects_appetite(all_offers: list[core.PartnerOffer], product: str,
                                           grade: str | None, pd: Decimal | None) -> None:
    eligible, skipped = core.rank_candidates(all_offers, product_code=product, grade=grade,
                                             pd=pd)
    assert sorted([o.partner_id for o in eligible] + [s.partner_id for s in skipped]) == \
        sorted(o.partner_id for o in all_offers)
    for offer in eligible:
        app = offer.appetite
        assert not app.products or product in app.products
        assert not app.grades or grade in app.grades
        assert pd is not None and pd <= app.max_pd
        assert min(offer.exposure_left_minor, offer.borrower_left_minor) > 0
    by_id = {o.partner_id: o for o in all_offers}
    for skip in skipped:
        app = by_id[skip.partner_id].appetite
        offer = by_id[skip.partner_id]
        assert {
            "product_outside_appetite": bool(app.products) and product not in app.products,
            "grade_outside_appetite": bool(app.grades) and grade not in app.grades,
            "pd_above_appetite": pd is None or pd > app.max_pd,
            "limit_reached": min(offer.exposure_left_minor, offer.borrower_left_minor) <= 0,
        }[skip.reason], skip
    rates = [o.funding_rate_bps for o in eligible]
    assert rates == sorted(rates)  # cheapest first


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 20_000_000), RULES, offers(), st.data())
def test_place_within_room_and_platform_share(principal: int, rules: core.RoutingRules,
                                              all_offers: list[core.PartnerOffer],
                                              data: st.DataObject) -> None:
    eligible, _ = core.rank_candidates(all_offers, product_code="jiebei", grade=None,
                                       pd=Decimal(0))
    declined = frozenset(data.draw(st.sets(st.sampled_from(
        [o.partner_id for o in eligible]))) if eligible else set())
    placement = core.place(principal, rules, eligible, declined)
    wanted = core.partner_part_minor(principal, rules)
    rooms = {o.partner_id: min(o.exposure_left_minor, o.borrower_left_minor)
             for o in eligible if o.partner_id not in declined}
    if placement is None:
        # Refused only when the partners' part cannot be placed and the product declines.
        assert rules.fallback == "decline" and sum(max(r, 0) for r in rooms.values()) < wanted
        return
    placed = [c.amount_minor for c in placement.partners]
    assert placement.platform_minor + sum(placed) == principal
    assert sum(placed) <= wanted
    assert len({c.partner_id for c in placement.partners}) == len(placement.partners)
    for candidate in placement.partners:
        assert candidate.partner_id in rooms  # eligible and not declined
        assert 0 < candidate.amount_minor <= rooms[candidate.partner_id]
    if rules.arrangement_type == "joint":
        assert placement.platform_minor * BPS >= rules.platform_share_bps * principal
        assert rules.platform_share_bps >= rules.platform_share_min_bps
    if rules.arrangement_type == "own":
        assert placement.partners == ()
    if rules.fallback == "decline":
        assert sum(placed) == wanted  # whole, or refused


# ----------------------------------------------------------------------------- simulated partner
@settings(max_examples=400, deadline=None)
@given(PD, st.sets(st.sampled_from(GRADES)), st.booleans(), st.integers(0, 50),
       st.integers(0, 5_000_000), st.integers(0, 10_000_000),
       st.one_of(st.none(), st.sampled_from(GRADES)), st.one_of(st.none(), PD),
       st.one_of(st.none(), st.booleans(), st.just("yes")),
       st.one_of(st.none(), st.integers(0, 60), st.just("12")))
def test_simulated_partner_declines_with_every_reason(
        max_pd: Decimal, grades: set[str], kyc_required: bool, min_payments: int,
        max_amount: int, amount: int, grade: str | None, pd: Decimal | None,
        kyc: object, payments: object) -> None:
    policy = core.SimulatedPolicy(max_pd=max_pd, grades=tuple(sorted(grades)),
                                  kyc_required=kyc_required,
                                  min_payments_count_90d=min_payments,
                                  max_amount_minor=max_amount)
    shared = {k: v for k, v in (("kyc_verified", kyc), ("payments_count_90d", payments))
              if v is not None}
    approved, reasons = core.simulated_decision(policy, amount_minor=amount, grade=grade,
                                                pd=pd, shared=shared)
    expected = {
        "pd_above_partner_policy": pd is None or pd > max_pd,
        "grade_outside_partner_policy": bool(grades) and grade not in grades,
        "amount_above_partner_policy": amount > max_amount,
        "identity_not_verified": kyc_required and kyc is not True,
        "payment_history_too_short": min_payments > 0 and not (
            isinstance(payments, int) and not isinstance(payments, bool)
            and payments >= min_payments),
    }
    assert set(reasons) == {reason for reason, applies in expected.items() if applies}
    assert len(reasons) == len(set(reasons))
    assert approved == (not reasons)
