"""Examples of bodies for the OpenAPI document, built from the models' own so they cannot disagree."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode
from starlette.routing import BaseRoute


def example_of(model: type[BaseModel]) -> dict[str, Any]:
    """The first example `model` declares (`json_schema_extra={"examples": [...]}`)."""
    examples = model.model_json_schema().get("examples")
    if not examples:
        raise LookupError(f"{model.__name__} declares no example")
    return examples[0]


def list_example(item: type[BaseModel]) -> dict[str, Any]:
    """A list body (CONTRACT.md §4) holding the item model's example: the first page, of one item."""
    return {"items": [example_of(item)], "total": 1, "limit": 20, "offset": 0}


def _body_types(routes: Iterable[BaseRoute]) -> Iterator[tuple[Any, JsonSchemaMode]]:
    for route in iter_route_contexts(list(routes)):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        if route.body_field is not None:
            yield route.body_field.field_info.annotation, "validation"
        if route.response_model is not None:
            yield route.response_model, "serialization"
        for response in route.responses.values():
            if response.get("model") is not None:
                yield response["model"], "serialization"


@cache
def _declared_examples(body_types: tuple[tuple[Any, JsonSchemaMode], ...]) -> dict[str, dict[str, Any]]:
    """Definition name -> the definition pydantic makes, for every model the bodies hold (computed once)."""
    declared: dict[str, dict[str, Any]] = {}
    for mode in ("validation", "serialization"):
        types = tuple(dict.fromkeys(body_type for body_type, used_in in body_types if used_in == mode))
        if types:
            # In a tuple every model, however outermost, becomes a named definition, named as FastAPI names it.
            bodies = TypeAdapter(tuple.__class_getitem__(types))
            for name, definition in bodies.json_schema(mode=mode).get("$defs", {}).items():
                declared.setdefault(name, definition)
    return declared


def restore_null_examples(schema: dict[str, Any], routes: Iterable[BaseRoute]) -> None:
    """Puts back the nulls FastAPI drops from the document, examples' included (fastapi/fastapi#5559).

    A component's examples are taken again from pydantic's own schema of the models the routes
    use, which names its definitions as FastAPI's components are named.
    """
    declared = _declared_examples(tuple(_body_types(routes)))
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        definition = declared.get(name) or declared.get(name.removesuffix("-Input").removesuffix("-Output"), {})
        for key in ("examples", "example"):
            if key in definition and key in component:
                component[key] = copy.deepcopy(definition[key])  # the cache stays as pydantic made it
