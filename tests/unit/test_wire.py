"""api/wire.py: responses assembled from stored encodings are the messages protobuf would build."""

from __future__ import annotations

import hashlib

import pytest
from google.protobuf import descriptor_pb2
from learning.v1 import cohort_pb2, cohort_service_pb2

from cohorts.api.wire import COHORT_WIRE, list_response
from tests.unit.test_wire_golden import COHORTS

# The Cohort message each encoding format was made for. A change to the
# message (a field added, renumbered or retyped) changes what the mapping must
# encode, so stored rows of the old format must stop being served: bump
# COHORT_WIRE.format and record the new fingerprint here.
_COHORT_DESCRIPTOR_BY_FORMAT = {
    1: "b975a143d8b6ab5434272bf5a987f30bc0eb9ecd87f957bcfc33d3e8be970af0",
}


def _cohort(name: str, metadata_bytes: int = 0) -> cohort_pb2.Cohort:
    cohort = cohort_pb2.Cohort(id="coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R", name=name, tags=["a", "b"])
    if metadata_bytes:
        cohort.metadata.update({"notes": "x" * metadata_bytes})
    return cohort


@pytest.mark.parametrize(
    ("cohorts", "token"),
    [
        ([], ""),
        ([], "next"),
        ([_cohort("small")], ""),
        # Lengths past one (127) and two (16,383) varint bytes.
        ([_cohort("a", 200), _cohort("b", 20_000), _cohort("c")], "t" * 300),
    ],
)
def test_list_response_is_the_message_protobuf_builds(cohorts: list[cohort_pb2.Cohort], token: str):
    expected = cohort_service_pb2.ListCohortsResponse(cohorts=cohorts, next_page_token=token)

    encoded = list_response([c.SerializeToString() for c in cohorts], token)

    assert encoded == expected.SerializeToString()
    assert cohort_service_pb2.ListCohortsResponse.FromString(encoded) == expected


def test_the_wire_format_was_bumped_for_the_current_cohort_message():
    descriptor = descriptor_pb2.DescriptorProto()
    cohort_pb2.Cohort.DESCRIPTOR.CopyToProto(descriptor)
    fingerprint = hashlib.sha256(descriptor.SerializeToString(deterministic=True)).hexdigest()

    assert _COHORT_DESCRIPTOR_BY_FORMAT.get(COHORT_WIRE.format) == fingerprint, (
        "learning.v1.Cohort changed: bump COHORT_WIRE.format in api/wire.py so rows "
        f"stored in the old format are rebuilt, and record {fingerprint} for it here"
    )


@pytest.mark.parametrize("name", sorted(COHORTS))
def test_the_codec_reads_back_the_cohort_it_encoded(name: str):
    cohort = COHORTS[name]

    assert COHORT_WIRE.decode(COHORT_WIRE.encode(cohort)) == cohort
