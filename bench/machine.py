"""Facts about the machine a benchmark ran on, and the CPU its processes used meanwhile."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psutil

from bench.layout import ROOT, log


def machine(**tools: Sequence[str]) -> dict[str, Any]:
    """CPU, memory, OS and library versions; plus each tool's `--version` line, by name."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout
    facts: dict[str, Any] = {
        "nproc": int(nproc) if nproc.strip().isdigit() else os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
    }
    return facts | {name: tool_version(command) for name, command in tools.items()}


def tool_version(command: Sequence[str]) -> str:
    """What a tool prints when asked for its version."""
    return subprocess.run(list(command), capture_output=True, text=True, check=False).stdout.strip()


def git_revision() -> str:
    """The checked-out commit, marked when src/ has uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    revision = git("rev-parse", "--short", "HEAD") or "unknown"
    return revision + ("+dirty src" if git("status", "--porcelain", "--", "src") else "")


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


def process_tree(pid: int | None) -> list[psutil.Process]:
    """A process and its live descendants; empty when it is gone."""
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_cpu_seconds(pid: int | None) -> float:
    """User + system seconds of a process, its live descendants and its reaped ones."""
    total = 0.0
    for process in process_tree(pid):
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
    """Reads the CPU of the measured server, PostgreSQL and a gateway at a window's ends."""

    def __init__(
        self, *, server_pid: int | None, postmaster_pid: int, gateway_pid: int | None = None
    ) -> None:
        self._pids = (server_pid, postmaster_pid, gateway_pid)
        self._started = self._read()

    def _read(self) -> tuple[float, float, float, float, float]:
        server, database, gateway = (tree_cpu_seconds(pid) for pid in self._pids)
        return server, database, busy_cpu_seconds(), time.monotonic(), gateway

    def stop(self) -> CpuWindow:
        """What each used since the meter was made."""
        now, then = self._read(), self._started
        return CpuWindow(
            server=now[0] - then[0],
            database=now[1] - then[1],
            machine=now[2] - then[2],
            wall=now[3] - then[3],
            gateway=now[4] - then[4],
        )
