"""Stored catalogue versions (credit.catalogue_versions), on both stores: a proposed product
document is accepted exactly when the same content as a packaged YAML file would load
(Hypothesis over its prices), a caps document exactly when every active product of its
jurisdiction stays within it; the catalogue built from the packaged files and the stored
versions keeps every version (accounts resolve theirs) and serves the latest to new
business."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditpay.credit import catalogue_versions as V
from creditpay.credit.caps import CAPS_DIR, activate_product, parse_caps
from creditpay.credit.products import PRODUCTS_DIR, LiveCatalogue, load_catalogue
from creditpay.errors import DomainError, StateError
from creditpay.platform.approvals import StaleProposalError
from tests.catalogues import CATALOGUE

# Rates in millionths around the caps (all-in 24 %, penalty 12 %): both verdicts occur.
ANNUAL = st.integers(0, 400_000).map(lambda m: str(Decimal(m) / 1_000_000))
PENALTY = st.integers(0, 200_000).map(lambda m: str(Decimal(m) / 1_000_000))
EXAMPLES = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _yaml(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((PRODUCTS_DIR / name).read_text(encoding="utf-8")))


def _packaged_verdict(tmp: Path, document: dict[str, Any]) -> str | None:
    """None when ``document`` as a packaged file (beside the others) loads; else the field
    or cap that refuses it."""
    products = tmp / "products"
    shutil.rmtree(products, ignore_errors=True)
    shutil.copytree(PRODUCTS_DIR, products)
    (products / f"{document['code']}_v{document['version']}.yaml").write_text(
        yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    try:
        load_catalogue(products)
    except DomainError as exc:
        return str(exc.extra.get("cap") or exc.field)
    return None


@EXAMPLES
@given(annual=ANNUAL, penalty=PENALTY)
def test_a_product_document_is_accepted_exactly_when_the_packaged_file_would_load(
        uow, tmp_path_factory, annual, penalty):
    tmp = tmp_path_factory.mktemp("products")
    document = {**_yaml("jiebei_v1.yaml"), "version": 2, "annual_rate": annual,
                "penalty_annual_rate": penalty}
    expected = _packaged_verdict(tmp, document)
    with uow.connect() as conn:
        try:
            payload = V.check_product(conn, CATALOGUE, {k: v for k, v in document.items()
                                                        if k != "version"})
        except DomainError as exc:
            assert expected is not None, (annual, penalty, exc.field, exc)
            assert exc.extra["cap"] == expected
            assert exc.field in ("annual_rate", "penalty_annual_rate")
            return
    assert expected is None, (annual, penalty, expected)
    assert payload["version"] == 2 and payload["document"] == document


@EXAMPLES
@given(cost=st.integers(0, 300_000), lpr=st.integers(0, 60_000))
def test_a_caps_document_is_accepted_exactly_when_every_active_product_fits(
        uow, cost, lpr):
    document = {**dict(yaml.safe_load((CAPS_DIR / "CN.yaml").read_text(encoding="utf-8"))),
                "all_in_annual_cost_max": str(Decimal(cost) / 1_000_000),
                "lpr_one_year": str(Decimal(lpr) / 1_000_000)}
    document.pop("version")
    caps = parse_caps({**document, "version": 2})
    fits = True
    for product in CATALOGUE.active():
        try:
            activate_product(product, caps)
        except DomainError:
            fits = False
    with uow.connect() as conn:
        try:
            payload = V.check_caps(conn, CATALOGUE, document)
        except DomainError as exc:
            assert not fits and exc.field in ("all_in_annual_cost_max",
                                              "penalty_lpr_multiple"), exc
            return
    assert fits and payload["version"] == 2


def _activate(uow: Any, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return uow.run(lambda tx: V.activate(tx, CATALOGUE, kind, payload, proposed_by="op_a",
                                         activated_by="op_b"))


def test_the_catalogue_keeps_every_version_and_serves_the_latest(uow):
    with uow.connect() as conn:
        first = V.check_product(conn, CATALOGUE, {**_yaml("jiebei_v1.yaml"),
                                                  "annual_rate": "0.146", "version": None})
        assert V.marker(conn) == 0
        built, marker = V.current(conn, CATALOGUE)
        assert built is CATALOGUE and marker == 0  # nothing stored: the packaged one
    assert first["version"] == 2
    assert _activate(uow, "product", first)["activation_seq"] == 1
    with uow.connect() as conn:
        second = V.check_product(conn, CATALOGUE, {**_yaml("jiebei_v1.yaml"),
                                                   "annual_rate": "0.1095", "version": None})
    assert second["version"] == 3
    _activate(uow, "product", second)
    with uow.connect() as conn:
        built, marker = V.current(conn, CATALOGUE)
    assert marker == 2
    assert [built.get("jiebei", v).annual_rate for v in (1, 2, 3)] == \
        [Decimal("0.1825"), Decimal("0.146"), Decimal("0.1095")]
    assert built.get("jiebei").version == 3
    # A live catalogue takes a newer build only.
    live = LiveCatalogue(CATALOGUE, 0)
    live.use(built, marker)
    live.use(CATALOGUE, 0)
    assert live.get("jiebei").version == 3 and live.marker == 2
    # The same payload again is stale: version 3 is taken.
    with pytest.raises(StaleProposalError) as stale:
        _activate(uow, "product", second)
    assert stale.value.field == "version" and isinstance(stale.value, StateError)
