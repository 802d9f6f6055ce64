"""Regulatory reports on both stores: balances by product and bucket, NPL, originations by
grade and APR band, write-offs and recoveries, complaints, pseudonymous loan-level export,
CSV / Excel files with a manifest, and the CLI."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import json
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from creditpay.cli import app
from creditpay.credit import service as S
from creditpay.errors import StateError, ValidationError
from creditpay.protection.complaints import open_complaint
from creditpay.reporting import regulatory as R
from tests.catalogues import CATALOGUE
from tests.compliance.test_compliance_provisions import build_portfolio, build_wallet
from tests.credit.servicing_helpers import CNY, account, close_days, close_until

D = dt.date
KEY = b"k" * 32


def _rows(section: R.Section) -> list[dict]:
    return section.as_dicts()


def _check_balances_add_up(report: R.RegulatoryReport) -> None:
    loans = [r for r in _rows(report.section("loan_level")) if r["status"] == "active"]
    balances = _rows(report.section("balances"))
    total = next(r for r in balances if r["product_code"] == "ALL" and r["bucket"] == "ALL")
    for column in ("principal_minor", "interest_due_minor", "fee_due_minor",
                   "penalty_due_minor", "accrued_minor", "total_minor"):
        assert total[column] == sum(r[column] for r in loans), column
        assert total[column] == sum(r[column] for r in balances
                                    if r["product_code"] not in ("ALL",)), column
    assert total["accounts"] == len(loans)


def test_pure_rules():
    assert [R.bucket_rank(b) for b in ("M0", "M2", "M3", "M6", "M6+")] == [0, 2, 3, 6, 7]
    assert not R.is_npl("M2") and R.is_npl("M3") and R.is_npl("M6+")
    with pytest.raises(ValidationError) as err:
        R.bucket_rank("X1")
    assert err.value.field == "bucket"
    assert [R.apr_band(Decimal(x)) for x in ("0", "0.0001", "0.12", "0.1201", "0.18",
                                             "0.24", "0.2401")] == [
        "0%", "0-12%", "0-12%", "12-18%", "12-18%", "18-24%", "above_24%"]
    assert R.apr_band(None) == "unknown"
    assert R.pseudonym(KEY, "customer", "c1") == R.pseudonym(KEY, "customer", "c1")
    assert R.pseudonym(KEY, "customer", "c1") != R.pseudonym(b"j" * 32, "customer", "c1")


def test_monthly_and_daily_reports(uow, clock, tmp_path):
    build_portfolio(uow, clock, D(2025, 4, 1))  # March closed
    with uow.connect() as conn:
        march = R.monthly_report(conn, 2025, 3, pseudonym_key=KEY)
        with pytest.raises(StateError) as err:
            R.monthly_report(conn, 2025, 2, pseudonym_key=KEY)
        assert err.value.field == "date"
        with pytest.raises(ValidationError) as err:
            R.daily_report(conn, D(2025, 3, 31), pseudonym_key=b"short")
        assert err.value.field == "pseudonym_key"
    assert (march.period_start, march.period_end) == (D(2025, 3, 1), D(2025, 3, 31))
    origination = _rows(march.section("originations"))
    total = next(r for r in origination if r["product_code"] == "ALL")
    assert (total["count"], total["amount_minor"]) == (3, 100_000 + 1_200_000 + 50_000)
    by_key = {(r["product_code"], r["funding"]): r for r in origination}
    # 18.25 % daily-accrued cash loans fall in 18-24 %; the interest-free line purchase is 0 %
    assert by_key[("jiebei", "loan")]["apr_band"] == "18-24%"
    assert by_key[("jiebei", "loan")]["count"] == 2
    assert by_key[("huabei", "line")]["apr_band"] == "0%"
    assert {r["grade"] for r in origination} == {"n/a", "ALL"}  # no risk decisions here
    _check_balances_add_up(march)
    paths = R.write_report(march, tmp_path / "m", "xlsx")
    book = load_workbook(paths[0])
    assert book.sheetnames == ["summary", "balances", "npl", "originations",
                               "write_offs_recoveries", "complaints", "partner_joint_lending",
                               "partner_facilitation", "partner_cost_distribution",
                               "partner_guarantee", "cross_border", "loan_level"]
    sheet = book["originations"]
    assert [c.value for c in sheet[1]] == list(march.section("originations").columns)

    close_until(uow, clock, D(2025, 5, 9))
    with uow.begin() as tx:
        open_complaint(tx, customer_id="c1", subject_type="account", subject_id="loan-c1",
                       category="collections_conduct", channel="app", request_id="cmp-1")
    close_days(uow, clock, 1)  # 2025-05-09 closed
    with uow.connect() as conn:
        day = R.daily_report(conn, D(2025, 5, 9), pseudonym_key=KEY)
    _check_balances_add_up(day)
    balances = {(r["product_code"], r["bucket"]): r for r in _rows(day.section("balances"))}
    # c1's loan was due 03-08: dpd 62 on 05-09, M3 (NPL); c2's statement of 03-01 was due
    # 03-10: dpd 60, M2 (the last bucket that is not NPL)
    assert balances[("jiebei", "M3")]["accounts"] == 1
    assert balances[("jiebei", "M3")]["principal_minor"] == 100_000
    assert balances[("huabei", "M2")]["principal_minor"] == 50_000
    assert ("huabei", "M3") not in balances
    npl = {r["product_code"]: r for r in _rows(day.section("npl"))}
    loan_principal = account(uow, "loan-c3")["principal_unbilled_minor"] + \
        account(uow, "loan-c3")["principal_billed_minor"] + \
        account(uow, "loan-c3")["principal_past_due_minor"]
    assert npl["jiebei"]["npl_principal_minor"] == 100_000
    assert npl["jiebei"]["principal_minor"] == 100_000 + loan_principal
    assert npl["jiebei"]["npl_ratio"] == (Decimal(100_000) / (100_000 + loan_principal)
                                          ).quantize(Decimal("0.000001"), "ROUND_HALF_UP")
    assert npl["ALL"]["npl_principal_minor"] == 100_000
    assert npl["huabei"]["npl_ratio"] == Decimal(0)
    complaints = dict(day.section("complaints").rows)
    assert complaints["total"] == 1
    assert complaints["by_category.collections_conduct"] == 1
    loan_level = _rows(day.section("loan_level"))
    c1_loan = next(r for r in loan_level
                   if r["account_ref"] == R.pseudonym(KEY, "account", "loan-c1"))
    assert (c1_loan["dpd"], c1_loan["bucket"], c1_loan["npl"]) == (62, "M3", 1)
    assert c1_loan["customer_ref"] == R.pseudonym(KEY, "customer", "c1")
    assert sum(r["npl"] for r in loan_level) == 1

    paths = R.write_report(day, tmp_path / "d", "csv")
    manifest = json.loads(paths[-1].read_text())
    assert manifest["rows"]["loan_level"] == len(loan_level)
    for path in paths[:-1]:
        assert manifest["files"][path.name] == hashlib.sha256(path.read_bytes()).hexdigest()
    raw_ids = {"c1", "c2", "c3", "loan-c1", "loan-c3", "line_c1", "line_c2", "line_c3"}
    with (tmp_path / "d" / "creditpay_daily_2025-05-09_loan_level.csv").open() as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not raw_ids & set(cells)  # pseudonymous: no raw customer or account id
    with pytest.raises(ValidationError) as err:
        R.write_report(day, tmp_path / "x", "pdf")
    assert err.value.field == "format"


def test_write_off_and_recovery_in_monthly_report(uow, clock):
    build_portfolio(uow, clock, D(2025, 9, 6))  # c1's loan written off at dpd 180 (09-04)
    written = account(uow, "loan-c1")
    assert (written["status"], written["written_off_on"]) == ("written_off", D(2025, 9, 4))
    with uow.begin() as tx:
        S.repay(tx, repayment_id="rec-1", customer_id="c1", currency=CNY,
                amount_minor=30_000, source_account_id=build_wallet(tx, "c1"),
                target="loan-c1", catalogue=CATALOGUE)
    close_until(uow, clock, D(2025, 10, 1))
    with uow.connect() as conn:
        report = R.monthly_report(conn, 2025, 9, pseudonym_key=KEY)
    rows = {r["product_code"]: r for r in _rows(report.section("write_offs_recoveries"))}
    assert rows["jiebei"]["written_off_accounts"] == 1
    assert rows["jiebei"]["written_off_minor"] == written["written_off_minor"] > 100_000
    assert (rows["jiebei"]["recovery_payments"], rows["jiebei"]["recovered_minor"]) == (1,
                                                                                      30_000)
    assert rows["ALL"]["recovered_minor"] == 30_000
    balances = _rows(report.section("balances"))
    assert all(r["product_code"] != "jiebei" or r["bucket"] == "M0" for r in balances)


def test_reports_cli(uow, clock, store, tmp_path, monkeypatch):
    build_portfolio(uow, clock, D(2025, 4, 9))
    monkeypatch.setenv("CREDITPAY_MASTER_KEY", base64.b64encode(b"m" * 32).decode())
    monkeypatch.delenv("CREDITPAY_MASTER_KEY_FILE", raising=False)
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(app, ["reports", "daily", "--date", "2025-04-08", "--out",
                                 str(out), "--format", "xlsx", "--db", store.url])
    assert result.exit_code == 0, result.output
    assert (out / "creditpay_daily_2025-04-08.xlsx").exists()
    # any earlier closed date works too (its day-end positions), a date not closed does not
    result = runner.invoke(app, ["reports", "daily", "--date", "2025-04-07", "--out",
                                 str(out), "--db", store.url])
    assert result.exit_code == 0, result.output
    assert (out / "creditpay_daily_2025-04-07_balances.csv").exists()
    result = runner.invoke(app, ["reports", "daily", "--date", "2025-04-09", "--out",
                                 str(out), "--db", store.url])
    assert result.exit_code == 2 and "date:" in result.output
    result = runner.invoke(app, ["reports", "daily", "--date", "08/04/2025", "--out",
                                 str(out), "--db", store.url])
    assert result.exit_code == 2 and "--date" in result.output
    monthly = runner.invoke(app, ["reports", "monthly", "--month", "2025-03", "--out",
                                  str(out), "--db", store.url])
    assert monthly.exit_code == 0, monthly.output
    assert (out / "creditpay_monthly_2025-03_balances.csv").exists()
    monthly = runner.invoke(app, ["reports", "monthly", "--month", "2025-04", "--out",
                                  str(out), "--db", store.url])
    assert monthly.exit_code == 2 and "last closed business date is 2025-04-08" in \
        monthly.output
    bad = runner.invoke(app, ["reports", "monthly", "--month", "March", "--out", str(out),
                              "--db", store.url])
    assert bad.exit_code == 2 and "--month" in bad.output
    first = runner.invoke(app, ["reports", "provisions", "--date", "2025-04-08", "--post",
                                "--json", "--db", store.url])
    assert first.exit_code == 0, first.output
    posted = json.loads(first.output)
    allowance = posted["totals"][CNY]["allowance_minor"]
    assert posted["postings"][0]["change_minor"] == allowance > 0
    again = json.loads(runner.invoke(app, ["reports", "provisions", "--date", "2025-04-08",
                                           "--post", "--json", "--db", store.url]).output)
    assert again["postings"][0]["replayed"] is True
    assert again["postings"][0]["transfer_id"] == posted["postings"][0]["transfer_id"]
