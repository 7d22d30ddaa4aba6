"""Prometheus metrics: one definition of every metric, safe in multi-process mode.

With PROMETHEUS_MULTIPROC_DIR set (the supervisor sets it for its workers),
prometheus-client writes samples to files there and the supervisor's
endpoint aggregates them; gauges say how to combine processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector

from cohorts.settings import split_host_port

REQUESTS = Counter(
    "cohorts_grpc_requests", "Completed RPCs by method and status code", ["method", "code"]
)
LATENCY = Histogram(
    "cohorts_grpc_request_duration_seconds",
    "RPC latency by method and status code",
    ["method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_FLIGHT = Gauge(
    "cohorts_grpc_requests_in_flight", "RPCs being served", multiprocess_mode="livesum"
)
POOL_SIZE = Gauge(
    "cohorts_db_pool_size", "Connections the pools may hold", multiprocess_mode="livesum"
)
POOL_IN_USE = Gauge(
    "cohorts_db_pool_in_use", "Connections checked out of the pools", multiprocess_mode="livesum"
)
POOL_WAITING = Gauge(
    "cohorts_db_pool_waiting",
    "Requests waiting for a pooled connection",
    multiprocess_mode="livesum",
)
DATABASE_ERRORS = Counter(
    "cohorts_db_errors", "Database errors by class (e.g. OperationalError)", ["error"]
)
AUTH_FAILURES = Counter(
    "cohorts_auth_failures", "Rejected credentials by ErrorInfo reason", ["reason"]
)


class PrometheusStorageObserver:
    """Reports pool waits and database errors from the storage layer."""

    @contextmanager
    def waiting_for_connection(self) -> Iterator[None]:
        POOL_WAITING.inc()
        try:
            yield
        finally:
            POOL_WAITING.dec()

    def connection_checked_out(self) -> None:
        POOL_IN_USE.inc()

    def connection_checked_in(self) -> None:
        POOL_IN_USE.dec()

    def database_error(self, error_class: str) -> None:
        DATABASE_ERRORS.labels(error_class).inc()


def serve_metrics(listen: str) -> None:
    """Expose /metrics on listen (host:port), aggregating workers in multi-process mode."""
    host, port = split_host_port(listen, default_host="127.0.0.1")
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=host, registry=registry)
