"""Schemathesis against the live gateway, from the committed OpenAPI document, authenticated.

Every operation gets generated requests, valid and invalid; every response must be a
non-5xx that the document describes (status, content type and body schema). The example
count is bounded so the whole suite keeps to its time budget.
"""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from cohorts.gateway.process import OPENAPI_DOCUMENT
from tests.fixtures.gateway import Gateway
from tests.fixtures.server import mint_token

EXAMPLES_PER_OPERATION = 80
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# The committed document, generating valid and invalid requests.
schema = schemathesis.openapi.from_path(str(OPENAPI_DOCUMENT))
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES_PER_OPERATION
)


@pytest.fixture(scope="module")
def fuzz_token() -> str:
    """A token of a tenant of its own, so the generated writes touch no other test's rows."""
    return mint_token(tenant=f"tenant-fuzz-{uuid.uuid4().hex[:12]}", sub="fuzzer")


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_response_is_described_by_the_document_and_none_is_a_5xx(
    case: schemathesis.Case, gateway: Gateway, fuzz_token: str
) -> None:
    response = case.call(base_url=gateway.url, headers={"Authorization": f"Bearer {fuzz_token}"})
    case.validate_response(response, checks=CHECKS)
