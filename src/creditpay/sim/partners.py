"""Partner lenders in the simulated economy (issue #17): who they are, what they fund, and which
consumers let the platform share their payment data with them.

Three partners with different appetites and prices (a bank: cheap, grades A-B, a low maximum
PD, a large cap; a consumer-finance company: dearer, grades A-D, a higher PD; a small trust
with a small cap, lending under a first-loss guarantee) are onboarded through
:func:`creditpay.parties.partners.onboard_partner`, and funding arrangements are set through
:func:`creditpay.credit.funding.set_arrangement`, as ``creditpay partners onboard|arrange``
do. A consumer consents to the sharing through
:func:`creditpay.protection.consent.grant_consent` (what ``POST /v1/me/consents`` runs) or not
at all: without it no data reaches a partner and the loan stays the platform's.

Nothing here routes or splits a loan: the economy's checkouts and cash loans go through the
runtime's services, whose ``funding`` does that (and the nightly batch settles the partners).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from creditpay.db.uow import Tx, UnitOfWork

__all__ = ["SimPartner", "SIM_PARTNERS", "SimArrangement", "SIM_ARRANGEMENTS",
           "PARTNER_CONSENT_SHARE", "onboard_partners", "consents_to_partners",
           "grant_partner_consents", "partner_figures"]

# Of the consumers who apply for credit, the share who also agree, on the application's
# consent screens, to the platform sharing their payment data with its partner lenders.
PARTNER_CONSENT_SHARE = 0.6
CONSENT_LANGUAGE = "zh-CN"


@dataclass(frozen=True)
class SimPartner:
    """One simulated partner lender. Caps scale with the economy's size (``*_per_customer``
    minor units of CNY per simulated consumer), so a small run fills the small caps too."""

    key: str
    name: str
    licence_type: str
    funding_rate_bps: int
    service_fee_bps: int
    exposure_cap_per_customer_minor: int
    per_borrower_cap_minor: int
    grades: tuple[str, ...]
    max_pd: str
    policy_max_pd: str
    min_payments_count_90d: int = 0

    def terms(self, customers: int) -> dict[str, Any]:
        exposure = max(self.per_borrower_cap_minor,
                       customers * self.exposure_cap_per_customer_minor)
        return {"funding_rate_bps": self.funding_rate_bps,
                "service_fee_bps": self.service_fee_bps,
                "exposure_cap_minor": exposure,
                "per_borrower_cap_minor": self.per_borrower_cap_minor,
                "appetite": {"grades": list(self.grades), "max_pd": self.max_pd},
                "data_fields": ["kyc_verified", "payments_count_90d",
                                "payments_amount_minor_90d", "payments_currency"],
                "policy": {"max_pd": self.policy_max_pd, "grades": list(self.grades),
                           "kyc_required": True,
                           "min_payments_count_90d": self.min_payments_count_90d}}


SIM_PARTNERS = (
    SimPartner("bank", "Simulated Commercial Bank", "bank", funding_rate_bps=450,
               service_fee_bps=300, exposure_cap_per_customer_minor=400_000,
               per_borrower_cap_minor=3_000_000, grades=("A", "B"), max_pd="0.05",
               # The bank also wants to see some payment history with the platform.
               policy_max_pd="0.04", min_payments_count_90d=5),
    SimPartner("cfc", "Simulated Consumer Finance Co.", "consumer_finance",
               funding_rate_bps=900, service_fee_bps=500,
               exposure_cap_per_customer_minor=150_000, per_borrower_cap_minor=1_500_000,
               grades=("A", "B", "C", "D"), max_pd="0.15", policy_max_pd="0.15"),
    SimPartner("trust", "Simulated Trust", "trust", funding_rate_bps=700,
               service_fee_bps=400, exposure_cap_per_customer_minor=20_000,
               per_borrower_cap_minor=500_000, grades=("A", "B", "C"), max_pd="0.08",
               policy_max_pd="0.08"),
)


@dataclass(frozen=True)
class SimArrangement:
    """A product's funding arrangement: ``partners`` by :attr:`SimPartner.key`, in the
    waterfall's order (it takes the cheapest that approves)."""

    product_code: str
    arrangement_type: str
    partners: tuple[str, ...]
    platform_share_bps: int | None = None
    guarantee_bps: int = 0
    fallback: str = "own"


SIM_ARRANGEMENTS = (
    # Plans paid for by the consumer: joint, the platform keeps the regulatory minimum.
    SimArrangement("baitiao", "joint", ("bank", "cfc"), platform_share_bps=3000),
    SimArrangement("apr_plan", "facilitation", ("cfc",)),
    # Cash loans: joint with a larger platform share and the trust under a first-loss cover;
    # the flat-fee loan is facilitated.
    SimArrangement("jiebei", "joint", ("trust", "cfc"), platform_share_bps=4000,
                   guarantee_bps=1500),
    SimArrangement("flat_loan", "facilitation", ("bank", "cfc")),
)


def onboard_partners(uow: UnitOfWork, actor_id: str, catalogue: Any, customers: int
                     ) -> dict[str, tuple[str, str]]:
    """Onboard :data:`SIM_PARTNERS` and set :data:`SIM_ARRANGEMENTS` on the catalogue's
    versions in force, as the operator ``actor_id``; returns key -> (partner id, name)."""
    from creditpay.credit.funding import set_arrangement
    from creditpay.parties.partners import onboard_partner
    from creditpay.reporting.data_sharing import SHAREABLE_FIELDS

    def run(tx: Tx) -> dict[str, tuple[str, str]]:
        ids = {}
        for p in SIM_PARTNERS:
            view = onboard_partner(tx, actor_id, name=p.name, licence_type=p.licence_type,
                                   licence_number=f"SIM-{p.key.upper()}", currency="CNY",
                                   terms=p.terms(customers), shareable_fields=SHAREABLE_FIELDS)
            ids[p.key] = (view["partner_id"], p.name)
        for a in SIM_ARRANGEMENTS:
            product = catalogue.get(a.product_code)
            set_arrangement(tx, actor_id, product=product, arrangement_type=a.arrangement_type,
                            partners=[{"partner_id": ids[k][0]} for k in a.partners],
                            platform_share_bps=a.platform_share_bps,
                            guarantee_bps=a.guarantee_bps, fallback=a.fallback,
                            caps=catalogue.caps(product.jurisdiction))
        return ids

    return uow.run(run)


def consents_to_partners(seed: int, consumer_index: int) -> bool:
    """Whether this consumer agrees to share payment data with partner lenders (drawn once
    per consumer from the seed, whatever else the run does)."""
    return random.Random(f"{seed}:partner-consent:{consumer_index}").random() \
        < PARTNER_CONSENT_SHARE


def grant_partner_consents(tx: Tx, customer_id: str, partners: dict[str, tuple[str, str]]
                           ) -> int:
    """Record the consumer's consent to share with each partner, each against the exact text
    naming that lender that the app shows (and hashes); returns the consents recorded."""
    from creditpay.protection.consent import Purpose, consent_text, grant_consent

    purpose = Purpose.SHARE_PAYMENT_DATA_WITH_PARTNER
    for partner_id, name in partners.values():
        text = consent_text(purpose, CONSENT_LANGUAGE, partner_name=name)
        grant_consent(tx, customer_id=customer_id, purpose=purpose, language=CONSENT_LANGUAGE,
                      text_version=text.version, text_sha256=text.sha256, channel="app",
                      partner_id=partner_id, partner_name=name)
    return len(partners)


# The per-partner figures the demo shows, from credit.funding.partners_report (not the
# partner ids: they are random, and the same seed gives the same figures).
FIGURE_KEYS = ("name", "licence_type", "funding_rate_bps", "service_fee_bps",
               "loans", "funded_minor", "joint_funded_minor", "facilitation_funded_minor",
               "outstanding_minor", "income_minor", "written_off_minor",
               "guarantee_paid_minor", "recovered_minor", "losses_minor",
               "platform_share_min_bps", "approved", "declined", "skipped",
               "settled_net_minor")


def partner_figures(uow: UnitOfWork) -> dict[str, Any]:
    """``{"partners": [...], "reconciliation": {"ok", "differences", "by_check"}}``: each partner's funded
    volume (loans and minor units), outstanding, income (charges passed to it), losses (borne,
    net of the guarantee and recoveries), guarantee paid, the smallest platform share of its
    joint loans and its settlements' net; then every partner's flows reconciled against the
    ledger (after following the journal to its end, in one transaction)."""
    from creditpay.credit.funding import partners_report, reconcile

    def run(tx: Tx) -> dict[str, Any]:
        checked = reconcile(tx)  # follows the journal first
        report = partners_report(tx.conn)
        by_check = Counter(str(d.get("check")) for d in checked["details"])
        return {"partners": [{k: row[k] for k in FIGURE_KEYS} for row in report["partners"]],
                "reconciliation": {"ok": bool(checked["ok"]),
                                   "differences": int(checked["differences"]),
                                   "by_check": dict(sorted(by_check.items()))}}

    return uow.run(run)
