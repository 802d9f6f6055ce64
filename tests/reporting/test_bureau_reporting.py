"""Monthly credit-bureau reporting (issue #17 item 7; docs/bureau-reporting.md), both stores.

A month is reported once its month end is closed: every credit account of every customer
whose bureau consent is in force, none of a customer without it; the simulated bureau
ingests the records, so a later pull (what a decision uses) shows the platform's tradelines;
a re-run reports only differences as corrections (a reversed write-off: one "C" record;
nothing changed: nothing; consent withdrawn: a "D" deletion), each naming the submission it
corrects; bad input is refused naming the field and changes nothing; the nightly reports a
month end's month; the CLI prints its JSON contract and writes the CSV file.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from creditpay.cli import app
from creditpay.credit import products as P
from creditpay.credit.write_off_reversal import reverse_write_off
from creditpay.errors import StateError, ValidationError
from creditpay.nightly import run_nightly
from creditpay.platform.tables import audit_records
from creditpay.protection.consent import Purpose, consent_text, grant_consent, revoke_consent
from creditpay.reporting.bureau_reporting import CSV_COLUMNS, report_month
from creditpay.risk.bureau import SimulatedBureau, pull_report, require_explicit_consent
from creditpay.risk.decisions.bureau_furnishing import latest_records, month_submissions
from creditpay.risk.decisions.tables import (
    bureau_submission_records,
    bureau_submissions,
    bureau_tradelines,
)
from tests.catalogues import CATALOGUE

from ..credit.servicing_helpers import buy, close_until, new_customer

BUREAU = SimulatedBureau(7)


def _consent(uow, customer_id: str) -> None:
    text = consent_text(Purpose.BUREAU_INQUIRY, "zh-CN")
    uow.run(lambda tx: grant_consent(tx, customer_id=customer_id,
                                     purpose=Purpose.BUREAU_INQUIRY, language="zh-CN",
                                     text_version=text.version, text_sha256=text.sha256,
                                     channel="app"))


def _world(uow, clock, *, catalogue=CATALOGUE) -> None:
    """c1 consents, c2 does not; each bought 1,000.00 on its pay-later line on 1 March 2025
    (due 10 March) and never repaid."""
    for customer in ("c1", "c2"):
        who = new_customer(uow, customer, catalogue=catalogue)
        buy(uow, who, f"{customer}-p1", 100_000, catalogue=catalogue)
    _consent(uow, "c1")


def _counts(uow) -> tuple[int, int, int]:
    with uow.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(table)).scalar_one()
                     for table in (bureau_submissions, bureau_submission_records,
                                   bureau_tradelines))


def _report(uow, month: str):
    return uow.run(lambda tx: report_month(tx, month=month, bureau=BUREAU))


def test_only_consenting_customers_are_reported_and_ingested(uow, clock):
    _world(uow, clock)
    close_until(uow, clock, dt.date(2025, 4, 1))  # 31 March closed
    result = _report(uow, "2025-03")
    assert result.submission_id == "BR202503-001"
    assert (result.records, result.corrections, result.skipped_no_consent) == (1, 0, 1)
    rows = list(csv.DictReader(io.StringIO(result.csv)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [(r["account_id"], r["customer_id"], r["correction_indicator"]) for r in rows] \
        == [("line_c1", "c1", "")]
    line = rows[0]
    assert (line["account_type"], line["pboc_account_status"], line["dpd"],
            line["metro2_status"], line["payment_rating"]) == ("R1", "2", "21", "11", "0")
    assert int(line["credit_limit_minor"]) == 1_000_000
    # the night of the month end: the past-due amount is exact (the whole unpaid statement)
    assert int(line["amount_past_due_minor"]) == int(line["balance_minor"]) > 100_000
    assert result.checksum == hashlib.sha256(result.csv.encode()).hexdigest()
    with uow.connect() as conn:
        (submission,) = month_submissions(conn, "2025-03")
        assert (submission.record_count, submission.kind, submission.status,
                submission.checksum) == (1, "original", "accepted", result.checksum)
        assert set(latest_records(conn, "2025-03")) == {"line_c1"}
        ingested = conn.execute(select(bureau_tradelines.c.customer_id)).scalars().all()
        audited = conn.execute(select(func.count()).select_from(audit_records).where(
            audit_records.c.action == "bureau.submitted")).scalar_one()
    assert ingested == ["c1"]
    assert audited == 1


def test_a_later_pull_sees_the_platform_history(uow, clock):
    _world(uow, clock)
    close_until(uow, clock, dt.date(2025, 4, 1))
    _report(uow, "2025-03")
    close_until(uow, clock, dt.date(2025, 5, 1))  # 30 April closed: the line 51 dpd
    april = _report(uow, "2025-04")
    (record,) = csv.DictReader(io.StringIO(april.csv))
    assert (record["dpd"], record["metro2_status"], record["payment_rating"]) == \
        ("51", "71", "1")
    synthetic = {c: BUREAU.fetch(c, clock.now()) for c in ("c1", "c2")}
    with uow.begin() as tx:
        pulls = {c: pull_report(tx, BUREAU, customer_id=c, purpose="credit_application",
                                consent_reference="consent:test",
                                consent_checker=require_explicit_consent).report
                 for c in ("c1", "c2")}
    # c1: April's balance and delinquency (March's 21 dpd is no delinquency), one lender more
    assert pulls["c1"].debt_minor == synthetic["c1"].debt_minor + int(record["balance_minor"])
    assert pulls["c1"].delinquencies_24m == synthetic["c1"].delinquencies_24m + 1
    assert pulls["c1"].lenders_in_use == synthetic["c1"].lenders_in_use + 1
    assert pulls["c1"].monthly_repayment_minor == (synthetic["c1"].monthly_repayment_minor
                                                   + int(record["scheduled_payment_minor"]))
    assert pulls["c1"].inquiries_6m == synthetic["c1"].inquiries_6m
    # c2 never consented: nothing of the platform reaches the bureau
    assert pulls["c2"] == synthetic["c2"]
    # another seed draws other lenders but reads the same ingested store
    assert SimulatedBureau(99).fetch_from(uow.engine.connect(), "c1", clock.now()) \
        .delinquencies_24m >= 1


def test_rerun_reports_only_corrections(uow, clock):
    fast = P.Catalogue([p.model_copy(update={"write_off_dpd": 30})
                        for p in CATALOGUE.all()], {"CN": CATALOGUE.caps("CN")})
    _world(uow, clock, catalogue=fast)
    close_until(uow, clock, dt.date(2025, 5, 1), catalogue=fast)  # written off on 9 April
    original = _report(uow, "2025-04")
    (written_off,) = csv.DictReader(io.StringIO(original.csv))
    assert (written_off["pboc_account_status"], written_off["metro2_status"],
            written_off["five_class"]) == ("4", "97", "5")
    # unchanged: a re-run submits nothing
    before = _counts(uow)
    again = _report(uow, "2025-04")
    assert (again.submission_id, again.records, again.corrections) == (None, 0, 0)
    assert _counts(uow) == before
    # the write-off was a mistake: reversing it corrects April's record
    uow.run(lambda tx: reverse_write_off(tx, "op_test", "line_c1", reason="paid in time"))
    corrected = _report(uow, "2025-04")
    assert (corrected.submission_id, corrected.records, corrected.corrections) == \
        ("BR202504-002", 1, 1)
    (row,) = csv.DictReader(io.StringIO(corrected.csv))
    assert (row["correction_indicator"], row["original_submission_id"]) == \
        ("C", original.submission_id)
    assert (row["pboc_account_status"], row["metro2_status"]) == ("2", "80" if int(
        row["dpd"]) >= 90 else "71" if int(row["dpd"]) < 60 else "78")
    assert int(row["balance_minor"]) == int(written_off["balance_minor"])
    assert row["charge_off_minor"] == "0"
    assert _report(uow, "2025-04").submission_id is None
    # consent withdrawn: April's record is deleted, referencing the correction it replaces
    uow.run(lambda tx: revoke_consent(tx, customer_id="c1", purpose=Purpose.BUREAU_INQUIRY,
                                      channel="app"))
    deleted = _report(uow, "2025-04")
    (row,) = csv.DictReader(io.StringIO(deleted.csv))
    assert (row["correction_indicator"], row["original_submission_id"]) == \
        ("D", corrected.submission_id)
    assert (deleted.records, deleted.corrections, deleted.skipped_no_consent) == (1, 1, 2)
    with uow.connect() as conn:
        assert BUREAU.fetch_from(conn, "c1", clock.now()) == BUREAU.fetch("c1", clock.now())
    assert _report(uow, "2025-04").submission_id is None


@pytest.mark.parametrize(("month", "error"), [
    ("2025-13", ValidationError), ("2025-3", ValidationError), ("March", ValidationError),
    (202503, ValidationError), ("2025-04", StateError), ("2025-05", StateError)])
def test_bad_input_is_refused_naming_the_month(uow, clock, month, error):
    _world(uow, clock)
    close_until(uow, clock, dt.date(2025, 4, 1))  # only March is closed
    with pytest.raises(error) as refused:
        _report(uow, month)
    assert refused.value.field == "month"
    if error is StateError:
        assert refused.value.extra["rule"] == "bureau.month_not_closed"
    assert _counts(uow) == (0, 0, 0)


def test_the_nightly_reports_a_month_end(uow, clock):
    _world(uow, clock)
    close_until(uow, clock, dt.date(2025, 3, 31))
    clock.set(dt.datetime(2025, 4, 1, 0, 30, tzinfo=dt.UTC))
    report = run_nightly(uow, dt.date(2025, 3, 31), audit_checkpointer=None,
                         catalogue=CATALOGUE)
    assert report.bureau_submission is not None
    assert (report.bureau_submission["submission_id"], report.bureau_submission["records"],
            report.bureau_submission["skipped_no_consent"]) == ("BR202503-001", 1, 1)
    with uow.connect() as conn:
        assert set(latest_records(conn, "2025-03")) == {"line_c1"}


def test_cli_prints_the_json_contract_and_writes_the_file(store, uow, clock, tmp_path):
    _world(uow, clock)
    close_until(uow, clock, dt.date(2025, 4, 1))
    runner = CliRunner()
    out = tmp_path / "bureau"
    first = runner.invoke(app, ["bureau", "report", "--db", store.url, "--month", "2025-03",
                                "--out", str(out), "--json"])
    assert first.exit_code == 0, first.output
    document = json.loads(first.stdout)
    assert set(document) == {"month", "submission_id", "records", "corrections",
                             "skipped_no_consent", "file"}
    assert (document["month"], document["submission_id"], document["records"],
            document["corrections"], document["skipped_no_consent"]) == \
        ("2025-03", "BR202503-001", 1, 0, 1)
    path = out / "creditpay_bureau_202503_001.csv"
    assert document["file"] == str(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert [r["account_id"] for r in rows] == ["line_c1"]
    again = runner.invoke(app, ["bureau", "report", "--db", store.url, "--month", "2025-03",
                                "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["submission_id"] is None
    bad = runner.invoke(app, ["bureau", "report", "--db", store.url, "--month", "2025-3"])
    assert bad.exit_code == 2 and "month" in bad.output


def test_a_decision_after_reporting_scores_the_platform_history(risk_store, clock):
    """The whole path: the decision's recorded bureau file and its bureau features carry
    the delinquency the platform reported (the other lenders pinned clean)."""
    from creditpay.risk.decisions import service
    from tests.risk.decisions.conftest import (
        CONSENT,
        GOOD_APPLICATION,
        allow_all,
        bureau_for,
        good_events,
    )

    uow = risk_store  # models and policies registered, as in the decision tests
    _world(uow, clock)
    close_until(uow, clock, dt.date(2025, 5, 1))
    _report(uow, "2025-04")

    def decide(customer_id: str):
        with uow.begin() as tx:
            return service.decide(
                tx, application_id=f"app-{customer_id}", customer_id=customer_id,
                product_code="credit_line", application=GOOD_APPLICATION,
                bureau=bureau_for(customer_id),
                platform_events=good_events(customer_id, tx.now),
                bureau_consent_reference=CONSENT, platform_consent_reference=CONSENT,
                consent_checker=allow_all)

    reported, unreported = decide("c1"), decide("c2")
    assert reported.features["bureau_delinquencies_24m"] == 1
    assert reported.features["bureau_lenders_in_use"] == 1
    assert unreported.features["bureau_delinquencies_24m"] == 0
    assert unreported.features["bureau_lenders_in_use"] == 0
    assert reported.pd > unreported.pd


def test_a_write_off_made_again_after_a_reversal_is_reported_as_written_off(uow, clock):
    """Only the write-off the month-end position shows is undone when it was reversed: an
    account reversed in May and written off again is 呆账 at the end of May."""
    fast = P.Catalogue([p.model_copy(update={"write_off_dpd": 30})
                        for p in CATALOGUE.all()], {"CN": CATALOGUE.caps("CN")})
    _world(uow, clock, catalogue=fast)
    close_until(uow, clock, dt.date(2025, 5, 1), catalogue=fast)  # written off on 9 April
    uow.run(lambda tx: reverse_write_off(tx, "op_test", "line_c1", reason="paid in time"))
    close_until(uow, clock, dt.date(2025, 6, 1), catalogue=fast)  # written off again
    (row,) = csv.DictReader(io.StringIO(_report(uow, "2025-05").csv))
    assert (row["pboc_account_status"], row["metro2_status"]) == ("4", "97")
    assert int(row["charge_off_minor"]) > 0


class _Rejecting(SimulatedBureau):
    """A bureau that refuses every submission."""

    def submit(self, tx, submission_id, records):
        from creditpay.risk.bureau import SubmissionReceipt

        return SubmissionReceipt(submission_id, "rejected", 0, ("layout: refused",))


class _PullOnly:
    """A bureau adapter that answers pulls and takes no submissions."""

    name = "pull-only"

    def fetch(self, customer_id, as_of):
        return BUREAU.fetch(customer_id, as_of)


def test_a_rejected_submission_stores_nothing(uow, clock):
    _world(uow, clock)
    close_until(uow, clock, dt.date(2025, 4, 1))
    with pytest.raises(StateError) as refused:
        uow.run(lambda tx: report_month(tx, month="2025-03", bureau=_Rejecting(7)))
    assert refused.value.extra["rule"] == "bureau.rejected"
    assert _counts(uow) == (0, 0, 0)


def test_the_nightly_skips_a_bureau_that_takes_no_submissions(uow, clock):
    _world(uow, clock)
    close_until(uow, clock, dt.date(2025, 3, 31))
    clock.set(dt.datetime(2025, 4, 1, 0, 30, tzinfo=dt.UTC))
    report = run_nightly(uow, dt.date(2025, 3, 31), audit_checkpointer=None,
                         catalogue=CATALOGUE, bureau=_PullOnly())
    assert report.bureau_submission is None
    assert any(note.startswith("bureau_reporting:") for note in report.skipped)
    assert _counts(uow) == (0, 0, 0)


def test_any_month_reports_exactly_the_consenting_customers_once(uow, clock):
    """Property (Hypothesis, one month per example on the same store): whatever the
    customers bought, repaid and consented to, a month's submission holds one record per
    reportable account of each consenting customer and none of the others, every record
    keeps the layout's rules, and running the month again submits nothing."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from creditpay.errors import DomainError

    from ..credit.servicing_helpers import repay

    months = iter(range(100))
    consenting: set[str] = set()

    @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True)
    @given(people=st.lists(st.tuples(st.booleans(), st.integers(1_000, 300_000),
                                     st.integers(0, 100)), min_size=1, max_size=4))
    def example(people: list[tuple[bool, int, int]]) -> None:
        n = next(months)
        start = clock.today()
        for k, (consents, amount, repaid_percent) in enumerate(people):
            customer = f"h{n}x{k}"
            who = new_customer(uow, customer)
            buy(uow, who, f"{customer}-p", amount)
            if consents:
                _consent(uow, customer)
                consenting.add(customer)
            if repaid_percent:
                try:
                    repay(uow, who, f"{customer}-r", amount * repaid_percent // 100)
                except DomainError:
                    pass  # nothing billed to repay yet: the customer simply did not pay
        next_month = (start.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        close_until(uow, clock, next_month)
        month = f"{start.year:04d}-{start.month:02d}"
        result = _report(uow, month)
        rows = list(csv.DictReader(io.StringIO(result.csv or "")))
        reported = {r["customer_id"] for r in rows}
        with uow.connect() as conn:
            from creditpay.credit.bureau_source import month_end_accounts

            accounts = [a for a in month_end_accounts(conn, next_month - dt.timedelta(days=1))
                        if a.status != "closed" or a.open_at_previous_month_end]
        expected = {a.account_id for a in accounts if a.customer_id in consenting}
        assert {r["account_id"] for r in rows} == expected
        assert reported <= consenting
        assert result.skipped_no_consent == sum(
            1 for a in accounts if a.customer_id not in consenting)
        for r in rows:
            assert 0 <= int(r["amount_past_due_minor"]) <= int(r["balance_minor"])
            assert (r["pboc_account_status"] == "3") == bool(r["closed_on"])
            if r["pboc_account_status"] in ("1", "2"):
                assert (int(r["dpd"]) > 0) == (r["pboc_account_status"] == "2")
        assert _report(uow, month).submission_id is None

    example()
