"""What one RPC's access-log line and error details need to know about the call."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(slots=True)
class RequestRecord:
    """Filled in as the call goes through the interceptors; logged once at the end."""

    correlation_id: str
    tenant_id: str | None = None
    app_id: str | None = None


_record: contextvars.ContextVar[RequestRecord | None] = contextvars.ContextVar(
    "cohorts_request_record", default=None
)


def current_record() -> RequestRecord | None:
    """The record of the RPC being served, if the observability interceptor runs."""
    return _record.get()


def bind_record(record: RequestRecord) -> contextvars.Token[RequestRecord | None]:
    """Make record the current one; pass the token to reset_record afterwards."""
    return _record.set(record)


def reset_record(token: contextvars.Token[RequestRecord | None]) -> None:
    """Undo bind_record."""
    _record.reset(token)
