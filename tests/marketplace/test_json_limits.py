"""The strict JSON loader and the API's use of it: depth, 64-bit integers, NaN, size."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from rest_framework.test import APIClient

from couriers.models import Courier
from jobs.models import JobStatus
from marketplace import jsonsafe
from tests.jobs.test_courier_steps import job_in, snapshot, step_url

TOKEN_URL = "/api/v1/auth/token/"
QUOTES_URL = "/api/v1/quotes/"
# What the outside probe sent: 963 "[" then 963 "]" (1.9 KB).
PROBE_BODY = "[" * 963 + "]" * 963
TOO_DEEP = "JSON parse error - nested too deeply (more than 32 levels of arrays and objects)"
INT_RANGE = "JSON parse error - integer out of range (integers must fit in a signed 64-bit integer)"


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


# --- The loader --------------------------------------------------------------------------


def test_32_levels_parse_and_33_are_refused() -> None:
    assert jsonsafe.loads(nested(32)) == json.loads(nested(32))

    with pytest.raises(jsonsafe.JSONRejected) as refused:
        jsonsafe.loads(nested(33))
    assert refused.value.reason == "too_deep"
    assert refused.value.msg == "nested too deeply (more than 32 levels of arrays and objects)"


def test_objects_count_as_levels_like_arrays() -> None:
    text = '{"a": ' * 20 + nested(13) + "}" * 20

    with pytest.raises(jsonsafe.JSONRejected) as refused:
        jsonsafe.loads(text)
    assert refused.value.reason == "too_deep"


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = json.dumps({"note": "[" * 500 + '\\"{' * 100, "list": [[["ok"]]]})

    assert jsonsafe.loads(text) == json.loads(text)
    assert jsonsafe.nesting_depth(text) == 4


def test_many_shallow_siblings_are_fine() -> None:
    text = json.dumps([[i] for i in range(5000)])

    assert jsonsafe.loads(text) == [[i] for i in range(5000)]


def test_the_probe_that_crashed_the_decoder_is_refused_without_recursion() -> None:
    with pytest.raises(jsonsafe.JSONRejected) as refused:
        jsonsafe.loads("[" * 100_000 + "]" * 100_000)
    assert refused.value.reason == "too_deep"


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63), 0, -1])
def test_integers_within_64_bits_parse(value: int) -> None:
    assert jsonsafe.loads(json.dumps({"n": value})) == {"n": value}


@pytest.mark.parametrize("literal", [str(2**63), str(-(2**63) - 1), "9" * 5000, "-" + "1" * 30])
def test_integers_outside_64_bits_are_refused(literal: str) -> None:
    with pytest.raises(jsonsafe.JSONRejected) as refused:
        jsonsafe.loads('{"n": ' + literal + "}")
    assert refused.value.reason == "integer_range"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_nan_infinity_and_overflowing_floats_are_refused(literal: str) -> None:
    with pytest.raises(jsonsafe.JSONRejected) as refused:
        jsonsafe.loads("[" + literal + "]")
    assert refused.value.reason == "number_range"


def test_floats_and_strings_parse_as_usual() -> None:
    assert jsonsafe.loads('{"lat": 52.52, "e": 1.5e3, "s": "\\u00e9[", "n": null}') == {
        "lat": 52.52,
        "e": 1500.0,
        "s": "é[",
        "n": None,
    }


@pytest.mark.parametrize("data", ['"' + "x" * 99 + '"', ('"' + "é" * 49 + '"').encode()])
def test_documents_over_the_size_limit_are_refused(data: str | bytes) -> None:
    # 101 characters, or 100 bytes of UTF-8 for 51 characters.
    with pytest.raises(jsonsafe.JSONRejected) as refused:
        jsonsafe.loads(data, max_bytes=99)
    assert refused.value.reason == "too_large"
    assert jsonsafe.loads(data, max_bytes=101) is not None


def test_multibyte_text_is_measured_in_bytes() -> None:
    text = '"' + "é" * 40 + '"'  # 42 characters, 82 bytes

    with pytest.raises(jsonsafe.JSONRejected):
        jsonsafe.loads(text, max_bytes=81)
    assert jsonsafe.loads(text, max_bytes=82) == "é" * 40


def test_syntax_errors_keep_the_decoders_message() -> None:
    with pytest.raises(jsonsafe.JSONRejected) as refused:
        jsonsafe.loads("{")
    assert (refused.value.reason, refused.value.msg) == (
        "syntax",
        "Expecting property name enclosed in double quotes",
    )


def test_dumps_refuses_nan() -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        jsonsafe.dumps({"id": float("nan")})
    assert jsonsafe.dumps({"id": 1}) == '{"id": 1}'


# --- The API -----------------------------------------------------------------------------


def assert_logged_at_most_info(caplog: pytest.LogCaptureFixture) -> None:
    loud = [(r.name, r.levelname, r.getMessage()) for r in caplog.records if r.levelno > 20]
    assert loud == []


@pytest.mark.django_db
def test_anonymous_deep_json_is_400_parse_error_logged_at_info(
    api_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = api_client.post(TOKEN_URL, PROBE_BODY, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"code": "parse_error", "message": TOO_DEEP, "fields": {}}
    assert_logged_at_most_info(caplog)
    # Django still notes the bad request, at INFO.
    assert [(r.name, r.levelname) for r in caplog.records if r.name == "django.request"] == [
        ("django.request", "INFO")
    ]


def test_authenticated_deep_json_is_400_parse_error(
    shop_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = '{"pickup": ' + nested(40, "{}") + "}"
    with caplog.at_level(logging.DEBUG):
        response = shop_client.post(QUOTES_URL, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"code": "parse_error", "message": TOO_DEEP, "fields": {}}
    assert_logged_at_most_info(caplog)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"username": "a", "password": 99999999999999999999}', INT_RANGE),
        ('{"username": "a", "password": NaN}', "JSON parse error - NaN is not a JSON number"),
        ('{"username": "a", "password": 1e400}', "JSON parse error - number out of range"),
    ],
)
@pytest.mark.django_db
def test_out_of_range_numbers_in_a_body_are_400_parse_error(
    api_client: APIClient, body: str, message: str
) -> None:
    response = api_client.post(TOKEN_URL, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"code": "parse_error", "message": message, "fields": {}}


@pytest.mark.parametrize(
    ("position", "message"),
    [
        (nested(963), TOO_DEEP),
        ('{"lat": 52.5, "lng": ' + "1" * 5000 + "}", INT_RANGE),
        ('{"lat": NaN, "lng": 13.4}', "JSON parse error - NaN is not a JSON number"),
    ],
    ids=["deep", "huge-int", "nan"],
)
def test_a_multipart_json_field_is_read_by_the_same_strict_loader(
    courier: Courier,
    courier_client: APIClient,
    caplog: pytest.LogCaptureFixture,
    position: str,
    message: str,
) -> None:
    job = job_in(JobStatus.AT_PICKUP, courier=courier)
    before = snapshot(job)
    with caplog.at_level(logging.DEBUG):
        answer = courier_client.post(
            step_url(job, "pickup"), {"position": position}, format="multipart"
        )

    assert answer.status_code == 400
    assert answer.json() == {
        "code": "parse_error",
        "message": f"position: {message}",
        "fields": {"position": [message]},
    }
    assert snapshot(job) == before
    assert_logged_at_most_info(caplog)


def test_a_deep_json_body_on_a_multipart_capable_step_is_400_parse_error(
    courier: Courier, courier_client: APIClient
) -> None:
    job = job_in(JobStatus.AT_PICKUP, courier=courier)
    before = snapshot(job)
    body = '{"position": ' + nested(100, "{}") + "}"

    answer = courier_client.post(step_url(job, "pickup"), body, content_type="application/json")

    assert answer.status_code == 400
    assert answer.json() == {"code": "parse_error", "message": TOO_DEEP, "fields": {}}
    assert snapshot(job) == before


@pytest.mark.django_db
def test_the_parser_refuses_a_body_over_the_limit(settings: Any, api_client: APIClient) -> None:
    settings.MAX_REQUEST_BODY_BYTES = 64
    body = json.dumps({"username": "u" * 80, "password": "p"})

    response = api_client.post(TOKEN_URL, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["message"] == "JSON parse error - larger than 64 bytes"
