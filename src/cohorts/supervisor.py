"""Runs COHORTS_WORKERS server processes on one port, and the HTTP gateway, and keeps them running.

Workers are fresh interpreters (`cohorts worker`), not forks: grpcio must not
be initialised before a fork (https://github.com/grpc/grpc/blob/master/doc/fork_support.md),
and this process never imports grpc at all. The kernel spreads incoming
connections over the workers through SO_REUSEPORT. With COHORTS_HTTP_LISTEN set,
Envoy runs beside them as the HTTP/JSON and gRPC-Web gateway (cohorts.gateway).

Every child is asked to die with this process (cohorts.lifetime), so none outlives
a supervisor that was killed outright.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from cohorts.lifetime import die_with_parent
from cohorts.settings import Settings

_log = logging.getLogger(__name__)

_POLL_SECONDS = 0.2
_RESTART_DELAY_SECONDS = 0.5
# More deaths than this within the window means something is broken for good.
_MAX_RESTARTS = 5
_RESTART_WINDOW_SECONDS = 60.0
_GATEWAY_STOP_SECONDS = 5.0


@dataclass
class _Child:
    """One supervised process and how to start another like it."""

    role: str
    start: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes]


class Supervisor:
    """Starts, watches, restarts and stops the worker processes and the gateway."""

    def __init__(self, settings: Settings, *, database_url: str) -> None:
        self._settings = settings
        self._metrics_dir = tempfile.mkdtemp(prefix="cohorts-metrics-")
        self._env = {
            **os.environ,
            "COHORTS_DATABASE_URL": database_url,
            "COHORTS_MIGRATE_ON_START": "false",
            "COHORTS_WORKERS": str(settings.workers),
            "PROMETHEUS_MULTIPROC_DIR": self._metrics_dir,
        }
        self._gateway_dir: str | None = None
        self._gateway_command: list[str] | None = None
        self._workers: list[_Child] = []
        self._gateway: _Child | None = None
        self._restarts: deque[float] = deque()
        self._stopping = False

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; the exit status is 0 unless children kept dying."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        if self._settings.metrics_listen:
            from cohorts.metrics import serve_metrics  # reads PROMETHEUS_MULTIPROC_DIR

            os.environ["PROMETHEUS_MULTIPROC_DIR"] = self._metrics_dir
            serve_metrics(self._settings.metrics_listen)
        try:
            sockets: list[str] = []
            if self._settings.http_listen:
                # One socket per worker, so the gateway spreads calls over them itself
                # (through the shared port, SO_REUSEPORT would pin each of its few
                # connections to one worker).
                self._gateway_dir = tempfile.mkdtemp(prefix="cohorts-gateway-")
                sockets = [
                    f"unix:{self._gateway_dir}/worker-{n}.sock"
                    for n in range(self._settings.workers)
                ]
            self._workers = [
                _Child("worker", start, start())
                for start in (
                    functools.partial(self._spawn_worker, sockets[n : n + 1])
                    for n in range(self._settings.workers)
                )
            ]
            _log.info("supervising %d workers on %s", self._settings.workers, self._settings.listen)
            if self._gateway_dir is not None:
                self._gateway_command = gateway_command(
                    self._settings, Path(self._gateway_dir), tuple(sockets)
                )
                self._gateway = _Child("gateway", self._spawn_gateway, self._spawn_gateway())
                _log.info("HTTP/JSON and gRPC-Web gateway on %s", self._settings.http_listen)
            status = self._watch()
        finally:
            self._stop_all()
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
            if self._gateway_dir is not None:
                shutil.rmtree(self._gateway_dir, ignore_errors=True)
        return status

    def _spawn_worker(self, also_listen: list[str]) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "cohorts.cli", "worker"]
        for address in also_listen:
            command += ["--also-listen", address]
        return subprocess.Popen(command, env=self._env, preexec_fn=die_with_parent)

    def _spawn_gateway(self) -> subprocess.Popen[bytes]:
        assert self._gateway_command is not None
        return subprocess.Popen(
            self._gateway_command,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self._stopping:
            _log.info("received %s: stopping workers", signal.Signals(signum).name)
        self._stopping = True

    def _children(self) -> list[_Child]:
        return [*self._workers, *([self._gateway] if self._gateway else [])]

    def _watch(self) -> int:
        while not self._stopping:
            time.sleep(_POLL_SECONDS)
            for child in self._children():
                code = child.process.poll()
                if code is None or self._stopping:
                    continue
                if child.role == "worker":
                    self._forget(child.process.pid)
                now = time.monotonic()
                self._restarts.append(now)
                while self._restarts and now - self._restarts[0] > _RESTART_WINDOW_SECONDS:
                    self._restarts.popleft()
                if len(self._restarts) > _MAX_RESTARTS:
                    _log.error(
                        "workers or the gateway died %d times in %.0fs; giving up",
                        len(self._restarts),
                        _RESTART_WINDOW_SECONDS,
                    )
                    return 1
                _log.warning(
                    "%s %d exited with %s; restarting it", child.role, child.process.pid, code
                )
                time.sleep(_RESTART_DELAY_SECONDS)
                child.process = child.start()
        return 0

    def _stop_all(self) -> None:
        # Workers first: the gateway keeps answering (503 while they drain) until
        # they have finished the calls it forwarded.
        for child in self._workers:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._settings.grace_period_seconds + 5
        for child in self._workers:
            _wait_or_kill(child, timeout=max(deadline - time.monotonic(), 0.1))
            self._forget(child.process.pid)
        if self._gateway is not None:
            if self._gateway.process.poll() is None:
                self._gateway.process.send_signal(signal.SIGTERM)
            _wait_or_kill(self._gateway, timeout=_GATEWAY_STOP_SECONDS)
            _log.info("gateway stopped")

    def _forget(self, pid: int) -> None:
        if self._settings.metrics_listen:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, self._metrics_dir)  # type: ignore[no-untyped-call]


def _wait_or_kill(child: _Child, *, timeout: float) -> None:
    try:
        child.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _log.warning("%s %d did not stop in time; killing it", child.role, child.process.pid)
        child.process.kill()
        child.process.wait()


def gateway_command(settings: Settings, runtime_dir: Path, upstreams: tuple[str, ...]) -> list[str]:
    """Render the gateway's config into runtime_dir and return the command that runs Envoy."""
    from cohorts.gateway.process import envoy_command, gateway_options, write_config

    config = write_config(gateway_options(settings, upstreams=upstreams), runtime_dir)
    return envoy_command(config, log_level=_envoy_log_level(settings.log_level))


def _envoy_log_level(python_level: str) -> str:
    # Envoy's info level narrates its whole start-up; ours is one line per call.
    return {"DEBUG": "info", "ERROR": "error", "CRITICAL": "critical"}.get(
        python_level.upper(), "warn"
    )
