"""Key-facts disclosure: figures, deterministic HTML, PDF, acceptance by hash, verification."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from creditpay.credit.apr import AprMethod, all_in_annual_cost, apr_of_schedule
from creditpay.credit.schedule import Method, amortisation_schedule, build_schedule
from creditpay.errors import ConflictError, NotFoundError, StateError, ValidationError
from creditpay.platform.tables import audit_records
from creditpay.protection import disclosure
from creditpay.protection.tables import disclosure_acceptances


def _terms(**changes):
    base = dict(offer_id="off_1", lender_name="Example Consumer Finance Co.",
                principal_minor=600_000, currency="CNY", annual_rate=Decimal("0.12"),
                periods=6, start_date=dt.date(2025, 3, 1),
                fee_rate_per_period=Decimal("0.003"), late_fee_minor=2_000,
                penalty_annual_rate=Decimal("0.12"), grace_days=3)
    base.update(changes)
    return disclosure.OfferTerms(**base)


@pytest.fixture(scope="module")
def facts():
    return disclosure.build_key_facts(_terms())


# ----- figures and rendering (pure) ---------------------------------------------------------
def test_figures_come_from_the_schedule_and_apr_modules(facts):
    schedule = amortisation_schedule(600_000, "CNY", Decimal("0.12"), 6, "equal_installment",
                                     dt.date(2025, 3, 1), fee_rate_per_period=Decimal("0.003"))
    assert facts.schedule == schedule
    assert facts.apr == all_in_annual_cost(schedule)
    assert facts.total_fees_minor == 6 * 1_800 == schedule.totals.fee_minor
    assert facts.total_repayable_minor == 600_000 + facts.total_interest_minor + 10_800
    assert facts.withdrawal_deadline == dt.date(2025, 3, 15)
    # A fee on the original principal makes the all-in cost well above the 12 % rate.
    assert Decimal("0.17") < facts.apr < Decimal("0.19")


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_document_shows_every_required_figure(facts, language):
    html = disclosure.render_html(facts, language).decode("utf-8")
    assert f'lang="{language}"' in html
    assert disclosure.percent_text(facts.apr) in html  # 18.05%
    assert "12.00%" in html  # contract rate and penalty rate
    for installment in facts.schedule.installments:
        assert installment.due_date.isoformat() in html
    assert html.count("<tr><td class=\"num\">") == 6  # one schedule row per installment
    assert "6,319.75" in html and "6,000.00" in html and "108.00" in html and "20.00" in html
    assert "2025-03-15" in html  # withdrawal deadline
    assert "12363" in html  # complaint channel of the regulator
    if language == "zh-CN":
        for label in ("综合年化成本", "应还总额", "逾期", "撤回", "投诉", "滞纳金", "罚息"):
            assert label in html
    else:
        for label in ("All-in annual cost", "Total amount repayable", "Late fee",
                      "Right of withdrawal", "Complaints", "Penalty interest"):
            assert label in html


def test_rendering_is_deterministic_and_sensitive_to_every_figure(facts):
    first = disclosure.render_html(facts, "en")
    again = disclosure.render_html(disclosure.build_key_facts(_terms()), "en")
    assert first == again
    assert disclosure.document_sha256(first) == disclosure.document_sha256(again)
    assert disclosure.render_html(facts, "zh-CN") != first
    for change in ({"late_fee_minor": 2_001}, {"annual_rate": Decimal("0.1201")},
                   {"grace_days": 4}, {"offer_id": "off_2"}, {"withdrawal_days": 15}):
        other = disclosure.render_html(disclosure.build_key_facts(_terms(**change)), "en")
        assert other != first, change


def test_lender_name_is_escaped():
    facts = disclosure.build_key_facts(_terms(lender_name="<script>x</script> & Co"))
    html = disclosure.render_html(facts, "en").decode()
    assert "<script>x" not in html and "&lt;script&gt;x&lt;/script&gt; &amp; Co" in html


@pytest.mark.parametrize(("changes", "field"), [
    ({"offer_id": "off 1"}, "offer_id"),
    ({"principal_minor": 0}, "principal_minor"),
    ({"annual_rate": 0.12}, "annual_rate"),
    ({"late_fee_minor": -1}, "late_fee_minor"),
    ({"withdrawal_days": 0}, "withdrawal_days"),
    ({"lender_name": ""}, "lender_name"),
    ({"periods": 0}, "periods"),
])
def test_bad_terms_name_the_field(changes, field):
    with pytest.raises(ValidationError) as exc:
        disclosure.build_key_facts(_terms(**changes))
    assert exc.value.field == field


@settings(max_examples=40, deadline=None)
@given(principal=st.integers(100, 5_000_000), periods=st.integers(1, 36),
       rate=st.decimals(Decimal(0), Decimal("0.24"), places=4),
       fee=st.decimals(Decimal(0), Decimal("0.01"), places=4),
       method=st.sampled_from(list(Method)), down=st.integers(0, 100_000))
def test_key_facts_from_figures_already_computed_are_those_solved_from_the_terms(
        principal, periods, rate, fee, method, down):
    """Given the schedule and the two cost figures credit already solved, the document is,
    figure for figure and byte for byte, the one :func:`build_key_facts` solves."""
    terms = _terms(principal_minor=principal, periods=periods, annual_rate=rate,
                   fee_rate_per_period=fee, method=method, down_payment_minor=down)
    solved = disclosure.build_key_facts(terms)
    schedule = build_schedule(terms.schedule_terms())
    given_facts = disclosure.build_key_facts_from(
        schedule, all_in_annual_cost(schedule), apr_of_schedule(schedule, AprMethod.EU), terms)
    assert given_facts == solved
    for language in ("zh-CN", "en"):
        assert disclosure.render_html(given_facts, language) == \
            disclosure.render_html(solved, language)


def test_key_facts_from_figures_refuses_another_schedule_or_a_bad_rate(facts):
    terms = _terms()
    other = build_schedule(_terms(periods=7).schedule_terms())
    with pytest.raises(ValidationError) as exc:
        disclosure.build_key_facts_from(other, facts.apr, facts.effective_annual_rate, terms)
    assert exc.value.field == "schedule"
    for field, apr, aprc in (("apr", Decimal("NaN"), facts.effective_annual_rate),
                             ("aprc", facts.apr, 0.1)):
        with pytest.raises(ValidationError) as exc:
            disclosure.build_key_facts_from(facts.schedule, apr, aprc, terms)
        assert exc.value.field == field


def test_pdf_is_rendered(facts):
    pdf = disclosure.render_pdf(disclosure.render_html(facts, "en"))
    assert pdf.startswith(b"%PDF-") and len(pdf) > 5_000
    zh = disclosure.render_pdf(disclosure.render_html(facts, "zh-CN"))
    assert zh.startswith(b"%PDF-")


def test_pdf_refused_for_chinese_without_a_chinese_font(facts, monkeypatch):
    monkeypatch.setattr(disclosure, "_has_cjk_font", lambda: False)
    with pytest.raises(disclosure.PdfUnavailableError) as exc:
        disclosure.render_pdf(disclosure.render_html(facts, "zh-CN"))
    assert exc.value.extra["rule"] == "disclosure.cjk_font_missing"
    assert disclosure.render_pdf(disclosure.render_html(facts, "en")).startswith(b"%PDF-")


# ----- acceptance (both stores) -------------------------------------------------------------
def _accept(uow, facts, language="zh-CN", customer="cus_1", shown=None):
    document = disclosure.render_html(facts, language)
    with uow.begin() as tx:
        return disclosure.accept_disclosure(
            tx, customer_id=customer, facts=facts, language=language,
            shown_sha256=shown or disclosure.document_sha256(document), channel="app")


def _rows(engine, table=disclosure_acceptances):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_accept_records_the_hash_and_verify_proves_the_document(uow, engine, facts, clock):
    acceptance = _accept(uow, facts)
    document = disclosure.render_html(facts, "zh-CN")
    assert acceptance.document_sha256 == disclosure.document_sha256(document)
    assert acceptance.accepted_at == clock.now() and acceptance.offer_id == "off_1"
    with engine.connect() as conn:
        check = disclosure.verify_acceptance(conn, "off_1", document)
        assert check.matches and check.stored_document_intact
        assert disclosure.accepted_document(conn, "off_1") == document
        # One changed byte, or the English version, is not the accepted document.
        tampered = document.replace(b"6,319.75", b"6,319.76")
        assert not disclosure.verify_acceptance(conn, "off_1", tampered).matches
        english = disclosure.render_html(facts, "en")
        assert not disclosure.verify_acceptance(conn, "off_1", english).matches
        assert disclosure.require_accepted_disclosure(conn, "cus_1", "off_1").id == \
            acceptance.id
        audit_row = conn.execute(select(audit_records)).one()
    assert audit_row.action == "disclosure.accepted" and audit_row.subject_id == "off_1"
    assert audit_row.payload["document_sha256"] == acceptance.document_sha256


def test_verify_detects_an_edited_stored_copy(uow, engine, facts):
    _accept(uow, facts, "en")
    with engine.begin() as conn:
        conn.execute(update(disclosure_acceptances).values(
            document_html=disclosure_acceptances.c.document_html + " "))
    with engine.connect() as conn:
        check = disclosure.verify_acceptance(conn, "off_1", disclosure.render_html(facts, "en"))
    assert check.matches and not check.stored_document_intact


def test_hash_of_another_document_is_refused_and_nothing_written(uow, engine, facts):
    other = disclosure.render_html(disclosure.build_key_facts(_terms(late_fee_minor=0)), "zh-CN")
    with pytest.raises(ValidationError) as exc:
        _accept(uow, facts, shown=disclosure.document_sha256(other))
    assert exc.value.field == "shown_sha256"
    assert _rows(engine) == 0 and _rows(engine, audit_records) == 0


def test_one_acceptance_per_offer(uow, engine, facts):
    first = _accept(uow, facts)
    assert _accept(uow, facts).id == first.id  # retry: same result
    with pytest.raises(ConflictError) as exc:
        _accept(uow, facts, customer="cus_2")
    assert exc.value.extra["rule"] == "disclosure.already_accepted"
    with pytest.raises(ConflictError):
        _accept(uow, facts, language="en")
    assert _rows(engine) == 1


def test_credit_use_is_gated_on_acceptance(engine, uow, facts):
    with engine.connect() as conn:
        with pytest.raises(StateError) as exc:
            disclosure.require_accepted_disclosure(conn, "cus_1", "off_1")
        assert exc.value.extra["rule"] == "disclosure.not_accepted"
        with pytest.raises(NotFoundError):
            disclosure.verify_acceptance(conn, "off_1", b"<html></html>")
    _accept(uow, facts)
    with engine.connect() as conn, pytest.raises(StateError):
        disclosure.require_accepted_disclosure(conn, "cus_2", "off_1")


def test_offer_id_is_stable_and_template_version_declared(facts):
    a = disclosure.offer_id_for(principal="6000", periods=6)
    assert a == disclosure.offer_id_for(periods=6, principal="6000")
    assert re.fullmatch(r"kf-[0-9a-f]{24}", a)
    html = disclosure.render_html(facts, "en").decode()
    assert f'content="{disclosure.TEMPLATE_VERSION}"' in html
    assert dataclasses.is_dataclass(facts)


@pytest.mark.parametrize("second_customer", ["cus_1", "cus_2"])
def test_an_acceptance_made_concurrently(uow, engine, facts, store, second_customer):
    """Two transactions accepting the same offer at once (PostgreSQL: the second's insert
    waits for the first's commit, then inserts nothing and reads the first's row): the
    same customer's identical acceptance is the first one, repeated (as a later repeat
    is); another customer's is refused with ConflictError (disclosure.already_accepted).
    One row is kept either way. SQLite serialises writers, so there the second simply
    finds the first (test_one_acceptance_per_offer)."""
    import threading

    if store.kind != "postgresql":
        pytest.skip("SQLite serialises writers: no two acceptances can overlap")
    document = disclosure.render_html(facts, "zh-CN")
    digest = disclosure.document_sha256(document)
    first_inserted, first_may_commit = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    accepted: list[disclosure.Acceptance] = []

    def first() -> None:
        try:
            with uow.begin() as tx:
                accepted.append(disclosure.accept_disclosure(
                    tx, customer_id="cus_1", facts=facts, language="zh-CN",
                    shown_sha256=digest, channel="app"))
                first_inserted.set()
                first_may_commit.wait(10)
        except BaseException as exc:  # reported below
            errors.append(exc)
            first_inserted.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_inserted.wait(10)
    # The second's insert now waits on the first's uncommitted row.
    threading.Timer(0.5, first_may_commit.set).start()
    if second_customer == "cus_1":
        again = _accept(uow, facts, customer=second_customer)
        thread.join(10)
        assert again == accepted[0]
    else:
        with pytest.raises(ConflictError) as exc:
            _accept(uow, facts, customer=second_customer)
        thread.join(10)
        assert exc.value.extra["rule"] == "disclosure.already_accepted"
    assert not errors
    assert _rows(engine) == 1
