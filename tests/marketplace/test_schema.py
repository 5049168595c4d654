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


@pytest.mark.django_db
def test_every_operation_documents_the_errors_its_shape_implies(client: Client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    error_ref = {"$ref": "#/components/schemas/Error"}

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            where = f"{method.upper()} {path}"
            expected = {"429"}
            if method in {"post", "put", "patch"}:
                expected |= {"400", "413", "415"}
            if "{" in path:
                expected.add("404")
            if any(operation.get("security", [])):
                expected |= {"401", "403"}
            assert expected <= set(responses), (where, sorted(responses))
            for status in expected:
                content = responses[status]["content"]["application/json"]["schema"]
                assert content == error_ref, (where, status)


@pytest.mark.django_db
def test_views_declare_their_own_conflicts_and_unprocessable(client: Client) -> None:
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()[
        "paths"
    ]

    cancel = paths["/api/v1/jobs/{id}/cancel/"]["post"]["responses"]
    assert "`invalid_transition`" in cancel["409"]["description"]
    quote = paths["/api/v1/quotes/"]["post"]["responses"]
    assert "`outside_service_area`" in quote["422"]["description"]
    post = paths["/api/v1/jobs/"]["post"]["responses"]
    assert {"404", "409", "422"} <= set(post)
    location = paths["/api/v1/courier/location/"]["post"]["responses"]
    assert "`courier_offline`" in location["409"]["description"]
    token = paths["/api/v1/auth/token/"]["post"]["responses"]
    assert "`invalid_credentials`" in token["400"]["description"]
    listing = paths["/api/v1/jobs/"]["get"]["responses"]
    assert {"400", "404"} <= set(listing)  # bad query parameters; a page past the last


@pytest.mark.django_db
def test_blank_outputs_and_the_password_policy_are_declared(client: Client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]

    blank_or = [{"type": "string", "maxLength": 0}]
    assert components["ShopOutput"]["properties"]["webhook_url"]["anyOf"][1:] == blank_or
    assert components["UserOutput"]["properties"]["email"]["anyOf"][1:] == blank_or
    password = components["ShopRegisterInputRequest"]["properties"]["password"]
    assert password["minLength"] == 8
    pattern = re.compile(password["pattern"])
    assert [bool(pattern.search(p)) for p in ("12345678", "1234567a", "abc\x00defg")] == [
        False,
        True,
        False,
    ]


@pytest.mark.django_db
def test_links_lead_from_a_quote_to_its_job(client: Client) -> None:
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()[
        "paths"
    ]

    quote_links = paths["/api/v1/quotes/"]["post"]["responses"]["201"]["links"]
    assert quote_links["PostJobFromQuote"] == {
        "operationId": "job_create",
        "requestBody": {"quote_id": "$response.body#/id"},
    }
    job_links = paths["/api/v1/jobs/"]["post"]["responses"]["201"]["links"]
    assert job_links["CancelJob"]["operationId"] == "v1_jobs_cancel_create"


def _request_strings(node, components, seen=None):
    """Every string schema reachable from a request body, through its references."""
    seen = set() if seen is None else seen
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/") and ref not in seen:
            seen.add(ref)
            yield from _request_strings(components[ref.rsplit("/", 1)[1]], components, seen)
        if node.get("type") == "string":
            yield node
        for value in node.values():
            yield from _request_strings(value, components, seen)
    elif isinstance(node, list):
        for value in node:
            yield from _request_strings(value, components, seen)


@pytest.mark.django_db
def test_every_free_text_string_in_a_request_says_it_refuses_nul(client: Client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    strings = [
        string
        for operations in schema["paths"].values()
        for operation in operations.values()
        for string in _request_strings(operation.get("requestBody", {}), components)
    ]

    free_text = [s for s in strings if not ({"format", "enum"} & s.keys())]
    assert len(free_text) > 20
    # Each pattern refuses a NUL, as the server does (PostgreSQL text cannot hold one).
    for string in free_text:
        assert "pattern" in string, string
        assert not re.search(string["pattern"], "te\x00xt"), string


@pytest.mark.django_db
def test_a_nul_in_free_text_is_refused_naming_the_field(courier_client) -> None:
    response = courier_client.post(
        "/api/v1/courier/offers/00000000-0000-0000-0000-000000000000/decline/",
        {"reason": "no\x00thanks"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["fields"] == {"reason": ["Null characters are not allowed."]}


# Every character Python's str.strip() removes, which is what DRF trims.
PYTHON_WHITESPACE = [chr(c) for c in range(0x110000) if chr(c).isspace()]


@pytest.mark.django_db
def test_trimmed_text_that_may_not_be_blank_says_so(client: Client) -> None:
    import jsonschema_rs

    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    first_name = components["CourierRegisterInputRequest"]["properties"]["first_name"]
    # ECMA-262, as schemathesis and any client validator read the pattern.
    validator = jsonschema_rs.validator_for(first_name)

    assert len(PYTHON_WHITESPACE) == 29
    assert [c for c in PYTHON_WHITESPACE if validator.is_valid(c + c)] == []
    assert [validator.is_valid(s) for s in (" Ann ", "\ufeff", "A\nB", "A\x00")] == [
        True,
        True,
        True,
        False,
    ]
    # Fields that may be blank, or keep their whitespace, are not held to it.
    reason = components["CourierOfferDeclineInputRequest"]["properties"]["reason"]
    password = components["CredentialsRequest"]["properties"]["password"]
    assert jsonschema_rs.validator_for(reason).is_valid("  ")
    assert jsonschema_rs.validator_for(password).is_valid("        ")


@pytest.mark.django_db
@pytest.mark.parametrize("blank", ["  ", "\u0085", "\x1c\u3000"])
def test_blank_text_is_refused_naming_the_field(client: Client, blank: str) -> None:
    from django.contrib.auth import get_user_model

    response = client.post(
        "/api/v1/auth/register/courier/",
        {
            "username": "ann",
            "password": "a-long-password-1",
            "vehicle": "bike",
            "first_name": blank,
        },
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["fields"] == {"first_name": ["This field may not be blank."]}
    assert not get_user_model().objects.filter(username="ann").exists()
