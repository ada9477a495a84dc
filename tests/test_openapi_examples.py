"""Every JSON body a successful operation answers with has a real example, valid against its own schema.

Swagger UI shows an example for each response; without one it invents `"string"` and
`"additionalProp1"`. Validating the examples keeps them from drifting from the models.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

REF_PREFIX = "#/components/schemas/"
PLACEHOLDERS = {"string", "additionalProp1"}


@pytest.fixture
async def document(client) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _success_schemas(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if status.startswith("2") and schema is not None:
                    yield f"{method.upper()} {path} {status}", schema


def _referenced(schema: Any, components: dict[str, Any], seen: set[str]) -> set[str]:
    """Names of the component schemas `schema` refers to, directly or through other components."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            name = ref.removeprefix(REF_PREFIX)
            if name not in seen:
                seen.add(name)
                _referenced(components[name], components, seen)
        for key, value in schema.items():
            if key not in {"examples", "example", "default"}:
                _referenced(value, components, seen)
    elif isinstance(schema, list):
        for item in schema:
            _referenced(item, components, seen)
    return seen


def _models_in_success_responses(document: dict[str, Any]) -> dict[str, set[str]]:
    """Component name -> the responses it appears in; enums are values, not models, and are left out."""
    components = document["components"]["schemas"]
    found: dict[str, set[str]] = {}
    for where, schema in _success_schemas(document):
        assert "$ref" in str(schema), f"{where}: an inline response schema has no component to carry an example"
        for name in _referenced(schema, components, set()):
            if "enum" not in components[name]:
                found.setdefault(name, set()).add(where)
    return found


def _examples(component: dict[str, Any]) -> list[Any]:
    return [*component.get("examples", []), *([component["example"]] if "example" in component else [])]


def _placeholders_in(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [key for key in value if key in PLACEHOLDERS] + [p for v in value.values() for p in _placeholders_in(v)]
    if isinstance(value, list):
        return [p for v in value for p in _placeholders_in(v)]
    return [value] if value in PLACEHOLDERS else []


async def test_every_model_of_a_success_response_has_an_example(document) -> None:
    components = document["components"]["schemas"]
    models = _models_in_success_responses(document)
    assert {"TokenPair", "ListPage_PageStaffView_", "WebinarVisitorListPage", "SystemHealth", "Availability"} <= set(models)
    missing = {name: sorted(where)[0] for name, where in models.items() if not _examples(components[name])}
    assert not missing, f"models without an example (and one response using each): {missing}"


async def test_examples_are_real_values_not_placeholders(document) -> None:
    components = document["components"]["schemas"]
    for name in _models_in_success_responses(document):
        for example in _examples(components[name]):
            assert not _placeholders_in(example), (name, example)


async def test_every_example_is_valid_against_its_schema(document) -> None:
    """Response models' examples, and request bodies' and error bodies' too."""
    jsonschema_rs = pytest.importorskip("jsonschema_rs")  # schemathesis brings it
    components = document["components"]["schemas"]
    with_examples = {name for name, component in components.items() if _examples(component)}
    assert set(_models_in_success_responses(document)) <= with_examples
    assert {"PageCreate", "BookingCreate", "ErrorResponse"} <= with_examples
    checked = 0
    for name in sorted(with_examples):
        # The component as the root's $ref, with every other component beside it to resolve against.
        root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": f"{REF_PREFIX}{name}",
                "components": document["components"]}
        validator = jsonschema_rs.validator_for(root, validate_formats=True)
        for example in _examples(components[name]):
            errors = [f"{error.instance_path}: {error.message}" for error in validator.iter_errors(example)]
            assert not errors, (name, errors)
            checked += 1
    assert checked >= 50


async def test_nulls_in_examples_reach_the_document(document) -> None:
    """FastAPI drops every null from the document (fastapi/fastapi#5559); a nullable required field keeps its."""
    components = document["components"]["schemas"]
    assert components["WebinarStaffView"]["examples"][0]["cancelled_at"] is None
    assert components["PageStaffView"]["examples"][0]["deleted_at"] is None
    assert components["WhitepaperCreate"]["examples"][0]["cover_media_id"] is None  # a request's example too
    assert components["ErrorResponse"]["examples"][0]["error"]["field"] is None


async def test_a_page_of_items_shows_its_items_example(document) -> None:
    components = document["components"]["schemas"]
    for name in ("ListPage_PageStaffView_", "ListPage_MediaStaffView_", "ListPage_UserStaffView_"):
        [example] = components[name]["examples"]
        item_name = name.removeprefix("ListPage_").removesuffix("_")
        assert example["items"] == components[item_name]["examples"][:1], name
        assert example["total"] >= len(example["items"]) and example["limit"] == 20 and example["offset"] == 0
