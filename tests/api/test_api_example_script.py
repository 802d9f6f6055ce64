"""scripts/api_example.py regenerates the worked examples of docs/api.md from a real run of
the app: it must keep running, show the documented steps with their documented statuses, and
the sections in docs/api.md must be what it prints today (up to the random ids), so the
documented example cannot silently go stale."""

from __future__ import annotations

import importlib.util
import io
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "api_example.py"
DOC = ROOT / "docs" / "api.md"
REGENERATE = ".venv/bin/python scripts/api_example.py{flag} --update docs/api.md"


def _load() -> ModuleType:
    name = "creditpay_api_example_script"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


example = _load()


def _run(*argv: str) -> str:
    out = io.StringIO()
    assert example.main(list(argv), out=out) == 0
    return out.getvalue()


def _normalised(text: str) -> str:
    """Random parts (ids, tokens, keys, document hashes) replaced by placeholders."""
    # An id is the prefix and hex digits, then no letter or digit: "key_facts" is a
    # field name, not the id "key_fac" followed by "ts".
    text = re.sub(r"(?<![A-Za-z0-9])(mer|cus|pi|off|quo|re|reg|key|plan|clo|loan|app|cv)"
                  r"_[0-9a-f]+(?![A-Za-z0-9])", r"\1_<id>", text)
    text = re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", text)
    text = re.sub(r'"code": "[0-9]{6}"', '"code": "<code>"', text)  # a one-time code
    return re.sub(r'"[^"\s]*…\(shown once\)"', '"<secret>"', text)


def _section(document: str, heading: str) -> str:
    """The body under ``heading`` as replace_section delimits it."""
    marker = "\x00BODY\x00"
    replaced = example.replace_section(document, heading, marker)
    before, after = replaced.split(marker)
    start = len(before)
    end = len(document) - (len(after) - 1)  # the body is followed by one "\n" it added
    return document[start:end]


@pytest.fixture(scope="module")
def checkout() -> str:
    return _run()


def test_the_checkout_example_runs_every_documented_step(checkout):
    steps = re.findall(r"^### (\d+)\. ", checkout, re.M)
    assert steps == [str(n) for n in range(1, 9)]
    blocks = re.split(r"^### ", checkout, flags=re.M)
    intent = next(b for b in blocks if b.startswith("3. The merchant creates"))
    assert "POST http://127.0.0.1:8000/v1/payment_intents \\" in intent
    assert "\n`201`\n" in intent and '"status": "requires_confirmation"' in intent
    offers = next(b for b in blocks if b.startswith("4. "))
    assert "/credit_offers \\" in offers and "\n`200`\n" in offers
    assert '"key_facts_sha256"' in offers and "`text/html`" in offers
    assert "key-facts/3" in offers  # the template version of the document shown
    confirm = next(b for b in blocks if b.startswith("5. "))
    body = re.search(r"-d '(\{\"funding\".*\})'", confirm)
    assert body is not None, confirm
    assert '"funding": "installment_plan"' in body.group(1)
    assert re.search(r'"offer_id": "off_[0-9a-f]+"', body.group(1))
    assert re.search(r'"key_facts_sha256": "[0-9a-f]{64}"', body.group(1))
    assert '"status": "requires_capture"' in confirm and '"periods": 6' in confirm
    for field in ("down_payment_minor", "financed_minor", "installment_count", "frequency",
                  "total_payable_minor", "disclosure_acceptance_id"):
        assert f'"{field}"' in confirm, field
    capture = next(b for b in blocks if b.startswith("6. "))
    assert '"status": "succeeded"' in capture and '"captured_minor": 360000' in capture
    refund = next(b for b in blocks if b.startswith("7. "))
    assert "/refunds \\" in refund and "\n`201`\n" in refund
    assert '"amount_minor": 180000' in refund and '"refunded_minor": 180000' in refund
    plan = next(b for b in blocks if b.startswith("8. "))
    assert '"kind": "plan"' in plan and '"principal_minor": 180000' in plan


def test_secrets_are_shortened_and_curl_lines_use_variables(checkout):
    assert checkout.count('…(shown once)"') == 4  # API key, webhook secret, 2 tokens
    secrets = re.findall(r'"(?:cpk|whsec_|rt_|v1\.)[^"]*"', checkout)
    assert len(secrets) == 4 and all(s.endswith('…(shown once)"') for s in secrets), secrets
    assert '-H "Authorization: Bearer $MERCHANT_KEY"' in checkout
    assert '-H "Authorization: Bearer $ACCESS_TOKEN"' in checkout
    keys = re.findall(r"Idempotency-Key: (example-\d\d-0+)", checkout)
    assert keys == [f"example-{n:02d}-000000000000" for n in range(1, len(keys) + 1)]


def test_the_documented_checkout_example_is_current(checkout):
    documented = _section(DOC.read_text(encoding="utf-8"), example.CHECKOUT_HEADING)
    assert _normalised(documented) == _normalised(checkout), (
        "docs/api.md's worked example is stale: run " + REGENERATE.format(flag=""))


@pytest.mark.slow
def test_the_consumer_credit_example_runs_and_is_current():
    text = _run("--consumer-credit")
    for line in ("→ 403", "POST /v1/me/credit_applications", "→ 201",
                 "/installment_offers?amount_minor=20000", "POST /v1/me/cash_loans"):
        assert line in text, line
    flat = " ".join(text.split())  # the compact answers are wrapped at any space
    assert '"outcome": "approve"' in flat and "(key-facts/3)" in flat
    documented = _section(DOC.read_text(encoding="utf-8"), example.CONSUMER_CREDIT_HEADING)
    assert _normalised(documented) == _normalised(text), (
        "docs/api.md's consumer credit example is stale: run "
        + REGENERATE.format(flag=" --consumer-credit"))


# ----------------------------------------------------------------------------- replacement
_line = st.text(alphabet="abc #\n", max_size=30).map(lambda s: s.replace("\n", " "))


@settings(max_examples=200, deadline=None)
@given(before=st.lists(_line, max_size=5), old=st.lists(_line, max_size=5),
       after=st.lists(_line, max_size=5), body=st.text(alphabet="xyz\n", max_size=40),
       level=st.integers(2, 3), next_level=st.integers(1, 3), has_next=st.booleans())
def test_replace_section_changes_only_that_section(before, old, after, body, level,
                                                    next_level, has_next):
    heading = "#" * level + " Worked example"
    # Text of the section itself has no heading of its level or higher.
    old = [x for x in old if not re.match("#{1," + str(level) + "} ", x)]
    before = [x for x in before if x != heading]
    after = [x for x in after if x != heading]
    next_heading = ["#" * min(next_level, level) + " Next"] if has_next else []
    after = after if has_next else []  # without a next heading the section runs to the end
    doc = "\n".join([*before, heading, *old, *next_heading, *after]) + "\n"
    replaced = example.replace_section(doc, heading, body)
    head = "\n".join([*before, heading]) + "\n"
    assert replaced.startswith(head)
    rest = "\n".join([*next_heading, *after]) + "\n" if has_next else ""
    assert replaced.endswith(rest)
    middle = replaced[len(head):len(replaced) - len(rest)]
    assert middle.strip("\n") == body.strip("\n")
    # Idempotent: the same body again changes nothing.
    assert example.replace_section(replaced, heading, body) == replaced


def test_replace_section_ignores_headings_inside_code():
    doc = "## A\nold\n```bash\n# a shell comment\n## not a heading\n```\nold\n## B\nkept\n"
    assert example.replace_section(doc, "## A", "new") == "## A\n\nnew\n\n## B\nkept\n"


def test_replace_section_refuses_a_missing_or_repeated_heading():
    with pytest.raises(example.ExampleError):
        example.replace_section("# doc\n", "## Worked example", "x")
    with pytest.raises(example.ExampleError):
        example.replace_section("## A\n## A\n", "## A", "x")
