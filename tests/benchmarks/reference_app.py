"""The reference: a bare FastAPI app that returns the same JSON from a dict (the page's at /page,
a list's at /list)."""

import json
import os

from fastapi import FastAPI

app = FastAPI()
PAGE = json.loads(os.environ.get("REFERENCE_PAGE_JSON", "{}"))
LIST = json.loads(os.environ.get("REFERENCE_LIST_JSON", "{}"))


@app.get("/page")
async def page() -> dict:
    return PAGE


@app.get("/list")
async def list_() -> dict:
    return LIST


@app.get("/hello")
async def hello() -> dict:
    return {"hello": "world"}
