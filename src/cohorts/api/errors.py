"""The one place that turns domain errors into gRPC statuses with rich details (AIP-193)."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from cohorts.api.error_domain import ERROR_DOMAIN
from cohorts.domain.errors import (
    CohortDeleted,
    CohortNotDeleted,
    DeadlineExceeded,
    DomainError,
    InvalidArgument,
    NotFound,
    RequestIdReused,
    StorageUnavailable,
    TenantBusy,
    Unauthenticated,
    VersionMismatch,
)

_MAX_VIOLATIONS = 100

_CODES: dict[type[DomainError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    VersionMismatch: grpc.StatusCode.ABORTED,
    CohortDeleted: grpc.StatusCode.FAILED_PRECONDITION,
    CohortNotDeleted: grpc.StatusCode.ALREADY_EXISTS,
    RequestIdReused: grpc.StatusCode.ALREADY_EXISTS,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    StorageUnavailable: grpc.StatusCode.UNAVAILABLE,
    TenantBusy: grpc.StatusCode.RESOURCE_EXHAUSTED,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def _packed(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def _build(
    code: grpc.StatusCode, message: str, reason: str, *details: object, **metadata: str
) -> grpc.Status:
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata)
    status = status_pb2.Status(
        code=code.value[0],
        message=message,
        details=[_packed(info), *(_packed(d) for d in details)],
    )
    return rpc_status.to_status(status)


def status_for(error: DomainError) -> grpc.Status:
    """The gRPC status a domain error is reported as."""
    code = _CODES.get(type(error), grpc.StatusCode.INTERNAL)
    if isinstance(error, InvalidArgument):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations[:_MAX_VIOLATIONS]
            ]
        )
        return _build(code, error.message, error.reason, bad_request)
    if isinstance(error, VersionMismatch):
        return _build(code, error.message, error.reason, current_version=str(error.current_version))
    if isinstance(error, StorageUnavailable | TenantBusy):
        retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1))
        return _build(code, error.message, error.reason, retry)
    return _build(code, error.message, error.reason)


def undecodable_request_status(error: Exception) -> grpc.Status:
    """INVALID_ARGUMENT for request bytes the protobuf runtime could not parse."""
    message = (
        "the request could not be decoded as the method's protobuf message "
        f"(malformed bytes, invalid UTF-8 or nesting too deep): {error}"
    )
    return _build(grpc.StatusCode.INVALID_ARGUMENT, message, "MALFORMED_REQUEST")


def internal_status(correlation_id: str) -> grpc.Status:
    """INTERNAL with nothing of the failure but an id to find it in the logs."""
    return _build(
        grpc.StatusCode.INTERNAL,
        f"internal error; quote correlation id {correlation_id} when reporting it",
        "INTERNAL",
        error_details_pb2.RequestInfo(request_id=correlation_id),
        correlation_id=correlation_id,
    )


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], status: grpc.Status) -> NoReturn:
    """End the call with status (grpc.aio raises to unwind the handler)."""
    # grpc-stubs does not declare grpc.aio's abort_with_status.
    await context.abort_with_status(status)  # type: ignore[attr-defined]
    raise AssertionError("abort_with_status returned")  # pragma: no cover
