"""The mixed_tenants scenarios as reported: each method within the mix, and the noisy neighbour.

The mix runs as one h2load process whose shim logs every call's kind, so a
method's latency is its own calls' within the mix. mixed_tenants_noisy's
headline numbers are the mix's calls only; the noisy tenant's heavy Lists are
reported beside them (`noisy`), and `p99_over_quiet` compares each method's
p99 with the same method's in mixed_tenants.
"""

from __future__ import annotations

from typing import Any

MIX = "mixed_tenants"
NOISY = "mixed_tenants_noisy"
MIX_PART = "mixed_tenants"  # the part (h2load process) of the mix in either scenario
NOISY_PART = "noisy_lists"
METHODS = ("GetCohort", "ListCohorts", "CreateCohort", "UpdateCohort")
TARGET = 0.45
P99_OVER_P50 = 3.0
NOISY_P99_OVER_QUIET = 2.0


def add_tenant_rows(out: dict[str, Any]) -> None:
    """Give the mix scenarios their per-method numbers, in place."""
    for name in (MIX, NOISY):
        row = out.get(name)
        if row is None:
            continue
        parts = row.pop("parts", None) or {}
        mix = parts.get(MIX_PART, {})
        kinds = mix.get("kinds", {})
        row["methods"] = {m: kinds[m] for m in METHODS if m in kinds}
        row["kinds"] = {k: v for k, v in kinds.items() if k not in METHODS}
        if name == NOISY and mix:
            everything = sum(part["rps"] for part in parts.values())
            row["rps"] = mix["rps"]
            for q in ("p50_ms", "p95_ms", "p99_ms"):
                row[q] = mix[q]
            row["errors"] = mix["errors"]
            if row.get("ratio_echo") and everything:
                row["ratio_echo"] = round(row["ratio_echo"] * mix["rps"] / everything, 3)
            noisy = parts.get(NOISY_PART, {})
            row["noisy"] = {
                key: noisy.get(key) for key in ("rps", "in_flight", "p50_ms", "p99_ms", "errors")
            } | {"grpc_status": noisy.get("grpc_status")}
    quiet, loud = out.get(MIX), out.get(NOISY)
    if quiet and loud:
        loud["p99_over_quiet"] = {
            method: round(loud["methods"][method]["p99_ms"] / stats["p99_ms"], 2)
            for method, stats in quiet["methods"].items()
            if method in loud["methods"] and stats["p99_ms"]
        }
        loud["p99_over_quiet"]["all"] = round(loud["p99_ms"] / quiet["p99_ms"], 2)


def tenant_target_lines(scenarios: dict[str, Any]) -> list[str]:
    """The multi-tenant targets: ratio, each method's p99 over p50, and the noisy neighbour's."""
    quiet, loud = scenarios.get(MIX), scenarios.get(NOISY)
    if quiet is None:
        return []
    ratio = quiet["ratio_echo"] or 0.0
    lines = [
        f"- mixed_tenants: {ratio:.3f} of the echo ceiling (target ≥ {TARGET:.2f}): "
        + ("meets" if ratio >= TARGET else "misses")
    ]
    spreads = {
        method: stats["p99_ms"] / stats["p50_ms"]
        for method, stats in quiet["methods"].items()
        if stats["p50_ms"]
    }
    lines.append(
        f"- mixed_tenants, each method's p99 under {P99_OVER_P50:.0f}× its p50: "
        + ", ".join(f"{m} {v:.2f}×" for m, v in spreads.items())
        + (": meets" if all(v < P99_OVER_P50 for v in spreads.values()) else ": misses")
    )
    if loud is not None:
        over = loud.get("p99_over_quiet", {})
        lines.append(
            f"- noisy neighbour: the mix's p99 within {NOISY_P99_OVER_QUIET:.0f}× of the quiet "
            "mix's: "
            + ", ".join(f"{m} {v:.2f}×" for m, v in over.items())
            + (": meets" if all(v <= NOISY_P99_OVER_QUIET for v in over.values()) else ": misses")
        )
    return lines
