"""UpdateCohort: AIP-134 update masks, AIP-161 server fields, versions and failures."""

from __future__ import annotations

import re

import grpc
import pytest
from learning.v1 import cohort_pb2, cohort_service_pb2

from tests.integration._support import (
    ERROR_DOMAIN,
    assessment_id,
    content_of,
    create,
    full_cohort,
    get,
    group_id,
    rpc_error,
    stamp,
    stored_row,
    ts,
    update,
    update_request,
    violated_fields,
)
from tests.integration._support import (
    error_info as info_of,
)


def _expected(created: cohort_pb2.Cohort, **changes: object) -> cohort_pb2.Cohort:
    """The content of created with some fields changed (None clears a field)."""
    expected = content_of(created)
    for name, value in changes.items():
        expected.ClearField(name)
        if value is None:
            continue
        if isinstance(value, list):
            getattr(expected, name).extend(value)
        elif isinstance(value, dict):
            expected.metadata.update(value)
        elif name in ("start_date", "end_date"):
            getattr(expected, name).CopyFrom(value)
        else:
            setattr(expected, name, value)
    return expected


# --- the mask names the fields to replace ----------------------------------------------


def test_a_masked_update_replaces_the_named_field_and_leaves_every_other_field_unchanged(
    stub, auth
):
    created = create(stub, auth)
    changes = full_cohort(name="Renamed", program_id="other", tags=["new"], session_count=99)
    changes.id = created.id

    updated = update(stub, auth, changes, ["name"])

    assert content_of(updated) == _expected(created, name="Renamed")
    assert content_of(get(stub, auth, created.id)) == content_of(updated)


def test_a_masked_update_replaces_every_named_field_at_once(stub, auth):
    created = create(stub, auth)
    new_group = group_id()
    changes = cohort_pb2.Cohort(
        id=created.id,
        name="Autumn",
        group_id=new_group,
        status=cohort_pb2.COHORT_STATUS_ACTIVE,
        session_count=0,
        completion_required_pct=0.0,
        end_date=ts(1_820_000_000),
    )
    paths = ["name", "group_id", "status", "session_count", "completion_required_pct", "end_date"]

    updated = update(stub, auth, changes, paths)

    assert content_of(updated) == _expected(
        created,
        name="Autumn",
        group_id=new_group,
        status=cohort_pb2.COHORT_STATUS_ACTIVE,
        session_count=0,
        completion_required_pct=0.0,
        end_date=ts(1_820_000_000),
    )
    # Zero is a value, not "unset": the optional scalars stay present.
    assert updated.HasField("session_count")
    assert updated.HasField("completion_required_pct")


# --- a named field with an empty value clears it ----------------------------------------


def test_naming_optional_scalars_without_values_makes_them_absent(stub, auth, tenant, db):
    created = create(stub, auth)
    paths = ["session_count", "completion_required_pct", "current_completion_pct"]

    updated = update(stub, auth, cohort_pb2.Cohort(id=created.id), paths)

    for name in paths:
        assert not updated.HasField(name), name
        assert not get(stub, auth, created.id).HasField(name), name
    row = stored_row(db, tenant, created.id)
    assert row is not None
    assert [row[name] for name in paths] == [None, None, None]
    assert content_of(updated) == _expected(created, **dict.fromkeys(paths))


def test_naming_timestamps_without_values_removes_them(stub, auth, tenant, db):
    created = create(stub, auth)

    updated = update(stub, auth, cohort_pb2.Cohort(id=created.id), ["start_date", "end_date"])

    assert not updated.HasField("start_date")
    assert not updated.HasField("end_date")
    row = stored_row(db, tenant, created.id)
    assert row is not None
    assert (row["start_date"], row["end_date"]) == (None, None)
    assert content_of(updated) == _expected(created, start_date=None, end_date=None)


def test_naming_lists_without_values_empties_them(stub, auth, tenant, db):
    created = create(stub, auth)
    paths = ["tags", "facilitator_ids", "assigned_assessment_ids"]

    updated = update(stub, auth, cohort_pb2.Cohort(id=created.id), paths)

    assert [list(getattr(updated, name)) for name in paths] == [[], [], []]
    row = stored_row(db, tenant, created.id)
    assert row is not None
    assert [row[name] for name in paths] == [[], [], []]
    assert content_of(updated) == _expected(created, **dict.fromkeys(paths))


def test_naming_metadata_without_a_value_empties_it(stub, auth, tenant, db):
    created = create(stub, auth)

    updated = update(stub, auth, cohort_pb2.Cohort(id=created.id), ["metadata"])

    assert dict(updated.metadata) == {}
    row = stored_row(db, tenant, created.id)
    assert row is not None
    assert row["metadata"] == {}
    assert content_of(updated) == _expected(created, metadata=None)


def test_naming_text_fields_without_values_empties_them(stub, auth):
    created = create(stub, auth)

    updated = update(stub, auth, cohort_pb2.Cohort(id=created.id), ["group_id", "program_id"])

    assert (updated.group_id, updated.program_id) == ("", "")
    assert content_of(updated) == _expected(created, group_id=None, program_id=None)


def test_clearing_source_restores_the_default_edm(stub, auth, tenant, db):
    created = create(stub, auth, full_cohort(source="crm"))

    updated = update(stub, auth, cohort_pb2.Cohort(id=created.id), ["source"])

    assert updated.source == "edm"
    row = stored_row(db, tenant, created.id)
    assert row is not None
    assert row["source"] == "edm"


def test_clearing_the_enums_restores_their_defaults(stub, auth):
    created = create(stub, auth)
    assert created.status != cohort_pb2.COHORT_STATUS_DRAFT
    assert created.source_type != cohort_pb2.SOURCE_TYPE_API

    updated = update(stub, auth, cohort_pb2.Cohort(id=created.id), ["status", "source_type"])

    assert updated.status == cohort_pb2.COHORT_STATUS_DRAFT
    assert updated.source_type == cohort_pb2.SOURCE_TYPE_API


def test_clearing_the_name_is_invalid_argument_and_writes_nothing(stub, auth, tenant, db):
    created = create(stub, auth)
    before = stored_row(db, tenant, created.id)

    error = rpc_error(
        stub.UpdateCohort, update_request(cohort_pb2.Cohort(id=created.id), ["name"]), auth
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cohort.name" in violated_fields(error)
    assert stored_row(db, tenant, created.id) == before


def test_a_blank_name_is_invalid_argument_like_an_empty_one(stub, auth, tenant, db):
    created = create(stub, auth)
    before = stored_row(db, tenant, created.id)

    error = rpc_error(
        stub.UpdateCohort,
        update_request(cohort_pb2.Cohort(id=created.id, name="   "), ["name"]),
        auth,
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cohort.name" in violated_fields(error)
    assert stored_row(db, tenant, created.id) == before


# --- repeated fields and metadata are replaced whole ------------------------------------


def test_named_lists_are_replaced_whole_and_never_appended(stub, auth, tenant, db):
    created = create(stub, auth, full_cohort(tags=["a", "b", "c"], facilitator_ids=["p1", "p2"]))
    new_assessment = assessment_id()
    changes = cohort_pb2.Cohort(
        id=created.id,
        tags=["c"],
        facilitator_ids=["p9"],
        assigned_assessment_ids=[new_assessment],
    )

    updated = update(stub, auth, changes, ["tags", "facilitator_ids", "assigned_assessment_ids"])

    assert list(updated.tags) == ["c"]
    assert list(updated.facilitator_ids) == ["p9"]
    assert list(updated.assigned_assessment_ids) == [new_assessment]
    row = stored_row(db, tenant, created.id)
    assert row is not None
    assert (row["tags"], row["facilitator_ids"], row["assigned_assessment_ids"]) == (
        ["c"],
        ["p9"],
        [new_assessment],
    )


def test_a_list_can_be_reordered_by_replacing_it(stub, auth):
    created = create(stub, auth, full_cohort(tags=["a", "b"]))

    updated = update(stub, auth, cohort_pb2.Cohort(id=created.id, tags=["b", "a"]), ["tags"])

    assert list(updated.tags) == ["b", "a"]


def test_named_metadata_is_replaced_whole_and_never_merged(stub, auth, tenant, db):
    created = create(
        stub, auth, full_cohort(metadata={"room": "A1", "nested": {"x": 1, "y": 2}, "keep": True})
    )
    changes = cohort_pb2.Cohort(id=created.id)
    changes.metadata.update({"nested": {"x": 3}})

    updated = update(stub, auth, changes, ["metadata"])

    assert dict(updated.metadata) == {"nested": {"x": 3}}
    row = stored_row(db, tenant, created.id)
    assert row is not None
    assert row["metadata"] == {"nested": {"x": 3}}


# --- no mask, and the wildcard ------------------------------------------------------------


def test_without_a_mask_every_populated_field_is_replaced_and_the_rest_kept(stub, auth):
    created = create(stub, auth)
    changes = cohort_pb2.Cohort(
        id=created.id,
        name="No mask",
        tags=["only"],
        session_count=0,
        end_date=ts(1_830_000_000),
        status=cohort_pb2.COHORT_STATUS_ACTIVE,
    )

    updated = update(stub, auth, changes, None)

    assert content_of(updated) == _expected(
        created,
        name="No mask",
        tags=["only"],
        session_count=0,
        end_date=ts(1_830_000_000),
        status=cohort_pb2.COHORT_STATUS_ACTIVE,
    )


def test_without_a_mask_lists_and_metadata_are_still_replaced_whole(stub, auth):
    created = create(stub, auth, full_cohort(tags=["a", "b"], metadata={"k": "v", "n": 1}))
    changes = cohort_pb2.Cohort(id=created.id, tags=["z"])
    changes.metadata.update({"n": 2})

    updated = update(stub, auth, changes, None)

    assert list(updated.tags) == ["z"]
    assert dict(updated.metadata) == {"n": 2}


def test_an_empty_mask_object_means_no_mask(stub, auth):
    created = create(stub, auth)
    request = cohort_service_pb2.UpdateCohortRequest(
        cohort=cohort_pb2.Cohort(id=created.id, name="Empty mask")
    )
    request.update_mask.SetInParent()

    updated = stub.UpdateCohort(request, metadata=auth)

    assert content_of(updated) == _expected(created, name="Empty mask")


def test_a_wildcard_mask_replaces_every_client_field_and_clears_the_unset_ones(
    stub, auth, tenant, db
):
    created = create(stub, auth)

    updated = update(stub, auth, cohort_pb2.Cohort(id=created.id, name="Only name"), ["*"])

    assert content_of(updated) == cohort_pb2.Cohort(
        name="Only name",
        source="edm",
        source_type=cohort_pb2.SOURCE_TYPE_API,
        status=cohort_pb2.COHORT_STATUS_DRAFT,
    )
    for name in ("session_count", "completion_required_pct", "current_completion_pct"):
        assert not updated.HasField(name), name
    row = stored_row(db, tenant, created.id)
    assert row is not None
    assert row["metadata"] == {}
    assert row["tags"] == [] and row["facilitator_ids"] == []
    assert row["start_date"] is None and row["session_count"] is None


def test_a_wildcard_mask_with_every_field_set_replaces_them_all(stub, auth):
    created = create(stub, auth)
    replacement = full_cohort(
        name="All new",
        source="lms",
        source_type=cohort_pb2.SOURCE_TYPE_FRONTEND,
        program_id="prog-2",
        status=cohort_pb2.COHORT_STATUS_ARCHIVED,
        session_count=3,
        facilitator_ids=["x"],
        tags=["t"],
        completion_required_pct=50.0,
        current_completion_pct=1.0,
        metadata={"fresh": "yes"},
    )
    replacement.id = created.id

    updated = update(stub, auth, replacement, ["*"])

    assert content_of(updated) == content_of(replacement)


def test_a_wildcard_mask_never_touches_server_fields(stub, auth, tenant):
    created = create(stub, auth)
    intruder = cohort_pb2.Cohort(
        id=created.id,
        name="Wild",
        tenant_id="someone-else",
        app_id="some-app",
        created_by="intruder",
        updated_by="intruder",
        created_at=ts(0),
        is_deleted=True,
        deleted_by="intruder",
        deleted_at=ts(0),
        schema_version=42,
    )

    updated = update(stub, auth, intruder, ["*"])

    assert updated.tenant_id == tenant
    assert not updated.HasField("app_id")
    assert updated.created_by == "person-1" and updated.updated_by == "person-1"
    assert updated.created_at == created.created_at
    assert not updated.is_deleted and not updated.HasField("deleted_at")
    assert updated.deleted_by == ""
    assert updated.schema_version == created.schema_version


# --- invalid masks ------------------------------------------------------------------------


def test_an_unknown_mask_path_is_invalid_argument_naming_its_index(stub, auth, tenant, db):
    created = create(stub, auth)
    before = stored_row(db, tenant, created.id)

    error = rpc_error(
        stub.UpdateCohort,
        update_request(cohort_pb2.Cohort(id=created.id, name="x"), ["name", "colour"]),
        auth,
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == ["update_mask.paths[1]"]
    info = info_of(error)
    assert info.domain == ERROR_DOMAIN and info.reason
    assert stored_row(db, tenant, created.id) == before


def test_every_bad_mask_path_is_reported_at_once(stub, auth):
    created = create(stub, auth)

    error = rpc_error(
        stub.UpdateCohort,
        update_request(cohort_pb2.Cohort(id=created.id), ["colour", "name", "tags[0]", "size"]),
        auth,
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(violated_fields(error)) == [
        "update_mask.paths[0]",
        "update_mask.paths[2]",
        "update_mask.paths[3]",
    ]


@pytest.mark.parametrize(
    "path",
    [
        "tags[0]",
        "tags.0",
        "facilitator_ids[1]",
        "metadata.room",
        "metadata.nested.x",
        "start_date.seconds",
        "created_at.seconds",
        "name.first",
    ],
)
def test_a_mask_path_that_points_inside_a_field_is_invalid_argument(stub, auth, tenant, db, path):
    created = create(stub, auth)
    before = stored_row(db, tenant, created.id)

    error = rpc_error(
        stub.UpdateCohort, update_request(cohort_pb2.Cohort(id=created.id), [path]), auth
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == ["update_mask.paths[0]"]
    assert stored_row(db, tenant, created.id) == before


@pytest.mark.parametrize("path", ["", "Name", "*name", "name,tags", " name"])
def test_a_mask_path_that_is_not_exactly_a_field_name_is_invalid_argument(
    stub, auth, tenant, db, path
):
    created = create(stub, auth)
    before = stored_row(db, tenant, created.id)

    error = rpc_error(
        stub.UpdateCohort, update_request(cohort_pb2.Cohort(id=created.id), [path]), auth
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == ["update_mask.paths[0]"]
    assert stored_row(db, tenant, created.id) == before


@pytest.mark.parametrize("paths", [["*", "name"], ["name", "*"], ["*", "version"]])
def test_a_wildcard_mixed_with_other_paths_is_invalid_argument(stub, auth, tenant, db, paths):
    created = create(stub, auth)
    before = stored_row(db, tenant, created.id)

    error = rpc_error(
        stub.UpdateCohort, update_request(cohort_pb2.Cohort(id=created.id, name="x"), paths), auth
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error)
    assert all(field.startswith("update_mask.paths") for field in violated_fields(error))
    assert stored_row(db, tenant, created.id) == before


def test_duplicate_mask_paths_are_accepted(stub, auth):
    created = create(stub, auth)
    changes = cohort_pb2.Cohort(id=created.id, name="Twice", tags=["t"])

    updated = update(stub, auth, changes, ["name", "tags", "name", "tags"])

    assert content_of(updated) == _expected(created, name="Twice", tags=["t"])
    assert updated.version == created.version + 1


def test_a_repeated_wildcard_is_accepted(stub, auth):
    created = create(stub, auth)

    updated = update(stub, auth, cohort_pb2.Cohort(id=created.id, name="Star"), ["*", "*"])

    assert updated.name == "Star"
    assert list(updated.tags) == []


# --- server fields (AIP-161) --------------------------------------------------------------


def test_mask_paths_naming_server_fields_are_ignored(stub, auth, tenant, db):
    created = create(stub, auth)
    changes = cohort_pb2.Cohort(
        id=created.id,
        name="Server paths",
        tenant_id="someone-else",
        app_id="some-app",
        created_at=ts(0),
        updated_at=ts(0),
        created_by="intruder",
        updated_by="intruder",
        is_deleted=True,
        deleted_at=ts(0),
        deleted_by="intruder",
        schema_version=42,
    )
    paths = [
        "id",
        "tenant_id",
        "app_id",
        "version",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "is_deleted",
        "deleted_at",
        "deleted_by",
        "schema_version",
        "name",
    ]

    updated = update(stub, auth, changes, paths)

    assert updated.name == "Server paths"
    assert content_of(updated) == _expected(created, name="Server paths")
    assert updated.id == created.id
    assert updated.tenant_id == tenant
    assert not updated.HasField("app_id")
    assert updated.created_at == created.created_at
    assert updated.created_by == "person-1"
    assert updated.updated_by == "person-1"
    assert stamp(updated.updated_at) > stamp(created.updated_at)
    assert not updated.is_deleted and not updated.HasField("deleted_at")
    assert updated.deleted_by == ""
    assert updated.schema_version == created.schema_version
    assert updated.version == created.version + 1
    row = stored_row(db, tenant, created.id)
    assert row is not None
    assert row["tenant_id"] == tenant and row["app_id"] is None
    assert row["is_deleted"] is False and row["deleted_at"] is None
    assert row["created_by"] == "person-1"
    assert stored_row(db, "someone-else", created.id) is None


def test_server_field_values_sent_without_a_mask_are_ignored(stub, auth, tenant, db):
    created = create(stub, auth)
    changes = cohort_pb2.Cohort(
        id=created.id,
        name="No mask",
        tenant_id="someone-else",
        app_id="some-app",
        created_by="intruder",
        created_at=ts(0),
        is_deleted=True,
        deleted_by="intruder",
        schema_version=42,
    )

    updated = update(stub, auth, changes, None)

    assert content_of(updated) == _expected(created, name="No mask")
    assert updated.tenant_id == tenant
    assert not updated.HasField("app_id")
    assert updated.created_by == "person-1"
    assert updated.created_at == created.created_at
    assert not updated.is_deleted and updated.deleted_by == ""
    assert updated.schema_version == created.schema_version
    row = stored_row(db, tenant, created.id)
    assert row is not None
    assert row["is_deleted"] is False and row["app_id"] is None


# --- bookkeeping and versions -------------------------------------------------------------


def test_an_update_bumps_version_and_updated_at_and_records_the_writer(
    stub, auth, auth_for, tenant
):
    created = create(stub, auth)
    assert created.version == 1
    other_writer = auth_for(tenant, sub="person-2")

    first = update(stub, other_writer, cohort_pb2.Cohort(id=created.id, name="One"), ["name"])
    second = update(stub, auth, cohort_pb2.Cohort(id=created.id, name="Two"), ["name"])

    assert first.version == 2 and second.version == 3
    assert first.updated_by == "person-2"
    assert second.updated_by == "person-1"
    assert stamp(created.updated_at) < stamp(first.updated_at) < stamp(second.updated_at)
    for written in (first, second):
        assert written.created_at == created.created_at
        assert written.created_by == "person-1"
    assert get(stub, auth, created.id) == second


def test_an_update_by_another_person_keeps_created_by(stub, auth, auth_for, tenant, db):
    created = create(stub, auth)

    updated = update(
        stub, auth_for(tenant, sub="person-2"), cohort_pb2.Cohort(id=created.id, tags=["x"])
    )

    row = stored_row(db, tenant, created.id)
    assert row is not None
    assert (row["created_by"], row["updated_by"], row["version"]) == ("person-1", "person-2", 2)
    assert updated.created_by == "person-1" and updated.updated_by == "person-2"


def test_an_update_with_a_stale_version_is_aborted_naming_the_current_one(stub, auth, tenant, db):
    created = create(stub, auth)
    update(stub, auth, cohort_pb2.Cohort(id=created.id, name="v2"), ["name"])
    update(stub, auth, cohort_pb2.Cohort(id=created.id, name="v3"), ["name"])
    before = stored_row(db, tenant, created.id)

    error = rpc_error(
        stub.UpdateCohort,
        update_request(cohort_pb2.Cohort(id=created.id, name="stale", version=1), ["name"]),
        auth,
    )

    assert error.code() == grpc.StatusCode.ABORTED
    info = info_of(error)
    assert info.domain == ERROR_DOMAIN
    assert re.fullmatch(r"[A-Z][A-Z0-9_]*", info.reason)
    assert info.metadata["current_version"] == "3"
    assert re.search(r"\b3\b", error.details())
    assert stored_row(db, tenant, created.id) == before
    assert get(stub, auth, created.id).name == "v3"


def test_an_update_with_a_version_ahead_of_the_stored_one_is_aborted(stub, auth, tenant, db):
    created = create(stub, auth)
    before = stored_row(db, tenant, created.id)

    error = rpc_error(
        stub.UpdateCohort,
        update_request(cohort_pb2.Cohort(id=created.id, name="future", version=7), ["name"]),
        auth,
    )

    assert error.code() == grpc.StatusCode.ABORTED
    assert info_of(error).metadata["current_version"] == "1"
    assert stored_row(db, tenant, created.id) == before


def test_an_update_with_the_current_version_succeeds(stub, auth):
    created = create(stub, auth)
    second = update(stub, auth, cohort_pb2.Cohort(id=created.id, name="v2", version=1), ["name"])

    third = update(
        stub, auth, cohort_pb2.Cohort(id=created.id, name="v3", version=second.version), ["name"]
    )

    assert (second.version, third.version) == (2, 3)
    assert third.name == "v3"


def test_a_version_in_the_mask_is_not_a_field_to_replace(stub, auth):
    created = create(stub, auth)

    updated = update(
        stub, auth, cohort_pb2.Cohort(id=created.id, name="v", version=1), ["name", "version"]
    )

    assert updated.version == 2


# --- failures that write nothing ----------------------------------------------------------


def test_updating_a_deleted_cohort_is_failed_precondition_and_writes_nothing(
    stub, auth, tenant, db
):
    created = create(stub, auth)
    stub.DeleteCohort(cohort_service_pb2.DeleteCohortRequest(id=created.id), metadata=auth)
    before = stored_row(db, tenant, created.id)

    error = rpc_error(
        stub.UpdateCohort,
        update_request(cohort_pb2.Cohort(id=created.id, name="zombie"), ["name"]),
        auth,
    )

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert info_of(error).domain == ERROR_DOMAIN
    assert stored_row(db, tenant, created.id) == before


def test_an_update_with_invalid_values_reports_each_and_writes_nothing(stub, auth, tenant, db):
    created = create(stub, auth)
    before = stored_row(db, tenant, created.id)
    bad = cohort_pb2.Cohort(
        id=created.id,
        name="Fine",
        group_id="not-a-group",
        session_count=-1,
        completion_required_pct=101.0,
        assigned_assessment_ids=["asm-nope"],
    )

    error = rpc_error(stub.UpdateCohort, update_request(bad, None), auth)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = violated_fields(error)
    for field in (
        "cohort.group_id",
        "cohort.session_count",
        "cohort.completion_required_pct",
    ):
        assert field in fields
    assert any(field.startswith("cohort.assigned_assessment_ids") for field in fields)
    assert stored_row(db, tenant, created.id) == before


def test_an_end_date_before_the_stored_start_date_is_invalid_argument(stub, auth, tenant, db):
    created = create(stub, auth, full_cohort(start_date=ts(1_800_000_000), end_date=None))
    before = stored_row(db, tenant, created.id)

    error = rpc_error(
        stub.UpdateCohort,
        update_request(cohort_pb2.Cohort(id=created.id, end_date=ts(1_700_000_000)), ["end_date"]),
        auth,
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cohort.end_date" in violated_fields(error)
    assert stored_row(db, tenant, created.id) == before


def test_invalid_values_in_fields_the_mask_does_not_name_are_ignored(stub, auth):
    created = create(stub, auth)
    changes = cohort_pb2.Cohort(id=created.id, name="Good", group_id="bad", session_count=-5)

    updated = update(stub, auth, changes, ["name"])

    assert content_of(updated) == _expected(created, name="Good")


@pytest.mark.parametrize(
    "cohort_id",
    ["", "coh_", "nope", "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1"],
)
def test_a_malformed_id_is_invalid_argument(stub, auth, cohort_id):
    error = rpc_error(
        stub.UpdateCohort,
        update_request(cohort_pb2.Cohort(id=cohort_id, name="x"), ["name"]),
        auth,
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == ["cohort.id"]


def test_an_unknown_id_is_not_found(stub, auth):
    error = rpc_error(
        stub.UpdateCohort,
        update_request(cohort_pb2.Cohort(id="coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R", name="x"), ["name"]),
        auth,
    )

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R" in error.details()
    assert info_of(error).domain == ERROR_DOMAIN
