"""What a page tells a person about a refusal: a taken phone or e-mail only when that is the
refusal; any other conflict (an object whose state changed) says to reload."""

from __future__ import annotations

from types import SimpleNamespace

from creditpay.errors import ConflictError, StateError
from creditpay.web.framework import error_text
from creditpay.web.i18n import translations


def _page(language: str) -> SimpleNamespace:
    return SimpleNamespace(gettext=lambda m: str(translations(language).gettext(m)))


def test_only_a_registration_conflict_says_the_identifier_is_taken():
    page = _page("en")
    taken = error_text(page, ConflictError("this phone is registered already", field="phone"))
    assert "registered already" in taken
    for exc in (StateError("intent is succeeded", field="intent_id"),
                ConflictError("this offer was accepted concurrently", field="offer_id")):
        text = error_text(page, exc)
        assert "registered" not in text and "Reload" in text
    assert "刷新" in error_text(_page("zh-CN"), StateError("x", field="account_id"))
