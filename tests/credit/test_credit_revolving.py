"""Revolving lines (issue 13, item 8), on SQLite and PostgreSQL: a consumer who pays at
least each statement's minimum between the statement date and the due date is never late,
and the interest posted is the one docs/servicing.md ("Revolving lines: minimum payment,
allocation and delinquency") defines, computed here from that rule and not by the code
under test; a missed minimum makes the line late, and paying it cures it."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditpay.credit import service as S
from tests.catalogues import CATALOGUE

from .servicing_helpers import (
    account,
    assert_books,
    buy,
    close_days,
    close_until,
    grant_auto_debit,
    new_customer,
    payoff,
    platform_balance,
    repay,
    statement,
)

D = dt.date
RATE_MICRO = 180_000  # revolver: 18 % a year, ACT/365
DENOMINATOR = 1_000_000 * 365  # accrual numerator units per minor unit
MINIMUM_RATE_MICRO = 100_000  # revolver: 10 % of the principal
LATE_FEE = 2_000


def half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)












def assert_current(uow, line_id: str) -> None:
    line = account(uow, line_id)
    assert (line["dpd"], line["bucket"], line["late_fee_unpaid_minor"],
            line["fee_posted_minor"], line["penalty_posted_minor"]) == (0, "M0", 0, 0, 0), line


# ----------------------------------------------------------------------------- the issue
def test_second_statement_paid_at_its_minimum_keeps_the_line_current(uow, clock):
    """The issue's example: from the second statement on, paying the minimum (10 % +
    interest) gave a late fee and M1, because the payment went to the carried balance."""
    who = new_customer(uow, product_code="revolver")
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 100_000)
    close_until(uow, clock, D(2025, 4, 3))
    assert statement(uow, who.line_id, D(2025, 3, 15)).minimum_payment_minor == 10_000
    repay(uow, who, "r1", 10_000)
    close_until(uow, clock, D(2025, 4, 20))
    april = statement(uow, who.line_id, D(2025, 4, 15))
    # 90,000 carried from Apr 6 (the day after the due date) to Apr 15: 10 days at 18 %.
    interest = half_up(90_000 * RATE_MICRO * 10, DENOMINATOR)
    assert (april.interest_minor, april.due_date) == (interest, D(2025, 5, 5))
    repay(uow, who, "r2", 9_000 + interest)  # 10 % of the principal, and the interest
    close_until(uow, clock, D(2025, 5, 20))
    assert_current(uow, who.line_id)
    # That is the statement's minimum: 10 % of all its principal (carried included) plus
    # its interest.
    assert april.minimum_payment_minor == 9_000 + interest
    # The minimum retired principal that bears interest: 81,000 is carried to May 15.
    may = statement(uow, who.line_id, D(2025, 5, 15))
    days_before, days_after = 4, 26  # Apr 16-19 on 90,000; Apr 20-May 15 on 81,000
    expected = half_up((90_000 * days_before + 81_000 * days_after) * RATE_MICRO, DENOMINATOR)
    assert may.interest_minor == expected
    assert may.minimum_payment_minor == 8_100 + expected
    assert_books(uow, who.customer_id)


def test_paying_most_of_the_second_statement_keeps_the_line_current(uow, clock):
    who = new_customer(uow, product_code="revolver")
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 100_000)
    close_until(uow, clock, D(2025, 4, 3))
    repay(uow, who, "r1", 10_000)
    close_until(uow, clock, D(2025, 4, 10))
    buy(uow, who, "p2", 30_000)  # new spend on the second statement
    close_until(uow, clock, D(2025, 4, 16))
    april = statement(uow, who.line_id, D(2025, 4, 15))
    assert april.new_principal_minor == 30_000
    repay(uow, who, "r2", 90_000)  # most of the 120,000 and its interest
    close_until(uow, clock, D(2025, 5, 20))
    assert_current(uow, who.line_id)
    assert april.minimum_payment_minor == 12_000 + april.interest_minor
    assert_books(uow, who.customer_id)


def test_a_missed_minimum_is_late_and_paying_it_cures_the_line(uow, clock):
    who = new_customer(uow, product_code="revolver")
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 100_000)
    close_until(uow, clock, D(2025, 4, 3))
    repay(uow, who, "r1", 10_000)
    close_until(uow, clock, D(2025, 4, 20))
    april = statement(uow, who.line_id, D(2025, 4, 15))
    # Below the minimum: it goes to the minimum (interest first), the rest stays owed.
    repay(uow, who, "r2", april.minimum_payment_minor - 1)
    close_until(uow, clock, D(2025, 5, 7))  # the close of business of May 6 ages it
    line = account(uow, who.line_id)
    assert (line["dpd"], line["bucket"], str(line["oldest_past_due_date"])) == \
        (1, "M1", "2025-05-05")
    close_until(uow, clock, D(2025, 5, 10))  # grace days over: the late fee
    line = account(uow, who.line_id)
    assert (line["dpd"], line["late_fee_unpaid_minor"]) == (4, LATE_FEE)
    # The cure: the minimum still unpaid (1) and the late fee; nothing more.
    repay(uow, who, "cure", 1 + LATE_FEE)
    line = account(uow, who.line_id)
    assert (line["dpd"], line["bucket"], line["late_fee_unpaid_minor"]) == (0, "M0", 0)
    close_until(uow, clock, D(2025, 6, 20))
    line = account(uow, who.line_id)
    assert line["dpd"] > 0  # May 15's minimum was not paid either
    may = statement(uow, who.line_id, D(2025, 5, 15))
    repay(uow, who, "cure-may", may.minimum_payment_minor + LATE_FEE)
    line = account(uow, who.line_id)
    assert (line["dpd"], line["bucket"], line["late_fee_unpaid_minor"]) == (0, "M0", 0)
    assert_books(uow, who.customer_id)


def test_a_missed_minimum_is_carried_as_past_due_into_the_next_minimum(uow, clock):
    who = new_customer(uow, product_code="revolver")
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 100_000)
    close_until(uow, clock, D(2025, 4, 16))  # Mar 15's minimum (10,000) never paid
    april = statement(uow, who.line_id, D(2025, 4, 15))
    # Past due: the 10,000 missed and the late fee; then this statement's interest. The
    # principal of a statement still in arrears is not in the 10 % base (docs).
    assert april.minimum_payment_minor == 10_000 + LATE_FEE + april.interest_minor
    repay(uow, who, "r", april.minimum_payment_minor)
    line = account(uow, who.line_id)
    assert (line["dpd"], line["bucket"]) == (0, "M0")
    close_until(uow, clock, D(2025, 5, 20))
    assert account(uow, who.line_id)["dpd"] == 0
    assert_books(uow, who.customer_id)


def test_bill_conversion_installment_is_paid_with_the_statement_minimum(uow, clock):
    """An installment of a fee-priced plan on the statement (here a bill conversion), due by
    the statement's due date, is paid by a payment of the minimum made before it is billed."""
    who = new_customer(uow)  # huabei: statement on the 1st, due on the 10th
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 90_000)
    close_until(uow, clock, D(2025, 4, 2))
    with uow.begin() as tx:
        conversion = S.convert_statement_to_installments(
            tx, conversion_id="conv1", statement_id=f"{who.line_id}:2025-04-01",
            amount_minor=90_000, periods=3, catalogue=CATALOGUE)
    close_until(uow, clock, D(2025, 5, 3))
    may = statement(uow, who.line_id, D(2025, 5, 1))
    [installment] = [line for line in may.lines if line["kind"] == "installment"]
    assert installment["due_date"] == D(2025, 5, 10) == may.due_date
    assert may.minimum_payment_minor == installment["amount_minor"]
    result = repay(uow, who, "r-may", may.minimum_payment_minor)
    assert result.fee_minor > 0 and result.principal_minor == 30_000
    close_until(uow, clock, D(2025, 5, 20))
    plan = account(uow, conversion.plan_account_id)
    assert (plan["dpd"], plan["late_fee_unpaid_minor"]) == (0, 0)
    assert account(uow, who.line_id)["dpd"] == 0
    assert_books(uow, who.customer_id)


def test_revolving_conversion_lowers_the_minimum_by_its_share(uow, clock):
    who = new_customer(uow, product_code="revolver")
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 100_000)
    close_until(uow, clock, D(2025, 3, 16))
    with uow.begin() as tx:
        S.convert_statement_to_installments(
            tx, conversion_id="conv1", statement_id=f"{who.line_id}:2025-03-15",
            amount_minor=40_000, periods=6, catalogue=CATALOGUE)
    # 10 % of the 60,000 left on the line: the 40,000 is owed on the plan's installments
    # (before, the conversion took the whole minimum away).
    repay(uow, who, "r1", 5_999)
    close_until(uow, clock, D(2025, 4, 7))
    assert account(uow, who.line_id)["dpd"] == 1
    repay(uow, who, "r2", 1)
    close_until(uow, clock, D(2025, 4, 20))
    assert_current(uow, who.line_id)
    assert_books(uow, who.customer_id)


def test_auto_debit_pays_a_statement_of_a_carried_balance_alone(uow, clock):
    """A statement with nothing new (a small carried balance, its interest below a minor
    unit) still has a minimum, due on its due date: auto-debit takes it then."""
    who = new_customer(uow, product_code="revolver")
    clock.set("2025-03-02T10:00:00+00:00")
    buy(uow, who, "p1", 200)
    close_until(uow, clock, D(2025, 3, 20))
    repay(uow, who, "r1", 180)  # 20 carried past Apr 5
    close_until(uow, clock, D(2025, 4, 10))
    with uow.begin() as tx:
        S.set_auto_debit(tx, account_id=who.line_id, enabled=True,
                         wallet_account_id=who.wallet_id,
                         consent_reference=grant_auto_debit(tx, who.customer_id))
    close_until(uow, clock, D(2025, 4, 16))
    april = statement(uow, who.line_id, D(2025, 4, 15))
    assert (april.new_principal_minor, april.interest_minor) == (0, 0)
    assert april.minimum_payment_minor == 2  # 10 % of the 20 carried
    close_until(uow, clock, D(2025, 5, 20))
    assert_current(uow, who.line_id)
    assert payoff(uow, who.line_id) == 0
    assert_books(uow, who.customer_id)


# ----------------------------------------------------------------------------- the model
@dataclass
class RevolvingModel:
    """docs/servicing.md's rule for a revolving line, from scratch (minor units; accrual in
    1 / (1,000,000 x 365) of a minor unit), for a consumer who is never late.

    ``bearing``: principal past the due date of the statement that billed it (it accrues
    interest daily); ``billed``: the latest statement's new principal, before its due date;
    ``unbilled``: purchases since the last statement; ``interest_due``: interest posted and
    unpaid; ``need_bearing`` / ``need_billed``: what of the minimum's principal part is still
    unpaid, and where it sits (carried balances first)."""

    bearing: int = 0
    billed: int = 0
    unbilled: int = 0
    interest_due: int = 0
    accrual: int = 0
    need_bearing: int = 0
    need_billed: int = 0
    interest_posted: int = 0
    due_date: dt.date | None = None

    def owed(self) -> int:
        return (self.bearing + self.billed + self.unbilled + self.interest_due
                + self.accrual // DENOMINATOR)

    def pay(self, amount: int) -> None:
        """Minimum first (carried principal share, interest, the new principal's share),
        then what bears interest, then the statement not yet due, then accrued interest in
        whole minor units, then purchases not yet on a statement."""
        left = amount

        def take(owed: int) -> int:
            nonlocal left
            part = min(left, owed)
            left -= part
            return part

        part = take(min(self.need_bearing, self.bearing))
        self.bearing -= part
        self.need_bearing -= part
        self.interest_due -= take(self.interest_due)
        part = take(min(self.need_billed, self.billed))
        self.billed -= part
        self.need_billed -= part
        self.bearing -= take(self.bearing)
        self.billed -= take(self.billed)
        whole = take(self.accrual // DENOMINATOR)
        self.accrual -= whole * DENOMINATOR
        self.interest_posted += whole
        self.unbilled -= take(self.unbilled)
        assert left == 0
        self.waive()

    def waive(self) -> None:
        if self.bearing + self.billed + self.unbilled == 0:
            self.accrual -= self.accrual % DENOMINATOR

    def close(self, day: dt.date) -> tuple[int, int] | None:
        """The close of business of ``day``; returns (interest, minimum) of a statement cut."""
        self.accrual += self.bearing * RATE_MICRO  # day's interest, before the due date rolls
        if day == self.due_date:
            assert self.need_bearing == self.need_billed == self.interest_due == 0, \
                "the test pays at least the minimum"
            self.bearing += self.billed
            self.billed = 0
        self.waive()
        if day.day != 15:
            return None
        if self.unbilled + self.bearing + half_up(self.accrual, DENOMINATOR) == 0:
            return None
        assert self.billed == 0  # the revolver's due date (5th) comes before its statement
        interest = half_up(self.accrual, DENOMINATOR)
        self.accrual = 0
        self.interest_posted += interest
        self.interest_due += interest
        share = half_up((self.bearing + self.unbilled) * MINIMUM_RATE_MICRO, 1_000_000)
        self.need_bearing = min(share, self.bearing)
        self.need_billed = share - self.need_bearing
        self.billed, self.unbilled = self.unbilled, 0
        self.due_date = D(day.year + day.month // 12, day.month % 12 + 1, 5)
        return interest, share + self.interest_due


CYCLE = st.fixed_dictionaries({
    "buys": st.lists(st.tuples(st.integers(0, 40), st.integers(100, 60_000)), min_size=1,
                     max_size=3),
    # Days (as fractions of the window from the day after the statement to the due date)
    # of two payments that together pay at least the minimum; the first is a share of it.
    "days": st.tuples(st.integers(0, 100), st.integers(0, 100)),
    "first": st.sampled_from([0, 100]) | st.integers(0, 100),
    "beyond": st.sampled_from([0, 0, 100]) | st.integers(0, 30),  # % of the rest owed
    "after_due": st.sampled_from([0]) | st.integers(0, 100),  # % owed, after the due date
})


def test_paying_each_minimum_is_never_late_and_interest_is_as_documented(uow, clock):
    runs = itertools.count()

    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True)
    @given(cycles=st.lists(CYCLE, min_size=6, max_size=8))
    def run(cycles):
        run_cycles(uow, clock, cycles, next(runs))

    run()


def run_cycles(uow, clock, cycles: list[dict], run_id: int) -> None:
    """Pay each statement's minimum (or more) on random days of its window, spend at
    random, close every day, and check the line against :class:`RevolvingModel`."""
    if True:
        who = new_customer(uow, f"rv{run_id}", product_code="revolver",
                           limit_minor=3_000_000, wallet_minor=20_000_000)
        interest_before = platform_balance(uow, "interest_income")
        model = RevolvingModel()
        ids = itertools.count()
        start = clock.today()
        statement_day = start.replace(day=15) if start.day < 15 else \
            (start.replace(day=1) + dt.timedelta(days=32)).replace(day=15)
        events: dict[dt.date, list[tuple]] = {}
        previous = start - dt.timedelta(days=1)
        for cycle in cycles:
            window = [previous + dt.timedelta(days=k + 1)
                      for k in range((statement_day - previous).days)]
            for offset, amount in cycle["buys"]:
                events.setdefault(window[offset % len(window)], []).append(("buy", amount))
            due = D(statement_day.year + statement_day.month // 12,
                    statement_day.month % 12 + 1, 5)
            paying = [statement_day + dt.timedelta(days=k + 1)
                      for k in range((due - statement_day).days)]
            first, second = sorted(paying[d * (len(paying) - 1) // 100] for d in cycle["days"])
            events.setdefault(first, []).append(("first", cycle["first"]))
            events.setdefault(second, []).append(("second", cycle["beyond"]))
            events.setdefault(due + dt.timedelta(days=3), []).append(
                ("after_due", cycle["after_due"]))
            last = due + dt.timedelta(days=3)
            previous = statement_day
            statement_day = (statement_day.replace(day=1) + dt.timedelta(days=32)).replace(
                day=15)
        minimum = paid_in_window = 0
        for day in (start + dt.timedelta(days=k) for k in range((last - start).days + 1)):
            assert clock.today() == day
            for kind, value in events.get(day, []):
                tag = f"rv{run_id}-{next(ids)}"
                if kind == "buy":
                    buy(uow, who, tag, value)
                    model.unbilled += value
                    continue
                owed = payoff(uow, who.line_id)
                assert owed == model.owed()
                if kind == "first":
                    amount = minimum * value // 100
                elif kind == "second":
                    rest = max(0, minimum - paid_in_window)
                    amount = rest + (owed - rest) * value // 100
                else:
                    amount = owed * value // 100
                if amount:
                    repay(uow, who, tag, amount)
                    model.pay(amount)
                    paid_in_window += amount
            close_days(uow, clock, 1)
            cut = model.close(day)
            assert_current(uow, who.line_id)
            if cut is not None:
                shown = statement(uow, who.line_id, day)
                assert (shown.interest_minor, shown.minimum_payment_minor) == cut, day
            if day.day == 15:  # no statement when the line owes nothing: nothing to pay
                minimum, paid_in_window = (0, 0) if cut is None else (cut[1], 0)
        assert platform_balance(uow, "interest_income") - interest_before == model.interest_posted
        assert account(uow, who.line_id)["interest_posted_minor"] == model.interest_posted
        assert_books(uow, who.customer_id)
        # Settle, so that the next example's days close over a quiet book.
        owed = payoff(uow, who.line_id)
        assert owed == model.owed()
        if owed:
            repay(uow, who, f"rv{run_id}-end", owed, target=who.line_id)
        line = account(uow, who.line_id)
        assert (line["interest_accrual_num"], line["penalty_accrual_num"]) == (0, 0)
        assert payoff(uow, who.line_id) == 0
