"""Product and caps changes as stored catalogue versions (four-eyes kinds ``product.change``
and ``caps.change``, issue #16; docs/console.md "Product and cap changes").

The packaged YAML (``credit/products/*.yaml``, ``credit/caps/*.yaml``) is the catalogue a
release ships; a change between releases is a *document* (a YAML file's content, as JSON)
proposed by one operator and activated by another. It is validated exactly as the packaged
file is (:func:`creditpay.credit.products.parse_product`,
:func:`creditpay.credit.caps.parse_caps`: the same models, the same refusals naming the
field), a product against its jurisdiction's caps and a caps change against every active
product it governs (:func:`creditpay.credit.caps.activate_product`), and numbered the next
version after the highest packaged or stored one of its code. Approval stores it in
``credit_catalogue_versions`` as active with the next ``activation_seq``.

The process's catalogue is :func:`build`: the packaged catalogue plus every stored version.
The latest active version of a code is what new business uses; an account keeps the
product version recorded on it, which stays in the catalogue (versions are never removed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, select

from creditpay.credit.caps import Caps, activate_product, parse_caps
from creditpay.credit.funding import arrangements_in_force
from creditpay.credit.funding_core import Arrangement
from creditpay.credit.products import (
    Catalogue,
    CreditLineProduct,
    InstallmentPlanProduct,
    Product,
    parse_product,
)
from creditpay.credit.tables import credit_catalogue_versions as versions
from creditpay.credit.tables import credit_funding_arrangements
from creditpay.db.uow import Tx
from creditpay.errors import CapExceededError, NotFoundError, ValidationError
from creditpay.platform import audit
from creditpay.platform.approvals import StaleProposalError

__all__ = ["KINDS", "content_hash", "marker", "build", "current", "check_product",
           "check_caps", "activate", "in_force"]

KINDS = ("product", "caps")


def content_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the document's canonical JSON (sorted keys, no spaces): names a
    proposal's content in the approvals queue without showing the whole document."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def marker(conn: Connection) -> int:
    """The catalogue's marker: the number of the latest activation plus the id of the latest
    funding arrangement (0: none of either). Both only grow, so their sum only grows, and a
    process whose catalogue was built from a smaller one is stale. One statement, two index
    reads (``activation_seq`` is unique, arrangements' ids are their primary key)."""
    seq, arrangement = conn.execute(select(
        select(func.max(versions.c.activation_seq)).scalar_subquery(),
        select(func.max(credit_funding_arrangements.c.id)).scalar_subquery())).one()
    return int(seq or 0) + int(arrangement or 0)


def _rows(conn: Connection) -> list[Any]:
    return list(conn.execute(select(versions).where(versions.c.status == "active")
                             .order_by(versions.c.activation_seq)))


def build(base: Catalogue, rows: list[Any],
          arrangements: Mapping[tuple[str, int], Arrangement] | None = None) -> Catalogue:
    """``base`` (the packaged catalogue) with the stored versions ``rows``: every product
    version added, and for each jurisdiction the caps of the highest version (``base``
    itself when nothing is stored)."""
    if not rows:
        return base.with_arrangements(arrangements) if arrangements else base
    products: list[Product] = base.all()
    caps: dict[str, Caps] = base.all_caps()
    for row in rows:
        if row.kind == "product":
            products.append(parse_product(row.document))
        else:
            stored = parse_caps(row.document)
            held = caps.get(stored.jurisdiction)
            if held is None or stored.version > held.version:
                caps[stored.jurisdiction] = stored
    return Catalogue(products, caps, arrangements)


def current(conn: Connection, base: Catalogue) -> tuple[Catalogue, int]:
    """The catalogue in force (``base`` plus the stored versions) and its marker, read in
    one connection."""
    rows = _rows(conn)
    seq = marker(conn)
    return build(base, rows, arrangements_in_force(conn)), seq


def _document(document: Any) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        raise ValidationError("must be an object (the YAML file's content as JSON)",
                              field="document")
    return dict(document)


def _numbered(document: dict[str, Any], highest: int) -> dict[str, Any]:
    """The document with the next version: the one it gives must be that one (or none)."""
    wanted = highest + 1
    given = document.get("version")
    if given is not None and given != wanted:
        raise ValidationError(f"must be {wanted}, the next after the highest packaged or "
                              f"stored version ({highest}), or left out", field="version")
    return {**document, "version": wanted}


def _highest_product(catalogue: Catalogue, code: Any) -> int:
    return max((p.version for p in catalogue.all() if p.code == code), default=0)


def _pricing_field(product: Product) -> str:
    """The document's field that sets what a product's all-in cost is made of."""
    if isinstance(product, CreditLineProduct):
        return "bill_installment_options"
    if isinstance(product, InstallmentPlanProduct) and product.pricing == "flat":
        return "options"
    return "annual_rate"


def _within_caps(product: Product, caps: Caps, *, changing: str) -> None:
    """:func:`activate_product`, its refusal as bad input (422) naming the document's field
    at fault: the product's (``changing="product"``) or the caps' (``"caps"``), with the
    cap (``cap``) and the product it was checked on."""
    try:
        activate_product(product, caps)
    except CapExceededError as exc:
        cap = str(exc.extra.get("cap"))
        if changing == "caps":
            field = {"penalty_rate_max": "penalty_lpr_multiple"}.get(cap, cap)
        elif exc.field == "all_in_annual_cost":
            field = _pricing_field(product)
        else:
            field = exc.field or "document"
        raise ValidationError(f"{product.code} v{product.version}: {exc.detail}",
                              field=field, cap=cap, jurisdiction=caps.jurisdiction,
                              product_code=product.code) from None


def check_product(conn: Connection, base: Catalogue, document: Any) -> dict[str, Any]:
    """A product change checked against what is in force now: the proposal's payload
    (``code``, ``version``, ``content_hash``, ``document`` numbered with its version).
    ValidationError naming the field (the packaged file's refusals; ``version`` not the
    next; ``status`` not active; ``kind`` not the code's; ``jurisdiction`` without caps),
    a product above its caps (422 naming the field, with ``cap``); nothing is stored."""
    catalogue, _seq = current(conn, base)
    raw = _document(document)
    numbered = _numbered(raw, _highest_product(catalogue, raw.get("code")))
    product = parse_product(numbered)
    if product.status != "active":
        # A stored version is what new business uses; a draft has no place to wait here
        # (the proposal is the draft) and retiring a product is not a version.
        raise ValidationError("a product change is activated: status must be active",
                              field="status")
    previous = max((p for p in catalogue.all() if p.code == product.code),
                   key=lambda p: p.version, default=None)
    if previous is not None and previous.kind != product.kind:
        raise ValidationError(f"{product.code} is a {previous.kind.value} product: a new "
                              "version keeps its kind", field="kind")
    try:
        caps = catalogue.caps(product.jurisdiction)
    except NotFoundError:
        raise ValidationError(f"no caps for jurisdiction {product.jurisdiction}: propose "
                              "them first", field="jurisdiction") from None
    _within_caps(product, caps, changing="product")
    return {"code": product.code, "version": product.version,
            "content_hash": content_hash(numbered), "document": numbered}


def check_caps(conn: Connection, base: Catalogue, document: Any) -> dict[str, Any]:
    """A caps change checked against what is in force now: every active product sold in
    its jurisdiction (the version new business uses) must stay within it
    (422 naming the caps field, with ``cap``). The payload (``jurisdiction``, ``version``,
    ``content_hash``, ``document``); nothing is stored."""
    catalogue, _seq = current(conn, base)
    raw = _document(document)
    held = catalogue.all_caps().get(str(raw.get("jurisdiction")))
    numbered = _numbered(raw, 0 if held is None else held.version)
    caps = parse_caps(numbered)
    for product in catalogue.active():
        if product.jurisdiction == caps.jurisdiction:
            _within_caps(product, caps, changing="caps")
    return {"jurisdiction": caps.jurisdiction, "version": caps.version,
            "content_hash": content_hash(numbered), "document": numbered}


def activate(tx: Tx, base: Catalogue, kind: str, payload: Mapping[str, Any], *,
             proposed_by: str, activated_by: str) -> dict[str, Any]:
    """Store an approved change as the active version (four-eyes execution). It is checked
    again against what is in force now: another version of the same code activated since
    it was proposed makes it stale (StaleProposalError naming ``version``, 409); a product
    now above changed caps, or caps now below a changed product, is refused as when
    proposing. Audited (``credit.catalogue_version_activated``)."""
    if kind not in KINDS:
        raise ValidationError(f"must be one of {', '.join(KINDS)}", field="kind")
    catalogue, seq = current(tx.conn, base)
    version = int(payload["version"])
    if kind == "product":
        code = str(payload["code"])
        highest = _highest_product(catalogue, code)
    else:
        code = str(payload["jurisdiction"])
        held = catalogue.all_caps().get(code)
        highest = 0 if held is None else held.version
    if highest != version - 1:
        raise StaleProposalError(
            f"{kind} {code} is at version {highest} now, not {version - 1} as when this "
            f"version {version} was proposed: propose it again", field="version")
    checked = (check_product if kind == "product" else check_caps)(
        tx.conn, base, payload["document"])
    row = {"kind": kind, "code": code, "version": version, "document": checked["document"],
           "content_hash": checked["content_hash"], "status": "active",
           "activation_seq": seq + 1, "proposed_by": proposed_by,
           "activated_at": tx.now, "activated_by": activated_by}
    tx.conn.execute(versions.insert(), row)
    out = {"kind": kind, "code": code, "version": version,
           "content_hash": checked["content_hash"], "activation_seq": seq + 1}
    audit.append(tx, "staff", activated_by, "credit.catalogue_version_activated",
                 "catalogue_version", f"{kind}:{code}:{version}",
                 {**out, "proposed_by": proposed_by})
    return out


def in_force(conn: Connection, base: Catalogue, kind: str) -> list[dict[str, Any]]:
    """What is in force, packaged and stored, with its source: every product version
    (``active_for_new_business`` on the one new business uses) or the caps of every
    jurisdiction (its highest version, the one in force)."""
    rows = {(r.kind, r.code, r.version): r for r in _rows(conn)}
    catalogue = build(base, list(rows.values()))

    def source(key: tuple[str, str, int]) -> dict[str, Any]:
        row = rows.get(key)
        if row is None:
            return {"source": "packaged", "activated_at": None, "activated_by": None}
        return {"source": "stored", "activated_at": row.activated_at.isoformat(),
                "activated_by": row.activated_by}

    if kind == "product":
        new_business = {(p.code, p.version) for p in catalogue.active()}
        return [{"code": p.code, "version": p.version, "kind": p.kind.value,
                 "status": p.status, "jurisdiction": p.jurisdiction,
                 "currency": p.currency,
                 "active_for_new_business": (p.code, p.version) in new_business,
                 **source(("product", p.code, p.version))}
                for p in sorted(catalogue.all(), key=lambda p: (p.code, p.version))]
    found = []
    for jurisdiction, caps in sorted(catalogue.all_caps().items()):
        found.append({"jurisdiction": jurisdiction, "version": caps.version,
                      "in_force": True,
                      "document": caps.model_dump(mode="json"),
                      **source(("caps", jurisdiction, caps.version))})
    return found
