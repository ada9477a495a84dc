"""The reference: a bare FastAPI app that returns the same JSON from a dict."""

import json
import os

from fastapi import FastAPI

app = FastAPI()
PAGE = json.loads(os.environ.get("REFERENCE_PAGE_JSON", "{}"))


@app.get("/page")
async def page() -> dict:
    return PAGE


@app.get("/hello")
async def hello() -> dict:
    return {"hello": "world"}
