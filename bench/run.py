"""`make bench`: every RPC's throughput and latency against the ceilings of this stack.

    python -m bench.run [--quick] [--workers N] [--duration S] [--growth]

Starts an embedded PostgreSQL in bench/.data, seeds a database (bench/seed.py,
bench/dataset.py), starts the server as `make run` does (`.venv/bin/cohorts
serve`, configured by COHORTS_* variables, COHORTS_WORKERS passed through) and,
beside it, the echo server (bench/echo_server.py) with the same settings, and
drives them with h2load (bench/h2load.py, bench/loadgen.py) posting
pre-serialised gRPC requests: a fixed number of calls in flight over a few
HTTP/2 connections, a warm-up, then a fixed duration per scenario
(bench/scenarios.py); then the same methods as HTTP/JSON through Envoy
(bench/http_face.py). In the same run it measures the ceilings with the same
client settings: the echo RPC (`cohorts.bench.Echo/Echo`, on the echo server:
the service's own server options and interceptors, authentication included,
around a method that does no work) and the database (the same SQL driven by
pgbench -M prepared, bench/db_ceiling.py); for HTTP, the echo transcoded by
an Envoy of the same config in front of the echo server.

Per scenario: requests/s, p50/p95/p99 latency (from h2load's per-request
log), errors (gRPC statuses other than OK, counted by the h2load shim, plus
h2load's own failures, plus any shortfall the row counts show for writes),
CPU seconds per 1,000 requests of the server process tree, PostgreSQL and the
load generator, and the ratios to the two ceilings (bench/report.py). Prints
a table, writes bench/results/<timestamp>.json and (full runs) replaces the
"## Throughput against the ceilings" section of docs/performance.md
(bench/run_section.py).

--quick is the CI smoke test: tiny data, 2 s per scenario, under a minute; it
asserts only that every scenario completed requests with zero errors.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.dataset import FULL, QUICK, Dataset, Profile, prepare_main_dataset, token
from bench.doc import DOC, write_section
from bench.h2load import ToolMissing, ensure_h2load
from bench.layout import (
    DATA_DIR,
    PGBENCH,
    PGDATA,
    RESULTS_DIR,
    ROOT,
    log,
    shown,
    start_postgres,
    write_result,
)
from bench.loadgen import Bench
from bench.machine import git_revision, machine, wait_for_quiet_machine
from bench.report import ECHO_CEILING, scenario_report, table, target_lines
from bench.run_section import SECTION, render_section
from bench.scenarios import measure_all
from bench.servers import default_workers
from bench.variations import compare_workers, measure_growth


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """bench.run's options (the side tools take their defaults from here)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="CI smoke test: tiny data, 2 s each")
    parser.add_argument(
        "--workers", type=int, help="COHORTS_WORKERS for the server (default: unset)"
    )
    parser.add_argument(
        "--niceness",
        type=int,
        default=10,
        help="COHORTS_NICENESS for the server (default 10: behind the PostgreSQL it shares "
        "the cores with; docs/performance.md, CPU priority)",
    )
    parser.add_argument(
        "--duration", type=float, help="measured seconds per scenario (10; quick 2)"
    )
    parser.add_argument("--warmup", type=float, help="warm-up seconds per scenario (2; quick 0.5)")
    parser.add_argument("--connections", dest="clients", type=int, default=4)
    parser.add_argument("--streams", type=int, default=16, help="concurrent streams per connection")
    parser.add_argument("--growth", action="store_true", help="also Get/List at 10k, 100k, 1M rows")
    parser.add_argument(
        "--no-workers-compare", action="store_true", help="skip COHORTS_WORKERS=1 vs 2"
    )
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/performance.md")
    parser.add_argument(
        "--no-http", action="store_true", help="skip the HTTP/JSON face (Envoy) scenarios"
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON goes (bench/results)"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        help="seconds to wait for other load to stop before starting (600; quick 0)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Measure, report, write the result file (and the doc); 0 when nothing failed."""
    try:
        ensure_h2load()
    except ToolMissing as missing:
        print(f"bench: {missing}", file=sys.stderr)
        return 2
    args = parse_args(argv)
    profile = QUICK if args.quick else FULL
    args.duration = args.duration or profile.duration
    args.warmup = args.warmup if args.warmup is not None else profile.warmup
    command = "python -m bench.run" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    started = time.monotonic()
    server_url = start_postgres(PGDATA)
    wait_quiet = args.wait_quiet if args.wait_quiet is not None else (0 if args.quick else 600)
    waited = wait_for_quiet_machine(wait_quiet) if wait_quiet > 0 else 0.0
    dataset = prepare_main_dataset(server_url, profile)
    log(
        f"data: {dataset.total:,} cohorts in {dataset.database}; tenant {dataset.tenant} "
        f"has {dataset.tenant_rows:,}"
    )
    bearer = token(dataset.tenant)
    work = Path(tempfile.mkdtemp(prefix="bench-run-", dir=DATA_DIR))
    bench = Bench(args, profile, work)
    try:
        main_run = measure_all(bench, dataset, bearer, args.workers)
        scenarios = scenario_report(main_run["measurements"], main_run["ceilings"])
        workers_comparison = None
        if not args.quick and not args.no_workers_compare:
            workers_comparison = compare_workers(bench, dataset, bearer)
        growth = measure_growth(bench, server_url) if args.growth else None
    finally:
        bench.stop_server()
        bench.stop_echo()
        shutil.rmtree(work, ignore_errors=True)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result_file = args.results_dir.resolve() / f"{stamp}{'-quick' if args.quick else ''}.json"
    report = run_report(args, profile, dataset, main_run, command=command, result_file=result_file)
    report |= {
        "scenarios": scenarios,
        "workers_comparison": workers_comparison,
        "growth": growth,
        "tenant_traffic": main_run["tenant_traffic"],
        "pgbench_scripts": main_run["pgbench_scripts"],
        "result_file": shown(result_file),
        "seconds": round(time.monotonic() - started, 1),
        "waited_for_quiet_s": round(waited, 1),
    }
    write_result(result_file, report)

    print()
    print(table(scenarios))
    for line in target_lines(scenarios):
        print(line)
    if workers_comparison:
        f = workers_comparison["factor"]
        print(
            f"- COHORTS_WORKERS 2 vs 1: echo ×{f['echo']:.2f}, GetCohort ×{f['get']:.2f}"
            + (" (server ignored COHORTS_WORKERS)" if workers_comparison["ignored"] else "")
        )
    if not args.quick and not args.no_doc:
        write_section(SECTION, render_section(report))
        print(f"wrote {DOC.relative_to(ROOT)}")
    print(f"wrote {shown(result_file)} in {report['seconds']}s")

    problems = [
        f"{name}: {s['requests']} requests, {s['errors']} errors"
        for name, s in scenarios.items()
        if s["requests"] == 0 or s["errors"]
    ]
    problems += [
        f"pgbench {name}: {c.transactions} transactions, {c.failed} failed"
        for name, c in main_run["ceilings"].items()
        if c.transactions == 0 or c.failed
    ]
    if problems:
        print("FAIL: " + "; ".join(problems), file=sys.stderr)
        return 1
    print("PASS: every scenario completed requests with zero errors")
    return 0


def run_report(
    args: argparse.Namespace,
    profile: Profile,
    dataset: Dataset,
    main_run: dict[str, Any],
    *,
    command: str,
    result_file: Path,
) -> dict[str, Any]:
    """The result file's head: what ran, where, on what, with which settings and data."""
    workers = args.workers if args.workers is not None else default_workers()
    return {
        "benchmark": "run",
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "machine": machine(
            h2load=[ensure_h2load(), "--version"], pgbench=[str(PGBENCH), "--version"]
        ),
        "workers": workers,
        "workers_from": "--workers" if args.workers is not None else "COHORTS_WORKERS default",
        "server_processes": main_run["server_processes"],
        "server_niceness": main_run["server_niceness"],
        "server_env": main_run["server_env"] | {"COHORTS_JWT_SECRET": "<bench secret>"},
        "echo_ceiling": {
            "description": ECHO_CEILING,
            "server": "bench/echo_server.py",
            "workers": workers,
            "server_processes": main_run["echo_processes"],
            "server_niceness": main_run["echo_niceness"],
        },
        "profile": profile.name,
        "settings": {
            "connections": args.clients,
            "streams": args.streams,
            "in_flight": args.clients * args.streams,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
        },
        "dataset": {
            "database": dataset.database,
            "total": dataset.total,
            "tenants": dataset.tenants,
            "tenant": dataset.tenant,
            "tenant_rows": dataset.tenant_rows,
            "get_ids": len(dataset.get_ids),
            "update_ids": len(dataset.update_ids),
        },
    }


if __name__ == "__main__":
    sys.exit(main())
