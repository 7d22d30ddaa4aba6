"""Responses sent as stored bytes: each cohort is encoded once, when it is written.

A read hands the cohorts' stored encodings (storage keeps them beside the
rows) straight to gRPC; ListCohortsResponse is assembled around them by
protobuf's wire rules rather than rebuilt message by message.
"""

from __future__ import annotations

from collections.abc import Sequence

from learning.v1 import cohort_pb2, cohort_service_pb2

from cohorts.api.mapping import cohort_from_proto, cohort_to_proto
from cohorts.domain.cohort import Cohort
from cohorts.service.stored_cohort import CohortCodec


def _encode_cohort(cohort: Cohort) -> bytes:
    return cohort_to_proto(cohort).SerializeToString()


def _decode_cohort(encoded: bytes) -> Cohort:
    return cohort_from_proto(cohort_pb2.Cohort.FromString(encoded))


# Bump format whenever cohort_to_proto would encode the same stored cohort
# differently (a field newly mapped, a representation changed): rows stored in
# another format are then rebuilt from their columns until rewritten, or until
# `cohorts reencode` brings them up to date.
COHORT_WIRE = CohortCodec(format=1, encode=_encode_cohort, decode=_decode_cohort)

_LIST_FIELDS = cohort_service_pb2.ListCohortsResponse.DESCRIPTOR.fields_by_name
_COHORTS_TAG = bytes([_LIST_FIELDS["cohorts"].number << 3 | 2])
_NEXT_PAGE_TOKEN_TAG = bytes([_LIST_FIELDS["next_page_token"].number << 3 | 2])


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def list_response(cohorts: Sequence[bytes], next_page_token: str) -> bytes:
    """An encoded ListCohortsResponse of encoded cohorts."""
    parts: list[bytes] = []
    for cohort in cohorts:
        parts += (_COHORTS_TAG, _varint(len(cohort)), cohort)
    if next_page_token:
        token = next_page_token.encode()
        parts += (_NEXT_PAGE_TOKEN_TAG, _varint(len(token)), token)
    return b"".join(parts)
