"""``audit.append`` encodes a valid payload once (the stored text) instead of twice (the
canonical form for its size, then the stored text): the outcome of every payload is the
old append's, the same stored text or the same error naming the same field, on generated
payloads (nested values, personal data, NaN, sizes around the limit, lone surrogates and
astral characters)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditpay.clock import SimulatedClock
from creditpay.db.engine import make_engine
from creditpay.db.schema import migrate
from creditpay.db.uow import UnitOfWork
from creditpay.errors import ValidationError
from creditpay.platform import audit
from creditpay.platform.tables import audit_records
from tests.compliance.test_audit_payload_check import _KEYS, _VALUES


class _RolledBack(Exception):
    pass


@pytest.fixture(scope="module")
def uow(tmp_path_factory: pytest.TempPathFactory) -> UnitOfWork:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('audit1')}/audit.db")
    migrate(engine)
    return UnitOfWork(engine, SimulatedClock("2025-03-01T09:00:00+00:00"))


def _old_outcome(payload: dict[str, Any]) -> tuple[Any, ...]:
    """What append did with ``payload`` before (main at 7d39a22)."""
    try:
        encoded = audit.canonical_json(payload)
    except (TypeError, ValueError):
        encoded = b""
    if len(encoded) > audit.PAYLOAD_BYTES_MAX:
        exc = ValidationError(f"must be at most {audit.PAYLOAD_BYTES_MAX} bytes as JSON",
                              field="payload")
        return ("error", exc.field, str(exc))
    if not encoded or not audit._payload_ok(payload, 0):
        try:
            audit._check_payload(payload, "payload", 0)
        except ValidationError as exc:
            return ("error", exc.field, str(exc))
    if encoded:
        return ("stored", audit._STORED.encode(payload))
    try:
        json.loads(encoded)
    except Exception as exc:  # noqa: BLE001 - the old path's own exception, compared by type
        return ("raised", type(exc))
    raise AssertionError("unreachable")


def _new_outcome(uow: UnitOfWork, payload: dict[str, Any]) -> tuple[Any, ...]:
    outcome: tuple[Any, ...] = ()
    try:
        with uow.begin() as tx:
            try:
                audit.append(tx, "system", "risk", "payment.screened", "payment_intent",
                             "pi_0123456789abcdef", payload)
            except ValidationError as exc:
                outcome = ("error", exc.field, str(exc))
            except Exception as exc:  # noqa: BLE001 - compared by type with the old path's
                outcome = ("raised", type(exc))
            else:
                outcome = ("stored", tx._inserts[audit_records][-1]["payload"].text)
            raise _RolledBack
    except _RolledBack:
        pass
    return outcome


_ODD = st.sampled_from([
    "\ud800", "a\udfffb", "\U0001f600", "\u4e2d\u6587", "\\ud800", "x" * 8_000,
    "\u4e2d" * 3_000, "\u00e9" * 5_000, float("nan"), float("-inf"), 1e308, -0.0,
])
_PAYLOADS = st.one_of(
    st.dictionaries(_KEYS, _VALUES, max_size=5),
    st.dictionaries(st.sampled_from(["code", "score", "id", "rules_hit", "versions"]),
                    st.one_of(_ODD, st.lists(_ODD, max_size=3), _VALUES), max_size=4),
)


@settings(max_examples=400, deadline=None)
@given(_PAYLOADS)
def test_append_decides_and_stores_as_before(uow: UnitOfWork, payload: dict[str, Any]) -> None:
    assert _new_outcome(uow, payload) == _old_outcome(payload)


@pytest.mark.parametrize("size", [16_300, 16_370, 16_375, 16_376, 16_377, 16_380, 16_400])
def test_the_size_limit_is_where_it_was(uow: UnitOfWork, size: int) -> None:
    # Around 16 KiB of canonical JSON, ASCII and not: the limit is the canonical form's.
    for filler in ("a", "\u4e2d"):
        payload = {"code": filler * (size // len(filler.encode()) - 11)}
        assert _new_outcome(uow, payload) == _old_outcome(payload)
    payload = {"a": "x" * (size // 2), "b": ["y" * (size // 4)] * 2}
    assert _new_outcome(uow, payload) == _old_outcome(payload)
