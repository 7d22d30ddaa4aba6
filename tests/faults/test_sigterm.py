"""SIGTERM in the middle of a load on the real `cohorts serve`: drain, exit 0, lose nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from learning.v1 import cohort_service_pb2_grpc

from tests.faults._load import (
    CreateLoad,
    assert_every_acknowledged_create_is_stored,
    codes,
    stored_rows,
)
from tests.faults.conftest import FaultPostgres
from tests.fixtures.ports import unused_port
from tests.fixtures.server import TEST_JWT_SECRET, bearer, mint_token

GRACE_SECONDS = 3
LOAD_THREADS = 6


def _serve(fault_postgres: FaultPostgres, port: int, work_dir: Path) -> subprocess.Popen[bytes]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("COHORTS_")}
    env.update(
        COHORTS_DATABASE_URL=fault_postgres.app_url,
        COHORTS_MIGRATE_ON_START="false",
        COHORTS_LISTEN=f"127.0.0.1:{port}",
        COHORTS_JWT_SECRET=TEST_JWT_SECRET,
        COHORTS_PAGE_TOKEN_SECRET="x",
        COHORTS_GRACE_PERIOD_SECONDS=str(GRACE_SECONDS),
        COHORTS_DATA_DIR=str(work_dir / "data"),
        COHORTS_LOG_LEVEL="INFO",
    )
    log = (work_dir / "serve.log").open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "cohorts.cli", "serve"],
            env=env,
            cwd=work_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()


def _log_messages(log: str) -> list[str]:
    """The message of every log line, whether the log is JSON lines or `... name: message`."""
    messages = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict) and "message" in record:
            messages.append(str(record["message"]))
        else:
            messages.append(line.rsplit(": ", 1)[-1])
    return messages


def _wait_until_serving(channel: grpc.Channel, process: subprocess.Popen[bytes]) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, f"cohorts serve exited with {process.returncode}"
        try:
            status = health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
        except grpc.RpcError:
            status = None
        if status == health_pb2.HealthCheckResponse.SERVING:
            return
        time.sleep(0.1)
    raise AssertionError("cohorts serve never became SERVING")


def test_sigterm_under_load_drains_exits_cleanly_and_loses_no_write(
    fault_postgres: FaultPostgres, tmp_path_factory: pytest.TempPathFactory
) -> None:
    work_dir = tmp_path_factory.mktemp("serve")
    port = unused_port()
    tenant = f"sigterm-{uuid.uuid4().hex[:10]}"
    metadata = bearer(mint_token(tenant=tenant, sub="sigterm-tester"))
    process = _serve(fault_postgres, port, work_dir)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            _wait_until_serving(channel, process)
            stub: Any = cohort_service_pb2_grpc.CohortServiceStub(channel)
            load = CreateLoad(stub, metadata, threads=LOAD_THREADS, timeout=5).start()
            try:
                time.sleep(1.0)
                assert process.poll() is None
                signalled = time.monotonic()
                process.send_signal(signal.SIGTERM)
                try:
                    returncode = process.wait(GRACE_SECONDS + 5)
                except subprocess.TimeoutExpired:
                    returncode = None
                exited_after = time.monotonic() - signalled
                time.sleep(0.5)  # calls against the stopped server, too
            finally:
                outcomes = load.stop()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    log = (work_dir / "serve.log").read_text(errors="replace")

    acknowledged = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    spanning = [o for o in outcomes if o.started < signalled <= o.finished]
    with fault_postgres.connect() as connection:
        rows = stored_rows(connection, tenant)
    print(
        f"\nsigterm: exit {returncode} {exited_after:.2f}s after the signal;"
        f" {len(outcomes)} calls {dict(codes(outcomes))};"
        f" in flight at the signal: {dict(codes(spanning))};"
        f" failures: {sorted({(o.code, o.details) for o in failed})[:4]}"
    )
    cancelled = [o for o in failed if o.code == "CANCELLED"]
    stored_requests = {row["request_id"] for row in rows}
    print(
        f"FAULT-RESULT sigterm acknowledged={len(acknowledged)} stored={len(rows)}"
        f" unavailable={codes(outcomes)['UNAVAILABLE']} cancelled={len(cancelled)}"
        f" cancelled_but_stored={sum(o.request_id in stored_requests for o in cancelled)}"
    )

    assert returncode == 0, log[-3000:]
    assert exited_after < GRACE_SECONDS + 5
    messages = _log_messages(log)
    assert any(m.startswith("shutting down") for m in messages), log[-3000:]
    assert "stopped" in messages, log[-3000:]
    assert messages.index("stopped") > min(
        i for i, m in enumerate(messages) if m.startswith("shutting down")
    )
    assert "Traceback" not in log, log[-3000:]
    assert acknowledged, "no create succeeded before the signal"
    # grpc.aio's server.stop() cancels calls that had reached the server but
    # not yet a handler (a bare grpc.aio server does the same): the client
    # sees CANCELLED, not UNAVAILABLE. Such a call never ran, and CANCELLED
    # only ever ends calls after the signal was sent.
    assert set(codes(failed)) <= {"UNAVAILABLE", "CANCELLED"}, [
        (o.code, o.details) for o in failed[:5]
    ]
    assert all(o.finished >= signalled for o in cancelled), cancelled
    assert_every_acknowledged_create_is_stored(acknowledged, rows)
    assert {row["request_id"] for row in rows} <= {o.request_id for o in outcomes}
    assert len(acknowledged) <= len(rows) <= len(outcomes)
