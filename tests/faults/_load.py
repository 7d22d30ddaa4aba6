"""A create load on real threads, every call's outcome and timing, and what is stored."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc
import psycopg
from learning.v1 import cohort_service_pb2
from psycopg.rows import dict_row

from tests.fixtures.server import Metadata
from tests.integration._support import full_cohort

OK = "OK"


@dataclass(frozen=True)
class Outcome:
    """One CreateCohort call: its request_id, when it ran, and how it ended."""

    request_id: str
    started: float
    finished: float
    code: str  # "OK" or a grpc.StatusCode name
    cohort_id: str | None
    details: str

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    @property
    def ok(self) -> bool:
        return self.code == OK


def create_once(stub: Any, metadata: Metadata, *, timeout: float, name: str) -> Outcome:
    """One create with a fresh request_id; never raises for an RPC failure."""
    request_id = str(uuid.uuid4())
    request = cohort_service_pb2.CreateCohortRequest(
        cohort=full_cohort(name=name), request_id=request_id
    )
    started = time.monotonic()
    try:
        created = stub.CreateCohort(request, metadata=metadata, timeout=timeout)
    except grpc.RpcError as error:
        return Outcome(
            request_id, started, time.monotonic(), error.code().name, None, error.details() or ""
        )
    return Outcome(request_id, started, time.monotonic(), OK, created.id, "")


class CreateLoad:
    """`threads` threads creating cohorts back to back until stop()."""

    def __init__(
        self, stub: Any, metadata: Metadata, *, threads: int, timeout: float = 5.0
    ) -> None:
        self._stub = stub
        self._metadata = metadata
        self._timeout = timeout
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self._threads = [
            threading.Thread(target=self._run, args=(index,), daemon=True)
            for index in range(threads)
        ]

    def _run(self, index: int) -> None:
        sequence = 0
        while not self._stopping.is_set():
            sequence += 1
            outcome = create_once(
                self._stub, self._metadata, timeout=self._timeout, name=f"load {index}.{sequence}"
            )
            with self._lock:
                self.outcomes.append(outcome)
            if not outcome.ok:
                # Fail fast must not become a busy loop against a dead server.
                time.sleep(0.02)

    def start(self) -> CreateLoad:
        for thread in self._threads:
            thread.start()
        return self

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def stop(self) -> list[Outcome]:
        self._stopping.set()
        for thread in self._threads:
            thread.join(self._timeout + 5)
            assert not thread.is_alive(), "a load thread is stuck in a call past its deadline"
        return self.snapshot()


def codes(outcomes: Iterable[Outcome]) -> Counter[str]:
    return Counter(outcome.code for outcome in outcomes)


def stored_rows(connection: psycopg.Connection[Any], tenant: str) -> list[dict[str, Any]]:
    """Every row of the tenant as PostgreSQL holds it (read as the owner)."""
    with connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(
            "SELECT id, request_id::text AS request_id, version, name, created_at, updated_at,"
            " created_by, group_id, is_deleted FROM cohorts WHERE tenant_id = %s",
            (tenant,),
        )
        return cursor.fetchall()


def assert_every_acknowledged_create_is_stored(
    acknowledged: list[Outcome], rows: list[dict[str, Any]]
) -> None:
    """Each OK create's id is stored under its request_id, and nothing is half-written."""
    by_request = {row["request_id"]: row for row in rows}
    assert len(by_request) == len(rows), "two stored rows share a request_id"
    missing = [o for o in acknowledged if o.request_id not in by_request]
    assert not missing, f"{len(missing)} acknowledged creates are not stored: {missing[:3]}"
    wrong = [o for o in acknowledged if by_request[o.request_id]["id"] != o.cohort_id]
    assert not wrong, f"stored ids differ from the acknowledged ones: {wrong[:3]}"
    half_written = [
        row
        for row in rows
        if row["version"] < 1
        or not row["name"]
        or not row["group_id"]
        or row["created_at"] is None
        or row["updated_at"] is None
        or not row["created_by"]
        or row["is_deleted"]
    ]
    assert not half_written, f"half-written rows: {half_written[:3]}"
