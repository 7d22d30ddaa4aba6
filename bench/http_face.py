"""The HTTP/JSON face under load: Envoy in front of the benchmark's servers, and its ceiling.

The gateway runs the config `cohorts serve` renders (cohorts.gateway), with one
addition made here, not in src/: a bench-only service, `cohorts.bench.Echo`,
transcoded from `GET /api/v1/learning/echo/{id}` to the echo server's raw echo
method (bench/echo_server.py). The benchmark runs two gateways of this same
config, one in front of the service's worker sockets and one in front of the
echo server's. The echo's GetCohortRequest bytes come back as a Cohort with
only `id` set, so that ceiling pays for everything an HTTP call pays for (HTTP
parsing, transcoding both ways, the hop to a worker, authentication) except
the service's own work. Each HTTP method's ratio to it, beside the gRPC
method's ratio to the gRPC echo in the same run, shows what the HTTP face costs.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, json_format
from learning.v1 import cohort_pb2, cohort_service_pb2

from bench.echo_server import ECHO_SERVICE
from cohorts.gateway.envoy_config import OPENAPI_PATH, GatewayOptions, render
from cohorts.gateway.process import envoy_command

ECHO_ROUTE = "/api/v1/learning/echo/{id}"
API = "/api/v1/learning/cohorts"
# Method names, in the order they run; each is "http_" + the gRPC scenario it mirrors.
HTTP_SCENARIOS = ("http_get", "http_list", "http_create", "http_update")
TARGET_OF_GRPC = 0.8  # each HTTP ratio at least this share of its gRPC ratio (issue 22)


def echo_file() -> descriptor_pb2.FileDescriptorProto:
    """cohorts/bench/echo.proto, built here: the echo method with an HTTP binding."""
    file = descriptor_pb2.FileDescriptorProto(
        name="cohorts/bench/echo.proto",
        package="cohorts.bench",
        syntax="proto3",
        dependency=[
            "google/api/annotations.proto",
            cohort_pb2.DESCRIPTOR.name,
            cohort_service_pb2.DESCRIPTOR.name,
        ],
    )
    method = file.service.add(name="Echo").method.add(
        name="Echo", input_type=".learning.v1.GetCohortRequest", output_type=".learning.v1.Cohort"
    )
    # googleapis-common-protos' stubs type its extensions loosely.
    rule: http_pb2.HttpRule = method.options.Extensions[annotations_pb2.http]  # type: ignore[index]
    rule.get = ECHO_ROUTE
    return file


def bench_gateway_config(options: GatewayOptions) -> dict[str, Any]:
    """The service's gateway config, with the echo service added to its transcoder."""
    config = render(options)
    listener = config["static_resources"]["listeners"][0]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    (transcoder,) = [f for f in manager["http_filters"] if f["name"].endswith("transcoder")]
    settings = transcoder["typed_config"]
    files = descriptor_pb2.FileDescriptorSet.FromString(
        base64.b64decode(settings["proto_descriptor_bin"])
    )
    files.file.append(echo_file())
    settings["proto_descriptor_bin"] = base64.b64encode(files.SerializeToString()).decode()
    settings["services"].append(ECHO_SERVICE)
    # The echo path is not the API's: route it like the API's paths.
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    (api_route,) = [r for r in routes if r["match"].get("path_separated_prefix") == API]
    routes.insert(
        routes.index(api_route),
        {**api_route, "match": {"prefix": ECHO_ROUTE.split("{")[0]}},
    )
    return config


@dataclass
class BenchGateway:
    """Envoy running the bench config in front of a server."""

    process: subprocess.Popen[bytes]
    target: str
    directory: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def start_bench_gateway(
    upstreams: tuple[str, ...], port: int, work: Path, *, max_bytes: int
) -> BenchGateway:
    """Envoy on 127.0.0.1:port in front of the workers at upstreams; waits until it answers."""
    directory = Path(tempfile.mkdtemp(prefix="gateway-", dir=work))
    options = GatewayOptions(
        listen=f"127.0.0.1:{port}", upstreams=upstreams, max_request_bytes=max_bytes
    )
    config = directory / "envoy.json"
    config.write_text(json.dumps(bench_gateway_config(options)))
    log = (directory / "envoy.log").open("wb")
    process = subprocess.Popen(
        envoy_command(config, log_level="error"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    gateway = BenchGateway(process, f"127.0.0.1:{port}", directory)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"envoy exited; see {directory / 'envoy.log'}")
        try:
            with urllib.request.urlopen(f"http://{gateway.target}{OPENAPI_PATH}", timeout=1):
                return gateway
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    gateway.stop()
    raise RuntimeError(f"envoy did not answer in 30 s; see {directory / 'envoy.log'}")


def create_body(request: cohort_service_pb2.CreateCohortRequest) -> bytes:
    """The cohort of a CreateCohortRequest as the compact JSON body an HTTP client sends."""
    document = json_format.MessageToDict(request.cohort)
    return json.dumps(document, separators=(",", ":")).encode()


def update_body() -> bytes:
    """The rename the gRPC update scenario sends, as JSON (the id is in the path)."""
    return json.dumps({"name": "Bench rename via HTTP"}, separators=(",", ":")).encode()
