"""bench.run's numbers as reported: each scenario against its echo runs and ceilings; tables."""

from __future__ import annotations

import math
from typing import Any

from bench.db_ceiling import DbCeiling
from bench.h2load import percentile
from bench.http_face import HTTP_SCENARIOS, TARGET_OF_GRPC
from bench.loadgen import Measurement
from bench.tenant_report import add_tenant_rows, tenant_target_lines

# The echo runs after each scenario are measured under this prefix.
ECHO_AFTER = "echo_after_"
# The targets (service / echo ceiling) and its latency bound.
TARGETS = {"get": 0.60, "list": 0.30, "create": 0.35, "update": 0.35}
P99_OVER_P50 = 3.0

ECHO_CEILING = (
    "The echo ceiling is `cohorts.bench.Echo/Echo`, a method that answers with the GetCohort "
    "request bytes it is sent, served by bench/echo_server.py: a server the benchmark starts "
    "beside the service, built from the service's own pieces: its server options "
    "(cohorts.server.server_options) and the same interceptors in the same order (metrics "
    "and access log, shutdown gate, and authentication with the verifier "
    "cohorts.server.token_verifier builds from the same COHORTS_* settings, so every echo call "
    "verifies its bearer token, through a verified-token cache, as a CohortService call does), "
    "in as many worker "
    "processes as the service sharing one port through SO_REUSEPORT, at the same niceness, "
    "with Prometheus in multiprocess mode as under the service's supervisor. h2load drives it "
    "with the same client settings as every scenario (connections, streams, warm-up, "
    "duration, reconnection until the calls in flight are spread evenly over the workers); "
    "the HTTP echo goes through an Envoy of the same config as the one in front of the "
    "service, to the echo workers' own sockets. It runs first and, in full runs, again after "
    "every scenario of its face, and a scenario's ratio uses the mean of the echo runs just "
    "before and just after it, so the drift of a shared machine's speed over a run cancels; "
    "the ratio, not the absolute rate, is what compares from run to run."
)


def face(name: str) -> str:
    """ "http_" for a scenario of the HTTP/JSON face, "" for a gRPC one."""
    return "http_" if name.startswith("http_") else ""


def is_echo(name: str) -> bool:
    """Whether scenario name is a run of an echo ceiling (either face)."""
    bare = name.removeprefix("http_")
    return bare == "echo" or bare.startswith(ECHO_AFTER)


def echo_runs(measurements: dict[str, Measurement], of_face: str = "") -> list[str]:
    """The echo ceiling's runs of one face, in the order they ran."""
    return [name for name in measurements if is_echo(name) and face(name) == of_face]


def echo_neighbours(measurements: dict[str, Measurement], name: str) -> list[Measurement]:
    """The echo runs just before and just after scenario name (measurements are in run order)."""
    names = list(measurements)
    at = names.index(name)
    echoes = set(echo_runs(measurements, face(name)))
    before = [n for n in names[:at] if n in echoes][-1:]
    after = [n for n in names[at + 1 :] if n in echoes][:1]
    return [measurements[n] for n in before + after]


def console_line(m: Measurement) -> str:
    """One measurement as a progress line."""
    return (
        f"{m.name:<14} {m.rps:>9.0f} req/s  p50 {m.ms(50):6.2f}  p95 {m.ms(95):6.2f}  "
        f"p99 {m.ms(99):6.2f} ms  errors {m.errors}  cpu-s/1k server "
        f"{m.per_1k(m.cpu.server):.3f} db {m.per_1k(m.cpu.database):.3f} "
        f"loadgen {m.per_1k(m.loadgen_cpu):.3f}  connections/process {m.spread}"
        f" calls/process {m.calls_spread}"
        f" (placement {m.placements})"
    )


def _r(value: float | None, digits: int = 3) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(value, digits)


def scenario_report(
    measurements: dict[str, Measurement], ceilings: dict[str, DbCeiling]
) -> dict[str, Any]:
    """Each scenario's row of the result file, with its ratios to the echo and the database."""
    out: dict[str, Any] = {}
    for name, m in measurements.items():
        if is_echo(name) and name.removeprefix("http_") != "echo":
            continue
        if is_echo(name):
            neighbours = [measurements[n] for n in echo_runs(measurements, face(name))]
        else:
            neighbours = echo_neighbours(measurements, name)
        echo = sum(e.rps for e in neighbours) / len(neighbours)
        echo_cpu = sum(e.cpu.server for e in neighbours) / max(
            sum(e.requests for e in neighbours), 1
        )
        ceiling = ceilings.get(name)
        other = m.cpu.machine - m.cpu.server - m.cpu.database - m.loadgen_cpu
        out[name] = {
            "rps": round(m.rps, 1),
            "p50_ms": _r(m.ms(50)),
            "p95_ms": _r(m.ms(95)),
            "p99_ms": _r(m.ms(99)),
            "errors": m.errors,
            "ratio_echo": _r(m.rps / echo) if echo else None,
            "echo_rps": round(echo, 1),
            "ratio_db": _r(m.rps / ceiling.tps) if ceiling else None,
            # Server CPU per echo call / per call here: what the ratio would be
            # if the server were CPU-bound; steadier than rps on a busy machine.
            "cpu_ratio_echo": _r(echo_cpu * m.requests / m.cpu.server) if m.cpu.server else None,
            "requests": m.requests,
            "cpu_s_per_1k": {
                "server": _r(m.per_1k(m.cpu.server), 4),
                "database": _r(m.per_1k(m.cpu.database), 4),
                "loadgen": _r(m.per_1k(m.loadgen_cpu), 4),
            },
            "cpu_cores": {
                "server": _r(m.cpu.server / m.cpu.wall, 2),
                "database": _r(m.cpu.database / m.cpu.wall, 2),
                "loadgen": _r(m.loadgen_cpu / m.cpu.wall, 2),
                "other": _r(max(other - m.cpu.gateway, 0.0) / m.cpu.wall, 2),
            },
            "in_flight": m.in_flight,
            "connections": m.connections,
            "connections_per_process": m.spread,
            "calls_in_flight_per_process": m.calls_spread,
            "placements": m.placements,
        }
        if face(name):
            out[name]["cpu_s_per_1k"]["gateway"] = _r(m.per_1k(m.cpu.gateway), 4)
            out[name]["cpu_cores"]["gateway"] = _r(m.cpu.gateway / m.cpu.wall, 2)
        if name == "mixed" or m.verified or any("kinds" in part for part in m.parts.values()):
            out[name]["parts"] = m.parts
        if m.verified:
            out[name]["verified"] = m.verified
        if m.error_detail:
            out[name]["error_detail"] = m.error_detail
        if ceiling:
            out[name]["db_ceiling"] = {
                "tps": round(ceiling.tps, 1),
                "latency_avg_ms": _r(ceiling.latency_ms),
                "failed": ceiling.failed,
                "cpu_s_per_1k": {
                    "database": _r(ceiling.database_cpu / max(ceiling.transactions, 1) * 1000, 4),
                    "loadgen": _r(ceiling.loadgen_cpu / max(ceiling.transactions, 1) * 1000, 4),
                },
            }
    for of_face in ("", "http_"):
        echoes = [measurements[n] for n in echo_runs(measurements, of_face)]
        if len(echoes) > 1:
            echo = out[f"{of_face}echo"]
            pooled = sorted(latency for e in echoes for latency in e.latencies_us)
            for q in (50, 95, 99):
                echo[f"p{q}_ms"] = _r(percentile(pooled, q) / 1000)
            echo["cpu_ratio_echo"] = 1.0
            echo["rps_runs"] = [round(e.rps, 1) for e in echoes]
            echo["rps"] = echo["echo_rps"]
            echo["ratio_echo"] = 1.0
    # Each HTTP method's ratio beside its gRPC twin's: what the HTTP face costs.
    for name in HTTP_SCENARIOS:
        twin = out.get(name.removeprefix("http_"))
        if name in out and twin and twin.get("ratio_echo") and out[name].get("ratio_echo"):
            out[name]["ratio_of_grpc"] = _r(out[name]["ratio_echo"] / twin["ratio_echo"])
    add_tenant_rows(out)
    return out


LABELS = {
    "echo": "echo ceiling",
    "get": "GetCohort",
    "list": "ListCohorts (50)",
    "list_filtered": "ListCohorts filtered+ordered",
    "create": "CreateCohort",
    "update": "UpdateCohort",
    "mixed": "mixed 70/15/10/5",
    "echo_mixed_tenants": "echo, mixed_tenants' requests",
    "mixed_tenants": "mixed_tenants 60/20/10/10",
    "mixed_tenants_noisy": "mixed_tenants + noisy tenant",
    "http_echo": "HTTP echo ceiling (Envoy)",
    "http_get": "HTTP GET /cohorts/{id}",
    "http_list": "HTTP GET /cohorts (50)",
    "http_create": "HTTP POST /cohorts",
    "http_update": "HTTP PATCH /cohorts/{id}",
}


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def table(scenarios: dict[str, Any]) -> str:
    """The scenarios as a Markdown table."""
    head = (
        "| scenario | req/s | p50 ms | p95 ms | p99 ms | errors | server cpu-s/1k | "
        "db cpu-s/1k | loadgen cpu-s/1k | echo req/s | / echo | / echo (CPU) | / db | "
        "db ceiling tps | other load |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for name, s in scenarios.items():
        cpu = s["cpu_s_per_1k"]
        ceiling = s.get("db_ceiling", {}).get("tps")
        lines.append(
            f"| {LABELS.get(name, name)} | {s['rps']:,.0f} | {_f(s['p50_ms'])} | "
            f"{_f(s['p95_ms'])} | {_f(s['p99_ms'])} | {s['errors']} | {_f(cpu['server'], 3)} | "
            f"{_f(cpu['database'], 3)} | {_f(cpu['loadgen'], 3)} | {s['echo_rps']:,.0f} | "
            f"{_f(s['ratio_echo'])} | "
            f"{_f(s['cpu_ratio_echo'])} | "
            f"{_f(s['ratio_db'])} | {_f(ceiling, 0)} | {_f(s['cpu_cores']['other'], 1)} |"
        )
    return head + "\n".join(lines) + "\n"


def target_lines(scenarios: dict[str, Any]) -> list[str]:
    """One line per target: the ratio reached and whether it meets the target."""
    lines = []
    for name, target in TARGETS.items():
        s = scenarios[name]
        ratio = s["ratio_echo"] or 0
        verdict = "meets" if ratio >= target else "misses"
        # Two decimals would show a near miss (0.596) as the target itself.
        shown = (
            f"{ratio:.2f}" if (round(ratio, 2) >= target) == (ratio >= target) else f"{ratio:.3f}"
        )
        lines.append(
            f"- {LABELS[name]}: {shown} of the echo ceiling "
            f"(target ≥ {target:.2f}): {verdict}; by server CPU per call "
            f"{_f(s['cpu_ratio_echo'])}"
        )
    over = [
        f"{LABELS[n]} ({s['p99_ms'] / s['p50_ms']:.2f}×)"
        for n, s in scenarios.items()
        if s["p50_ms"] and s["p99_ms"] / s["p50_ms"] >= P99_OVER_P50
    ]
    lines.append(
        f"- p99 under {P99_OVER_P50:.0f}× p50: "
        + ("every scenario" if not over else "misses in " + ", ".join(over))
    )
    for name in HTTP_SCENARIOS:
        share = scenarios.get(name, {}).get("ratio_of_grpc")
        if share is not None:
            verdict = "meets" if share >= TARGET_OF_GRPC else "misses"
            gateway = scenarios[name]["cpu_s_per_1k"].get("gateway")
            lines.append(
                f"- {LABELS[name]}: {_f(scenarios[name]['ratio_echo'])} of the HTTP echo, "
                f"{share:.2f} of the gRPC method's ratio (target ≥ {TARGET_OF_GRPC:.2f}): "
                f"{verdict}; Envoy {_f(gateway, 3)} cpu-s/1k calls"
            )
    lines += tenant_target_lines(scenarios)
    errors = sum(s["errors"] for s in scenarios.values())
    lines.append(f"- errors: {errors}")
    return lines
