"""`make run` as a person starts it, and stops it with `kill`: nothing is left running."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import requests

from tests.fixtures.ports import unused_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_signalling_make_run_stops_the_server_its_workers_gateway_and_database(
    tmp_path: Path, signum: int
):
    http_port = unused_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTS_")}
    env |= {
        "COHORTS_DATA_DIR": str(tmp_path / "data"),
        "COHORTS_LISTEN": f"127.0.0.1:{unused_port()}",
        "COHORTS_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "COHORTS_METRICS_LISTEN": f"127.0.0.1:{unused_port()}",
        "COHORTS_WORKERS": "2",
    }
    log = (tmp_path / "make-run.log").open("wb")
    make = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # as from a terminal: the signal goes to make alone
    )
    seen: dict[int, psutil.Process] = {}
    try:
        deadline = time.monotonic() + 90
        while True:
            assert make.poll() is None, (tmp_path / "make-run.log").read_text()
            for process in _tree(psutil.Process(make.pid)):
                seen.setdefault(process.pid, process)
            try:
                openapi = f"http://127.0.0.1:{http_port}/api/v1/learning/openapi.json"
                if requests.get(openapi, timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "make-run.log").read_text()
            time.sleep(0.2)
        for process in _tree(psutil.Process(make.pid)):
            seen.setdefault(process.pid, process)
        postmaster_pid = int((tmp_path / "data/pgdata/postmaster.pid").read_text().split()[0])
        seen[postmaster_pid] = psutil.Process(postmaster_pid)
        names = " ".join(_cmdline(p) for p in seen.values() if _running(p))
        assert "worker" in names and "envoy" in names, names

        os.kill(make.pid, signum)
        make.wait(10)
        deadline = time.monotonic() + 30
        while [p for p in seen.values() if _running(p)] and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [_cmdline(p) for p in seen.values() if _running(p)]
        assert not left, left
    finally:
        for process in seen.values():
            if _running(process):
                process.kill()
        log.close()
