"""Purchase quotes, owned by credit: an offer set is computed once, persisted once (one
``credit_quotes`` row: every figure of every offer as shown and, for a checkout, the SHA-256
of each offer's key-facts document), and authorisation checks the stored offer instead of
quoting again.

A stored offer can be authorised while its quote has not expired, its product version is
still the catalogue's current one, and (when the quote recorded a key-facts document) the
document hash the consumer accepted is the one shown. The figures authorised are the stored
ones: nothing is recomputed between showing an offer and using it.
"""

from __future__ import annotations

import datetime as dt
import secrets
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from creditpay.credit import products as P
from creditpay.credit.offers import OfferCosts
from creditpay.credit.tables import credit_quotes
from creditpay.db.engine import driver_connection
from creditpay.db.metadata import result_conversion
from creditpay.db.prepared import Prepared
from creditpay.db.uow import Tx
from creditpay.errors import NotFoundError, StateError, ValidationError

__all__ = ["QUOTE_TTL_SECONDS", "StoredOffer", "record_quote", "find_offer", "check_usable",
           "KeyFactsHash", "KeyFactsHashes"]

QUOTE_TTL_SECONDS = 900  # an offer shown is good for 15 minutes of business time

# The key-facts hash of an offer (a dict of its figures as shown): the caller renders the
# document (the consumer-protection layer, above credit) and credit stores its SHA-256.
KeyFactsHash = Callable[[dict[str, Any]], str]
# The hashes of an offer's key-facts document in every language it may be read in, by
# language, from the offer's figures and what pricing it solved (its consumer schedule and
# all-in cost; None for an offer that costs nothing): the figures are worked out once per
# offer, each language is rendered once.
KeyFactsHashes = Callable[[dict[str, Any], "OfferCosts | None"], dict[str, str]]


@dataclass(frozen=True, slots=True)
class StoredOffer:
    """One offer of a stored quote: its figures as shown (a JSON object) and the quote's
    identity, customer, price (minor units) and expiry."""

    quote_id: str
    customer_id: str
    currency: str
    amount_minor: int
    reference: str | None
    expires_at: dt.datetime
    offer: dict[str, Any]

    @property
    def offer_id(self) -> str:
        return str(self.offer["offer_id"])


def record_quote(tx: Tx, *, customer_id: str, currency: str, amount_minor: int,
                 reference: str | None, offers: Sequence[dict[str, Any]],
                 ttl_seconds: int = QUOTE_TTL_SECONDS) -> tuple[str, dt.datetime]:
    """Persist the offer set shown (one row); returns (quote id, expiry)."""
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds <= 0:
        raise ValidationError("must be a positive number of seconds", field="ttl_seconds")
    quote_id = "quo_" + secrets.token_hex(12)
    expires_at = tx.now + dt.timedelta(seconds=ttl_seconds)
    _INSERT_QUOTE.run(tx.conn, {
        "quote_id": quote_id, "customer_id": customer_id, "currency": currency,
        "amount_minor": amount_minor, "reference": reference, "quoted_on": tx.today,
        "offers": list(offers), "created_at": tx.now, "expires_at": expires_at})
    return quote_id, expires_at


# Built once and run on the driver (creditpay.db.prepared): every credit checkout quotes.
_INSERT_QUOTE = Prepared(credit_quotes.insert(), columns=(
    "quote_id", "customer_id", "currency", "amount_minor", "reference", "quoted_on",
    "offers", "created_at", "expires_at"))


def find_offer(conn: Any, *, customer_id: str, offer_id: str, reference: str | None = None,
               quote_id: str | None = None) -> StoredOffer | None:
    """The newest stored offer ``offer_id`` quoted to ``customer_id`` (for ``reference``
    or in quote ``quote_id`` when given), expired or not; None if it was never quoted.
    One statement: the store picks the offer out of the quote's offers (its JSON array)
    and returns that one offer, so only it is decoded (a quote holds up to 9 offers with
    their schedules). Sent straight to the driver (every credit checkout reads it twice;
    through SQLAlchemy a textual statement's result columns were matched by name on every
    execution), with the column types' own conversions of the expiry and the offer."""
    dialect = conn.dialect
    params = [customer_id, offer_id]
    if quote_id is not None:
        params.append(quote_id)
    if reference is not None:
        params.append(reference)
    sql = _FIND_OFFER_SQL[dialect.name, quote_id is not None, reference is not None]
    if dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cursor = driver_connection(conn).cursor()
    try:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    finally:
        cursor.close()
    if row is None:
        return None
    found_quote, found_customer, currency, amount_minor, found_reference, expires_at, \
        offer = row
    to_datetime, to_json = _find_offer_processors(dialect)
    if to_datetime is not None:
        expires_at = to_datetime(expires_at)
    if to_json is not None:
        offer = to_json(offer)
    expires = expires_at if expires_at.tzinfo is not None \
        else expires_at.replace(tzinfo=dt.UTC)
    return StoredOffer(found_quote, found_customer, currency, int(amount_minor),
                       found_reference, expires, offer)


def _find_offer_statements() -> dict[tuple[str, bool, bool], str]:
    """find_offer's driver SQL by (dialect, with a quote id, with a reference), with ``?``
    placeholders in the order customer, offer, quote, reference. Each returns the newest
    quote row holding the offer, with that offer alone (the first element whose
    ``offer_id`` matches, in the array's order): the same values the old read of the whole
    ``offers`` column gave after a search in Python
    (tests/credit/test_credit_quotes.py compares the two on both stores)."""
    elements = {
        # json_each / jsonb_array_elements are correlated with the quote row before them
        # in FROM (SQLite's table-valued functions, PostgreSQL's function items).
        # (SQLite: the element's offer_id by its index in the array, from the parse of
        # the array SQLite keeps for the statement, not by parsing the element again.)
        "sqlite": ("json_each(q.offers) AS o",
                   "json_extract(q.offers, '$[' || o.key || '].offer_id')", "o.value",
                   "o.key"),
        "postgresql": ("jsonb_array_elements(q.offers) WITH ORDINALITY AS o(value, n)",
                       "o.value ->> 'offer_id'", "o.value", "o.n"),
    }
    statements: dict[tuple[str, bool, bool], str] = {}
    for dialect, (source, offer_id, value, position) in elements.items():
        for with_quote in (False, True):
            for with_reference in (False, True):
                where = ["q.customer_id = ?", f"{offer_id} = ?"]
                if with_quote:
                    where.append("q.quote_id = ?")
                if with_reference:
                    where.append("q.reference = ?")
                statements[dialect, with_quote, with_reference] = (
                    f"SELECT q.quote_id, q.customer_id, q.currency, q.amount_minor,"  # nosec B608
                    f" q.reference, q.expires_at, {value}"
                    f" FROM credit_quotes AS q, {source}"
                    f" WHERE {' AND '.join(where)}"
                    f" ORDER BY q.created_at DESC, q.quote_id DESC, {position} LIMIT 1")
    return statements


_FIND_OFFER_SQL = _find_offer_statements()
# The expiry's and the offer's result conversions by dialect (SQLAlchemy's own, from the
# columns' types): pure type information, taken once per dialect object.
_FIND_OFFER_PROCESSORS: weakref.WeakKeyDictionary[Any, tuple[Any, Any]] = \
    weakref.WeakKeyDictionary()


def _find_offer_processors(dialect: Any) -> tuple[Any, Any]:
    found = _FIND_OFFER_PROCESSORS.get(dialect)
    if found is None:
        c = credit_quotes.c
        found = (result_conversion(c.expires_at, dialect), result_conversion(c.offers, dialect))
        _FIND_OFFER_PROCESSORS[dialect] = found
    return found


def check_usable(stored: StoredOffer | None, now: dt.datetime, *,
                 catalogue: P.Catalogue,
                 key_facts_sha256: str | None = None,
                 key_facts_language: str | None = None) -> StoredOffer:
    """``stored`` if it can still be authorised: quoted, not expired, its product version
    still current, and (when the quote recorded one) ``key_facts_sha256`` the hash of the
    document shown. StateError / ValidationError naming the field otherwise.

    The quote records the hash of the document in the language it was shown in. With
    ``key_facts_language`` given, the hash must be the recorded one of that language; a
    language the quote did not render (the consumer read the offer's document in another
    language) has no recorded hash to compare, and the caller, which rendered that document
    from these stored figures and matched the consumer's hash against it, is relied on.
    Without it, the hash must be one of those recorded."""
    if stored is None:
        raise StateError("is not an offer quoted for this purchase (unknown or stale: quote"
                         " again)", field="offer_id")
    if stored.expires_at <= now:
        raise StateError("the offer has expired; ask for offers again", field="offer_id")
    offer = stored.offer
    try:
        current = catalogue.get(str(offer["product_code"])).version
    except NotFoundError:
        current = None  # retired since the quote
    if current != int(offer["product_version"]):
        raise StateError("the offer's product has changed since it was quoted; quote again",
                         field="offer_id")
    if offer.get("key_facts_sha256") is None or key_facts_sha256 is None:
        return stored
    by_language = offer.get("key_facts_sha256_by_language") or {}
    if key_facts_language is not None and by_language:
        if key_facts_language not in by_language:
            return stored
        accepted = {str(by_language[key_facts_language]).lower()}
    else:
        accepted = _accepted_hashes(offer)
    if key_facts_sha256.lower() not in accepted:
        raise ValidationError("is not the SHA-256 of this offer's key-facts document",
                              field="key_facts_sha256")
    return stored


def _accepted_hashes(offer: dict[str, Any]) -> set[str]:
    hashes = {str(offer["key_facts_sha256"]).lower()}
    hashes.update(str(h).lower() for h in (offer.get("key_facts_sha256_by_language") or {})
                  .values())
    return hashes
