"""bench.run's main scenarios against one service: each method alone, the mix, the HTTP face.

Every scenario of a face runs between two runs of its echo ceiling, so its
ratio compares it with the echo measured just before and just after it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bench.calls import Call, calls_for, check_echo_authenticates, http_calls_for, sanity_check
from bench.dataset import Dataset, Facts
from bench.db_ceiling import capture_sql, measure_db_ceilings, write_scripts
from bench.http_face import HTTP_SCENARIOS, BenchGateway, start_bench_gateway
from bench.layout import log
from bench.loadgen import Bench, Measurement, Part
from bench.report import ECHO_AFTER, console_line
from bench.servers import free_port
from bench.tenant_traffic import HEAVY_FILTER, HEAVY_ORDER, NOISY_STREAMS, tenant_calls
from bench.tenant_traffic import MIX as MIXED_TENANTS_MIX

MIX = {"get": 70, "list": 15, "update": 10, "create": 5}
SCENARIOS = ("get", "list", "list_filtered", "create", "update", "mixed")
MIX_CONNECTIONS = 4  # per method, so SO_REUSEPORT's placement evens out over the workers
GATEWAY_MAX_BYTES = 4 * 1024 * 1024

Run = Callable[[str, list[Part], BenchGateway | None], Measurement]


def single(call: Call, args: argparse.Namespace) -> list[Part]:
    """One h2load process: the call on every connection and stream of the settings."""
    return [Part(call, args.clients, args.streams)]


def mixed_plan(
    bench: Bench, calls: dict[str, Call], solo: dict[str, Measurement], bearer: str
) -> list[Part]:
    """h2load processes, one per method, whose completed requests follow MIX (70/15/10/5).

    In a closed loop a method completes (its in-flight calls / its mean
    latency) requests a second (Little's law), so each method gets in-flight
    calls in proportion to share x mean latency. Latencies in the mix differ
    from solo ones, so up to three 3 s trials re-measure them and re-split the
    64 in-flight calls, stopping once every share is within 3 points of its
    target. Each method spreads its calls over up to MIX_CONNECTIONS
    connections.
    """
    args = bench.args
    total = args.clients * args.streams
    target = {name: share / sum(MIX.values()) for name, share in MIX.items()}

    def mean_ms(latencies: list[int]) -> float:
        return sum(latencies) / len(latencies) / 1000 if latencies else 100.0

    latency_ms = {name: mean_ms(solo[name].latencies_us) for name in MIX}

    def plan() -> list[Part]:
        weight = {name: target[name] * latency_ms[name] for name in MIX}
        scale = total / sum(weight.values())
        parts = []
        for name in MIX:
            streams = max(1, round(weight[name] * scale))
            clients = min(MIX_CONNECTIONS, streams)
            parts.append(Part(calls[name], clients, max(1, round(streams / clients))))
        return parts

    for _ in range(0 if args.quick else 3):
        trial = bench.h2load("mix-trial", plan(), bearer, duration=3.0, warmup=1.0)
        shares = {n: trial.parts[n]["rps"] / max(trial.rps, 1.0) for n in MIX}
        log(
            f"mix trial: {trial.rps:.0f} req/s, shares "
            + ", ".join(f"{n} {shares[n]:.0%}" for n in MIX)
        )
        if all(abs(shares[n] - target[n]) <= 0.03 for n in MIX):
            break
        latency_ms = {n: max(trial.parts[n]["mean_ms"], 0.1) for n in MIX}
    parts = plan()
    log("mix plan: " + ", ".join(f"{p.call.name} {p.clients}x{p.streams}" for p in parts))
    return parts


def verify_writes(measurement: Measurement, before: Facts, after: Facts) -> None:
    """Row counts and versions must account for every create and update answered OK.

    A call h2load abandoned at the end of the run may still have committed, so
    the database may show up to `in_flight` more writes than h2load saw answered.
    """
    created, versions = after[0] - before[0], after[1] - before[1]
    checks = {"create": ("rows_created", created), "update": ("versions_added", versions)}
    for method, (label, delta) in checks.items():
        part = measurement.parts.get(method)
        if part is None:
            continue
        expected = part["grpc_ok"]
        ok = expected <= delta <= expected + part["in_flight"]
        measurement.verified[label] = {"database": delta, "grpc_ok": expected, "consistent": ok}
        if not ok:
            measurement.errors += max(1, expected - delta)
            measurement.error_detail[f"{method}_database_check"] = measurement.verified[label]
    if "update" in measurement.parts:
        measurement.verified["rows_newly_renamed"] = after[2] - before[2]


def measure_all(bench: Bench, dataset: Dataset, bearer: str, workers: int | None) -> dict[str, Any]:
    """Every scenario and both ceilings against one service; returns the report fragment."""
    args = bench.args
    calls = calls_for(dataset)
    captured = capture_sql(bench, dataset, calls, bearer)
    scripts = write_scripts(bench.work / "pgbench", dataset, captured)
    server = bench.start_server(dataset.owner_url, workers)
    echo = bench.start_echo(workers)
    log(
        f"server pid {server.process.pid} on {server.target}, "
        f"{server.processes()} process(es), COHORTS_WORKERS={workers}; "
        f"echo server pid {echo.process.pid} on {echo.target}, {echo.processes()} process(es)"
    )
    samples = 3 if args.quick else 20
    sanity_check(server.target, bearer, [c for c in calls.values() if not c.echo], samples)
    check_echo_authenticates(echo.target, bearer, calls["echo"])
    measurements: dict[str, Measurement] = {}

    def run(name: str, parts: list[Part], gateway: BenchGateway | None = None) -> Measurement:
        writes = any(part.call.name.removeprefix("http_") in ("create", "update") for part in parts)
        before = [bench.settled_facts(dataset) if writes else (0, 0, 0)]

        def resnapshot() -> None:
            before[0] = bench.settled_facts(dataset)

        measurement = bench.h2load(
            name, parts, bearer, on_restart=resnapshot if writes else None, gateway=gateway
        )
        if writes:
            verify_writes(measurement, before[0], bench.settled_facts(dataset))
        measurements[name] = measurement
        log(console_line(measurement))
        if measurement.error_detail:
            log(f"{name} errors: {measurement.error_detail}")
        return measurement

    run("echo", single(calls["echo"], args))
    for name in SCENARIOS:
        if name == "mixed":
            run(name, mixed_plan(bench, calls, measurements, bearer))
        else:
            run(name, single(calls[name], args))
        if not args.quick:
            # Each scenario is compared with the echo measured just before and
            # just after it: the machine's speed drifts over a run.
            run(f"{ECHO_AFTER}{name}", single(calls["echo"], args))
    tenants = measure_tenants(bench, dataset, run)
    if not args.no_http:
        measure_http_face(bench, dataset, run)
    fragment = {
        "measurements": measurements,
        "server_processes": server.processes(),
        "server_niceness": server.niceness(),
        "server_env": server.env,
        "echo_processes": echo.processes(),
        "echo_niceness": echo.niceness(),
        "tenant_traffic": tenants,
    }
    bench.stop_server()
    bench.stop_echo()
    fragment["ceilings"] = measure_db_ceilings(bench, dataset, scripts, MIX)
    fragment["pgbench_scripts"] = {name: path.read_text() for name, path in scripts.items()}
    return fragment


def measure_tenants(bench: Bench, dataset: Dataset, run: Run) -> dict[str, Any]:
    """The mixed_tenants scenario, its requests echoed, and the mix beside a noisy neighbour.

    Each between echo runs like the others; the noisy run repeats the mix
    with the largest tenant's heavy Lists beside it (bench/tenant_traffic.py).
    """
    args = bench.args
    calls = tenant_calls(dataset.owner_url, dataset.tenants)
    mix = Part(calls.mix, args.clients, args.streams)
    noisy = Part(calls.noisy, 1, NOISY_STREAMS)
    for name, parts in (
        ("echo_mixed_tenants", [Part(calls.echo, args.clients, args.streams)]),
        ("mixed_tenants", [mix]),
        ("mixed_tenants_noisy", [mix, noisy]),
    ):
        run(name, parts, None)
        if not args.quick:
            run(f"{ECHO_AFTER}{name}", single(calls_for(dataset)["echo"], args), None)
    return {
        "requests_rotated": len(calls.traffic.requests),
        "tenants_called": calls.traffic.tenants,
        "tenants_seeded": dataset.tenants,
        "app_token_share": round(calls.traffic.app_share, 3),
        "mix": MIXED_TENANTS_MIX,
        "noisy_tenant_streams": NOISY_STREAMS,
        "noisy_filter": HEAVY_FILTER,
        "noisy_order_by": HEAVY_ORDER,
    }


def measure_http_face(bench: Bench, dataset: Dataset, run: Run) -> None:
    """The HTTP/JSON scenarios through Envoy, each between two HTTP echo runs.

    Two gateways of the same config: one in front of the service's workers,
    one in front of the echo server's, each reached on its workers' own sockets.
    """
    assert bench.server is not None and bench.echo is not None
    args = bench.args
    gateways = [
        start_bench_gateway(
            server.worker_sockets(), free_port(), bench.work, max_bytes=GATEWAY_MAX_BYTES
        )
        for server in (bench.server, bench.echo)
    ]
    service, echo = gateways
    log(f"gateway pid {service.pid} on {service.target}, echo gateway pid {echo.pid}")
    calls = http_calls_for(dataset)
    try:
        run("http_echo", single(calls["http_echo"], args), echo)
        for name in HTTP_SCENARIOS:
            run(name, single(calls[name], args), service)
            if not args.quick:
                echo_after = f"http_{ECHO_AFTER}{name.removeprefix('http_')}"
                run(echo_after, single(calls["http_echo"], args), echo)
    finally:
        for gateway in gateways:
            gateway.stop()
