"""``audit._payload_ok`` (the append's fast payload check) never accepts a payload
``audit._check_payload`` (the authority, which names the field) refuses, and the stored text
of a payload is its canonical JSON's round trip as SQLAlchemy's JSON bind encodes it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.errors import ValidationError
from creditpay.platform import audit

_KEYS = st.sampled_from([
    "amount_minor", "reason", "note_id", "phone", "card_last4", "merchant_label", "purpose",
    "email", "legal_name", "reasons", "id_number", "count", "13812345678", "x", "\u4e2d",
])
_TEXTS = st.one_of(
    st.sampled_from([
        "score_ok", "limit exceeded", "13812345678", "+8613812345678", "a@b.cc",
        "4111 1111 1111 1111", "110101199003070011", "pi_0123456789abcdef", "",
        "\u6df1\u5733", "Score OK", "x" * 70, "1234567", "12345678",
    ]),
    st.text(max_size=20),
)
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10 ** 12), max_value=10 ** 12),
    st.sampled_from([13812345678, 4111111111111111, 0.5, float("inf"), float("nan"),
                     13812345678.0]),
    st.floats(allow_nan=True, allow_infinity=True), _TEXTS,
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(_KEYS, children, max_size=4),
    ),
    max_leaves=12,
)


def _authority_accepts(payload: Any) -> bool:
    try:
        audit._check_payload(payload, "payload", 0)
    except ValidationError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=5))
def test_the_fast_check_never_accepts_what_the_authority_refuses(payload: dict[str, Any]) -> None:
    if audit._payload_ok(payload, 0):
        assert _authority_accepts(payload)


def _nested(depth: int) -> dict[str, Any]:
    payload: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        payload = {"n": payload}
    return payload


@pytest.mark.parametrize("depth", [14, 15, 16, 17])
def test_depth_limit_agrees(depth: int) -> None:
    payload = _nested(depth)
    assert audit._payload_ok(payload, 0) == _authority_accepts(payload)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=5))
def test_stored_text_is_the_canonical_round_trip(payload: dict[str, Any]) -> None:
    try:
        encoded = audit.canonical_json(payload)
    except ValueError:  # NaN or infinity: refused before anything is stored
        return
    assert audit._STORED.encode(payload) == json.dumps(json.loads(encoded))
