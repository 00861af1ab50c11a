"""The API describes itself: OpenAPI JSON and interactive docs served without any CDN."""

import re

import pytest
from django.test import Client

from caseloop.api.tests.conftest import BASE

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    ("get", "/api/v1/cases"),
    ("post", "/api/v1/cases"),
    ("get", "/api/v1/cases/{case_id}"),
    ("post", "/api/v1/cases/{case_id}/notes"),
    ("post", "/api/v1/cases/{case_id}/attachments"),
    ("post", "/api/v1/cases/{case_id}/contact-attempts"),
    ("post", "/api/v1/cases/{case_id}/tasks/{task_id}/complete"),
    ("post", "/api/v1/cases/{case_id}/tasks/{task_id}/undo"),
    ("post", "/api/v1/cases/{case_id}/assign"),
    ("post", "/api/v1/cases/{case_id}/watchers"),
    ("delete", "/api/v1/cases/{case_id}/watchers/{user_id}"),
    ("post", "/api/v1/cases/{case_id}/close"),
    ("post", "/api/v1/cases/{case_id}/reopen"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{token_id}"),
    ("post", "/api/v1/responses"),
    ("post", "/api/v1/webhooks/survey/{program_code}"),
}
# Survey platforms sign their posts with the program's secret instead of a user's token.
HMAC_SIGNED = "/api/v1/webhooks/survey/{program_code}"


def test_openapi_lists_every_endpoint(client: Client) -> None:
    response = client.get(f"{BASE}/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    listed = {(method, path) for path, ops in schema["paths"].items() for method in ops}
    assert listed == ENDPOINTS


def test_every_endpoint_requires_token_or_session(client: Client) -> None:
    schema = client.get(f"{BASE}/openapi.json").json()
    for path, ops in schema["paths"].items():
        if path == HMAC_SIGNED:
            continue
        for op in ops.values():
            assert op["security"] == [{"TokenAuth": []}, {"BrowserSessionAuth": []}]


def test_every_endpoint_documents_the_error_shape(client: Client) -> None:
    schema = client.get(f"{BASE}/openapi.json").json()
    for path, ops in schema["paths"].items():
        if path == HMAC_SIGNED:
            continue
        for op in ops.values():
            error = op["responses"]["422"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorOut"}


def test_docs_page_is_served_from_our_own_static_files(client: Client) -> None:
    response = client.get(f"{BASE}/docs")
    assert response.status_code == 200
    html = response.content.decode()
    external = re.findall(r"""(?:src|href)=["'](https?:)?//""", html)
    assert external == []
    assert not re.search(r"cdn\.|jsdelivr|unpkg", html)
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)""", html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
