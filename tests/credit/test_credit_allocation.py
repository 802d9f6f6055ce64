import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.credit.allocation import (
    AllocationStrategy,
    Bucket,
    BucketStatus,
    Component,
    PrepaymentRule,
    WaterfallMode,
    allocate_payment,
    reschedule_after_prepayment,
    scale_pro_rata,
)
from creditpay.credit.schedule import amortisation_schedule, round_fraction
from creditpay.errors import ValidationError

D = dt.date


def _buckets():
    return [
        Bucket(3, D(2024, 4, 1), "due", 0, 100, 500, 9_000),
        Bucket(1, D(2024, 2, 1), "past_due", 300, 100, 600, 9_000),
        Bucket(2, D(2024, 3, 1), "past_due", 200, 100, 550, 9_000),
        Bucket(4, D(2024, 5, 1), "not_due", 0, 100, 400, 9_000),
        Bucket(5, D(2024, 6, 1), "not_due", 0, 100, 300, 9_000),
    ]


def test_default_waterfall_past_due_oldest_first_by_installment():
    result = allocate_payment(10_500, _buckets())
    by_number = {a.installment_number: a for a in result.allocations}
    assert by_number[1].total_minor == 10_000  # oldest past-due installment in full
    assert (by_number[2].penalty_minor, by_number[2].fee_minor, by_number[2].interest_minor,
            by_number[2].principal_minor) == (200, 100, 200, 0)
    assert by_number[3].total_minor == 0
    assert result.unallocated_minor == 0 and result.prepayment_principal_minor == 0
    assert result.steps[:4] == ((1, Component.PENALTY, 300), (1, Component.FEE, 100),
                                (1, Component.INTEREST, 600), (1, Component.PRINCIPAL, 9_000))


def test_by_component_pays_all_penalties_first():
    strategy = AllocationStrategy.from_config({"mode": "by_component"})
    result = allocate_payment(1_000, _buckets(), strategy)
    by_number = {a.installment_number: a for a in result.allocations}
    assert by_number[1].penalty_minor == 300 and by_number[2].penalty_minor == 200
    assert by_number[1].fee_minor == 100 and by_number[2].fee_minor == 100
    assert by_number[1].interest_minor == 300 and by_number[2].interest_minor == 0


def test_leftover_is_a_principal_prepayment_with_its_rule():
    owed = sum(b.penalty_minor + b.fee_minor + b.interest_minor + b.principal_minor
               for b in _buckets() if b.status is not BucketStatus.NOT_DUE)
    result = allocate_payment(owed + 5_000, _buckets())
    assert result.prepayment_principal_minor == 5_000
    assert result.prepayment_rule is PrepaymentRule.REDUCE_TERM
    capped = allocate_payment(owed + 50_000, _buckets(), AllocationStrategy.from_config(
        {"prepayment_rule": "reduce_installment"}))
    assert capped.prepayment_principal_minor == 18_000  # all not-due principal
    assert capped.prepayment_rule is PrepaymentRule.REDUCE_INSTALLMENT
    assert capped.unallocated_minor == 32_000
    none = allocate_payment(owed + 5_000, _buckets(), AllocationStrategy.from_config(
        {"prepayment_rule": None}))
    assert none.prepayment_principal_minor == 0 and none.unallocated_minor == 5_000


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"status_order": ["past_due", "late"]}, "status_order"),
        ({"status_order": []}, "status_order"),
        ({"component_order": ["fee", "interest", "principal"]}, "component_order"),
        ({"component_order": ["fee", "fee", "interest", "principal"]}, "component_order"),
        ({"mode": "sideways"}, "mode"),
        ({"oldest_first": "yes"}, "oldest_first"),
        ({"prepayment_rule": "skip"}, "prepayment_rule"),
        ({"colour": "red"}, "strategy"),
    ],
)
def test_bad_strategy_config_names_the_field(config, field):
    with pytest.raises(ValidationError) as info:
        AllocationStrategy.from_config(config)
    assert info.value.field == field


def test_bad_buckets_and_payment():
    with pytest.raises(ValidationError) as info:
        Bucket(1, D(2024, 1, 1), "due", interest_minor=-1)
    assert info.value.field == "interest_minor"
    with pytest.raises(ValidationError) as info:
        allocate_payment(-1, _buckets())
    assert info.value.field == "payment_minor"


bucket_strategy = st.builds(
    Bucket,
    installment_number=st.integers(1, 10**6),
    due_date=st.dates(D(2020, 1, 1), D(2030, 1, 1)),
    status=st.sampled_from(list(BucketStatus)),
    penalty_minor=st.integers(0, 10_000),
    fee_minor=st.integers(0, 10_000),
    interest_minor=st.integers(0, 10_000),
    principal_minor=st.integers(0, 100_000),
)
strategy_strategy = st.builds(
    AllocationStrategy,
    status_order=st.permutations(list(BucketStatus)).flatmap(
        lambda order: st.integers(1, 3).map(lambda n: tuple(order[:n]))),
    component_order=st.permutations(list(Component)).map(
        lambda order: dict.fromkeys(BucketStatus, tuple(order))),
    oldest_first=st.booleans(),
    mode=st.sampled_from(list(WaterfallMode)),
    prepayment_rule=st.sampled_from([None, *PrepaymentRule]),
)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 400_000),
       st.lists(bucket_strategy, max_size=8, unique_by=lambda b: b.installment_number),
       strategy_strategy)
def test_allocation_conserves_money_caps_components_and_keeps_order(payment, buckets, strategy):
    result = allocate_payment(payment, buckets, strategy)
    assert result.allocated_minor + result.prepayment_principal_minor + \
        result.unallocated_minor == payment
    assert min(result.prepayment_principal_minor, result.unallocated_minor) >= 0
    by_number = {b.installment_number: b for b in buckets}
    for allocation in result.allocations:
        bucket = by_number[allocation.installment_number]
        for component in Component:
            paid = getattr(allocation, f"{component.value}_minor")
            assert 0 <= paid <= bucket.owed(component)
        if bucket.status not in strategy.status_order:
            assert allocation.total_minor == 0
    # Order: the waterfall's (bucket, component) slots, in order, are paid in full up to
    # one partially paid slot, and nothing after it.
    slots = []
    for status in strategy.status_order:
        group = sorted((b for b in buckets if b.status is status),
                       key=lambda b: (b.due_date, b.installment_number),
                       reverse=not strategy.oldest_first)
        components = strategy.component_order[status]
        if strategy.mode is WaterfallMode.BY_INSTALLMENT:
            slots += [(b, c) for b in group for c in components]
        else:
            slots += [(b, c) for c in components for b in group]
    paid = {(a.installment_number, c): getattr(a, f"{c.value}_minor")
            for a in result.allocations for c in Component}
    short = False
    for bucket, component in slots:
        amount = paid[(bucket.installment_number, component)]
        if short:
            assert amount == 0
        elif amount < bucket.owed(component):
            short = True
    if short:
        assert result.prepayment_principal_minor == 0 and result.unallocated_minor == 0


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["equal_installment", "equal_principal", "flat", "interest_only"]),
       st.integers(100_000, 10**8), st.integers(0, 3600), st.integers(2, 24),
       st.sampled_from(["30/360", "ACT/365", "ACT/360"]), st.data())
def test_reschedule_after_prepayment(method, principal, rate_bp, periods, day_count, data):
    s = amortisation_schedule(principal, "CNY", Decimal(rate_bp) / 10_000, periods, method,
                              D(2024, 1, 31), day_count=day_count,
                              fee_rate_per_period=Decimal("0.001"))
    paid = data.draw(st.integers(0, periods - 1))
    balance = principal if paid == 0 else s.installments[paid - 1].balance_after_minor
    if balance < 2:
        return
    prepay = data.draw(st.integers(1, balance - 1))
    rate = Fraction(Decimal(rate_bp) / 10_000)
    for rule in PrepaymentRule:
        new = reschedule_after_prepayment(s, paid, prepay, rule)
        assert new.totals.principal_minor == balance - prepay
        assert new.installments[-1].balance_after_minor == 0
        old = s.installments[paid:]
        assert [i.due_date for i in new.installments] == \
            [i.due_date for i in old][:len(new.installments)]
        # Charges priced on the principal lent follow what is still lent: fees pro rata...
        assert [i.fee_minor for i in new.installments] == [
            scale_pro_rata(i.fee_minor, principal - prepay, principal)
            for i in old[:len(new.installments)]]
        # ...and a flat loan's interest on the principal lent less the principal prepaid.
        if method == "flat":
            assert [i.interest_minor for i in new.installments] == [
                round_fraction((principal - prepay) * rate * y)
                for y in new.period_year_fractions]
        keeps = rule is PrepaymentRule.REDUCE_TERM and method != "interest_only"
        if not keeps:
            if balance - prepay >= periods - paid:
                assert len(new.installments) == periods - paid
            else:  # less than a minor unit a period: it ends when the principal is repaid
                assert len(new.installments) <= periods - paid
                assert all(i.balance_after_minor > 0 for i in new.installments[:-1])
        elif method == "equal_installment":
            assert all(i.principal_minor + i.interest_minor == s.level_payment_minor
                       for i in new.installments[:-1])
        else:  # the principal part in force is kept; the last takes the residue
            level = s.level_principal_minor
            assert all(i.principal_minor == level for i in new.installments[:-1])
            if level:
                assert len(new.installments) == min(periods - paid,
                                                     -(-(balance - prepay) // level))
                if len(new.installments) < periods - paid:  # ended early: a part at most
                    assert 0 < new.installments[-1].principal_minor <= level


def test_reduce_term_keeps_the_principal_part():
    """Issue 13 item 10: the part of an equal-principal (or flat) loan is kept, the last
    installment takes the residue (the rebuilt schedule used to re-split the rest evenly,
    92,857 a month here)."""
    for method in ("equal_principal", "flat"):
        s = amortisation_schedule(1_200_000, "CNY", Decimal("0.12"), 12, method,
                                  D(2024, 1, 31), day_count="ACT/365")
        new = reschedule_after_prepayment(s, 3, 250_000, "reduce_term")
        assert [i.principal_minor for i in new.installments] == [100_000] * 6 + [50_000]
        assert new.level_principal_minor == 100_000
        if method == "flat":  # interest on 1,200,000 - 250,000 for 30 days (Apr 30-May 31)
            assert new.installments[0].interest_minor == round(950_000 * 0.12 * 31 / 365)


def test_reschedule_example_reduce_term_vs_reduce_installment():
    s = amortisation_schedule(1_200_000, "CNY", Decimal("0.12"), 12, "equal_installment",
                              D(2024, 1, 31))
    term = reschedule_after_prepayment(s, 3, 300_000, "reduce_term")
    installment = reschedule_after_prepayment(s, 3, 300_000, "reduce_installment")
    assert len(term.installments) == 6 and term.level_payment_minor == s.level_payment_minor
    assert len(installment.installments) == 9
    assert installment.level_payment_minor < s.level_payment_minor
    assert term.installments[0].due_date == D(2024, 5, 31)
    assert term.totals.interest_minor < installment.totals.interest_minor
    with pytest.raises(ValidationError) as info:
        reschedule_after_prepayment(s, 3, 10**9, "reduce_term")
    assert info.value.field == "prepayment_principal_minor"
    with pytest.raises(ValidationError) as info:
        reschedule_after_prepayment(s, 3, 1_000, "skip")
    assert info.value.field == "rule"
