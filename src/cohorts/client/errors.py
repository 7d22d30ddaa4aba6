"""Typed exceptions for CohortService failures, read from the rich gRPC status (AIP-193)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, cast

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "cohorts.learning.v1"


class FieldViolation(NamedTuple):
    """One bad field of a request: its path (e.g. `cohort.name`) and what is wrong."""

    field: str
    description: str


class CohortError(Exception):
    """A CohortService call failed; `code`, `reason` and `message` say how."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        metadata: Mapping[str, str] | None = None,
        retry_delay: float | None = None,
    ) -> None:
        self.code = code if code is not None else type(self).code
        super().__init__(f"{self.code.name}: {message}" + (f" [{reason}]" if reason else ""))
        self.message = message
        # The ErrorInfo reason (e.g. COHORT_NOT_FOUND); empty when the failure
        # came from gRPC itself (no connection, deadline) rather than the server.
        self.reason = reason
        self.metadata: Mapping[str, str] = dict(metadata or {})
        # The server's RetryInfo hint, in seconds, when it sent one.
        self.retry_delay = retry_delay


class NotFound(CohortError):
    """No cohort with that id in the caller's scope (NOT_FOUND)."""

    code = grpc.StatusCode.NOT_FOUND


class InvalidArgument(CohortError):
    """The request was rejected; `violations` lists every bad field (INVALID_ARGUMENT)."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(
        self,
        message: str,
        *,
        violations: Sequence[FieldViolation] = (),
        code: grpc.StatusCode | None = None,
        reason: str = "",
        metadata: Mapping[str, str] | None = None,
        retry_delay: float | None = None,
    ) -> None:
        super().__init__(
            message, code=code, reason=reason, metadata=metadata, retry_delay=retry_delay
        )
        self.violations: list[FieldViolation] = list(violations)


class Conflict(CohortError):
    """The expected version is stale (ABORTED); `current_version` is the stored one."""

    code = grpc.StatusCode.ABORTED

    def __init__(
        self,
        message: str,
        *,
        current_version: int | None = None,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        metadata: Mapping[str, str] | None = None,
        retry_delay: float | None = None,
    ) -> None:
        super().__init__(
            message, code=code, reason=reason, metadata=metadata, retry_delay=retry_delay
        )
        self.current_version = current_version


class FailedPrecondition(CohortError):
    """The cohort is in a state that forbids the call, e.g. deleted (FAILED_PRECONDITION)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyExists(CohortError):
    """Undelete of a live cohort, or a request_id used outside the caller's scope."""

    code = grpc.StatusCode.ALREADY_EXISTS


class Unauthenticated(CohortError):
    """The token is missing, malformed, expired or wrongly signed (UNAUTHENTICATED)."""

    code = grpc.StatusCode.UNAUTHENTICATED


class Unavailable(CohortError):
    """The server or its database cannot be reached; retrying later may succeed."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(CohortError):
    """The call did not finish before its deadline; it may still have taken effect."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


_CLASSES: dict[grpc.StatusCode, type[CohortError]] = {
    cls.code: cls
    for cls in (
        NotFound,
        InvalidArgument,
        Conflict,
        FailedPrecondition,
        AlreadyExists,
        Unauthenticated,
        Unavailable,
        DeadlineExceeded,
    )
}


def error_from_rpc(error: grpc.RpcError) -> CohortError:
    """The typed exception for a failed call (sync or grpc.aio)."""
    if not callable(getattr(error, "code", None)):
        # A bare RpcError carries no status at all.
        return CohortError(str(error) or type(error).__name__)
    code = error.code()
    message = error.details() or ""
    status = _rich_status(error)
    reason = ""
    metadata: dict[str, str] = {}
    violations: list[FieldViolation] = []
    retry_delay: float | None = None
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        bad_request = error_details_pb2.BadRequest()
        retry_info = error_details_pb2.RetryInfo()
        # Any.Unpack fills the message and returns True only when the detail is of its type.
        if detail.Unpack(info):
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Unpack(bad_request):
            violations += [
                FieldViolation(v.field, v.description) for v in bad_request.field_violations
            ]
        elif detail.Unpack(retry_info):
            retry_delay = retry_info.retry_delay.ToTimedelta().total_seconds()
    cls = _CLASSES.get(code, CohortError)
    if cls is InvalidArgument:
        return InvalidArgument(
            message,
            violations=violations,
            reason=reason,
            metadata=metadata,
            retry_delay=retry_delay,
        )
    if cls is Conflict:
        return Conflict(
            message,
            current_version=_current_version(metadata),
            reason=reason,
            metadata=metadata,
            retry_delay=retry_delay,
        )
    return cls(message, code=code, reason=reason, metadata=metadata, retry_delay=retry_delay)


def _rich_status(error: grpc.RpcError) -> status_pb2.Status | None:
    try:
        # The RpcErrors gRPC raises are also Calls, grpc.aio's AioRpcError included
        # (its trailing metadata iterates as key/value pairs, as from_call needs).
        status: status_pb2.Status | None = rpc_status.from_call(cast(grpc.Call, error))
    except ValueError:
        # The details do not match the call's code or message: trust the call.
        return None
    return status


def _current_version(metadata: Mapping[str, str]) -> int | None:
    try:
        return int(metadata["current_version"])
    except (KeyError, ValueError):
        return None
