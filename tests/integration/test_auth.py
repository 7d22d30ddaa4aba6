"""Bearer-token authentication of CohortService, and the open health and reflection services."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import grpc
import jwt
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from learning.v1 import cohort_pb2, cohort_service_pb2
from ulid import ULID

from tests.fixtures.server import TEST_JWT_SECRET, bearer, mint_token
from tests.integration._assertions import count_rows, create, error_info, rpc_error

SERVICE = "learning.v1.CohortService"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unsigned_token(payload: dict[str, Any]) -> str:
    header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64url(json.dumps(payload).encode())}."


_DROP = object()  # an override that removes the claim


def _claims(tenant: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"tenant_id": tenant, "sub": "person-1", "iat": now, "exp": now + 300}
    for name, value in overrides.items():
        if value is _DROP:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def _signed(tenant: str, **overrides: Any) -> str:
    return jwt.encode(_claims(tenant, **overrides), TEST_JWT_SECRET, algorithm="HS256")


def _altered_signature(token: str) -> str:
    head, _, signature = token.rpartition(".")
    flipped = "A" if signature[0] != "A" else "B"
    return f"{head}.{flipped}{signature[1:]}"


def _create_request() -> cohort_service_pb2.CreateCohortRequest:
    return cohort_service_pb2.CreateCohortRequest(cohort=cohort_pb2.Cohort(name="Needs a token"))


def _assert_unauthenticated_without_leaking(error: grpc.RpcError, token: str | None) -> str:
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED, (error.code(), error.details())
    message = error.details() or ""
    assert message.strip(), "the message must say what was wrong"
    info = error_info(error)
    if token:
        everything = message + repr(error.trailing_metadata()) + repr(info)
        assert token not in everything
        for segment in token.split("."):
            if len(segment) >= 8:
                assert segment not in everything, "a part of the token was echoed"
    return message


# Each case: a token factory given the tenant, the header scheme, and words the
# message must contain to say what was wrong.
def _rejected_cases() -> list[Any]:
    now = int(time.time())
    return [
        pytest.param(lambda t: _signed(t), "basic", ("bearer",), id="basic-scheme"),
        pytest.param(lambda t: "not-a-jwt", "bearer", ("jwt",), id="garbage-token"),
        pytest.param(lambda t: "a.b.c", "bearer", (), id="three-garbage-segments"),
        pytest.param(
            lambda t: jwt.encode(_claims(t), "another-secret-of-sufficient-length-0123456789"),
            "bearer",
            ("signature",),
            id="wrong-secret",
        ),
        pytest.param(
            lambda t: _altered_signature(_signed(t)), "bearer", (), id="signature-altered"
        ),
        pytest.param(
            lambda t: _signed(t, iat=now - 3600, exp=now - 31 - 30),
            "bearer",
            ("expired",),
            id="expired-beyond-leeway",
        ),
        pytest.param(
            lambda t: _signed(t, exp=now - 3600), "bearer", ("expired",), id="expired-an-hour-ago"
        ),
        pytest.param(lambda t: _signed(t, exp=_DROP), "bearer", ("exp",), id="no-exp-claim"),
        pytest.param(lambda t: _signed(t, exp="tomorrow"), "bearer", (), id="exp-not-a-number"),
        pytest.param(
            lambda t: _signed(t, nbf=now + 3600), "bearer", ("nbf",), id="nbf-in-the-future"
        ),
        pytest.param(lambda t: _unsigned_token(_claims(t)), "bearer", ("none",), id="alg-none"),
        pytest.param(
            lambda t: jwt.encode(_claims(t), TEST_JWT_SECRET, algorithm="HS512"),
            "bearer",
            ("HS512",),
            id="alg-not-pinned-hs512",
            # The service's own secret is the point here: only the algorithm differs.
            marks=pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
        ),
        pytest.param(
            lambda t: _signed(t, tenant_id=_DROP), "bearer", ("tenant_id",), id="no-tenant-id"
        ),
        pytest.param(
            lambda t: _signed(t, tenant_id=""), "bearer", ("tenant_id",), id="empty-tenant-id"
        ),
        pytest.param(
            lambda t: _signed(t, tenant_id="   "), "bearer", ("tenant_id",), id="blank-tenant-id"
        ),
        pytest.param(
            lambda t: _signed(t, tenant_id=12345),
            "bearer",
            ("tenant_id",),
            id="numeric-tenant-id",
        ),
        pytest.param(
            lambda t: _signed(t, tenant_id=[t]), "bearer", ("tenant_id",), id="list-tenant-id"
        ),
        pytest.param(
            lambda t: _signed(t, tenant_id=None), "bearer", ("tenant_id",), id="null-tenant-id"
        ),
        pytest.param(lambda t: _signed(t, sub=_DROP), "bearer", ("sub",), id="no-sub"),
        pytest.param(lambda t: _signed(t, sub=""), "bearer", ("sub",), id="empty-sub"),
        pytest.param(lambda t: _signed(t, sub=42), "bearer", ("sub",), id="numeric-sub"),
        pytest.param(lambda t: _signed(t, sub={"id": "x"}), "bearer", ("sub",), id="object-sub"),
        pytest.param(lambda t: _signed(t, app_id=7), "bearer", ("app_id",), id="numeric-app-id"),
        pytest.param(lambda t: _signed(t, app_id=["app"]), "bearer", ("app_id",), id="list-app-id"),
        pytest.param(lambda t: _signed(t, app_id=""), "bearer", ("app_id",), id="empty-app-id"),
    ]


@pytest.mark.parametrize(("make_token", "scheme", "words"), _rejected_cases())
def test_an_unacceptable_token_is_unauthenticated_without_echoing_it(
    stub, db, tenant, make_token, scheme, words
):
    token = make_token(tenant)
    header = f"Basic {token}" if scheme == "basic" else f"Bearer {token}"

    error = rpc_error(
        lambda: stub.CreateCohort(_create_request(), metadata=(("authorization", header),))
    )

    message = _assert_unauthenticated_without_leaking(error, token)
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
    assert count_rows(db, tenant) == 0


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param((), id="no-metadata"),
        pytest.param((("x-api-key", "whatever"),), id="unrelated-metadata-only"),
        pytest.param((("authorization", ""),), id="empty-authorization"),
        pytest.param((("authorization", "Bearer"),), id="bearer-without-token"),
        pytest.param((("authorization", "Bearer    "),), id="bearer-with-blank-token"),
        pytest.param((("authorization", "Token abc.def.ghi"),), id="token-scheme"),
    ],
)
def test_a_call_without_a_bearer_token_is_unauthenticated(stub, db, tenant, metadata):
    error = rpc_error(lambda: stub.CreateCohort(_create_request(), metadata=metadata))

    _assert_unauthenticated_without_leaking(error, None)
    assert count_rows(db, tenant) == 0


@pytest.mark.parametrize(
    ("method", "request_"),
    [
        ("GetCohort", cohort_service_pb2.GetCohortRequest(id=f"coh_{ULID()}")),
        ("ListCohorts", cohort_service_pb2.ListCohortsRequest()),
        ("CreateCohort", _create_request()),
        (
            "UpdateCohort",
            cohort_service_pb2.UpdateCohortRequest(
                cohort=cohort_pb2.Cohort(id=f"coh_{ULID()}", name="x")
            ),
        ),
        ("DeleteCohort", cohort_service_pb2.DeleteCohortRequest(id=f"coh_{ULID()}")),
        ("UndeleteCohort", cohort_service_pb2.UndeleteCohortRequest(id=f"coh_{ULID()}")),
    ],
)
def test_every_cohort_method_requires_a_token(stub, method, request_):
    error = rpc_error(lambda: getattr(stub, method)(request_))

    _assert_unauthenticated_without_leaking(error, None)


def test_authentication_is_checked_before_the_request_is_decoded(channel):
    raw = channel.unary_unary(
        "/learning.v1.CohortService/CreateCohort",
        request_serializer=None,
        response_deserializer=None,
    )

    error = rpc_error(lambda: raw(b"\xff\xff\xff"))

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_token_that_expired_within_the_leeway_is_still_accepted(stub, tenant):
    now = int(time.time())
    token = _signed(tenant, iat=now - 600, exp=now - 5)

    created = stub.CreateCohort(_create_request(), metadata=bearer(token))

    assert created.tenant_id == tenant


def test_a_token_whose_nbf_is_within_the_leeway_is_accepted(stub, tenant):
    token = _signed(tenant, nbf=int(time.time()) + 5)

    created = stub.CreateCohort(_create_request(), metadata=bearer(token))

    assert created.tenant_id == tenant


def test_the_bearer_scheme_is_case_insensitive(stub, tenant):
    token = mint_token(tenant=tenant)

    created = stub.CreateCohort(_create_request(), metadata=(("authorization", f"bearer {token}"),))

    assert created.tenant_id == tenant


def test_a_valid_token_is_accepted_and_its_claims_reach_the_service(stub, tenant):
    metadata = bearer(mint_token(tenant=tenant, sub="dana", app="app-x"))

    created = create(stub, metadata, name="Claims")

    assert (created.tenant_id, created.created_by, created.app_id) == (tenant, "dana", "app-x")


def test_health_check_serves_without_a_token(channel):
    health = health_pb2_grpc.HealthStub(channel)

    overall = health.Check(health_pb2.HealthCheckRequest(service=""))
    cohorts = health.Check(health_pb2.HealthCheckRequest(service=SERVICE))

    assert overall.status == health_pb2.HealthCheckResponse.SERVING
    assert cohorts.status == health_pb2.HealthCheckResponse.SERVING


def test_health_check_of_an_unknown_service_is_not_found(channel):
    health = health_pb2_grpc.HealthStub(channel)

    error = rpc_error(
        lambda: health.Check(health_pb2.HealthCheckRequest(service=f"no.such.{uuid.uuid4().hex}"))
    )

    assert error.code() == grpc.StatusCode.NOT_FOUND


def _reflect(
    call: Any, request: reflection_pb2.ServerReflectionRequest
) -> reflection_pb2.ServerReflectionResponse:
    responses = list(call(iter([request]), timeout=10))
    assert len(responses) == 1
    return responses[0]


def _reflection_v1alpha(channel: grpc.Channel) -> Any:
    return reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo


def _reflection_v1(channel: grpc.Channel) -> Any:
    # grpc.reflection.v1 messages are identical on the wire to v1alpha's.
    return channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )


REFLECTION_VERSIONS = [
    pytest.param(_reflection_v1alpha, id="v1alpha"),
    pytest.param(_reflection_v1, id="v1"),
]


@pytest.mark.parametrize("reflection", REFLECTION_VERSIONS)
def test_reflection_lists_the_cohort_service_without_a_token(channel, reflection):
    response = _reflect(
        reflection(channel), reflection_pb2.ServerReflectionRequest(list_services="")
    )

    names = {s.name for s in response.list_services_response.service}
    assert SERVICE in names
    assert "grpc.health.v1.Health" in names


@pytest.mark.parametrize("reflection", REFLECTION_VERSIONS)
def test_reflection_describes_the_cohort_service_without_a_token(channel, reflection):
    response = _reflect(
        reflection(channel),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
    )

    assert response.WhichOneof("message_response") == "file_descriptor_response"
    assert len(response.file_descriptor_response.file_descriptor_proto) >= 1
    described = b"".join(response.file_descriptor_response.file_descriptor_proto)
    assert b"CohortService" in described and b"CreateCohort" in described
