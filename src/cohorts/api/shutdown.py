"""Refuses new calls with UNAVAILABLE while the server drains before it stops.

grpcio's server.stop(grace) cancels calls that arrived but have not reached a
handler yet (the client sees CANCELLED, which clients do not retry). Closing
this gate first, and giving queued calls a moment to reach it, turns those
into UNAVAILABLE with a retry hint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

from cohorts.api.errors import abort_with, status_for
from cohorts.domain.errors import StorageUnavailable

if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # grpc's runtime class is not generic; only its stubs are.
    _ServerInterceptor = grpc.aio.ServerInterceptor


class ShutdownGate(_ServerInterceptor):
    """While closed, every unary call is answered UNAVAILABLE at once."""

    def __init__(self) -> None:
        self.closed = False
        self._status = status_for(
            StorageUnavailable("the server is shutting down; retry (another replica will answer)")
        )

    def close(self) -> None:
        """Refuse calls from now on."""
        self.closed = True

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if not self.closed or handler is None or handler.unary_unary is None:
            return handler
        status = self._status

        async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await abort_with(context, status)

        return grpc.unary_unary_rpc_method_handler(refuse)
