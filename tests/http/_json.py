"""Checks every HTTP test makes of a gateway response: JSON always, the right shape."""

from __future__ import annotations

from typing import Any

import requests
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN = "cohorts.learning.v1"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
# Imported for its side effect: json_format resolves the details' @type through it.
assert error_details_pb2.ErrorInfo


def assert_json(response: requests.Response) -> Any:
    """The JSON body; fails unless the response says and is JSON, with no grpc-* header."""
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.status_code,
        response.headers,
        response.text[:500],
    )
    leaked = [name for name in response.headers if name.lower().startswith("grpc-")]
    assert not leaked, f"grpc headers leaked to an HTTP client: {leaked}"
    return response.json()


def assert_json_success(response: requests.Response) -> Any:
    """The JSON body of a 200 response."""
    assert response.status_code == 200, (response.status_code, response.text[:1000])
    return assert_json(response)


def assert_error(response: requests.Response, status: int, reason: str) -> dict[str, Any]:
    """The ErrorInfo of a JSON google.rpc.Status error body with this HTTP status and reason."""
    assert response.status_code == status, (response.status_code, response.text[:1000])
    body = assert_json(response)
    # The body is a google.rpc.Status in proto3 JSON, details and all.
    json_format.ParseDict(body, status_pb2.Status())
    assert isinstance(body["code"], int) and body["code"] != 0, body
    assert isinstance(body.get("message"), str), body
    infos = [detail for detail in body.get("details", []) if detail["@type"] == ERROR_INFO]
    assert len(infos) == 1, body
    assert infos[0]["domain"] == ERROR_DOMAIN, body
    assert infos[0]["reason"] == reason, body
    info: dict[str, Any] = infos[0]
    return info
