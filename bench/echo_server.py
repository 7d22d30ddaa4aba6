"""The echo ceiling's server: the service's own gRPC stack around a method that does no work.

    python -m bench.echo_server [--socket-dir DIR]      (COHORTS_* variables, as `cohorts serve`)

The benchmark starts it beside the service (bench.servers.EchoServer) and
measures `/cohorts.bench.Echo/Echo` on it as the ceiling of every scenario.
It reads its settings as `cohorts serve` does and runs the same way: a
parent that lowers its CPU priority (COHORTS_NICENESS, cohorts.priority) and
starts COHORTS_WORKERS fresh interpreters, with Prometheus in multiprocess
mode as the service's supervisor sets it, each worker a grpc.aio server on
uvloop sharing COHORTS_LISTEN through SO_REUSEPORT, with the service's server
options (cohorts.server.server_options) and interceptors: metrics and access
log, the shutdown gate, and authentication with the verifier the settings
describe (cohorts.server.token_verifier), so an echo call verifies its token
as a CohortService call does. With --socket-dir each worker also listens on
`unix:DIR/echo-worker-N.sock`, for an Envoy in front of the workers
(bench/http_face.py). The method answers with the bytes it was sent.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from types import FrameType

ECHO_SERVICE = "cohorts.bench.Echo"
ECHO_PATH = f"/{ECHO_SERVICE}/Echo"
_POLL_SECONDS = 0.2


def worker_socket(directory: str, n: int) -> str:
    """The `unix:` address of worker n under directory."""
    return f"unix:{directory}/echo-worker-{n}.sock"


def _supervise(socket_dir: str | None) -> int:
    """Start the workers, stop them on SIGTERM or SIGINT; 1 if one of them died first."""
    from cohorts.lifetime import die_with_parent
    from cohorts.priority import lower_priority
    from cohorts.settings import Settings

    settings = Settings()
    lower_priority(settings.niceness)
    metrics_dir = tempfile.mkdtemp(prefix="echo-metrics-")
    env = os.environ | {
        "COHORTS_WORKERS": str(settings.workers),
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
    }
    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(settings.workers):
            command = [sys.executable, "-m", "bench.echo_server", "--worker"]
            if socket_dir is not None:
                command += ["--also-listen", worker_socket(socket_dir, n)]
            workers.append(subprocess.Popen(command, env=env, preexec_fn=die_with_parent))
        while not stopping and all(worker.poll() is None for worker in workers):
            time.sleep(_POLL_SECONDS)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(settings.grace_period_seconds + 5)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0 if stopping else 1


async def _serve_worker(also_listen: tuple[str, ...]) -> None:
    """One worker: serve the echo until SIGTERM or SIGINT, then stop as the service does."""
    import asyncio
    import gc
    from typing import Any

    import grpc
    from grpc_health.v1 import health_pb2_grpc
    from grpc_health.v1._async import HealthServicer

    from cohorts.api.auth import AuthInterceptor
    from cohorts.api.observability import ObservabilityInterceptor
    from cohorts.api.shutdown import ShutdownGate
    from cohorts.server import server_options, token_verifier
    from cohorts.settings import Settings

    settings = Settings()
    gate = ShutdownGate()
    server = grpc.aio.server(
        # In the service's order: the first interceptor is the outermost.
        interceptors=[
            ObservabilityInterceptor(),
            gate,
            AuthInterceptor(token_verifier(settings), protected_prefixes=(f"/{ECHO_SERVICE}/",)),
        ],
        options=server_options(settings),
    )

    async def echo(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        return request

    handler = grpc.unary_unary_rpc_method_handler(echo)  # raw bytes in, raw bytes out
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(ECHO_SERVICE, {"Echo": handler}),)
    )
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(settings.listen)
    for address in also_listen:
        server.add_insecure_port(address)
    await server.start()
    # As cohorts.server.serve does: what lives now is not scanned by the collector again.
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await health.enter_graceful_shutdown()
    gate.close()
    await server.stop(settings.grace_period_seconds)


def main(argv: list[str] | None = None) -> int:
    """Run the echo server's parent, or (--worker) one of its workers."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.echo_server", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--socket-dir", help="also listen on a unix socket per worker here")
    # Set by the parent for its workers.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--also-listen", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from cohorts.logs import configure_logging
    from cohorts.settings import Settings

    settings = Settings()
    configure_logging(
        settings.log_level,
        json_lines=None if settings.log_format == "auto" else settings.log_format == "json",
    )
    if not args.worker:
        return _supervise(args.socket_dir)
    import uvloop

    uvloop.run(_serve_worker(tuple(args.also_listen)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
