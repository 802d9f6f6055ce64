"""The PII log filter: records with known personal data come out masked."""

from __future__ import annotations

import io
import logging

import pytest

from creditpay.platform.logging_filter import (
    PiiLogFilter,
    cn_id_checksum_valid,
    find_pii,
    install_pii_log_filter,
    luhn_valid,
    mask_pii_text,
)

PHONE, ID_NUMBER, CARD, EMAIL = "13812345678", "11010519491231002X", "4111111111111111", \
    "alice@example.com"


@pytest.fixture
def captured():
    """A fresh logger tree with a stream handler and the filter installed on the parent."""
    stream = io.StringIO()
    parent = logging.getLogger("test_compliance_pii")
    parent.handlers.clear()
    parent.filters.clear()
    parent.propagate = False
    parent.setLevel(logging.DEBUG)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(customer)s"))
    parent.addHandler(handler)
    install_pii_log_filter(parent)
    yield parent, stream
    parent.handlers.clear()
    parent.filters.clear()


def _assert_no_pii(text):
    for secret in (PHONE, ID_NUMBER, CARD, EMAIL, "19491231", "4111 1111 1111 1111"):
        assert secret not in text


def test_message_and_args_are_masked(captured):
    logger, stream = captured
    logger.info("customer %s phone %d id %s card %s mail %s", "c1", int(PHONE), ID_NUMBER,
                "4111 1111 1111 1111", EMAIL, extra={"customer": f"phone={PHONE}"})
    output = stream.getvalue()
    _assert_no_pii(output)
    assert "138****5678" in output and "1101**********002X" in output
    assert "**** **** **** 1111" in output and "a***@example.com" in output
    assert "customer c1" in output  # the rest of the message is untouched


def test_child_logger_records_are_masked_by_the_handler_filter(captured):
    logger, stream = captured
    logging.getLogger("test_compliance_pii.credit.loans").warning(
        "repayment from %s failed", CARD, extra={"customer": "-"})
    _assert_no_pii(stream.getvalue())
    assert "**** **** **** 1111" in stream.getvalue()


def test_exception_text_is_masked(captured):
    logger, stream = captured
    try:
        raise ValueError(f"bad phone {PHONE}")
    except ValueError:
        logger.exception("lookup failed for %s", EMAIL, extra={"customer": "-"})
    _assert_no_pii(stream.getvalue())
    assert "ValueError: bad phone 138****5678" in stream.getvalue()


def test_malformed_format_string_does_not_leak():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d %d", (PHONE,), None)
    PiiLogFilter().filter(record)
    assert PHONE not in record.getMessage()


def test_installing_twice_adds_one_filter(captured):
    logger, _ = captured
    install_pii_log_filter(logger)
    assert sum(isinstance(f, PiiLogFilter) for f in logger.filters) == 1
    assert sum(isinstance(f, PiiLogFilter) for f in logger.handlers[0].filters) == 1


@pytest.mark.parametrize("text", [
    "order 12345 amount_minor 990000 at 2025-03-01T08:00:00Z",
    "card 4111111111111112 fails Luhn",
    "trace 3fa85f64-5717-4562-b3fc-2c963f66afa6",
])
def test_text_without_pii_is_unchanged(text):
    assert mask_pii_text(text) == text


def test_masking_is_idempotent():
    once = mask_pii_text(f"{PHONE} {ID_NUMBER} {CARD} {EMAIL}")
    assert mask_pii_text(once) == once


def test_detectors():
    assert luhn_valid(CARD) and not luhn_valid("4111111111111112")
    assert cn_id_checksum_valid(ID_NUMBER) and not cn_id_checksum_valid("110105194912310021")
    kinds = [m.kind for m in find_pii(f"a {PHONE} b {ID_NUMBER} c {CARD} d {EMAIL}")]
    assert kinds == ["phone", "id_number", "card", "email"]
    # Strict mode (audit payload checks) ignores digits glued to letters, like hex digests.
    assert find_pii("sha 3f13812345678ab", strict=True) == []
    assert find_pii("sha 3f13812345678ab")[0].kind == "phone"


def test_argument_shape_is_kept_for_formatters_that_unpack_args():
    """uvicorn's access formatter unpacks record.args; masking must keep their shape."""
    import logging

    from creditpay.platform.logging_filter import PiiLogFilter

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET",
                                                          "/v1/x?phone=13812345678", "1.1",
                                                          200), None)
    assert PiiLogFilter().filter(record)
    client, method, path, version, status = record.args
    assert status == 200 and method == "GET" and "13812345678" not in path
    assert "13812345678" not in record.getMessage()
