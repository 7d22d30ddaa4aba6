"""One place that times, counts and logs every RPC (metrics and the access log)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import grpc

from cohorts.api.interception import Behaviour, UnaryInterceptor
from cohorts.api.request_context import RequestRecord, bind_record, reset_record
from cohorts.metrics import IN_FLIGHT, LATENCY, REQUESTS

REQUEST_ID_HEADER = "x-request-id"
_MAX_REQUEST_ID_CHARS = 128

access_log = logging.getLogger("cohorts.access")


def _correlation_id(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID_HEADER and isinstance(value, str):
            if 0 < len(value) <= _MAX_REQUEST_ID_CHARS and value.isprintable():
                return value
    return uuid.uuid4().hex


def _observed(method: str, behaviour: Behaviour, correlation_id: str) -> Behaviour:
    async def observed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        record = RequestRecord(correlation_id)
        token = bind_record(record)
        started = time.perf_counter()
        IN_FLIGHT.inc()
        code = grpc.StatusCode.UNKNOWN
        try:
            response = await behaviour(request, context)
            code = grpc.StatusCode.OK
            return response
        except BaseException:
            code = context.code() or grpc.StatusCode.CANCELLED
            raise
        finally:
            elapsed = time.perf_counter() - started
            IN_FLIGHT.dec()
            reset_record(token)
            code_name = code.name if isinstance(code, grpc.StatusCode) else str(code)
            REQUESTS.labels(method, code_name).inc()
            LATENCY.labels(method, code_name).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %.1fms",
                    method,
                    code_name,
                    elapsed * 1000,
                    extra={
                        "method": method,
                        "code": code_name,
                        "duration_ms": round(elapsed * 1000, 3),
                        "tenant_id": record.tenant_id,
                        "app_id": record.app_id,
                        "request_id": correlation_id,
                        "peer": context.peer(),
                    },
                )

    return observed


class ObservabilityInterceptor(UnaryInterceptor):
    """Outermost interceptor: every unary RPC is timed, counted and logged once."""

    def wrap(self, details: grpc.HandlerCallDetails, behaviour: Behaviour) -> Behaviour:
        correlation_id = _correlation_id(details.invocation_metadata)
        return _observed(details.method, behaviour, correlation_id)
