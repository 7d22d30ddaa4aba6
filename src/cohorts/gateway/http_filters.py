"""The HTTP filters of the gateway's listener, one function each (order: envoy_config.render)."""

from __future__ import annotations

import base64
from typing import Any

from cohorts.gateway.descriptors import SERVICE, gateway_descriptor_set

FILTERS = "envoy.extensions.filters.http"
# gRPC-Web clients read these response headers; browsers hide any a CORS reply does not expose.
GRPC_WEB_EXPOSED_HEADERS = "grpc-status,grpc-message,grpc-status-details-bin"
GRPC_WEB_ALLOWED_HEADERS = (
    "authorization,content-type,x-grpc-web,x-user-agent,grpc-timeout,x-request-id"
)


def typed(name: str, type_url: str) -> dict[str, Any]:
    """A filter that needs no settings of its own."""
    return {
        "name": f"{FILTERS}.{name}",
        "typed_config": {"@type": f"type.googleapis.com/{type_url}"},
    }


def transcoder(max_body_bytes: int) -> dict[str, Any]:
    """The grpc_json_transcoder: the contract's HTTP routes, proto3 JSON both ways."""
    return {
        "name": f"{FILTERS}.grpc_json_transcoder",
        "typed_config": {
            "@type": "type.googleapis.com/"
            "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
            "proto_descriptor_bin": base64.b64encode(gateway_descriptor_set()).decode(),
            "services": [SERVICE.full_name],
            # Google's mapping of gRPC codes to HTTP statuses, with the Status (and its
            # ErrorInfo and BadRequest details) as the JSON body.
            "convert_grpc_status": True,
            # Routed as the HTTP path it arrived on (its timeout, its filters' settings),
            # not as the gRPC path the transcoder rewrites it to.
            "match_incoming_request_route": True,
            # Browsers and form encoders write a space as `+` in query strings.
            "query_param_unescape_plus": True,
            "request_validation_options": {
                "reject_unknown_method": True,
                "reject_unknown_query_parameters": True,
                # The path names the cohort; a body naming another must not win.
                "reject_binding_body_field_collisions": True,
            },
            "max_request_body_size": max_body_bytes,
            "max_response_body_size": max_body_bytes,
            "print_options": {"always_print_primitive_fields": False},
        },
    }


# gRPC metadata is stricter than HTTP: keys of [0-9a-z_.-] and values of printable ASCII
# (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md). A header HTTP allows
# but gRPC does not would fail the whole call as INTERNAL in the worker's HTTP/2 layer,
# so it is dropped here, as a proxy drops what its upstream cannot take.
_DROP_NON_GRPC_HEADERS = """
function envoy_on_request(handle)
  local headers = handle:headers()
  local dropped = {}
  for key, value in pairs(headers) do
    if key:sub(1, 1) ~= ":" and (key:find("[^0-9a-z_.-]")
        or (key:sub(-4) ~= "-bin" and value:find("[^\\32-\\126]"))) then
      dropped[#dropped + 1] = key
    end
  end
  for _, key in ipairs(dropped) do
    headers:remove(key)
  end
end
"""


def grpc_safe_headers() -> dict[str, Any]:
    """A Lua filter dropping request headers gRPC metadata cannot carry."""
    return {
        "name": f"{FILTERS}.lua",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
            "default_source_code": {"inline_string": _DROP_NON_GRPC_HEADERS},
        },
    }


def request_size_limit(max_body_bytes: int) -> dict[str, Any]:
    """A buffer filter: a body over max_body_bytes is refused whole (413)."""
    # The transcoder converts a body as it streams in, so its own buffer limit never
    # sees a large one whole; without this, a body over the workers' message limit
    # reaches them and comes back as grpc's bare RESOURCE_EXHAUSTED.
    return {
        "name": f"{FILTERS}.buffer",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
            "max_request_bytes": max_body_bytes,
        },
    }


def strip_grpc_response_headers() -> dict[str, Any]:
    """A header_mutation filter removing grpc-* headers from HTTP/JSON responses."""
    # Listed before the transcoder, so on the way out it sees the transcoded response:
    # a JSON client has no use for grpc-* headers. Removing them at the route instead
    # runs too early and breaks the transcoder's error conversion.
    removals = [
        {"remove": name}
        for name in ("grpc-status", "grpc-message", "grpc-status-details-bin", "grpc-encoding")
    ]
    removals.append({"remove": "grpc-accept-encoding"})
    return {
        "name": f"{FILTERS}.header_mutation",
        "typed_config": {
            "@type": "type.googleapis.com/"
            "envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
            "mutations": {
                "response_mutations": [{"remove": header["remove"]} for header in removals]
            },
        },
    }


def cors_policy(origins: tuple[str, ...]) -> dict[str, Any]:
    """The CORS policy granting origins, gRPC-Web's headers allowed and exposed."""
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "allow_origin_string_match": [{"exact": origin} for origin in origins],
        "allow_methods": "GET,POST,PATCH,DELETE,OPTIONS",
        "allow_headers": GRPC_WEB_ALLOWED_HEADERS,
        "expose_headers": GRPC_WEB_EXPOSED_HEADERS,
        "max_age": "600",
    }
