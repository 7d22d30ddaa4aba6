"""Envoy's bootstrap for the gateway, rendered from the settings (docs/http.md).

One listener serves three things, all from the contract: the HTTP/JSON routes of the
`google.api.http` annotations (Envoy's grpc_json_transcoder), gRPC-Web and plain gRPC
(Envoy's grpc_web filter, then passed through), and the OpenAPI document. Everything
is forwarded to the gRPC workers over HTTP/2; authentication, validation and errors
stay theirs. The rendered document is self-contained (the descriptor set and the
OpenAPI document are inline), so `cohorts gateway-config` output runs as it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cohorts.gateway.descriptors import (
    SERVICE,
    http_bindings,
    template_regex,
)
from cohorts.gateway.http_filters import (
    FILTERS,
    cors_policy,
    grpc_safe_headers,
    request_size_limit,
    strip_grpc_response_headers,
    transcoder,
    typed,
)
from cohorts.gateway.refusals import local_reply_config
from cohorts.settings import split_host_port

API_PREFIX = "/api/v1/learning/cohorts"
OPENAPI_PATH = "/api/v1/learning/openapi.json"
GRPC_PREFIX = f"/{SERVICE.full_name}/"
_CLUSTER = "cohorts_grpc"
_DISABLED = {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}
# A call whose connection to a worker failed (one restarting) never reached it: trying
# another worker is safe even for a write.
_RETRY_UNSENT = {
    "retry_on": "connect-failure,refused-stream",
    "num_retries": 2,
    "retry_host_predicate": [
        {
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {
                "@type": "type.googleapis.com/"
                "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
            },
        }
    ],
}


@dataclass(frozen=True)
class GatewayOptions:
    """What the gateway needs from the settings."""

    listen: str  # host:port Envoy listens on
    # The gRPC workers: host:port (all of them behind one port), or one `unix:` socket each,
    # which lets Envoy spread calls over the workers itself.
    upstreams: tuple[str, ...]
    cors_origins: tuple[str, ...] = ()
    max_request_bytes: int = 4 * 1024 * 1024
    request_timeout_seconds: float = 60.0
    openapi_document: str = "{}"
    max_connections: int = 10_000


def upstream_address(grpc_listen: str) -> str:
    """Where Envoy reaches workers that listen on grpc_listen (a wildcard means loopback)."""
    host, port = split_host_port(grpc_listen)
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _upstream_address(address: str) -> dict[str, Any]:
    if address.startswith("unix:"):
        return {"pipe": {"path": address.removeprefix("unix:")}}
    return _socket_address(address)


def _socket_address(address: str) -> dict[str, Any]:
    host, port = split_host_port(address)
    return {"socket_address": {"address": host, "port_value": port}}


def _duration(seconds: float) -> str:
    return f"{seconds:.3f}s"


def _method_not_allowed_routes(skip: dict[str, Any]) -> list[dict[str, Any]]:
    """A 405 with `Allow` for a contract path asked with a method it does not have."""
    allowed: dict[str, list[str]] = {}
    for verb, template in http_bindings():
        allowed.setdefault(template_regex(template), []).append(verb)
    routes = []
    for regex, verbs in allowed.items():
        # OPTIONS is a CORS preflight, answered (or refused) by the routes before these.
        methods = "|".join(sorted({*verbs, "OPTIONS"}))
        routes.append(
            {
                "match": {
                    "safe_regex": {"regex": regex},
                    "headers": [
                        {
                            "name": ":method",
                            "string_match": {"safe_regex": {"regex": f"^({methods})$"}},
                            "invert_match": True,
                        }
                    ],
                },
                "direct_response": {
                    "status": 405,
                    "body": {
                        "inline_string": f"this path allows only {', '.join(sorted(set(verbs)))}"
                    },
                },
                "response_headers_to_add": [
                    {"header": {"key": "allow", "value": ", ".join(sorted(set(verbs)))}}
                ],
                "typed_per_filter_config": skip,
            }
        )
    return routes


def _preflight_not_allowed(origins: tuple[str, ...]) -> list[dict[str, Any]]:
    matchers: list[dict[str, Any]] = [{"name": ":method", "string_match": {"exact": "OPTIONS"}}]
    if origins:
        allowed = "|".join(re.escape(origin) for origin in origins)
        matchers.append(
            {
                "name": "origin",
                "string_match": {"safe_regex": {"regex": f"^({allowed})$"}},
                "invert_match": True,
            }
        )
    return matchers


def _routes(options: GatewayOptions) -> list[dict[str, Any]]:
    grpc_only = {
        f"{FILTERS}.grpc_json_transcoder": _DISABLED,
        f"{FILTERS}.header_mutation": _DISABLED,
        f"{FILTERS}.buffer": _DISABLED,  # gRPC has its own limit, and may stream
    }
    return [
        {
            # A preflight from an allowed origin takes the API's own route, where the CORS
            # filter answers it; any other preflight is refused here.
            "match": {"prefix": "/", "headers": _preflight_not_allowed(options.cors_origins)},
            "direct_response": {
                "status": 403,
                "body": {
                    "inline_string": "this origin may not call the API from a browser: "
                    "list it in COHORTS_HTTP_CORS_ORIGINS"
                },
            },
            "typed_per_filter_config": grpc_only,
        },
        {
            "match": {
                "path": OPENAPI_PATH,
                "headers": [{"name": ":method", "string_match": {"exact": "GET"}}],
            },
            "direct_response": {"status": 200, "body": {"inline_string": options.openapi_document}},
            "response_headers_to_add": [
                {"header": {"key": "content-type", "value": "application/json"}}
            ],
            "typed_per_filter_config": grpc_only,
        },
        *_method_not_allowed_routes(grpc_only),
        {
            "match": {"path_separated_prefix": API_PREFIX},
            "route": {
                "cluster": _CLUSTER,
                "timeout": _duration(options.request_timeout_seconds),
                "retry_policy": _RETRY_UNSENT,
            },
        },
        {
            # gRPC and gRPC-Web: the caller's grpc-timeout is the deadline.
            "match": {"prefix": GRPC_PREFIX},
            "route": {
                "cluster": _CLUSTER,
                "timeout": "0s",
                "max_stream_duration": {"grpc_timeout_header_max": "0s"},
                "retry_policy": _RETRY_UNSENT,
            },
            "typed_per_filter_config": grpc_only,
        },
    ]


def render(options: GatewayOptions) -> dict[str, Any]:
    """The Envoy bootstrap (v3) as a JSON-ready dict."""
    virtual_host: dict[str, Any] = {
        "name": "cohorts",
        "domains": ["*"],
        "routes": _routes(options),
    }
    if options.cors_origins:
        virtual_host["typed_per_filter_config"] = {
            f"{FILTERS}.cors": cors_policy(options.cors_origins)
        }
    connection_manager = {
        "@type": "type.googleapis.com/"
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "cohorts_http",
        "codec_type": "AUTO",
        "server_name": "cohorts",
        # Paths are compared as a server would resolve them: `..` and `//` are folded
        # before routing, and an encoded slash never reaches a path variable.
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
        "route_config": {
            "name": "cohorts",
            "virtual_hosts": [virtual_host],
            "max_direct_response_body_size_bytes": max(
                len(options.openapi_document.encode()) + 1024, 4096
            ),
        },
        "http_filters": [
            typed("cors", "envoy.extensions.filters.http.cors.v3.Cors"),
            typed("grpc_web", "envoy.extensions.filters.http.grpc_web.v3.GrpcWeb"),
            grpc_safe_headers(),
            request_size_limit(options.max_request_bytes),
            strip_grpc_response_headers(),
            transcoder(options.max_request_bytes),
            typed("router", "envoy.extensions.filters.http.router.v3.Router"),
        ],
        "local_reply_config": local_reply_config(),
    }
    return {
        "node": {"id": "cohorts-gateway", "cluster": "cohorts"},
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.resource_monitors."
                        "downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": options.max_connections,
                    },
                }
            ]
        },
        "static_resources": {
            "listeners": [
                {
                    "name": "cohorts_http",
                    "address": _socket_address(options.listen),
                    # One gateway per address: a second one must fail, not share it.
                    "enable_reuse_port": False,
                    # With one accept socket, the kernel would hand most connections to
                    # one Envoy thread; each thread takes its share instead.
                    "connection_balance_config": {"exact_balance": {}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": connection_manager,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": _CLUSTER,
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/"
                            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                    # Each call to the worker with the fewest calls in flight; Python
                    # workers are single-threaded, so an even spread is their capacity.
                    "lb_policy": "LEAST_REQUEST",
                    "load_assignment": {
                        "cluster_name": _CLUSTER,
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {"endpoint": {"address": _upstream_address(upstream)}}
                                    for upstream in options.upstreams
                                ]
                            }
                        ],
                    },
                }
            ],
        },
    }


def render_json(options: GatewayOptions) -> str:
    """The bootstrap as the JSON text Envoy reads with `-c`."""
    return json.dumps(render(options), indent=2)
