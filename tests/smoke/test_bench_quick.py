"""`python -m bench.run --quick`: the benchmark harness works end to end (no speed is asserted)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = {"echo", "get", "list", "list_filtered", "create", "update", "mixed"}
TENANT_SCENARIOS = {"echo_mixed_tenants", "mixed_tenants", "mixed_tenants_noisy"}
METHODS = {"GetCohort", "ListCohorts", "CreateCohort", "UpdateCohort"}
HTTP_SCENARIOS = {"http_get", "http_list", "http_create", "http_update"}
PER_SCENARIO = {"rps", "p50_ms", "p95_ms", "p99_ms", "errors", "ratio_echo", "ratio_db"}


# make test installs no system packages: without h2load (or a C compiler for its shim)
# this smoke test says so and skips; `make bench` says how to install them.
MISSING = [tool for tool in ("h2load", "cc") if shutil.which(tool) is None]


@pytest.mark.skipif(
    bool(MISSING),
    reason=f"{' and '.join(MISSING)} not installed: `apt-get install nghttp2-client gcc` "
    "to run the benchmark smoke test",
)
def test_quick_benchmark_drives_every_scenario_without_errors_and_writes_its_json(
    tmp_path: Path,
):
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--no-doc", "--results-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (result_file,) = tmp_path.glob("*-quick.json")
    report = json.loads(result_file.read_text())
    assert report["machine"]["nproc"] >= 1
    assert isinstance(report["workers"], int)
    assert set(report["scenarios"]) >= SCENARIOS | TENANT_SCENARIOS | HTTP_SCENARIOS | {"http_echo"}
    for name, scenario in report["scenarios"].items():
        assert PER_SCENARIO <= set(scenario), name
        assert scenario["errors"] == 0, (name, scenario)
        assert scenario["rps"] > 0, name
        assert 0 < scenario["p50_ms"] <= scenario["p95_ms"] <= scenario["p99_ms"], name
    for name in SCENARIOS - {"echo", "mixed"}:
        assert report["scenarios"][name]["ratio_db"] is not None, name
    for name in HTTP_SCENARIOS:  # through Envoy, beside the gRPC method it mirrors
        assert report["scenarios"][name]["ratio_of_grpc"] is not None, name
        assert report["scenarios"][name]["cpu_s_per_1k"]["gateway"] > 0, name
    # The multi-tenant mix: every method's own latency within it, over many tenants.
    traffic = report["tenant_traffic"]
    assert traffic["tenants_called"] > 1 and 0 < traffic["app_token_share"] < 0.5
    for name in ("mixed_tenants", "mixed_tenants_noisy"):
        methods = report["scenarios"][name]["methods"]
        assert set(methods) == METHODS, name
        for method, stats in methods.items():
            assert stats["calls"] > 0 and stats["errors"] == 0, (name, method)
            assert 0 < stats["p50_ms"] <= stats["p99_ms"], (name, method)
    assert report["scenarios"]["mixed_tenants_noisy"]["noisy"]["rps"] > 0
    assert set(report["scenarios"]["mixed_tenants_noisy"]["p99_over_quiet"]) >= METHODS
