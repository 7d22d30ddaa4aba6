"""bench.report: each scenario's ratio is taken against the echo runs measured around it."""

from __future__ import annotations

from bench.loadgen import Measurement
from bench.machine import CpuWindow
from bench.report import ECHO_AFTER, scenario_report


def _measured(name: str, rps: float, *, server_cpu: float = 1.0) -> Measurement:
    requests = int(rps * 10)
    return Measurement(
        name=name,
        rps=rps,
        requests=requests,
        latencies_us=[1_000, 2_000, 3_000],
        errors=0,
        error_detail={},
        cpu=CpuWindow(server=server_cpu, database=0.0, machine=server_cpu, wall=10.0),
        loadgen_cpu=0.0,
        in_flight=64,
        connections=4,
    )


def _bracketed_run() -> dict[str, Measurement]:
    """echo 6,000; get 3,000; echo 5,000; list 1,000; echo 4,000 req/s, in that order."""
    return {
        m.name: m
        for m in (
            _measured("echo", 6_000),
            _measured("get", 3_000),
            _measured(f"{ECHO_AFTER}get", 5_000),
            _measured("list", 1_000),
            _measured(f"{ECHO_AFTER}list", 4_000),
        )
    }


def test_a_scenario_is_compared_with_the_echo_runs_just_before_and_after_it():
    report = scenario_report(_bracketed_run(), {})

    assert report["get"]["echo_rps"] == 5_500
    assert report["get"]["ratio_echo"] == round(3_000 / 5_500, 3)
    assert report["list"]["echo_rps"] == 4_500
    assert report["list"]["ratio_echo"] == round(1_000 / 4_500, 3)


def test_the_echo_row_is_the_mean_of_all_its_runs_and_they_are_not_rows_of_their_own():
    report = scenario_report(_bracketed_run(), {})

    assert set(report) == {"echo", "get", "list"}
    assert report["echo"]["rps"] == 5_000
    assert report["echo"]["rps_runs"] == [6_000, 5_000, 4_000]
    assert report["echo"]["ratio_echo"] == 1.0


def test_with_one_echo_run_every_scenario_is_compared_with_it():
    measurements = {
        m.name: m
        for m in (_measured("echo", 5_000), _measured("get", 2_500), _measured("list", 1_000))
    }

    report = scenario_report(measurements, {})

    assert report["get"]["ratio_echo"] == 0.5
    assert report["list"]["ratio_echo"] == 0.2
