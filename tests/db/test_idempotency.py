"""The request-hash idempotency check, written once (db.idempotency): canonical hash,
replay / conflict / new, on both stores."""

from __future__ import annotations

import hashlib
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditpay.db.idempotency import (
    canonical_hash,
    claim_key,
    find_replay,
    http_request_hash,
    replay_or_new,
    request_hash,
    stored_key,
)
from creditpay.db.tables import idempotency_keys
from creditpay.errors import IdempotencyConflictError

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


@given(fields=st.dictionaries(st.text(min_size=1, max_size=6), _JSON, max_size=6),
       seed=st.integers(0, 2**16))
def test_hash_ignores_key_order_and_keeps_the_stored_bytes(fields, seed) -> None:
    shuffled = list(fields.items())
    random.Random(seed).shuffle(shuffled)
    assert request_hash(**dict(shuffled)) == request_hash(**fields)
    # The bytes hashed before this module existed (stored hashes must keep matching).
    text = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    assert request_hash(**fields) == hashlib.sha256(text.encode()).hexdigest()
    assert http_request_hash("POST", "/v1/x", fields) == hashlib.sha256(
        f"POST /v1/x\n{text}".encode()).hexdigest()


def test_hash_tells_requests_apart() -> None:
    assert request_hash(amount_minor=100) != request_hash(amount_minor=101)
    assert http_request_hash("POST", "/a", {}) != http_request_hash("POST", "/b", {})
    assert canonical_hash({"a": 1}) != canonical_hash({"a": 1}, prefix="x")


def test_replay_or_new_decides() -> None:
    assert replay_or_new(None, "h1", conflict="c", field="f") is False
    assert replay_or_new("h1", "h1", conflict="c", field="f") is True
    with pytest.raises(IdempotencyConflictError) as raised:
        replay_or_new("h1", "h2", conflict="repayment rp_1 exists with other content",
                      field="repayment_id")
    assert raised.value.field == "repayment_id"
    assert "rp_1 exists with other content" in str(raised.value)


def test_find_replay_on_both_stores(uow) -> None:
    first = request_hash(amount_minor=100)

    def claim(tx) -> None:
        assert find_replay(tx.conn, idempotency_keys.c.key, "key-0001", first,
                           conflict="other", field="key") is None
        assert claim_key(tx.conn, "scope", "key-0001", first, tx.now)
        # Taken now: a second claim inserts nothing, in the same or another transaction.
        assert not claim_key(tx.conn, "scope", "key-0001", first, tx.now)

    uow.run(claim)
    assert not uow.run(lambda tx: claim_key(tx.conn, "scope", "key-0001", first, tx.now))
    with uow.connect() as conn:
        row = find_replay(conn, idempotency_keys.c.key, "key-0001", first,
                          conflict="other", field="key")
        assert row is not None and row["scope"] == "scope"
        assert stored_key(conn, "scope", "key-0001").request_hash == first
        with pytest.raises(IdempotencyConflictError):
            find_replay(conn, idempotency_keys.c.key, "key-0001",
                        request_hash(amount_minor=101), conflict="other", field="key")
