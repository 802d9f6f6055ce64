"""Consumer-facing text written by the domains (not the web pages): gettext catalogs.

Catalogs of the domain ``creditpay``: ``locale/{zh_CN,en}/LC_MESSAGES/creditpay.po``
(source) and ``.mo`` (compiled by Babel, committed: the package ships them); docs/apps.md
("Languages") says how to extract, translate and compile them (``scripts/catalogs.py``).
The msgids are the English text, so ``en`` needs no msgstr and an English text is read in
the code where it is used. The web app's own catalogs (domain ``messages``) are
:mod:`creditpay.web.i18n`'s.

* :func:`N_` marks a message translated later (a constant of a module); :func:`NC_` the
  same with a context (``msgctxt``), for a text whose translation depends on where it is
  (the key-facts document's labels, where "Fee" is 费用项目 in one column and 手续费 in
  another);
* :func:`translate` is one message in one language, with named placeholders
  (``"from {old} to {new}"``) filled after translation;
* :func:`bilingual` (``{"en": ..., "zh": ...}``) and :func:`per_language`
  (``{"zh-CN": ..., "en": ...}``) are both languages at once, as the API and the
  notifications carry them. A placeholder's value may differ per language (an amount is
  written CN¥1.00 in en and ¥1.00 in zh-CN): pass a mapping keyed by language.

Not here, on purpose: texts that are versioned or hashed documents stay data with their
version (decision-policy reasons, covered by the policy hash; consent texts; product names
in the product catalogue).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from babel.support import Translations

__all__ = ["DOMAIN", "KEYWORDS", "LANGUAGES", "LOCALE_DIR", "N_", "NC_", "bilingual",
           "per_language", "translate"]

LANGUAGES = ("zh-CN", "en")
DOMAIN = "creditpay"
LOCALE_DIR = Path(__file__).parent / "locale"
# What extraction (scripts/catalogs.py, tests/core/test_catalogs.py) reads as a message:
# Babel's keyword specs (argument 1 is the message; NC_'s argument 1 is the context).
KEYWORDS: dict[str, tuple[int | tuple[int, str], ...] | None] = {
    "N_": None, "NC_": ((1, "c"), 2), "translate": None, "bilingual": None,
    "per_language": None}

# A placeholder's value: the same in both languages, or one per language
# ({"zh-CN": ..., "en": ...}).
Value = str | int | Mapping[str, str]


def N_(message: str) -> str:
    """Mark ``message`` (a msgid, English) for extraction; translated where it is used."""
    return message


def NC_(context: str, message: str) -> str:
    """Mark ``message`` for extraction under ``context``; translate it with that context."""
    return message


# Pure memo (kept): a compiled catalog is a file of the package, read once per language.
@lru_cache(maxsize=len(LANGUAGES))
def _catalog(language: str) -> Translations:
    found = Translations.load(str(LOCALE_DIR), [language.replace("-", "_")], DOMAIN)
    if not isinstance(found, Translations):
        raise FileNotFoundError(f"no compiled {DOMAIN} catalog for {language} in "
                                f"{LOCALE_DIR}; run scripts/catalogs.py")
    return found


def translate(message: str, language: str, /, *, context: str | None = None,
              **values: Value) -> str:
    """``message`` (an English msgid) in ``language`` (zh-CN or en), its named
    placeholders filled with ``values`` (a mapping value: its item for ``language``).

    An unknown language is a programming error here (ValueError): callers take the
    language from validated input (``platform.validators.check_language``) or from
    :data:`LANGUAGES`. A message the catalog lacks is its msgid; tests/core/
    test_catalogs.py fails when code uses one that zh-CN does not translate."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")
    catalog = _catalog(language)
    text = str(catalog.pgettext(context, message) if context is not None
               else catalog.gettext(message))
    if not values:
        return text
    return text.format(**{name: value[language] if isinstance(value, Mapping) else value
                          for name, value in values.items()})


def bilingual(message: str, /, *, context: str | None = None,
              **values: Value) -> dict[str, str]:
    """``{"en": ..., "zh": ...}``: ``message`` in English and in zh-CN (the pair the
    decision API and its stored reasons carry)."""
    return {"en": translate(message, "en", context=context, **values),
            "zh": translate(message, "zh-CN", context=context, **values)}


def per_language(message: str, /, *, context: str | None = None,
                 **values: Value) -> dict[str, str]:
    """``{"zh-CN": ..., "en": ...}``: ``message`` keyed by language code, in
    :data:`LANGUAGES` order (the notifications' ``message``)."""
    return {language: translate(message, language, context=context, **values)
            for language in LANGUAGES}
