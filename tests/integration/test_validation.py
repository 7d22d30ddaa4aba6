"""CreateCohort validation: every bad field is INVALID_ARGUMENT with details, and writes nothing."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from learning.v1 import cohort_pb2, cohort_service_pb2

from tests.integration._assertions import (
    assert_invalid_argument,
    bad_request,
    count_rows,
    error_info,
    rpc_error,
)
from tests.wire import length_delimited

# google.protobuf.Timestamp's valid range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799

METHODS = (
    "GetCohort",
    "ListCohorts",
    "CreateCohort",
    "UpdateCohort",
    "DeleteCohort",
    "UndeleteCohort",
)


def _valid() -> cohort_pb2.Cohort:
    """A cohort that passes every rule; each case breaks one thing in it."""
    return cohort_pb2.Cohort(
        name="Valid cohort",
        source="hr-sync",
        program_id="prog-1",
        group_id=f"grp-{uuid.uuid4()}",
        start_date=timestamp_pb2.Timestamp(seconds=1_800_000_000),
        end_date=timestamp_pb2.Timestamp(seconds=1_800_086_400),
        session_count=3,
        facilitator_ids=["person-1"],
        assigned_assessment_ids=[f"asm-{uuid.uuid4()}"],
        completion_required_pct=50,
        current_completion_pct=10,
        tags=["ok"],
    )


def _nested_struct(levels: int) -> dict[str, Any]:
    """A JSON object with `levels` objects in total, one inside the other."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"child": value}
    return value


def _set_metadata(value: dict[str, Any]) -> Callable[[cohort_pb2.Cohort], None]:
    def mutate(cohort: cohort_pb2.Cohort) -> None:
        cohort.metadata.update(value)

    return mutate


def _set(**fields: Any) -> Callable[[cohort_pb2.Cohort], None]:
    def mutate(cohort: cohort_pb2.Cohort) -> None:
        for name, value in fields.items():
            if isinstance(value, list):
                del getattr(cohort, name)[:]
                getattr(cohort, name).extend(value)
            elif isinstance(value, timestamp_pb2.Timestamp):
                getattr(cohort, name).CopyFrom(value)
            else:
                setattr(cohort, name, value)

    return mutate


def _bad_metadata_nan(cohort: cohort_pb2.Cohort) -> None:
    cohort.metadata.fields["score"].number_value = math.nan


def _bad_metadata_inf_in_list(cohort: cohort_pb2.Cohort) -> None:
    cohort.metadata.fields["scores"].list_value.values.add().number_value = math.inf


def _uuid() -> str:
    return str(uuid.uuid4())


INVALID_CASES = [
    pytest.param(_set(name=""), "cohort.name", id="empty-name"),
    pytest.param(_set(name="   \t\n "), "cohort.name", id="blank-name"),
    pytest.param(_set(name="x" * 201), "cohort.name", id="name-201-chars"),
    pytest.param(_set(name="n" * 5000), "cohort.name", id="name-5000-chars"),
    pytest.param(_set(name="Spr\x00ing"), "cohort.name", id="nul-in-name"),
    pytest.param(_set(source="hr\x00sync"), "cohort.source", id="nul-in-source"),
    pytest.param(_set(source="s" * 65), "cohort.source", id="source-65-chars"),
    pytest.param(_set(program_id="prog\x001"), "cohort.program_id", id="nul-in-program-id"),
    pytest.param(_set(program_id="p" * 129), "cohort.program_id", id="program-id-129-chars"),
    pytest.param(_set(tags=["ok", "ta\x00g"]), "cohort.tags", id="nul-in-tag"),
    pytest.param(_set(tags=["\x00"]), "cohort.tags", id="tag-only-nul"),
    pytest.param(_set(tags=["  "]), "cohort.tags", id="blank-tag"),
    pytest.param(_set(tags=["t" * 65]), "cohort.tags", id="tag-65-chars"),
    pytest.param(_set(tags=[f"t{i}" for i in range(101)]), "cohort.tags", id="101-tags"),
    pytest.param(
        _set(facilitator_ids=["person\x00-1"]), "cohort.facilitator_ids", id="nul-in-facilitator"
    ),
    pytest.param(
        _set(facilitator_ids=[f"p{i}" for i in range(101)]),
        "cohort.facilitator_ids",
        id="101-facilitators",
    ),
    pytest.param(
        _set_metadata({"note": "bad\x00value"}), "cohort.metadata", id="nul-in-metadata-value"
    ),
    pytest.param(
        _set_metadata({"outer": {"list": ["fine", "bad\x00"]}}),
        "cohort.metadata",
        id="nul-in-nested-metadata-value",
    ),
    pytest.param(_set_metadata({"ke\x00y": "v"}), "cohort.metadata", id="nul-in-metadata-key"),
    pytest.param(_set(group_id="grp-123"), "cohort.group_id", id="group-id-short"),
    pytest.param(_set(group_id=_uuid()), "cohort.group_id", id="group-id-bare-uuid"),
    pytest.param(_set(group_id=f"group-{_uuid()}"), "cohort.group_id", id="group-id-prefix"),
    pytest.param(_set(group_id=f"grp-{_uuid()}x"), "cohort.group_id", id="group-id-suffix"),
    pytest.param(_set(group_id=f"grp-{_uuid()}\n"), "cohort.group_id", id="group-id-newline"),
    pytest.param(_set(group_id=f"grp-{_uuid()}\x00"), "cohort.group_id", id="group-id-nul"),
    pytest.param(
        _set(assigned_assessment_ids=["asm-123"]),
        "cohort.assigned_assessment_ids",
        id="assessment-id-short",
    ),
    pytest.param(
        _set(assigned_assessment_ids=[f"asm-{_uuid()}", f"grp-{_uuid()}"]),
        "cohort.assigned_assessment_ids",
        id="assessment-id-wrong-prefix",
    ),
    pytest.param(
        _set(assigned_assessment_ids=[_uuid()]),
        "cohort.assigned_assessment_ids",
        id="assessment-id-bare-uuid",
    ),
    pytest.param(
        _set(assigned_assessment_ids=[f"asm-{_uuid()}" for _ in range(101)]),
        "cohort.assigned_assessment_ids",
        id="101-assessments",
    ),
    pytest.param(
        _set(
            start_date=timestamp_pb2.Timestamp(seconds=1_800_000_000),
            end_date=timestamp_pb2.Timestamp(seconds=1_799_999_999),
        ),
        "cohort.end_date",
        id="end-before-start",
    ),
    pytest.param(_set(session_count=-1), "cohort.session_count", id="negative-session-count"),
    pytest.param(
        _set(session_count=-(2**31)), "cohort.session_count", id="min-int32-session-count"
    ),
    *[
        pytest.param(_set(**{field: value}), f"cohort.{field}", id=f"{field}-{label}")
        for field in ("completion_required_pct", "current_completion_pct")
        for label, value in (
            ("nan", math.nan),
            ("+inf", math.inf),
            ("-inf", -math.inf),
            ("-1", -1.0),
            ("101", 101.0),
            ("just-below-0", -1e-9),
            ("just-above-100", 100.000001),
        )
    ],
    pytest.param(_bad_metadata_nan, "cohort.metadata", id="metadata-nan"),
    pytest.param(_bad_metadata_inf_in_list, "cohort.metadata", id="metadata-inf-in-list"),
    pytest.param(
        _set_metadata(_nested_struct(12)), "cohort.metadata", id="metadata-nested-12-deep"
    ),
    pytest.param(
        _set_metadata(_nested_struct(25)), "cohort.metadata", id="metadata-nested-25-deep"
    ),
    pytest.param(
        _set_metadata({"blob": "x" * (64 * 1024 + 1)}),
        "cohort.metadata",
        id="metadata-over-64-KiB",
    ),
    pytest.param(
        _set_metadata({f"k{i}": "v" * 1000 for i in range(80)}),
        "cohort.metadata",
        id="metadata-over-64-KiB-in-many-keys",
    ),
    pytest.param(_set(status=99), "cohort.status", id="unknown-status"),
    pytest.param(_set(status=-1), "cohort.status", id="negative-status"),
    pytest.param(_set(source_type=99), "cohort.source_type", id="unknown-source-type"),
    pytest.param(
        _set(start_date=timestamp_pb2.Timestamp(seconds=MAX_TIMESTAMP_SECONDS + 1)),
        "cohort.start_date",
        id="start-date-after-9999",
    ),
    pytest.param(
        _set(
            start_date=timestamp_pb2.Timestamp(seconds=MIN_TIMESTAMP_SECONDS - 1),
            end_date=timestamp_pb2.Timestamp(seconds=0),
        ),
        "cohort.start_date",
        id="start-date-before-0001",
    ),
    pytest.param(
        _set(end_date=timestamp_pb2.Timestamp(seconds=2**62)),
        "cohort.end_date",
        id="end-date-huge",
    ),
    pytest.param(
        _set(end_date=timestamp_pb2.Timestamp(seconds=1_900_000_000, nanos=-1)),
        "cohort.end_date",
        id="end-date-negative-nanos",
    ),
    pytest.param(
        _set(end_date=timestamp_pb2.Timestamp(seconds=1_900_000_000, nanos=1_000_000_000)),
        "cohort.end_date",
        id="end-date-nanos-overflow",
    ),
]


@pytest.mark.parametrize(("mutate", "field"), INVALID_CASES)
def test_an_invalid_field_is_invalid_argument_naming_it_and_writes_nothing(
    stub, auth, db, tenant, mutate, field
):
    request = cohort_service_pb2.CreateCohortRequest(cohort=_valid())
    mutate(request.cohort)
    before = count_rows(db, tenant)

    error = rpc_error(lambda: stub.CreateCohort(request, metadata=auth))

    assert_invalid_argument(error, field)
    assert count_rows(db, tenant) == before == 0


def test_every_bad_field_of_one_request_is_reported_at_once(stub, auth, db, tenant):
    cohort = cohort_pb2.Cohort(
        name="   ",
        source="s\x00",
        program_id="p\x00",
        group_id="grp-nope",
        start_date=timestamp_pb2.Timestamp(seconds=1_800_000_000),
        end_date=timestamp_pb2.Timestamp(seconds=1_700_000_000),
        session_count=-5,
        facilitator_ids=["f\x00"],
        assigned_assessment_ids=["asm-nope"],
        completion_required_pct=math.nan,
        current_completion_pct=101,
        tags=[f"t{i}" for i in range(101)],
    )
    cohort.metadata.fields["score"].number_value = math.inf

    error = rpc_error(
        lambda: stub.CreateCohort(
            cohort_service_pb2.CreateCohortRequest(cohort=cohort, request_id="not-a-uuid"),
            metadata=auth,
        )
    )

    assert_invalid_argument(
        error,
        "request_id",
        "cohort.name",
        "cohort.source",
        "cohort.program_id",
        "cohort.group_id",
        "cohort.end_date",
        "cohort.session_count",
        "cohort.facilitator_ids",
        "cohort.assigned_assessment_ids",
        "cohort.completion_required_pct",
        "cohort.current_completion_pct",
        "cohort.tags",
        "cohort.metadata",
    )
    assert count_rows(db, tenant) == 0


def test_unrepresentable_values_are_reported_together_with_every_other_bad_field(
    stub, auth, db, tenant
):
    cohort = cohort_pb2.Cohort(
        name="",
        group_id="grp-nope",
        status=99,
        source_type=42,
        start_date=timestamp_pb2.Timestamp(seconds=MAX_TIMESTAMP_SECONDS + 1),
        session_count=-1,
        current_completion_pct=-math.inf,
        tags=["ok", "bad\x00"],
    )

    error = rpc_error(
        lambda: stub.CreateCohort(
            cohort_service_pb2.CreateCohortRequest(cohort=cohort, request_id="not-a-uuid"),
            metadata=auth,
        )
    )

    assert_invalid_argument(
        error,
        "cohort.status",
        "cohort.source_type",
        "cohort.start_date",
        "cohort.name",
        "cohort.group_id",
        "cohort.session_count",
        "cohort.current_completion_pct",
        "cohort.tags",
        "request_id",
    )
    assert count_rows(db, tenant) == 0


def test_each_violation_carries_a_description(stub, auth):
    cohort = cohort_pb2.Cohort(name="", session_count=-1, group_id="bad")

    error = rpc_error(
        lambda: stub.CreateCohort(
            cohort_service_pb2.CreateCohortRequest(cohort=cohort), metadata=auth
        )
    )

    violations = bad_request(error).field_violations
    assert len(violations) >= 3
    assert all(v.field and v.description for v in violations)
    assert error_info(error).reason != ""


@pytest.mark.parametrize(
    "pct",
    [-0.0, 0.0, 100.0, 33.333333333333336, 5e-324],
    ids=["minus-zero", "zero", "hundred", "fraction", "smallest-subnormal"],
)
def test_a_percentage_within_0_and_100_is_accepted(stub, auth, pct):
    created = stub.CreateCohort(
        cohort_service_pb2.CreateCohortRequest(
            cohort=cohort_pb2.Cohort(
                name="Pct", completion_required_pct=pct, current_completion_pct=pct
            )
        ),
        metadata=auth,
    )

    assert created.HasField("completion_required_pct")
    assert created.completion_required_pct == pct
    assert created.current_completion_pct == pct


def test_values_at_the_limits_are_accepted(stub, auth):
    cohort = cohort_pb2.Cohort(
        name="x" * 200,
        source="s" * 64,
        program_id="p" * 128,
        session_count=2**31 - 1,
        start_date=timestamp_pb2.Timestamp(seconds=MIN_TIMESTAMP_SECONDS),
        end_date=timestamp_pb2.Timestamp(seconds=MAX_TIMESTAMP_SECONDS, nanos=999_999_000),
        facilitator_ids=["f" * 128] * 100,
        assigned_assessment_ids=[f"asm-{uuid.uuid4()}" for _ in range(100)],
        tags=["t" * 64] * 100,
        status=cohort_pb2.COHORT_STATUS_ARCHIVED,
        source_type=cohort_pb2.SOURCE_TYPE_SYSTEM,
    )
    cohort.metadata.update(_nested_struct(5))
    cohort.metadata.update({"blob": "x" * 60_000})

    created = stub.CreateCohort(
        cohort_service_pb2.CreateCohortRequest(cohort=cohort), metadata=auth
    )
    fetched = stub.GetCohort(cohort_service_pb2.GetCohortRequest(id=created.id), metadata=auth)

    assert fetched == created
    assert created.name == cohort.name
    assert created.start_date == cohort.start_date
    assert created.end_date == cohort.end_date
    assert created.metadata == cohort.metadata


def test_an_end_date_equal_to_the_start_date_is_accepted(stub, auth):
    day = timestamp_pb2.Timestamp(seconds=1_800_000_000, nanos=5_000)

    created = stub.CreateCohort(
        cohort_service_pb2.CreateCohortRequest(
            cohort=cohort_pb2.Cohort(name="One day", start_date=day, end_date=day)
        ),
        metadata=auth,
    )

    assert created.start_date == created.end_date == day


def _raw_method(channel: grpc.Channel, method: str) -> Any:
    return channel.unary_unary(
        f"/learning.v1.CohortService/{method}",
        request_serializer=None,
        response_deserializer=None,
    )


@pytest.mark.parametrize("method", METHODS)
def test_undecodable_request_bytes_are_invalid_argument_not_internal(
    channel, auth, db, tenant, method
):
    error = rpc_error(lambda: _raw_method(channel, method)(b"\xff\xff\xff", metadata=auth))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    error_info(error)
    assert count_rows(db, tenant) == 0


def test_a_string_field_with_invalid_utf8_is_invalid_argument(channel, auth, db, tenant):
    # CreateCohortRequest{cohort (1): Cohort{name (16): b"\xff"}} written by hand,
    # because the Python runtime refuses to build a string that is not UTF-8.
    request = length_delimited(1, length_delimited(16, b"\xff"))

    error = rpc_error(lambda: _raw_method(channel, "CreateCohort")(request, metadata=auth))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    error_info(error)
    assert count_rows(db, tenant) == 0


def _deep_struct_bytes(levels: int) -> bytes:
    """A Struct with `levels` Structs nested in one another, serialized by hand."""
    struct = b""
    for _ in range(levels):
        value = length_delimited(5, struct)  # Value.struct_value = 5
        entry = length_delimited(1, b"a") + length_delimited(2, value)  # map key, value
        struct = length_delimited(1, entry)  # Struct.fields = 1
    return struct


def test_metadata_nested_past_the_protobuf_recursion_limit_is_invalid_argument(
    channel, auth, db, tenant
):
    name = length_delimited(16, b"Deep")  # Cohort.name = 16
    cohort = name + length_delimited(25, _deep_struct_bytes(150))  # Cohort.metadata = 25
    request = length_delimited(1, cohort)  # CreateCohortRequest.cohort = 1
    assert cohort_pb2.Cohort(name="Deep").SerializeToString() == name

    error = rpc_error(lambda: _raw_method(channel, "CreateCohort")(request, metadata=auth))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    error_info(error)
    assert count_rows(db, tenant) == 0


def test_metadata_nested_150_deep_through_the_generated_stub_is_invalid_argument(
    stub, auth, db, tenant
):
    # Built in place: copying the message would re-parse it and hit the client's own limit.
    request = cohort_service_pb2.CreateCohortRequest()
    request.cohort.name = "Deep"
    current: struct_pb2.Struct = request.cohort.metadata
    for _ in range(150):
        current = current.fields["a"].struct_value
    current.fields["leaf"].string_value = "bottom"

    error = rpc_error(lambda: stub.CreateCohort(request, metadata=auth))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    error_info(error)
    assert count_rows(db, tenant) == 0
