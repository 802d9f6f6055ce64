"""IFRS 9 provisions: stage boundaries, ECL arithmetic on hand-computed cases, and the risk
reserve posting (balanced, once per business date) on both stores."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from creditpay import ledger as L
from creditpay.credit import service as S
from creditpay.errors import StateError, ValidationError
from creditpay.ledger.chart import platform_key
from creditpay.ledger.tables import ledger_transfers
from creditpay.reporting import provisions as P
from creditpay.reporting.regulatory import AccountPosition
from tests.catalogues import CATALOGUE
from tests.credit.servicing_helpers import CNY, buy, close_until, grant_auto_debit, new_customer

D = dt.date


# ----------------------------------------------------------------------------- portfolio
def build_portfolio(uow, clock, until: dt.date) -> dict:
    """Three customers opened on 2025-03-01, then days closed until ``until`` (not closed):

    * c1: 7-day bullet cash loan of 1,000.00, due 2025-03-08, never paid (delinquent);
    * c2: a 500.00 huabei line purchase (in the statement cut 03-01, due 03-10, not paid);
    * c3: a 12-month 12,000.00 cash loan on auto-debit (current).
    Each customer has a 10,000.00 line (c3: 20,000.00), which the cash loans draw on; the
    undrawn part counts in EAD through the CCF.
    """
    c1 = new_customer(uow, "c1")
    c2 = new_customer(uow, "c2")
    c3 = new_customer(uow, "c3", limit_minor=2_000_000)
    with uow.begin() as tx:
        S.disburse_cash_loan(tx, loan_id="loan-c1", customer_id="c1", currency=CNY,
                             principal_minor=100_000, product_code="jiebei", periods=7,
                             method="bullet", wallet_account_id=c1.wallet_id, catalogue=CATALOGUE)
        S.disburse_cash_loan(tx, loan_id="loan-c3", customer_id="c3", currency=CNY,
                             principal_minor=1_200_000, product_code="jiebei", periods=12,
                             method="equal_installment", wallet_account_id=c3.wallet_id,
                             catalogue=CATALOGUE)
        S.set_auto_debit(tx, account_id="loan-c3", enabled=True,
                         wallet_account_id=c3.wallet_id,
                         consent_reference=grant_auto_debit(tx, "c3"))
    buy(uow, c2, "p-c2", 50_000)
    close_until(uow, clock, until)
    return {"c1": c1, "c2": c2, "c3": c3}


def _position(**changes) -> AccountPosition:
    base = AccountPosition(
        account_id="a1", kind="plan", customer_id="c1", currency=CNY, product_code="baitiao",
        product_version=1, status="active", opened_on=D(2025, 1, 1), dpd=0, bucket="M0",
        principal_minor=100_000, interest_due_minor=0, fee_due_minor=0, penalty_due_minor=0,
        accrued_minor=0, written_off_minor=0, recovered_minor=0, written_off_on=None,
        interest_rate=Decimal("0.18"), line_id=None, undrawn_minor=0,
        last_due_date=D(2027, 3, 1))
    return replace(base, **changes)


# ----------------------------------------------------------------------------- pure core
@pytest.mark.parametrize(("dpd", "sicr", "stage"), [
    (0, False, 1), (30, False, 1), (31, True, 2), (60, True, 2), (90, True, 2),
    (91, True, 3), (200, True, 3), (0, True, 2)])
def test_stage_boundaries(dpd, sicr, stage):
    assert P.sicr_flag(dpd, None, None) is (dpd > 30)
    assert P.stage_for(dpd, sicr) == stage


def test_sicr_by_pd_doubling_and_dpd_backstop():
    assert P.sicr_flag(0, Decimal("0.05"), Decimal("0.10")) is True  # exactly doubled
    assert P.sicr_flag(0, Decimal("0.05"), Decimal("0.099999")) is False
    assert P.sicr_flag(0, None, Decimal("0.90")) is False  # no origination PD: dpd only
    assert P.sicr_flag(31, Decimal("0.05"), Decimal("0.05")) is True  # backstop
    with pytest.raises(ValidationError) as err:
        P.stage_for(-1, False)
    assert err.value.field == "dpd"


def test_lifetime_pd_constant_hazard():
    assert P.lifetime_pd(Decimal("0.1"), 24) == Decimal("0.19")  # 1 - 0.9^2
    assert P.lifetime_pd(Decimal("0.1"), 6) == Decimal("0.1")  # at least 12 months
    assert P.lifetime_pd(Decimal("0.1"), 18) == Decimal("0.146185")  # 1 - 0.9^1.5


def test_ecl_hand_computed_stage_1_table_pd_with_ccf():
    # EAD = 100,000 + 1,000 + 500 + 250 drawn + 0.20 x 50,000 undrawn = 111,750
    position = _position(kind="line", interest_due_minor=1_000, fee_due_minor=500,
                         accrued_minor=250, undrawn_minor=50_000, last_due_date=None)
    result = P.assess_account(position, as_of=D(2025, 3, 1), pd_origination=None,
                              pd_current=None)
    assert (result.stage, result.pd_basis, result.pd_used) == (1, "table", Decimal("0.02"))
    assert (result.drawn_minor, result.undrawn_minor, result.ead_minor) == (101_750, 10_000,
                                                                           111_750)
    assert result.ecl_minor == 1_453  # 0.02 x 0.65 x 111,750 = 1,452.75


def test_ecl_hand_computed_stage_2_by_pd_doubling_lifetime():
    # 24 months left: lifetime PD 1 - 0.9^2 = 0.19; ECL 0.19 x 0.65 x 100,000 = 12,350
    result = P.assess_account(_position(), as_of=D(2025, 3, 1),
                              pd_origination=Decimal("0.04"), pd_current=Decimal("0.10"))
    assert (result.stage, result.sicr, result.pd_basis) == (2, True, "model")
    assert result.pd_used == Decimal("0.19")
    assert result.ecl_minor == 12_350


def test_ecl_hand_computed_stage_3_and_delinquent_floor():
    impaired = P.assess_account(_position(dpd=91, bucket="M4", principal_minor=20_000),
                                as_of=D(2025, 3, 1), pd_origination=Decimal("0.02"),
                                pd_current=None)
    assert (impaired.stage, impaired.pd_used, impaired.ecl_minor) == (3, Decimal(1), 13_000)
    # 45 dpd (M2) with a model PD of 0.03: lifetime 1-0.97^2 = 0.0591 is floored at 0.60
    floored = P.assess_account(_position(dpd=45, bucket="M2"), as_of=D(2025, 3, 1),
                               pd_origination=Decimal("0.03"), pd_current=None)
    assert (floored.stage, floored.pd_basis, floored.pd_used) == (2, "model_floored",
                                                                  Decimal("0.6"))
    assert floored.ecl_minor == 39_000  # 0.60 x 0.65 x 100,000
    # custom parameters: LGD 0.45, CCF 0
    params = P.ProvisionParameters(lgd=Decimal("0.45"), ccf=Decimal("0"))
    custom = P.assess_account(_position(undrawn_minor=10_000, kind="line"),
                              as_of=D(2025, 3, 1), pd_origination=None, pd_current=None,
                              params=params)
    assert custom.ead_minor == 100_000 and custom.ecl_minor == 900  # 0.02 x 0.45 x 100,000


def test_bad_parameters_are_named():
    with pytest.raises(ValidationError) as err:
        P.ProvisionParameters(lgd=Decimal("1.5"))
    assert err.value.field == "lgd"
    with pytest.raises(ValidationError) as err:
        P.ProvisionParameters(ccf=0.2)  # type: ignore[arg-type]  # float refused
    assert err.value.field == "ccf"
    with pytest.raises(ValidationError) as err:
        P.ProvisionParameters(stage2_dpd=90, stage3_dpd=90)
    assert err.value.field == "stage3_dpd"
    with pytest.raises(ValidationError) as err:
        P.ProvisionParameters(pd_table={"M0": P.BucketPd(Decimal("0.2"), Decimal("0.1"))})
    assert err.value.field == "pd_table.M0.pd_lifetime"
    with pytest.raises(ValidationError) as err:
        P.ecl_minor(Decimal("0.1"), Decimal("0.65"), -1)
    assert err.value.field == "ead"


# ----------------------------------------------------------------------------- shell
def _balance(uow, code: str) -> int:
    with uow.connect() as conn:
        return L.get_account_by_key(conn, platform_key(code, CNY)).balance_minor


def _provision_transfers(uow) -> list:
    with uow.connect() as conn:
        return conn.execute(select(ledger_transfers.c.id, ledger_transfers.c.amount_minor,
                                   ledger_transfers.c.debit_account_id)
                            .where(ledger_transfers.c.code == "compliance.provision")
                            .order_by(ledger_transfers.c.seq)).all()


def test_provisions_post_balanced_once_per_date(uow, clock):
    build_portfolio(uow, clock, D(2025, 4, 9))  # last closed business date: 2025-04-08
    as_of = D(2025, 4, 8)
    with uow.connect() as conn:
        run = P.compute_provisions(conn, as_of)
        with pytest.raises(StateError) as err:
            P.compute_provisions(conn, D(2025, 4, 9))  # not closed yet
        assert err.value.field == "date"
    by_id = {a.account_id: a for a in run.accounts}
    loan = by_id["loan-c1"]  # due 03-08, dpd 31 on 04-08: M2, stage 2, table lifetime PD
    assert (loan.dpd, loan.bucket, loan.stage, loan.sicr) == (31, "M2", 2, True)
    assert loan.pd_used == Decimal("0.6") and loan.undrawn_minor == 0
    assert loan.ead_minor >= 100_000
    assert loan.ecl_minor == int((Decimal("0.39") * loan.ead_minor).quantize(Decimal(1),
                                                                          "ROUND_HALF_UP"))
    assert by_id["loan-c3"].stage == 1 and by_id["loan-c3"].bucket == "M0"
    line = by_id["line_c2"]  # 500.00 drawn of 10,000.00: 0.20 x 9,500.00 undrawn
    assert line.undrawn_minor == 190_000 and line.stage == 1
    allowance = sum(a.ecl_minor for a in run.accounts)
    assert run.totals()[CNY]["allowance_minor"] == allowance
    assert sum(s["ecl_minor"] for s in run.totals()[CNY]["stages"].values()) == allowance

    with uow.begin() as tx:
        _, postings = P.post_provisions(tx, as_of)
    assert postings[0].change_minor == allowance and not postings[0].replayed
    assert postings[0].transfer_id == "compliance:provision:CNY:2025-04-08"
    assert _balance(uow, "loss_provision") == allowance
    assert _balance(uow, "provision_expense") == allowance
    with uow.begin() as tx:  # running the date again posts nothing
        _, again = P.post_provisions(tx, as_of)
    assert again[0].replayed and again[0].change_minor == allowance
    assert len(_provision_transfers(uow)) == 1
    with uow.connect() as conn:
        assert L.verify_ledger(conn).ok

    # Next day: c1 repays everything, the allowance falls and the release is posted.
    with uow.connect() as conn:
        owed = S.payoff_amount(conn, "loan-c1")
    with uow.begin() as tx:
        S.repay(tx, repayment_id="r-c1", customer_id="c1", currency=CNY, amount_minor=owed,
                target="loan-c1",
                source_account_id=build_wallet(tx, "c1"), catalogue=CATALOGUE)
    close_until(uow, clock, D(2025, 4, 10))
    with uow.begin() as tx:
        run2, postings2 = P.post_provisions(tx, D(2025, 4, 9))
    new_allowance = run2.totals()[CNY]["allowance_minor"]
    assert new_allowance < allowance
    assert postings2[0].change_minor == new_allowance - allowance
    assert _balance(uow, "loss_provision") == new_allowance
    transfers = _provision_transfers(uow)
    assert len(transfers) == 2 and transfers[1].amount_minor == allowance - new_allowance
    with uow.connect() as conn:
        reserve = L.get_account_by_key(conn, platform_key("loss_provision", CNY)).id
        assert transfers[1].debit_account_id == reserve  # a release debits the reserve
        assert L.verify_ledger(conn).ok
        count = conn.execute(select(func.count()).select_from(ledger_transfers)).scalar_one()
    assert count > 2


def build_wallet(tx, customer_id: str) -> int:
    from creditpay.ledger.chart import party_key

    return L.get_account_by_key(tx.conn, party_key("wallet", customer_id, CNY)).id
