"""The compiled catalogs (.mo) are up to date with their sources (.po), zh-CN translates
every message, and the languages are negotiated as documented."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from creditpay.web.i18n import LOCALE_DIR, choose_language, from_accept_language

LOCALES = ("zh_CN", "en")


@pytest.mark.parametrize("locale", LOCALES)
def test_the_compiled_catalog_is_the_po_compiled(locale: str) -> None:
    folder = Path(LOCALE_DIR) / locale / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as source:
        catalog = read_po(source, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    assert (folder / "messages.mo").read_bytes() == compiled.getvalue(), (
        f"{locale}: messages.mo is stale; run scripts/web_catalogs.py (docs/apps.md)")


def test_zh_cn_translates_every_message() -> None:
    with open(Path(LOCALE_DIR) / "zh_CN" / "LC_MESSAGES" / "messages.po", "rb") as source:
        catalog = read_po(source, locale="zh_CN")
    missing = [m.id for m in catalog if m.id and not m.string]
    assert not missing and not any(m.fuzzy for m in catalog if m.id), missing


def test_every_extracted_message_is_in_each_catalog() -> None:
    with open(Path(LOCALE_DIR) / "messages.pot", "rb") as source:
        template = {m.id for m in read_po(source) if m.id}
    for locale in LOCALES:
        with open(Path(LOCALE_DIR) / locale / "LC_MESSAGES" / "messages.po", "rb") as source:
            ids = {m.id for m in read_po(source, locale=locale) if m.id}
        assert template <= ids, (locale, sorted(template - ids))


@pytest.mark.parametrize(("chosen", "customer", "header", "expected"), [
    ("en", "zh-CN", "zh", "en"),  # the switch wins
    (None, "en", "zh-CN", "en"),  # then the customer's locale
    (None, None, "en-GB,en;q=0.9", "en"),  # then the browser's
    (None, None, "fr, zh-Hant-TW;q=0.5", "zh-CN"),
    (None, None, "de, fr", "zh-CN"),  # else zh-CN
    ("xx", None, None, "zh-CN"),  # a forged cookie is ignored
    (None, None, "en;q=0, zh;q=0.1", "zh-CN"),
])
def test_the_language_of_a_page(chosen: str | None, customer: str | None, header: str | None,
                                expected: str) -> None:
    assert choose_language(chosen, customer, header) == expected


def test_accept_language_is_read_by_quality() -> None:
    assert from_accept_language("zh;q=0.4, en;q=0.8") == "en"
    assert from_accept_language("*") is None
    assert from_accept_language("en;q=abc, zh") == "zh-CN"
