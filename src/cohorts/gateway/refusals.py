"""Envoy's own refusals, answered as the JSON `google.rpc.Status` the service's errors use.

A request Envoy refuses before any worker sees it (a body that is not JSON, an unknown
query parameter, a path or method the contract does not have, a body too large, no worker
to forward to) is a *local reply*. Envoy would send its text as `text/plain`; these
mappers give each one the same shape as a transcoded gRPC error, with a stable
`ErrorInfo.reason` a client can branch on (README: Errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cohorts.api.error_domain import ERROR_DOMAIN

ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"


@dataclass(frozen=True)
class Refusal:
    """One kind of local reply: the HTTP status Envoy chose and what it means."""

    http_status: int
    grpc_code: int  # google/rpc/code.proto
    reason: str


# Envoy picks the HTTP status; each names one cause a client can act on.
REFUSALS = (
    Refusal(400, 3, "MALFORMED_REQUEST"),  # not JSON, wrong types, unknown parameter, bad path
    Refusal(403, 7, "ORIGIN_NOT_ALLOWED"),  # a CORS preflight from an origin not listed
    Refusal(404, 5, "ROUTE_NOT_FOUND"),  # no such path, or not with this method
    Refusal(405, 12, "METHOD_NOT_ALLOWED"),
    Refusal(408, 4, "REQUEST_TIMEOUT"),  # the client sent its request too slowly
    Refusal(413, 3, "REQUEST_TOO_LARGE"),
    Refusal(431, 3, "HEADERS_TOO_LARGE"),
    Refusal(503, 14, "SERVICE_UNAVAILABLE"),  # no worker answers; retry with backoff
    Refusal(504, 4, "UPSTREAM_TIMEOUT"),
)
_BAD_REQUEST = REFUSALS[0]
# Any other local reply: still JSON, still a reason.
OTHER_REFUSAL = Refusal(0, 2, "GATEWAY_ERROR")


def status_body(refusal: Refusal) -> dict[str, Any]:
    """The google.rpc.Status JSON Envoy renders for a refusal (its own text as the message)."""
    return {
        "code": refusal.grpc_code,
        "message": "%LOCAL_REPLY_BODY%",
        "details": [
            {
                "@type": ERROR_INFO_TYPE,
                "reason": refusal.reason,
                "domain": ERROR_DOMAIN,
                "metadata": {"detail": "%RESPONSE_CODE_DETAILS%"},
            }
        ],
    }


def _unresolvable_path() -> dict[str, Any]:
    # Envoy refuses these with an empty body; say why (envoy_config: path normalisation).
    return {
        "filter": {
            "extension_filter": {
                "name": "envoy.access_loggers.extension_filters.cel",
                "typed_config": {
                    "@type": "type.googleapis.com/"
                    "envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter",
                    "expression": "response.code_details == 'path_normalization_failed'",
                },
            }
        },
        "body": {
            "inline_string": "the path cannot be resolved: encoded slashes (%2F) and "
            "backslashes are not allowed in it"
        },
        "body_format_override": {"json_format": status_body(_BAD_REQUEST)},
    }


def local_reply_config() -> dict[str, Any]:
    """HttpConnectionManager.local_reply_config: one mapper per refusal, a JSON default."""
    mappers: list[dict[str, Any]] = [_unresolvable_path()]
    mappers += [
        {
            "filter": {
                "status_code_filter": {
                    "comparison": {
                        "op": "EQ",
                        "value": {
                            "default_value": refusal.http_status,
                            "runtime_key": f"cohorts.refusal.{refusal.http_status}",
                        },
                    }
                }
            },
            "body_format_override": {"json_format": status_body(refusal)},
        }
        for refusal in REFUSALS
    ]
    # Every other failure; direct responses (the OpenAPI document) are local replies too.
    mappers.append(
        {
            "filter": {
                "status_code_filter": {
                    "comparison": {
                        "op": "GE",
                        "value": {"default_value": 400, "runtime_key": "cohorts.refusal.other"},
                    }
                }
            },
            "body_format_override": {"json_format": status_body(OTHER_REFUSAL)},
        }
    )
    return {"mappers": mappers}
