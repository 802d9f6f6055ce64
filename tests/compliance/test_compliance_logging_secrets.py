"""The log filter redacts secrets by format (bearer credentials, signed tokens, refresh
tokens, API keys, webhook secrets) and by name (password-like keys), and the record factory
that install_pii_log_filter() puts on the root masks records no filtered handler sees."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from creditpay.platform.logging_filter import (
    REDACTED,
    PiiLogFilter,
    install_pii_log_filter,
    mask_pii_text,
    redact_secrets,
)

ACCESS = ("v1.eyJkaWQiOiJkZXZfMjU3YmZiOWYxZWJkMzcwNzk4MGUiLCJleHAiOjE3NDA4MjA1MDB9"
          ".Kq3vJ0x8m2b6dHcWcQ0uGq1l9oJ8p3rY5tZbH2w4aE0")
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
REFRESH = "rt_y_iw0ixf_s5inn0r4EPiL3Zfsxgl5nvaCiuJEVXSeFM"
API_KEY_PREFIX = "cpk93f587124edc4d7a"
API_KEY = API_KEY_PREFIX + "_2l9gQBqdZpdNFlfk3FKk5dYmT5WDvw9lwdN7k2GVtKc"
OPERATOR = "cpo3c32c333525ba36c_TtAVT2Q8zbNuyeEkof2dIsg5R6STmmA2wX1eb_uy-eY"
WEBHOOK = "whsec_e37gWJZb6v8QYqLXrSXRYu5MeNrlgnIao2x3-2Xuacg"
PASSWORD = "correct horse battery"


@pytest.mark.parametrize(("text", "secret"), [
    (f"Authorization: Bearer {ACCESS}", ACCESS),
    (f"{{'authorization': 'bearer {API_KEY}'}}", API_KEY),
    (f"headers {{b'authorization': b'Bearer {OPERATOR}'}}", OPERATOR),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    (f"session {ACCESS} issued", ACCESS),
    (f"id token {JWT}", JWT),
    (f"rotated {REFRESH}", REFRESH),
    (f"key {API_KEY} created", API_KEY.split("_", 1)[1]),
    (f"operator {OPERATOR}", OPERATOR.split("_", 1)[1]),
    (f"webhook secret {WEBHOOK}", WEBHOOK.removeprefix("whsec_")),
    (f"password={PASSWORD}", PASSWORD),
    (f"password={PASSWORD} user=li", "horse battery"),
    (f"login password = '{PASSWORD}'", PASSWORD),
    (f'{{"identifier": "13800000000", "password": "{PASSWORD}"}}', PASSWORD),
    (f"{{'password': '{PASSWORD}', 'device_id': 'd1'}}", PASSWORD),
    ('{"password": "with \\" quote inside"}', "quote inside"),
    (f"GET /cb?token={REFRESH[3:]}&page=2", REFRESH[3:]),
    ("client_secret=s3cr3t-value; next=1", "s3cr3t-value"),
    (f'{{"refresh_token": "{REFRESH}"}}', REFRESH),
    (f"api_key={API_KEY}", API_KEY.split("_", 1)[1]),
    ("step_up_code=493021", "493021"),
])
def test_secret_is_redacted(text, secret):
    masked = mask_pii_text(text)
    assert secret not in masked and REDACTED in masked, masked
    assert mask_pii_text(masked) == masked  # idempotent


def test_what_is_kept_readable():
    # The API key prefix is a lookup id, not secret: it helps find the key to revoke.
    assert redact_secrets(f"key {API_KEY}") == f"key {API_KEY_PREFIX}_{REDACTED}"
    assert redact_secrets(f"x {WEBHOOK}") == f"x whsec_{REDACTED}"
    assert redact_secrets(f"password={PASSWORD} user=li") == f"password={REDACTED} user=li"
    assert redact_secrets(f'{{"password": "{PASSWORD}", "n": 1}}') == \
        f'{{"password": "{REDACTED}", "n": 1}}'


@pytest.mark.parametrize("text", [
    "UPDATE customers SET password_hash=?, failed_logins=? WHERE customers.id = ?",
    "password: must be 8..64 characters",  # a validation error names the field, no value
    "token has expired",
    "basic checks passed for order 12345",
    "the bearer of this note",
    "trace 3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "cpk-free text and rt_short",
])
def test_text_without_secrets_is_unchanged(text):
    assert mask_pii_text(text) == text


def test_template_and_arguments_are_both_redacted():
    for msg, args in (("password=%s", (PASSWORD,)), ("Authorization: Bearer %s", ("abc" * 5,)),
                      ("login %(who)s password=%(pw)s", {"who": "li", "pw": PASSWORD}),
                      ("creds %s", ({"password": PASSWORD, "api_key": API_KEY},))):
        record = logging.LogRecord("x", logging.INFO, __file__, 1, msg, args, None)
        assert PiiLogFilter().filter(record)
        rendered = record.getMessage()
        for secret in (PASSWORD, "abc" * 5, API_KEY.split("_", 1)[1]):
            assert secret not in rendered, rendered


@pytest.fixture
def fresh_factory() -> Iterator[None]:
    """Runs a test with the stock record factory, then puts the session's back."""
    saved = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    try:
        yield
    finally:
        logging.setLogRecordFactory(saved)


def test_records_reaching_an_unfiltered_handler_are_masked(fresh_factory):
    """A child logger's records propagate past its parent's logger filter; a handler added
    after install_pii_log_filter() has no filter: the record factory masks them anyway."""
    install_pii_log_filter()
    install_pii_log_filter()  # once per process: no double wrapping
    assert getattr(logging.getLogRecordFactory(), "masks_pii", False)
    stream = io.StringIO()
    parent = logging.getLogger("test_secrets_factory")
    parent.handlers.clear()
    parent.propagate = False
    parent.setLevel(logging.DEBUG)
    late = logging.StreamHandler(stream)  # added after the filter was installed
    parent.addHandler(late)
    try:
        logging.getLogger("test_secrets_factory.child").debug(
            "login 13812345678 password=%s with Bearer %s", PASSWORD, ACCESS)
    finally:
        parent.removeHandler(late)
    output = stream.getvalue()
    assert "login 138****5678" in output
    assert PASSWORD not in output and ACCESS not in output


def test_last_resort_output_is_masked(fresh_factory, capsys):
    install_pii_log_filter()
    orphan = logging.getLogger("test_secrets_orphan")
    orphan.handlers.clear()
    orphan.propagate = False  # no handler anywhere: Python's last-resort handler prints it
    orphan.warning("webhook secret %s for 13812345678", WEBHOOK)
    err = capsys.readouterr().err
    assert "whsec_" in err and WEBHOOK not in err and "13812345678" not in err
