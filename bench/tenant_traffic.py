"""Real traffic for the mixed_tenants scenario: many tenants, applications and methods at once.

The seeded tenants have Zipf sizes (bench/seed.py). The calls go to the
ACTIVE_TENANTS largest of them after the first, with Zipf weights by rank
(the larger tenant is also the busier), APP_SHARE of them with an application's token (which
sees only that application's cohorts), in the method mix MIX. Each call is a
whole request (path, token, body) that the h2load shim sends in turn
(bench/h2load.py), so one h2load process drives the whole mix and the shim's
log still tells each method's latency.

The largest tenant is kept out of the mix: it is the noisy neighbour of the
fairness run, sending NOISY_STREAMS heavy Lists at once (HEAVY_FILTER, a
filter no index serves well) while the mix runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psycopg
from learning.v1 import cohort_service_pb2

from bench.calls import PATH, Call, create_request, list_request, update_request
from bench.dataset import JWT_SECRET, SUBJECT
from bench.echo_server import ECHO_PATH
from bench.h2load import CallRecord, Request, grpc_frame, percentile
from bench.seed import tenant_id

KINDS = ("get", "list", "list_filtered", "create", "update")
MIX = {"get": 60, "list": 10, "list_filtered": 10, "create": 10, "update": 10}
METHODS = {
    "get": "GetCohort",
    "list": "ListCohorts",
    "list_filtered": "ListCohorts",
    "create": "CreateCohort",
    "update": "UpdateCohort",
}
ACTIVE_TENANTS = 250
APP_SHARE = 0.10
APPS = ("app-lms", "app-hr")
IDS_PER_TENANT = 4_000
CALLS = 40_000
USER = ""  # no application: the tenant's user token


@dataclass
class TenantRows:
    """Ids a tenant's callers may read and update, by the application that owns them."""

    readable: dict[str, list[str]] = field(default_factory=dict)
    updatable: dict[str, list[str]] = field(default_factory=dict)


HEAVY_FILTER = " OR ".join(f"metadata.key{n:02d}:*" for n in range(80))
HEAVY_ORDER = "end_date"
NOISY_STREAMS = 16


def active_tenants(tenant_ids: Sequence[str]) -> list[str]:
    """The tenants the mix calls, busiest first (tenant_ids is in size order, largest first)."""
    return list(tenant_ids[1 : ACTIVE_TENANTS + 1])


def noisy_tenant(tenant_ids: Sequence[str]) -> str:
    """The tenant of the heavy Lists: the largest, which the mix leaves out."""
    return tenant_ids[0]


def load_rows(owner_url: str, tenants: Sequence[str]) -> dict[str, TenantRows]:
    """Up to IDS_PER_TENANT ids of each tenant, grouped by application, in a stable order."""
    rows: dict[str, TenantRows] = {tenant: TenantRows() for tenant in tenants}
    with psycopg.connect(owner_url) as connection:
        for tenant, cohort_id, app_id, deleted in connection.execute(
            "SELECT tenant_id, id, coalesce(app_id, ''), is_deleted FROM ("
            " SELECT *, row_number() OVER (PARTITION BY tenant_id ORDER BY md5(id)) AS n"
            " FROM cohorts WHERE tenant_id = ANY(%s)) AS ranked WHERE n <= %s",
            (list(tenants), IDS_PER_TENANT),
        ):
            owners = (USER, app_id) if app_id else (USER,)
            for owner in owners:  # a user token sees its applications' cohorts too
                rows[tenant].readable.setdefault(owner, []).append(cohort_id)
                if not deleted:
                    rows[tenant].updatable.setdefault(owner, []).append(cohort_id)
    return rows


@dataclass(frozen=True)
class TrafficPlan:
    """The rotating requests of the mix, and the tokens they carry."""

    requests: list[Request]
    tenants: int  # distinct tenants called
    app_share: float  # share of calls made with an application's token
    kinds: tuple[str, ...] = KINDS


Builders = dict[str, Callable[..., bytes]]


def plan(
    rows: dict[str, TenantRows],
    *,
    token: Callable[[str, str | None], str],
    messages: Builders,
    calls: int = CALLS,
    seed: int = 24,
) -> TrafficPlan:
    """calls requests drawn from the mix: tenant by Zipf weight, method by MIX, token by APP_SHARE.

    messages builds each kind's serialized request: "get"/"update" take a
    cohort id (and the update a number), the others nothing.
    """
    rng = random.Random(seed)
    tenants = list(rows)
    tenant_weights = [1 / rank for rank in range(1, len(tenants) + 1)]
    kinds = list(MIX)
    kind_weights = [MIX[kind] for kind in kinds]
    bearers: dict[tuple[str, str], str] = {}
    requests: list[Request] = []
    called: set[str] = set()
    with_app = 0
    for n, (tenant, kind) in enumerate(
        zip(
            rng.choices(tenants, tenant_weights, k=calls),
            rng.choices(kinds, kind_weights, k=calls),
            strict=True,
        )
    ):
        owner = USER
        if rng.random() < APP_SHARE:
            owner = rng.choice(APPS)
        if kind in ("get", "update"):
            pool = rows[tenant].readable if kind == "get" else rows[tenant].updatable
            if not pool.get(owner):
                owner = USER  # a tenant too small to hold this application's cohorts
            ids = pool.get(owner)
            if not ids:
                continue
            body = (
                messages[kind](rng.choice(ids))
                if kind == "get"
                else messages[kind](rng.choice(ids), n)
            )
        else:
            body = messages[kind]()
        bearer = bearers.get((tenant, owner))
        if bearer is None:
            bearer = bearers[(tenant, owner)] = "Bearer " + token(tenant, owner or None)
        requests.append(Request(KINDS.index(kind), PATH + METHODS[kind], bearer, grpc_frame(body)))
        called.add(tenant)
        with_app += owner != USER
    return TrafficPlan(requests, len(called), with_app / max(len(requests), 1))


def echoed(traffic: TrafficPlan, echo_path: str) -> list[Request]:
    """The same tokens and bodies sent to the echo: its ceiling pays the same authentication."""
    return [Request(0, echo_path, r.authorization, r.body) for r in traffic.requests]


def summarize(
    calls: Sequence[CallRecord], kinds: Sequence[str], *, warmup_s: float
) -> dict[str, dict[str, float | int]]:
    """Each kind's and method's calls, rate, latency percentiles and errors, from the shim's log.

    Latencies and rates count the calls started after the warm-up. Errors
    count every call the server answered with a status other than OK, and
    every call reset or closed without a status while calls were still being
    answered. One that closes without a status after the last answered call
    was still open when h2load stopped, and is not counted.
    """
    if not calls:
        return {}
    groups: dict[str, tuple[str, ...]] = {kind: (kind,) for kind in kinds}
    for method in sorted(set(METHODS.values())):
        groups[method] = tuple(k for k in kinds if METHODS.get(k) == method)
    start = min(call.start_us for call in calls) + int(warmup_s * 1e6)
    end = max(call.start_us + call.latency_us for call in calls)
    last_answered = max(
        (call.start_us + call.latency_us for call in calls if call.grpc_status >= 0), default=end
    )
    seconds = max((end - start) / 1e6, 1e-9)
    measured: dict[str, list[int]] = {kind: [] for kind in kinds}
    errors = dict.fromkeys(kinds, 0)
    for call in calls:
        if call.start_us >= start:
            measured[kinds[call.kind]].append(call.latency_us)
        answered = call.grpc_status >= 0
        if (answered and call.grpc_status != 0) or (
            not answered and call.start_us + call.latency_us <= last_answered
        ):
            errors[kinds[call.kind]] += 1
    summary: dict[str, dict[str, float | int]] = {}
    for name, members in groups.items():
        latencies = sorted(value for kind in members for value in measured[kind])
        summary[name] = {
            "calls": len(latencies),
            "rps": round(len(latencies) / seconds, 1),
            "p50_ms": round(percentile(latencies, 50) / 1000, 3),
            "p95_ms": round(percentile(latencies, 95) / 1000, 3),
            "p99_ms": round(percentile(latencies, 99) / 1000, 3),
            "errors": sum(errors[kind] for kind in members),
        }
    return summary


def bearer(tenant: str, app: str | None) -> str:
    """A token of the tenant's user, or of one of its applications."""
    from cohorts.cli import mint_token

    return mint_token(JWT_SECRET, tenant=tenant, subject=SUBJECT, app=app, ttl_seconds=12 * 3600)


def _messages() -> Builders:
    create = create_request().SerializeToString()
    lists = {f: list_request(f).SerializeToString() for f in (False, True)}
    return {
        "get": lambda cohort_id: cohort_service_pb2.GetCohortRequest(
            id=cohort_id
        ).SerializeToString(),
        "list": lambda: lists[False],
        "list_filtered": lambda: lists[True],
        "create": lambda: create,
        "update": lambda cohort_id, n: update_request(cohort_id, n).SerializeToString(),
    }


@dataclass(frozen=True)
class TenantCalls:
    """The mixed_tenants scenario's calls: the mix, the same requests echoed, the noisy Lists."""

    mix: Call
    echo: Call
    noisy: Call
    traffic: TrafficPlan


def tenant_calls(owner_url: str, tenants: int) -> TenantCalls:
    """The calls of the seeded database's tenants (bench/seed.py names them by size rank)."""
    ranked = [tenant_id(rank) for rank in range(1, tenants + 1)]
    traffic = plan(load_rows(owner_url, active_tenants(ranked)), token=bearer, messages=_messages())
    heavy = cohort_service_pb2.ListCohortsRequest(
        page_size=50, filter=HEAVY_FILTER, order_by=HEAVY_ORDER
    ).SerializeToString()
    noisy = Request(
        0, PATH + "ListCohorts", "Bearer " + bearer(noisy_tenant(ranked), None), grpc_frame(heavy)
    )
    return TenantCalls(
        mix=Call("mixed_tenants", PATH, [], requests=traffic.requests, kinds=traffic.kinds),
        echo=Call(
            "echo_mixed_tenants",
            ECHO_PATH,
            [],
            echo=True,
            requests=echoed(traffic, ECHO_PATH),
            kinds=("echo",),
        ),
        noisy=Call("noisy_lists", PATH, [], requests=[noisy], kinds=("heavy_list",)),
        traffic=traffic,
    )
