"""The README walkthroughs, run verbatim against a real server, so the documentation cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures.gateway import Gateway
from tests.fixtures.server import TEST_JWT_SECRET, ServerThread

ROOT = Path(__file__).resolve().parents[2]


def _walkthrough(marker: str) -> str:
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    walkthroughs = [block for block in blocks if marker in block]
    assert len(walkthroughs) == 1, f"README must have exactly one walkthrough block with {marker}"
    return walkthroughs[0]


def _run(block: str, tmp_path: Path, **addresses: str) -> str:
    env = {
        **os.environ,
        **addresses,
        # `cohorts token` mints for the same key the test server verifies with.
        "COHORTS_JWT_SECRET": TEST_JWT_SECRET,
        "COHORTS_DATA_DIR": str(tmp_path),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_the_grpc_walkthrough_works_verbatim(server: ServerThread, tmp_path: Path) -> None:
    output = _run(_walkthrough("buf curl"), tmp_path, COHORTS_ADDR=f"127.0.0.1:{server.port}")
    for expected in (
        "learning.v1.CohortService/UndeleteCohort",  # reflection lists every method
        '"status": "SERVING"',  # health
        '"name": "Spring 2027 (B)"',  # the masked update took effect
        '"code": "aborted"',  # the stale update
        '"code": "invalid_argument"',  # the invalid create
        '"isDeleted": true',  # soft delete and show_deleted
        '"code": "not_found"',  # the other tenant
    ):
        assert expected in output, f"{expected} missing from the walkthrough's output:\n{output}"


def test_the_http_walkthrough_works_verbatim(gateway: Gateway, tmp_path: Path) -> None:
    address = gateway.url.removeprefix("http://")
    output = _run(_walkthrough("/api/v1/learning/cohorts"), tmp_path, COHORTS_HTTP_ADDR=address)
    for expected in (
        '"name":"Spring 2027 (B)"',  # the masked update took effect
        '"tags":["beta","evening"]',
        '"reason":"VERSION_MISMATCH"',  # the stale update
        '"current_version":"2"',
        '"isDeleted":true',  # soft delete and showDeleted
        '"reason":"COHORT_NOT_FOUND"',  # the other tenant
        "HTTP 404",
        "CohortService HTTP/JSON API",  # the OpenAPI document
    ):
        assert expected in output, f"{expected} missing from the walkthrough's output:\n{output}"
