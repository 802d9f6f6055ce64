"""The app's languages: gettext catalogs compiled by Babel, and which one a request gets.

Catalogs: ``locale/{zh_CN,en}/LC_MESSAGES/messages.po`` (source) and ``.mo`` (compiled,
committed); docs/apps.md says how to extract and compile them. The msgids are English.

A request's language, first that applies: the user's choice (the language switch, kept in
a cookie), the logged-in customer's locale, the browser's ``Accept-Language``, zh-CN.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.support import Translations

__all__ = ["LANGUAGES", "DEFAULT_LANGUAGE", "LOCALE_DIR", "translations", "choose_language",
           "from_accept_language"]

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
LOCALE_DIR = Path(__file__).parent / "locale"
_ACCEPT_LANGUAGE_ITEMS_MAX = 16  # a header is client input: only its first items count


# Pure memo (kept): a compiled catalog is a file of the package, read once per language.
@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> Translations:
    """The compiled catalog of ``language`` (zh-CN or en)."""
    assert language in LANGUAGES, language
    found = Translations.load(str(LOCALE_DIR), [language.replace("-", "_")], "messages")
    assert isinstance(found, Translations), f"no compiled catalog for {language}"
    return found


def from_accept_language(header: str | None) -> str | None:
    """The best of our languages for an ``Accept-Language`` header (``zh``, ``zh-Hans-CN``
    and ``en-GB`` all match), or None."""
    if not header:
        return None
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:_ACCEPT_LANGUAGE_ITEMS_MAX]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag.strip().lower()))
    # One language of ours per primary subtag: every zh-* reads our zh-CN, every en-* en.
    by_primary = {"zh": "zh-CN", "en": "en"}
    for _, _, tag in sorted(weighted):
        found = by_primary.get(tag.split("-")[0])
        if found:
            return found
    return None


def choose_language(chosen: str | None, customer_locale: str | None,
                    accept_language: str | None) -> str:
    """The language of a page: see the module docstring for the order."""
    for candidate in (chosen, customer_locale):
        if candidate in LANGUAGES:
            return candidate
    return from_accept_language(accept_language) or DEFAULT_LANGUAGE
