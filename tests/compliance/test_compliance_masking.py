"""Display masking: documented examples and properties over generated values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditpay.platform.masking import (
    mask_address,
    mask_card,
    mask_email,
    mask_id_number,
    mask_name,
    mask_phone,
)


@pytest.mark.parametrize("func, raw, masked", [
    (mask_phone, "13812345678", "138****5678"),
    (mask_phone, "+86 138-1234-5678", "+86 138****5678"),
    (mask_phone, "12345", "***45"),
    (mask_id_number, "110101199003071234", "1101**********1234"),
    (mask_id_number, "11010119900307123x", "1101**********123X"),
    (mask_id_number, "110101900307123", "1101*******7123"),
    (mask_id_number, "E12345678", "*****5678"),
    (mask_name, "张三丰", "张**"),
    (mask_name, "张三", "张*"),
    (mask_name, "王", "*"),
    (mask_name, "John Smith", "J*** S****"),
    (mask_email, "alice@example.com", "a***@example.com"),
    (mask_email, "a@example.com", "a***@example.com"),
    (mask_email, "not-an-email", "***"),
    (mask_card, "4111 1111 1111 1111", "**** **** **** 1111"),
    (mask_card, "6222020200112233445", "**** **** **** 3445"),
    (mask_address, "广东省深圳市南山区科技园南区88号", "广东省深圳市***"),
    (mask_address, "北京市朝阳区建国路88号", "北京市***"),
    (mask_address, "广西壮族自治区南宁市青秀区民族大道1号", "广西壮族自治区南宁市***"),
    (mask_address, "湖北省恩施土家族苗族自治州恩施市舞阳大街", "湖北省恩施土家族苗族自治州***"),
    (mask_address, "1 Infinite Loop, Cupertino, CA 95014", "***"),
])
def test_documented_examples(func, raw, masked):
    assert func(raw) == masked


digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def _shown(masked: str) -> str:
    return masked.replace("*", "").replace(" ", "").replace("+86", "")


@given(head=st.from_regex(r"1[3-9]\d", fullmatch=True),
       middle_a=st.from_regex(r"\d{4}", fullmatch=True),
       middle_b=st.from_regex(r"\d{4}", fullmatch=True),
       tail=st.from_regex(r"\d{4}", fullmatch=True))
def test_phone_mask_hides_the_middle_digits(head, middle_a, middle_b, tail):
    masked = mask_phone(head + middle_a + tail)
    # The output depends only on the shown digits: changing the hidden ones changes nothing.
    assert masked == mask_phone(head + middle_b + tail)
    assert _shown(masked) == head + tail and masked.count("*") == 4


@given(region=st.from_regex(r"[1-9]\d{3}", fullmatch=True),
       hidden_a=st.from_regex(r"\d{10}", fullmatch=True),
       hidden_b=st.from_regex(r"\d{10}", fullmatch=True),
       tail=st.from_regex(r"\d{3}[0-9X]", fullmatch=True))
def test_id_mask_hides_county_and_birth_date(region, hidden_a, hidden_b, tail):
    masked = mask_id_number(region + hidden_a + tail)
    assert masked == mask_id_number(region + hidden_b + tail)
    assert masked == region + "*" * 10 + tail


@given(st.from_regex(r"\d{13,19}", fullmatch=True), st.from_regex(r"\d{9}", fullmatch=True))
def test_card_mask_shows_last_four_only(pan, other_head):
    masked = mask_card(pan)
    assert masked == "**** **** **** " + pan[-4:]
    assert mask_card(other_head + pan[-4:]) == masked  # no length, no BIN


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5),
               min_size=2, max_size=5))
def test_chinese_name_keeps_only_the_family_name(name):
    masked = mask_name(name)
    assert masked == name[0] + "*" * (len(name) - 1)


@given(local=st.from_regex(r"[a-z0-9._]{1,20}", fullmatch=True),
       domain=st.from_regex(r"[a-z]{1,10}\.(com|cn|org)", fullmatch=True))
def test_email_mask_hides_local_part_and_its_length(local, domain):
    masked = mask_email(f"{local}@{domain}")
    assert masked == f"{local[0]}***@{domain}"
