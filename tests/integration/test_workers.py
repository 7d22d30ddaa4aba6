"""COHORTS_WORKERS: the real `cohorts serve` supervising worker processes (issue 5, "All cores").

Each test runs `python -m cohorts.cli serve` as a subprocess against the
session's database and watches it from outside: its children with psutil, its
port with fresh gRPC connections, /metrics over HTTP, its exit status, and the
JSON log lines it and its workers write to stderr.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest
from learning.v1 import cohort_pb2, cohort_service_pb2, cohort_service_pb2_grpc

from tests.fixtures.server import bearer, mint_token
from tests.fixtures.supervised import (
    POOL_SIZE,
    REQUESTS,
    WORKERS,
    Supervised,
    alive,
    wait_for,
)

pytestmark = pytest.mark.slow


def fresh_stub(port: int) -> tuple[grpc.Channel, cohort_service_pb2_grpc.CohortServiceStub]:
    """A channel with its own connection (no subchannel shared with other channels)."""
    channel = grpc.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
    )
    return channel, cohort_service_pb2_grpc.CohortServiceStub(channel)


class Caller:
    """Makes calls over a new connection each time and counts them."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.calls = 0
        self.auth = bearer(mint_token(tenant=f"workers-{time.time_ns()}", sub="ops"))
        self.cohort_id: str | None = None

    def session(self, *, wait_for_ready: bool = False) -> None:
        """One new connection: create (first time) or get, then list; every call must succeed."""
        channel, stub = fresh_stub(self.port)
        with channel:
            options: dict[str, Any] = {"timeout": 10, "wait_for_ready": wait_for_ready}
            if self.cohort_id is None:
                created = stub.CreateCohort(
                    cohort_service_pb2.CreateCohortRequest(
                        cohort=cohort_pb2.Cohort(name="Supervised")
                    ),
                    metadata=self.auth,
                    **options,
                )
                self.cohort_id = created.id
            else:
                fetched = stub.GetCohort(
                    cohort_service_pb2.GetCohortRequest(id=self.cohort_id),
                    metadata=self.auth,
                    **options,
                )
                assert fetched.id == self.cohort_id
            self.calls += 1
            listed = stub.ListCohorts(
                cohort_service_pb2.ListCohortsRequest(), metadata=self.auth, **options
            )
            assert [c.id for c in listed.cohorts] == [self.cohort_id]
            self.calls += 1


def test_workers_share_the_port_are_replaced_when_killed_and_stop_on_sigterm(
    supervise: Callable[..., Supervised],
):
    service = supervise()
    workers = service.wait_until_serving()
    assert len({w.pid for w in workers}) == WORKERS
    assert all(w.ppid() == service.process.pid for w in workers)

    # Many separate connections: the kernel spreads them over both workers.
    caller = Caller(service.port)
    for _ in range(24):
        caller.session()
    assert service.total(REQUESTS) == caller.calls
    assert service.total("cohorts_grpc_request_duration_seconds_count") == caller.calls
    assert service.value("cohorts_grpc_requests_in_flight") == 0
    # livesum gauges add the live workers' pools.
    assert service.value("cohorts_db_pool_size") == WORKERS * POOL_SIZE
    by_pid = service.requests_by_pid()
    assert sum(by_pid.values()) == caller.calls, by_pid
    assert set(by_pid) <= {w.pid for w in workers}, by_pid
    # 24 connections all hashed onto one worker would happen once in ~8 million runs.
    assert len([pid for pid, count in by_pid.items() if count > 0]) == WORKERS, by_pid

    # A worker killed outright is replaced, and the other one keeps answering meanwhile.
    victim, survivor = workers
    os.kill(victim.pid, signal.SIGKILL)
    # Reaped, not merely a zombie: a killed process's leader turns zombie while its
    # other threads still exit, and its listening socket lives until the last one
    # has; connections the kernel hands that socket meanwhile are reset.
    wait_for("the supervisor to reap the killed worker", lambda: not victim.is_running(), 5)
    killed_at = time.monotonic()
    for _ in range(4):
        caller.session()
    new_workers = wait_for(
        "a replacement worker",
        lambda: [w for w in service.workers() if w.pid not in (victim.pid, survivor.pid)],
        3.5 - (time.monotonic() - killed_at),
    )
    assert len(new_workers) == 1 and alive(survivor)
    serving = service.wait_until_serving(timeout=30)
    assert {w.pid for w in serving} == {survivor.pid, new_workers[0].pid}
    for _ in range(8):
        caller.session()
    # Counts survive the worker that made them; its gauges do not linger.
    assert service.total(REQUESTS) == caller.calls
    assert service.value("cohorts_db_pool_size") == WORKERS * POOL_SIZE
    assert service.value("cohorts_grpc_requests_in_flight") == 0
    restarted = [e for e in service.log_entries() if "restarting it" in e.get("message", "")]
    assert len(restarted) == 1 and str(victim.pid) in restarted[0]["message"], restarted

    # SIGTERM to the supervisor stops everything, cleanly and promptly.
    (metrics_dir,) = service.multiprocess_dirs()
    all_workers = list(service.seen_workers.values())
    assert len(all_workers) == WORKERS + 1
    started = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    code = service.process.wait(timeout=15)
    elapsed = time.monotonic() - started
    assert code == 0, service.log()
    assert elapsed < 10, elapsed
    assert not [w.pid for w in all_workers if alive(w)]
    assert not metrics_dir.exists()
    with pytest.raises(urllib.error.URLError):
        service.metrics()
    messages = [e.get("message", "") for e in service.log_entries()]
    assert any("received SIGTERM" in m for m in messages), messages
    # Each remaining worker drained and stopped on its own (no kill after the grace period).
    assert sum("stopped" == m for m in messages) == WORKERS, messages
    assert not any("did not stop in time" in m for m in messages), messages


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port a plain socket holds (listening, SO_REUSEPORT off), so no worker can bind it."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_a_supervisor_refuses_a_port_another_server_holds(
    supervise: Callable[..., Supervised], taken_port: int
):
    # With SO_REUSEPORT the workers could otherwise join the other server and
    # split its traffic; the port is checked before anything starts.
    service = supervise(COHORTS_LISTEN=f"127.0.0.1:{taken_port}")
    assert service.process.wait(timeout=30) == 2
    assert f"COHORTS_LISTEN='127.0.0.1:{taken_port}': port {taken_port} is in use" in service.log()
    assert not any(e.get("message", "").startswith("supervising") for e in service.log_entries())


def test_a_supervisor_whose_workers_keep_dying_gives_up_with_a_failure(
    supervise: Callable[..., Supervised],
):
    # Limits in cohorts.supervisor: more than 5 deaths within 60 s, 0.5 s between restarts.
    # Every worker is killed as soon as it appears, as a crash at start-up would end it.
    started = time.monotonic()
    service = supervise()
    while service.process.poll() is None:
        if time.monotonic() - started > 60:
            raise AssertionError(
                f"the supervisor is still running after 60s, {len(service.seen_workers)} "
                f"workers seen in all:\n{service.log()[-3000:]}"
            )
        for worker in service.workers():  # remembers every worker, however short-lived
            with contextlib.suppress(psutil.NoSuchProcess):
                worker.kill()
        time.sleep(0.05)
    assert service.process.returncode == 1, service.log()
    messages = [e.get("message", "") for e in service.log_entries()]
    assert sum("restarting it" in m for m in messages) == 5, messages
    assert any("giving up" in m for m in messages), messages
    assert service.seen_workers, "no worker was ever seen"
    assert not [pid for pid, w in service.seen_workers.items() if alive(w)]
    assert not service.multiprocess_dirs()
    assert not _cli_processes_left()


def _cli_processes_left() -> list[int]:
    """This test process's descendants that still run the cohorts CLI."""
    left = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "cohorts.cli" in " ".join(child.cmdline()) and alive(child):
                left.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return left


def test_port_zero_cannot_be_shared_by_several_workers(supervise: Callable[..., Supervised]):
    service = supervise(COHORTS_LISTEN="127.0.0.1:0")
    assert service.process.wait(timeout=30) == 2
    assert "COHORTS_WORKERS=1" in service.log()


AUTOGROUP_NICE = re.compile(r"nice (-?\d+)")
# Linux shows every process's autogroup when it has them (CONFIG_SCHED_AUTOGROUP).
HAS_AUTOGROUPS = Path("/proc/self/autogroup").exists()
needs_autogroups = pytest.mark.skipif(
    not HAS_AUTOGROUPS, reason="this kernel has no autogroups (CONFIG_SCHED_AUTOGROUP)"
)


def autogroup_niceness(pid: int) -> int | None:
    """The niceness of pid's session (Linux autogroups), as /proc shows it.

    None for a process in the root autogroup, which /proc shows as nothing:
    one whose ancestors never started a session, as under a container's or
    CI runner's first process.
    """
    text = Path(f"/proc/{pid}/autogroup").read_text()
    if not text.strip():
        return None
    match = AUTOGROUP_NICE.search(text)
    assert match, text
    return int(match.group(1))


@needs_autogroups
def test_a_process_in_the_root_autogroup_reads_as_having_no_session_niceness():
    # PID 1 never starts a session, so it is in the root autogroup (where
    # this test's own process may be too, under some CI runners).
    if Path("/proc/1/autogroup").read_text().strip():
        pytest.skip("PID 1 here leads an autogroup of its own")
    assert autogroup_niceness(1) is None


@pytest.fixture
def own_session_niceness() -> Iterator[int | None]:
    """This session's autogroup niceness, put back after the test.

    None without autogroups, or in the root autogroup, whose niceness cannot
    be changed. A server that wrongly lowered the autogroup it shares with us
    would otherwise slow every later test of the session.
    """
    if not HAS_AUTOGROUPS:
        yield None
        return
    before = autogroup_niceness(os.getpid())
    yield before
    if before is not None and autogroup_niceness(os.getpid()) != before:
        with contextlib.suppress(OSError):  # lowering niceness needs CAP_SYS_NICE
            Path("/proc/self/autogroup").write_text(str(before))


@pytest.mark.parametrize(
    ("setting", "lowered_by"),
    [({}, 0), ({"COHORTS_NICENESS": "10"}, 10)],
    ids=["default-off", "opted-in"],
)
def test_server_processes_lower_their_cpu_priority_only_when_asked(
    supervise: Callable[..., Supervised],
    own_session_niceness: int | None,
    setting: dict[str, str],
    lowered_by: int,
):
    # Stepping behind a database on the same host is for co-located development and
    # benchmarks (cohorts.priority); in production it is off unless set. Started from this process,
    # it shares our session, whose autogroup it must leave alone.
    ours = psutil.Process().nice()
    service = supervise(**setting)
    workers = service.wait_until_serving()
    assert [w.nice() for w in workers] == [min(ours + lowered_by, 19)] * WORKERS
    assert psutil.Process(service.process.pid).nice() == min(ours + lowered_by, 19)
    if own_session_niceness is not None:
        assert autogroup_niceness(os.getpid()) == own_session_niceness


@needs_autogroups
def test_a_server_leading_its_session_lowers_the_sessions_cpu_priority(
    supervise: Callable[..., Supervised], own_session_niceness: int | None
):
    # With autogroups the kernel shares the CPU between sessions before nice
    # orders a session's processes, and pg_ctl runs PostgreSQL in a session of
    # its own: only the session's niceness puts the workers behind it.
    # A new session gets an autogroup of its own even when ours is the root one.
    service = supervise(new_session=True, COHORTS_NICENESS="10")
    workers = service.wait_until_serving()
    assert autogroup_niceness(service.process.pid) == 10
    assert [autogroup_niceness(w.pid) for w in workers] == [10] * WORKERS
    assert autogroup_niceness(os.getpid()) == own_session_niceness
