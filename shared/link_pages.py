"""The small HTML pages behind a personal link in a mail (cancel a booking, confirm or end a subscription).

Opening such a page changes nothing (mail scanners and link previews follow links); its button
POSTs back to the same URL. Every value is escaped here or by the caller, as each function says.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request

# The page holds a working button: no framing, no scripts, no caching, no referrer (the URL is the key).
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}"
    "dt{font-weight:600}button{font-size:1rem;padding:.5rem 1rem}"
)


def link_page(*, language: str, title: str, body: str) -> str:
    """A whole page: `title` (plain text, escaped here) as title and heading, then `body` (HTML the caller escaped)."""
    heading = escape(title)
    return (
        f'<!doctype html>\n<html lang="{escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{heading}</title><style>{_STYLE}</style>"
        f"</head><body><h1>{heading}</h1>{body}</body></html>\n"
    )


def post_button(label: str) -> str:
    """A form that POSTs to the very URL the visitor opened, wherever a proxy mounted it (no action)."""
    return f'<form method="post"><button type="submit">{escape(label)}</button></form>'


# OpenAPI: a page route's 200 is HTML; its errors are the JSON envelope (`error_responses`).
HTML_CONTENT = {"text/html": {"schema": {"type": "string"}}}


def wants_json(request: Request) -> bool:
    """Whether the POST came from a script that asked for JSON rather than from the page's button."""
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "text/html" not in accept
