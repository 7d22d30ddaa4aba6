"""The README's walkthrough, run verbatim against a real server, so the documentation cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures.server import TEST_JWT_SECRET, ServerThread

ROOT = Path(__file__).resolve().parents[2]


def _walkthrough() -> str:
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    walkthroughs = [block for block in blocks if "buf curl" in block]
    assert len(walkthroughs) == 1, "README must have exactly one buf curl walkthrough block"
    return walkthroughs[0]


def test_the_readme_walkthrough_works_verbatim(server: ServerThread, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "COHORTS_ADDR": f"127.0.0.1:{server.port}",
        # `cohorts token` mints for the same key the test server verifies with.
        "COHORTS_JWT_SECRET": TEST_JWT_SECRET,
        "COHORTS_DATA_DIR": str(tmp_path),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _walkthrough()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
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
