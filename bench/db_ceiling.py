"""The database ceiling: each call's statements, captured from the service, run by pgbench."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psycopg
from sqlalchemy.engine import make_url

from bench import pgbench as pgb
from bench.calls import Call
from bench.dataset import SERVICE_ROLE, Dataset
from bench.layout import PGBENCH, PGDATA, log
from bench.loadgen import Bench


@dataclass
class DbCeiling:
    """What pgbench achieved with one scenario's statements."""

    tps: float
    transactions: int
    failed: int
    latency_ms: float
    database_cpu: float
    loadgen_cpu: float
    machine_cpu: float
    wall: float


# Scenario: (kind of script, table its ids are drawn from).
SQL_KINDS = {
    "get": ("read", "bench_ids"),
    "list": ("read", None),
    "list_filtered": ("read", None),
    "create": ("create", None),
    "update": ("update", "bench_update_ids"),
}


def capture_sql(
    bench: Bench, dataset: Dataset, calls: dict[str, Call], bearer: str
) -> dict[str, Any]:
    """The statements one call of each kind sends PostgreSQL, from the service itself.

    log_statement is switched on for the service's role in this database, a
    one-worker server is started (its connections pick the setting up), each
    call is made once, and the lines it added to PostgreSQL's log are parsed.
    The setting is reset and that server stopped before anything is measured.
    """
    log_file = PGDATA / "log"
    database = dataset.database
    with psycopg.connect(dataset.owner_url, autocommit=True) as connection:
        connection.execute(
            f"ALTER ROLE {SERVICE_ROLE} IN DATABASE \"{database}\" SET log_statement = 'all'"
        )
    captured: dict[str, Any] = {}
    try:
        server = bench.start_server(dataset.owner_url, 1)
        metadata = (("authorization", f"Bearer {bearer}"),)
        with grpc.insecure_channel(server.target) as channel:
            for name in SQL_KINDS:
                call = calls[name]
                offset = log_file.stat().st_size
                raw = channel.unary_unary(
                    call.path, request_serializer=None, response_deserializer=None
                )
                raw(call.messages[0], metadata=metadata, timeout=30)
                time.sleep(0.1)  # the backend has written its lines; let them land
                with open(log_file, "rb") as f:
                    f.seek(offset)
                    captured[name] = pgb.parse_log(f.read().decode(errors="replace"))
    finally:
        bench.stop_server()
        with psycopg.connect(dataset.owner_url, autocommit=True) as connection:
            connection.execute(
                f'ALTER ROLE {SERVICE_ROLE} IN DATABASE "{database}" RESET log_statement'
            )
    return captured


def write_scripts(
    directory: Path, dataset: Dataset, captured: dict[str, list[pgb.Statement]]
) -> dict[str, Path]:
    """One pgbench script per scenario, from its captured statements."""
    directory.mkdir(parents=True, exist_ok=True)
    counts = {"bench_ids": len(dataset.get_ids), "bench_update_ids": len(dataset.update_ids)}
    paths = {}
    for name, (kind, table) in SQL_KINDS.items():
        text = pgb.script(
            captured[name], kind=kind, id_table=table, id_count=counts.get(table or "", 0)
        )
        path = directory / f"{name}.sql"
        path.write_text(text)
        paths[name] = path
    return paths


def run_pgbench(
    bench: Bench, dataset: Dataset, scripts: list[tuple[Path, int]], duration: float
) -> DbCeiling:
    """pgbench with the weighted scripts, as many clients as h2load has calls in flight."""
    url = make_url(dataset.owner_url)
    host = str(url.query["host"])
    bench.wait_idle()
    meter = bench.cpu_meter()
    run = pgb.Pgbench(
        pgbench=str(PGBENCH),
        scripts=scripts,
        host=host,
        database=dataset.database,
        user=SERVICE_ROLE,
        clients=bench.args.clients * bench.args.streams,
        threads=2,
        duration=duration,
        variables={},
    )
    result = run.wait()
    cpu = meter.stop()
    return DbCeiling(
        tps=result.tps,
        transactions=result.transactions,
        failed=result.failed,
        latency_ms=result.latency_ms,
        database_cpu=cpu.database,
        loadgen_cpu=result.cpu_seconds,
        machine_cpu=cpu.machine,
        wall=cpu.wall,
    )


def measure_db_ceilings(
    bench: Bench, dataset: Dataset, scripts: dict[str, Path], mix: dict[str, int]
) -> dict[str, DbCeiling]:
    """Each scenario's ceiling, and the mix's (the scripts weighted by their shares)."""
    plans: dict[str, list[tuple[Path, int]]] = {
        name: [(scripts[name], 1)] for name in ("get", "list", "list_filtered", "create", "update")
    }
    plans["mixed"] = [(scripts[name], share) for name, share in mix.items()]
    duration = 1.0 if bench.args.quick else bench.args.duration
    ceilings: dict[str, DbCeiling] = {}
    for name, plan in plans.items():
        ceilings[name] = c = run_pgbench(bench, dataset, plan, duration)
        log(
            f"{'pgbench ' + name:<22} {c.tps:>9.0f} tps  avg {c.latency_ms:6.2f} ms  "
            f"failed {c.failed}  db {c.database_cpu / max(c.transactions, 1) * 1000:.3f} "
            f"loadgen {c.loadgen_cpu / max(c.transactions, 1) * 1000:.3f} cpu-s/1k"
        )
    return ceilings
