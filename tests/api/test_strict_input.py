"""Bad input is refused whole: amounts are JSON integers of minor units and nothing else,
a JSON object has no duplicate key, NaN is not a number, a null amount is not "all of it",
and a body has a size limit. Each refusal is a 422 (413 for size) naming the field, and
changes nothing. On both stores, through the real app."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from creditpay.ledger.tables import ledger_transfers
from tests.api.helpers import key

# JSON values that a lenient parser turned into an amount (1 fen, 100 fen, 1000 fen...).
NOT_AN_AMOUNT = [True, False, "100.00", "100", 1e3, 1000.0, "1_000", " 1000", "1000 ",
                 [1000], {"value": 1000}, "0x3e8", 10.5]


def _raw_post(api, path: str, text: str, token: str,
              content_type: str = "application/json") -> object:
    return api.client.post(path, content=text.encode(), headers={
        "Authorization": f"Bearer {token}", "Idempotency-Key": key(),
        "Content-Type": content_type})


def _transfers(api) -> int:
    with api.runtime.uow.connect() as conn:
        return conn.execute(select(func.count()).select_from(ledger_transfers)).scalar_one()


@pytest.fixture
def world(api):
    admin = api.operator("admin")
    merchant = api.merchant(admin)["api_key"]["key"]
    alice = api.customer("13810000001", device="alice-phone")
    api.customer("13810000002", device="bob-phone")
    api.fund(alice, 500_000)
    card = api.get("/v1/me/cards", alice).json()["data"][0]["id"]
    captured = api.post("/v1/payment_intents", {"amount_minor": 10_000, "currency": "CNY",
                                                "order_id": "strict-captured"}, merchant,
                        expect=201).json()
    api.post(f"/v1/payment_intents/{captured['id']}/confirm", {"funding": "balance"}, alice,
             expect=200)
    api.post(f"/v1/payment_intents/{captured['id']}/capture", {}, merchant, expect=200)
    held = api.post("/v1/payment_intents", {"amount_minor": 10_000, "currency": "CNY",
                                            "order_id": "strict-held"}, merchant,
                    expect=201).json()
    api.post(f"/v1/payment_intents/{held['id']}/confirm", {"funding": "balance"}, alice,
             expect=200)
    return {"admin": admin, "merchant": merchant, "alice": alice, "card": card,
            "captured": captured["id"], "held": held["id"]}


def _money_routes(world) -> list[tuple[str, dict[str, object], str]]:
    """(path, a valid body without amount_minor, whose token) for every route taking one."""
    return [
        ("/v1/me/wallet/top-ups", {"card_id": world["card"]}, "alice"),
        ("/v1/me/wallet/withdrawals", {"card_id": world["card"]}, "alice"),
        ("/v1/me/wallet/transfers", {"to": "13810000002"}, "alice"),
        ("/v1/payment_intents", {"currency": "CNY", "order_id": "strict-new"}, "merchant"),
        (f"/v1/payment_intents/{world['held']}/capture", {}, "merchant"),
        (f"/v1/payment_intents/{world['captured']}/refunds", {}, "merchant"),
        ("/v1/me/credit_repayments", {"currency": "CNY"}, "alice"),
    ]


@pytest.mark.parametrize("value", NOT_AN_AMOUNT, ids=repr)
def test_an_amount_is_a_json_integer_and_nothing_else(api, world, value):
    before = _transfers(api)
    for path, body, who in _money_routes(world):
        response = api.post(path, {**body, "amount_minor": value}, world[who])
        assert response.status_code == 422, (path, value, response.text)
        problem = response.json()
        assert problem["field"] == "amount_minor", (path, problem)
        assert response.headers["content-type"] == "application/problem+json"
    assert _transfers(api) == before


def test_other_integers_and_booleans_are_strict_too(api, world):
    """The class, not only amounts: a period count, a card expiry, a flag."""
    alice = world["alice"]
    bad_card = api.post("/v1/me/cards", {"pan": "4242424242424242", "expiry_month": "12",
                                         "expiry_year": 2030}, alice, expect=422).json()
    assert bad_card["field"] == "expiry_month"
    flag = api.post("/v1/me/credit_accounts/nothing/auto_debit", {"enabled": "true"}, alice,
                    expect=422).json()
    assert flag["field"] == "enabled"
    when = api.post("/v1/me/kyc", {"legal_name": "张三", "id_number": "11010519491231002X",
                                   "date_of_birth": 0}, alice, expect=422).json()
    assert when["field"] == "date_of_birth"


@pytest.mark.parametrize("path_key", ["held", "captured"])
def test_null_amount_is_not_everything(api, world, path_key):
    path = (f"/v1/payment_intents/{world['held']}/capture" if path_key == "held"
            else f"/v1/payment_intents/{world['captured']}/refunds")
    before = _transfers(api)
    problem = api.post(path, {"amount_minor": None}, world["merchant"], expect=422).json()
    assert problem["field"] == "amount_minor"
    assert _transfers(api) == before
    intent = api.get(f"/v1/payment_intents/{world[path_key]}", world["merchant"],
                     expect=200).json()
    assert intent["captured_minor"] == (0 if path_key == "held" else 10_000)
    assert intent["refunded_minor"] == 0
    # Omitting the field still means the whole amount.
    api.post(path, {}, world["merchant"], expect=200 if path_key == "held" else 201)


@pytest.mark.parametrize("text", [
    '{"card_id": "%s", "amount_minor": 1, "amount_minor": 100000}',
    '{"card_id": "%s", "card_id": "%s", "amount_minor": 100}',
])
def test_duplicate_keys_are_refused(api, world, text):
    before = _transfers(api)
    body = text % ((world["card"],) * text.count("%s"))
    response = _raw_post(api, "/v1/me/wallet/top-ups", body, world["alice"])
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] in ("amount_minor", "card_id")
    assert "more than once" in problem["detail"]
    assert _transfers(api) == before


def test_duplicate_keys_in_a_nested_object_are_refused(api, world):
    body = ('{"amount_minor": 100, "currency": "CNY", "order_id": "dup-nested", '
            '"line_items": [{"name": "a", "quantity": 1, "quantity": 9, '
            '"unit_amount_minor": 100}]}')
    response = _raw_post(api, "/v1/payment_intents", body, world["merchant"])
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "quantity"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(api, world, constant):
    body = f'{{"card_id": "{world["card"]}", "amount_minor": {constant}}}'
    response = _raw_post(api, "/v1/me/wallet/top-ups", body, world["alice"])
    assert response.status_code == 422, response.text


def test_a_body_has_a_size_limit(api, world):
    limit = api.runtime.config.body_bytes_max
    before = _transfers(api)
    padding = "x" * (limit + 1)
    body = json.dumps({"amount_minor": 100, "currency": "CNY", "order_id": "big",
                       "description": padding})
    response = _raw_post(api, "/v1/payment_intents", body, world["merchant"])
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/payload-too-large")

    # Without a Content-Length (chunked), the bytes received are counted.
    def chunks():
        for start in range(0, len(body), 65_536):
            yield body[start:start + 65_536].encode()

    streamed = api.client.post("/v1/payment_intents", content=chunks(), headers={
        "Authorization": f"Bearer {world['merchant']}", "Idempotency-Key": key(),
        "Content-Type": "application/json"})
    assert streamed.status_code == 413, streamed.text
    assert _transfers(api) == before


def _request_models():
    import creditpay.api.app  # noqa: F401 - every router's models are defined on import
    from creditpay.api.schemas import Strict

    found, todo = [], list(Strict.__subclasses__())
    while todo:
        model = todo.pop()
        found.append(model)
        todo.extend(model.__subclasses__())
    return found


def test_every_request_field_takes_its_json_form():
    """Strict validation refuses the JSON form (a string) of an enum or a date unless the
    field says how to read it: each such field of every request model must take it."""
    import datetime as dt
    import enum
    import typing

    checked = 0
    for model in _request_models():
        for name, info in model.model_fields.items():
            for kind in typing.get_args(info.annotation) or (info.annotation,):
                if isinstance(kind, type) and issubclass(kind, enum.Enum):
                    sample: object = next(iter(kind)).value
                elif kind is dt.date:
                    sample = "2025-03-01"
                else:
                    continue
                adapter = model.__pydantic_validator__
                try:
                    adapter.validate_assignment(model.model_construct(), name, sample)
                except Exception as exc:  # noqa: BLE001 - the assertion says which
                    raise AssertionError(f"{model.__name__}.{name} refuses {sample!r}") from exc
                checked += 1
    assert checked >= 3  # two dates and the access purpose today
