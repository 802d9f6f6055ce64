"""``Wallet.history_newer_page``: the "newer" link of the web wallet's history. Paging
back from any page with it shows exactly the pages that ``GET /v1/me/wallet/history``
showed paging forward, for every page size, with another customer's operations (and
transfers both ways) interleaved. Both stores (``api`` runs on SQLite and PostgreSQL)."""

from __future__ import annotations

from creditpay.api.common import decode_cursor
from tests.api.helpers import Api


def _ids(rows: list[dict[str, object]]) -> list[object]:
    return [row["id"] for row in rows]


def test_newer_pages_are_the_api_pages_in_reverse_for_every_page_size(api: Api) -> None:
    me, other = api.customer("13500000101"), api.customer("13500000102", "device-0002")
    mine, theirs = api.card(me), api.card(other)
    created = []
    for n in range(4):
        created.append(api.post("/v1/me/wallet/top-ups", {"card_id": mine,
                                                          "amount_minor": 100 + n},
                                me, expect=201).json())
        api.post("/v1/me/wallet/top-ups", {"card_id": theirs, "amount_minor": 200 + n}, other,
                 expect=201)
    # A top-up's answer is built from the values written, not read back (issue #14): it is
    # the very view the history gives of the stored operation.
    stored = api.get("/v1/me/wallet/history", me, params={"limit": 100}).json()["data"]
    assert stored == created[::-1] and stored[0]["status"] == "pending"
    from creditpay.api.routes_operators import deliver_rail_callbacks

    deliver_rail_callbacks(api.runtime)
    api.post("/v1/me/wallet/transfers", {"to": "13500000102", "amount_minor": 7}, me,
             expect=201)
    api.post("/v1/me/wallet/transfers", {"to": "13500000101", "amount_minor": 9}, other,
             expect=201)
    customer_id = api.get("/v1/me", me).json()["id"]
    rt = api.runtime
    everything = _ids(api.get("/v1/me/wallet/history", me, params={"limit": 100}).json()["data"])
    assert len(everything) == 6  # 4 top-ups and both transfers; none of the other's top-ups
    for limit in range(1, 8):
        pages: list[tuple[int | None, list[object]]] = []  # (before_seq, ids) as the API paged
        cursor = None
        while True:
            params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
            body = api.get("/v1/me/wallet/history", me, params=params).json()
            pages.append((decode_cursor(cursor), _ids(body["data"])))
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert sum((ids for _, ids in pages), []) == everything
        with rt.uow.connect() as conn:
            assert rt.payments.wallet.history_newer_page(
                conn, customer_id, before_seq=None, limit=limit) is None  # the newest page
            for (before_seq, _), (newer_seq, newer_ids) in zip(pages[1:], pages[:-1],
                                                                strict=True):
                newer = rt.payments.wallet.history_newer_page(
                    conn, customer_id, before_seq=before_seq, limit=limit)
                assert newer is not None and newer.before_seq == newer_seq, limit
                rows, _ = rt.payments.history(conn, customer_id, before_seq=newer.before_seq,
                                              limit=limit)
                assert _ids(rows) == newer_ids, limit
