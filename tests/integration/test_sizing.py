"""COHORTS_WORKERS defaults to the CPUs the process may use, and the start says what that costs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cohorts.settings import usable_cpus
from cohorts.storage.database import as_role
from tests.fixtures.ports import unused_port
from tests.fixtures.server import TEST_JWT_SECRET

pytestmark = pytest.mark.slow


def test_usable_cpus_follow_the_affinity_mask():
    allowed = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(allowed)})
        assert usable_cpus() == 1
    finally:
        os.sched_setaffinity(0, allowed)
    assert usable_cpus() <= len(allowed)


def test_a_server_pinned_to_one_cpu_runs_one_worker_and_logs_its_connection_budget(
    database_url: str, tmp_path: Path
):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTS_")}
    env |= {
        "COHORTS_DATABASE_URL": as_role(database_url),
        "COHORTS_MIGRATE_ON_START": "false",
        "COHORTS_LISTEN": f"127.0.0.1:{unused_port()}",
        "COHORTS_JWT_SECRET": TEST_JWT_SECRET,
        "COHORTS_POOL_SIZE": "3",
        "COHORTS_LOG_FORMAT": "text",
        "COHORTS_DATA_DIR": str(tmp_path),
    }
    first = min(os.sched_getaffinity(0))
    process = subprocess.Popen(
        [sys.executable, "-m", "cohorts.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {first}),  # as `taskset -c N` would
    )
    try:
        deadline = time.monotonic() + 30
        lines: list[str] = []
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "listening on" in line or not line:
                break
        log = "".join(lines)
        assert "1 worker(s) x 3 pooled connections: up to 3 database connections" in log, log
        assert "supervising" not in log, log  # one worker runs in the process itself
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
