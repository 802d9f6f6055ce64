"""The OpenAPI document describes the webhooks merchants receive: one entry per event type
the payments domain emits, each with its payload model and the signature header."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.api.webhook_events import EVENT_TYPES
from creditpay.config import Settings
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes


def _spec(tmp_path: Path) -> dict[str, Any]:
    app = create_app(Settings.of(database_url=f"sqlite:///{tmp_path / 'api.db'}"),
                     config=ApiConfig(master_key=LocalMasterKey(generate_key_bytes())))
    try:
        return app.openapi()
    finally:
        app.state.runtime.close()


def test_every_emitted_event_type_is_a_documented_webhook(tmp_path: Path) -> None:
    source = "\n".join(p.read_text() for p in Path("src/creditpay/payments").glob("*.py"))
    emitted = set(re.findall(r'emit\(tx, "([a-z_]+\.[a-z_]+)"', source))
    assert emitted and emitted == set(EVENT_TYPES)
    webhooks = _spec(tmp_path)["webhooks"]
    assert set(webhooks) == emitted


def test_each_webhook_has_its_payload_model_and_the_signature_header(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    schemas = spec["components"]["schemas"]
    for kind, item in spec["webhooks"].items():
        operation = item["post"]
        assert operation["operationId"] == "webhook_" + kind.replace(".", "_")
        headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
        assert "v1=" in headers["Creditpay-Signature"]["description"]
        assert headers["Creditpay-Signature"]["required"] is True
        assert "Creditpay-Event-Id" in headers
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        model = schemas[ref.rsplit("/", 1)[1]]
        assert model["properties"]["type"]["const"] == kind
        assert {"id", "type", "created_at", "data"} <= set(model["required"])
        data = schemas[model["properties"]["data"]["$ref"].rsplit("/", 1)[1]]
        assert {"id", "order_id", "status", "amount_minor", "currency"} <= set(data["required"])
        if kind == "refund.succeeded":
            assert "refund_amount_minor" in data["required"]


def test_every_reference_in_the_document_resolves(tmp_path: Path) -> None:
    """A $ref to a schema the document does not define breaks ReDoc (the webhooks once
    referenced FastAPI's validation error, which the document leaves out)."""
    import json

    document = _spec(tmp_path)
    defined = set(document["components"]["schemas"])
    text = json.dumps(document)
    refs = {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}
    assert refs and refs <= defined, refs - defined
