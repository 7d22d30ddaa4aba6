"""`cohorts serve` with COHORTS_HTTP_LISTEN: Envoy runs, restarts and stops with the workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import requests
from learning.v1 import cohort_service_pb2

from tests.fixtures.ports import unused_port
from tests.fixtures.server import bearer, mint_token
from tests.fixtures.supervised import WORKERS, Supervised, alive, wait_for
from tests.integration.test_workers import fresh_stub

pytestmark = pytest.mark.slow


def _serving_http(url: str, token: str) -> dict[str, Any] | None:
    try:
        response = requests.post(
            f"{url}/api/v1/learning/cohorts",
            json={"name": "Through the gateway"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
    except requests.ConnectionError:
        return None
    if response.status_code != 200:
        return None
    created: dict[str, Any] = response.json()
    return created


def _start(supervise: Callable[..., Supervised]) -> tuple[Supervised, str]:
    http_port = unused_port()
    service = supervise(COHORTS_HTTP_LISTEN=f"127.0.0.1:{http_port}")
    service.wait_until_serving()
    wait_for("the gateway", service.gateway, 30)
    return service, f"http://127.0.0.1:{http_port}"


def test_serve_runs_the_gateway_restarts_it_and_stops_it_after_the_workers(
    supervise: Callable[..., Supervised],
):
    service, url = _start(supervise)
    token = mint_token(tenant=f"gateway-{os.getpid()}-{unused_port()}")
    created = wait_for("HTTP through the gateway", lambda: _serving_http(url, token), 30)
    channel, stub = fresh_stub(service.port)
    with channel:
        over_grpc = stub.GetCohort(
            cohort_service_pb2.GetCohortRequest(id=created["id"]),
            metadata=bearer(token),
            timeout=10,
        )
    assert over_grpc.name == "Through the gateway"

    envoy = service.gateway()
    assert envoy is not None and envoy.ppid() == service.process.pid
    envoy.kill()
    wait_for("the supervisor to reap the killed gateway", lambda: not envoy.is_running(), 5)
    replacement = wait_for(
        "a replacement gateway",
        lambda: (g := service.gateway()) is not None and g.pid != envoy.pid and g,
        15,
    )
    assert wait_for("HTTP after the restart", lambda: _serving_http(url, token), 30)
    restarted = [e for e in service.log_entries() if "restarting it" in e.get("message", "")]
    assert len(restarted) == 1 and restarted[0]["message"].startswith("gateway"), restarted

    workers = service.workers()
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(timeout=20) == 0, service.log()
    assert not alive(replacement) and not any(alive(w) for w in workers)
    messages = [e.get("message", "") for e in service.log_entries()]
    # The workers drained while the gateway still answered; it stopped last.
    assert messages.index("gateway stopped") > max(
        i for i, message in enumerate(messages) if message == "stopped"
    ), messages
    assert sum(message == "stopped" for message in messages) == WORKERS, messages


def test_a_supervisor_killed_outright_takes_its_workers_and_gateway_with_it(
    supervise: Callable[..., Supervised],
):
    service, _ = _start(supervise)
    children = [*service.workers(), service.gateway()]
    assert len(children) == WORKERS + 1
    service.process.kill()  # no chance to stop anything itself
    service.process.wait(10)
    for child in children:
        assert child is not None
        wait_for(f"{child.name()} {child.pid} to end", lambda c=child: not alive(c), 15)


def test_gateway_config_prints_a_config_envoy_accepts(tmp_path: Any):
    from cohorts.gateway.process import envoy_binary

    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORTS_")}
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "cohorts.cli",
            "gateway-config",
            "--listen",
            "127.0.0.1:9999",
            "--upstream",
            "127.0.0.1:50051",
        ],
        env={**env, "COHORTS_JWT_SECRET": "x" * 40, "COHORTS_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    config = json.loads(printed)
    listener = config["static_resources"]["listeners"][0]["address"]["socket_address"]
    assert (listener["address"], listener["port_value"]) == ("127.0.0.1", 9999)
    path = tmp_path / "envoy.json"
    path.write_text(printed)
    validated = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
