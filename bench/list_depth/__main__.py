"""ListCohorts at depth: does page 200 cost what page 1 costs?

    python -m bench.list_depth [--quick] [--reseed] [--calls N] [--no-doc] [--as-owner]
                               [--baseline RESULT_JSON] [--render RESULT_JSON]
                               [--results-dir DIR]

Starts an embedded PostgreSQL in bench/.data, seeds it (bench/seed.py; a
seeded database is reused unless --reseed), starts the real CohortService
in-process on a free port, and over real gRPC (the generated stub) times page
1 against a deep page (the 200th page of 50, or the last full page when the
result is shorter) for a mid-sized and the largest tenant, for each query in
CASES. It captures the SQL the repository issued (a statement hook on the
server's units of work, `running.units_of_work.statement_hooks`, plus the
values the repository rendered for it), runs EXPLAIN (ANALYZE, BUFFERS) on it
as the service's role with the service's transaction settings, writes
bench/results/list_depth-<timestamp>.json (--results-dir for elsewhere) and
(full runs only) regenerates the "## ListCohorts at depth" section of
docs/performance.md.

Exit status 0 when every deep page is within MAX_RATIO of page 1 (p50), 1
otherwise. --quick (20,000 rows, 2 tenants, page 100 as the deep page, 30 timed
calls) is a CI smoke test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from learning.v1 import cohort_service_pb2_grpc
from sqlalchemy.engine import make_url

from bench.doc import DOC, write_section
from bench.layout import DATA_DIR, RESULTS_DIR, ROOT, shown, start_postgres, write_result
from bench.list_depth.changes import baseline_summary
from bench.list_depth.doc import SECTION, render_section
from bench.list_depth.measure import (
    CASES,
    FULL,
    MAX_RATIO,
    QUICK,
    case_result,
    measure,
    pick_tenants,
)
from bench.list_depth.plans import postgres_facts
from bench.list_depth.server import ServerThread, service_url
from bench.machine import git_revision, machine
from bench.seed import ensure_seeded

# The last full run before migration 0004 (0004_rls_friendly_list_indexes); the
# section says what changed since it.
BASELINE = RESULTS_DIR / "list_depth-20261127T052835Z.json"


def main(argv: list[str] | None = None) -> int:
    """Measure every case for both tenants, write the result file (and the doc)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.list_depth", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 2 tenants (CI)")
    parser.add_argument("--reseed", action="store_true", help="reseed even if data exists")
    parser.add_argument("--calls", type=int, help="timed calls per page (default 200; quick 30)")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/performance.md")
    parser.add_argument(
        "--as-owner",
        action="store_true",
        help="diagnostic: the service connects as the table owner, bypassing row-level "
        "security (never writes the doc)",
    )
    parser.add_argument(
        "--baseline",
        metavar="RESULT_JSON",
        type=Path,
        default=BASELINE,
        help="an earlier full run the doc compares against (default: the last run before "
        "migration 0004)",
    )
    parser.add_argument(
        "--render",
        metavar="RESULT_JSON",
        type=Path,
        help="only rewrite the doc section from a saved result file",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON goes (bench/results)"
    )
    args = parser.parse_args(argv)
    if args.render:
        write_section(SECTION, render_section(json.loads(args.render.read_text())))
        print(f"wrote {DOC.relative_to(ROOT)} from {args.render}")
        return 0
    profile = QUICK if args.quick else FULL
    if args.calls:
        profile = dataclasses.replace(profile, calls=args.calls)
    started = time.perf_counter()
    server_url = start_postgres(DATA_DIR / "pgdata")
    owner_url, seed_info = ensure_seeded(
        server_url, profile.total, profile.tenants, reseed=args.reseed
    )
    url, row_security = (owner_url, False) if args.as_owner else service_url(owner_url)
    load_before = os.getloadavg()
    server = ServerThread(url, DATA_DIR / "service")
    results: list[dict[str, Any]] = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            stub = cohort_service_pb2_grpc.CohortServiceStub(channel)
            for tenant, rows in pick_tenants(seed_info["tenant_rows"]):
                for case in CASES:
                    measured = measure(stub, server.recorder, tenant, rows, case, profile)
                    result = case_result(measured, url)
                    results.append(result)
                    print(console_line(result), flush=True)
    finally:
        server.stop()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result_file = args.results_dir.resolve() / f"list_depth-{stamp}.json"
    command = f"{_python()} -m bench.list_depth" + (" --quick" if args.quick else "")
    if args.calls:
        command += f" --calls {args.calls}"
    if args.as_owner:
        command += " --as-owner"
    if args.reseed:
        command += " --reseed"
    if args.baseline != BASELINE:
        command += f" --baseline {args.baseline}"
    if args.results_dir != RESULTS_DIR:
        command += f" --results-dir {args.results_dir}"
    report = {
        "benchmark": "list_depth",
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "profile": profile.__dict__,
        "max_ratio": MAX_RATIO,
        "machine": machine(),
        "postgres": postgres_facts(owner_url),
        "service_role": make_url(url).username,
        "row_security": row_security,
        "seed": seed_info,
        "results": results,
        "baseline": None if args.quick else baseline_summary(args.baseline),
        "result_file": shown(result_file),
        "seconds": round(time.perf_counter() - started, 1),
        # Other work on the machine skews latencies: 1/5/15-minute load averages.
        "load_average": {"before": load_before, "after": os.getloadavg()},
    }
    write_result(result_file, report)
    if not (args.quick or args.no_doc or args.as_owner):
        write_section(SECTION, render_section(report))
        print(f"wrote {DOC.relative_to(ROOT)}")
    failed = [r for r in results if r["verdict"] == "FAIL"]
    print(f"wrote {shown(result_file)} in {report['seconds']}s")
    print(
        f"{'FAIL' if failed else 'PASS'}: {len(results) - len(failed)}/{len(results)} within "
        f"{MAX_RATIO}x"
    )
    return 1 if failed else 0


def _python() -> str:
    """The interpreter as it was typed from the repository root (.venv/bin/python)."""
    executable = Path(sys.executable)
    if executable.is_relative_to(ROOT):
        return str(executable.relative_to(ROOT))
    return "python"


def console_line(r: dict[str, Any]) -> str:
    """One result as a progress line."""
    head = f"{r['tenant']} ({r['tenant_rows']:,} rows) {r['case']:<18}"
    if "grpc_ms" not in r:
        return f"{head} {r['verdict']}"
    g, s = r["grpc_ms"], r["sql_ms"]
    return (
        f"{head} page 1 p50 {g['page1']['p50']:.2f} ms p95 {g['page1']['p95']:.2f} | "
        f"page {r['deep_page']} p50 {g['deep']['p50']:.2f} ms p95 {g['deep']['p95']:.2f} | "
        f"ratio {r['ratio_p50']:.2f}x (SQL {s['page1']['p50']:.2f} vs {s['deep']['p50']:.2f} ms) "
        f"{r['verdict']}"
    )


if __name__ == "__main__":
    sys.exit(main())
