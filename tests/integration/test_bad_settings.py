"""Every bad setting: one line naming the variable and what to do, exit 2, nothing left running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.fixtures.ports import unused_port
from tests.fixtures.server import TEST_JWT_SECRET

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def held_port() -> Iterator[int]:
    """A port another process (this one) listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def serve(
    tmp_path: Path, command: str = "serve", **settings: str
) -> subprocess.CompletedProcess[str]:
    """`cohorts <command>` with only these COHORTS_* settings; fails the test if it hangs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTS_")}
    env |= {"COHORTS_DATA_DIR": str(tmp_path / "data"), "COHORTS_LOG_FORMAT": "text"}
    env |= settings
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    result = subprocess.run(
        [sys.executable, "-m", "cohorts.cli", command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    left = [c for c in psutil.Process().children(recursive=True) if c.pid not in before]
    assert not left, f"processes left running: {[c.cmdline() for c in left]}"
    assert not (tmp_path / "data" / "pgdata").exists(), "the embedded database was started"
    return result


def _one_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("cohorts: ")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


UNREACHABLE = f"postgresql://cohorts_app:pw@127.0.0.1:{unused_port()}/cohorts"


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"COHORTS_POOL_SIZE": "abc"}, ["COHORTS_POOL_SIZE='abc'", "integer"]),
        ({"COHORTS_POOL_SIZE": "0"}, ["COHORTS_POOL_SIZE='0'", "greater than or equal to 1"]),
        ({"COHORTS_WORKERS": "-2"}, ["COHORTS_WORKERS='-2'"]),
        ({"COHORTS_JWT_SECRET": "short"}, ["COHORTS_JWT_SECRET=(set)", "32 bytes"]),
        ({"COHORTS_LISTEN": "not-an-address"}, ["COHORTS_LISTEN='not-an-address'", "host:port"]),
        ({"COHORTS_LISTEN": ":99999"}, ["COHORTS_LISTEN=':99999'", "65535"]),
        ({"COHORTS_HTTP_LISTEN": "localhost"}, ["COHORTS_HTTP_LISTEN='localhost'", "host:port"]),
        ({"COHORTS_METRICS_LISTEN": "1.2.3.4:0"}, ["COHORTS_METRICS_LISTEN", "between 1 and"]),
        ({"COHORTS_LOG_LEVEL": "LOUD"}, ["COHORTS_LOG_LEVEL='LOUD'", "INFO"]),
        ({"COHORTS_LOG_FORMAT": "xml"}, ["COHORTS_LOG_FORMAT='xml'", "json"]),
        ({"COHORTS_NICENESS": "42"}, ["COHORTS_NICENESS='42'", "19"]),
        ({"COHORTS_MIGRATE_ON_START": "perhaps"}, ["COHORTS_MIGRATE_ON_START='perhaps'"]),
        ({"COHORTS_GRACE_PERIOD_SECONDS": "soon"}, ["COHORTS_GRACE_PERIOD_SECONDS='soon'"]),
        ({"COHORTS_JWKS": "/no/such/jwks.json"}, ["COHORTS_JWKS", "http(s) URL"]),
        ({"COHORTS_JWT_PUBLIC_KEY_FILE": "/no/such.pem"}, ["COHORTS_JWT_PUBLIC_KEY_FILE"]),
        (
            {"COHORTS_DATABASE_URL": "mysql://nobody@127.0.0.1/db"},
            ["COHORTS_DATABASE_URL='mysql://", "postgresql://"],
        ),
        (
            {"COHORTS_DATABASE_URL": "postgresql://x@h:notaport/db"},
            ["COHORTS_DATABASE_URL", "not a valid PostgreSQL URL"],
        ),
        (
            {"COHORTS_DATABASE_URL": UNREACHABLE, "COHORTS_JWT_SECRET": TEST_JWT_SECRET},
            ["COHORTS_DATABASE_URL", "cannot connect to PostgreSQL at 127.0.0.1:", "refused"],
        ),
        (
            {"COHORTS_DATABASE_URL": UNREACHABLE, "COHORTS_JWKS": "https://issuer.example/jwks"},
            ["COHORTS_PAGE_TOKEN_SECRET", "every replica"],
        ),
        (
            {"COHORTS_LISTEN": "127.0.0.1:0", "COHORTS_WORKERS": "2"},
            ["COHORTS_LISTEN='127.0.0.1:0'", "COHORTS_WORKERS=1"],
        ),
        ({"COHORTS_LISTEN": "10.254.254.254:50051"}, ["COHORTS_LISTEN", "no address"]),
        ({"COHORTS_LISTEN": "[not-ipv6]:1"}, ["COHORTS_LISTEN", "IPv6"]),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, dict) else None,
)
def test_a_bad_setting_is_one_clear_line_and_exit_2(
    tmp_path: Path, settings: dict[str, str], words: list[str]
):
    _one_line(serve(tmp_path, **settings), *words)


@pytest.mark.parametrize(
    "variable", ["COHORTS_LISTEN", "COHORTS_HTTP_LISTEN", "COHORTS_METRICS_LISTEN"]
)
def test_a_port_in_use_names_the_setting_that_wants_it(
    tmp_path: Path, held_port: int, variable: str
):
    settings = {
        "COHORTS_LISTEN": f"127.0.0.1:{unused_port()}",
        variable: f"127.0.0.1:{held_port}",
    }
    _one_line(serve(tmp_path, **settings), variable, f"port {held_port} is in use")


def test_migrate_against_a_database_that_does_not_answer_is_one_line(tmp_path: Path):
    result = serve(tmp_path, "migrate", COHORTS_DATABASE_URL=UNREACHABLE)
    _one_line(result, "COHORTS_DATABASE_URL", "cannot connect to PostgreSQL")
