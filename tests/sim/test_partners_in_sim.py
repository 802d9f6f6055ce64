"""Partner lenders in the simulated economy and the nightly batch (issue #17 item 8): a short
run funds some plans with partners (only for consumers who consented), the nightly settles
every partner for each day with flows, the partners' flows reconcile with the ledger, and
figures.json and the report show each partner's funded volume, income and losses."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from creditpay.credit import funding as F
from creditpay.credit.tables import credit_funding_decisions, credit_funding_flows
from creditpay.db.engine import make_engine
from creditpay.nightly import run_nightly
from creditpay.parties import partners as PL
from creditpay.protection import consent
from creditpay.sim.economy import EconomyConfig, run_economy
from creditpay.sim.report import html_report, rows
from tests.catalogues import CATALOGUE
from tests.credit.test_funding import _arrange, _consent, _funding, _loan, _partner

from ..credit.servicing_helpers import new_customer


def test_short_run_funds_with_partners_settles_and_reconciles(store):
    figures, timings = run_economy(EconomyConfig(
        customers=60, merchants=8, days=12, seed=7, database_url=store.url, progress=False,
        fraud=False))
    partners = figures["partners"]
    assert partners["reconciliation"] == {"ok": True, "differences": 0, "by_check": {}}
    by_name = {p["name"]: p for p in partners["partners"]}
    assert len(by_name) == 3 and "setup.partners" in timings
    funded = [p for p in by_name.values() if p["funded_minor"] > 0]
    assert funded, by_name
    for p in by_name.values():
        assert p["funded_minor"] == p["joint_funded_minor"] + p["facilitation_funded_minor"]
        if p["joint_funded_minor"]:
            assert p["platform_share_min_bps"] >= 3000
    assert figures["partner_consents"] > 0
    engine = make_engine(store.url)
    try:
        with engine.connect() as conn:
            decisions = conn.execute(select(credit_funding_decisions)).all()
            flows = conn.execute(select(credit_funding_flows)).all()
            ids = [p.partner_id for p in PL.list_partners(conn)]
            settlements = [s for pid in ids for s in F.partner_settlements(conn, pid)]
    finally:
        engine.dispose()
    # Consumers who did not consent were never asked about (no data reached a partner);
    # every partner that answered had the consumer's consent record for it.
    assert any(d.reasons == ["no_consent"] for d in decisions)
    assert all(d.consent_record_id is not None for d in decisions
               if d.outcome in ("approved", "declined"))
    # The nightly settled every day's flows: none is left unsettled, and each settlement's
    # day is a day with flows.
    assert flows and all(f.settlement_id is not None for f in flows)
    assert {s["business_date"] for s in settlements} <= \
        {f.business_date.isoformat() for f in flows}
    # The report shows the partners (same figures, formatted).
    shown = dict(rows(figures))
    for name in by_name:
        assert f"partner {name}: loans funded (facilitated)" in shown
    assert shown["partner flows reconcile with the ledger"] == "yes"
    assert "Partner lenders: funded, outstanding, income and losses" in html_report(figures)


def test_nightly_settles_partners_for_the_day(uow, clock):
    who = new_customer(uow, limit_minor=5_000_000)
    bank = _partner(uow, "Night Bank", rate_bps=500)
    _consent(uow, who.customer_id, bank)
    _arrange(uow, "jiebei", [{"partner_id": bank}], arrangement_type="joint",
             platform_share_bps=3000)
    _loan(uow, who, "loan_n", 100_000, _funding())
    today = clock.today()
    clock.set(dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0, 30), tzinfo=dt.UTC))
    report = run_nightly(uow, today, audit_checkpointer=None, catalogue=CATALOGUE)
    assert report.partner_settlements == 1
    assert report.as_dict()["partner_settlements"] == 1
    with uow.connect() as conn:
        settled = F.partner_settlements(conn, bank)
    assert [(s["business_date"], s["funding_minor"]) for s in settled] == [
        (today.isoformat(), 70_000)]
    # A re-run of the date settles nothing twice.
    again = run_nightly(uow, today, audit_checkpointer=None, catalogue=CATALOGUE)
    assert again.partner_settlements == 1
    with uow.connect() as conn:
        assert len(F.partner_settlements(conn, bank)) == 1
    with uow.begin() as tx:
        assert F.reconcile(tx, today)["ok"]


def test_consent_text_names_the_partner_the_sim_grants():
    from creditpay.sim.partners import SIM_PARTNERS

    texts = {p.name: consent.consent_text(consent.Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER,
                                          "zh-CN", partner_name=p.name) for p in SIM_PARTNERS}
    assert len({t.sha256 for t in texts.values()}) == len(SIM_PARTNERS)
    assert all(name in t.text for name, t in texts.items())


@pytest.mark.parametrize("customers", [1, 1000])
def test_partner_terms_are_valid_at_any_size(customers):
    from creditpay.reporting.data_sharing import SHAREABLE_FIELDS
    from creditpay.sim.partners import SIM_PARTNERS

    for p in SIM_PARTNERS:
        terms = PL.parse_terms(p.terms(customers), shareable_fields=SHAREABLE_FIELDS)
        assert terms.per_borrower_cap_minor <= terms.exposure_cap_minor
        assert terms.funding_rate_bps + terms.service_fee_bps <= 2400


def test_fallback_own_loan_repaid_still_reconciles(uow):
    from ..credit.servicing_helpers import repay

    who = new_customer(uow, limit_minor=5_000_000)
    bank = _partner(uow, "Fallback Bank")
    _arrange(uow, "jiebei", [{"partner_id": bank}], arrangement_type="joint",
             platform_share_bps=3000)
    _loan(uow, who, "loan_own", 100_000, _funding())  # no consent: the platform funds it
    repay(uow, who, "r_own", 30_000, target="loan_own")
    with uow.begin() as tx:
        checked = F.reconcile(tx)
    assert checked["ok"], checked["details"]
