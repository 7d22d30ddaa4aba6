"""The README walkthroughs, run verbatim against a real server, so the documentation cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from tests.fixtures.gateway import Gateway
from tests.fixtures.server import TEST_JWT_SECRET, ServerThread, mint_token

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
    return _output(["bash", "-euo", "pipefail", "-c", block], cwd=ROOT, env=env)


def _output(command: list[str], *, cwd: Path, env: dict[str, str]) -> str:
    """What command printed; the test fails unless it exits 0."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
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


def test_the_python_client_example_works_verbatim(server: ServerThread, tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    examples = [block for block in blocks if "from cohorts.client import" in block]
    assert len(examples) == 1, "README must have exactly one Python client example"
    tenant = f"tenant-readme-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "COHORTS_ADDR": f"127.0.0.1:{server.port}",
        "TOKEN": mint_token(tenant=tenant, sub="alice"),
    }
    output = _output([sys.executable, "-c", examples[0]], cwd=tmp_path, env=env)
    for expected in (
        "version 1",
        "stale update; the stored version is 2",
        "invalid: ['cohort.name']",
        "Spring 2027 (B)",
        "deleted: True",
        "no such cohort",
    ):
        assert expected in output, f"{expected} missing from the example's output:\n{output}"
