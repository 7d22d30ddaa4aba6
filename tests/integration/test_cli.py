"""The command line as a person meets it: help that says everything, bad arguments refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from tests.fixtures.server import TEST_JWT_SECRET


def cohorts(
    *args: str, cwd: Path | None = None, **settings: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTS_")} | settings
    return subprocess.run(
        [sys.executable, "-m", "cohorts.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_the_commands_people_use_and_nothing_internal():
    result = cohorts("--help")
    assert result.returncode == 0, result.stderr
    for command in ("serve", "migrate", "reencode", "gateway-config", "token"):
        assert command in result.stdout
    assert "SUPPRESS" not in result.stdout and "worker" not in result.stdout
    assert "COHORTS_" in result.stdout


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ("serve", ["COHORTS_LISTEN", "COHORTS_HTTP_LISTEN", "COHORTS_DATABASE_URL", "SIGTERM"]),
        (
            "token",
            ["--tenant", "--sub", "--app", "--ttl", "COHORTS_JWT_SECRET", "COHORTS_DATA_DIR"],
        ),
        ("gateway-config", ["--listen", "--upstream", "COHORTS_HTTP_LISTEN"]),
    ],
)
def test_each_commands_help_describes_its_options_and_settings(command: str, mentions: list[str]):
    result = cohorts(command, "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for mention in mentions:
        assert mention in text, (mention, result.stdout)


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--tenant", "", "--sub", "s"], "--tenant: must not be empty"),
        (["--tenant", "   ", "--sub", "s"], "--tenant: must not be empty"),
        (["--tenant", "t", "--sub", ""], "--sub: must not be empty"),
        (["--tenant", "t", "--sub", "s", "--app", ""], "--app: must not be empty"),
        (["--tenant", "t", "--sub", "s", "--ttl", "-100"], "--ttl: must be between"),
        (["--tenant", "t", "--sub", "s", "--ttl", "0"], "--ttl: must be between"),
        (["--tenant", "t", "--sub", "s", "--ttl", "soon"], "--ttl: 'soon' is not a whole"),
    ],
)
def test_token_refuses_arguments_the_server_would_reject(
    arguments: list[str], complaint: str, tmp_path: Path
):
    result = cohorts("token", *arguments, COHORTS_JWT_SECRET=TEST_JWT_SECRET)
    assert result.returncode == 2, result.stdout
    assert complaint in result.stderr and not result.stdout
    assert "Traceback" not in result.stderr


def test_token_mints_for_the_servers_own_development_secret(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "dev-jwt-secret").write_text("the-servers-development-secret-0123456789abcdef")
    result = cohorts("token", "--tenant", "acme", "--sub", "alice", COHORTS_DATA_DIR=str(data))
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(
        result.stdout.strip(), "the-servers-development-secret-0123456789abcdef", ["HS256"]
    )
    assert (claims["tenant_id"], claims["sub"]) == ("acme", "alice")
    assert claims["exp"] - claims["iat"] == 3600


def test_token_outside_the_checkout_says_where_it_looked_and_creates_nothing(tmp_path: Path):
    result = cohorts("token", "--tenant", "acme", "--sub", "alice", cwd=tmp_path)
    assert result.returncode == 2
    assert str(tmp_path / ".cohorts" / "dev-jwt-secret") in result.stderr
    assert "COHORTS_DATA_DIR" in result.stderr and not result.stdout
    assert not (tmp_path / ".cohorts").exists()
