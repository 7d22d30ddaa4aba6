"""Runs COHORTS_WORKERS server processes on one port and keeps them running.

Workers are fresh interpreters (`cohorts worker`), not forks: grpcio must not
be initialised before a fork (https://github.com/grpc/grpc/blob/master/doc/fork_support.md),
and this process never imports grpc at all. The kernel spreads incoming
connections over the workers through SO_REUSEPORT.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from types import FrameType

from cohorts.settings import Settings

_log = logging.getLogger(__name__)

_POLL_SECONDS = 0.2
_RESTART_DELAY_SECONDS = 0.5
# More deaths than this within the window means something is broken for good.
_MAX_RESTARTS = 5
_RESTART_WINDOW_SECONDS = 60.0


class Supervisor:
    """Starts, watches, restarts and stops the worker processes."""

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
        self._workers: list[subprocess.Popen[bytes]] = []
        self._restarts: deque[float] = deque()
        self._stopping = False

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; the exit status is 0 unless workers kept dying."""
        problem = _port_taken(self._settings.listen)
        if problem:
            # SO_REUSEPORT would let our workers join whoever holds the port and
            # silently split its traffic with them.
            _log.error("cannot listen on %s: %s", self._settings.listen, problem)
            return 1
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        if self._settings.metrics_listen:
            from cohorts.metrics import serve_metrics  # reads PROMETHEUS_MULTIPROC_DIR

            os.environ["PROMETHEUS_MULTIPROC_DIR"] = self._metrics_dir
            serve_metrics(self._settings.metrics_listen)
        try:
            self._workers = [self._spawn() for _ in range(self._settings.workers)]
            _log.info("supervising %d workers on %s", self._settings.workers, self._settings.listen)
            status = self._watch()
        finally:
            self._stop_all()
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
        return status

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "cohorts.cli", "worker"], env=self._env)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self._stopping:
            _log.info("received %s: stopping workers", signal.Signals(signum).name)
        self._stopping = True

    def _watch(self) -> int:
        while not self._stopping:
            time.sleep(_POLL_SECONDS)
            for index, worker in enumerate(self._workers):
                code = worker.poll()
                if code is None or self._stopping:
                    continue
                self._forget(worker.pid)
                now = time.monotonic()
                self._restarts.append(now)
                while self._restarts and now - self._restarts[0] > _RESTART_WINDOW_SECONDS:
                    self._restarts.popleft()
                if len(self._restarts) > _MAX_RESTARTS:
                    _log.error(
                        "workers died %d times in %.0fs; giving up",
                        len(self._restarts),
                        _RESTART_WINDOW_SECONDS,
                    )
                    return 1
                _log.warning("worker %d exited with %s; restarting it", worker.pid, code)
                time.sleep(_RESTART_DELAY_SECONDS)
                self._workers[index] = self._spawn()
        return 0

    def _stop_all(self) -> None:
        for worker in self._workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._settings.grace_period_seconds + 5
        for worker in self._workers:
            try:
                worker.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _log.warning("worker %d did not stop in time; killing it", worker.pid)
                worker.kill()
                worker.wait()
            self._forget(worker.pid)

    def _forget(self, pid: int) -> None:
        if self._settings.metrics_listen:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, self._metrics_dir)  # type: ignore[no-untyped-call]


def _port_taken(listen: str) -> str | None:
    """Why listen cannot be bound exclusively right now, or None when it can."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, int(port)))
        except OSError as error:
            return f"{error.strerror or error} (is another server running?)"
    return None
