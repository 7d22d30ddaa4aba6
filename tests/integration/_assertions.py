"""Helpers shared by the create/get, validation, list and auth tests.

They call the real service and read its real status details; nothing is mocked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import grpc
import psycopg
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from learning.v1 import cohort_pb2, cohort_service_pb2

ERROR_DOMAIN = "cohorts.learning.v1"
UPPER_SNAKE = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*")

Metadata = tuple[tuple[str, str], ...]


def rpc_error(call: Callable[[], Any]) -> grpc.RpcError:
    """The RpcError a call fails with; the test fails if it succeeds."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    """The google.rpc.ErrorInfo of a failed call, checked for the fixed domain and a reason."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no rich status details on {error.code()}: {error.details()}"
    infos = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append(info)
    assert len(infos) == 1, f"expected exactly one ErrorInfo, got {len(infos)}"
    info = infos[0]
    assert info.domain == ERROR_DOMAIN
    assert UPPER_SNAKE.fullmatch(info.reason), f"reason {info.reason!r} is not UPPER_SNAKE"
    return info


def bad_request(error: grpc.RpcError) -> error_details_pb2.BadRequest:
    """The google.rpc.BadRequest of a failed call (the test fails if there is none)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no rich status details on {error.code()}: {error.details()}"
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            request = error_details_pb2.BadRequest()
            detail.Unpack(request)
            return request
    raise AssertionError(f"no BadRequest in the details of: {error.details()}")


def violated_fields(error: grpc.RpcError) -> list[str]:
    """The field paths named by the BadRequest field violations."""
    return [v.field for v in bad_request(error).field_violations]


def names_field(fields: Iterable[str], field: str) -> bool:
    """True when a violation names field itself or an element of it (field[3])."""
    return any(f == field or f.startswith(field + "[") for f in fields)


def assert_invalid_argument(error: grpc.RpcError, *fields: str) -> list[str]:
    """INVALID_ARGUMENT with ErrorInfo and a BadRequest naming every one of fields."""
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    error_info(error)
    reported = violated_fields(error)
    for field in fields:
        assert names_field(reported, field), f"{field} not among the violations {reported}"
    return reported


def count_rows(db: psycopg.Connection[Any], tenant: str) -> int:
    """How many cohorts the tenant really has in the database."""
    row = db.execute("SELECT count(*) FROM cohorts WHERE tenant_id = %s", (tenant,)).fetchone()
    assert row is not None
    return int(row[0])


def create(stub: Any, auth: Metadata, *, request_id: str = "", **fields: Any) -> cohort_pb2.Cohort:
    """Create a cohort (name defaults to a valid one) and return it as stored."""
    fields.setdefault("name", "Cohort")
    request = cohort_service_pb2.CreateCohortRequest(
        cohort=cohort_pb2.Cohort(**fields), request_id=request_id
    )
    result: cohort_pb2.Cohort = stub.CreateCohort(request, metadata=auth)
    return result


def list_all(
    stub: Any, auth: Metadata, *, page_size: int = 0, show_deleted: bool = False
) -> list[cohort_pb2.Cohort]:
    """Every cohort List returns, following next_page_token to the end."""
    cohorts: list[cohort_pb2.Cohort] = []
    token = ""
    for _ in range(10_000):
        page = stub.ListCohorts(
            cohort_service_pb2.ListCohortsRequest(
                page_size=page_size, page_token=token, show_deleted=show_deleted
            ),
            metadata=auth,
        )
        cohorts.extend(page.cohorts)
        token = page.next_page_token
        if not token:
            return cohorts
    raise AssertionError("List never returned an empty next_page_token")
