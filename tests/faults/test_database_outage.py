"""PostgreSQL stops under load and starts again: fail fast, recover alone, lose nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from learning.v1 import cohort_pb2, cohort_service_pb2, cohort_service_pb2_grpc

from cohorts.api.handlers import SERVICE_NAME
from tests.faults._load import (
    CreateLoad,
    assert_every_acknowledged_create_is_stored,
    codes,
    create_once,
    stored_rows,
)
from tests.faults.conftest import FaultPostgres, start_fault_server
from tests.fixtures.server import ServerThread, bearer, mint_token

LOAD_THREADS = 6
CALL_DEADLINE_SECONDS = 5.0
# A failure during the outage must come back far sooner than the deadline.
FAIL_FAST_SECONDS = 2.0
OUTAGE_SECONDS = 1.5
RECOVERY_SECONDS = 5.0

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _metadata(tenant: str) -> tuple[tuple[str, str], ...]:
    return bearer(mint_token(tenant=tenant, sub="fault-tester"))


@pytest.fixture
def fault_channel(fault_server: ServerThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{fault_server.port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield channel


@pytest.fixture
def fault_stub(fault_channel: grpc.Channel) -> Any:
    return cohort_service_pb2_grpc.CohortServiceStub(fault_channel)


def _health(channel: grpc.Channel, service: str = "") -> Any:
    response = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=2
    )
    return response.status


def _wait_for_health(channel: grpc.Channel, wanted: Any, within: float) -> float:
    """Seconds until Check() answers `wanted` for the server and for the service."""
    started = time.monotonic()
    seen: list[Any] = []
    while time.monotonic() - started < within:
        seen = [_health(channel), _health(channel, SERVICE_NAME)]
        if seen == [wanted, wanted]:
            return time.monotonic() - started
        time.sleep(0.05)
    names = [health_pb2.HealthCheckResponse.ServingStatus.Name(status) for status in seen]
    raise AssertionError(f"health stayed {names} for {within}s")


def test_an_outage_under_load_fails_fast_with_unavailable_recovers_and_loses_no_write(
    fault_postgres: FaultPostgres, fault_stub: Any
) -> None:
    stub = fault_stub
    tenant = f"outage-{uuid.uuid4().hex[:10]}"
    metadata = _metadata(tenant)
    assert create_once(stub, metadata, timeout=CALL_DEADLINE_SECONDS, name="warm-up").ok

    load = CreateLoad(stub, metadata, threads=LOAD_THREADS, timeout=CALL_DEADLINE_SECONDS)
    load.start()
    try:
        time.sleep(0.7)
        stop_began = time.monotonic()
        stop_took = fault_postgres.stop()
        time.sleep(OUTAGE_SECONDS)
        start_took = fault_postgres.start()
        restarted = time.monotonic()
        recovered_after: float | None = None
        while time.monotonic() - restarted < RECOVERY_SECONDS:
            if any(o.ok and o.started >= restarted for o in load.snapshot()):
                recovered_after = time.monotonic() - restarted
                break
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        outcomes = load.stop()
        fault_postgres.ensure_running()

    acknowledged = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    in_outage = [o for o in outcomes if o.finished >= stop_began and o.started <= restarted]
    print(
        f"\noutage: pg_ctl stop {stop_took:.2f}s, down {OUTAGE_SECONDS}s, start {start_took:.2f}s;"
        f" {len(outcomes)} calls {dict(codes(outcomes))};"
        f" slowest failure {max((o.seconds for o in failed), default=0):.3f}s;"
        f" first success {recovered_after}s after restart"
    )

    assert failed, "no call failed: the database was never really down during the load"
    assert codes(failed).keys() == {"UNAVAILABLE"}, [(o.code, o.details) for o in failed[:5]]
    slow = [o for o in failed if o.seconds >= FAIL_FAST_SECONDS]
    assert not slow, f"failures that took {[round(o.seconds, 2) for o in slow]}s"
    assert any(not o.ok for o in in_outage)
    assert recovered_after is not None, f"no call succeeded within {RECOVERY_SECONDS}s of restart"
    assert create_once(stub, metadata, timeout=CALL_DEADLINE_SECONDS, name="after").ok

    with fault_postgres.connect() as connection:
        rows = stored_rows(connection, tenant)
    load_rows = [row for row in rows if row["name"].startswith("load ")]
    assert_every_acknowledged_create_is_stored(acknowledged, load_rows)
    attempted = {o.request_id for o in outcomes}
    assert {row["request_id"] for row in load_rows} <= attempted
    failed_but_stored = len({o.request_id for o in failed} & {r["request_id"] for r in load_rows})
    print(
        f"FAULT-RESULT outage acknowledged={len(acknowledged)} stored={len(load_rows)}"
        f" failed_unavailable={len(failed)} failed_but_stored={failed_but_stored}"
    )
    assert len(acknowledged) <= len(load_rows) <= len(acknowledged) + len(failed)


def test_health_follows_the_database_down_and_up_again(
    fault_postgres: FaultPostgres, fault_channel: grpc.Channel
) -> None:
    channel = fault_channel
    _wait_for_health(channel, _SERVING, within=3)
    try:
        stop_took = fault_postgres.stop()
        went_down = _wait_for_health(channel, _NOT_SERVING, within=3)
        start_took = fault_postgres.start()
        came_back = _wait_for_health(channel, _SERVING, within=5)
    finally:
        fault_postgres.ensure_running()
    print(
        f"\nhealth: NOT_SERVING {went_down:.2f}s after pg_ctl stop returned ({stop_took:.2f}s),"
        f" SERVING {came_back:.2f}s after pg_ctl start returned ({start_took:.2f}s)"
    )


def _wait_for_lock_waiter(fault_postgres: FaultPostgres, within: float = 3.0) -> None:
    """Until a service backend waits on a row lock."""
    deadline = time.monotonic() + within
    with fault_postgres.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = 'cohorts' AND wait_event_type = 'Lock'"
            ).fetchone()
            if waiting is not None and waiting[0] > 0:
                return
            time.sleep(0.02)
    raise AssertionError("the service's update never waited on the row lock")


def test_an_exhausted_pool_fails_within_the_deadline_and_never_hangs(
    fault_postgres: FaultPostgres, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = start_fault_server(fault_postgres, tmp_path_factory.mktemp("pool1"), pool_size=1)
    tenant = f"pool-{uuid.uuid4().hex[:10]}"
    metadata = _metadata(tenant)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = cohort_service_pb2_grpc.CohortServiceStub(channel)
            created = create_once(stub, metadata, timeout=5, name="locked")
            assert created.ok, created

            # Keep the only pooled connection busy: an update waits on a row
            # lock that an outside transaction holds.
            blocked: dict[str, Any] = {}
            locker = fault_postgres.connect()
            locker.autocommit = False
            locker.execute(
                "SELECT 1 FROM cohorts WHERE tenant_id = %s AND id = %s FOR UPDATE",
                (tenant, created.cohort_id),
            )

            def update() -> None:
                request = cohort_service_pb2.UpdateCohortRequest(
                    cohort=cohort_pb2.Cohort(id=created.cohort_id, name="renamed"),
                )
                request.update_mask.paths.append("name")
                try:
                    blocked["result"] = stub.UpdateCohort(request, metadata=metadata, timeout=6)
                    blocked["code"] = "OK"
                except grpc.RpcError as error:
                    blocked["code"] = error.code().name

            holder = threading.Thread(target=update, daemon=True)
            holder.start()
            try:
                _wait_for_lock_waiter(fault_postgres)
                short = create_once(stub, metadata, timeout=0.5, name="short deadline")
                # Longer than the pool timeout (1 s): the pool itself must give up.
                longer = create_once(stub, metadata, timeout=3, name="pool timeout")
            finally:
                locker.rollback()
                locker.close()
            holder.join(10)
            assert not holder.is_alive()
            after = create_once(stub, metadata, timeout=5, name="after")
    finally:
        server.stop()

    print(
        f"\npool exhausted: 0.5s deadline -> {short.code} in {short.seconds:.3f}s"
        f" ({short.details!r}); 3s deadline -> {longer.code} in {longer.seconds:.3f}s"
        f" ({longer.details!r}); blocked update -> {blocked.get('code')}"
    )
    allowed = {"DEADLINE_EXCEEDED", "UNAVAILABLE", "RESOURCE_EXHAUSTED"}
    assert short.code in allowed and short.seconds < 1.0, short
    assert longer.code in {"UNAVAILABLE", "RESOURCE_EXHAUSTED"} and longer.seconds < 2.0, longer
    assert blocked.get("code") == "OK", blocked
    assert after.ok, after
