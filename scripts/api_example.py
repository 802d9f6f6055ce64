"""Regenerate the worked examples of docs/api.md from a real run of the app.

    .venv/bin/python scripts/api_example.py > /tmp/example.md
    .venv/bin/python scripts/api_example.py --consumer-credit > /tmp/consumer-credit.md

The real FastAPI app (``creditpay.api.create_app``) runs in process on a throw-away SQLite
database with a :class:`~creditpay.clock.SimulatedClock` at 2025-03-01T09:00Z, and is driven
over HTTP with Starlette's ``TestClient``: the requests printed are the requests sent, the
responses printed are the responses received (statuses checked; a step that answers anything
else stops the script with an error instead of documenting it). Idempotency-Keys are fixed
(``example-NN-...``); resource ids, tokens and keys are random per run. Secrets shown once
(API keys, tokens, webhook secrets) are cut to their first 14 characters, and the curl lines
use shell variables (``$ADMIN_TOKEN``, ``$MERCHANT_KEY``, ``$ACCESS_TOKEN``) instead.

Output is Markdown on stdout: the body of the section "Worked example: pay in 6 installments,
refund half" (default), or of "### Worked example" in "Consumer credit" (``--consumer-credit``).
``--update docs/api.md`` replaces that body in place (from the heading to the next heading of
the same level) and leaves the rest of the file as it is. Amounts are integer minor units
(fen), as in the API; the prose prints them in yuan.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import json
import re
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from starlette.testclient import TestClient

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.clock import SimulatedClock
from creditpay.config import Settings
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes

__all__ = ["BASE_URL", "START", "Recorder", "main", "render", "replace_section"]

BASE_URL = "http://127.0.0.1:8000"
START = "2025-03-01T09:00:00+00:00"
WRAP = 95  # columns of prose
SECRET_KEEP = 14  # characters of a shown-once secret that the example keeps
PHONE = "13800138000"
PASSWORD = "correct horse battery"
DEVICE = "iphone-7f3a9c01"
PRICE_MINOR = 360_000  # 3 600.00 CNY
LINE_LIMIT_MINOR = 1_000_000  # 10 000.00 CNY


class ExampleError(RuntimeError):
    """A documented step did not answer as documented: the example would be wrong."""


@dataclass
class Step:
    """One recorded HTTP exchange, ready to print."""

    method: str
    path: str
    status: int
    media_type: str
    headers: list[str]
    body: Any | None
    response: Any


@dataclass
class Recorder:
    """Sends requests through the app and writes them out as curl lines and JSON answers.

    ``credentials`` maps a shell variable name (``ADMIN_TOKEN``) to its secret value: the
    request carries the value, the printed curl line the variable. ``shown_once`` holds the
    secrets to shorten wherever they appear in a printed response.
    """

    client: Any
    out: list[str] = field(default_factory=list)
    credentials: dict[str, str] = field(default_factory=dict)
    shown_once: set[str] = field(default_factory=set)
    idem_prefix: str = "example"
    counter: int = 0

    # ----- writing --------------------------------------------------------------------
    def text(self, *lines: str) -> None:
        self.out.extend(lines)
        self.out.append("")

    def para(self, text: str) -> None:
        """A prose paragraph, wrapped like the rest of docs/api.md."""
        self.text(textwrap.fill(text, width=WRAP, break_long_words=False,
                                break_on_hyphens=False))

    def heading(self, title: str) -> None:
        self.text(f"### {title}")

    def next_key(self) -> str:
        self.counter += 1
        return f"{self.idem_prefix}-{self.counter:02d}-000000000000"

    # ----- HTTP -----------------------------------------------------------------------
    def post(self, path: str, body: Any, *, auth: str | None = None, expect: int,
             show: Callable[[Any], Any] | None = None,
             secrets: Callable[[Any], list[str]] | None = None, quiet: bool = False) -> Any:
        """POST ``body`` as ``auth`` (a credential name or None) with the next fixed
        Idempotency-Key; the answer must be ``expect``. ``secrets`` names the shown-once
        values of the answer (shortened when printed); ``show`` reshapes the printed copy
        (elisions), never the returned one."""
        idem = self.next_key()
        headers = {"Idempotency-Key": idem}
        if auth is not None:
            headers["Authorization"] = f"Bearer {self.credentials[auth]}"
        response = self.client.post(path, json=body, headers=headers)
        payload = self._check("POST", path, response, expect)
        if secrets is not None:
            self.shown_once.update(secrets(payload))
        if not quiet:
            shown_headers = ([f"Authorization: Bearer ${auth}"] if auth else []) + [
                f"Idempotency-Key: {idem}", "Content-Type: application/json"]
            self._write(Step("POST", path, response.status_code, _media(response),
                             shown_headers, body, show(payload) if show else payload))
        return payload

    def get(self, path: str, *, auth: str | None = None, expect: int = 200,
            show: Callable[[Any], Any] | None = None, quiet: bool = False) -> Any:
        headers = {"Authorization": f"Bearer {self.credentials[auth]}"} if auth else {}
        response = self.client.get(path, headers=headers)
        payload = self._check("GET", path, response, expect)
        if not quiet:
            shown_headers = [f"Authorization: Bearer ${auth}"] if auth else []
            self._write(Step("GET", path, response.status_code, _media(response),
                             shown_headers, None, show(payload) if show else payload))
        return payload

    def get_raw(self, path: str, *, auth: str, expect: int = 200) -> Any:
        response = self.client.get(path, headers={
            "Authorization": f"Bearer {self.credentials[auth]}"})
        self._check("GET", path, response, expect)
        return response

    @staticmethod
    def _check(method: str, path: str, response: Any, expect: int) -> Any:
        if response.status_code != expect:
            raise ExampleError(f"{method} {path}: expected {expect}, got "
                               f"{response.status_code}: {response.text[:2000]}")
        if "json" in _media(response):
            return response.json()
        return response.text

    # ----- printing -------------------------------------------------------------------
    def curl(self, method: str, path: str, headers: list[str], body: Any | None) -> str:
        if method == "GET":
            url = f"{BASE_URL}{path}"
            lines = [f"curl -s {_quote(url)}"]
        else:
            lines = [f"curl -sX {method} {BASE_URL}{path}"]
        lines += [f"  -H {_quote(h)}" for h in headers]
        if body is not None:
            lines.append(f"  -d {_quote(json.dumps(body, ensure_ascii=False))}")
        return " \\\n".join(lines)

    def _write(self, step: Step) -> None:
        self.out += ["```bash", self.curl(step.method, step.path, step.headers, step.body),
                     "```", ""]
        if isinstance(step.response, str):
            self.text(f"`{step.status}` `{step.media_type}`")
            return
        shown = json.dumps(self.shorten(step.response), ensure_ascii=False, indent=2)
        self.text(f"`{step.status}`", "```json", shown, "```")

    def shorten(self, value: Any) -> Any:
        """A copy of ``value`` with every shown-once secret cut to its first characters."""
        if isinstance(value, dict):
            return {k: self.shorten(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.shorten(v) for v in value]
        if isinstance(value, str) and value in self.shown_once:
            return f"{value[:SECRET_KEEP]}…(shown once)"
        return value


def _media(response: Any) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip()


def _quote(text: str) -> str:
    """Shell-quote for the printed curl line; ``$VARIABLES`` stay expandable."""
    if "$" in text:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "'" + text.replace("'", "'\\''") + "'"


# ----------------------------------------------------------------------------- the app
def example_config() -> ApiConfig:
    """Fresh random keys (never printed); fraud screening off, so the risk answer is the
    documented allow-all gateway whatever the environment says."""
    return ApiConfig(master_key=LocalMasterKey(generate_key_bytes()),
                     token_key=generate_key_bytes(), blind_index_key=generate_key_bytes(),
                     fraud_screening=False, pool_size=4)


@contextmanager
def running_app(folder: Path, config: ApiConfig | None = None,
                start: str = START) -> Iterator[tuple[Any, SimulatedClock]]:
    """The real app on a new SQLite database in ``folder`` (migrated on start)."""
    clock = SimulatedClock(start)
    app = create_app(Settings.of(database_url=f"sqlite:///{folder / 'example.db'}"), clock,
                     config=config or example_config())
    client = TestClient(app, raise_server_exceptions=True)
    try:
        yield client, clock
    finally:
        client.close()
        app.state.runtime.close()


def bootstrap_admin(client: Any) -> str:
    """What ``creditpay operator-create --name ops --role admin`` does: the admin token."""
    runtime = client.app.state.runtime
    result = runtime.uow.run(
        lambda tx: runtime.parties.create_operator(tx, name="ops", role="admin"))
    return str(result["token"])


def sent_code(client: Any, registration_id: str) -> str:
    """The code the notification relay texts to the phone being registered (decrypted from
    the outbox through the vault, as the relay does)."""
    from sqlalchemy import select

    from creditpay.db.tables import outbox_events
    from creditpay.parties.notifier import TOPIC_REGISTRATION_CODE, reveal

    runtime = client.app.state.runtime
    with runtime.uow.connect() as conn:
        payload = conn.execute(select(outbox_events.c.payload).where(
            outbox_events.c.topic == TOPIC_REGISTRATION_CODE,
            outbox_events.c.aggregate_id == registration_id)).scalar_one()
    return reveal(runtime.vault, TOPIC_REGISTRATION_CODE, payload)["code"]


def register(rec: Recorder, client: Any, phone: str, device: str, **quiet: Any
             ) -> dict[str, Any]:
    """Register as a person does: the code goes to the phone, then back with the device."""
    started = rec.post("/v1/customers", {"phone": phone, "password": PASSWORD,
                                         "device_id": device}, expect=202, **quiet)
    registration_id = started["registration_id"]
    return dict(rec.post("/v1/customers/verify", {
        "registration_id": registration_id, "code": sent_code(client, registration_id),
        "device_id": device}, expect=201, **quiet))


# ----------------------------------------------------------------------------- elisions
def _six_installments(quote: dict[str, Any]) -> dict[str, Any]:
    """The example's pick: the first 6-installment plan that charges a fee."""
    plans = [o for o in quote["offers"] if o["funding"] == "installment_plan"
             and o["periods"] == 6 and o["total_fee_minor"] > 0]
    if not plans:
        raise ExampleError(f"no 6-installment plan with a fee offered: {quote}")
    return plans[0]


def _elide_offers(pick: Callable[[Any], dict[str, Any]]) -> Callable[[Any], Any]:
    """Keep the pay-later (``credit_line``) offer and the picked one; name the others."""

    def show(quote: dict[str, Any]) -> dict[str, Any]:
        chosen_id = pick(quote)["offer_id"]
        shown = copy.deepcopy(quote)
        kept, others = [], []
        first_line = next((o["offer_id"] for o in quote["offers"]
                           if o["funding"] == "credit_line"), None)
        for offer in shown["offers"]:
            if offer["offer_id"] in (chosen_id, first_line):
                kept.append(offer)
            else:
                others.append(offer)
        kept += [f"… elided here: {_offer_label(o)}" for o in others]
        shown["offers"] = kept
        return shown

    return show


def _offer_label(offer: dict[str, Any]) -> str:
    """``baitiao 3 payments (fee 54.00)``: an elided offer in one phrase (yuan)."""
    parts = []
    if offer["down_payment_minor"]:
        parts.append(f"down payment {_yuan(offer['down_payment_minor'])}")
    if offer["total_fee_minor"]:
        parts.append(f"fee {_yuan(offer['total_fee_minor'])}")
    if offer["total_interest_minor"]:
        parts.append(f"interest {_yuan(offer['total_interest_minor'])}")
    if not offer["total_fee_minor"] and not offer["total_interest_minor"]:
        parts.append("no cost to the consumer")
    frequency = "" if offer.get("frequency", "monthly") == "monthly" else f" {offer['frequency']}"
    return (f"{offer['product_code']} {offer['installment_count']} payments{frequency} "
            f"({', '.join(parts)}; CNY)")


def _elide_accepted(step: str) -> Callable[[Any], Any]:
    """Replace ``accepted_offer`` (unchanged since the confirm) by a pointer to ``step``."""

    def elide(intent: dict[str, Any]) -> dict[str, Any]:
        if intent.get("accepted_offer") is not None:
            intent["accepted_offer"] = f"… unchanged, as in step {step} (elided here)"
        return intent

    def show(payload: dict[str, Any]) -> dict[str, Any]:
        shown = copy.deepcopy(payload)
        if "intent" in shown and isinstance(shown["intent"], dict):
            elide(shown["intent"])
        else:
            elide(shown)
        return shown

    return show


def _key_facts_summary(html: str) -> dict[str, Any]:
    """The facts of a key-facts document the example prints: title, template version,
    section headings, SHA-256 of the exact bytes."""
    def first(pattern: str) -> str | None:
        found = re.search(pattern, html, re.S)
        return found.group(1).strip() if found else None

    return {
        "title": first(r"<h1>(.*?)</h1>"),
        "template_version": first(r'name="creditpay-template-version" content="([^"]*)"'),
        "sections": [re.sub(r"<[^>]+>", "", h).strip()
                     for h in re.findall(r"<h2>(.*?)</h2>", html, re.S)],
        "sha256": hashlib.sha256(html.encode("utf-8")).hexdigest(),
    }


def _yuan(minor: int) -> str:
    """Minor units (fen) as ``1 234.56`` for the prose."""
    sign = "-" if minor < 0 else ""
    whole, fen = divmod(abs(minor), 100)
    return f"{sign}{whole:,}".replace(",", " ") + f".{fen:02d}"


# ----------------------------------------------------------------------------- checkout
def checkout_example(rec: Recorder, client: Any) -> None:
    """Pay 3 600.00 CNY in 6 installments, capture, refund half, read the plan."""
    rec.credentials["ADMIN_TOKEN"] = bootstrap_admin(client)
    rec.text("Regenerate with `.venv/bin/python scripts/api_example.py > /tmp/example.md`.")
    rec.para("Real requests and responses of one run of the app (SQLite, business clock at "
             "2025-03-01T09:00Z), generated by `scripts/api_example.py`. Amounts, dates, "
             "schedules, statuses and Idempotency-Keys are the same on every run; ids "
             "(`mer_`, `cus_`, `pi_`, `off_`, `quo_`, `re_`, ...), tokens and keys are "
             "random per run, and so are the key-facts hashes (the document names its "
             "offer id). Secrets shown once are cut short (`…(shown once)`); the curl lines "
             "use `$ADMIN_TOKEN` (from `creditpay operator-create --name ops --role admin`), "
             "`$MERCHANT_KEY` and `$ACCESS_TOKEN`. Long repeated parts are elided where "
             "marked `…`.")

    rec.heading("1. An operator onboards the merchant")
    onboarded = rec.post("/v1/operator/merchants",
                         {"name": "Chengdu Electronics", "mcc": "5732", "discount_rate": "0.006"},
                         auth="ADMIN_TOKEN", expect=201,
                         secrets=lambda m: [m["api_key"]["key"], m["webhook_secret"]])
    rec.credentials["MERCHANT_KEY"] = onboarded["api_key"]["key"]
    merchant_id = onboarded["merchant"]["id"]

    rec.heading("2. The consumer registers, logs in, verifies identity; risk grants a line")
    customer = register(rec, client, PHONE, DEVICE)
    customer_id = customer["id"]
    login_body = {"identifier": PHONE, "password": PASSWORD, "device_id": DEVICE}
    login = rec.post("/v1/auth/login", login_body, expect=200,
                     secrets=lambda s: [s["access_token"], s["refresh_token"]])
    if login["status"] != "authenticated":
        raise ExampleError(f"login asked for a step-up: {login}")
    rec.credentials["ACCESS_TOKEN"] = login["access_token"]
    rec.post("/v1/me/kyc", {"legal_name": "王小明", "id_number": "11010519491231002X",
                            "date_of_birth": "1949-12-31"}, auth="ACCESS_TOKEN", expect=200)
    line = rec.post(f"/v1/operator/customers/{customer_id}/credit_line",
                    {"limit_minor": LINE_LIMIT_MINOR, "product_code": "huabei"},
                    auth="ADMIN_TOKEN", expect=201)

    rec.heading("3. The merchant creates a payment intent")
    intent = rec.post("/v1/payment_intents", {
        "amount_minor": PRICE_MINOR, "currency": "CNY", "order_id": "SO-20250301-0042",
        "description": "Laptop",
        "line_items": [{"name": 'Laptop 14"', "quantity": 1,
                        "unit_amount_minor": PRICE_MINOR}]},
        auth="MERCHANT_KEY", expect=201)
    if intent["merchant_id"] != merchant_id:
        raise ExampleError("the intent is not the merchant's")
    url = f"/v1/payment_intents/{intent['id']}"

    rec.heading("4. The consumer asks for the credit offers (full cost shown before choosing)")
    quote = rec.post(f"{url}/credit_offers", {}, auth="ACCESS_TOKEN", expect=200,
                     show=_elide_offers(_six_installments))
    offer = _six_installments(quote)

    rec.para("Each offer names its key-facts document (`key_facts_sha256`, "
             "`key_facts_language`, `key_facts_url`); the app shows it before the consumer "
             "picks (HTML; `lang=en` for English):")
    response = rec.get_raw(offer["key_facts_url"], auth="ACCESS_TOKEN")
    facts = _key_facts_summary(response.text)
    if facts["sha256"] != offer["key_facts_sha256"]:
        raise ExampleError("the key-facts document is not the one the offer names")
    rec.out += ["```bash", rec.curl("GET", offer["key_facts_url"],
                                    ["Authorization: Bearer $ACCESS_TOKEN"], None), "```", ""]
    rec.para(f"`{response.status_code}` `{_media(response)}`: {facts['title']}, template "
             f"`{facts['template_version']}`, sections: "
             + "; ".join(facts["sections"])
             + f". SHA-256 of the document: `{facts['sha256']}`, the offer's "
             "`key_facts_sha256`.")

    rec.heading(f"5. The consumer picks the 6-installment offer `{offer['offer_id']}` "
                "explicitly")
    rec.para("`offer_id` and `key_facts_sha256` are both required for credit: credit is "
             "never the default, and the hash proves which document was shown.")
    confirmed = rec.post(f"{url}/confirm", {
        "funding": "installment_plan", "offer_id": offer["offer_id"],
        "key_facts_sha256": offer["key_facts_sha256"]}, auth="ACCESS_TOKEN", expect=200)
    accepted = confirmed["accepted_offer"]
    for name in ("offer_id", "periods", "per_period_amount_minor", "total_repayable_minor",
                 "total_fee_minor", "apr_percent", "all_in_annual_cost_percent"):
        if accepted[name] != offer[name]:
            raise ExampleError(f"accepted {name} differs from the offer shown")

    rec.heading("6. The merchant captures")
    captured = rec.post(f"{url}/capture", {}, auth="MERCHANT_KEY", expect=200,
                        show=_elide_accepted("5"))
    if captured["status"] != "succeeded":
        raise ExampleError(f"capture left {captured['status']}")

    rec.heading("7. The merchant refunds half")
    half = PRICE_MINOR // 2
    refund = rec.post(f"{url}/refunds", {"amount_minor": half,
                                         "reason": "one of two items returned"},
                      auth="MERCHANT_KEY", expect=201, show=_elide_accepted("5"))
    if refund["intent"]["refunded_minor"] != half:
        raise ExampleError("the refund is not half")

    rec.heading("8. The consumer reads the plan")
    accounts = rec.get("/v1/me/credit_accounts", auth="ACCESS_TOKEN")
    plan = next((a for a in accounts["data"] if a["kind"] == "plan"), None)
    if plan is None:
        raise ExampleError(f"no plan among the consumer's accounts: {accounts}")

    from creditpay.credit import service as credit

    with client.app.state.runtime.uow.connect() as conn:
        available = credit.line_of(conn, line["line_id"]).available_minor
    if available != LINE_LIMIT_MINOR - (PRICE_MINOR - half):
        raise ExampleError(f"the line's available credit is {available}")

    rec.para(
        f"What happened in the ledger and the credit engine: the confirm reserved "
        f"{_yuan(PRICE_MINOR)} CNY of the customer's {_yuan(line['limit_minor'])} CNY line "
        "(credit authorisation, one transaction with the risk screening, the affordability "
        "check, the acceptance of the key-facts document, the audit record and the outbox "
        f"event); the capture originated a {offer['periods']}-period "
        f"`{offer['product_code']}` plan ({_yuan(offer['per_period_amount_minor'])} CNY a "
        f"month, fee {_yuan(offer['total_fee_minor'])} CNY, APR {offer['apr_percent']} %, "
        "exactly the figures shown and accepted) and credited the merchant payable; the "
        f"refund of {_yuan(half)} CNY went through the credit engine's `refund_purchase` "
        "(principal of the plan reduced, unearned fee reversed, limit restored): the "
        f"plan's principal is {_yuan(plan['principal_minor'])} CNY and the line's "
        f"available credit is back to {_yuan(available)} CNY "
        f"({_yuan(line['limit_minor'])} − {_yuan(PRICE_MINOR - half)}). "
        "`tests/payments/test_credit_checkout.py` runs this flow on SQLite and PostgreSQL, "
        "and `tests/api/test_api_example_script.py` runs this script.")


# ----------------------------------------------------------------------------- consumer credit
class NoOtherBorrowingBureau:
    """The example's credit bureau: the applicant borrows nowhere else, so the decision
    rests on the application, the platform's history and the policy (and is the same on
    every run, whatever the random customer id)."""

    name = "example:no-other-borrowing"

    def fetch(self, customer_id: str, as_of: dt.datetime) -> Any:
        from creditpay.risk.bureau import BureauReport

        return BureauReport(customer_id=customer_id, debt_minor=0, monthly_repayment_minor=0,
                            inquiries_6m=0, lenders_in_use=0, delinquencies_24m=0,
                            bureau=self.name)


def bootstrap_risk(runtime: Any, folder: Path) -> None:
    """What ``creditpay risk bootstrap`` does for applications, on a smaller synthetic
    population (fixed seed and date, so the scorecard is the same on every run): train the
    application scorecard, register and promote it, activate the bundled policy."""
    from creditpay.risk.decisions import registry
    from creditpay.risk.decisions.policy import (
        activate_policy,
        bundled_policy_path,
        load_policy_file,
    )
    from creditpay.risk.features.synthetic import train_synthetic_models

    models = train_synthetic_models(folder / "models", seed=11, n_customers=1500,
                                    created_at="2025-01-01T00:00:00+00:00",
                                    author="api-example")
    with runtime.uow.begin() as tx:
        version = registry.register_model(tx, models["application"], name="application",
                                          registered_by="api-example")
        registry.promote(tx, "application", version.version, actor="api-example",
                         reason="bootstrap")
        activate_policy(tx, load_policy_file(bundled_policy_path("application")),
                        actor="api-example")


class Abridged(dict):  # type: ignore[type-arg]
    """Some keys of a JSON object, printed with a trailing ``...``."""


class Raw(str):
    """Text printed as is inside a compact answer (an elision note, not a JSON string)."""


def abridge(value: dict[str, Any], *keys: str) -> Abridged:
    return Abridged({k: value[k] for k in keys})


def render_compact(value: Any) -> str:
    """JSON on one line; :class:`Abridged` objects and ``Ellipsis`` items print as ``...``."""
    if value is Ellipsis:
        return "..."
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        items = [f"{json.dumps(k)}: {render_compact(v)}" for k, v in value.items()]
        if isinstance(value, Abridged):
            items.append("...")
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(render_compact(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


class CompactRecorder(Recorder):
    """Writes each exchange as ``METHOD path`` / body / ``→ status answer`` inside one
    ```text block (the style of the "Consumer credit" section)."""

    _note: str | None = None

    def _write(self, step: Step) -> None:
        line = f"{step.method} {step.path}"
        if self._note:
            line = f"{line:<40} {self._note}"
            self._note = None
        self.out.append(line)
        if step.body is not None:
            self.out.append(_wrap(render_compact(step.body), indent=1))
        if isinstance(step.response, str):
            self.out.append(f"→ {step.status} {step.media_type}")
        else:
            self.out.append(_wrap(f"→ {step.status} {render_compact(step.response)}",
                                  indent=7))
        self.out.append("")

    def note(self, text: str) -> None:
        """A note printed after the next request line."""
        self._note = text

    def aside(self, text: str) -> None:
        """A parenthesised remark between exchanges."""
        self.out += [_wrap(f"({text})", indent=1), ""]


def _wrap(text: str, *, indent: int) -> str:
    return textwrap.fill(text, width=WRAP - 2, subsequent_indent=" " * indent,
                         break_long_words=False, break_on_hyphens=False)


CC_PHONE = "13900139000"
CC_DEVICE = "android-3c9e51d2"
APPLICATION = {"monthly_income_minor": 2_500_000, "employment_type": "salaried",
               "housing": "rent", "declared_monthly_obligations_minor": 100_000,
               "language": "en"}


def consumer_credit_example(rec: CompactRecorder, client: Any, clock: SimulatedClock,
                            folder: Path) -> None:
    """Apply for a line, pay with it, convert part of the bill to installments, repay,
    read a payoff, take a cash loan from its offers."""
    from creditpay.api.routes_operators import deliver_rail_callbacks
    from creditpay.credit.cob import run_close_of_business
    from creditpay.nightly import auto_debit_consents

    runtime = client.app.state.runtime
    bootstrap_risk(runtime, folder)
    rec.credentials["ADMIN_TOKEN"] = bootstrap_admin(client)
    quiet = {"quiet": True}
    merchant = rec.post("/v1/operator/merchants", {"name": "Chengdu Electronics",
                        "mcc": "5732", "discount_rate": "0.006"},
                        auth="ADMIN_TOKEN", expect=201, **quiet)
    rec.credentials["MERCHANT_KEY"] = merchant["api_key"]["key"]
    login_body = {"identifier": CC_PHONE, "password": PASSWORD, "device_id": CC_DEVICE}
    register(rec, client, CC_PHONE, CC_DEVICE, **quiet)
    rec.credentials["ACCESS_TOKEN"] = rec.post("/v1/auth/login", login_body, expect=200,
                                               **quiet)["access_token"]
    rec.post("/v1/me/kyc", {"legal_name": "Li Lei", "id_number": "E38001380",
                            "date_of_birth": "1990-05-17"},
             auth="ACCESS_TOKEN", expect=200, **quiet)

    rec.text("Regenerate with `.venv/bin/python scripts/api_example.py --consumer-credit > "
             "/tmp/example.md`.")
    rec.para("A real run (the app in process on a new SQLite database; the application "
             "scorecard trained on the synthetic population with seed 11, the bundled "
             "application policy, a bureau that reports no borrowing elsewhere; the customer "
             "has registered and verified identity). Amounts, dates and decisions are the "
             "same on every run; ids are random; `...` marks what is left out.")
    rec.out.append("```text")

    rec.note("(before any consent)")
    refused = rec.post("/v1/me/credit_applications", {"monthly_income_minor": 2_500_000,
                       "employment_type": "salaried"}, auth="ACCESS_TOKEN", expect=403,
                       show=lambda p: abridge(p, "type", "field", "purpose", "rule",
                                              "message_en"))
    if refused["purpose"] != "bureau_inquiry":
        raise ExampleError(f"unexpected refusal: {refused}")

    text = rec.get("/v1/me/consent_texts/bureau_inquiry?language=en", auth="ACCESS_TOKEN",
                   show=lambda p: abridge(p, "purpose", "text_version", "text_sha256"))
    rec.post("/v1/me/consents", {"purpose": "bureau_inquiry",
                                 "text_version": text["text_version"], "language": "en",
                                 "text_sha256": text["text_sha256"]},
             auth="ACCESS_TOKEN", expect=201,
             show=lambda p: abridge(p, "purpose", "granted", "valid", "text_version"))
    assessment = rec.get("/v1/me/consent_texts/credit_assessment?language=en",
                         auth="ACCESS_TOKEN", **quiet)
    rec.post("/v1/me/consents", {"purpose": "credit_assessment",
                                 "text_version": assessment["text_version"], "language": "en",
                                 "text_sha256": assessment["text_sha256"]},
             auth="ACCESS_TOKEN", expect=201, **quiet)
    rec.aside("the same for credit_assessment")

    decision = rec.post("/v1/me/credit_applications", APPLICATION, auth="ACCESS_TOKEN",
                        expect=201, show=lambda p: abridge(
                            p, "application_id", "outcome", "grade", "limit_minor",
                            "apr_percent", "currency", "reasons", "line_id",
                            "line_product_code", "language"))
    if decision["outcome"] != "approve":
        raise ExampleError(f"the application was not approved: {decision}")
    line_id = decision["line_id"]

    # Checkout with the line (documented in the first worked example), then the day closes.
    intent = rec.post("/v1/payment_intents", {"amount_minor": 30_000, "currency": "CNY",
                                              "order_id": "SO-20250301-0043"},
                      auth="MERCHANT_KEY", expect=201, **quiet)
    offers = rec.post(f"/v1/payment_intents/{intent['id']}/credit_offers", {},
                      auth="ACCESS_TOKEN", expect=200, **quiet)["offers"]
    line_offer = next(o for o in offers if o["funding"] == "credit_line")
    rec.post(f"/v1/payment_intents/{intent['id']}/confirm", {
        "funding": "credit_line", "offer_id": line_offer["offer_id"],
        "key_facts_sha256": line_offer["key_facts_sha256"]},
        auth="ACCESS_TOKEN", expect=200, **quiet)
    rec.post(f"/v1/payment_intents/{intent['id']}/capture", {}, auth="MERCHANT_KEY",
             expect=200, **quiet)
    today = clock.today()
    clock.set(dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0, 30), tzinfo=dt.UTC))
    run_close_of_business(runtime.uow, today, audit_checkpointer=runtime.audit_checkpointer,
                          auto_debit_consents=auto_debit_consents(),
                          catalogue=runtime.catalogue)
    clock.set(dt.datetime.combine(today + dt.timedelta(days=1), dt.time(9, 0), tzinfo=dt.UTC))
    rec.credentials["ACCESS_TOKEN"] = rec.post("/v1/auth/login", login_body, expect=200,
                                               **quiet)["access_token"]
    rec.aside(f"the consumer pays {_yuan(30_000)} at checkout with the line; the close of "
              f"business of {today.isoformat()} cuts the bill; a new login the next morning")

    bills = rec.get(f"/v1/me/credit_accounts/{line_id}/statements", auth="ACCESS_TOKEN",
                    show=lambda p: {"data": [Abridged(
                        {**{k: b[k] for k in (
                            "statement_id", "statement_date", "due_date",
                            "opening_balance_minor", "new_principal_minor",
                            "closing_balance_minor", "minimum_payment_minor",
                            "converted_minor")},
                         "lines": [abridge(ln, "kind", "amount_minor") for ln in b["lines"]]})
                        for b in p["data"]]})
    statement_id = bills["data"][0]["statement_id"]

    def show_quote(q: dict[str, Any]) -> Any:
        first, *rest = q["offers"]
        return Abridged({
            "amount_minor": q["amount_minor"], "convertible_minor": q["convertible_minor"],
            "offers": [abridge(first, "periods", "fee_rate_per_period",
                               "per_period_amount_minor", "fee_per_period_minor",
                               "total_fee_minor", "total_cost_minor", "total_repayable_minor",
                               "first_due_date", "apr_percent", "all_in_annual_cost_percent")]
            + [abridge(o, "periods", "total_fee_minor", "all_in_annual_cost_percent")
               for o in rest]})

    quote = rec.get(f"/v1/me/statements/{statement_id}/installment_offers?amount_minor=20000",
                    auth="ACCESS_TOKEN", show=show_quote)
    six = next(o for o in quote["offers"] if o["periods"] == 6)
    converted = rec.post(f"/v1/me/statements/{statement_id}/installments",
                         {"amount_minor": 20_000, "periods": 6}, auth="ACCESS_TOKEN",
                         expect=201, show=lambda p: abridge(
                             p, "plan_account_id", "amount_minor", "periods",
                             "total_fee_minor", "all_in_annual_cost_percent"))
    if converted["total_fee_minor"] != six["total_fee_minor"]:
        raise ExampleError("the conversion's fee is not the one quoted")
    plan_id = converted["plan_account_id"]

    card = rec.post("/v1/me/cards", {"pan": "4242424242424242", "expiry_month": 12,
                                     "expiry_year": 2030},
                    auth="ACCESS_TOKEN", expect=201, **quiet)
    rec.post("/v1/me/wallet/top-ups", {"card_id": card["id"], "amount_minor": 15_000},
             auth="ACCESS_TOKEN", expect=201, **quiet)
    deliver_rail_callbacks(runtime)
    rec.aside(f"the consumer tops the wallet up with {_yuan(15_000)} from a card")

    rec.post("/v1/me/credit_repayments", {"amount_minor": 15_001}, auth="ACCESS_TOKEN",
             expect=409, show=lambda p: abridge(p, "type", "field", "available_minor"))
    rec.aside("nothing changed; with what the wallet holds:")
    rec.post("/v1/me/credit_repayments", {"amount_minor": 10_000}, auth="ACCESS_TOKEN",
             expect=201, show=lambda p: abridge(p, "principal_minor", "prepayment_minor",
                                                "accounts", "wallet_available_minor"))
    rec.get(f"/v1/me/credit_accounts/{plan_id}/payoff", auth="ACCESS_TOKEN")

    def pick_loan(q: dict[str, Any]) -> dict[str, Any]:
        """12 months of ``jiebei`` in equal installments, else the first offer."""
        return next((o for o in q["offers"] if o["product_code"] == "jiebei"
                     and o["periods"] == 12 and o["method"] == "equal_installment"),
                    q["offers"][0])

    def show_loans(q: dict[str, Any]) -> Any:
        return Abridged({"headroom_minor": q["headroom_minor"], "offers": [abridge(
            pick_loan(q), "offer_id", "product_code", "periods", "term_unit", "method",
            "annual_rate", "per_period_amount_minor", "total_interest_minor",
            "total_cost_minor", "total_repayable_minor", "apr_percent",
            "all_in_annual_cost_percent", "quoted_on", "key_facts_sha256",
            "key_facts_url"), ...]})

    loans = rec.post("/v1/me/cash_loans/offers", {"amount_minor": 200_000, "language": "en"},
                     auth="ACCESS_TOKEN", expect=200, show=show_loans)
    loan_offer = pick_loan(loans)
    document = rec.get_raw(loan_offer["key_facts_url"], auth="ACCESS_TOKEN")
    facts = _key_facts_summary(document.text)
    if facts["sha256"] != loan_offer["key_facts_sha256"]:
        raise ExampleError("the loan's key-facts document is not the one the offer names")
    rec.out += [f"GET {loan_offer['key_facts_url']}",
                _wrap(f"→ {document.status_code} {_media(document)}: {facts['title']} "
                      f"({facts['template_version']}); SHA-256 = key_facts_sha256", indent=7),
                ""]
    loan = rec.post("/v1/me/cash_loans", {"offer_id": loan_offer["offer_id"],
                                          "key_facts_sha256": loan_offer["key_facts_sha256"]},
                    auth="ACCESS_TOKEN", expect=201,
                    show=lambda p: Abridged({
                        **{k: p[k] for k in ("loan_id", "status", "principal_minor",
                                              "next_due_date")},
                        "offer": Raw("{…the offer above, unchanged…}"),
                        **{k: p[k] for k in ("disclosure_acceptance_id",
                                              "affordability_check_id",
                                              "wallet_available_minor")}}))
    if loan["offer"] != loan_offer:
        raise ExampleError("the loan's offer is not the offer shown")
    while rec.out and rec.out[-1] == "":
        rec.out.pop()
    rec.out += ["```", ""]


# ----------------------------------------------------------------------------- entry
CHECKOUT_HEADING = "## Worked example: pay in 6 installments, refund half"
CONSUMER_CREDIT_HEADING = "### Worked example (SimulatedClock from 2025-03-01; responses abridged)"


def replace_section(document: str, heading: str, body: str) -> str:
    """``document`` with the body under the line ``heading`` replaced by ``body``: up to the
    next heading of the same or a higher level outside fenced code (or the end). Nothing
    else changes."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = document.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == heading]
    if len(starts) != 1:
        raise ExampleError(f"{heading!r} is in the document {len(starts)} times, not once")
    start = starts[0]
    end = len(lines)
    fenced = False
    for i in range(start + 1, len(lines)):
        if lines[i].startswith("```"):
            fenced = not fenced
        match = None if fenced else re.match(r"(#+) ", lines[i])
        if match and len(match.group(1)) <= level:
            end = i
            break
    tail = "\n" if end < len(lines) else ""
    return "".join(lines[:start + 1]) + "\n" + body.rstrip("\n") + "\n" + tail + \
        "".join(lines[end:])


def render(*, consumer_credit: bool = False) -> str:
    """Run the example on a fresh database and return its Markdown."""
    with tempfile.TemporaryDirectory(prefix="creditpay-example-") as name:
        folder = Path(name)
        if consumer_credit:
            config = example_config()
            config.bureau = NoOtherBorrowingBureau()
            with running_app(folder, config) as (client, clock):
                compact = CompactRecorder(client)
                consumer_credit_example(compact, client, clock, folder)
                rec: Recorder = compact
        else:
            with running_app(folder) as (client, _clock):
                rec = Recorder(client)
                checkout_example(rec, client)
    while rec.out and rec.out[-1] == "":
        rec.out.pop()
    return "\n".join(rec.out) + "\n"


def main(argv: list[str] | None = None, out: IO[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consumer-credit", action="store_true",
                        help="the 'Consumer credit' worked example instead of checkout")
    parser.add_argument("--update", metavar="FILE", type=Path,
                        help="replace the section's body in FILE (docs/api.md) in place "
                             "instead of printing it")
    args = parser.parse_args(argv)
    body = render(consumer_credit=args.consumer_credit)
    if args.update is None:
        (out or sys.stdout).write(body)
        return 0
    heading = CONSUMER_CREDIT_HEADING if args.consumer_credit else CHECKOUT_HEADING
    document = args.update.read_text(encoding="utf-8")  # read late: others edit it too
    args.update.write_text(replace_section(document, heading, body), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
