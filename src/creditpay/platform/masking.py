"""Display masking of personal data (screens, operator console, exports, logs).

Rules (docs/security.md):

* phone ``13812345678`` -> ``138****5678``: first 3 and last 4 digits of the national number;
  a ``+86`` prefix is kept as ``+86 ``.
* Chinese resident ID (18 chars) -> ``1101**********1234``: first 4 (province + city, shared
  by millions of people) and last 4; the county code and the birth date, which together
  narrow a person down, are hidden. 15-digit legacy IDs follow the same rule; other document
  numbers show only their last 4.
* name ``张三丰`` -> ``张**``; ``John Smith`` -> ``J*** S****`` (first letter of each word).
* email ``alice@example.com`` -> ``a***@example.com`` (always three stars: length hidden).
* card -> ``**** **** **** 1234``: PCI DSS allows at most first 6 / last 4; we show last 4.
* address -> city level only: ``广东省深圳市南山区科技园`` -> ``广东省深圳市***``.

Every function masks from the left-most hidden character to the right-most, so the output
depends only on the characters that are meant to be shown.
"""

from __future__ import annotations

import re

__all__ = [
    "mask_phone",
    "mask_id_number",
    "mask_name",
    "mask_email",
    "mask_card",
    "mask_address",
    "MASK",
]

MASK = "*"
_NON_DIGITS = re.compile(r"\D")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Lazy: the first province-level unit, then the first prefecture-level unit after it.
_CN_PROVINCE = re.compile(r"^(.{1,12}?(?:省|自治区|特别行政区))")
_CN_CITY = re.compile(r"^(.{1,16}?(?:市|自治州|地区|盟))")
_CN_MUNICIPALITIES = ("北京市", "上海市", "天津市", "重庆市")


def mask_phone(value: str) -> str:
    """``13812345678`` -> ``138****5678``; ``+86 13812345678`` -> ``+86 138****5678``."""
    digits = _NON_DIGITS.sub("", value)
    prefix = ""
    if len(digits) == 13 and digits.startswith("861"):
        prefix, digits = "+86 ", digits[2:]
    if len(digits) >= 8:
        return prefix + digits[:3] + MASK * (len(digits) - 7) + digits[-4:]
    if len(digits) >= 5:  # short numbers (extensions): too few digits to show the head
        return prefix + MASK * (len(digits) - 2) + digits[-2:]
    return prefix + MASK * len(digits)


def mask_id_number(value: str) -> str:
    """``110101199003071234`` -> ``1101**********1234``; other documents keep the last 4."""
    text = re.sub(r"\s", "", value).upper()
    if len(text) in (15, 18):
        return text[:4] + MASK * (len(text) - 8) + text[-4:]
    if len(text) >= 8:
        return MASK * (len(text) - 4) + text[-4:]
    return MASK * len(text)


def mask_name(value: str) -> str:
    """``张三丰`` -> ``张**``; ``John Smith`` -> ``J*** S****``; a single character -> ``*``."""
    text = value.strip()
    if not text:
        return ""
    if _CJK.match(text):
        # Chinese names have no spaces; the family name is the usual form of address.
        return text[0] + MASK * (len(text) - 1) if len(text) > 1 else MASK
    return " ".join(word[0] + MASK * (len(word) - 1) for word in text.split())


def mask_email(value: str) -> str:
    """``alice@example.com`` -> ``a***@example.com``; the domain stays for support work."""
    text = value.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local:
        return MASK * 3
    return local[0] + MASK * 3 + "@" + domain


def mask_card(value: str) -> str:
    """Any PAN -> ``**** **** **** 1234`` (last 4 only; the length is not revealed)."""
    digits = _NON_DIGITS.sub("", value)
    if len(digits) < 12:
        return "**** **** **** ****"
    return "**** **** **** " + digits[-4:]


def mask_address(value: str) -> str:
    """City level only: ``北京市朝阳区建国路88号`` -> ``北京市***``.

    Chinese addresses keep their province and prefecture-level city; an address in which no
    city can be found (including free-form foreign addresses, whose structure varies too much
    to cut safely) is masked entirely.
    """
    text = re.sub(r"\s", "", value)
    for municipality in _CN_MUNICIPALITIES:
        if text.startswith(municipality):
            return municipality + MASK * 3
    province = _CN_PROVINCE.match(text)
    rest = text[province.end():] if province else text
    city = _CN_CITY.match(rest)
    if city is None:
        return (province.group(1) + MASK * 3) if province else MASK * 3
    return (province.group(1) if province else "") + city.group(1) + MASK * 3
