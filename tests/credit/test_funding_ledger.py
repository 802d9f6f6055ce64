"""Property, on both stores (issue #17): a funded cash loan (joint, by waterfall or with fixed
partner shares, with or without a guarantee) and a funded plan go through a random sequence
of repayments, prepayments, closes of business, withdrawals (cooling-off), a refund of the
plan and, in some examples, a write-off then a recovery (or its reversal, then a
repayment). After every step the funding reconciles (``credit.funding.reconcile``), the
ledger verifies, the funders' outstanding principal adds up to the loan's, and a settlement
of the day nets exactly the flows it settles (the test's own table of which way each flow
moves cash, not the module's)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from decimal import Decimal

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from creditpay.credit import funding as F
from creditpay.credit import products as P
from creditpay.credit import service as S
from creditpay.credit.funding_core import ACCRUAL_DENOMINATOR
from creditpay.credit.tables import (
    credit_accounts,
    credit_funding_flows,
    credit_funding_settlements,
    credit_funding_shares,
)
from creditpay.credit.write_off_reversal import reverse_write_off
from creditpay.errors import DomainError
from creditpay.ledger.verify import verify_ledger
from creditpay.parties import partners as PL
from creditpay.protection import consent
from creditpay.protection.credit_withdrawal import withdraw_from_wallet
from creditpay.reporting.data_sharing import share_with_partner
from tests.catalogues import CATALOGUE

from .servicing_helpers import CNY, close_days, new_customer

# The packaged products with the shortest write-off they allow (30 dpd): a default is
# reached in a few weeks of closes of business.
FAST = P.Catalogue([p.model_copy(update={"write_off_dpd": 30}) for p in CATALOGUE.all()],
                   {"CN": CATALOGUE.caps("CN")})
CAPS = FAST.caps("CN")
PURPOSE = consent.Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER
# Which way each flow moves cash at settlement: +1 the platform pays the partner, -1 the
# partner pays the platform, 0 book only (docs/partner-lending.md, "Settlement").
CASH = {"fund": -1, "principal": 1, "refund": 1, "withdrawal": 1, "charges": 1,
        "clawback": -1, "guarantee": 1, "recovery": 1, "write_off": 0, "wo_reversal": 0,
        "gt_reversal": -1}
LOANS = [(3, "equal_installment"), (6, "equal_principal"), (3, "interest_only"),
         (7, "bullet")]

OPS = st.lists(st.one_of(
    st.tuples(st.just("repay"), st.integers(1, 100)),    # percent of the plan's payoff
    st.tuples(st.just("prepay"), st.integers(1, 100)),   # percent of the loan's payoff
    st.tuples(st.just("days"), st.integers(1, 20)),
    st.tuples(st.just("refund"), st.integers(1, 100)),   # percent of the plan
    st.tuples(st.just("withdraw"), st.integers(0, 1)),   # the loan (0) or the plan (1)
), max_size=6)


@st.composite
def shares(draw: st.DrawFn, partners: int) -> tuple[int, list[int] | None]:
    """The platform's share (>= the 30 % minimum) and, or not, fixed partner shares that
    add up to the rest."""
    platform = draw(st.integers(CAPS.joint_platform_share_min_bps, 9_000))
    if not draw(st.booleans()):
        return platform, None
    named = draw(st.integers(1, partners))
    rest = 10_000 - platform
    cuts = sorted(draw(st.sets(st.integers(1, rest - 1), min_size=named - 1,
                               max_size=named - 1))) if named > 1 else []
    bounds = [0, *cuts, rest]
    return platform, [b - a for a, b in itertools.pairwise(bounds)]


def _partner(uow, name: str, rate_bps: int) -> str:
    with uow.begin() as tx:
        return PL.onboard_partner(tx, "op_test", name=name, licence_type="bank",
                                  licence_number=f"L-{name}", currency=CNY, terms={
                                      "funding_rate_bps": rate_bps, "service_fee_bps": 300,
                                      "exposure_cap_minor": 10**11,
                                      "per_borrower_cap_minor": 20_000_000,
                                      "data_fields": ["payments_count_90d"],
                                      "policy": {"max_pd": "0.5", "kyc_required": False}},
                                  )["partner_id"]


def _funding() -> F.Funding:
    return F.Funding(share_data=lambda tx, cid, pid, fields: share_with_partner(
        tx, cid, pid, fields), borrower_risk=lambda conn, cid: ("B", Decimal("0.03")))


def _funded_principal(uow, account_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Per funded loan: (the funders' outstanding, the loan's principal outstanding)."""
    s, a = credit_funding_shares.c, credit_accounts.c
    out: dict[str, tuple[int, int]] = {}
    with uow.connect() as conn:
        for account_id in account_ids:
            funders = conn.execute(select(s.outstanding_minor).where(
                s.account_id == account_id)).scalars().all()
            loan = conn.execute(select(a.principal_unbilled_minor, a.principal_billed_minor,
                                       a.principal_past_due_minor).where(
                a.account_id == account_id)).one()
            out[account_id] = (sum(funders), sum(loan))
    return out


def _check(uow, clock, account_ids: list[str]) -> None:
    with uow.begin() as tx:
        report = F.reconcile(tx)
    assert report["ok"], report["details"]
    with uow.connect() as conn:
        verified = verify_ledger(conn)
    assert verified.ok, verified.problems
    for account_id, (funders, loan) in _funded_principal(uow, account_ids).items():
        assert funders == loan, (account_id, funders, loan)
    with uow.connect() as conn:
        for row in conn.execute(select(credit_funding_shares).where(
                credit_funding_shares.c.account_id.in_(account_ids))).mappings():
            for name, value in row.items():
                if name.endswith("_minor") or name == "accrual_num":
                    assert value >= 0, (row["account_id"], row["funder_id"], name, value)
            if row["funder_id"] != "platform":  # never paid above its rate's interest
                assert row["income_paid_minor"] * ACCRUAL_DENOMINATOR <= row["accrual_num"], \
                    dict(row)
    # Settle the day: each new settlement nets exactly the flows it settles.
    day = clock.today()
    f = credit_funding_flows.c
    with uow.begin() as tx:
        F.follow_ledger(tx)
        pending: defaultdict[str, int] = defaultdict(int)
        counts: defaultdict[str, int] = defaultdict(int)
        for row in tx.conn.execute(select(f.partner_id, f.kind, f.amount_minor).where(
                f.settlement_id.is_(None), f.business_date <= day, f.currency == CNY)):
            pending[row.partner_id] += CASH[row.kind] * int(row.amount_minor)
            counts[row.partner_id] += 1
        st_ = credit_funding_settlements.c
        earlier = set(tx.conn.execute(select(st_.partner_id).where(
            st_.business_date == day)).scalars())
        settled = F.settle(tx, day)
    assert {s["partner_id"] for s in settled} == earlier | set(counts)
    for settlement in settled:
        pid = settlement["partner_id"]
        if pid in earlier:
            continue  # settled earlier today; later flows wait for tomorrow's settlement
        assert settlement["net_minor"] == pending[pid], (settlement, pending[pid])
        assert settlement["flows"] == counts[pid]
        with uow.connect() as conn:
            lines = F.settlement_lines(conn, pid, day)
        assert sum(CASH[line["kind"]] * line["amount_minor"] for line in lines) == \
            pending[pid]
    with uow.begin() as tx:
        report = F.reconcile(tx, day)
    assert report["ok"], report["details"]


def test_random_funded_servicing_reconciles(uow, clock):
    partners = [_partner(uow, name, rate) for name, rate in
                (("Ledger Bank A", 500), ("Ledger Bank B", 700), ("Ledger Bank C", 900))]
    runs = itertools.count()
    write_offs = itertools.count()

    # No shrinking: the examples share one database (their customers and the partners'
    # positions accumulate), so a shrunk example does not replay alone.
    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True, phases=[Phase.explicit, Phase.generate])
    @given(st.data(), st.integers(10_000, 2_000_000), st.sampled_from(LOANS),
           st.integers(0, 5_000), st.integers(1, 100), OPS,
           st.integers(0, 2).map(bool), st.integers(1, 100))
    def run(data, principal, loan, guarantee_bps, refund_pct, ops, write_off, recovered_pct):
        run_id = next(runs)
        customer = f"fl{run_id}"
        platform_bps, fixed = data.draw(shares(len(partners)))
        named = partners if fixed is None else partners[:len(fixed)]
        entries = [{"partner_id": pid} if fixed is None else
                   {"partner_id": pid, "share_bps": bps}
                   for pid, bps in zip(named, fixed or [None] * len(named), strict=True)]
        with uow.begin() as tx:
            for code in ("jiebei", "baitiao"):
                F.set_arrangement(tx, "op_test", product=FAST.get(code),
                                  arrangement_type="joint", partners=entries,
                                  platform_share_bps=platform_bps,
                                  guarantee_bps=guarantee_bps, fallback="decline", caps=CAPS)
        who = new_customer(uow, customer, limit_minor=5_000_000, wallet_minor=3_000_000,
                           catalogue=FAST)
        with uow.begin() as tx:
            for pid in partners:
                name = consent.registered_partner_name(tx.conn, pid)
                text = consent.consent_text(PURPOSE, "en", partner_name=name)
                consent.grant_consent(tx, customer_id=customer, purpose=PURPOSE,
                                      language="en", text_version=text.version,
                                      text_sha256=text.sha256, channel="app",
                                      partner_id=pid, partner_name=name)
        arranged = _arranged(uow, FAST)
        loan_id = f"{customer}-loan"
        periods, method = loan
        with uow.begin() as tx:
            S.disburse_cash_loan(tx, loan_id=loan_id, customer_id=customer, currency=CNY,
                                 principal_minor=principal, product_code="jiebei",
                                 periods=periods, method=method,
                                 wallet_account_id=who.wallet_id, catalogue=arranged,
                                 funding=_funding())
        funded = [loan_id]
        plan = f"{customer}-plan"
        with uow.begin() as tx:
            offers = S.quote_offers(tx, customer_id=customer, amount_minor=99_999,
                                    currency=CNY, catalogue=arranged)
            offer = next(o for o in offers if o.funding == "plan" and o.periods == 3
                         and o.product_code == "baitiao")
            S.authorise_purchase(tx, authorisation_id=f"auth_{plan}",
                                 customer_id=customer, amount_minor=99_999, currency=CNY,
                                 offer_id=offer.offer_id, reference=plan,
                                 catalogue=arranged)
            captured = S.capture_purchase(tx, authorisation_id=f"auth_{plan}",
                                          capture_id=plan, amount_minor=99_999,
                                          merchant_payable_account_id=who.merchant_id,
                                          catalogue=arranged, funding=_funding())
        funded.append(captured.account_id)
        _check(uow, clock, funded)
        for i, (op, value) in enumerate(ops):
            tag = f"{customer}-{i}"
            try:
                if op == "days":
                    close_days(uow, clock, value, catalogue=FAST)
                elif op == "withdraw":
                    account_id = funded[value % len(funded)]
                    event("withdrawal")
                    with uow.begin() as tx:
                        withdraw_from_wallet(tx, account_id=account_id, customer_id=customer,
                                             withdrawal_id=tag, catalogue=FAST)
                elif op == "refund":
                    event("plan refund")
                    with uow.begin() as tx:
                        S.refund_purchase(tx, refund_id=tag, purchase_id=plan,
                                          amount_minor=max(1, 99_999 * value // 100),
                                          catalogue=FAST)
                else:
                    # A part of what closes the account (what is due first, the rest
                    # prepaid): the loan, or for "repay" the plan when there is one.
                    target = funded[-1] if op == "repay" else loan_id
                    with uow.connect() as conn:
                        owed = sum(S.payoff_amount(conn, a.account_id)
                                   for a in S.list_accounts(conn, customer)
                                   if a.status == "active" and a.account_id == target)
                    if not owed:
                        continue
                    with uow.begin() as tx:
                        S.repay(tx, repayment_id=tag, customer_id=customer, currency=CNY,
                                amount_minor=max(1, owed * value // 100),
                                source_account_id=who.wallet_id, target=target,
                                catalogue=FAST)
            except DomainError as refused:
                # A refusal (more than owed, an over-refund) changes nothing.
                event(f"refused: {op} {type(refused).__name__}")
            _check(uow, clock, funded)
        try:  # the plan refunded (in part or whole) in every example, unless withdrawn
            event("plan refund")
            with uow.begin() as tx:
                S.refund_purchase(tx, refund_id=f"{customer}-refund", purchase_id=plan,
                                  amount_minor=max(1, 99_999 * refund_pct // 100),
                                  catalogue=FAST)
        except DomainError as refused:
            event(f"refused: final refund {type(refused).__name__}")
        _check(uow, clock, funded)
        if not write_off:
            return
        for _ in range(30):  # nothing more is repaid: the loan defaults and is written off
            with uow.connect() as conn:
                status = conn.execute(select(credit_accounts.c.status).where(
                    credit_accounts.c.account_id == loan_id)).scalar_one()
            if status != "active":
                break
            close_days(uow, clock, 5, catalogue=FAST)
        _check(uow, clock, funded)
        event(f"loan {status} at the end")
        if status != "written_off":
            return  # repaid in full before it could default
        if next(write_offs) % 2:  # every other write-off is reversed first
            # Staff reverse it (the borrower turned up): every funder back where it was.
            event("write-off reversed")
            with uow.begin() as tx:
                reverse_write_off(tx, "op_test", loan_id, reason="paid in time")
            _check(uow, clock, funded)
        with uow.connect() as conn:
            owed = S.payoff_amount(conn, loan_id)
        with uow.begin() as tx:
            S.repay(tx, repayment_id=f"{customer}-recovery", customer_id=customer,
                    currency=CNY, amount_minor=max(1, owed * recovered_pct // 100),
                    source_account_id=who.wallet_id, target=loan_id, catalogue=FAST)
        _check(uow, clock, funded)

    run()


def _arranged(uow, catalogue):
    """``catalogue`` with the funding arrangements stored now (as a serving process's
    catalogue carries them once refreshed)."""
    from creditpay.credit.funding import arrangements_in_force

    with uow.connect() as conn:
        return catalogue.with_arrangements(arrangements_in_force(conn))
