"""platform.tombstones: what erased identifiers become (pure)."""

from __future__ import annotations

import hashlib
import re

from hypothesis import given
from hypothesis import strategies as st

from creditpay.platform.tombstones import TOMBSTONE_PREFIX, tombstone

_TEXT = st.text(min_size=0, max_size=40)


@given(kind=_TEXT, customer_id=_TEXT, extra=_TEXT)
def test_fits_the_columns_and_is_derived_from_its_inputs_only(kind, customer_id, extra):
    value = tombstone(kind, customer_id, extra)
    assert re.fullmatch(r"erased:[0-9a-f]{24}", value) and len(value) <= 32
    assert value.startswith(TOMBSTONE_PREFIX)
    assert value == tombstone(kind, customer_id, extra)  # stable: a repeat finds it again


@given(a=st.tuples(_TEXT, _TEXT, _TEXT), b=st.tuples(_TEXT, _TEXT, _TEXT))
def test_distinct_columns_customers_and_rows_get_distinct_tombstones(a, b):
    # unique columns (blind indexes, card tokens) take one per customer and row
    if a != b and "\x00" not in "".join(a + b):
        assert tombstone(*a) != tombstone(*b)


def test_the_derivation_is_the_one_stored_erasures_used():
    digest = hashlib.sha256(b"customers.phone_bidx\x00cus_1\x00").hexdigest()
    assert tombstone("customers.phone_bidx", "cus_1") == "erased:" + digest[:24]
