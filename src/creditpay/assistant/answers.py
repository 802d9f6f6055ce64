"""Answers: a template per intent and language (``data/answers.yaml``) filled with the
asking consumer's figures, and the actions proposed with it.

Every figure is read here through the owning domain's public reads, keyed by the one
customer id the service was given (:class:`ConsumerReads`); nothing in the question's
text is ever used to look anything up. Amounts are formatted by
:func:`creditpay.formatting.money_text`, dates by Babel, in the answer's language.

An action is a proposal only: ``{"kind", "label", "method", "path", "body"}``, the API
route that performs it once the consumer confirms (docs/assistant.md, "Actions"). Nothing
here calls a use case that writes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from creditpay.errors import DomainError, NotFoundError
from creditpay.formatting import money_text

__all__ = ["Templates", "ConsumerReads", "Draft", "draft", "CURRENCY", "REPAY_PATH",
           "AUTO_DEBIT_PATH", "DISPUTES_PATH", "HARDSHIP_PATH", "FRAUD_REPORTS_PATH",
           "action"]

CURRENCY = "CNY"  # the pay-later line's currency (one currency per payment today)
LINE_PRODUCT_KIND = "line"
REPAY_PATH = "/v1/me/credit_repayments"
AUTO_DEBIT_PATH = "/v1/me/credit_accounts/{account_id}/auto_debit"
DISPUTES_PATH = "/v1/me/disputes"
HARDSHIP_PATH = "/v1/me/credit_accounts/{account_id}/hardship_options"
FRAUD_REPORTS_PATH = "/v1/me/fraud_reports"
ASSISTANT_PATH = "/v1/me/assistant/messages"
REFUNDS_SHOWN_MAX = 3
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class Templates:
    """The packaged answer templates (or ``text``, YAML of the same shape), checked on
    load: every template and label in both languages, with the same placeholders."""

    def __init__(self, text: str | None = None) -> None:
        if text is None:
            text = resources.files("creditpay.assistant").joinpath(
                "data/answers.yaml").read_text("utf-8")
        data = yaml.safe_load(text)
        self.version: int = int(data["version"])
        self._texts: dict[str, dict[str, str]] = {**data["templates"], **{
            f"label.{k}": v for k, v in data["labels"].items()}}
        for key, by_language in self._texts.items():
            en, zh = by_language.get("en"), by_language.get("zh-CN")
            if not en or not zh:
                raise ValueError(f"answers.yaml: {key} needs en and zh-CN")
            if set(_PLACEHOLDER.findall(en)) != set(_PLACEHOLDER.findall(zh)):
                raise ValueError(f"answers.yaml: {key} has other placeholders in en and zh-CN")

    def text(self, key: str, language: str, **values: Any) -> str:
        template = self._texts[key]["en" if language == "en" else "zh-CN"]
        return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)

    def label(self, key: str, language: str, **values: Any) -> str:
        return self.text(f"label.{key}", language, **values)


def action(kind: str, label: str, method: str, path: str,
           body: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"kind": kind, "label": label, "method": method, "path": path,
            "body": dict(body) if body is not None else None}


@dataclass
class ConsumerReads:
    """The asking consumer's figures, each read once when first needed (one answer's
    life), every read keyed by ``customer_id``."""

    conn: Any
    customer_id: str
    today: dt.date
    now: dt.datetime
    catalogue: Any
    fx_config: Any = None  # creditpay.fx.config.FxConfig of the assistant
    _memo: dict[str, Any] = field(default_factory=dict)

    def _once(self, name: str, read: Any) -> Any:
        if name not in self._memo:
            self._memo[name] = read()
        return self._memo[name]

    def line(self) -> Any | None:
        from creditpay.credit.service import my_credit_line

        def read() -> Any | None:
            try:
                return my_credit_line(self.conn, self.customer_id, CURRENCY)
            except NotFoundError:
                return None
        return self._once("line", read)

    def statement(self) -> Any | None:
        """The line's latest statement (the current bill), or None."""
        from creditpay.credit.service import list_statements

        def read() -> Any | None:
            line = self.line()
            if line is None:
                return None
            bills = list_statements(self.conn, line.line_id)
            return bills[-1] if bills else None
        return self._once("statement", read)

    def bill_in_full_minor(self) -> int:
        from creditpay.credit.service import bill_in_full_minor

        return int(self._once("bill_in_full", lambda: bill_in_full_minor(
            self.conn, self.customer_id, CURRENCY, self.today, catalogue=self.catalogue)))

    def wallet_available_minor(self) -> int:
        from creditpay.credit.self_service import wallet_available_minor

        return int(self._once("wallet", lambda: wallet_available_minor(
            self.conn, self.customer_id, CURRENCY)))

    def auto_debit(self) -> bool:
        from creditpay.credit.service import auto_debit_enabled

        line = self.line()
        return line is not None and bool(self._once("auto_debit", lambda: auto_debit_enabled(
            self.conn, line.line_id, self.customer_id)))

    def refunds(self) -> list[Any]:
        from creditpay.payments.history import customer_activity

        rows = self._once("refunds", lambda: [r for r in customer_activity(
            self.conn, self.customer_id, before=self.now + dt.timedelta(seconds=1))
            if r["kind"] == "refund"])
        return list(reversed(rows))[:REFUNDS_SHOWN_MAX]

    def hardship_account(self) -> Any | None:
        """The active installment plan or cash loan with the most principal (hardship options
        are for plans and loans; a line's bill is converted into installments first)."""
        from creditpay.credit.service import list_accounts

        def read() -> Any | None:
            financed = [a for a in list_accounts(self.conn, self.customer_id)
                        if a.kind in ("plan", "loan") and a.status == "active"]
            return max(financed, key=lambda a: a.principal_minor, default=None)
        return self._once("hardship_account", read)

    def latest_payment(self) -> Any | None:
        """The customer's latest captured payment (a PaidIntent), or None."""
        from creditpay.payments.reporting import customer_paid_intents

        def read() -> Any | None:
            paid = customer_paid_intents(self.conn, self.customer_id, limit=1)
            return paid[0] if paid else None
        return self._once("latest_payment", read)

    def payment_abroad(self) -> dict[str, Any] | None:
        """The customer's latest payment abroad (its accepted conversion), or None."""
        from creditpay.payments.cross_border import latest_payment_abroad

        return self._once("abroad", lambda: latest_payment_abroad(self.conn, self.customer_id))

    def fx_terms(self) -> Any:
        """The FX configuration quotes are priced with (markups, the quote's lock): the
        assistant's, read once when it was built."""
        return self.fx_config

    def credit_score(self) -> Any | None:
        from creditpay.risk.decisions.credit_score import latest_credit_score

        def read() -> Any | None:
            try:
                return latest_credit_score(self.conn, self.customer_id)
            except NotFoundError:
                return None
        return self._once("score", read)

    def installment_offers(self) -> tuple[int, list[Any]] | None:
        """(what can be converted, the offers) for the current bill; None when it cannot
        be converted now."""
        from creditpay.credit.bill_installment_offers import (
            bill_installment_offers,
            convertible_minor,
        )

        statement = self.statement()
        if statement is None:
            return None

        def read() -> tuple[int, list[Any]] | None:
            try:
                available = convertible_minor(self.conn, statement.statement_id, self.today)
                if available <= 0:
                    return None
                offers = bill_installment_offers(self.conn, statement_id=statement.statement_id,
                                                 today=self.today, catalogue=self.catalogue)
            except DomainError:
                return None
            return available, [o for o in offers if o.within_caps]
        return self._once("offers", read)

    def grace_days(self) -> int:
        line = self.line()
        if line is None:
            return 0
        try:
            return int(getattr(self.catalogue.get(line.product_code), "grace_days", 0))
        except DomainError:
            return 0


@dataclass(frozen=True)
class Draft:
    text: str
    actions: tuple[dict[str, Any], ...] = ()
    ticket_needed: bool = False


def _date(value: dt.date, language: str) -> str:
    from babel.dates import format_date

    return format_date(value, "medium", locale="en" if language == "en" else "zh_CN")


def draft(intent: str, language: str, reads: ConsumerReads, templates: Templates, *,
          conversation_id: str, text: str) -> Draft:
    """The answer to ``intent`` for the consumer of ``reads`` in ``language`` (``text``:
    the question, which only chooses between a dispute's reasons), with its proposals."""
    t = templates
    money = lambda amount: money_text(amount, CURRENCY, language)  # noqa: E731

    def repay(amount_minor: int) -> dict[str, Any]:
        return action("repay", t.label("repay", language, amount=money(amount_minor)), "POST",
                      REPAY_PATH, {"amount_minor": amount_minor, "currency": CURRENCY})

    if intent in ("bill_amount", "due_date", "minimum_payment", "how_to_repay", "autopay",
                  "credit_limit", "installment_convert") and reads.line() is None:
        return Draft(t.text("no_line", language))
    if intent in ("bill_amount", "due_date", "minimum_payment", "installment_convert"):
        bill = reads.statement()
        if bill is None:
            return Draft(t.text("no_bill", language))
        values = {"statement_date": _date(bill.statement_date, language),
                  "due_date": _date(bill.due_date, language),
                  "closing": money(bill.closing_balance_minor),
                  "minimum": money(bill.minimum_payment_minor)}
        if intent == "bill_amount":
            full = reads.bill_in_full_minor()
            return Draft(t.text("bill_amount", language, bill_in_full=money(full), **values),
                         (repay(full),) if full > 0 else ())
        if intent == "due_date":
            return Draft(t.text("due_date", language, grace_days=reads.grace_days(),
                                **values),
                         (repay(bill.minimum_payment_minor),)
                         if bill.minimum_payment_minor > 0 else ())
        if intent == "minimum_payment":
            return Draft(t.text("minimum_payment", language, **values),
                         (repay(bill.minimum_payment_minor),)
                         if bill.minimum_payment_minor > 0 else ())
        found = reads.installment_offers()
        if not found or not found[1]:
            return Draft(t.text("installment_none", language, **values))
        available, offers = found
        shown = t.label("separator", language).join(
            t.label("offer", language, periods=o.periods,
                    per_period=money(o.per_period_amount_minor),
                    fee=money(o.total_fee_minor)) for o in offers)
        return Draft(t.text("installment_convert", language, convertible=money(available),
                            offers=shown, **values))
    if intent == "how_to_repay":
        full = reads.bill_in_full_minor()
        return Draft(t.text("how_to_repay", language, wallet=money(reads.wallet_available_minor()),
                            bill_in_full=money(full)), (repay(full),) if full > 0 else ())
    if intent == "autopay":
        line = reads.line()
        assert line is not None
        on = reads.auto_debit()
        bill = reads.statement()
        minimum = money(bill.minimum_payment_minor if bill is not None else 0)
        switch = action("switch_autopay",
                        t.label("switch_autopay_off" if on else "switch_autopay_on", language),
                        "POST", AUTO_DEBIT_PATH.format(account_id=line.line_id),
                        {"enabled": not on})
        return Draft(t.text("autopay_on" if on else "autopay_off", language, minimum=minimum),
                     (switch,))
    if intent == "credit_limit":
        line = reads.line()
        assert line is not None
        return Draft(t.text("credit_limit", language, limit=money(line.limit_minor),
                            available=money(line.available_minor),
                            used=money(line.used_minor)))
    if intent == "refund_status":
        refunds = reads.refunds()
        if not refunds:
            return Draft(t.text("no_refunds", language))
        shown = t.label("separator", language).join(
            t.label("refund", language, amount=money_text(r["amount_minor"], r["currency"],
                                                          language),
                    date=_date(r["occurred_at"].date(), language)) for r in refunds)
        return Draft(t.text("refunds", language, refunds=shown))
    if intent == "dispute_charge":
        payment = reads.latest_payment()
        if payment is None:
            return Draft(t.text("dispute_no_payment", language))
        shown = t.label("payment", language, amount=money_text(
            payment.captured_minor, payment.currency, language),
            date=_date(payment.paid_at.date(), language))
        return Draft(t.text("dispute_charge", language, payment=shown), (action(
            "open_dispute", t.label("open_dispute", language), "POST", DISPUTES_PATH,
            {"payment_intent_id": payment.intent_id, "reason": dispute_reason(text)}),))
    if intent == "hardship":
        # The plan or loan with the most principal has options; with none, the line has
        # its own (a hardship plan of its balance, docs/hardship.md).
        account = reads.hardship_account()
        line = reads.line()
        account_id = account.account_id if account is not None else (
            line.line_id if line is not None else None)
        actions = () if account_id is None else (action(
            "request_hardship", t.label("request_hardship", language), "GET",
            HARDSHIP_PATH.format(account_id=account_id), None),)
        return Draft(t.text("hardship", language), actions)
    if intent == "report_fraud":
        return Draft(t.text("report_fraud", language), (action(
            "freeze", t.label("freeze", language), "POST", FRAUD_REPORTS_PATH,
            {"description": t.label("fraud_description", language), "freeze": True}),))
    if intent == "fx_charge":
        return Draft(_fx_answer(language, reads, t))
    if intent == "credit_score":
        score = reads.credit_score()
        if score is None:
            return Draft(t.text("no_score", language))
        key = "en" if language == "en" else "zh"
        sep = t.label("separator", language)
        return Draft(t.text(
            "credit_score", language, score=score.score,
            band=score.band_en if key == "en" else score.band_zh,
            factors=sep.join(f[key] for f in score.factors[:3]) or "-",
            improvements=sep.join(i[key] for i in score.improvements[:3]) or "-"))
    if intent == "handoff_human":
        return Draft("", ticket_needed=True)
    return Draft(t.text("out_of_scope", language))


def _percent(bps: int) -> str:
    return f"{bps / 100:.2f}%"


def _fx_answer(language: str, reads: ConsumerReads, t: Templates) -> str:
    """How paying abroad is priced (the process's markups and lock), then the consumer's own
    latest payment abroad with its rates, markup and CNY total, if they have one."""
    terms = reads.fx_terms()
    markups = [*terms.markups.values(), terms.default_markup_bps]
    low, high = min(markups), max(markups)
    markup = _percent(low) if low == high else f"{_percent(low)}–{_percent(high)}"
    text = t.text("fx_charge", language, currency=CURRENCY, markup=markup,
                  lock_minutes=terms.quote_lock_minutes)
    last = reads.payment_abroad()
    if last is None:
        return text
    return text + t.text(
        "fx_charge_last", language, currency=last["sell_currency"],
        buy_currency=last["buy_currency"], client_rate=last["client_rate"],
        mid_rate=last["mid_rate"], markup_bps=last["markup_bps"],
        bought=money_text(last["buy_amount_minor"], last["buy_currency"], language),
        paid=money_text(last["sell_amount_minor"], last["sell_currency"], language),
        markup_paid=money_text(last["markup_minor"], last["sell_currency"], language))


def handoff_offer(language: str, templates: Templates, conversation_id: str) -> Draft:
    """The unsure answer: the offer of a person, as a proposal the consumer confirms (it
    sends the fixed acceptance phrase of the language to the same conversation)."""
    from creditpay.assistant.safety import HANDOFF_ACCEPT

    return Draft(templates.text("unsure", language), (action(
        "handoff_human", templates.label("handoff_human", language), "POST", ASSISTANT_PATH,
        {"conversation_id": conversation_id, "message": HANDOFF_ACCEPT[language]}),))


_DUPLICATE = re.compile(r"twice|two times|double|duplicate|两次|两回|重复|多扣|扣了两")
_NOT_AS_DESCRIBED = re.compile(r"described|advertised|fake|counterfeit|broken|damaged|wrong "
                               r"thing|不符|不一样|假货|坏|发错|不对版")
_UNAUTHORISED = re.compile(r"not me|wasn't me|didn't make|never made|unauthori|不是我|非本人")


def dispute_reason(text: str) -> str:
    """The dispute reason the question suggests (the consumer can change it on the form):
    duplicate, not_as_described, unauthorised, else not_received."""
    lowered = text.lower()
    if _DUPLICATE.search(lowered):
        return "duplicate"
    if _NOT_AS_DESCRIBED.search(lowered):
        return "not_as_described"
    if _UNAUTHORISED.search(lowered):
        return "unauthorised"
    return "not_received"
