"""The line's disputed-bucket arithmetic (credit.pause_core.hold_on_line, issue #20), pure:
what a hold takes, from where, and what it does to each statement's minimum."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.credit.pause_core import LineItem, hold_on_line

MICRO = 1_000_000


@st.composite
def line_items(draw: st.DrawFn) -> list[LineItem]:
    count = draw(st.integers(0, 5))
    numbers = draw(st.lists(st.integers(1, 40), min_size=count, max_size=count, unique=True))
    found = []
    for number in numbers:
        principal = draw(st.integers(0, 500_000))
        charges = draw(st.integers(0, 5_000))
        paid = draw(st.integers(0, 200_000))
        minimum = draw(st.integers(0, paid + principal + charges))
        found.append(LineItem(number, principal, minimum, paid, charges))
    return found


def _half_up_share(amount: int, rate: int) -> int:
    return (2 * amount * rate + MICRO) // (2 * MICRO)


@settings(max_examples=300, deadline=None)
@given(amount=st.integers(0, 1_500_000), unbilled=st.integers(0, 800_000), items=line_items(),
       revolve=st.booleans(), rate=st.sampled_from([0, 50_000, 100_000, 333_333, MICRO]))
def test_a_hold_takes_what_a_refund_would_take_and_lowers_minimums_by_its_share(
        amount, unbilled, items, revolve, rate):
    hold = hold_on_line(amount, unbilled, items, revolve=revolve, minimum_rate_micro=rate)
    owed = unbilled + sum(i.principal_due_minor for i in items)
    # Held: the amount disputed, at most what the line owes in principal; parts add up.
    assert hold.held_minor == min(amount, owed)
    assert hold.from_unbilled_minor == min(amount, unbilled)
    assert hold.from_unbilled_minor + sum(cut for _, cut, _ in hold.cuts) == hold.held_minor
    by_number = {i.number: i for i in items}
    cut_of = {number: cut for number, cut, _ in hold.cuts}
    # Principal not on a statement first, then the statements newest first: a statement
    # is cut only when everything newer was taken whole.
    if hold.cuts:
        assert hold.from_unbilled_minor == unbilled
    for number, cut, _ in hold.cuts:
        assert 0 < cut <= by_number[number].principal_due_minor
        newer = [i for i in items if i.number > number and i.principal_due_minor > 0]
        assert all(cut_of.get(i.number) == i.principal_due_minor for i in newer)
    for number, cut, minimum in hold.cuts:
        item = by_number[number]
        # Never raised, never negative, never above what the statement still owes.
        assert 0 <= minimum <= item.minimum_minor
        assert minimum <= item.paid_total_minor + item.principal_due_minor - cut \
            + item.charges_due_minor
        capped = min(item.minimum_minor, item.paid_total_minor + item.principal_due_minor
                     - cut + item.charges_due_minor)
        if revolve:
            principal_part = max(0, item.minimum_minor - item.paid_total_minor
                                 - item.charges_due_minor)
            expected = item.minimum_minor - min(_half_up_share(cut, rate), principal_part)
            # Only the minimum's principal part goes, by the disputed amount's share: the
            # interest, fees and past payments in it stay.
            assert minimum == max(0, min(expected, capped))
        else:
            assert minimum == max(0, min(item.minimum_minor - cut, capped))


@given(items=line_items(), unbilled=st.integers(0, 800_000))
def test_holding_nothing_takes_nothing(items, unbilled):
    hold = hold_on_line(0, unbilled, items, revolve=True, minimum_rate_micro=100_000)
    assert (hold.held_minor, hold.from_unbilled_minor, hold.cuts) == (0, 0, ())


def test_the_revolving_share_of_a_statement_cut():
    """A statement of 150,000 (minimum 15,000, nothing paid) with 50,000 disputed: its
    minimum is 10,000, the minimum of the 100,000 left."""
    item = LineItem(1, 150_000, 15_000, 0, 0)
    hold = hold_on_line(50_000, 0, [item], revolve=True, minimum_rate_micro=100_000)
    assert hold.cuts == ((1, 50_000, 10_000),)
    # With interest on it, the interest stays in the minimum.
    item = LineItem(2, 90_000, 9_444, 0, 444)
    hold = hold_on_line(40_000, 0, [item], revolve=True, minimum_rate_micro=100_000)
    assert hold.cuts == ((2, 40_000, 5_444),)
    # A line without revolving credit: its minimum is its balance.
    hold = hold_on_line(40_000, 10_000, [LineItem(3, 90_000, 90_000, 0, 0)], revolve=False,
                        minimum_rate_micro=0)
    assert (hold.from_unbilled_minor, hold.cuts) == (10_000, ((3, 30_000, 60_000),))


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        hold_on_line(-1, 0, [], revolve=True, minimum_rate_micro=100_000)
    with pytest.raises(ValueError):
        hold_on_line(1, 0, [], revolve=True, minimum_rate_micro=MICRO + 1)
