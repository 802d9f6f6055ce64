"""Every operation of /openapi.json is documented for a reader of /docs and /redoc: a summary,
a description (for a POST, with its Idempotency-Key rule), an example of every request body
that validates with the body's own model, and an example of every JSON answer that validates
with the answer's model (issue #15 item 4)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from creditpay.api.app import create_app
from creditpay.api.runtime import ApiConfig
from creditpay.config import Settings
from creditpay.platform.keys import LocalMasterKey, generate_key_bytes


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("openapi-docs")
    app = create_app(Settings.of(database_url=f"sqlite:///{folder / 'api.db'}"),
                     config=ApiConfig(master_key=LocalMasterKey(generate_key_bytes()),
                                      background_jobs=False))
    try:
        yield app
    finally:
        app.state.runtime.close()


@pytest.fixture(scope="module")
def spec(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in spec["paths"].items()
            for method, op in item.items()]


def _routes(app: FastAPI) -> list[APIRoute]:
    """The documented routes: FastAPI keeps an included router's routes on the router it
    included (``original_router``), not in ``app.routes``."""
    found: list[APIRoute] = []
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        if isinstance(route, APIRoute):
            if route.include_in_schema:
                found.append(route)
        elif hasattr(route, "original_router"):
            pending.extend(route.original_router.routes)
    return found


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def _has_example(spec: dict[str, Any], media: dict[str, Any]) -> bool:
    if media.get("example") is not None or media.get("examples"):
        return True
    schema = _resolve(spec, media.get("schema", {}))
    return bool(schema.get("examples") or schema.get("example") is not None)


def _examples_of(model: type[BaseModel]) -> list[Any]:
    extra = model.model_config.get("json_schema_extra")
    return list(extra.get("examples", [])) if isinstance(extra, dict) else []


def _body_model(route: APIRoute) -> type[BaseModel] | None:
    if route.body_field is None:
        return None
    model = route.body_field.field_info.annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def test_the_document_has_every_operation_it_had(app, spec):
    # A guard for the checks below: they loop over the operations and routes, so an empty
    # document, or routes not found, would pass them all.
    assert len(_operations(spec)) >= 90
    assert len(_routes(app)) == len(_operations(spec))


def test_every_operation_has_a_summary_and_a_description(spec):
    missing = [f"{m} {p}" for m, p, op in _operations(spec)
               if not op.get("summary", "").strip() or len(op.get("description", "")) < 40]
    assert missing == []


def test_every_post_says_its_idempotency_rule(spec):
    """Every POST requires the header (routes' ``IdempotencyKey``); its description says so
    and what a retry gets."""
    posts = [(p, op) for m, p, op in _operations(spec) if m == "POST"]
    keyed = [(p, op) for p, op in posts
             if any(x.get("name") == "Idempotency-Key" for x in op.get("parameters", []))]
    assert keyed, "the POSTs take an Idempotency-Key header"
    missing = [p for p, op in keyed if "Idempotency-Key" not in op["description"]]
    assert missing == []


def test_the_descriptions_are_the_routes_own(spec):
    """Not one text pasted everywhere: each operation says what it does."""
    texts = [op["description"] for _, _, op in _operations(spec)]
    repeated = sorted({t for t in texts if texts.count(t) > 1})
    assert repeated == []


def test_every_request_body_has_an_example(spec):
    missing = [f"{m} {p}" for m, p, op in _operations(spec) if "requestBody" in op
               and not all(_has_example(spec, media)
                           for media in op["requestBody"]["content"].values())]
    assert missing == []


def test_every_json_answer_has_an_example(spec):
    missing = []
    for m, p, op in _operations(spec):
        for status, response in op["responses"].items():
            if not status.startswith("2"):
                continue
            for media_type, media in response.get("content", {}).items():
                if "json" in media_type and not _has_example(spec, media):
                    missing.append(f"{m} {p} {status}")
    assert missing == []


def test_every_request_example_validates_with_its_model(app):
    """As FastAPI reads a body: the parsed JSON in pydantic's Python mode (strict models)."""
    checked = 0
    for route in _routes(app):
        model = _body_model(route)
        if model is None:
            continue
        examples = _examples_of(model)
        assert examples, f"{route.path}: {model.__name__} has no example"
        for example in examples:
            model.model_validate(example)
            checked += 1
    assert checked >= 40


def test_every_answer_example_validates_with_its_model(app):
    checked = 0
    for route in _routes(app):
        model = route.response_model
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        examples = _examples_of(model)
        assert examples, f"{route.path}: {model.__name__} has no example"
        for example in examples:
            model.model_validate(example)
            checked += 1
    assert checked >= 80


def test_a_bad_example_would_be_caught():
    """The validation above is real: a request model refuses what its example must not be."""
    from pydantic import ValidationError

    from creditpay.api.schemas import CardMoveIn

    with pytest.raises(ValidationError):
        CardMoveIn.model_validate({"card_id": "card_1", "amount_minor": "100.00"})


def test_operation_ids_stay_readable(spec):
    ids = [op["operationId"] for _, _, op in _operations(spec)]
    assert len(ids) == len(set(ids))
    assert all(i.isidentifier() and i == i.lower() and "_v1_" not in i for i in ids)
