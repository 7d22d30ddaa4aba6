"""The errors use cases raise; the API edge maps each to one gRPC status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field: its path in the request and what is wrong with it."""

    field: str
    description: str


class DomainError(Exception):
    """Base of every error a caller may be told about."""

    reason = "DOMAIN_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """The request itself is wrong; nothing was read or written."""

    reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        violations: Sequence[FieldViolation],
        *,
        message: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.violations = tuple(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations[:5])
        if len(self.violations) > 5:
            summary += f" (and {len(self.violations) - 5} more)"
        super().__init__(message or f"invalid request: {summary}")
        if reason is not None:
            self.reason = reason


class NotFound(DomainError):
    """No cohort with that id in the caller's scope (or it is deleted, for Delete)."""

    reason = "COHORT_NOT_FOUND"


class VersionMismatch(DomainError):
    """The caller's expected version is not the stored one."""

    reason = "VERSION_MISMATCH"

    def __init__(self, *, expected: int, current: int) -> None:
        super().__init__(
            f"version mismatch: expected version {expected} but the cohort is at version "
            f"{current}; read it again and retry with version {current}"
        )
        self.expected = expected
        self.current_version = current


class CohortDeleted(DomainError):
    """The cohort is soft-deleted, so it cannot be changed until undeleted."""

    reason = "COHORT_DELETED"


class CohortNotDeleted(DomainError):
    """Undelete was asked for a cohort that is live."""

    reason = "COHORT_NOT_DELETED"


class RequestIdReused(DomainError):
    """The request_id already created a cohort the caller may not see."""

    reason = "REQUEST_ID_REUSED"


class Unauthenticated(DomainError):
    """The caller's credentials are missing or not acceptable."""

    def __init__(self, message: str, *, reason: str = "INVALID_TOKEN") -> None:
        super().__init__(message)
        self.reason = reason


class StorageUnavailable(DomainError):
    """The database cannot be reached or is overloaded; a retry may succeed."""

    reason = "STORAGE_UNAVAILABLE"


class TenantBusy(DomainError):
    """The tenant already has as much costly work in flight as one tenant may; retry later."""

    reason = "TENANT_BUSY"


class DeadlineExceeded(DomainError):
    """The caller's deadline passed before the work finished; nothing was written."""

    reason = "DEADLINE_EXCEEDED"
