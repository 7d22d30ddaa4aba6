"""The server processes a benchmark drives: the service (`cohorts serve`) and the echo server.

Each runs in a session of its own, configured by COHORTS_* variables as `make
run` would configure the service, logs to bench/.data, and counts as ready
once health answers SERVING and every worker listens on the shared port.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.dataset import JWT_SECRET, as_service_role
from bench.echo_server import worker_socket
from bench.layout import COHORTS, DATA_DIR, ROOT
from bench.machine import process_tree


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def default_workers() -> int:
    """COHORTS_WORKERS when unset, as the server's settings define it."""
    from cohorts.settings import Settings

    value = Settings.model_fields["workers"].get_default(call_default_factory=True)
    return int(value)


class ServerProcess:
    """A server's process tree: started, waited for, inspected and stopped."""

    name = "server"

    def __init__(
        self,
        command: list[str],
        variables: dict[str, str],
        *,
        workers: int | None,
        niceness: int | None,
        log_path: Path,
    ) -> None:
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.workers = workers
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        prefix = self.name.replace(" ", "-") + "-"
        self.runtime_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=DATA_DIR))
        env = {key: value for key, value in os.environ.items() if not key.startswith("COHORTS_")}
        env |= {"TMPDIR": str(self.runtime_dir), "PATH": f"{COHORTS.parent}:{env.get('PATH', '')}"}
        env |= variables | {
            "COHORTS_LISTEN": self.target,
            "COHORTS_JWT_SECRET": JWT_SECRET,
            "COHORTS_LOG_LEVEL": "WARNING",
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
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready(log_path)

    def _wait_ready(self, log_path: Path, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)  # type: ignore[no-untyped-call]
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited; see {log_path}")
                try:
                    response = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if response.status == health_pb2.HealthCheckResponse.SERVING:
                        self._wait_listening(deadline)
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become SERVING in {timeout}s; see {log_path}")

    def _wait_listening(self, deadline: float) -> None:
        """Until every worker listens, so SO_REUSEPORT can place connections on all of them."""
        expected = self.workers if self.workers is not None else default_workers()
        while time.monotonic() < deadline and self.listening() < expected:
            time.sleep(0.1)
        time.sleep(0.3)  # the last one's pool and health check start just after it listens

    def listening(self) -> int:
        """Processes of the server's tree listening on its port."""
        count = 0
        for process in process_tree(self.process.pid):
            try:
                if any(
                    c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.port
                    for c in process.net_connections(kind="tcp")
                ):
                    count += 1
            except psutil.NoSuchProcess:
                continue
        return count

    def niceness(self) -> list[int]:
        """The distinct nice values of the server's processes (COHORTS_NICENESS at work)."""
        try:
            return sorted({p.nice() for p in process_tree(self.process.pid)})
        except psutil.NoSuchProcess:
            return []

    def processes(self) -> int:
        """Processes in the server's tree (a supervisor and its workers, or one)."""
        return len(process_tree(self.process.pid))

    def connections_per_process(self, weights: Mapping[int, int] | None = None) -> list[int]:
        """Established client connections per listening process (SO_REUSEPORT's spread).

        With weights (client port to a connection's weight, 1 for any other),
        each process's connections are summed by weight instead.
        """
        counts: list[int] = []
        for process in process_tree(self.process.pid):
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
        """SIGTERM, then SIGKILL to the session after 30 s; removes the runtime directory."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)


class Server(ServerProcess):
    """`cohorts serve` in a subprocess, configured the way `make run` would be.

    With a gateway address, each worker also listens on a socket of its own,
    where the HTTP scenarios' gateway reaches it (bench/http_face.py); the
    server's own gateway idles.
    """

    name = "cohorts serve"

    def __init__(
        self,
        owner_url: str,
        *,
        workers: int | None,
        log_path: Path,
        migrate_on_start: bool = True,
        niceness: int | None = None,
    ) -> None:
        variables = {
            "COHORTS_HTTP_LISTEN": f"127.0.0.1:{free_port()}",
            "COHORTS_DATABASE_URL": as_service_role(owner_url),
            "COHORTS_MIGRATIONS_DATABASE_URL": owner_url,
            "COHORTS_MIGRATE_ON_START": "true" if migrate_on_start else "false",
        }
        super().__init__(
            [str(COHORTS), "serve"],
            variables,
            workers=workers,
            niceness=niceness,
            log_path=log_path,
        )

    def worker_sockets(self) -> tuple[str, ...]:
        """The workers' own sockets (`unix:` addresses), one per worker."""
        found = sorted(self.runtime_dir.glob("cohorts-gateway-*/worker-*.sock"))
        if len(found) != self.processes() - 2:  # the supervisor and its gateway
            raise RuntimeError(f"expected a socket per worker, found {found}")
        return tuple(f"unix:{path}" for path in found)


class EchoServer(ServerProcess):
    """bench/echo_server.py in a subprocess, with the settings the service gets."""

    name = "echo server"

    def __init__(self, *, workers: int | None, log_path: Path, niceness: int | None = None) -> None:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        self.socket_dir = Path(tempfile.mkdtemp(prefix="echo-sockets-", dir=DATA_DIR))
        super().__init__(
            [sys.executable, "-m", "bench.echo_server", "--socket-dir", str(self.socket_dir)],
            {},
            workers=workers,
            niceness=niceness,
            log_path=log_path,
        )

    def worker_sockets(self) -> tuple[str, ...]:
        """The workers' own sockets (`unix:` addresses), one per worker."""
        count = self.workers if self.workers is not None else default_workers()
        return tuple(worker_socket(str(self.socket_dir), n) for n in range(count))

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
