"""Metrics, the access log and INTERNAL correlation, observed on the in-process server (issue 5).

The session's server runs in this process, so its Prometheus metrics are in
prometheus_client's default REGISTRY and its log records reach caplog.
Nothing is mocked: each outcome is caused by a real call (a real fault for
INTERNAL: a stored row the mapper cannot convert).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from learning.v1 import cohort_pb2, cohort_service_pb2
from prometheus_client import REGISTRY

from cohorts.logs import JsonFormatter
from cohorts.settings import Settings
from tests.fixtures.server import bearer, mint_token

Metadata = tuple[tuple[str, str], ...]

SERVICE = "/learning.v1.CohortService/"
REQUESTS = "cohorts_grpc_requests_total"
LATENCY_COUNT = "cohorts_grpc_request_duration_seconds_count"
LATENCY_SUM = "cohorts_grpc_request_duration_seconds_sum"
IN_FLIGHT = "cohorts_grpc_requests_in_flight"
AUTH_FAILURES = "cohorts_auth_failures_total"
ACCESS_FIELDS = {"method", "code", "duration_ms", "tenant_id", "app_id", "request_id", "peer"}
UNKNOWN_ID = "coh_01ARZ3NDEKTSV4RRFFQ69G5FAV"


def sample(name: str, **labels: str) -> float:
    """The current value of one sample in the default registry (0 when it does not exist yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def settle(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether predicate becomes true within timeout (the server records after it answers)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def with_request_id(metadata: Metadata, request_id: str) -> Metadata:
    return (*metadata, ("x-request-id", request_id))


def new_request_id() -> str:
    return f"obs-{uuid.uuid4()}"


def outcome(call: Callable[[], Any]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def _create(stub: Any, metadata: Metadata, name: str, **fields: Any) -> cohort_pb2.Cohort:
    created: cohort_pb2.Cohort = stub.CreateCohort(
        cohort_service_pb2.CreateCohortRequest(cohort=cohort_pb2.Cohort(name=name, **fields)),
        metadata=metadata,
    )
    return created


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record the service logs at INFO (DEBUG for its own loggers), as production would."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="cohorts")
    return caplog


def json_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every captured record as the JSON line the service would write."""
    formatter = JsonFormatter()
    return [formatter.format(record) for record in caplog.records]


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cohorts.access"]


def access_lines_for(caplog: pytest.LogCaptureFixture, request_id: str) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(r))
        for r in access_records(caplog)
        if getattr(r, "request_id", None) == request_id
    ]


# --- metrics -----------------------------------------------------------------------------------


def test_each_call_is_counted_by_method_and_code_and_timed(stub: Any, auth: Metadata):
    bad_signature = bearer(mint_token(tenant="t", secret="another-secret-" + "x" * 40))
    created = _create(stub, auth, "Counted")

    def get(cohort_id: str, metadata: Metadata) -> Callable[[], Any]:
        return lambda: stub.GetCohort(
            cohort_service_pb2.GetCohortRequest(id=cohort_id), metadata=metadata
        )

    calls: list[tuple[str, grpc.StatusCode, Callable[[], Any]]] = [
        ("GetCohort", grpc.StatusCode.OK, get(created.id, auth)),
        ("GetCohort", grpc.StatusCode.OK, get(created.id, auth)),
        ("GetCohort", grpc.StatusCode.NOT_FOUND, get(UNKNOWN_ID, auth)),
        ("GetCohort", grpc.StatusCode.INVALID_ARGUMENT, get("not-an-id", auth)),
        (
            "CreateCohort",
            grpc.StatusCode.INVALID_ARGUMENT,
            lambda: _create(stub, auth, "x" * 201),
        ),
        ("GetCohort", grpc.StatusCode.UNAUTHENTICATED, get(created.id, ())),
        ("GetCohort", grpc.StatusCode.UNAUTHENTICATED, get(created.id, bad_signature)),
    ]
    keys = {(method, code.name) for method, code, _ in calls}
    requests = {k: sample(REQUESTS, method=SERVICE + k[0], code=k[1]) for k in keys}
    latency = {k: sample(LATENCY_COUNT, method=SERVICE + k[0], code=k[1]) for k in keys}
    seconds = sum(sample(LATENCY_SUM, method=SERVICE + k[0], code=k[1]) for k in keys)
    in_flight = sample(IN_FLIGHT)
    missing = sample(AUTH_FAILURES, reason="TOKEN_MISSING")
    signature = sample(AUTH_FAILURES, reason="TOKEN_SIGNATURE")

    for method, expected, call in calls:
        assert outcome(call) == expected, method

    def count(key: tuple[str, str]) -> int:
        return sum(1 for m, c, _ in calls if (m, c.name) == key)

    def counted() -> dict[tuple[str, str], float]:
        return {k: sample(REQUESTS, method=SERVICE + k[0], code=k[1]) - requests[k] for k in keys}

    expected_counts = {k: float(count(k)) for k in keys}
    settle(lambda: counted() == expected_counts)
    assert counted() == expected_counts
    timed = {k: sample(LATENCY_COUNT, method=SERVICE + k[0], code=k[1]) - latency[k] for k in keys}
    assert timed == expected_counts
    assert sum(sample(LATENCY_SUM, method=SERVICE + k[0], code=k[1]) for k in keys) > seconds
    assert settle(lambda: sample(IN_FLIGHT) == in_flight), (sample(IN_FLIGHT), in_flight)
    assert sample(AUTH_FAILURES, reason="TOKEN_MISSING") - missing == 1
    assert sample(AUTH_FAILURES, reason="TOKEN_SIGNATURE") - signature == 1


def test_in_flight_counts_a_call_while_it_is_served(stub: Any, auth: Metadata, db: Any):
    """While a call waits on the database, the gauge counts it; afterwards it rests again."""
    created = stub.CreateCohort(
        cohort_service_pb2.CreateCohortRequest(cohort=cohort_pb2.Cohort(name="Held")),
        metadata=auth,
    )
    resting = sample(IN_FLIGHT)
    with db.transaction():
        # The owner's row lock makes the update wait inside the server.
        db.execute(
            "SELECT 1 FROM cohorts WHERE tenant_id = %s AND id = %s FOR UPDATE",
            (created.tenant_id, created.id),
        )
        update = stub.UpdateCohort.future(
            cohort_service_pb2.UpdateCohortRequest(
                cohort=cohort_pb2.Cohort(id=created.id, name="Held (2)"),
                update_mask=field_mask_pb2.FieldMask(paths=["name"]),
            ),
            metadata=auth,
            timeout=10,
        )
        assert settle(lambda: sample(IN_FLIGHT) == resting + 1), sample(IN_FLIGHT)
    assert update.result().version == 2
    assert settle(lambda: sample(IN_FLIGHT) == resting)


def _families() -> dict[str, Any]:
    return {family.name: family for family in REGISTRY.collect()}


def test_database_pool_gauges_and_error_counter_are_exported(stub: Any, auth: Metadata):
    families = _families()
    for name in (
        "cohorts_db_pool_size",
        "cohorts_db_pool_in_use",
        "cohorts_db_pool_waiting",
        "cohorts_db_errors",
        "cohorts_auth_failures",
        "cohorts_grpc_requests",
        "cohorts_grpc_request_duration_seconds",
        "cohorts_grpc_requests_in_flight",
    ):
        assert name in families, f"{name} is not registered"
    assert families["cohorts_db_pool_size"].type == "gauge"
    # Every server started in this process adds its pool size, the session's included.
    assert sample("cohorts_db_pool_size") >= Settings().pool_size
    in_use, waiting = sample("cohorts_db_pool_in_use"), sample("cohorts_db_pool_waiting")
    for _ in range(5):
        _create(stub, auth, "Pooled")
    # Every checkout is checked in again: in use returns to where it was (the
    # health probe may hold a connection for a moment, so allow it to settle).
    assert settle(lambda: sample("cohorts_db_pool_in_use") == in_use), (
        sample("cohorts_db_pool_in_use"),
        in_use,
    )
    assert in_use >= 0
    assert sample("cohorts_db_pool_waiting") == waiting == 0


# --- the access log ----------------------------------------------------------------------------


def test_one_access_log_line_per_request_with_its_fields(
    stub: Any, tenant: str, auth_for: Callable[..., Metadata], logs: pytest.LogCaptureFixture
):
    app_token = mint_token(tenant=tenant, sub="svc-1", app="app-logged")
    app = bearer(app_token)
    marker = f"Row content {uuid.uuid4().hex}"
    tag_marker = f"tag-{uuid.uuid4().hex}"
    bad_token = mint_token(tenant=tenant, secret="not-the-server-secret-" + "y" * 40)
    malformed_token = f"not-a-jwt-{uuid.uuid4().hex}"
    # (request id, method, code, tenant_id and app_id the line must name)
    calls: list[tuple[str, str, grpc.StatusCode, str | None, str | None]] = []

    def call(
        name: str, expected: grpc.StatusCode, metadata: Metadata, request: Any, *, who: Any
    ) -> Any:
        request_id = new_request_id()
        result: Any = None
        try:
            result = getattr(stub, name)(request, metadata=with_request_id(metadata, request_id))
            code = grpc.StatusCode.OK
        except grpc.RpcError as error:
            code = error.code()
        assert code == expected, (name, code)
        calls.append((request_id, name, code, who[0], who[1]))
        return result

    as_app, nobody = (tenant, "app-logged"), (None, None)
    created = call(
        "CreateCohort",
        grpc.StatusCode.OK,
        app,
        cohort_service_pb2.CreateCohortRequest(
            cohort=cohort_pb2.Cohort(name=marker, tags=[tag_marker], metadata={"k": marker})
        ),
        who=as_app,
    )
    call(
        "GetCohort",
        grpc.StatusCode.OK,
        app,
        cohort_service_pb2.GetCohortRequest(id=created.id),
        who=as_app,
    )
    call(
        "GetCohort",
        grpc.StatusCode.NOT_FOUND,
        auth_for(tenant),
        cohort_service_pb2.GetCohortRequest(id=UNKNOWN_ID),
        who=(tenant, None),
    )
    call(
        "ListCohorts",
        grpc.StatusCode.OK,
        app,
        cohort_service_pb2.ListCohortsRequest(filter=f'name = "{marker}"'),
        who=as_app,
    )
    call(
        "CreateCohort",
        grpc.StatusCode.INVALID_ARGUMENT,
        app,
        cohort_service_pb2.CreateCohortRequest(cohort=cohort_pb2.Cohort(name=marker * 20)),
        who=as_app,
    )
    for metadata in ((), bearer(bad_token), bearer(malformed_token)):
        call(
            "ListCohorts",
            grpc.StatusCode.UNAUTHENTICATED,
            metadata,
            cohort_service_pb2.ListCohortsRequest(),
            who=nobody,
        )

    for request_id, name, code, tenant_id, app_id in calls:
        assert settle(lambda request_id=request_id: bool(access_lines_for(logs, request_id)))
        lines = access_lines_for(logs, request_id)
        assert len(lines) == 1, (name, lines)
        line = lines[0]
        assert ACCESS_FIELDS <= set(line), line
        assert line["logger"] == "cohorts.access" and line["level"] == "INFO"
        assert line["method"] == SERVICE + name
        assert line["code"] == code.name
        assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
        assert line["tenant_id"] == tenant_id
        assert line["app_id"] == app_id
        assert line["request_id"] == request_id
        assert re.fullmatch(r"ipv[46]:.+:[0-9]+", line["peer"]), line["peer"]
    # Exactly one line per request, and none for anything else.
    assert len(access_records(logs)) == len(calls)

    everything = "\n".join(json_lines(logs))
    for secret in (app_token, bad_token, malformed_token, marker, tag_marker):
        assert secret not in everything, f"{secret[:24]}... appears in the logs"
    # The signature part alone, too: a token cut at a dot must not leak either.
    assert app_token.rsplit(".", 1)[1] not in everything


def test_a_missing_or_unusable_request_id_is_replaced_by_a_generated_one(
    stub: Any, auth: Metadata, logs: pytest.LogCaptureFixture
):
    for metadata in (auth, with_request_id(auth, "r" * 129), with_request_id(auth, "")):
        logs.clear()
        stub.ListCohorts(cohort_service_pb2.ListCohortsRequest(), metadata=metadata)
        assert settle(lambda: len(access_records(logs)) == 1)
        (record,) = access_records(logs)
        assert re.fullmatch(r"[0-9a-f]{32}", record.request_id), record.request_id


# --- INTERNAL ----------------------------------------------------------------------------------


@pytest.fixture
def corrupted(
    stub: Any, auth: Metadata, tenant: str, db: psycopg.Connection[Any]
) -> Iterator[cohort_pb2.Cohort]:
    """A stored cohort whose tags hold a number: the row cannot become a Cohort message."""
    cohort = _create(stub, auth, f"Corrupted {uuid.uuid4().hex}", tags=["fine"])
    updated = db.execute(
        "UPDATE cohorts SET tags = '[1]'::jsonb WHERE tenant_id = %s AND id = %s",
        (tenant, cohort.id),
    )
    assert updated.rowcount == 1
    yield cohort
    db.execute(
        "UPDATE cohorts SET tags = '[]'::jsonb WHERE tenant_id = %s AND id = %s",
        (tenant, cohort.id),
    )


def _detail(error: grpc.RpcError, message_class: Any) -> Any:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no rich status details: {error.details()}"
    for detail in status.details:
        if detail.Is(message_class.DESCRIPTOR):
            unpacked = message_class()
            detail.Unpack(unpacked)
            return unpacked
    raise AssertionError(f"no {message_class.DESCRIPTOR.name} in {status.details}")


def test_an_unexpected_fault_is_internal_with_the_callers_request_id(
    stub: Any, auth: Metadata, corrupted: cohort_pb2.Cohort, logs: pytest.LogCaptureFixture
):
    request_id = new_request_id()
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetCohort(
            cohort_service_pb2.GetCohortRequest(id=corrupted.id),
            metadata=with_request_id(auth, request_id),
        )
    error = caught.value
    assert error.code() == grpc.StatusCode.INTERNAL, (error.code(), error.details())

    # The server log holds the id and the traceback of the real failure ...
    assert settle(lambda: bool(access_lines_for(logs, request_id)))
    failures = [
        r for r in logs.records if r.levelno >= logging.ERROR and request_id in r.getMessage()
    ]
    assert len(failures) == 1, [r.getMessage() for r in logs.records]
    failure = failures[0]
    assert failure.exc_info is not None and failure.exc_info[1] is not None
    logged = json.loads(JsonFormatter().format(failure))
    assert "Traceback (most recent call last)" in logged["exception"]
    assert request_id in logged["message"]
    exception_text = str(failure.exc_info[1])
    assert exception_text

    # ... while the caller gets a generic message that only quotes the id.
    message = error.details() or ""
    assert request_id in message
    for leak in (
        exception_text,
        type(failure.exc_info[1]).__name__,
        "Traceback",
        "SELECT",
        "cohorts.",
        "tags",
        corrupted.name,
    ):
        assert leak not in message, f"{leak!r} leaks into {message!r}"
    assert _detail(error, error_details_pb2.RequestInfo).request_id == request_id
    info = _detail(error, error_details_pb2.ErrorInfo)
    assert info.reason == "INTERNAL"
    assert dict(info.metadata) == {"correlation_id": request_id}
    for leak in (exception_text, "Traceback", "SELECT"):
        assert leak not in str(rpc_status.from_call(error)), leak  # type: ignore[arg-type]

    (access,) = access_lines_for(logs, request_id)
    assert access["code"] == "INTERNAL"
    # Row contents stay out of the logs even when the row is the problem.
    assert corrupted.name not in "\n".join(json_lines(logs))


def test_internal_without_a_request_id_quotes_a_generated_one(
    stub: Any, auth: Metadata, corrupted: cohort_pb2.Cohort, logs: pytest.LogCaptureFixture
):
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetCohort(cohort_service_pb2.GetCohortRequest(id=corrupted.id), metadata=auth)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    generated = _detail(caught.value, error_details_pb2.RequestInfo).request_id
    assert re.fullmatch(r"[0-9a-f]{32}", generated), generated
    assert generated in (caught.value.details() or "")
    assert settle(lambda: bool(access_lines_for(logs, generated)))
    assert any(
        r.levelno >= logging.ERROR and generated in r.getMessage() and r.exc_info
        for r in logs.records
    )
