"""The OpenAPI document: valid OpenAPI 3.1, true to the contract, served by the gateway."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from openapi_spec_validator import validate

from cohorts.gateway.descriptors import http_bindings
from cohorts.gateway.envoy_config import OPENAPI_PATH
from cohorts.gateway.process import OPENAPI_DOCUMENT
from tests.fixtures.gateway import Gateway


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(OPENAPI_DOCUMENT.read_text())
    return loaded


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]):
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_every_http_annotation_of_the_contract_is_an_operation(document: dict[str, Any]):
    documented = {
        (verb.upper(), path)
        for path, operations in document["paths"].items()
        for verb in operations
    }
    # The document names `{cohort.id}` by its last part (openapi.py, _parameter_name).
    annotated = {
        (verb, template.replace("{cohort.id}", "{id}")) for verb, template in http_bindings()
    }
    assert documented == annotated


def test_operations_carry_the_proto_comments_and_bearer_security(document: dict[str, Any]):
    get = document["paths"]["/api/v1/learning/cohorts/{id}"]["get"]
    assert get["operationId"] == "GetCohort"
    assert get["description"].startswith("Returns one cohort")
    assert document["security"] == [{"bearerAuth": []}]
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    listing = document["paths"]["/api/v1/learning/cohorts"]["get"]
    query = {parameter["name"] for parameter in listing["parameters"]}
    assert query == {"pageSize", "pageToken", "filter", "orderBy", "showDeleted"}
    create = document["paths"]["/api/v1/learning/cohorts"]["post"]
    assert [parameter["name"] for parameter in create["parameters"]] == ["requestId"]
    assert create["requestBody"]["required"] is True


def test_field_behavior_and_proto3_json_shape_the_cohort_schema(document: dict[str, Any]):
    cohort = _schema(document, "learning.v1.Cohort")
    properties = cohort["properties"]
    assert cohort["required"] == ["name"]  # REQUIRED
    for output_only in ("tenantId", "createdAt", "updatedAt", "createdBy", "isDeleted", "id"):
        assert properties[output_only].get("readOnly") is True, output_only
    assert "readOnly" not in properties["name"]
    assert properties["version"]["type"] == "string"  # int64 as a string
    assert properties["sessionCount"]["type"] == "integer"  # proto3 optional: not required
    assert properties["createdAt"] == {
        "$ref": "#/components/schemas/google.protobuf.Timestamp",
        "readOnly": True,
        "description": "When the cohort was created.",
    }
    assert _schema(document, "google.protobuf.Timestamp")["format"] == "date-time"
    assert "COHORT_STATUS_ACTIVE" in _schema(document, "learning.v1.CohortStatus")["enum"]


def test_every_error_response_is_a_status_with_typed_details(document: dict[str, Any]):
    for operations in document["paths"].values():
        for operation in operations.values():
            assert operation["responses"]["default"] == {"$ref": "#/components/responses/Error"}
    status = _schema(document, "google.rpc.Status")
    detail_types = {
        ref["$ref"].rsplit("/", 1)[-1] for ref in status["properties"]["details"]["items"]["anyOf"]
    }
    assert {"google.rpc.ErrorInfo", "google.rpc.BadRequest"} <= detail_types
    info = _schema(document, "google.rpc.ErrorInfo")
    assert info["properties"]["@type"] == {"const": "type.googleapis.com/google.rpc.ErrorInfo"}


def test_the_gateway_serves_the_committed_document_without_a_token(gateway: Gateway):
    response = requests.get(gateway.url + OPENAPI_PATH, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.text == OPENAPI_DOCUMENT.read_text()
