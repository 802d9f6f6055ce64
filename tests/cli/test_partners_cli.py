"""``creditpay partners ...`` on a SQLite file: onboard and arrange as staff (refusals name
the field), then report, settle (CSV and Parquet files) and reconcile with the exact JSON
contracts of issue #17; a ledger that no longer matches the flows makes reconcile exit 1."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import polars as pl
from typer.testing import CliRunner

from creditpay import ledger as L
from creditpay.cli import app
from creditpay.clock import SystemClock
from creditpay.credit import catalogue_versions
from creditpay.credit import funding as F
from creditpay.credit import service as S
from creditpay.db.schema import open_database
from creditpay.db.uow import UnitOfWork
from creditpay.ledger.chart import ensure_platform_accounts, party_key
from creditpay.protection import consent
from creditpay.reporting.data_sharing import share_with_partner
from tests.catalogues import CATALOGUE
from tests.cli.staff import new_operator
from tests.credit.servicing_helpers import new_customer

runner = CliRunner()
TERMS = """
funding_rate_bps: 600
service_fee_bps: 400
exposure_cap_minor: 100000000
per_borrower_cap_minor: 5000000
appetite: {grades: [], max_pd: "0.2"}
data_fields: [payments_count_90d]
policy: {max_pd: "0.2", kyc_required: false}
"""


def _run(*args):
    return runner.invoke(app, [str(a) for a in args], env={"CREDITPAY_OPERATOR_TOKEN": ""})


def _uow(db):
    engine = open_database(f"sqlite:///{db}")
    return engine, UnitOfWork(engine, SystemClock())


def test_partners_commands(tmp_path):
    db = tmp_path / "partners.db"
    engine, uow = _uow(db)
    try:
        who = new_customer(uow, "cus_cli_partner", limit_minor=5_000_000)
        token = new_operator(uow, "risk_analyst")["token"]
        checker = new_operator(uow, "admin")["token"]
    finally:
        engine.dispose()
    terms = tmp_path / "terms.yaml"
    terms.write_text(TERMS, encoding="utf-8")
    onboarded = _run("partners", "onboard", "--name", "CLI Bank", "--licence-type", "bank",
                     "--licence-number", "B-1", "--terms", terms, "--token", token, "--db", db)
    assert onboarded.exit_code == 0, onboarded.output
    partner_id = json.loads(onboarded.output)["partner_id"]
    refused = _run("partners", "arrange", "--product", "jiebei", "--type", "joint",
                   "--partner", partner_id, "--platform-share-bps", 2000, "--token", token,
                   "--db", db)
    assert refused.exit_code == 2 and "platform_share_bps" in refused.output
    unknown = _run("partners", "arrange", "--product", "jiebei", "--type", "joint",
                   "--partner", "ptn_nobody", "--token", token, "--db", db)
    assert unknown.exit_code == 2 and "partners" in unknown.output
    no_token = _run("partners", "arrange", "--product", "jiebei", "--type", "joint",
                    "--partner", partner_id, "--db", db)
    assert no_token.exit_code == 2
    proposed = _run("partners", "arrange", "--product", "jiebei", "--type", "joint",
                    "--partner", partner_id, "--platform-share-bps", 3500, "--token", token,
                    "--db", db)
    assert proposed.exit_code == 0, proposed.output
    proposal = json.loads(proposed.output)
    assert (proposal["kind"], proposal["status"]) == ("funding.arrange", "pending")
    assert proposal["payload"]["platform_share_bps"] == 3500
    own = _run("approvals", "approve", proposal["approval_id"], "--token", token, "--db", db)
    assert own.exit_code == 2  # not by its proposer
    approved = _run("approvals", "approve", proposal["approval_id"], "--token", checker,
                    "--db", db)
    assert approved.exit_code == 0, approved.output
    listed = json.loads(_run("partners", "list", "--db", db).output)
    assert [a["platform_share_bps"] for a in listed["arrangements"]] == [3500]

    engine, uow = _uow(db)
    try:
        text = consent.consent_text(consent.Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER, "en",
                                    partner_name="CLI Bank")
        with uow.begin() as tx:
            consent.grant_consent(tx, customer_id=who.customer_id,
                                  purpose=consent.Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER,
                                  language="en", text_version=text.version,
                                  text_sha256=text.sha256, channel="app",
                                  partner_id=partner_id, partner_name="CLI Bank")
        funding = F.Funding(share_data=lambda tx, c, p, f: share_with_partner(tx, c, p, f),
                            borrower_risk=lambda conn, c: ("B", Decimal("0.05")))
        with uow.connect() as conn:
            catalogue = catalogue_versions.current(conn, CATALOGUE)[0]
        with uow.begin() as tx:
            S.disburse_cash_loan(tx, loan_id="cli-loan", customer_id=who.customer_id,
                                 currency="CNY", principal_minor=100_000,
                                 product_code="jiebei", periods=3,
                                 method="equal_installment", wallet_account_id=who.wallet_id,
                                 catalogue=catalogue, funding=funding)
        with uow.begin() as tx:
            S.repay(tx, repayment_id="cli-r1", customer_id=who.customer_id, currency="CNY",
                    amount_minor=30_000, source_account_id=who.wallet_id,
                    target="cli-loan", catalogue=CATALOGUE)
    finally:
        engine.dispose()

    report = _run("partners", "report", "--db", db, "--json")
    assert report.exit_code == 0, report.output
    row = json.loads(report.output)["partners"][0]
    assert {"partner_id", "name", "funded_minor", "outstanding_minor",
            "platform_share_min_bps"} <= set(row)
    assert (row["partner_id"], row["funded_minor"], row["platform_share_min_bps"]) == (
        partner_id, 65_000, 3500)
    assert 0 < row["outstanding_minor"] < 65_000

    today = dt.datetime.now(dt.UTC).date().isoformat()
    out = tmp_path / "files"
    settled = _run("partners", "settle", "--db", db, "--date", today, "--out", out)
    assert settled.exit_code == 0, settled.output
    summary = pl.read_parquet(out / f"settlements_{today}.parquet")
    lines = pl.read_csv(out / f"settlement_{partner_id}_{today}.csv")
    assert summary["net_minor"][0] == int((lines["cash_sign"] * lines["amount_minor"]).sum())
    assert summary["funding_minor"][0] == 65_000
    assert pl.read_parquet(out / f"settlement_{partner_id}_{today}.parquet").shape == lines.shape

    checked = _run("partners", "reconcile", "--db", db, "--date", today, "--json")
    assert checked.exit_code == 0, checked.output
    result = json.loads(checked.output)
    assert (result["ok"], result["differences"]) == (True, 0)

    # A posting to the partner's payable that no flow explains: reconciliation catches it.
    engine, uow = _uow(db)
    try:
        with uow.begin() as tx:
            payable = L.get_account_by_key(tx.conn, party_key("partner_payable", partner_id,
                                                                "CNY"))
            bank = ensure_platform_accounts(tx, "CNY")["bank_settlement"]
            L.create_transfer(tx, L.TransferRequest("stray", "manual.adjustment",
                                                    debit_account_id=bank.id,
                                                    credit_account_id=payable.id,
                                                    amount_minor=1))
    finally:
        engine.dispose()
    broken = _run("partners", "reconcile", "--db", db, "--json")
    assert broken.exit_code == 1
    result = json.loads(broken.output)
    assert result["ok"] is False and result["differences"] >= 1
