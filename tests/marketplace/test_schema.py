"""The OpenAPI schema generates cleanly and the docs render from local assets."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client


def test_schema_generates_without_warnings(tmp_path) -> None:
    out = tmp_path / "schema.yml"
    # --fail-on-warn turns any drf-spectacular warning into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = out.read_text()
    for path in [
        "/api/v1/auth/register/shop/",
        "/api/v1/auth/register/courier/",
        "/api/v1/auth/token/",
        "/api/v1/courier/me/",
        "/api/v1/shop/me/",
    ]:
        assert f"  {path}:" in schema


@pytest.mark.django_db
def test_schema_endpoint_serves_json(client: Client) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Courier Marketplace API"


@pytest.mark.django_db
def test_swagger_ui_loads_only_local_assets(client: Client) -> None:
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in asset for asset in assets)
    assert all(asset.startswith("/static/") for asset in assets), assets
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        # Reading a streamed file to its end closes it (else: an unclosed file warning).
        assert b"".join(served.streaming_content), asset


@pytest.mark.django_db
def test_schema_documents_the_error_shape_per_operation(client: Client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    assert schema["components"]["schemas"]["Error"]["required"] == ["code", "message", "fields"]
    signup = schema["paths"]["/api/v1/auth/register/shop/"]["post"]["responses"]
    assert sorted(signup) == ["201", "400", "413", "415", "429"]
    profile = schema["paths"]["/api/v1/courier/me/"]["get"]["responses"]
    assert sorted(profile) == ["200", "401", "403", "429"]
    error_ref = profile["401"]["content"]["application/json"]["schema"]["$ref"]
    assert error_ref == "#/components/schemas/Error"
