"""bench.run's optional comparisons: COHORTS_WORKERS=1 against =2, and reads as the table grows."""

from __future__ import annotations

from typing import Any

from bench.calls import calls_for, sanity_check
from bench.dataset import Dataset, read_only_dataset, token
from bench.layout import log
from bench.loadgen import Bench
from bench.scenarios import single

GROWTH_SIZES = [(10_000, 1), (100_000, 100), (1_000_000, 100)]


def compare_workers(bench: Bench, dataset: Dataset, bearer: str) -> dict[str, Any]:
    """Echo and GetCohort with COHORTS_WORKERS=1 and =2, same client settings.

    The echo server runs with the same worker count as the service each time.
    """
    calls = calls_for(dataset)
    out: dict[str, Any] = {}
    for workers in (1, 2):
        server = bench.start_server(dataset.owner_url, workers)
        bench.start_echo(workers)
        row: dict[str, Any] = {"server_processes": server.processes()}
        for name in ("echo", "get"):
            m = bench.h2load(f"w{workers}-{name}", single(calls[name], bench.args), bearer)
            row[name] = {"rps": round(m.rps, 1), "p50_ms": round(m.ms(50), 3), "errors": m.errors}
            log(f"COHORTS_WORKERS={workers} {name:<5} {m.rps:>9.0f} req/s errors {m.errors}")
        out[str(workers)] = row
        bench.stop_server()
        bench.stop_echo()
    one, two = out["1"], out["2"]
    out["factor"] = {n: round(two[n]["rps"] / one[n]["rps"], 3) for n in ("echo", "get")}
    out["ignored"] = one["server_processes"] == two["server_processes"]
    return out


def measure_growth(bench: Bench, server_url: str) -> list[dict[str, Any]]:
    """GetCohort and ListCohorts(50) for a ~10k-row tenant at each table size."""
    rows: list[dict[str, Any]] = []
    for total, tenants in GROWTH_SIZES:
        dataset = read_only_dataset(server_url, total, tenants, bench.profile.max_ids)
        calls = calls_for(dataset)
        bearer = token(dataset.tenant)
        server = bench.start_server(dataset.owner_url, bench.args.workers)
        sanity_check(server.target, bearer, [calls["get"], calls["list"]], samples=5)
        for name in ("get", "list", "list_filtered"):
            m = bench.h2load(f"growth-{total}-{name}", single(calls[name], bench.args), bearer)
            row = {
                "total": total,
                "tenant": dataset.tenant,
                "tenant_rows": dataset.tenant_rows,
                "scenario": name,
                "rps": round(m.rps, 1),
                "p50_ms": round(m.ms(50), 3),
                "p95_ms": round(m.ms(95), 3),
                "p99_ms": round(m.ms(99), 3),
                "errors": m.errors,
            }
            rows.append(row)
            log(
                f"growth {total:>9,} rows {name:<13} {m.rps:>8.0f} req/s  p50 {row['p50_ms']:.2f}"
                f"  p95 {row['p95_ms']:.2f}  p99 {row['p99_ms']:.2f} ms  errors {m.errors}"
            )
        bench.stop_server()
    return rows
