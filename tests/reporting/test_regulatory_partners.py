"""The regulatory report's partner-lending sections on both stores (issue #17 item 6): joint
lending by partner with the platform's smallest and average share, facilitation volumes, the
all-in cost distribution of loans funded with partners, and the guarantee's exposure; each as
of the report date (a later repayment does not change an earlier day's report)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from creditpay.credit import funding as F
from creditpay.reporting import regulatory as R
from tests.credit.servicing_helpers import close_days, new_customer, repay
from tests.credit.test_funding import (
    _arrange,
    _consent,
    _funding,
    _loan,
    _partner,
    _shares,
    close_until_written_off,
    guaranteed_bad_loan,
)

KEY = b"k" * 32


def _section(uow, day: dt.date, name: str) -> list[dict]:
    with uow.connect() as conn:
        return R.daily_report(conn, day, pseudonym_key=KEY).section(name).as_dicts()


def test_partner_sections(uow, clock):
    who = new_customer(uow, limit_minor=5_000_000)
    bank = _partner(uow, "Report Bank", rate_bps=500)
    trust = _partner(uow, "Report Trust", rate_bps=700)
    for pid in (bank, trust):
        _consent(uow, who.customer_id, pid)
    _arrange(uow, "jiebei", [{"partner_id": bank}], arrangement_type="joint",
             platform_share_bps=3500, guarantee_bps=2000)
    _arrange(uow, "flat_loan", [{"partner_id": trust}], arrangement_type="facilitation")
    _loan(uow, who, "loan_j1", 100_001, _funding())
    _loan(uow, who, "loan_j2", 50_000, _funding())
    _loan(uow, who, "loan_f", 80_000, _funding(), code="flat_loan", periods=6, method="flat")
    funded = {a: _shares(uow, a) for a in ("loan_j1", "loan_j2", "loan_f")}
    bank_funded = funded["loan_j1"][bank]["funded_minor"] + funded["loan_j2"][bank][
        "funded_minor"]
    assert bank_funded == 100_001 * 6500 // 10000 + 50_000 * 6500 // 10000
    day0 = clock.today()
    close_days(uow, clock, 1)

    [joint] = _section(uow, day0, "partner_joint_lending")
    platform = 150_001 - bank_funded
    assert joint == {
        "currency": "CNY", "partner_id": bank, "partner_name": "Report Bank", "loans": 2,
        "partner_funded_minor": bank_funded, "loans_principal_minor": 150_001,
        "platform_funded_minor": platform,
        # Floored per loan, the smallest of the two: never above the share a loan has.
        "platform_share_min_bps": min(
            funded[a]["platform"]["funded_minor"] * 10000 // p
            for a, p in (("loan_j1", 100_001), ("loan_j2", 50_000))),
        "platform_share_avg": R.ratio(platform, 150_001),
        "partner_outstanding_minor": bank_funded}
    assert joint["platform_share_min_bps"] >= 3500
    assert _section(uow, day0, "partner_facilitation") == [{
        "currency": "CNY", "partner_id": trust, "partner_name": "Report Trust", "loans": 1,
        "partner_funded_minor": 80_000, "partner_outstanding_minor": 80_000}]
    costs = _section(uow, day0, "partner_cost_distribution")
    total = next(r for r in costs if r["arrangement_type"] == "ALL")
    assert (total["loans"], total["principal_minor"]) == (3, 230_001)
    by_type = {(r["arrangement_type"]): r for r in costs if r["arrangement_type"] != "ALL"}
    assert by_type["joint"]["loans"] == 2 and by_type["facilitation"]["loans"] == 1
    # The all-in cost is the consumer's (fees included), banded as originations are.
    assert all(r["apr_band"] not in ("unknown", "0%") for r in by_type.values())
    cover = sum(funded[a][bank]["funded_minor"] * 2000 // 10000 for a in ("loan_j1", "loan_j2"))
    assert _section(uow, day0, "partner_guarantee") == [{
        "currency": "CNY", "partner_id": bank, "partner_name": "Report Bank",
        "cover_granted_minor": cover, "paid_minor": 0, "left_minor": cover}]

    # Next day: a repayment of the joint loan; once followed, the day's report shows the
    # partner's outstanding after its principal part, and day 0's report is unchanged.
    repay(uow, who, "r1", 30_000, target="loan_j1")
    day1 = clock.today()
    close_days(uow, clock, 1)
    with uow.begin() as tx:
        assert F.reconcile(tx)["ok"]
    live = sum(_shares(uow, a)[bank]["outstanding_minor"] for a in ("loan_j1", "loan_j2"))
    assert live < bank_funded
    [after] = _section(uow, day1, "partner_joint_lending")
    assert (after["loans"], after["partner_funded_minor"]) == (0, 0)  # none opened on day 1
    assert after["partner_outstanding_minor"] == live
    assert after["platform_share_min_bps"] == "" and after["platform_share_avg"] == ""
    assert _section(uow, day0, "partner_joint_lending") == [joint]


def test_no_partners_empty_sections(uow, clock):
    day = clock.today()
    close_days(uow, clock, 1)
    with uow.connect() as conn:
        report = R.daily_report(conn, day, pseudonym_key=KEY)
    for name in ("partner_joint_lending", "partner_facilitation", "partner_cost_distribution",
                 "partner_guarantee"):
        assert report.section(name).rows == []
    assert isinstance(R.ratio(1, 3), Decimal)


def test_guarantee_paid_at_write_off_as_of_each_day(uow, clock):
    _, bank = guaranteed_bad_loan(uow, "Guarded Report Bank")
    before = close_until_written_off(uow, clock, "bad")  # the last date not written off
    with uow.begin() as tx:  # follow the journal, as the nightly's settlement does
        assert F.reconcile(tx)["ok"]
    after = clock.today() - dt.timedelta(days=1)
    share = _shares(uow, "bad")[bank]
    cover = 50_000 * 2000 // 10000
    assert share["guaranteed_minor"] == cover  # the whole cover went on this loss
    assert _section(uow, after, "partner_guarantee") == [{
        "currency": "CNY", "partner_id": bank, "partner_name": "Guarded Report Bank",
        "cover_granted_minor": cover, "paid_minor": cover, "left_minor": 0}]
    # Nothing outstanding and nothing opened that day: the partner has no joint row.
    assert share["outstanding_minor"] == 0
    assert _section(uow, after, "partner_joint_lending") == []
    # The day before the write-off: all of it outstanding, nothing paid by the guarantee.
    assert _section(uow, before, "partner_guarantee")[0]["paid_minor"] == 0
    [row] = _section(uow, before, "partner_joint_lending")
    assert row["partner_outstanding_minor"] == 50_000
