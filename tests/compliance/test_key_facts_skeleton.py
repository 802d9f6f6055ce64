"""A key-facts document written from its skeleton (``disclosure._skeleton``: the fixed text
rendered by Jinja once per language and layout, each figure written into its slot) is
byte for byte what Jinja renders from the same figures, for random offers in both
languages, with and without a down payment and a currency conversion, and with figures
holding every character autoescape replaces."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.credit.schedule import Method
from creditpay.protection import disclosure


def _jinja(facts: disclosure.KeyFacts, language: str) -> bytes:
    """The document as Jinja renders the template with every figure (the old path)."""
    template, labels = disclosure._template(language)
    text = template.render(lang=language, t=labels, f=disclosure._figures(facts, language),
                           template_version=disclosure.TEMPLATE_VERSION)
    return text.replace("\r\n", "\n").encode("utf-8")


_FREQUENCIES = ("monthly", "weekly", "biweekly", "quarterly", "semimonthly")
_NAMES = st.text(alphabet=st.sampled_from("Ab 中文&<>\"'{}%#\\0\x00"), min_size=1,
                 max_size=20).filter(lambda name: name.strip() and "\n" not in name)


@st.composite
def _facts(draw: st.DrawFn) -> disclosure.KeyFacts:
    method = draw(st.sampled_from([Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL,
                                   Method.FLAT, Method.INTEREST_ONLY]))
    frequency = draw(st.sampled_from(_FREQUENCIES))
    terms = disclosure.OfferTerms(
        offer_id=draw(st.from_regex(r"[a-z][a-z0-9_-]{2,20}", fullmatch=True)),
        lender_name=draw(_NAMES),
        principal_minor=draw(st.integers(1_000, 10**9)),
        currency=draw(st.sampled_from(["CNY", "USD", "JPY", "EUR"])),
        annual_rate=Decimal(draw(st.integers(0, 3600))) / 10_000,
        periods=draw(st.integers(1, 24)), start_date=draw(st.dates(
            dt.date(2024, 1, 1), dt.date(2030, 12, 31))),
        method=method, frequency=frequency,
        day_count=draw(st.sampled_from(["30/360", "ACT/365"])),
        fee_rate_per_period=Decimal(draw(st.integers(0, 100))) / 10_000,
        late_fee_minor=draw(st.integers(0, 10_000)),
        penalty_annual_rate=Decimal(draw(st.integers(0, 3600))) / 10_000,
        grace_days=draw(st.integers(0, 30)), withdrawal_days=draw(st.integers(1, 90)),
        down_payment_minor=draw(st.sampled_from([0, 0, 1, 250_000])))
    facts = disclosure.build_key_facts(terms)
    if draw(st.booleans()):
        facts = dataclasses.replace(facts, conversion=disclosure.CurrencyConversion(
            buy_amount_minor=draw(st.integers(1, 10**8)), buy_currency="USD",
            mid_rate="7.1<&>", client_rate="7.2", markup_bps=draw(st.integers(0, 500)),
            markup_minor=draw(st.integers(0, 10**6)), fee_minor=draw(st.integers(0, 100))))
    return facts


@settings(max_examples=60, deadline=None)
@given(facts=_facts(), language=st.sampled_from(["zh-CN", "en"]))
def test_the_skeleton_writes_what_jinja_renders(facts: disclosure.KeyFacts,
                                                language: str) -> None:
    key, values = disclosure._figures_flat(facts, language)
    assert disclosure._render_by_skeleton(language, key, values) is not None  # covered
    assert disclosure.render_html(facts, language) == _jinja(facts, language)


def test_the_packaged_template_is_plain_and_other_constructs_are_not() -> None:
    assert disclosure._skeleton_safe("zh-CN") and disclosure._skeleton_safe("en")
    assert disclosure._plain_template("<p>{{ f.a.b }}</p>{% for r in f.rows %}{{ r.x }}"
                                      "{% endfor %}{% if f.c %}y{% elif f.d %}z{% else %}w"
                                      "{% endif %}")
    for source in ("{{ f.a|upper }}", "{{ f.a ~ 'x' }}", "{% if f.a == 1 %}x{% endif %}",
                   "{% for r in f.rows %}x{% else %}y{% endfor %}", "{{ f.a() }}",
                   "{{ f['a'] }}", "{% set x = 1 %}", "{{ f.a if f.b }}",
                   "{% for r in f.rows if r %}x{% endfor %}"):
        assert not disclosure._plain_template(source), source


def test_a_figure_the_skeleton_does_not_write_goes_to_jinja() -> None:
    facts = disclosure.build_key_facts(disclosure.OfferTerms(
        offer_id="kf-zero", lender_name="Lender", principal_minor=10_000, currency="CNY",
        annual_rate=Decimal("0.1"), periods=3, start_date=dt.date(2025, 1, 31)))
    key, values = disclosure._figures_flat(facts, "en")
    assert disclosure._render_by_skeleton("en", key, [*values[:-1], ""]) is None
    assert disclosure._render_by_skeleton("en", key, [*values[:-1], True]) is None
    assert disclosure.render_html(facts, "en") == _jinja(facts, "en")
