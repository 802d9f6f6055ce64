"""protection's reads and erasure for one customer (the data-subject export and erasure):
accepted disclosures, collection contacts, complaints in one statement, and the contacts'
references erased, on both stores."""

from __future__ import annotations

from sqlalchemy import event, select

from creditpay.platform.tombstones import tombstone
from creditpay.protection.collections_rules import ContactAttempt, attempt_contact
from creditpay.protection.complaints import customer_complaints, get_complaint, open_complaint
from creditpay.protection.erasure import erase_customer_contacts
from creditpay.protection.queries import customer_acceptances, customer_contacts
from creditpay.protection.tables import collection_contacts, disclosure_acceptances


def _accepted(tx, offer_id: str, customer_id: str) -> None:
    tx.conn.execute(disclosure_acceptances.insert().values(
        offer_id=offer_id, customer_id=customer_id, language="en", template_version="3",
        document_sha256="a" * 64, document_html="<p>key facts</p>", channel="app",
        accepted_at=tx.now))


def _contact(tx, customer_id: str, channel_ref: str) -> bool:
    attempt = ContactAttempt(customer_id=customer_id, account_id="acc-1", collector_id="col-1",
                             channel="sms", channel_ref=channel_ref, recipient="debtor",
                             time_zone="Asia/Shanghai")
    return attempt_contact(tx, attempt, verified_channel_refs={channel_ref}).allowed


def test_acceptances_and_contacts_of_one_customer(uow):
    with uow.begin() as tx:
        _accepted(tx, "offer-1", "c1")
        _accepted(tx, "offer-2", "c1")
        _accepted(tx, "offer-3", "c2")
        allowed = _contact(tx, "c1", "ref-c1")
        _contact(tx, "c2", "ref-c2")
    with uow.connect() as conn:
        accepted = customer_acceptances(conn, "c1", limit=10)
        assert [a.offer_id for a in customer_acceptances(conn, "c1", limit=1)] == ["offer-1"]
        contacts = customer_contacts(conn, "c1", limit=10)
        assert customer_contacts(conn, "nobody", limit=10) == []
    assert [(a.offer_id, a.customer_id, a.document_html) for a in accepted] == [
        ("offer-1", "c1", "<p>key facts</p>"), ("offer-2", "c1", "<p>key facts</p>")]
    assert accepted[0].accepted_at.tzinfo is not None
    assert [(c.account_id, c.channel, c.allowed) for c in contacts] == [
        ("acc-1", "sms", allowed)]
    assert contacts[0].rule and not hasattr(contacts[0], "channel_ref")


def test_complaints_of_one_customer_in_one_statement(uow, store, clock):
    opened = []
    for n in range(3):
        with uow.begin() as tx:
            opened.append(open_complaint(tx, customer_id="c1", subject_type="account",
                                         subject_id=f"acc-{n}", category="fees_and_charges",
                                         channel="app").id)
        clock.advance(minutes=1)
    with uow.begin() as tx:
        open_complaint(tx, customer_id="c2", subject_type="account", subject_id="acc-9",
                       category="fees_and_charges", channel="app")
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        statements.append(statement)

    with uow.connect() as conn:
        event.listen(store.engine, "before_cursor_execute", count)
        try:
            found = customer_complaints(conn, "c1", limit=10)
        finally:
            event.remove(store.engine, "before_cursor_execute", count)
        assert found == [get_complaint(conn, complaint_id) for complaint_id in opened]
        assert [c.id for c in customer_complaints(conn, "c1", limit=2)] == opened[:2]
    assert len(statements) == 1


def test_erase_customer_contacts_replaces_only_that_customers_references(uow):
    with uow.begin() as tx:
        _contact(tx, "c1", "ref-c1")
        _contact(tx, "c1", "ref-c1-other")
        _contact(tx, "c2", "ref-c2")
    with uow.begin() as tx:
        assert erase_customer_contacts(tx, "c1") == 2
    with uow.connect() as conn:
        refs = conn.execute(select(collection_contacts.c.customer_id,
                                   collection_contacts.c.channel_ref)).all()
        kept = customer_contacts(conn, "c1", limit=10)
    assert sorted(refs) == sorted([("c1", tombstone("collection_contact", "c1"))] * 2
                                  + [("c2", "ref-c2")])
    assert len(kept) == 2  # what happened stays; only the reference goes
    with uow.begin() as tx:
        assert erase_customer_contacts(tx, "nobody") == 0
