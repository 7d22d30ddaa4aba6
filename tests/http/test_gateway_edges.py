"""The gateway's other faces: gRPC-Web and gRPC on the same listener, CORS, a missing upstream."""

from __future__ import annotations

import base64
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from google.rpc import status_pb2
from learning.v1 import cohort_pb2, cohort_service_pb2, cohort_service_pb2_grpc

from tests.fixtures.gateway import ALLOWED_ORIGIN, Gateway, HttpApi, gateway_settings, start_gateway
from tests.fixtures.ports import unused_port
from tests.fixtures.server import bearer
from tests.http._json import assert_error, assert_json_success

GRPC_WEB = "application/grpc-web+proto"


def _grpc_web_call(
    gateway: Gateway, method: str, request: bytes, token: str
) -> tuple[requests.Response, bytes, dict[str, str]]:
    """A unary gRPC-Web call by hand: (response, message bytes, trailers)."""
    response = requests.post(
        f"{gateway.url}/learning.v1.CohortService/{method}",
        data=b"\x00" + struct.pack(">I", len(request)) + request,
        headers={
            "content-type": GRPC_WEB,
            "x-grpc-web": "1",
            "authorization": f"Bearer {token}",
            "origin": ALLOWED_ORIGIN,
        },
        timeout=30,
    )
    body, message, trailers = response.content, b"", {}
    while body:
        flags, length = body[0], struct.unpack(">I", body[1:5])[0]
        frame, body = body[5 : 5 + length], body[5 + length :]
        if flags & 0x80:
            for line in frame.decode().strip().split("\r\n"):
                key, _, value = line.partition(":")
                trailers[key.strip().lower()] = value.strip()
        else:
            message = frame
    return response, message, trailers


def test_grpc_web_reaches_the_same_service(gateway: Gateway, http: HttpApi, token: str):
    created = assert_json_success(http.create(token, {"name": "Over gRPC-Web"}))
    request = cohort_service_pb2.GetCohortRequest(id=created["id"]).SerializeToString()
    response, message, trailers = _grpc_web_call(gateway, "GetCohort", request, token)
    assert response.status_code == 200 and response.headers["content-type"] == GRPC_WEB
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert trailers["grpc-status"] == "0"
    assert cohort_pb2.Cohort.FromString(message).name == "Over gRPC-Web"


def test_a_grpc_web_error_keeps_its_status_and_rich_details(gateway: Gateway, token: str):
    request = cohort_service_pb2.GetCohortRequest(id="coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R")
    response, _, trailers = _grpc_web_call(gateway, "GetCohort", request.SerializeToString(), token)
    # Trailers-only: an error's status travels in the headers.
    status = {**trailers, **{k.lower(): v for k, v in response.headers.items()}}
    assert status["grpc-status"] == str(grpc.StatusCode.NOT_FOUND.value[0])
    details_bin = status["grpc-status-details-bin"]
    details = status_pb2.Status.FromString(
        base64.b64decode(details_bin + "=" * (-len(details_bin) % 4))
    )
    assert details.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert any(detail.type_url.endswith("google.rpc.ErrorInfo") for detail in details.details)


def test_plain_grpc_reaches_the_same_service(gateway: Gateway, token: str):
    with grpc.insecure_channel(gateway.url.removeprefix("http://")) as channel:
        stub = cohort_service_pb2_grpc.CohortServiceStub(channel)
        created = stub.CreateCohort(
            cohort_service_pb2.CreateCohortRequest(cohort=cohort_pb2.Cohort(name="Via Envoy")),
            metadata=bearer(token),
            timeout=10,
        )
        assert created.name == "Via Envoy"


@pytest.mark.parametrize(
    "path", ["/api/v1/learning/cohorts", "/learning.v1.CohortService/GetCohort"]
)
def test_a_preflight_from_an_allowed_origin_is_answered(gateway: Gateway, path: str):
    response = requests.options(
        gateway.url + path,
        headers={
            "origin": ALLOWED_ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type,x-grpc-web",
        },
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "grpc-status" in response.headers["access-control-expose-headers"]


def test_an_origin_not_listed_gets_no_cors_grant(gateway: Gateway, http: HttpApi, token: str):
    preflight = requests.options(
        gateway.url + "/api/v1/learning/cohorts",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        timeout=10,
    )
    assert_error(preflight, 403, "ORIGIN_NOT_ALLOWED")
    assert "access-control-allow-origin" not in preflight.headers
    simple = http.call("GET", token=token, headers={"origin": "https://evil.example"})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


@pytest.fixture
def gateway_without_upstream(tmp_path: Path) -> Iterator[Gateway]:
    """A gateway whose workers are not there (nothing listens on its upstream port)."""
    running = start_gateway(
        gateway_settings(unused_port(), tmp_path, http_cors_origins=""), tmp_path
    )
    yield running
    running.stop()


def test_no_upstream_is_a_json_503_and_no_cors_origin_is_allowed_by_default(
    gateway_without_upstream: Gateway, token: str
):
    url = gateway_without_upstream.url
    response = requests.get(
        f"{url}/api/v1/learning/cohorts", headers=dict(bearer(token)), timeout=10
    )
    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    preflight = requests.options(
        f"{url}/api/v1/learning/cohorts",
        headers={"origin": ALLOWED_ORIGIN, "access-control-request-method": "GET"},
        timeout=10,
    )
    assert_error(preflight, 403, "ORIGIN_NOT_ALLOWED")


@pytest.fixture
def gateway_to_a_silent_upstream(tmp_path: Path) -> Iterator[Gateway]:
    """A gateway whose upstream accepts connections and never answers (a hung worker)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        settings = gateway_settings(port, tmp_path, http_request_timeout_seconds=0.5)
        running = start_gateway(settings, tmp_path)
        yield running
        running.stop()


def test_an_http_call_slower_than_the_request_timeout_is_a_json_504(
    gateway_to_a_silent_upstream: Gateway, token: str
):
    response = requests.get(
        f"{gateway_to_a_silent_upstream.url}/api/v1/learning/cohorts",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert_error(response, 504, "UPSTREAM_TIMEOUT")
