"""Safety: refusing prompt-injection and social-engineering attempts, and masking personal
data before a transcript is stored.

Refusal (:func:`refusal_reason`) is a fixed answer with intent ``out_of_scope`` (the
question is outside what the assistant does for this consumer; ``handoff_human`` would
open a ticket for every probe): attempts to change the assistant's rules ("ignore your
rules", "system prompt", "developer mode"), to claim authority ("I am the admin"), to reach
another person's data (an account, customer or other id in the text; "my friend's bill";
another person's phone, ID or card number asked about). The rules are patterns, in both
languages, kept deliberately broad: a refused honest question costs a rephrasing, a
missed probe would cost nothing either (the service can only read the asking consumer's
data: structurally, every read is keyed by the authenticated customer id and no identifier
in the text is ever used), but the refusal tells the prober so, and the audit log shows it.

Masking (:func:`mask_transcript`): phone, ID and card numbers and e-mail addresses
(:func:`creditpay.platform.logging_filter.mask_pii_text`), and the names a consumer types
("my name is ...", "我叫...", "姓名：...") by :func:`creditpay.platform.masking.mask_name`.
"""

from __future__ import annotations

import re

from creditpay.platform.logging_filter import find_pii, mask_pii_text
from creditpay.platform.masking import mask_name

__all__ = ["refusal_reason", "mask_transcript", "HANDOFF_ACCEPT", "is_handoff_accept"]

# The fixed phrases the "talk to a person" proposal sends (answers.handoff_offer).
HANDOFF_ACCEPT = {"en": "Talk to a person", "zh-CN": "转人工"}

_RULES = re.compile(
    r"ignore (all |any |the |your |my )*(previous |prior |above )*(rules|instructions|prompts?)"
    r"|disregard (your|the|all|previous)|forget (your|all|the) (rules|instructions)"
    r"|system prompt|developer mode|jailbreak|\bDAN\b|you are now|pretend (to be|you)"
    r"|act as (an? )?(admin|administrator|operator|developer|root)"
    r"|override|bypass|new instructions|reveal your (prompt|instructions|rules)"
    r"|忽略.{0,6}(规则|指令|设定|限制|提示)|无视.{0,6}(规则|指令|限制)|忘记.{0,6}(规则|指令|设定)"
    r"|系统提示|开发者模式|越狱|扮演|假装你|你现在是|绕过|覆盖.{0,4}(规则|指令)", re.IGNORECASE)
_AUTHORITY = re.compile(
    r"\bi(?:'m| am) (?:the |an? |your )?(admin|administrator|operator|staff|employee|"
    r"developer|engineer|manager of creditpay|police|officer|regulator|auditor|root|superuser)"
    r"|as (an? |the )?(admin|administrator|operator|staff member|employee)"
    r"|admin (mode|access|override)|sudo"
    r"|我是.{0,4}(管理员|客服人员|工作人员|员工|开发|工程师|警察|监管|审计|超级用户|内部人员)"
    r"|管理员(权限|模式)|内部(权限|人员)", re.IGNORECASE)
_OTHER_ID = re.compile(
    r"\b(cus|cust|customer|acct|account|acc|usr|user|ln|line|pi|stmt|cmp|asc)[_\-]\w+"
    r"|\b(account|customer|user|id|loan|line|statement|card)\s*(number|no\.?|#|id)?\s*[:#]?\s*\d{2,}"
    r"|(账户|账号|帐户|帐号|客户|用户|卡号|编号|id)\s*[:：#]?\s*\d{2,}", re.IGNORECASE)
_OTHER_PERSON = re.compile(
    r"\b(his|her|their)\s+(\w+\s+)?(bill|balance|account|limit|debt|loan|score|statement|data|"
    r"payments?|transactions?|details|info|number)"
    r"|\bmy\s+(friend|wife|husband|partner|mother|mom|mum|father|dad|son|daughter|brother|"
    r"sister|colleague|boss|neighbou?r|roommate)'?s?\b"
    r"|someone else'?s\b|somebody else'?s\b|another (customer|user|person|account|member)"
    r"|other (customers?|users?|people|members)'?s?\b|\bcustomer \w+'s\b"
    r"|(他|她|别人|他人|其他人|其他用户|其他客户|朋友|同事|老婆|老公|妻子|丈夫|爸爸|妈妈|父亲|母亲|"
    r"儿子|女儿|哥哥|姐姐|弟弟|妹妹|家人|邻居|室友|领导|老板)的.{0,2}(账单|余额|账户|账号|额度|"
    r"欠款|借款|信用分|数据|信息|交易|消费|记录|手机号|身份证)"
    r"|查(一下|查)?(别人|他人|他|她|其他人|某人)", re.IGNORECASE)
_SELF = re.compile(r"(?i)\bmy\b|\bmine\b|我的|我是|本人|我叫|我")
_LOOKUP = re.compile(r"show|look ?up|check|find|what|how much|balance|owe|bill|account|"
                     r"查|看|多少|余额|账单|欠|账户", re.IGNORECASE)


def refusal_reason(text: str) -> str | None:
    """Why ``text`` is refused (``rules``, ``authority``, ``other_identifier``,
    ``other_person``), or None."""
    if _RULES.search(text):
        return "rules"
    if _AUTHORITY.search(text):
        return "authority"
    if _OTHER_ID.search(text):
        return "other_identifier"
    if _OTHER_PERSON.search(text):
        return "other_person"
    # A phone, ID or card number asked about that the consumer does not call their own
    # ("my phone is ...", "我的手机号..."): looking a person up by it is refused (their own
    # account needs no number: they are logged in, and no number is ever looked up).
    if _LOOKUP.search(text) and any(not _SELF.search(text[max(0, m.start - 16):m.start])
                                    for m in find_pii(text)):
        return "other_identifier"
    return None


def is_handoff_accept(text: str) -> bool:
    """Whether ``text`` is the handoff proposal's fixed acceptance phrase."""
    return text.strip().lower() in {v.lower() for v in HANDOFF_ACCEPT.values()}


_NAME_EN = re.compile(r"(?i)(\b(?:my name is|i am called|name:)\s+)([A-Za-z][A-Za-z'-]*"
                      r"(?:\s+[A-Z][A-Za-z'-]*){0,2})")
_NAME_ZH = re.compile(r"((?:我叫|我的名字是|名字是|姓名[:：]?|本人)\s*)([\u4e00-\u9fff·]{2,4})")


def mask_transcript(text: str) -> str:
    """``text`` as a transcript may keep it: secrets redacted; phone, ID and card numbers,
    e-mails and typed names masked."""
    masked = mask_pii_text(text)
    masked = _NAME_EN.sub(lambda m: m.group(1) + mask_name(m.group(2)), masked)
    return _NAME_ZH.sub(lambda m: m.group(1) + mask_name(m.group(2)), masked)
