"""Hardship help as the consumer meets it: the options with each one's key facts, and an
option accepted on the key facts the consumer read (docs/hardship.md).

Credit owns the arrangement (:mod:`creditpay.credit.hardship`: options, decision, new
schedule, the close of business's step); the key-facts document of an option is consumer
protection's, so this module renders it (:func:`render_key_facts`, zh-CN or en, with
Jinja2, deterministic: the same figures give the same bytes, whose SHA-256 the consumer's
acceptance names) and runs credit's use cases with it. Routes, pages and the command line
call these functions.

The document shows, before acceptance: the new installment and how many, the first and last
due dates, the rate and the all-in annual cost (APR), total interest and fees, what is still
to repay under the option and under the current plan and the difference (the option's full
extra cost, or saving), how interest runs during a holiday, what is reported to the bureau,
that collections contact is suspended, and when the arrangement ends if a new installment is
missed; then the whole new schedule.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from creditpay.credit import hardship as credit_hardship
from creditpay.credit import products as P
from creditpay.credit.hardship_core import auto_decision, check_reason
from creditpay.db.uow import Tx
from creditpay.formatting import money_text
from creditpay.i18n import LANGUAGES, NC_, translate
from creditpay.platform.notes import Notes
from creditpay.platform.validators import check_language

if TYPE_CHECKING:
    import jinja2

__all__ = ["TEMPLATE_VERSION", "render_key_facts", "ShownOption", "ShownOptions",
           "show_hardship_options", "request_hardship", "key_facts_document",
           "option_title"]

TEMPLATE_VERSION = "hardship-key-facts/2"  # bump on any change to the template or texts
TEMPLATES_DIR = Path(__file__).parent / "templates"
_CONTEXT = "hardship key facts"

_LABELS: dict[str, str] = {
    "title": NC_("hardship key facts", "Hardship help: key facts"),
    "option": NC_("hardship key facts", "Option"),
    "account": NC_("hardship key facts", "Account"),
    "issued_on": NC_("hardship key facts", "Issued on"),
    "template_version": NC_("hardship key facts", "Template version"),
    "intro": NC_("hardship key facts", "Please read this statement before you accept. It "
                                       "shows every cost of this option against your current "
                                       "plan; nothing else will be charged for it."),
    "summary": NC_("hardship key facts", "1. Summary"),
    "principal": NC_("hardship key facts", "Principal still owed (rescheduled)"),
    "installment": NC_("hardship key facts", "New installment"),
    "installments": NC_("hardship key facts", "Number of installments"),
    "first_due": NC_("hardship key facts", "First due date"),
    "last_due": NC_("hardship key facts", "Last due date"),
    "rate": NC_("hardship key facts", "Contract interest rate (a year)"),
    "apr": NC_("hardship key facts", "All-in annual cost (APR, IRR method, every fee "
                                     "included)"),
    "total_interest": NC_("hardship key facts", "Total interest"),
    "total_fees": NC_("hardship key facts", "Total fees"),
    "new_total": NC_("hardship key facts", "Total still to repay with this option"),
    "current_total": NC_("hardship key facts", "Total still to repay with your current plan"),
    "extra_cost": NC_("hardship key facts", "Extra cost of this option (interest and fees)"),
    "while_running": NC_("hardship key facts", "2. While the arrangement runs"),
    "collections": NC_("hardship key facts", "Collections contact about this account is "
                                             "suspended."),
    "schedule": NC_("hardship key facts", "3. New repayment schedule"),
    "number": NC_("hardship key facts", "No."),
    "due_date": NC_("hardship key facts", "Due date"),
    "principal_part": NC_("hardship key facts", "Principal"),
    "interest_part": NC_("hardship key facts", "Interest"),
    "fee_part": NC_("hardship key facts", "Fee"),
    "installment_total": NC_("hardship key facts", "Installment"),
    "balance_after": NC_("hardship key facts", "Principal left"),
    "footer": NC_("hardship key facts", "When you accept, the SHA-256 digest of this document "
                                        "is recorded, which proves that what you saw is what "
                                        "you accepted."),
}
_TITLES = {
    "payment_holiday": NC_("hardship key facts", "Payment holiday of {cycles} installment(s)"),
    "reamortisation": NC_("hardship key facts", "Longer term: {cycles} more installment(s)"),
    "reduced_rate": NC_("hardship key facts", "Reduced interest rate of {rate} a year"),
}
_HOLIDAY = {
    "accrues": NC_("hardship key facts", "Interest keeps running during the holiday at the "
                                         "contract rate; it is in the first installment after "
                                         "the holiday."),
    "waived": NC_("hardship key facts", "No interest is charged for the holiday: the contract "
                                        "rate runs again from {date}."),
    "none": NC_("hardship key facts", "This plan charges fees, not interest: the holiday adds "
                                      "no cost."),
}
# A pay-later line's options (docs/hardship.md, "A pay-later line"): its balance moves into
# a hardship plan; the line is frozen while it runs.
_LINE_TITLES = {
    "payment_holiday": NC_("hardship key facts", "Nothing to pay for {cycles} month(s), then "
                                                 "{installments} installment(s)"),
    "reamortisation": NC_("hardship key facts", "Your line's balance in {cycles} "
                                                "installment(s)"),
}
_LINE_CURRENT = NC_("hardship key facts", "Your line's balance today (principal and interest "
                                          "accrued)")
_LINE_TEXT = NC_("hardship key facts", "Your credit line's balance moves into this plan and "
                                       "the line is frozen for new purchases until the plan "
                                       "is repaid. Interest and fees already on your "
                                       "statements ({amount}) stay owed on the line.")
_SAVING = NC_("hardship key facts", "{amount} less than your current plan")
_BUREAU = NC_("hardship key facts", "We report the account to credit bureaus as under a "
                                    "hardship arrangement (code {code}); the installments "
                                    "this option moves are not reported as late.")
_BROKEN = NC_("hardship key facts", "If a new installment is still unpaid {days} days after "
                                    "its due date, the arrangement ends and ordinary "
                                    "reporting and collections resume.")


def _text(message: str, lang: str, **values: str | int) -> str:
    return translate(message, lang, context=_CONTEXT, **values)


def option_title(figures: Mapping[str, Any], lang: str) -> str:
    """The option's name in ``lang`` ("Payment holiday of 2 installment(s)")."""
    if figures.get("line") and figures["kind"] in _LINE_TITLES:
        return _text(_LINE_TITLES[figures["kind"]], lang, cycles=figures["cycles"],
                     installments=figures["installments"])
    return _text(_TITLES[figures["kind"]], lang, cycles=figures["cycles"],
                 rate=f"{figures['annual_rate_percent']}%")


def _context(figures: Mapping[str, Any], lang: str) -> dict[str, Any]:
    currency = figures["currency"]

    def money(minor: int) -> str:
        return money_text(minor, currency, lang)

    extra = figures["extra_cost_minor"]
    holiday = figures["holiday_interest"]
    return {
        "option_id": figures["option_id"], "option_title": option_title(figures, lang),
        "account_id": figures["account_id"], "issued_on": figures["issued_on"],
        "principal": money(figures["principal_minor"]),
        "installment": money(figures["installment_minor"]),
        "installments": str(figures["installments"]) if figures.get("line")
        else f"{figures['installments']} ({figures['current_installments']})",
        "first_due_date": figures["first_due_date"], "last_due_date": figures["last_due_date"],
        "annual_rate": f"{figures['annual_rate_percent']}%",
        "apr": f"{figures['apr_percent']}%",
        "total_interest": money(figures["total_interest_minor"]),
        "total_fees": money(figures["total_fee_minor"]),
        "new_total": money(figures["new_total_minor"]),
        "current_total": money(figures["current_total_minor"]),
        "extra_cost": money(extra) if extra >= 0 else _text(_SAVING, lang,
                                                             amount=money(-extra)),
        "holiday_text": _text(_HOLIDAY[holiday], lang, date=figures["rate_restored_on"] or "")
        if holiday else None,
        "bureau_text": _text(_BUREAU, lang, code=figures["bureau_code"]),
        "broken_text": _text(_BROKEN, lang, days=figures["broken_after_days"]),
        "line_text": _text(_LINE_TEXT, lang, amount=money(figures["line_charges_minor"]))
        if figures.get("line") else None,
        "current_label": _text(_LINE_CURRENT, lang) if figures.get("line") else None,
        "schedule": [{"number": row["number"], "due_date": row["due_date"],
                      "principal": money(row["principal_minor"]),
                      "interest": money(row["interest_minor"]),
                      "fee": money(row["fee_minor"]), "total": money(row["total_minor"]),
                      "balance_after": money(row["balance_after_minor"])}
                     for row in figures["schedule"]],
    }


# Pure memo (kept): the packaged template, compiled once.
@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    return environment.get_template("hardship_key_facts.html")


def render_key_facts(figures: Mapping[str, Any], language: str) -> bytes:
    """The key-facts document of an option's ``figures`` (credit.hardship.option_figures)
    in ``language``, as UTF-8 HTML bytes; deterministic."""
    lang = check_language(language)
    labels = SimpleNamespace(**{key: _text(message, lang) for key, message in _LABELS.items()})
    context = _context(figures, lang)
    text = _template().render(lang=lang, t=labels, f=SimpleNamespace(**context),
                              template_version=TEMPLATE_VERSION)
    return text.replace("\r\n", "\n").encode("utf-8")


def _with_issue_date(figures: Mapping[str, Any], today: dt.date) -> dict[str, Any]:
    return {**figures, "issued_on": today.isoformat()}


@dataclass(frozen=True)
class ShownOption:
    """An option as shown: its figures, its name and document hash in the language shown
    (``key_facts_sha256``) and in each language (``key_facts_sha256_by_language``)."""

    figures: Mapping[str, Any]
    title: str
    key_facts_sha256: str
    key_facts_sha256_by_language: Mapping[str, str]


@dataclass(frozen=True)
class ShownOptions:
    account_id: str
    reason: str
    language: str
    decision_if_requested: str  # approved | referred, under the product's policy today
    currency: str
    dpd: int
    principal_minor: int
    current_total_minor: int
    current_installments: int
    options: tuple[ShownOption, ...]


def _renderer(today: dt.date) -> credit_hardship.DocumentRenderer:
    def render(figures: Mapping[str, Any], language: str) -> bytes:
        return render_key_facts(_with_issue_date(figures, today), language)
    return render


def show_hardship_options(conn: Connection, *, customer_id: str, account_id: object,
                          reason: object, language: str, today: dt.date,
                          catalogue: P.Catalogue) -> ShownOptions:
    """The options of the customer's account with each one's key facts (hashes in both
    languages). Bad ``reason``: ValidationError naming ``reason``; another customer's
    account: NotFoundError; no options: StateError naming ``account_id``."""
    reason = check_reason(reason)
    lang = check_language(language)
    view = credit_hardship.options_for(conn, customer_id=customer_id, account_id=account_id,
                                       today=today, catalogue=catalogue)
    render = _renderer(today)
    shown = []
    for option in view.options:
        figures = view.figures(option)
        hashes = {language_: hashlib.sha256(render(figures, language_)).hexdigest()
                  for language_ in LANGUAGES}
        shown.append(ShownOption(figures, option_title(figures, lang), hashes[lang], hashes))
    policy = getattr(catalogue.get(view.product_code, view.product_version), "hardship", None)
    assert policy is not None
    return ShownOptions(
        account_id=view.account_id, reason=reason, language=lang,
        decision_if_requested=auto_decision(view.dpd, policy, reason),
        currency=view.currency, dpd=view.dpd, principal_minor=view.principal_minor,
        current_total_minor=view.current_total_minor,
        current_installments=view.current_installments, options=tuple(shown))


def key_facts_document(conn: Connection, *, customer_id: str, account_id: object,
                       option_id: object, language: str, today: dt.date,
                       catalogue: P.Catalogue) -> bytes:
    """The key-facts document of one of today's options (ValidationError naming
    ``option_id`` when it is not one)."""
    lang = check_language(language)
    view = credit_hardship.options_for(conn, customer_id=customer_id, account_id=account_id,
                                       today=today, catalogue=catalogue)
    option = view.find(option_id)
    return render_key_facts(_with_issue_date(view.figures(option), today), lang)


def request_hardship(tx: Tx, *, request_id: str, customer_id: str, account_id: object,
                     reason: object, option_id: object, key_facts_hash: object,
                     statement: object = None, catalogue: P.Catalogue,
                     notes: Notes | None = None) -> credit_hardship.HardshipRequestResult:
    """The consumer accepts ``option_id`` on the document whose SHA-256 is
    ``key_facts_hash`` (in zh-CN or en); approved within policy (the arrangement starts in
    this transaction) or referred. See :func:`creditpay.credit.hardship.request_hardship`."""
    request = credit_hardship.HardshipRequest(
        request_id=request_id, customer_id=customer_id,
        account_id=account_id,  # type: ignore[arg-type]  # validated by the dataclass
        reason=reason, option_id=option_id,  # type: ignore[arg-type]
        key_facts_hash=key_facts_hash,  # type: ignore[arg-type]
        statement=statement)  # type: ignore[arg-type]
    return credit_hardship.request_hardship(tx, request, catalogue=catalogue,
                                            render=_renderer(tx.today), notes=notes)
