"""payments.service.Payments is a thin facade over the use-case modules (issue #14 item 5):
every public method only delegates to the use case of the same name, and the use cases share
the one context (the facade itself), so a change to it is seen by all of them."""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

import pytest

from creditpay.credit.origination import Origination
from creditpay.payments import checkout, cross_border, intents, qr, settlement, wallet
from creditpay.payments.credit_port import NoCredit
from creditpay.payments.service import Payments

USE_CASES = {"wallet": wallet.Wallet, "intents": intents.Intents,
             "checkout": checkout.Checkout, "qr": qr.QrPayments,
             "settlement": settlement.Settlement, "cross_border": cross_border.CrossBorder}


def _public_methods() -> list[str]:
    return [name for name, fn in vars(Payments).items()
            if inspect.isfunction(fn) and not name.startswith("_")]


@pytest.mark.parametrize("name", _public_methods())
def test_each_facade_method_only_delegates(name: str) -> None:
    tree = ast.parse(textwrap.dedent(inspect.getsource(getattr(Payments, name))))
    body = tree.body[0].body  # type: ignore[attr-defined]
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    assert len(body) == 1 and isinstance(body[0], ast.Return), name
    call = body[0].value
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute), name
    target = call.func.value
    assert isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
    assert target.value.id == "self" and call.func.attr == name
    owner = target.attr
    assert owner in {*USE_CASES, "origination"}, (name, owner)
    if owner in USE_CASES:
        assert callable(getattr(USE_CASES[owner], name)), (name, owner)


def test_the_use_cases_share_one_context() -> None:
    parties: Any = object()
    rail: Any = object()
    payments = Payments(parties=parties, rail=rail, credit=NoCredit(),
                        origination=Origination(None, parties))
    for name in USE_CASES:
        assert getattr(payments, name).ctx is payments
    assert payments.checkout.intents is payments.intents
    assert payments.checkout.wallet is payments.wallet
    assert payments.qr.checkout is payments.checkout
    replaced = Origination(None, parties, limit_max_minor=1)
    payments.origination = replaced
    assert payments.checkout.ctx.origination is replaced
