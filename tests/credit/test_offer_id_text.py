"""An offer's id is the SHA-256 of the same JSON text whether its schedule rows are
written by hand (``offers._offer_id_of``, branch h14-price) or by json.dumps of the rows'
dicts (``offers._offer_id``, as before): ids are stored with every quote and key the
acceptances, so not one may change."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.credit.offers import OfferInstallment, _offer_id, _offer_id_of, _row_dict

_figure = st.one_of(st.integers(-10**12, 10**12), st.text(max_size=6), st.booleans(),
                    st.none(), st.sampled_from(["0", "0.25", "2025-03-02", "\x00schedule\x00"]))
_rows = st.lists(st.builds(
    OfferInstallment, number=st.integers(1, 60),
    due_date=st.one_of(st.dates(dt.date(2020, 1, 1), dt.date(2040, 12, 31)).map(
        dt.date.isoformat), st.text(max_size=6)),
    principal_minor=st.integers(0, 10**12), interest_minor=st.integers(0, 10**9),
    fee_minor=st.one_of(st.integers(0, 10**9), st.booleans()),
    total_minor=st.integers(0, 10**12),
    kind=st.sampled_from(["installment", "down_payment", "other", 'quo"te'])), max_size=25)


@settings(max_examples=150, deadline=None)
@given(figures=st.dictionaries(st.sampled_from(
    ["amount_minor", "customer_id", "reference", "quoted_on", "funding", "periods",
     "down_payment_rate", "total_fee_minor", "within_available_limit", "zeta", "a"]),
    _figure), rows=_rows)
def test_the_offer_id_is_the_json_of_every_figure(figures, rows) -> None:
    expected = _offer_id(dict(figures, schedule=[_row_dict(row) for row in rows]))
    assert _offer_id_of(figures, tuple(rows)) == expected


def test_a_row_s_dict_is_asdict_in_field_order() -> None:
    """``offers._row_dict`` (the instance's attributes copied) is ``asdict`` of the row,
    keys in the same order (the offer's JSON figures keep their key order)."""
    import dataclasses

    from creditpay.credit.offers import OfferInstallment, _row_dict

    for row in (OfferInstallment(1, "2025-01-02", 100, 2, 3, 105),
                OfferInstallment(2, "2025-01-02", 0, 0, 0, 0, "down_payment")):
        assert list(_row_dict(row).items()) == list(dataclasses.asdict(row).items())
