"""Optional OpenTelemetry tracing: one span per RPC, one per SQL statement."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from learning.v1 import cohort_pb2, cohort_service_pb2, cohort_service_pb2_grpc
from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorServer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cohorts.storage.database import as_role
from tests.fixtures.server import ServerThread, bearer, make_settings, mint_token


@pytest.fixture(scope="module")
def traced(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerThread, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    settings = make_settings(tmp_path_factory.mktemp("traced"), otel_enabled=True)
    server = ServerThread(settings, as_role(database_url), span_exporter=exporter)
    yield server, exporter
    server.stop()
    # The instrumentor patches grpc.aio.server globally; later servers stay untraced.
    GrpcAioInstrumentorServer().uninstrument()  # type: ignore[no-untyped-call]


def test_a_traced_server_records_a_span_for_the_rpc_and_for_its_sql(traced, tenant) -> None:
    server, exporter = traced
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = cohort_service_pb2_grpc.CohortServiceStub(channel)
        stub.CreateCohort(
            cohort_service_pb2.CreateCohortRequest(cohort=cohort_pb2.Cohort(name="Traced")),
            metadata=bearer(mint_token(tenant=tenant)),
        )
    names = [span.name for span in exporter.get_finished_spans()]
    assert "/learning.v1.CohortService/CreateCohort" in names
    assert any(name.startswith(("INSERT", "SELECT", "connect")) for name in names), names
