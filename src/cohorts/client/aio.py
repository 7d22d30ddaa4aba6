"""The asyncio client over grpc.aio: `AsyncClient(target, token=...).learning.cohorts`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self, TypeVar, Unpack

import grpc
import grpc.aio
from google.protobuf.message import Message
from learning.v1 import cohort_service_pb2_grpc
from learning.v1.cohort_service_pb2 import ListCohortsRequest

from cohorts.client import messages
from cohorts.client.calls import CHANNEL_OPTIONS, Backoff, CallPolicy, TokenProvider
from cohorts.client.errors import error_from_rpc
from cohorts.client.messages import Cohort, CohortChanges, CohortFields

_Request = TypeVar("_Request", bound=Message)
_Response = TypeVar("_Response", bound=Message)


class AsyncCohorts:
    """learning.v1.CohortService; every method raises a CohortError subclass on failure."""

    def __init__(
        self, stub: cohort_service_pb2_grpc.CohortServiceAsyncStub, policy: CallPolicy
    ) -> None:
        self._stub = stub
        self._policy = policy

    async def list(
        self,
        filter: str = "",
        order_by: str = "",
        page_size: int = 0,
        show_deleted: bool = False,
        *,
        timeout: float | None = None,
    ) -> AsyncIterator[Cohort]:
        """Every cohort matching filter, fetching each page only when iteration reaches it.

        timeout bounds each page's call, not the whole iteration.
        """
        request: ListCohortsRequest | None = messages.list_request(
            filter=filter, order_by=order_by, page_size=page_size, show_deleted=show_deleted
        )
        while request is not None:
            page = await self._call(self._stub.ListCohorts, request, timeout)
            for cohort in page.cohorts:
                yield cohort
            request = messages.next_page_request(request, page)

    async def get(self, id: str, *, timeout: float | None = None) -> Cohort:
        """The cohort with this id, soft-deleted ones included."""
        return await self._call(self._stub.GetCohort, messages.get_request(id), timeout)

    async def create(
        self,
        *,
        request_id: str | uuid.UUID | None = None,
        timeout: float | None = None,
        **fields: Unpack[CohortFields],
    ) -> Cohort:
        """Store a new cohort; retries reuse one request_id, so at most one is created."""
        request = messages.create_request(fields, request_id=request_id)
        return await self._call(self._stub.CreateCohort, request, timeout)

    async def update(
        self,
        id: str,
        *,
        expected_version: int | None = None,
        timeout: float | None = None,
        **changes: Unpack[CohortChanges],
    ) -> Cohort:
        """Replace exactly the fields given (None clears one); never retried."""
        request = messages.update_request(id, changes, expected_version=expected_version)
        return await self._call(self._stub.UpdateCohort, request, timeout)

    async def delete(
        self, id: str, *, expected_version: int | None = None, timeout: float | None = None
    ) -> Cohort:
        """Soft-delete the cohort and return it; never retried."""
        request = messages.delete_request(id, expected_version=expected_version)
        return await self._call(self._stub.DeleteCohort, request, timeout)

    async def undelete(self, id: str, *, timeout: float | None = None) -> Cohort:
        """Restore a soft-deleted cohort and return it; never retried."""
        return await self._call(self._stub.UndeleteCohort, messages.undelete_request(id), timeout)

    async def _call(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[_Request, _Response],
        request: _Request,
        timeout: float | None,
    ) -> _Response:
        deadline = self._policy.deadline(timeout)
        retries_done = 0
        while True:
            try:
                return await method(
                    request, timeout=deadline.remaining(), metadata=self._policy.metadata()
                )
            except grpc.RpcError as rpc_error:
                error = error_from_rpc(rpc_error)
                delay = self._policy.retry_delay(
                    request, error, retries_done=retries_done, deadline=deadline
                )
                if delay is None:
                    raise error from rpc_error
            await asyncio.sleep(delay)
            retries_done += 1


class AsyncLearning:
    """The learning.v1 services."""

    def __init__(self, cohorts: AsyncCohorts) -> None:
        self.cohorts = cohorts


class AsyncClient:
    """An asyncio CohortService client: `await client.learning.cohorts.get(id)`.

    Create it inside the event loop that uses it: a grpc.aio channel belongs to
    the loop it was made on. Pass target to let the client own the channel, or
    an existing grpc.aio channel, which close() leaves open.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        token: str | None = None,
        token_provider: TokenProvider | None = None,
        default_timeout: float = 10.0,
        retries: int = 3,
        channel: grpc.aio.Channel | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        policy = CallPolicy(
            token=token,
            token_provider=token_provider,
            default_timeout=default_timeout,
            retries=retries,
            backoff=backoff,
        )
        if (target is None) == (channel is None):
            raise ValueError("pass exactly one of target and channel=")
        if channel is not None and credentials is not None:
            raise ValueError("credentials= applies to a channel the client opens, not to channel=")
        self._owns_channel = channel is None
        if channel is None:
            assert target is not None
            if credentials is None:
                channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
            else:
                channel = grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
        self._channel = channel
        # The generated stub's __new__ is typed to return CohortServiceAsyncStub for an aio channel.
        stub = cohort_service_pb2_grpc.CohortServiceStub(channel)
        self.learning = AsyncLearning(AsyncCohorts(stub, policy))

    async def close(self) -> None:
        """Close the channel if the client opened it."""
        if self._owns_channel:
            await self._channel.close(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
