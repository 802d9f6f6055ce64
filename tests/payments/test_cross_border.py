"""Paying abroad (issue #21) through the real app, on SQLite and PostgreSQL: a foreign merchant
settles in its currency; the consumer sees the CNY cost from a locked FX quote, confirms naming
it, and the ledger moves CNY to the FX position and the merchant's currency from it, each leg
balanced in its own currency; refunds come back at the original rate; settlement is in the
merchant's currency; the regulatory report has the cross-border lines."""

from __future__ import annotations

import hashlib
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from creditpay.formatting import money_text
from creditpay.fx import quotes as fx_quotes
from creditpay.ledger.tables import ledger_accounts, ledger_transfers
from creditpay.ledger.verify import verify_ledger
from creditpay.money import currency_exponent
from creditpay.parties.service import Principal
from creditpay.payments.reporting import cross_border_totals
from tests.api.helpers import Api, running_api

CURRENCIES = ("CNY", "JPY", "USD", "KWD")
LIMIT = 1_000_000  # 10,000.00 CNY (a larger grant needs a second operator)
WALLET = 40_000_000  # 400,000.00 CNY
PHONE = "13800000021"


@pytest.fixture
def abroad(store, clock):  # type: ignore[no-untyped-def]
    """The app operating in CNY and three foreign currencies, a JPY merchant in Japan, a
    KWD one in Kuwait, a USD one in the US, and a customer with a funded wallet and a
    line."""
    with running_api(store.url, clock, currencies=CURRENCIES) as api:
        admin = api.operator("admin")
        merchants = {}
        for currency, country in (("JPY", "JP"), ("KWD", "KW"), ("USD", "US")):
            onboarded = api.post("/v1/operator/merchants", {
                "name": f"Shop {country}", "mcc": "5999", "discount_rate": "0.01",
                "settlement_currency": currency, "country": country}, admin,
                expect=201).json()
            assert onboarded["merchant"]["country"] == country
            merchants[currency] = onboarded
        token, customer_id = api.customer_with_line(admin, PHONE, LIMIT)
        api.fund(token, WALLET)
        yield World(api, admin, merchants, token, customer_id)


class World:
    def __init__(self, api: Api, admin: str, merchants: dict[str, Any], token: str,
                 customer_id: str) -> None:
        self.api, self.admin, self.merchants = api, admin, merchants
        self.token, self.customer_id = token, customer_id
        self.orders = 0

    def later(self, clock: Any, **delta: int) -> None:
        """Advance business time and log in again (the access token lives 15 minutes)."""
        clock.advance(**delta)
        self.token = self.api.login(PHONE)

    @property
    def rt(self) -> Any:
        return self.api.runtime

    def mkey(self, currency: str) -> str:
        return str(self.merchants[currency]["api_key"]["key"])

    def merchant_id(self, currency: str) -> str:
        return str(self.merchants[currency]["merchant"]["id"])

    def intent(self, currency: str, amount_minor: int) -> dict[str, Any]:
        self.orders += 1
        return self.api.post("/v1/payment_intents", {
            "amount_minor": amount_minor, "currency": currency,
            "order_id": f"order-{self.orders}"}, self.mkey(currency), expect=201).json()

    def quote(self, intent_id: str, expect: int = 200) -> Any:
        return self.api.post(f"/v1/payment_intents/{intent_id}/fx_quote", None, self.token,
                             expect=expect).json()

    def confirm(self, intent_id: str, expect: int = 200, **body: Any) -> Any:
        return self.api.post(f"/v1/payment_intents/{intent_id}/confirm",
                             {"funding": "balance", **body}, self.token, expect=expect).json()

    def wallet_minor(self) -> int:
        return int(self.api.wallet(self.token)["balance_minor"])

    def wallet_minor_of(self, customer: Principal) -> int:
        with self.rt.uow.connect() as conn:
            return int(self.rt.payments.wallet_balance(conn, customer.id, "CNY")
                       ["balance_minor"])

    def journal_rows(self) -> int:
        with self.rt.uow.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(ledger_transfers))
                       .scalar_one())

    def net_credit(self, key: str) -> int:
        """credits - debits posted on ledger account ``key`` (0 when not opened)."""
        with self.rt.uow.connect() as conn:
            row = conn.execute(select(ledger_accounts.c.debits_posted,
                                      ledger_accounts.c.credits_posted)
                               .where(ledger_accounts.c.key == key)).first()
        return 0 if row is None else int(row.credits_posted) - int(row.debits_posted)


def _legs_balance_per_currency(world: World) -> None:
    """From the journal: each transfer's two accounts are in the transfer's currency, and per
    currency the debits posted over all accounts equal the credits posted."""
    with world.rt.uow.connect() as conn:
        accounts = {r.id: r for r in conn.execute(select(ledger_accounts))}
        for t in conn.execute(select(ledger_transfers)):
            assert accounts[t.debit_account_id].currency == t.currency, t.id
            assert accounts[t.credit_account_id].currency == t.currency, t.id
        sums: dict[str, list[int]] = {}
        for a in accounts.values():
            s = sums.setdefault(a.currency, [0, 0])
            s[0] += int(a.debits_posted)
            s[1] += int(a.credits_posted)
        for currency, (debits, credits) in sums.items():
            assert debits == credits, currency
        assert verify_ledger(conn).ok


def _at_mid(amount_minor: int, currency: str, mid_rate: str) -> int:
    """``amount_minor`` of ``currency`` in CNY minor units at ``mid_rate``, half up."""
    exact = Decimal(amount_minor).scaleb(2 - currency_exponent(currency)) * Decimal(mid_rate)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_a_foreign_merchant_and_its_intents(abroad: World) -> None:
    api = abroad.api
    bad = api.post("/v1/operator/merchants", {
        "name": "Nowhere", "mcc": "5999", "discount_rate": "0.01",
        "settlement_currency": "JPY", "country": "XX"}, abroad.admin, expect=422).json()
    assert "country" in str(bad)
    bad = api.post("/v1/operator/merchants", {
        "name": "Nowhere", "mcc": "5999", "discount_rate": "0.01",
        "settlement_currency": "THB", "country": "TH"}, abroad.admin, expect=422).json()
    assert "settlement_currency" in str(bad)
    # The amount is in the merchant's minor units: JPY has none, KWD has three decimals.
    yen = abroad.intent("JPY", 12_345)
    assert (yen["currency"], yen["amount_minor"], yen["fx"]) == ("JPY", 12_345, None)
    refused = api.post("/v1/payment_intents", {"amount_minor": 100, "currency": "CNY",
                                               "order_id": "cny"}, abroad.mkey("JPY"),
                       expect=422).json()
    assert "currency" in str(refused)
    # A home-currency intent takes no quote.
    cny_shop = api.merchant(abroad.admin)
    cny = api.post("/v1/payment_intents", {"amount_minor": 100, "currency": "CNY",
                                           "order_id": "c1"}, cny_shop["api_key"]["key"],
                   expect=201).json()
    assert "intent_id" in str(abroad.quote(cny["id"], expect=422))


def test_pay_abroad_refund_in_parts_settle_and_report(abroad: World, clock: Any) -> None:
    w, api = abroad, abroad.api
    intent = w.intent("JPY", 100_000)
    quote = w.quote(intent["id"])
    assert quote["sell_currency"] == "CNY" and quote["buy_amount_minor"] == 100_000
    assert w.quote(intent["id"])["quote_id"] == quote["quote_id"]  # locked: the same one
    # The customer sees it on the intent before paying.
    seen = api.get(f"/v1/payment_intents/{intent['id']}", w.token, expect=200).json()["fx"]
    assert seen["quote_id"] == quote["quote_id"] and seen["status"] == "shown"
    # No conversion without a choice: the confirm must name the quote.
    before = w.journal_rows()
    assert "quote_id" in str(w.confirm(intent["id"], expect=422))
    assert w.journal_rows() == before
    wallet = w.wallet_minor()
    paid = w.confirm(intent["id"], quote_id=quote["quote_id"])
    assert paid["status"] == "requires_capture" and paid["fx"]["status"] == "accepted"
    api.post(f"/v1/payment_intents/{intent['id']}/capture", {}, w.mkey("JPY"), expect=200)
    sell = quote["sell_amount_minor"]
    assert w.wallet_minor() == wallet - sell
    assert w.net_credit(f"merchant_payable:{w.merchant_id('JPY')}:JPY") == 100_000
    assert w.net_credit("platform:fx_position:CNY") == sell
    assert w.net_credit("platform:fx_position:JPY") == -100_000
    # The position valued at mid is the markup.
    assert sell - _at_mid(100_000, "JPY", quote["mid_rate"]) == quote["markup_minor"]
    _legs_balance_per_currency(w)
    # Refunds in three parts return exactly the CNY paid, each at the original rate.
    returned = 0
    for part in (33_333, 33_333, 33_334):
        refund = api.post(f"/v1/payment_intents/{intent['id']}/refunds",
                          {"amount_minor": part}, w.mkey("JPY"), expect=201).json()
        share = refund["fx_refund"]["sell_amount_minor"]
        assert abs(share * 100_000 - sell * part) <= 100_000  # its share, ±1 minor unit
        returned += share
    assert returned == sell and w.wallet_minor() == wallet
    # The customer's payment history shows the conversion, with what came back.
    [listed] = [i for i in api.get("/v1/payment_intents", w.token, expect=200).json()["data"]
                if i["id"] == intent["id"]]
    assert (listed["fx"]["quote_id"], listed["fx"]["sell_captured_minor"],
            listed["fx"]["sell_refunded_minor"]) == (quote["quote_id"], sell, sell)
    assert w.net_credit("platform:fx_position:CNY") == 0
    assert w.net_credit("platform:fx_position:JPY") == 0
    _legs_balance_per_currency(w)
    # T+1 settlement in the merchant's currency (net of the refunds: nothing to pay).
    today = clock.today()
    w.later(clock, days=1)
    ops = api.operator("admin")
    settled = api.post("/v1/operator/settlements/run", {"business_date": today.isoformat()},
                       ops, expect=200).json()["data"]
    [jpy] = [s for s in settled if s["merchant_id"] == w.merchant_id("JPY")]
    assert (jpy["currency"], jpy["gross_minor"], jpy["refunds_minor"], jpy["net_minor"]) == (
        "JPY", 100_000, 100_000, 0)
    # Regulatory lines: by merchant country and currency, in JPY and in CNY.
    with w.rt.uow.connect() as conn:
        [line] = cross_border_totals(conn, today, today)
    assert (line.merchant_country, line.currency, line.payments, line.amount_minor,
            line.home_amount_minor, line.refunds, line.refunded_minor,
            line.refunded_home_minor, line.fx_markup_home_minor) == (
        "JP", "JPY", 1, 100_000, sell, 3, 100_000, sell, quote["markup_minor"])


def test_stale_expired_and_reused_quotes_move_nothing(abroad: World, clock: Any) -> None:
    w = abroad
    intent = w.intent("USD", 25_000)
    first = w.quote(intent["id"])
    before = (w.journal_rows(), w.wallet_minor())
    w.later(clock, minutes=31)
    refused = w.confirm(intent["id"], expect=409, quote_id=first["quote_id"])
    assert refused["field"] == "quote_id" and first["quote_id"] in refused["detail"]
    assert (w.journal_rows(), w.wallet_minor()) == before
    second = w.quote(intent["id"])  # refreshed: a new lock
    assert second["quote_id"] != first["quote_id"]
    w.confirm(intent["id"], quote_id=second["quote_id"])
    # The used quote cannot pay another intent, nor be used again.
    other = w.intent("USD", 25_000)
    w.quote(other["id"])
    before = w.journal_rows()
    assert w.confirm(other["id"], expect=422, quote_id=second["quote_id"])["field"] == "quote_id"
    with pytest.raises(Exception) as used:
        w.rt.uow.run(lambda tx: fx_quotes.use_quote(tx, second["quote_id"], reference="x",
                                                    customer_id=w.customer_id))
    assert getattr(used.value, "field", None) == "quote_id"
    assert w.journal_rows() == before


def test_a_one_time_code_does_not_use_up_the_quote(abroad: World) -> None:
    """From 5,000.00 CNY the confirm asks for a code (committing the challenge): the quote
    is used only when the payment is authorised, so the confirm with the code takes it."""
    w = abroad
    intent = w.intent("JPY", 150_000)  # about 7,000 CNY
    quote = w.quote(intent["id"])
    before = w.journal_rows()
    first = w.confirm(intent["id"], expect=403, quote_id=quote["quote_id"])
    assert first["type"].endswith("/step-up-required") and w.journal_rows() == before
    with w.rt.uow.connect() as conn:
        assert fx_quotes.get_quote(conn, quote["quote_id"]).used_at is None
    paid = w.confirm(intent["id"], quote_id=quote["quote_id"],
                     step_up_challenge_id=first["challenge_id"],
                     step_up_code=w.api.last_code(first["challenge_id"]))
    assert paid["fx"]["quote_id"] == quote["quote_id"] and paid["fx"]["status"] == "accepted"


def test_limits_refuse_naming_the_field(abroad: World) -> None:
    # 50,000.00 CNY per payment abroad: about 1,100,000 JPY is over it.
    intent = abroad.intent("JPY", 5_000_000)
    before = abroad.journal_rows()
    refused = abroad.quote(intent["id"], expect=422)
    assert refused["field"] == "amount_minor"
    assert abroad.journal_rows() == before


def test_credit_abroad_is_on_the_cny_amount(abroad: World) -> None:
    w, api = abroad, abroad.api
    intent = w.intent("KWD", 123_456)  # 123.456 KWD
    offers = api.post(f"/v1/payment_intents/{intent['id']}/credit_offers", {"language": "en"},
                      w.token, expect=200).json()
    fx = offers["fx"]
    assert fx["buy_currency"] == "KWD" and fx["buy_amount_minor"] == 123_456
    [line] = [o for o in offers["offers"] if o["funding"] == "credit_line"]
    assert line["financed_minor"] + line.get("down_payment_minor", 0) == fx["sell_amount_minor"]
    # The key facts state the conversion: the foreign amount, both rates, the markup, the
    # price in CNY; the document is the one whose hash the offer carries.
    document = api.client.get(line["key_facts_url"], headers=api.headers(w.token))
    assert document.status_code == 200
    html = document.text
    assert hashlib.sha256(document.content).hexdigest() == line["key_facts_sha256"]
    assert "Currency conversion" in html and money_text(123_456, "KWD", "en") in html
    assert f"1 KWD = {fx['mid_rate']} CNY" in html and f"1 KWD = {fx['client_rate']} CNY" in html
    assert f"{fx['markup_bps'] / 100:.2f}%" in html
    paid = w.confirm(intent["id"], funding="credit_line", offer_id=line["offer_id"],
                     key_facts_sha256=line["key_facts_sha256"], quote_id=fx["quote_id"])
    assert paid["status"] == "requires_capture"
    line_before = api.get("/v1/me/credit_line", w.token, expect=200).json()["available_minor"]
    assert line_before == LIMIT - fx["sell_amount_minor"]
    api.post(f"/v1/payment_intents/{intent['id']}/capture", {}, w.mkey("KWD"), expect=200)
    assert w.net_credit(f"merchant_payable:{w.merchant_id('KWD')}:KWD") == 123_456
    # A dispute on it pauses the CNY purchase by the disputed part's CNY share (not the
    # KWD minor units); withdrawn, the purchase resumes.
    dispute = api.post("/v1/me/disputes", {"payment_intent_id": intent["id"],
                                           "reason": "not_as_described"}, w.token,
                       expect=201).json()
    assert (dispute["currency"], dispute["amount_minor"]) == ("KWD", 123_456)
    api.post(f"/v1/me/disputes/{dispute['dispute_id']}/withdraw", None, w.token, expect=200)
    refund = api.post(f"/v1/payment_intents/{intent['id']}/refunds", {}, w.mkey("KWD"),
                      expect=201).json()
    assert refund["fx_refund"]["sell_amount_minor"] == fx["sell_amount_minor"]
    assert api.get("/v1/me/credit_line", w.token, expect=200).json()["available_minor"] == LIMIT
    _legs_balance_per_currency(w)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data())
def test_property_cny_equals_the_quote_and_refunds_at_the_original_rate(
        abroad: World, clock: Any, data: st.DataObject) -> None:
    """For random amounts, currencies (0, 2 and 3 decimals) and days (the simulated rate
    moves daily): the CNY debited is the quote's; each currency's legs balance; the FX
    position at mid moves by the markup (±1); a refund of any parts returns exactly its
    share, and the whole returns exactly the CNY paid. Through the services (the routes
    are the tests above)."""
    w, rt = abroad, abroad.rt
    pay = rt.payments
    customer = Principal("customer", w.customer_id, device_id="device-0001")
    clock.advance(days=data.draw(st.integers(1, 40), label="days"))
    currency = data.draw(st.sampled_from(("JPY", "USD", "KWD")), label="currency")
    # Below the one-time-code threshold (5,000.00 CNY) at any plausible rate.
    top = {"JPY": 90_000, "USD": 60_000, "KWD": 180_000}[currency]
    amount = data.draw(st.integers(1, top), label="amount_minor")
    merchant = Principal("merchant", w.merchant_id(currency))
    w.orders += 1
    intent = rt.uow.run(lambda tx: pay.create_intent(
        tx, merchant, amount_minor=amount, currency=currency, order_id=f"p-{w.orders}"))
    quote = rt.uow.run(lambda tx: pay.fx_quote(tx, customer, intent["id"]))
    cny_before = w.net_credit("platform:fx_position:CNY")
    ccy_before = w.net_credit(f"platform:fx_position:{currency}")
    wallet = w.wallet_minor_of(customer)
    rt.uow.run(lambda tx: pay.confirm(tx, customer, intent["id"], funding="balance",
                                      quote_id=quote["quote_id"]))
    rt.uow.run(lambda tx: pay.capture(tx, merchant, intent["id"]))
    sell = quote["sell_amount_minor"]
    assert w.wallet_minor_of(customer) == wallet - sell
    moved_cny = w.net_credit("platform:fx_position:CNY") - cny_before
    moved_ccy = ccy_before - w.net_credit(f"platform:fx_position:{currency}")
    assert (moved_cny, moved_ccy) == (sell, amount)
    assert abs(moved_cny - _at_mid(moved_ccy, currency, quote["mid_rate"])
               - quote["markup_minor"]) <= 1
    cuts = sorted(data.draw(st.sets(st.integers(1, amount - 1), max_size=3), label="cuts")
                  ) if amount > 1 else []
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, amount], strict=True)]
    returned = 0
    for part in parts:
        refund = rt.uow.run(lambda tx, n=part: pay.refund(tx, merchant, intent["id"],
                                                          amount_minor=n))
        share = refund["fx_refund"]["sell_amount_minor"]
        # Its share at the original rate, to one minor unit.
        assert abs(Decimal(share) - Decimal(sell) * part / amount) <= 1
        returned += share
    assert returned == sell and w.wallet_minor_of(customer) == wallet
    assert w.net_credit("platform:fx_position:CNY") == cny_before
    assert w.net_credit(f"platform:fx_position:{currency}") == ccy_before
    _legs_balance_per_currency(w)


def test_the_assistant_quotes_the_customers_own_payment_abroad(abroad: World) -> None:
    """fx_charge answers with the process's markups and lock, then the customer's latest
    payment abroad: its amounts, rates and markup, in both languages."""
    w = abroad
    assistant = w.rt.services.assistant
    ask = lambda text: w.rt.uow.run(  # noqa: E731
        lambda tx: assistant.ask(tx, w.customer_id, None, text))
    before = ask("what is the exchange rate fee when I pay abroad?")
    assert before.intent == "fx_charge"
    assert "30 minutes" in before.answer and "last payment abroad" not in before.answer
    intent = w.intent("JPY", 100_000)
    quote = w.quote(intent["id"])
    w.confirm(intent["id"], quote_id=quote["quote_id"])
    after = ask("what is the exchange rate fee when I pay abroad?")
    assert "last payment abroad" in after.answer
    for figure in (quote["client_rate"], quote["mid_rate"], f"{quote['markup_bps']} bps"):
        assert figure in after.answer
    assert f"{quote['sell_amount_minor'] / 100:,.2f}" in after.answer
    zh = ask("境外消费的汇率手续费怎么算？")
    assert zh.intent == "fx_charge" and quote["client_rate"] in zh.answer
