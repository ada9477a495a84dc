"""/docs and /redoc work offline: assets come from this server, and a headless Chromium renders them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from tests.factories import free_port, running_server

DOC_PAGES = ("/docs", "/redoc")
EXPECTED_TYPE = {"script": "javascript", "link": "text/css"}
# Markup that only exists once the page's JavaScript has fetched /openapi.json and rendered it.
RENDERED = {
    "/docs": ['class="opblock ', 'data-path="/api/v1/auth/login"', 'data-path="/api/v1/health"'],
    "/redoc": ['id="operation/login"', 'id="operation/read_health"', ">/api/v1/auth/login<"],
}


class AssetLinks(HTMLParser):
    """Collects (tag, url) for every <script src> and <link href> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        url = dict(attrs).get({"script": "src", "link": "href"}.get(tag, ""))
        if url:
            self.links.append((tag, url))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real uvicorn process, as `magnetiq serve` runs it; yields its base URL."""
    tmp = tmp_path_factory.mktemp("docs")
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'docs.db'}",
        "UPLOAD_DIR": str(tmp / "media"),
        "WORKER_ENABLED": "false",
        "ENVIRONMENT": "test",
    }
    # Migrated first, as `make run` does: /health answers 200 only on a schema at head.
    subprocess.run([sys.executable, "-m", "magnetiq.cli", "db", "upgrade"], cwd=tmp, env=env, check=True, capture_output=True)
    command = [sys.executable, "-m", "uvicorn", "magnetiq.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port)]
    with running_server(command, cwd=tmp, env=env, deadline_seconds=20):
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("page", DOC_PAGES)
def test_doc_assets_are_served_locally(server: str, page: str) -> None:
    """Every script and stylesheet is a same-origin path this server answers; no CDN is needed."""
    response = httpx.get(f"{server}{page}")
    assert response.status_code == 200
    parser = AssetLinks()
    parser.feed(response.text)
    assets = [(tag, url) for tag, url in parser.links if not url.startswith("data:")]  # data: needs no network
    assert any(tag == "script" for tag, _ in assets), parser.links
    for tag, url in assets:
        assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url} from another origin"
        asset = httpx.get(f"{server}{url}")
        assert asset.status_code == 200, f"{url}: {asset.status_code}"
        assert EXPECTED_TYPE[tag] in asset.headers["content-type"], f"{url}: {asset.headers['content-type']}"


@pytest.mark.parametrize("page", DOC_PAGES)
def test_browser_renders_docs_offline(server: str, page: str, tmp_path: Path) -> None:
    """Headless Chromium runs the page's JavaScript and shows the API's operations."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed; run `make browser` (Debian's chromium package)")
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--proxy-server=127.0.0.1:9",  # every non-loopback request fails, as on a machine with no internet
        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000", "--dump-dom", f"{server}{page}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    missing = [marker for marker in RENDERED[page] if marker not in result.stdout]
    assert not missing, f"{page} did not render {missing}; DOM starts:\n{result.stdout[:2000]}"
