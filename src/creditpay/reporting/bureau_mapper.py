"""Pure mapping of a credit account's month-end state to a bureau record (no I/O, no clock).

The layout (docs/bureau-reporting.md) is modelled on the PBOC personal credit report's loan
account items (个人借贷账户信息: 账户类型, 开立日期, 授信额度, 余额, 当前逾期总额, 当前逾期期数,
账户状态, 五级分类, 关闭日期) and on Metro 2's base segment (portfolio type, account status,
payment rating, amount past due, original charge-off amount, date closed). Amounts are
integers in minor units of the account's currency; nothing here is ever negative.
"""

from __future__ import annotations

import datetime as dt

from creditpay.credit.bureau_source import MonthEndAccount
from creditpay.credit.hardship_core import BUREAU_CODES
from creditpay.risk.bureau import TradelineRecord

__all__ = ["to_record", "pboc_status", "five_class", "metro2_status", "payment_rating",
           "months_past_due", "remaining_term_months", "PBOC_STATUS", "METRO2_STATUS",
           "PAYMENT_RATING", "SPECIAL_COMMENT", "special_comment"]

# PBOC 账户状态 (loan accounts): 1 正常 normal, 2 逾期 overdue, 3 结清 settled, 4 呆账 bad debt.
PBOC_STATUS = {"1": "正常 current", "2": "逾期 overdue", "3": "结清 settled/closed",
               "4": "呆账 written off"}
# Metro 2 account status codes used (base segment field 17A).
METRO2_STATUS = {"11": "current (0-29 days past due)", "71": "30-59 days past due",
                 "78": "60-89 days past due", "80": "90-119 days past due",
                 "82": "120-149 days past due", "83": "150-179 days past due",
                 "84": "180 days or more past due", "97": "unpaid balance charged off",
                 "13": "paid or closed, zero balance"}
# Metro 2 payment rating (field 17B): the worst status in the month.
PAYMENT_RATING = {"0": "current (0-29)", "1": "30-59", "2": "60-89", "3": "90-119",
                  "4": "120-149", "5": "150-179", "6": "180+", "L": "charge-off"}

# Metro 2 Special Comment Codes (field 19) for an account under a hardship arrangement
# (credit.hardship): a payment holiday is forbearance, a re-amortisation or a reduced rate is
# a modified loan. The account status stays the one its days past due give: the deferred
# installments are no longer due, so they never make it worse.
SPECIAL_COMMENT = {"CP": "account in forbearance (hardship payment holiday)",
                   "CO": "loan modified (hardship re-amortisation or reduced rate)"}
_SPECIAL_BY_KIND = BUREAU_CODES

_DELINQUENT = ((180, "84", "6"), (150, "83", "5"), (120, "82", "4"), (90, "80", "3"),
               (60, "78", "2"), (30, "71", "1"))


def months_past_due(dpd: int) -> int:
    """PBOC 当前逾期期数: the number of 30-day periods begun past due (0 when current)."""
    return -(-max(0, dpd) // 30)


def pboc_status(status: str, dpd: int) -> str:
    if status == "closed":
        return "3"
    if status == "written_off":
        return "4"
    return "2" if dpd > 0 else "1"


def five_class(status: str, dpd: int) -> str:
    """五级分类 from days past due (正常 1, 关注 2 1-90, 次级 3 91-180, 可疑 4 181-360,
    损失 5 over 360 or written off)."""
    if status == "written_off" or dpd > 360:
        return "5"
    if dpd > 180:
        return "4"
    if dpd > 90:
        return "3"
    return "2" if dpd > 0 else "1"


def _delinquency(dpd: int) -> tuple[str, str]:
    for threshold, status_code, rating in _DELINQUENT:
        if dpd >= threshold:
            return status_code, rating
    return "11", "0"


def metro2_status(status: str, dpd: int) -> str:
    if status == "closed":
        return "13"
    if status == "written_off":
        return "97"
    return _delinquency(dpd)[0]


def payment_rating(status: str, dpd: int) -> str:
    if status == "written_off":
        return "L"
    return _delinquency(dpd)[1]


def special_comment(status: str, hardship_kind: str | None) -> str:
    """The special comment code of an active account under a hardship arrangement of
    ``hardship_kind``, else ""."""
    if status != "active" or hardship_kind is None:
        return ""
    return _SPECIAL_BY_KIND.get(hardship_kind, "")


def remaining_term_months(month_end: dt.date, last_due_date: dt.date | None) -> int:
    """Whole months from the month end to the last open installment's due date (0 none)."""
    if last_due_date is None or last_due_date <= month_end:
        return 0
    return ((last_due_date.year - month_end.year) * 12
            + last_due_date.month - month_end.month)


def to_record(account: MonthEndAccount, month: str, month_end: dt.date) -> TradelineRecord:
    """The record of ``account`` for ``month`` (``YYYY-MM``, whose last day is
    ``month_end``). Balances: active, what is posted and unpaid (principal, interest, fees,
    penalty); written off, what was written off less what was recovered since; closed, 0.
    Amount past due: active and past due, the known past-due amount (see
    :class:`MonthEndAccount`), else the posted unpaid interest, fees and penalty (a lower
    bound: principal past due is not kept in positions), never above the balance; written
    off, the whole balance; otherwise 0. Credit lines report their limit, plans and loans
    the principal lent and the remaining term."""
    status, dpd = account.status, max(0, account.dpd)
    charges = account.interest_due_minor + account.fee_due_minor + account.penalty_due_minor
    if status == "closed":
        balance, past_due, dpd = 0, 0, 0
    elif status == "written_off":
        balance = max(0, account.written_off_minor - account.recovered_minor)
        past_due = balance
    else:
        balance = max(0, account.principal_minor + charges)
        known = account.past_due_minor if account.past_due_minor is not None else charges
        past_due = min(balance, max(0, known)) if dpd > 0 else 0
    line = account.kind == "line"
    original = 0 if line else max(0, account.principal_original_minor)
    limit = max(0, account.limit_minor or 0) if line else original
    term = 0 if line or status != "active" else remaining_term_months(
        month_end, account.last_due_date)
    if status != "active":
        scheduled = 0
    elif line:
        scheduled = balance  # pay-later lines: the statement balance is due each month
    else:
        scheduled = -(-balance // term) if term > 0 else balance
    closed_on = account.closed_on or (month_end if status == "closed" else None)
    return TradelineRecord(
        month=month, account_id=account.account_id, customer_id=account.customer_id,
        account_type="R1" if line else "D1", portfolio_type="R" if line else "I",
        currency=account.currency, opened_on=account.opened_on.isoformat(),
        credit_limit_minor=limit, original_amount_minor=original, balance_minor=balance,
        amount_past_due_minor=past_due, months_past_due=months_past_due(dpd), dpd=dpd,
        remaining_term_months=term, scheduled_payment_minor=scheduled,
        pboc_account_status=pboc_status(status, dpd), five_class=five_class(status, dpd),
        metro2_status=metro2_status(status, dpd), payment_rating=payment_rating(status, dpd),
        charge_off_minor=max(0, account.written_off_minor) if status == "written_off" else 0,
        closed_on=closed_on.isoformat() if closed_on is not None else "",
        special_comment=special_comment(status, account.hardship_kind))
