"""``find_pii`` answers exactly as before its prefilter (a text with no run of eight digits at
a match's left boundary and no "@" is answered [] without the full alternation): the same
matches, kinds and spans, in both modes, on generated texts built around the shapes it looks
for (grouped digit runs, "+" and "86" prefixes, Luhn-valid and invalid card numbers, ID
numbers with and without their check character, emails, Unicode digits, boundaries)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.platform import logging_filter
from creditpay.platform.logging_filter import PiiMatch, cn_id_checksum_valid, find_pii, luhn_valid


def _old_find_pii(text: str, *, strict: bool = False) -> list[PiiMatch]:
    """find_pii as it was before the prefilter (main at 7d39a22), on the same patterns."""
    combined, phone, _ = logging_filter._STRICT if strict else logging_filter._EAGER
    found: list[PiiMatch] = []
    for match in combined.finditer(text):
        kind = match.lastgroup or ""
        value = match.group(0)
        if kind == "card" and not luhn_valid(re.sub(r"\D", "", value)):
            found.extend(PiiMatch("phone", match.start() + inner.start(),
                                  match.start() + inner.end(), inner.group(0))
                         for inner in phone.finditer(value))
            continue
        if kind == "id_number" and strict and not cn_id_checksum_valid(value):
            continue
        found.append(PiiMatch(kind, match.start(), match.end(), value))
    return found


_PIECES = st.sampled_from([
    "13812345678", "138 1234 5678", "138-1234-5678", "+8613812345678", "86 138 1234 5678",
    "+86-13812345678", "+4915112345678", "+1234567", "+12345678", "4111111111111111",
    "4111 1111 1111 1111", "4111-1111-1111-1112", "8613812345678", "110101199003070011",
    "11010119900307001X", "110101199003070012", "a@b.cc", "x.y+z@mail.example.org", "@",
    "pi_", "cus_", "ptn_97ea25545d10b74d", "f3b555534b2f6fda99f7", "12345678", "1234567",
    "1 2 3 4 5 6 7 8", "1-2-3-4-5-6-7", "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",
    "\uff11\uff13\uff18", "X", "x", " ", "-", "+", "_", ".", "a", "Z", "9", "0", "\u4e2d",
])
_TEXTS = st.one_of(
    st.lists(_PIECES, max_size=8).map("".join),
    st.lists(st.one_of(_PIECES, st.text(alphabet="0123456789 -+@aX._", max_size=6)),
             max_size=6).map("".join),
    st.text(max_size=40),
    st.text(alphabet="0123456789", min_size=6, max_size=20),
)


@settings(max_examples=1500, deadline=None)
@given(_TEXTS)
def test_find_pii_answers_as_before(text: str) -> None:
    for strict in (False, True):
        assert find_pii(text, strict=strict) == _old_find_pii(text, strict=strict)


def test_the_prefilter_skips_ids_and_codes_only() -> None:
    # Texts the audit checks all day: nothing in them, and the prefilter says so.
    for text in ("ptn_97ea25545d10b74d3625", "features=features-27da5d5448d9/model=x",
                 "f3b555534b2f6fda99f73c267d2ff607c73da9fd628268bb90450b81d1976dd6"):
        assert logging_filter._STRICT[2].search(text) is None
        assert find_pii(text, strict=True) == []
    # And still finds what is there.
    assert [m.kind for m in find_pii("call 138 1234 5678 or a@b.cc", strict=True)] == [
        "phone", "email"]
    assert [m.kind for m in find_pii("tel13812345678")] == ["phone"]
