"""Load generation: h2load processes against a running server, and the numbers they yield."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.calls import Call
from bench.dataset import Dataset, Facts, Profile, tenant_facts
from bench.h2load import H2Load, H2Result, ensure_h2load, ensure_shim, percentile
from bench.http_face import BenchGateway
from bench.layout import DATA_DIR, PGDATA
from bench.machine import CpuMeter, CpuWindow, tree_cpu_seconds
from bench.servers import EchoServer, Server, ServerProcess
from bench.tenant_traffic import summarize

MAX_PLACEMENTS = 12


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
        """The q-th percentile latency in milliseconds."""
        return percentile(sorted(self.latencies_us), q) / 1000

    def per_1k(self, seconds: float) -> float:
        """seconds per 1,000 requests of this measurement."""
        return seconds / self.requests * 1000 if self.requests else float("nan")


def balanced(spread: list[int], total: int) -> bool:
    """Calls in flight (or connections) spread over the workers as evenly as their number allows."""
    if len(spread) <= 1:
        return True
    return max(spread) - min(spread) <= max(1, total // 8)


class Bench:
    """What every measurement needs: tools, the database server, the running servers.

    The service (`server`) serves every call but the echo, which the echo
    server (`echo`) serves; each is started with the same worker count and
    niceness when a scenario needs it.
    """

    def __init__(self, args: argparse.Namespace, profile: Profile, work: Path) -> None:
        self.args = args
        self.profile = profile
        self.work = work
        self.h2load_path = ensure_h2load()
        self.shim = ensure_shim(DATA_DIR / "build")
        self.server: Server | None = None
        self.echo: EchoServer | None = None
        self.postmaster = int((PGDATA / "postmaster.pid").read_text().split()[0])

    def cpu_meter(
        self, server: ServerProcess | None = None, gateway: BenchGateway | None = None
    ) -> CpuMeter:
        """A CPU window over server (none: the service, if running), PostgreSQL and gateway."""
        server = server or self.server
        return CpuMeter(
            server_pid=server.process.pid if server else None,
            postmaster_pid=self.postmaster,
            gateway_pid=gateway.pid if gateway else None,
        )

    def wait_idle(self) -> None:
        """Until the servers and PostgreSQL are done with calls a load generator abandoned.

        Idle means two consecutive quarter-seconds under 10 % of one core each.
        """
        deadline = time.monotonic() + (5.0 if self.args.quick else 20.0)
        pids = [s.process.pid for s in (self.server, self.echo) if s] + [self.postmaster]

        def used() -> float:
            return sum(tree_cpu_seconds(pid) for pid in pids)

        last, quiet = used(), 0
        while time.monotonic() < deadline and quiet < 2:
            time.sleep(0.25)
            now = used()
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
        """The service, in place of any running one."""
        self.stop_server()
        self.server = Server(
            owner_url,
            workers=workers,
            log_path=DATA_DIR / "server.log",
            migrate_on_start=migrate_on_start,
            niceness=getattr(self.args, "niceness", None),
        )
        return self.server

    def start_echo(self, workers: int | None) -> EchoServer:
        """The echo server, in place of any running one, as many workers as the service."""
        self.stop_echo()
        self.echo = EchoServer(
            workers=workers,
            log_path=DATA_DIR / "echo-server.log",
            niceness=getattr(self.args, "niceness", None),
        )
        return self.echo

    def stop_server(self) -> None:
        """Stop the service, if it runs."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def stop_echo(self) -> None:
        """Stop the echo server, if it runs."""
        if self.echo is not None:
            self.echo.stop()
            self.echo = None

    def serving(self, parts: list[Part]) -> ServerProcess:
        """The server the parts' calls go to: the echo server for echo calls, else the service."""
        echo = {part.call.echo for part in parts}
        if len(echo) != 1:
            raise ValueError("a scenario's calls go to one server: all echo or none")
        server = self.echo if echo == {True} else self.server
        if server is None:
            raise RuntimeError(f"no {'echo server' if echo == {True} else 'service'} running")
        return server

    def h2load(
        self,
        name: str,
        parts: list[Part],
        bearer: str,
        *,
        duration: float | None = None,
        warmup: float | None = None,
        on_restart: Callable[[], None] | None = None,
        gateway: BenchGateway | None = None,
    ) -> Measurement:
        """Run the parts' h2load processes together; on_restart runs if they reconnect.

        They go to the server that serves their calls (`serving`), or to the
        gateway in front of it.
        """
        server = self.serving(parts)
        duration = self.args.duration if duration is None else duration
        warmup = self.args.warmup if warmup is None else warmup
        self.wait_idle()
        niceness = max(server.niceness(), default=0)
        address = gateway.target if gateway else server.target

        def start() -> list[H2Load]:
            return [
                H2Load(
                    h2load=self.h2load_path,
                    shim=self.shim,
                    urls=[
                        f"http://{address}{path}" for path in (part.call.paths or [part.call.path])
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
                    requests=part.call.requests,
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
            tries = 1 if self.args.quick or gateway else MAX_PLACEMENTS  # quick asserts no speed
            in_flight = sum(part.clients * part.streams for part in parts)
            for attempt in range(tries):
                runs = start()
                started_at = time.monotonic()
                spread = server.connections_per_process()
                while (
                    not gateway
                    and sum(spread) < connections
                    and time.monotonic() - started_at < 2.0
                ):
                    time.sleep(0.05)
                    spread = server.connections_per_process()
                streams = {p: run.streams for run in runs for p in run.local_ports(server.port)}
                calls = server.connections_per_process(streams)
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
            meter = self.cpu_meter(server, gateway)
            loadgen_before = [tree_cpu_seconds(run.pid) for run in runs]
            results = [run.wait() for run in runs]
            cpu = meter.stop()
        finally:
            for run in runs:
                run.kill()
        for result, before in zip(results, loadgen_before, strict=True):
            result.cpu_seconds -= before
        measurement = _measurement(name, parts, results, cpu, warmup=warmup)
        measurement.spread = spread
        measurement.calls_spread = calls
        measurement.placements = placements
        return measurement


def _measurement(
    name: str, parts: list[Part], results: list[H2Result], cpu: CpuWindow, *, warmup: float
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
            "p95_ms": round(percentile(ordered, 95) / 1000, 3),
            "p99_ms": round(percentile(ordered, 99) / 1000, 3),
            "mean_ms": round(sum(ordered) / len(ordered) / 1000, 3) if ordered else None,
            "grpc_ok": result.grpc_ok,
            "errors": result.errors,
            "bodies": result.bodies or 1,
            "grpc_status": result.grpc_status,
        }
        if result.calls:
            measurement.parts[part.call.name]["kinds"] = summarize(
                result.calls, part.call.kinds, warmup_s=warmup
            )
    return measurement
