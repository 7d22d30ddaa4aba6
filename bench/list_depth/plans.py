"""EXPLAIN (ANALYZE, BUFFERS) of the statements list_depth captured, and PostgreSQL's settings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

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


def postgres_facts(database_url: str) -> dict[str, Any]:
    """The server's version and planner settings, the table's sizes and status shares."""
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
