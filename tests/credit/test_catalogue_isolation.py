"""The product catalogue and caps are configuration passed in, never a process global: two
differently configured catalogues are used side by side in one process (services, the
payments -> credit port, the credit functions) without leaking into each other. SQLite and
PostgreSQL."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from creditpay.bootstrap import ServiceOptions, build_services
from creditpay.config import Settings
from creditpay.credit import products as P
from creditpay.credit import service as S
from creditpay.errors import CapExceededError, NotFoundError
from creditpay.payments.credit_port import CreditFacade
from tests.catalogues import CATALOGUE

from .servicing_helpers import CNY, new_customer

PACKAGED_FEE = Decimal("0.005")  # baitiao v1's flat fee a period, as packaged
OTHER_FEE = Decimal("0.004")


def _other_catalogue(folder: Path) -> P.Catalogue:
    """The packaged products with baitiao v1 at another fee, loaded from ``folder``."""
    for path in P.PRODUCTS_DIR.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    baitiao = folder / "baitiao_v1.yaml"
    text = baitiao.read_text(encoding="utf-8")
    assert f'"{PACKAGED_FEE}"' in text
    baitiao.write_text(text.replace(f'"{PACKAGED_FEE}"', f'"{OTHER_FEE}"'), encoding="utf-8")
    return P.load_catalogue(folder)


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> P.Catalogue:
    return _other_catalogue(tmp_path_factory.mktemp("products"))


def _baitiao_fee(uow, customer_id: str, catalogue: P.Catalogue) -> int:
    with uow.begin() as tx:
        offers = S.quote_offers(tx, customer_id=customer_id, amount_minor=120_000,
                                currency=CNY, catalogue=catalogue)
    [offer] = [o for o in offers if o.product_code == "baitiao" and o.periods == 3]
    return int(offer.total_fee_minor)


def test_two_catalogues_quote_their_own_products_in_one_process(uow, clock, other):
    assert CATALOGUE.get("baitiao").option(3).fee_rate_per_period == PACKAGED_FEE
    assert other.get("baitiao").option(3).fee_rate_per_period == OTHER_FEE
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    packaged = _baitiao_fee(uow, who.customer_id, CATALOGUE)
    changed = _baitiao_fee(uow, who.customer_id, other)
    # 3 x 0.5 % and 3 x 0.4 % of 1,200.00, each quoted from its own catalogue ...
    assert (packaged, changed) == (1_800, 1_440)
    # ... and the first is not changed by having used the second.
    assert _baitiao_fee(uow, who.customer_id, CATALOGUE) == packaged
    assert CATALOGUE.get("baitiao").option(3).fee_rate_per_period == PACKAGED_FEE


def test_two_credit_ports_render_key_facts_from_their_own_catalogue(uow, clock, other):
    """The port's rendered-document cache belongs to the port: the same product code and
    version in another catalogue is another document (a process-wide cache returned the
    first catalogue's figures to the second)."""
    who = new_customer(uow)
    clock.set("2025-03-02T10:00:00+00:00")
    packaged, changed = CreditFacade(CATALOGUE), CreditFacade(other)
    with uow.begin() as tx:
        _, _, offers = packaged.quote_offers(tx, customer_id=who.customer_id,
                                             amount_minor=120_000, currency=CNY)
    [offer] = [o for o in offers if o.product_code == "baitiao" and o.periods == 3]
    first = packaged.key_facts(offer, "zh-CN", lender_name="creditpay")
    second = changed.key_facts(offer, "zh-CN", lender_name="creditpay")
    assert first.sha256 == offer.key_facts_sha256
    assert first.facts.schedule.totals.fee_minor == 1_800
    assert second.facts.schedule.totals.fee_minor == 1_440
    assert second.sha256 != first.sha256
    assert packaged.key_facts(offer, "zh-CN", lender_name="creditpay").sha256 == first.sha256


def test_each_services_holds_the_catalogue_it_was_given(store, clock, other):
    settings = Settings.of(database_url=store.url)
    given = build_services(settings, clock, ServiceOptions(pool_size=2, catalogue=other))
    packaged = build_services(settings, clock, ServiceOptions(pool_size=2))
    try:
        # The process's catalogue holds the given one (plus stored versions: none here),
        # and is the one object every service was handed.
        assert given.packaged_catalogue is other and given.catalogue.current is other
        assert given.credit.catalogue is given.catalogue
        assert packaged.credit.catalogue is packaged.catalogue
        assert packaged.catalogue.get("baitiao").option(3).fee_rate_per_period == PACKAGED_FEE
        # Loaded per Services, not shared through a global.
        again = build_services(settings, clock, ServiceOptions(pool_size=2))
        try:
            assert again.catalogue is not packaged.catalogue
        finally:
            again.close()
    finally:
        given.close()
        packaged.close()


def test_caps_come_from_the_catalogue(uow, clock):
    """A catalogue under lower caps refuses what the packaged one lends, in the same
    process and on the same data."""
    strict = CATALOGUE.with_caps(CATALOGUE.caps("CN").model_copy(
        update={"all_in_annual_cost_max": Decimal("0.05")}))
    who = new_customer(uow, limit_minor=2_000_000)

    def disburse(loan_id: str, catalogue: P.Catalogue) -> None:
        with uow.begin() as tx:
            S.disburse_cash_loan(tx, loan_id=loan_id, customer_id=who.customer_id,
                                 currency=CNY, principal_minor=100_000, product_code="jiebei",
                                 periods=3, method="equal_installment",
                                 wallet_account_id=who.wallet_id, catalogue=catalogue)

    with pytest.raises(CapExceededError):
        disburse("loan_strict", strict)
    disburse("loan_packaged", CATALOGUE)
    assert CATALOGUE.caps("CN").all_in_annual_cost_max > Decimal("0.05")
    with pytest.raises(NotFoundError) as err:
        CATALOGUE.caps("ZZ")
    assert err.value.field == "jurisdiction"


def test_loading_refuses_a_product_above_its_caps(tmp_path):
    for path in P.PRODUCTS_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    baitiao = tmp_path / "baitiao_v1.yaml"
    baitiao.write_text(baitiao.read_text(encoding="utf-8").replace(
        f'"{PACKAGED_FEE}"', '"0.05"'), encoding="utf-8")  # ~60 % a year all-in
    with pytest.raises(CapExceededError) as err:
        P.load_catalogue(tmp_path)
    assert err.value.extra["cap"] == "all_in_annual_cost_max"
