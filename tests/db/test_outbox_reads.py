"""db.outbox: the public reads and claims of the outbox that relays use instead of the
table, on both stores."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from creditpay.db.outbox import claim_unpublished, mark_published, recent_events
from creditpay.errors import ValidationError


def _emit(uow, *topics: str) -> None:
    with uow.begin() as tx:
        for n, topic in enumerate(topics):
            tx.emit(topic, "thing", f"t{n}", {"n": n, "merchant_id": "m1"})


def test_claim_takes_the_prefix_family_oldest_first_and_publishing_removes_them(uow, clock):
    # "pay_x." would match "payments." under a bare LIKE 'pay_%': the prefix is literal.
    _emit(uow, "payments.a", "credit.b", "payments.c", "paymentsx.d", "pay_x.e")
    with uow.begin() as tx:
        claimed = claim_unpublished(tx, "payments.", limit=10)
        assert [e.topic for e in claimed] == ["payments.a", "payments.c"]
        assert [e.payload["n"] for e in claimed] == [0, 2]
        assert all(e.published_at is None and e.occurred_at.tzinfo is not None
                   for e in claimed)
        assert [e.topic for e in claim_unpublished(tx, "pay_", limit=10)] == ["pay_x.e"]
        mark_published(tx, [e.id for e in claimed])
    with uow.begin() as tx:
        assert claim_unpublished(tx, "payments.", limit=10) == []
        assert [e.topic for e in claim_unpublished(tx, "credit.", limit=10)] == ["credit.b"]
    with uow.connect() as conn:
        published = recent_events(conn, ["payments.a"], limit=5)
    assert published[0].published_at == clock.now().astimezone(dt.UTC)


def test_claim_respects_the_limit(uow):
    _emit(uow, *[f"payments.{n}" for n in range(5)])
    with uow.begin() as tx:
        assert [e.topic for e in claim_unpublished(tx, "payments.", limit=2)] == [
            "payments.0", "payments.1"]


def test_recent_events_are_newest_first_and_bounded(uow):
    _emit(uow, "notifications.a", "other.x", "notifications.b", "notifications.c")
    with uow.connect() as conn:
        newest = recent_events(conn, ["notifications.a", "notifications.b",
                                      "notifications.c"], limit=2)
    assert [e.topic for e in newest] == ["notifications.c", "notifications.b"]
    assert newest[0].aggregate_type == "thing" and newest[0].aggregate_id == "t3"


@pytest.mark.parametrize("limit", [0, -1, 10_001, True, 1.5])
def test_bad_limits_are_refused_naming_the_field(uow, limit):
    with uow.connect() as conn, pytest.raises(ValidationError) as error:
        recent_events(conn, ["a"], limit=limit)
    assert error.value.field == "limit"
    with uow.begin() as tx, pytest.raises(ValidationError) as error:
        claim_unpublished(tx, "payments.", limit=limit)
    assert error.value.field == "limit"


def test_empty_prefix_or_topics_are_refused(uow):
    with uow.begin() as tx, pytest.raises(ValidationError) as error:
        claim_unpublished(tx, "", limit=1)
    assert error.value.field == "topic_prefix"
    with uow.connect() as conn, pytest.raises(ValidationError) as error:
        recent_events(conn, [], limit=1)
    assert error.value.field == "topics"


def test_an_encoded_payload_reads_back_as_the_same_object(uow):
    """Tx.emit takes a payload already encoded (JsonText, as the ledger sends a batch's
    event) and stores what the object itself would have stored."""
    from creditpay.db.metadata import JsonText

    payload = {"fields": ["seq", "id"], "transfers": [[1, "a"], [2, "b"]],
               "same": {"kind": "single", "reference": None}}
    with uow.begin() as tx:
        tx.emit("enc.object", "thing", "t1", payload)
        tx.emit("enc.text", "thing", "t2", JsonText(json.dumps(payload)))
    with uow.connect() as conn:
        stored = {e.topic: e.payload for e in recent_events(conn, ["enc.object", "enc.text"],
                                                           limit=5)}
    assert stored["enc.text"] == stored["enc.object"] == payload


def test_postgresql_compresses_payloads_with_lz4_where_the_server_can(store):
    """Migration 0051: large payloads (a ledger batch's event) are TOASTed with lz4, not
    pglz, on a server built with it (Debian's is)."""
    if store.kind != "postgresql":
        pytest.skip("TOAST compression is PostgreSQL's")
    from sqlalchemy import text

    with store.engine.connect() as conn:
        available = conn.execute(text(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings"
            " WHERE name = 'default_toast_compression'")).scalar()
        method = conn.execute(text(
            "SELECT attcompression FROM pg_attribute WHERE attrelid = 'outbox_events'::regclass"
            " AND attname = 'payload'")).scalar()
    assert method == ("l" if available else "")
