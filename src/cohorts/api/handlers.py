"""Registers CohortService methods with decoding and error mapping around each."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import message as protobuf_message
from google.protobuf import message_factory
from learning.v1 import cohort_service_pb2

from cohorts.api.errors import (
    abort_with,
    internal_status,
    status_for,
    undecodable_request_status,
)
from cohorts.api.interception import Behaviour
from cohorts.api.request_context import current_record
from cohorts.api.servicer import CohortServicer
from cohorts.domain.errors import DomainError
from cohorts.service.deadlines import request_deadline

SERVICE_DESCRIPTOR = cohort_service_pb2.DESCRIPTOR.services_by_name["CohortService"]
SERVICE_NAME = SERVICE_DESCRIPTOR.full_name

_log = logging.getLogger(__name__)


class UndecodableRequest:
    """Stands in for a request whose bytes did not parse."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _tolerant_deserializer(
    message_class: type[protobuf_message.Message],
) -> Callable[[bytes], Any]:
    # grpcio answers a deserializer exception with INTERNAL "Exception
    # deserializing request" before any handler runs; hand the failure to the
    # handler instead so the caller gets INVALID_ARGUMENT.
    def deserialize(data: bytes) -> Any:
        try:
            return message_class.FromString(data)
        except Exception as error:  # noqa: BLE001 - any decode failure is the caller's
            return UndecodableRequest(error)

    return deserialize


def _passing_bytes_through(
    message_class: type[protobuf_message.Message],
) -> Callable[[Any], bytes]:
    # Cohorts are answered with their stored encodings (api/wire.py).
    serialize = message_class.SerializeToString

    def serialize_response(response: Any) -> bytes:
        return response if type(response) is bytes else serialize(response)

    return serialize_response


def _guarded(method: str, behaviour: Behaviour) -> Behaviour:
    async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        if isinstance(request, UndecodableRequest):
            await abort_with(context, undecodable_request_status(request.error))
        try:
            with request_deadline(context.time_remaining()):
                return await behaviour(request, context)
        except DomainError as error:
            status = status_for(error)
        except Exception:
            record = current_record()
            correlation_id = record.correlation_id if record else uuid.uuid4().hex
            _log.exception("unexpected error in %s, correlation id %s", method, correlation_id)
            status = internal_status(correlation_id)
        await abort_with(context, status)

    return guarded


def cohort_service_handlers(servicer: CohortServicer) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    """A method handler per CohortService method of the servicer, by method name."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in SERVICE_DESCRIPTOR.methods:
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _guarded(method.full_name, getattr(servicer, method.name)),
            request_deserializer=_tolerant_deserializer(request_class),
            response_serializer=_passing_bytes_through(response_class),
        )
    return handlers
