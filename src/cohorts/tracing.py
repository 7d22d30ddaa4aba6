"""Optional OpenTelemetry tracing: a span per RPC and per SQL statement.

Off unless COHORTS_OTEL_ENABLED is true; needs the `otel` extra
(`pip install -e '.[otel]'`). Spans go to the OTLP endpoint named by the
standard OTEL_EXPORTER_OTLP_ENDPOINT variable when the OTLP exporter is
installed, else to stderr.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

_log = logging.getLogger(__name__)


def start_tracing(*, exporter: Any | None = None) -> Any | None:
    """Install a tracer provider and instrument grpc.aio servers; None without the extra.

    Call before the gRPC server is created: the instrumentor adds its
    interceptor to servers made afterwards.
    """
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorServer
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError:
        _log.warning("COHORTS_OTEL_ENABLED is set but the `otel` extra is not installed")
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": "cohorts"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(_default_exporter(ConsoleSpanExporter)))
    trace.set_tracer_provider(provider)
    GrpcAioInstrumentorServer().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    return provider


def trace_sql(engine: AsyncEngine, tracer_provider: Any) -> None:
    """Give every SQL statement on engine its own span.

    Hand-rolled on SQLAlchemy's cursor events: opentelemetry-instrumentation-
    sqlalchemy 0.66 refuses SQLAlchemy 2.1.
    """
    from opentelemetry.trace import SpanKind, Status, StatusCode

    tracer = tracer_provider.get_tracer("cohorts.sql")

    def before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: Any
    ) -> None:
        context._cohorts_span = tracer.start_span(
            statement.split(None, 1)[0].upper(),
            kind=SpanKind.CLIENT,
            attributes={"db.system": "postgresql", "db.statement": statement},
        )

    def after(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: Any
    ) -> None:
        span = getattr(context, "_cohorts_span", None)
        if span is not None:
            span.end()

    def failed(exception_context: Any) -> None:
        span = getattr(exception_context.execution_context, "_cohorts_span", None)
        if span is not None:
            span.record_exception(exception_context.original_exception)
            span.set_status(Status(StatusCode.ERROR))
            span.end()

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    event.listen(engine.sync_engine, "handle_error", failed)


def _default_exporter(console: Any) -> Any:
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            return OTLPSpanExporter()
        except ImportError:
            _log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is missing")
    return console()
