"""What the pages slice's tests build: request bodies, files and small helpers (its fixtures are in
conftest.py, and use these)."""



def page_body(slug="about-us", **overrides):
    return {
        "slug": slug,
        "title": {"en": "About us", "de": "Über uns"},
        "content": {"en": "<p>We build things.</p>", "de": "<p>Wir bauen Dinge.</p>"},
        "meta_description": {"en": "Who we are"},
        **overrides,
    }
