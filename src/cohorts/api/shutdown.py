"""Refuses new calls with UNAVAILABLE while the server drains before it stops.

grpcio's server.stop(grace) cancels calls that arrived but have not reached a
handler yet (the client sees CANCELLED, which clients do not retry). Closing
this gate first, and giving queued calls a moment to reach it, turns those
into UNAVAILABLE with a retry hint.
"""

from __future__ import annotations

from typing import Any

import grpc

from cohorts.api.errors import abort_with, status_for
from cohorts.api.interception import Behaviour, UnaryInterceptor
from cohorts.domain.errors import StorageUnavailable


class ShutdownGate(UnaryInterceptor):
    """While closed, every unary call is answered UNAVAILABLE at once."""

    def __init__(self) -> None:
        self.closed = False
        self._status = status_for(
            StorageUnavailable("the server is shutting down; retry (another replica will answer)")
        )

    def close(self) -> None:
        """Refuse calls from now on."""
        self.closed = True

    def wrap(self, details: grpc.HandlerCallDetails, behaviour: Behaviour) -> Behaviour:
        if not self.closed:
            return behaviour
        status = self._status

        async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await abort_with(context, status)

        return refuse
