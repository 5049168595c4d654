"""Bad input on every operation of /api/schema/: hostile bodies, wrong types, huge numbers,
out-of-range coordinates, bad query parameters, oversized bodies, unknown content types and
someone else's object. Each gets its documented error, and nothing changes.

The tables are built from the schema, so a new endpoint is covered (or fails here) without
anyone remembering to add it. Illegal state changes (409) need a story per endpoint; the
``CONFLICT_TESTS`` table names the test that tells it, and fails for an endpoint it lacks.
"""

from __future__ import annotations

import importlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from channels.testing import HttpCommunicator
from django.apps import apps
from django.conf import settings
from django.test import Client

from jobs.models import Job, JobStatus, Offer
from jobs.tracking.tokens import job_tracking_token
from marketplace.asgi import application
from marketplace.asgi_limits import BodySizeLimit
from marketplace.models import User
from tests.factories import CourierFactory, JobFactory, OfferFactory, ShopUserFactory, UserFactory
from tests.jobs.test_courier_steps import job_in
from tests.marketplace.test_schema_fuzz import OPENAPI

pytestmark = pytest.mark.django_db

# Who may call an operation, by its tag: bad input must get past authentication to count.
CALLER_BY_TAG = {
    "auth": "anonymous",
    "tracking": "anonymous",
    "stripe": "anonymous",
    "shop": "shop",
    "payments": "shop",
    "jobs": "shop",
    "courier": "courier",
    "courier payouts": "courier",
    "staff": "staff",
    # A sandbox shop's test controls; a real shop's job is a 404 there, like another's.
    "sandbox": "shop",
    "disputes": "shop",
}
# Stripe's webhooks read the raw body: only a valid signature makes it an event.
RAW_BODY_OPERATIONS = {
    "POST /api/v1/payments/stripe/webhook/",
    "POST /api/v1/payments/stripe/connect-webhook/",
}
PARSE_ERROR = (400, "parse_error")
HOSTILE_BODIES = {
    "malformed": '{"reason": "x",',
    "nested-33": "[" * 33 + "]" * 33,
    "nested-in-a-field": '{"reason": ' + "[" * 40 + "]" * 40 + "}",
    "nan": '{"reason": NaN}',
    "infinity": '{"reason": -Infinity}',
    "float-overflow": '{"reason": 1e400}',
    "int-over-64-bits": '{"reason": 9223372036854775808}',
    "5000-digits": '{"reason": ' + "9" * 5000 + "}",
    "not-utf8": b'{"reason": "\xff\xfe"}',
}
NOT_AN_OBJECT = {"array": "[1, 2]", "string": '"text"', "number": "7", "null": "null"}
UNKNOWN_CONTENT_TYPES = ["text/plain", "application/xml", "application/x-www-form-urlencoded"]
# A value of another JSON type for each declared type.
WRONG_TYPE = {
    "string": 12345,
    "integer": "12",
    "number": "1.5",
    "boolean": "true",
    "object": [1],
    "array": {"a": 1},
}


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in OPENAPI["paths"].items()
        for method, operation in operations.items()
    ]


def _key(method: str, path: str) -> str:
    return f"{method} {path}"


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow $ref and the single-item allOf drf-spectacular writes for nullable objects."""
    while True:
        if "$ref" in schema:
            schema = OPENAPI["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        elif len(schema.get("allOf", [])) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def _body_schema(operation: dict[str, Any]) -> dict[str, Any]:
    return _resolve(operation["requestBody"]["content"]["application/json"]["schema"])


ALL = _operations()
# Operations on an object the world below does not build yet (a dispute): their view looks
# the object up before it reads the body, so a body test would only see the 404.
NOT_IN_THE_WORLD = {"POST /api/v1/courier/disputes/{id}/reply/"}
BODY_OPERATIONS = [
    (method, path)
    for method, path, operation in ALL
    if "requestBody" in operation and _key(method, path) not in NOT_IN_THE_WORLD
]
JSON_BODY_OPERATIONS = [
    (method, path)
    for method, path in BODY_OPERATIONS
    if _key(method, path) not in RAW_BODY_OPERATIONS
]
PATH_OPERATIONS = [(method, path) for method, path, _ in ALL if "{" in path]


def _ids(operations: list[tuple[str, str]]) -> list[str]:
    return [_key(method, path) for method, path in operations]


def _operation(method: str, path: str) -> dict[str, Any]:
    return OPENAPI["paths"][path][method.lower()]


def _caller(method: str, path: str) -> str:
    (tag,) = _operation(method, path)["tags"]
    return CALLER_BY_TAG[tag]


# --- The world: a shop, a courier on one of its jobs, an offer; and another party's ------------


@dataclass
class Party:
    shop_user: User
    courier_user: User
    job: Job
    offer: Offer
    token: str


def _party() -> Party:
    shop_user = ShopUserFactory(shop__payment_method=False)
    courier = CourierFactory()
    job = job_in(JobStatus.ASSIGNED, courier=courier, shop=shop_user.shop)
    offer = OfferFactory(courier=courier, job=JobFactory(shop=shop_user.shop))
    return Party(shop_user, courier.user, job, offer, job_tracking_token(job))


# Paths to objects nobody has, for requests refused before any lookup.
_GHOSTS = Party(User(), User(), Job(pk=uuid.uuid4()), Offer(pk=uuid.uuid4()), "x" * 32)


@pytest.fixture
def mine(standin: Any) -> Party:
    return _party()


@pytest.fixture
def theirs(standin: Any) -> Party:
    return _party()


@pytest.fixture
def staff() -> User:
    return UserFactory(is_staff=True)


def _url(path: str, party: Party) -> str:
    return (
        path.replace("{id}", str(party.job.pk))
        .replace("{offer_id}", str(party.offer.pk))
        .replace("{token}", party.token)
        .replace("{photo_pk}", str(uuid.uuid4()))
    )


def _client(caller: str, party: Party, staff: User) -> Client:
    user = {"shop": party.shop_user, "courier": party.courier_user, "staff": staff}.get(caller)
    if user is None:
        return Client()
    return Client(HTTP_AUTHORIZATION=f"Token {user.auth_token.key}")


def state() -> dict[str, list[str]]:
    """Every row of every model of ours, all its values: what a refused request leaves alone."""
    return {
        model._meta.label: sorted(_row(row) for row in model.objects.values())
        for app in ("marketplace", "couriers", "jobs", "payments")
        for model in apps.get_app_config(app).get_models()
    }


def _row(row: dict[str, Any]) -> str:
    # Geometries print their address in a repr; their EWKT is what they hold.
    return str(sorted((name, getattr(value, "ewkt", value)) for name, value in row.items()))


def send(
    client: Client, method: str, url: str, body: str | bytes, content_type: str = "application/json"
) -> Any:
    return getattr(client, method.lower())(url, data=body, content_type=content_type)


def mismatch(response: Any, status: int, code: str) -> str | None:
    """Why ``response`` is not the error ``status``/``code`` in the API's shape, or None."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} {response.content[:200]!r}"
    if response.status_code != status or not isinstance(body, dict):
        return f"{response.status_code} {body}"
    if set(body) != {"code", "message", "fields"} or body["code"] != code:
        return f"{response.status_code} {body}"
    if not isinstance(body["message"], str) or not body["message"]:
        return f"no message: {body}"
    return None


# --- Coverage of the tables -----------------------------------------------------------------


def test_every_operation_has_one_tag_that_names_its_caller() -> None:
    callers = {_key(method, path): _caller(method, path) for method, path, _ in ALL}

    assert set(callers.values()) == {"anonymous", "shop", "courier", "staff"}
    assert callers["POST /api/v1/jobs/"] == "shop"
    assert callers["POST /api/v1/courier/location/"] == "courier"


# --- Hostile bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS, ids=_ids(BODY_OPERATIONS))
def test_hostile_bodies_and_unknown_content_types_are_refused_and_change_nothing(
    mine: Party, staff: User, method: str, path: str
) -> None:
    client = _client(_caller(method, path), mine, staff)
    url = _url(path, mine)
    raw = _key(method, path) in RAW_BODY_OPERATIONS
    before = state()
    wrong = {}

    for attack, body in HOSTILE_BODIES.items():
        expected = (400, "invalid_signature") if raw else PARSE_ERROR
        wrong[attack] = mismatch(send(client, method, url, body), *expected)
    for attack, body in NOT_AN_OBJECT.items():
        expected = (400, "invalid_signature") if raw else (400, "validation_error")
        wrong[attack] = mismatch(send(client, method, url, body), *expected)
    for content_type in UNKNOWN_CONTENT_TYPES:
        expected = (400, "invalid_signature") if raw else (415, "unsupported_media_type")
        response = send(client, method, url, "reason=x", content_type=content_type)
        wrong[content_type] = mismatch(response, *expected)

    assert {attack: why for attack, why in wrong.items() if why} == {}
    assert state() == before


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS, ids=_ids(BODY_OPERATIONS))
async def test_a_body_over_the_limit_is_413_before_anything_reads_it(
    method: str, path: str
) -> None:
    url = _url(path, _GHOSTS)
    limit = BodySizeLimit(application, max_bytes=settings.MAX_REQUEST_BODY_BYTES).limit_for(url)
    body = b"[" + b" " * limit + b"]"
    communicator = HttpCommunicator(
        application, method, url, body=body, headers=[(b"content-type", b"application/json")]
    )

    response = await communicator.get_response(timeout=10)

    assert response["status"] == 413
    assert json.loads(response["body"]) == {
        "code": "request_too_large",
        "message": f"The request body is larger than {limit} bytes.",
        "fields": {},
    }


# --- Wrong types, huge numbers, coordinates -------------------------------------------------


# Fields a view reads only once the rest of the body is valid, so a body holding only a
# bad value for them is refused for the missing fields instead. Their bad values need a
# valid body around them; that test lives beside the feature.
READ_AFTER_THE_REST = {("POST /api/v1/jobs/", "test_specifications"): "tests/jobs/test_sandbox.py"}


def _field_cases() -> list[tuple[str, str, str, Any, tuple[str, ...]]]:
    """(method, path, case, body, the field path the error must name) per body field."""
    cases = []
    for method, path in JSON_BODY_OPERATIONS:
        schema = _body_schema(_operation(method, path))
        for name, declared in schema.get("properties", {}).items():
            if (_key(method, path), name) in READ_AFTER_THE_REST:
                continue
            cases += [
                (method, path, f"{name}:{case}", body, where)
                for case, body, where in _bad_values(name, _resolve(declared))
            ]
    return cases


def _bad_values(name: str, schema: dict[str, Any]) -> list[tuple[str, Any, tuple[str, ...]]]:
    if schema.get("readOnly"):
        return []
    declared = schema.get("type") or ("string" if "enum" in schema else None)
    values = []
    if declared in WRONG_TYPE:
        values.append(("wrong-type", {name: WRONG_TYPE[declared]}, (name,)))
    # Past a bound by 1 (a coordinate's 90 → 91), and by as much as JSON integers allow.
    if declared in {"number", "integer"} and "maximum" in schema:
        values.append(("above-maximum", {name: schema["maximum"] + 1}, (name,)))
        values.append(("int64-max", {name: 2**63 - 1}, (name,)))
    if declared in {"number", "integer"} and "minimum" in schema:
        values.append(("below-minimum", {name: schema["minimum"] - 1}, (name,)))
        values.append(("int64-min", {name: -(2**63)}, (name,)))
    if declared == "string" and "maxLength" in schema:
        values.append(("too-long", {name: "x" * (schema["maxLength"] + 1)}, (name,)))
    if declared == "object":
        properties = schema.get("properties", {})
        for inner, declared_inner in properties.items():
            values += [
                (f"{inner}:{case}", {name: body}, (name, *where))
                for case, body, where in _bad_values(inner, _resolve(declared_inner))
            ]
    return values


FIELD_CASES = _field_cases()


@pytest.mark.parametrize(("method", "path"), JSON_BODY_OPERATIONS, ids=_ids(JSON_BODY_OPERATIONS))
def test_a_bad_field_is_400_naming_it_and_changes_nothing(
    mine: Party, staff: User, method: str, path: str
) -> None:
    client = _client(_caller(method, path), mine, staff)
    cases = [case for case in FIELD_CASES if case[:2] == (method, path)]
    before = state()
    wrong = {}

    for _, _, case, body, where in cases:
        response = send(client, method, _url(path, mine), json.dumps(body))
        wrong[case] = mismatch(response, 400, "validation_error")
        named: Any = response.json().get("fields") if wrong[case] is None else None
        for depth, part in enumerate(where if named is not None else ()):
            # Messages on an enclosing field, or on another of its parts first: the
            # object the bad value is in was refused, and the error names it.
            if depth and (isinstance(named, list) or part not in named):
                break
            if not isinstance(named, dict) or part not in named:
                wrong[case] = f"fields do not name {'.'.join(where)}: {response.json()}"
                break
            named = named[part]

    assert {case: why for case, why in wrong.items() if why} == {}
    assert state() == before


def _integers(schema: dict[str, Any], where: str) -> list[tuple[str, dict[str, Any]]]:
    """Every integer in a request schema, by where it is."""
    schema = _resolve(schema)
    if schema.get("type") == "integer":
        return [(where, schema)]
    found = []
    for name, inner in schema.get("properties", {}).items():
        found += _integers(inner, f"{where}.{name}")
    if "items" in schema:
        found += _integers(schema["items"], f"{where}[]")
    return found


def test_every_integer_input_declares_its_range() -> None:
    """An integer without bounds would reach the database as whatever 64 bits allow."""
    unbounded = [
        where
        for method, path in JSON_BODY_OPERATIONS
        for where, schema in _integers(_body_schema(_operation(method, path)), _key(method, path))
        if "minimum" not in schema or "maximum" not in schema
    ]
    assert unbounded == []


# --- Query parameters -----------------------------------------------------------------------

BAD_QUERY_VALUES = {
    "integer": ["x", "1.5", "-1", "0", "", "99999999999999999999"],
    "date": ["x", "2026-13-01", "", "2026-1-1"],
    "date-time": ["x", "2026-01-01T25:00:00Z", ""],
    "enum": ["no-such-status", ""],
}


def _query_cases() -> list[tuple[str, str, str, str]]:
    cases = []
    for method, path, operation in ALL:
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            schema = parameter["schema"]
            kind = (
                "enum"
                if "enum" in schema or "enum" in schema.get("items", {})
                else schema.get("format") or schema["type"]
            )
            cases += [(method, path, parameter["name"], value) for value in BAD_QUERY_VALUES[kind]]
    return cases


QUERY_CASES = _query_cases()
QUERY_OPERATIONS = sorted({(method, path) for method, path, _, _ in QUERY_CASES})


@pytest.mark.parametrize(("method", "path"), QUERY_OPERATIONS, ids=_ids(QUERY_OPERATIONS))
def test_a_bad_query_parameter_is_400_naming_it(
    mine: Party, staff: User, method: str, path: str
) -> None:
    client = _client(_caller(method, path), mine, staff)
    wrong = {}

    for _, _, name, value in [case for case in QUERY_CASES if case[:2] == (method, path)]:
        response = client.get(_url(path, mine), {name: value})
        why = mismatch(response, 400, "validation_error")
        if why is None and list(response.json()["fields"]) != [name]:
            why = f"fields do not name {name}: {response.json()}"
        wrong[f"{name}={value!r}"] = why

    assert {case: why for case, why in wrong.items() if why} == {}


# --- Someone else's object ------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), PATH_OPERATIONS, ids=_ids(PATH_OPERATIONS))
def test_someone_elses_object_is_404_like_a_missing_one_and_changes_nothing(
    mine: Party, theirs: Party, staff: User, method: str, path: str
) -> None:
    caller = _caller(method, path)
    client = _client(caller, mine, staff)
    # Staff see every job, and a tracking link is its own key (whoever holds it may use
    # it): for them only a missing object is someone else's.
    urls = [_url(path, _missing(theirs))]
    if caller != "staff" and "{token}" not in path:
        urls.append(_url(path, theirs))
    body = json.dumps(VALID_BODIES.get(_key(method, path), {}))
    before = state()

    answers = [
        send(client, method, url, body) if method != "GET" else client.get(url) for url in urls
    ]

    assert [mismatch(response, 404, "not_found") for response in answers] == [None] * len(urls)
    assert answers[0].json() == answers[-1].json()
    assert state() == before


# Bodies a view accepts, for operations that read the body before looking up the object.
VALID_BODIES = {"POST /api/v1/jobs/{id}/tip/": {"amount_minor": 100}}


def _missing(party: Party) -> Party:
    """``party`` pointing at a job, an offer and a tracking link that do not exist."""
    ghost = Job(pk=uuid.uuid4())
    return Party(party.shop_user, party.courier_user, ghost, Offer(pk=uuid.uuid4()), "x" * 32)


# --- Illegal state changes ------------------------------------------------------------------

# Every operation documenting a 409, and the test that drives it there and checks the code
# and that nothing changed.
CONFLICT_TESTS = {
    "POST /api/v1/courier/availability/": "tests.couriers.test_live_api::"
    "test_going_offline_with_an_active_job_is_refused_and_nothing_changes",
    "POST /api/v1/courier/location/": "tests.couriers.test_live_api::"
    "test_an_offline_courier_is_refused_and_nothing_is_collected",
    **{
        f"POST /api/v1/courier/jobs/{{id}}/{step}/": "tests.jobs.test_courier_steps::"
        "test_a_step_the_status_does_not_allow_is_409_and_changes_nothing"
        for step in ("arrive-pickup", "pickup", "arrive-dropoff", "deliver", "fail", "returned")
    },
    "POST /api/v1/courier/jobs/{id}/drop/": "tests.jobs.test_courier_drop::"
    "test_drop_after_pickup_is_409_and_changes_nothing",
    "POST /api/v1/courier/offers/{offer_id}/accept/": "tests.jobs.test_offers_api::"
    "test_accept_after_decline_is_409",
    "POST /api/v1/courier/offers/{offer_id}/decline/": "tests.jobs.test_offers_api::"
    "test_decline_after_accept_is_409_and_the_job_stays_assigned",
    "POST /api/v1/jobs/": "tests.jobs.test_posting::test_a_used_quote_is_409",
    "POST /api/v1/jobs/{id}/cancel/": "tests.jobs.test_cancel::"
    "test_cancel_after_pickup_is_409_and_changes_nothing",
    "POST /api/v1/jobs/{id}/repost/": "tests.jobs.test_cancel::test_repost_only_from_unassigned",
    "POST /api/v1/jobs/{id}/pin/unlock/": "tests.jobs.test_proof::"
    "test_unlock_is_staff_only_and_refuses_an_unlocked_pin",
    "POST /api/v1/jobs/{id}/tip/": "tests.payments.test_flows::"
    "test_a_late_tip_is_refused_and_charges_nothing",
    "POST /api/v1/track/{token}/delivery-option/": "tests.jobs.test_tracking_actions::"
    "test_the_delivery_option_is_fixed_after_pickup",
    "POST /api/v1/track/{token}/instructions/": "tests.jobs.test_tracking_actions::"
    "test_instructions_are_refused_once_the_courier_is_at_the_door",
    "POST /api/v1/track/{token}/problem/": "tests.jobs.test_tracking_actions::"
    "test_a_problem_before_pickup_is_a_409",
    "POST /api/v1/track/{token}/rating/": "tests.jobs.test_tracking_actions::"
    "test_rating_before_delivery_is_a_409",
    "POST /api/v1/track/{token}/reschedule/": "tests.jobs.test_tracking_actions::"
    "test_rescheduling_after_pickup_is_a_409",
    "POST /api/v1/sandbox/jobs/{id}/advance/": "tests.jobs.test_sandbox::"
    "test_advance_a_cancelled_job_is_409",
    "POST /api/v1/jobs/{id}/disputes/": "tests.payments.disputes.test_api::"
    "test_second_open_dispute_and_closed_window_are_409",
    "POST /api/v1/courier/disputes/{id}/reply/": "tests.payments.disputes.test_api::"
    "test_courier_reply_refusals",
    "POST /api/v1/courier/disputes/": "tests.payments.disputes.test_api::"
    "test_courier_open_refusals_are_409",
    "PUT /api/v1/payments/shop/payment-method/": "tests.jobs.test_sandbox::"
    "test_a_sandbox_shop_cannot_set_a_card_with_a_live_key",
    "POST /api/v1/payments/shop/setup-intent/": "tests.jobs.test_sandbox::"
    "test_a_sandbox_shop_cannot_make_a_setup_intent_with_a_live_key",
    "POST /api/v1/courier/payouts/onboarding/": "tests.jobs.test_sandbox::"
    "test_a_robo_courier_cannot_onboard_with_a_live_key",
}


def test_every_conflict_an_operation_documents_is_tested() -> None:
    documented = {
        _key(method, path) for method, path, operation in ALL if "409" in operation["responses"]
    }
    assert documented == set(CONFLICT_TESTS)
    for where in CONFLICT_TESTS.values():
        module, name = where.split("::")
        assert callable(getattr(importlib.import_module(module), name)), where
