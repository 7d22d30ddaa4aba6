"""What the server interceptors share: one way to wrap a unary method's behaviour."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

Behaviour = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]

if TYPE_CHECKING:
    Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]]
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # grpc's runtime class is not generic; only its stubs are.
    _ServerInterceptor = grpc.aio.ServerInterceptor


class UnaryInterceptor(_ServerInterceptor):
    """An interceptor that replaces unary-unary behaviours; streaming methods pass through.

    Subclasses implement wrap(); returning the behaviour unchanged keeps the
    original handler (no per-call allocation).
    """

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        original: Behaviour = handler.unary_unary  # type: ignore[assignment]
        behaviour = self.wrap(handler_call_details, original)
        if behaviour is original:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def wrap(self, details: grpc.HandlerCallDetails, behaviour: Behaviour) -> Behaviour:
        """The behaviour to run instead of behaviour for this call."""
        raise NotImplementedError
