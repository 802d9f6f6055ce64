"""Every integer the API accepts has an upper bound in its schema.

An unbounded integer reaches the database: SQLite refuses one above 2**63 - 1 with an
OverflowError (a 500), PostgreSQL's BIGINT with an error, and a bound checked later in a
service names no field. Pydantic checks a declared ``le`` before any use case runs, with a
422 naming the field. This test walks the OpenAPI document (request bodies, nested objects,
arrays, query and path parameters) so a route added later is covered without editing it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.api.helpers import build_app

SQLITE_INTEGER_MAX = 2**63 - 1


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _unbounded(spec: dict[str, Any], schema: dict[str, Any], where: str,
               seen: set[str]) -> list[str]:
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return []
        seen = seen | {schema["$ref"]}
    schema = _resolve(spec, schema)
    found: list[str] = []
    if schema.get("type") == "integer":
        bound = schema.get("maximum", schema.get("exclusiveMaximum"))
        if bound is None or bound > SQLITE_INTEGER_MAX:
            found.append(where)
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found += _unbounded(spec, option, where, seen)
    for name, sub in schema.get("properties", {}).items():
        found += _unbounded(spec, sub, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        found += _unbounded(spec, schema["items"], f"{where}[]", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        found += _unbounded(spec, schema["additionalProperties"], f"{where}{{}}", seen)
    return found


def test_every_integer_the_api_accepts_is_bounded(tmp_path: Path, clock: Any) -> None:
    app = build_app(f"sqlite:///{tmp_path / 'spec.db'}", clock)
    try:
        spec = app.openapi()
    finally:
        app.state.runtime.close()
    unbounded: list[str] = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                unbounded += _unbounded(spec, parameter.get("schema", {}),
                                        f"{name} ?{parameter['name']}", set())
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                unbounded += _unbounded(spec, media.get("schema", {}), f"{name} body", set())
    assert unbounded == [], "integers without an upper bound:\n" + "\n".join(unbounded)
