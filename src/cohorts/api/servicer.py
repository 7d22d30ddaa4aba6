"""CohortServicer: unpack the request, call one use case, send the result's encoding."""

from __future__ import annotations

from typing import Any

import grpc
from learning.v1 import cohort_service_pb2

from cohorts.api.auth import current_caller
from cohorts.api.mapping import content_from_proto, read_content_fields
from cohorts.api.masks import fields_to_replace
from cohorts.api.wire import COHORT_WIRE, list_response
from cohorts.domain.errors import InvalidArgument
from cohorts.domain.rules import request_id_violations
from cohorts.service.cohorts import CohortUseCases, ListRequest
from cohorts.service.stored_cohort import CohortCodec

Context = grpc.aio.ServicerContext[Any, Any]


class CohortServicer:
    """learning.v1.CohortService over the cohort use cases.

    Every method answers with encoded bytes (learning.v1.Cohort, or a
    ListCohortsResponse around them), which the handlers pass to gRPC as they are.
    A cohort's stored encoding is sent as it is when it is in wire's format.
    """

    def __init__(
        self,
        use_cases: CohortUseCases,
        *,
        max_response_bytes: int,
        wire: CohortCodec = COHORT_WIRE,
    ) -> None:
        self._cases = use_cases
        self._wire = wire
        # Room for the page token and framing beside the cohorts themselves.
        self._page_budget = max_response_bytes - 16 * 1024

    async def GetCohort(
        self, request: cohort_service_pb2.GetCohortRequest, context: Context
    ) -> bytes:
        return (await self._cases.get(current_caller(), request.id)).encoded(self._wire)

    async def ListCohorts(
        self, request: cohort_service_pb2.ListCohortsRequest, context: Context
    ) -> bytes:
        page = await self._cases.list(
            current_caller(),
            ListRequest(
                page_size=request.page_size,
                page_token=request.page_token,
                filter=request.filter,
                order_by=request.order_by,
                show_deleted=request.show_deleted,
            ),
        )
        wire = self._wire
        encoded = [cohort.encoded(wire) for cohort in page.cohorts]
        if sum(map(len, encoded)) + 8 * len(encoded) > self._page_budget:
            size = 0
            for index, cohort in enumerate(encoded):
                size += len(cohort) + 8
                if size > self._page_budget and index > 0:
                    # A shorter page than asked for beats one too big to send (AIP-158).
                    return list_response(encoded[:index], page.token_after(index - 1))
        return list_response(encoded, page.next_page_token)

    async def CreateCohort(
        self, request: cohort_service_pb2.CreateCohortRequest, context: Context
    ) -> bytes:
        try:
            content = content_from_proto(request.cohort, prefix="cohort.")
        except InvalidArgument as error:
            # Report a bad request_id too, so one response lists every bad field.
            raise InvalidArgument(
                request_id_violations(request.request_id, field="request_id")
                + list(error.violations)
            ) from None
        created = await self._cases.create(current_caller(), content, request_id=request.request_id)
        return created.encoded(self._wire)

    async def UpdateCohort(
        self, request: cohort_service_pb2.UpdateCohortRequest, context: Context
    ) -> bytes:
        fields = fields_to_replace(request)
        changes = read_content_fields(request.cohort, fields, prefix="cohort.")
        updated = await self._cases.update(
            current_caller(),
            request.cohort.id,
            changes,
            expected_version=request.cohort.version or None,
        )
        return updated.encoded(self._wire)

    async def DeleteCohort(
        self, request: cohort_service_pb2.DeleteCohortRequest, context: Context
    ) -> bytes:
        deleted = await self._cases.delete(
            current_caller(), request.id, expected_version=request.version or None
        )
        return deleted.encoded(self._wire)

    async def UndeleteCohort(
        self, request: cohort_service_pb2.UndeleteCohortRequest, context: Context
    ) -> bytes:
        return (await self._cases.undelete(current_caller(), request.id)).encoded(self._wire)
