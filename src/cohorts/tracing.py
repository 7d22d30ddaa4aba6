"""Optional OpenTelemetry tracing: a span per RPC and per SQL statement.

Off unless COHORTS_OTEL_ENABLED is true; needs the `otel` extra
(`pip install -e '.[otel]'`). Spans go to the OTLP endpoint named by the
standard OTEL_EXPORTER_OTLP_ENDPOINT variable when the OTLP exporter is
installed, else to stderr.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

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


def sql_spans(tracer_provider: Any) -> Callable[[str], AbstractContextManager[None]]:
    """A statement hook that gives every SQL statement its own span."""
    from opentelemetry.trace import SpanKind

    tracer = tracer_provider.get_tracer("cohorts.sql")

    @contextmanager
    def span(sql: str) -> Iterator[None]:
        with tracer.start_as_current_span(
            sql.split(None, 1)[0].upper(),
            kind=SpanKind.CLIENT,
            attributes={"db.system": "postgresql", "db.statement": sql},
        ):
            yield

    return span


def _default_exporter(console: Any) -> Any:
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            return OTLPSpanExporter()
        except ImportError:
            _log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is missing")
    return console()
