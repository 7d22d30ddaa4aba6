"""The TypeScript client in clients/typescript, run by Node against the session's real server.

The Node test (clients/typescript/test/cohorts.test.ts) starts nothing itself: this test
hands it the server's address and tokens for a fresh tenant through the environment.
Without Node.js >= 20 the test is skipped locally, but fails when CI is set: CI must have Node.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.fixtures.gateway import Gateway
from tests.fixtures.server import ServerThread, mint_token

CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "typescript"
MIN_NODE_MAJOR = 20
NPM_CI_TIMEOUT_SECONDS = 240
NODE_TEST_TIMEOUT_SECONDS = 90


def _node_and_npm() -> tuple[str, str]:
    """Paths of node and npm; skips (or fails under CI) when they are missing or too old."""
    node, npm = shutil.which("node"), shutil.which("npm")
    problem: str | None = None
    if node is None or npm is None:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if not path)
        problem = f"{missing} not found on PATH"
    else:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if int(version.lstrip("v").split(".")[0]) < MIN_NODE_MAJOR:
            problem = f"node {version} is too old (the client needs >= {MIN_NODE_MAJOR})"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(
                f"{problem}, but CI is set: CI must install Node.js >= {MIN_NODE_MAJOR} "
                "so the TypeScript client is tested against the real server",
                pytrace=False,
            )
        pytest.skip(
            f"{problem}: skipping the TypeScript client test "
            f"(install Node.js >= {MIN_NODE_MAJOR} to run it)"
        )
    assert node is not None and npm is not None
    return node, npm


def _run(command: list[str], *, env: dict[str, str] | None = None, timeout: float) -> str:
    """Run command in clients/typescript; fail with its output unless it exits 0."""
    try:
        result = subprocess.run(
            command,
            cwd=CLIENT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as expired:
        output = expired.output or ""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        pytest.fail(f"`{' '.join(command)}` timed out after {timeout} s:\n{output}", pytrace=False)
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` exited {result.returncode}:\n{result.stdout}", pytrace=False
        )
    return result.stdout


def _install_dependencies(npm: str) -> None:
    """`npm ci` when node_modules is missing or older than the lockfile."""
    installed = CLIENT_DIR / "node_modules" / ".package-lock.json"
    lockfile = CLIENT_DIR / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lockfile.stat().st_mtime:
        return
    _run([npm, "ci", "--no-audit", "--no-fund"], timeout=NPM_CI_TIMEOUT_SECONDS)


@pytest.mark.slow
@pytest.mark.timeout(NPM_CI_TIMEOUT_SECONDS + NODE_TEST_TIMEOUT_SECONDS + 30)
def test_typescript_client_against_the_real_server(server: ServerThread) -> None:
    node, npm = _node_and_npm()
    _install_dependencies(npm)

    tenant = f"tenant-ts-{uuid.uuid4().hex[:12]}"
    sub = "ts-client"
    env = {
        **os.environ,
        "COHORTS_TARGET": f"http://127.0.0.1:{server.port}",
        "COHORTS_TOKEN": mint_token(tenant=tenant, sub=sub),
        "COHORTS_TENANT": tenant,
        "COHORTS_SUB": sub,
        "COHORTS_OTHER_TOKEN": mint_token(tenant=f"tenant-ts-other-{uuid.uuid4().hex[:12]}"),
        "NO_COLOR": "1",
    }
    # Type errors fail the test too: tsx only strips types.
    _run([node, "node_modules/typescript/bin/tsc", "--noEmit", "-p", "."], timeout=60)
    _run_node_test(node, "test/cohorts.test.ts", env)


@pytest.mark.slow
@pytest.mark.timeout(NPM_CI_TIMEOUT_SECONDS + NODE_TEST_TIMEOUT_SECONDS + 30)
def test_typescript_web_client_over_grpc_web_through_the_gateway(gateway: Gateway) -> None:
    node, npm = _node_and_npm()
    _install_dependencies(npm)
    env = {
        **os.environ,
        "COHORTS_WEB_TARGET": gateway.url,
        "COHORTS_TOKEN": mint_token(tenant=f"tenant-web-{uuid.uuid4().hex[:12]}", sub="web"),
        "NO_COLOR": "1",
    }
    _run_node_test(node, "test/grpc_web.test.ts", env)


def _run_node_test(node: str, path: str, env: dict[str, str]) -> None:
    """Run one Node test file; fail unless it ran tests and every one passed."""
    output = _run(
        [node, "--import", "tsx", "--test", "--test-reporter=spec", path],
        env=env,
        timeout=NODE_TEST_TIMEOUT_SECONDS,
    )
    # A run that collected or ran nothing exits 0 too: check the reporter's totals.
    totals = {
        name: int(count)
        for name, count in re.findall(r"^\S*\s*(pass|fail|skipped) (\d+)\s*$", output, re.M)
    }
    assert totals.get("pass", 0) > 0 and totals.get("fail") == 0, output
    assert totals.get("skipped") == 0, f"some Node tests were skipped:\n{output}"


@pytest.mark.timeout(NPM_CI_TIMEOUT_SECONDS + 60)
def test_typescript_generated_code_is_up_to_date() -> None:
    """clients/typescript/src/gen matches what protoc-gen-es makes from protos/ today."""
    _, npm = _node_and_npm()
    _install_dependencies(npm)
    _run(["bash", "generate.sh", "--check"], timeout=60)


SCRATCH_PROGRAM = """
import { createCohortsClient, errorInfo } from "@learning/cohorts-client";

const { client, close } = createCohortsClient({
  baseUrl: process.env.COHORTS_TARGET,
  token: process.env.COHORTS_TOKEN,
});
const created = await client.createCohort({ cohort: { name: "From a scratch project" } });
const fetched = await client.getCohort({ id: created.id });
let reason;
try {
  await client.getCohort({ id: "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R" });
} catch (error) {
  reason = errorInfo(error)?.reason;
}
console.log(JSON.stringify({ id: fetched.id, name: fetched.name, reason }));
close();
"""


@pytest.mark.slow
@pytest.mark.timeout(2 * NPM_CI_TIMEOUT_SECONDS + NODE_TEST_TIMEOUT_SECONDS)
def test_the_packed_client_installs_in_another_project_and_runs_on_plain_node(
    server: ServerThread, tmp_path: Path
) -> None:
    node, npm = _node_and_npm()
    _install_dependencies(npm)
    packed = _run(
        [npm, "pack", "--pack-destination", str(tmp_path), "--silent"],
        timeout=NPM_CI_TIMEOUT_SECONDS,
    )
    (tarball,) = tmp_path.glob("*.tgz")
    assert tarball.name in packed, packed
    project = tmp_path / "scratch"
    project.mkdir()
    (project / "package.json").write_text('{"name": "scratch", "private": true, "type": "module"}')
    (project / "main.js").write_text(SCRATCH_PROGRAM)
    installed = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", str(tarball)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=NPM_CI_TIMEOUT_SECONDS,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    env = {
        **os.environ,
        "COHORTS_TARGET": f"http://127.0.0.1:{server.port}",
        "COHORTS_TOKEN": mint_token(tenant=f"tenant-pack-{uuid.uuid4().hex[:12]}"),
    }
    ran = subprocess.run(
        [node, "main.js"], cwd=project, env=env, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    result = json.loads(ran.stdout)
    assert result["name"] == "From a scratch project" and result["id"].startswith("coh_")
    assert result["reason"] == "COHORT_NOT_FOUND"
