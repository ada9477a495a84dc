import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from shared.examples import example_of, list_example, restore_null_examples
from shared.pagination import ListPage


class Item(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": 1, "note": None}]})

    id: int
    note: str | None


class Bare(BaseModel):
    id: int


def test_a_page_of_items_shows_the_items_example():
    assert ListPage[Item].model_json_schema()["examples"] == [list_example(Item)]
    assert list_example(Item) == {"items": [{"id": 1, "note": None}], "total": 1, "limit": 20, "offset": 0}
    assert "examples" not in ListPage[Bare].model_json_schema()  # nothing to show: the OpenAPI test names it


def test_example_of_a_model_without_one_is_a_lookup_error():
    with pytest.raises(LookupError, match="Bare"):
        example_of(Bare)


def test_nulls_dropped_by_fastapi_are_restored_in_examples():
    app = FastAPI()

    @app.get("/items", response_model=ListPage[Item])
    async def items() -> None: ...

    @app.post("/items", response_model=Item)
    async def create(body: Item) -> None: ...

    schema = app.openapi()
    components = schema["components"]["schemas"]
    assert "note" not in components["Item"]["examples"][0]  # what FastAPI alone serves
    restore_null_examples(schema, app.routes)
    assert components["Item"]["examples"] == [{"id": 1, "note": None}]
    assert components["ListPage_Item_"]["examples"][0]["items"] == [{"id": 1, "note": None}]
