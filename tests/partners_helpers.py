"""A partner lender registered under a chosen id, for tests that need one to exist (a
data-sharing consent names a registered partner by its registered name)."""

from __future__ import annotations

from creditpay.db.uow import UnitOfWork
from creditpay.parties.partners import PartnerTerms
from creditpay.parties.tables import partner_lender_terms, partner_lenders

TERMS = PartnerTerms(funding_rate_bps=600, service_fee_bps=400,
                     exposure_cap_minor=100_000_000, per_borrower_cap_minor=5_000_000)


def register_partner(uow: UnitOfWork, partner_id: str, name: str) -> str:
    """Insert partner ``partner_id`` named ``name`` (active, default terms) unless it exists;
    returns its id.
    The use case (parties.partners.onboard_partner) draws its own ids; tests that name
    partners by fixed ids register them here."""
    with uow.connect() as conn:
        if conn.execute(partner_lenders.select().where(
                partner_lenders.c.id == partner_id)).first() is not None:
            return partner_id
    with uow.begin() as tx:
        tx.conn.execute(partner_lenders.insert().values(
            id=partner_id, name=name, licence_type="bank", licence_number=f"L-{partner_id}",
            currency="CNY", status="active", terms_version=1, created_at=tx.now,
            updated_at=tx.now))
        tx.conn.execute(partner_lender_terms.insert().values(
            partner_id=partner_id, version=1, funding_rate_bps=TERMS.funding_rate_bps,
            service_fee_bps=TERMS.service_fee_bps,
            exposure_cap_minor=TERMS.exposure_cap_minor,
            per_borrower_cap_minor=TERMS.per_borrower_cap_minor,
            terms=TERMS.model_dump(mode="json"), created_by="test", created_at=tx.now))
    return partner_id
