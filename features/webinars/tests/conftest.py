import pytest

from features.webinars.tests.factories import BASE, webinar_body


@pytest.fixture
def create_webinar(client, editor_headers):
    async def create(slug="lead-scoring-101", **overrides):
        response = await client.post(BASE, json=webinar_body(slug, **overrides), headers=editor_headers)
        assert response.status_code == 201, response.text
        return response.json()

    return create
