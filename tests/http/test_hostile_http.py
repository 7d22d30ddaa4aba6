"""Hostile HTTP: every bad request is a JSON 4xx with a stable reason, and nothing is written.

Most of these never reach a worker (Envoy refuses them: docs/http.md, "Errors"); the
rest are the service's own validation, reached through the transcoder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fixtures.gateway import HttpApi
from tests.fixtures.server import mint_token
from tests.http._json import assert_error, assert_json_success

# Cases keep their own tenant so "nothing written" is a count of that tenant's rows.
BAD_BODIES: list[tuple[str, str, int, str]] = [
    ("truncated JSON", '{"name": ', 400, "MALFORMED_REQUEST"),
    ("not JSON", "name=x", 400, "MALFORMED_REQUEST"),
    ("a JSON array", "[1, 2]", 400, "MALFORMED_REQUEST"),
    ("a string for an int32", '{"name": "x", "sessionCount": "x"}', 400, "MALFORMED_REQUEST"),
    (
        "an int32 out of range",
        '{"name": "x", "sessionCount": 4294967296}',
        400,
        "MALFORMED_REQUEST",
    ),
    ("a date not RFC 3339", '{"name": "x", "startDate": "yesterday"}', 400, "MALFORMED_REQUEST"),
    (
        "a date without a zone",
        '{"name": "x", "startDate": "2027-01-01T00:00:00"}',
        400,
        "MALFORMED_REQUEST",
    ),
    (
        "an unknown enum name",
        '{"name": "x", "status": "COHORT_STATUS_PARTY"}',
        400,
        "MALFORMED_REQUEST",
    ),
    ("a list for an object", '{"name": "x", "metadata": [1]}', 400, "MALFORMED_REQUEST"),
    ("a blank name", '{"name": "   "}', 400, "INVALID_ARGUMENT"),
    (
        "a percentage above 100",
        '{"name": "x", "completionRequiredPct": 101}',
        400,
        "INVALID_ARGUMENT",
    ),
    ("a NUL in a string", '{"name": "a\\u0000b"}', 400, "INVALID_ARGUMENT"),
    (
        "metadata nested too deep",
        '{"name": "x", "metadata": ' + '{"a": ' * 40 + "1" + "}" * 41,
        400,
        "MALFORMED_REQUEST",
    ),
]


BAD_BODY_CASES = pytest.mark.parametrize(
    ("body", "status", "reason"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)


def _rows(db: Any, tenant: str) -> int:
    row = db.execute("SELECT count(*) FROM cohorts WHERE tenant_id = %s", (tenant,)).fetchone()
    return int(row[0])


@pytest.fixture
def created(http: HttpApi, token: str) -> Iterator[dict[str, Any]]:
    """A cohort the hostile updates aim at; each test checks it is unchanged afterwards."""
    cohort = assert_json_success(http.create(token, {"name": "Target", "tags": ["t"]}))
    yield cohort
    assert assert_json_success(http.get(token, cohort["id"])) == cohort


@BAD_BODY_CASES
def test_a_bad_create_body_is_a_json_4xx_and_writes_nothing(
    http: HttpApi, token: str, tenant: str, db: Any, body: str, status: int, reason: str
):
    response = http.call(
        "POST", token=token, data=body.encode(), headers={"content-type": "application/json"}
    )
    assert_error(response, status, reason)
    assert _rows(db, tenant) == 0


@BAD_BODY_CASES
def test_a_bad_update_body_is_a_json_4xx_and_changes_nothing(
    http: HttpApi, token: str, created: dict[str, Any], body: str, status: int, reason: str
):
    response = http.call(
        "PATCH",
        f"/{created['id']}",
        token=token,
        data=body.encode(),
        params={"updateMask": "*"},
        headers={"content-type": "application/json"},
    )
    assert_error(response, status, reason)


def test_a_body_larger_than_the_message_limit_is_413_and_writes_nothing(
    http: HttpApi, token: str, tenant: str, db: Any
):
    huge = json.dumps({"name": "x", "tags": ["t" * 60] * 100_000}).encode()  # ~6 MB
    assert_error(http.call("POST", token=token, data=huge), 413, "REQUEST_TOO_LARGE")
    assert _rows(db, tenant) == 0


def test_headers_larger_than_envoy_accepts_are_a_json_431(http: HttpApi):
    response = http.call("GET", token="x" * 100_000)
    assert_error(response, 431, "HEADERS_TOO_LARGE")


@pytest.mark.parametrize(
    ("query", "status", "reason"),
    [
        ("colour=red", 400, "MALFORMED_REQUEST"),  # an unknown query parameter
        ("pageSize=lots", 400, "MALFORMED_REQUEST"),
        ("showDeleted=maybe", 400, "MALFORMED_REQUEST"),
        ("pageSize=-1", 400, "INVALID_ARGUMENT"),
        ("filter=" + "(" * 50, 400, "INVALID_FILTER"),
    ],
)
def test_bad_query_parameters_are_a_json_400(
    http: HttpApi, token: str, query: str, status: int, reason: str
):
    assert_error(http.list(token, query), status, reason)


def _raw(http: HttpApi, method: str, path: str, token: str) -> requests.Response:
    # Sent as written: requests would otherwise resolve dot segments itself.
    request = requests.Request(
        method, http.base + path, headers={"Authorization": f"Bearer {token}"}
    )
    prepared = http.session.prepare_request(request)
    prepared.url = http.base + path
    return http.session.send(prepared, timeout=30)


@pytest.mark.parametrize(
    ("method", "path", "status", "reason"),
    [
        ("GET", "/coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R%2F..%2F..", 400, "MALFORMED_REQUEST"),
        ("GET", "/a%2Fb", 400, "MALFORMED_REQUEST"),
        ("GET", "/a%5Cb", 400, "MALFORMED_REQUEST"),
        ("GET", "/../../../etc/passwd", 404, "ROUTE_NOT_FOUND"),
        ("GET", "/%2e%2e/%2e%2e/admin", 404, "ROUTE_NOT_FOUND"),
        ("DELETE", "/x/../../cohorts", 405, "METHOD_NOT_ALLOWED"),  # folds to the list path
        ("GET", "/coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R/extra", 404, "ROUTE_NOT_FOUND"),
        ("GET", "/" + "x" * 5000, 400, "INVALID_ARGUMENT"),
        ("POST", ":undelete", 404, "ROUTE_NOT_FOUND"),  # undelete on the list path
        ("POST", "/:undelete", 404, "ROUTE_NOT_FOUND"),
        ("GET", "/coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R:undelete", 405, "METHOD_NOT_ALLOWED"),
        ("PUT", "/coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R", 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R", 405, "METHOD_NOT_ALLOWED"),
        ("DELETE", "", 405, "METHOD_NOT_ALLOWED"),
        ("PATCH", "", 405, "METHOD_NOT_ALLOWED"),
        ("TRACE", "", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_hostile_paths_and_methods_are_a_json_4xx_and_write_nothing(
    http: HttpApi,
    token: str,
    tenant: str,
    db: Any,
    method: str,
    path: str,
    status: int,
    reason: str,
):
    assert_error(_raw(http, method, path, token), status, reason)
    assert _rows(db, tenant) == 0


def test_a_method_not_allowed_names_the_allowed_ones(http: HttpApi, token: str):
    response = http.call("PUT", "/coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R", token=token)
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH"


def test_paths_outside_the_api_are_json_404s(http: HttpApi):
    root = http.base.split("/api/")[0]
    for path in ("/", "/index.html", "/api/v1/learning", "/api/v1/learning/cohortsX"):
        response = http.session.get(root + path, timeout=30)
        assert_error(response, 404, "ROUTE_NOT_FOUND")


def test_a_body_naming_another_id_than_the_path_is_refused(
    http: HttpApi, token: str, created: dict[str, Any]
):
    other = assert_json_success(http.create(token, {"name": "Other"}))
    response = http.update(token, created["id"], {"id": other["id"], "name": "x"})
    assert_error(response, 400, "MALFORMED_REQUEST")
    assert assert_json_success(http.get(token, other["id"]))["name"] == "Other"


def test_the_update_mask_cannot_reach_server_fields(http: HttpApi, token: str, tenant: str):
    # Output-only paths are ignored (AIP-161): the call succeeds and changes none of them.
    cohort = assert_json_success(http.create(token, {"name": "Owned"}))
    body = {"tenantId": "someone-else", "createdBy": "mallory"}
    updated = assert_json_success(
        http.update(token, cohort["id"], body, updateMask="tenantId,createdBy")
    )
    assert (updated["tenantId"], updated["createdBy"]) == (tenant, "person-1")


def test_an_expired_token_is_refused_before_a_bad_body_is_read(http: HttpApi, tenant: str, db: Any):
    expired = mint_token(tenant=tenant, lifetime_seconds=-3600)
    response = http.call("POST", token=expired, json={"name": "x"})
    assert_error(response, 401, "TOKEN_EXPIRED")
    assert _rows(db, tenant) == 0


def test_headers_grpc_cannot_carry_are_dropped_and_the_call_succeeds(http: HttpApi, token: str):
    # Legal in HTTP, illegal as gRPC metadata: forwarded, they would fail the call as INTERNAL.
    headers = {"X~Odd|Name": "v", "x-latin": "caf\xe9".encode("latin-1"), "x-fine": "kept"}
    created = assert_json_success(
        http.call("POST", token=token, json={"name": "x"}, headers=headers)
    )
    assert assert_json_success(http.get(token, created["id"]))["name"] == "x"
