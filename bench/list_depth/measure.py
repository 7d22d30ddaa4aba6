"""list_depth's measurement: page 1 against the deep page, per tenant and query shape."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from learning.v1 import cohort_service_pb2, cohort_service_pb2_grpc

from bench.dataset import token as bearer_token
from bench.list_depth.plans import explain
from bench.list_depth.server import SqlRecorder

MAX_RATIO = 1.5
PAGE_SIZE = 50
DEEP_PAGE = 200
MID_TENANT_ROWS = 10_000


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
    metadata = (("authorization", f"Bearer {bearer_token(tenant)}"),)
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
    """p50, p95, mean and min of latencies in milliseconds, rounded."""
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50": round(statistics.median(values), 3),
        "p95": round(cuts[94], 3),
        "mean": round(statistics.fmean(values), 3),
        "min": round(min(values), 3),
    }


def pick_tenants(counts: dict[str, int]) -> list[tuple[str, int]]:
    """The tenant closest to MID_TENANT_ROWS (other than the largest) and the largest."""
    ranked = sorted(counts.items(), key=lambda item: item[1], reverse=True)
    largest = ranked[0]
    others = ranked[1:] or ranked
    mid = min(others, key=lambda item: abs(item[1] - MID_TENANT_ROWS))
    return [mid, largest]


def verdict(ratio: float) -> str:
    """PASS when the deep page's ratio to page 1 is within MAX_RATIO."""
    return "PASS" if ratio <= MAX_RATIO else "FAIL"


def case_result(m: Measured, database_url: str) -> dict[str, Any]:
    """One case's entry of the result file, with its statistics and plans."""
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
