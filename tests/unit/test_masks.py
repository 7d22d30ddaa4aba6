"""fields_to_replace: which client fields an UpdateCohort request replaces."""

from __future__ import annotations

import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2
from learning.v1 import cohort_pb2, cohort_service_pb2

from cohorts.api.masks import fields_to_replace
from cohorts.domain.errors import InvalidArgument

CLIENT_FIELDS = frozenset(
    {
        "source",
        "source_type",
        "group_id",
        "program_id",
        "name",
        "start_date",
        "end_date",
        "status",
        "session_count",
        "facilitator_ids",
        "assigned_assessment_ids",
        "completion_required_pct",
        "current_completion_pct",
        "metadata",
        "tags",
    }
)
SERVER_FIELDS = (
    "id",
    "tenant_id",
    "app_id",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "is_deleted",
    "deleted_at",
    "deleted_by",
    "schema_version",
    "version",
)


def _request(
    paths: list[str] | None = None, **fields: object
) -> cohort_service_pb2.UpdateCohortRequest:
    request = cohort_service_pb2.UpdateCohortRequest(cohort=cohort_pb2.Cohort(**fields))
    if paths is not None:
        request.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=paths))
    return request


def _violations(request: cohort_service_pb2.UpdateCohortRequest) -> list[str]:
    with pytest.raises(InvalidArgument) as caught:
        fields_to_replace(request)
    return [v.field for v in caught.value.violations]


def test_the_client_fields_are_exactly_the_cohorts_fields_that_are_not_server_fields():
    every_field = {f.name for f in cohort_pb2.Cohort.DESCRIPTOR.fields}

    assert every_field == CLIENT_FIELDS | set(SERVER_FIELDS)
    assert fields_to_replace(_request(["*"])) == CLIENT_FIELDS


# --- no mask ------------------------------------------------------------------------------


def test_without_a_mask_the_populated_client_fields_are_replaced():
    request = _request(name="n", tags=["a"], start_date=timestamp_pb2.Timestamp(seconds=1))

    assert fields_to_replace(request) == {"name", "tags", "start_date"}


def test_without_a_mask_an_optional_scalar_set_to_zero_counts_as_populated():
    request = _request(session_count=0, completion_required_pct=0.0)

    assert fields_to_replace(request) == {"session_count", "completion_required_pct"}


def test_without_a_mask_populated_server_fields_are_not_replaced():
    request = _request(
        id="coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R",
        tenant_id="t",
        app_id="a",
        version=3,
        is_deleted=True,
        created_by="x",
        schema_version=2,
        name="n",
    )

    assert fields_to_replace(request) == {"name"}


def test_without_a_mask_and_nothing_populated_nothing_is_replaced():
    assert fields_to_replace(_request()) == frozenset()


def test_an_empty_mask_is_the_same_as_no_mask():
    request = _request(name="n")
    request.update_mask.SetInParent()

    assert request.HasField("update_mask")
    assert fields_to_replace(request) == {"name"}


# --- explicit paths -----------------------------------------------------------------------


def test_a_mask_selects_exactly_its_paths_whatever_the_cohort_holds():
    request = _request(["name", "tags", "metadata"], program_id="p", session_count=4)

    assert fields_to_replace(request) == {"name", "tags", "metadata"}


@pytest.mark.parametrize("name", sorted(CLIENT_FIELDS))
def test_every_client_field_can_be_named_alone(name):
    assert fields_to_replace(_request([name])) == {name}


def test_duplicate_paths_are_accepted_once():
    assert fields_to_replace(_request(["name", "name", "tags", "name"])) == {"name", "tags"}


def test_a_wildcard_selects_every_client_field_even_when_the_cohort_is_empty():
    assert fields_to_replace(_request(["*"])) == CLIENT_FIELDS


def test_a_repeated_wildcard_is_accepted():
    assert fields_to_replace(_request(["*", "*"])) == CLIENT_FIELDS


@pytest.mark.parametrize("name", SERVER_FIELDS)
def test_a_path_naming_a_server_field_is_ignored(name):
    assert fields_to_replace(_request([name])) == frozenset()
    assert fields_to_replace(_request([name, "name"])) == {"name"}


# --- invalid paths ------------------------------------------------------------------------


def test_an_unknown_path_is_reported_at_its_index():
    assert _violations(_request(["name", "tags", "colour"])) == ["update_mask.paths[2]"]


@pytest.mark.parametrize(
    "path",
    [
        "tags[0]",
        "tags.0",
        "facilitator_ids[3]",
        "assigned_assessment_ids.1",
        "metadata.room",
        "metadata.a.b",
        "start_date.seconds",
        "end_date.nanos",
        "name.first",
        "created_at.seconds",
        "version.x",
    ],
)
def test_a_path_into_a_field_is_invalid(path):
    assert _violations(_request([path])) == ["update_mask.paths[0]"]


@pytest.mark.parametrize("path", ["", " ", "Name", "NAME", " name", "name ", "*name", "**", "."])
def test_a_path_that_is_not_exactly_a_field_name_is_invalid(path):
    assert _violations(_request(["tags", path])) == ["update_mask.paths[1]"]


@pytest.mark.parametrize("paths", [["*", "name"], ["name", "*"], ["*", "id"], ["tags", "*", "*"]])
def test_a_wildcard_mixed_with_other_paths_is_invalid(paths):
    violations = _violations(_request(paths))

    assert violations
    assert all(v.startswith("update_mask.paths[") for v in violations)
    assert f"update_mask.paths[{paths.index('*')}]" in violations


def test_every_invalid_path_is_reported_at_once():
    request = _request(["colour", "name", "tags[0]", "id", "metadata.x"])

    assert _violations(request) == [
        "update_mask.paths[0]",
        "update_mask.paths[2]",
        "update_mask.paths[4]",
    ]


def test_a_violation_message_names_the_offending_path():
    with pytest.raises(InvalidArgument) as caught:
        fields_to_replace(_request(["tags[0]"]))

    (violation,) = caught.value.violations
    assert "tags[0]" in violation.description
