"""The domains' gettext catalogs (creditpay.i18n, domain ``creditpay``): every message the
code uses is in the template and translated in zh-CN with the same placeholders, each
compiled .mo is its .po compiled, and translate() reads them (docs/apps.md, "Languages")."""

from __future__ import annotations

import io
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from creditpay.i18n import DOMAIN, KEYWORDS, LOCALE_DIR, bilingual, per_language, translate

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ("zh_CN", "en")
Key = tuple[str | None, str]


def _po(locale: str) -> dict[Key, Message]:
    with open(LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as source:
        return {(m.context, str(m.id)): m for m in read_po(source, locale=locale) if m.id}


def _used_in_code() -> set[Key]:
    """What extraction finds in the code now (not the committed template)."""
    with open(ROOT / "babel-creditpay.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    return {(context, message) for _, _, message, _, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS) if isinstance(message, str)}


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_message_used_in_code_is_translated_in_zh_cn_with_its_placeholders() -> None:
    used = _used_in_code()
    assert used, "extraction found no message: check babel-creditpay.cfg and KEYWORDS"
    zh = _po("zh_CN")
    missing = sorted(used - set(zh), key=str)
    assert not missing, f"run scripts/catalogs.py and translate: {missing}"
    for key in used:
        message = zh[key]
        assert message.string and not message.fuzzy, key
        assert _placeholders(str(message.string)) == _placeholders(key[1]), key


def test_the_template_and_the_en_catalog_hold_every_message_used() -> None:
    used = _used_in_code()
    with open(LOCALE_DIR / f"{DOMAIN}.pot", "rb") as source:
        template = {(m.context, str(m.id)) for m in read_po(source) if m.id}
    assert used == template, "creditpay.pot is stale: run scripts/catalogs.py"
    assert used <= set(_po("en"))


@pytest.mark.parametrize("locale", LOCALES)
def test_the_compiled_catalog_is_the_po_compiled(locale: str) -> None:
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    with open(folder / f"{DOMAIN}.po", "rb") as source:
        catalog = read_po(source, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    assert (folder / f"{DOMAIN}.mo").read_bytes() == compiled.getvalue(), (
        f"{locale}: {DOMAIN}.mo is stale; run scripts/catalogs.py (docs/apps.md)")


def test_translate_reads_the_compiled_catalogs() -> None:
    assert translate("poor", "zh-CN") == "较差" and translate("poor", "en") == "poor"
    assert translate("Fee", "zh-CN", context="key facts") == "费用项目"
    assert translate("Fee", "zh-CN", context="key facts column") == "手续费"
    assert bilingual("{label}: {value}", label={"en": "Income", "zh-CN": "收入"},
                     value=3) == {"en": "Income: 3", "zh": "收入：3"}
    notice = per_language("Your credit limit was raised from {old} to {new}.",
                          old={"en": "CN¥1.00", "zh-CN": "¥1.00"}, new="x")
    assert notice == {"zh-CN": "您的信用额度已由¥1.00提升至x。",
                      "en": "Your credit limit was raised from CN¥1.00 to x."}
    assert list(notice) == ["zh-CN", "en"]
    with pytest.raises(ValueError, match="language"):
        translate("poor", "fr")
