"""Over HTTP the token confines a call exactly as over gRPC: same interceptor, same answers."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from learning.v1 import cohort_service_pb2

from tests.fixtures.gateway import HttpApi
from tests.fixtures.server import bearer, mint_token
from tests.http._json import assert_error, assert_json_success


def test_another_tenants_cohort_is_not_found_over_http_as_over_grpc(
    http: HttpApi, stub: Any, token: str, token_for: Callable[..., str]
):
    created = assert_json_success(http.create(token, {"name": "Private"}))
    outsider = token_for(f"tenant-{uuid.uuid4().hex[:12]}")

    assert_error(http.get(outsider, created["id"]), 404, "COHORT_NOT_FOUND")
    assert_error(
        http.update(outsider, created["id"], {"name": "Mine"}, updateMask="name"),
        404,
        "COHORT_NOT_FOUND",
    )
    assert_error(http.delete(outsider, created["id"]), 404, "COHORT_NOT_FOUND")
    with pytest.raises(grpc.RpcError) as over_grpc:
        stub.GetCohort(
            cohort_service_pb2.GetCohortRequest(id=created["id"]), metadata=bearer(outsider)
        )
    assert over_grpc.value.code() == grpc.StatusCode.NOT_FOUND
    assert assert_json_success(http.get(token, created["id"])) == created


def test_an_application_token_sees_only_its_applications_cohorts(
    http: HttpApi, tenant: str, token_for: Callable[..., str]
):
    person = token_for(tenant)
    app_a, app_b = token_for(tenant, app="app-a"), token_for(tenant, app="app-b")
    by_person = assert_json_success(http.create(person, {"name": "Person's"}))
    by_a = assert_json_success(http.create(app_a, {"name": "A's"}))
    assert by_a["appId"] == "app-a" and "appId" not in by_person

    assert [c["id"] for c in assert_json_success(http.list(app_a))["cohorts"]] == [by_a["id"]]
    assert assert_json_success(http.list(app_b)).get("cohorts", []) == []
    assert_error(http.get(app_b, by_a["id"]), 404, "COHORT_NOT_FOUND")
    assert_error(http.get(app_a, by_person["id"]), 404, "COHORT_NOT_FOUND")
    everything = assert_json_success(http.list(person))["cohorts"]
    assert {c["id"] for c in everything} == {by_a["id"], by_person["id"]}


def _unsigned(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "TOKEN_MISSING"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "TOKEN_MISSING"),
        (
            {"Authorization": f"Bearer {mint_token(tenant='t', lifetime_seconds=-3600)}"},
            "TOKEN_EXPIRED",
        ),
        (
            {
                "Authorization": "Bearer "
                + _unsigned({"tenant_id": "t", "sub": "s", "exp": int(time.time()) + 600})
            },
            "TOKEN_ALGORITHM_REJECTED",
        ),
        ({"Authorization": "Bearer not.a.jwt"}, "INVALID_TOKEN"),
    ],
    ids=["missing", "basic", "expired", "alg-none", "garbage"],
)
def test_a_call_without_a_valid_token_is_a_json_401_and_writes_nothing(
    http: HttpApi, db: Any, headers: dict[str, str], reason: str
):
    name = f"Sneaky {uuid.uuid4()}"
    assert_error(http.call("POST", json={"name": name}, headers=headers), 401, reason)
    assert_error(http.call("GET", headers=headers), 401, reason)
    written = db.execute("SELECT count(*) FROM cohorts WHERE name = %s", (name,)).fetchone()
    assert written == (0,)
