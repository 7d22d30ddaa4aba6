"""DeleteCohort and UndeleteCohort: soft delete (AIP-164) with optimistic versions."""

from __future__ import annotations

import re

import grpc
import pytest
from learning.v1 import cohort_service_pb2

from tests.integration._support import (
    ERROR_DOMAIN,
    content_of,
    create,
    get,
    rows_with_id,
    rpc_error,
    stamp,
    stored_row,
)
from tests.integration._support import (
    error_info as info_of,
)

UNKNOWN_ID = "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R"


def _delete(stub, metadata, cohort_id, version=0):
    return stub.DeleteCohort(
        cohort_service_pb2.DeleteCohortRequest(id=cohort_id, version=version), metadata=metadata
    )


def _undelete(stub, metadata, cohort_id):
    return stub.UndeleteCohort(
        cohort_service_pb2.UndeleteCohortRequest(id=cohort_id), metadata=metadata
    )


# --- delete -------------------------------------------------------------------------------


def test_delete_marks_the_cohort_deleted_by_the_caller_and_bumps_its_version(
    stub, auth, auth_for, tenant
):
    created = create(stub, auth)

    deleted = _delete(stub, auth_for(tenant, sub="person-2"), created.id)

    assert deleted.is_deleted
    assert deleted.HasField("deleted_at")
    assert deleted.deleted_by == "person-2"
    assert deleted.version == created.version + 1
    assert deleted.updated_by == "person-2"
    assert stamp(deleted.updated_at) > stamp(created.updated_at)
    assert stamp(deleted.deleted_at) >= stamp(created.updated_at)
    assert deleted.created_by == created.created_by
    assert deleted.created_at == created.created_at
    assert content_of(deleted) == content_of(created)


def test_a_deleted_cohort_stays_in_the_database_and_is_still_readable(stub, auth, tenant, db):
    created = create(stub, auth)

    deleted = _delete(stub, auth, created.id)

    rows = rows_with_id(db, created.id)
    assert len(rows) == 1
    row = rows[0]
    assert row["tenant_id"] == tenant
    assert row["is_deleted"] is True
    assert row["deleted_at"] is not None
    assert row["deleted_by"] == "person-1"
    assert row["version"] == 2
    assert row["name"] == created.name
    assert get(stub, auth, created.id) == deleted


def test_a_deleted_cohort_leaves_the_default_list_but_shows_with_show_deleted(stub, auth):
    kept = create(stub, auth)
    gone = create(stub, auth)
    _delete(stub, auth, gone.id)

    default = stub.ListCohorts(cohort_service_pb2.ListCohortsRequest(), metadata=auth)
    everything = stub.ListCohorts(
        cohort_service_pb2.ListCohortsRequest(show_deleted=True), metadata=auth
    )

    assert [c.id for c in default.cohorts] == [kept.id]
    assert {c.id for c in everything.cohorts} == {kept.id, gone.id}


def test_delete_with_a_stale_version_is_aborted_and_deletes_nothing(stub, auth, tenant, db):
    created = create(stub, auth)
    stub.UpdateCohort(
        cohort_service_pb2.UpdateCohortRequest(cohort={"id": created.id, "name": "v2"}),
        metadata=auth,
    )
    before = stored_row(db, tenant, created.id)

    error = rpc_error(
        stub.DeleteCohort, cohort_service_pb2.DeleteCohortRequest(id=created.id, version=1), auth
    )

    assert error.code() == grpc.StatusCode.ABORTED
    info = info_of(error)
    assert info.domain == ERROR_DOMAIN
    assert info.metadata["current_version"] == "2"
    assert re.search(r"\b2\b", error.details())
    assert stored_row(db, tenant, created.id) == before
    assert not get(stub, auth, created.id).is_deleted


def test_delete_with_the_current_version_succeeds(stub, auth):
    created = create(stub, auth)

    deleted = _delete(stub, auth, created.id, version=created.version)

    assert deleted.is_deleted
    assert deleted.version == created.version + 1


def test_deleting_a_deleted_cohort_is_not_found_and_changes_nothing(stub, auth, tenant, db):
    created = create(stub, auth)
    _delete(stub, auth, created.id)
    before = stored_row(db, tenant, created.id)

    error = rpc_error(
        stub.DeleteCohort, cohort_service_pb2.DeleteCohortRequest(id=created.id), auth
    )

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert info_of(error).domain == ERROR_DOMAIN
    assert stored_row(db, tenant, created.id) == before


def test_deleting_an_unknown_cohort_is_not_found(stub, auth):
    error = rpc_error(
        stub.DeleteCohort, cohort_service_pb2.DeleteCohortRequest(id=UNKNOWN_ID), auth
    )

    assert error.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("cohort_id", ["", "coh_", "coh_' OR 1=1 --", "grp-123"])
def test_deleting_with_a_malformed_id_is_invalid_argument(stub, auth, cohort_id):
    error = rpc_error(stub.DeleteCohort, cohort_service_pb2.DeleteCohortRequest(id=cohort_id), auth)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


# --- undelete -----------------------------------------------------------------------------


def test_undelete_clears_the_deletion_and_bumps_the_version(stub, auth, auth_for, tenant, db):
    created = create(stub, auth)
    deleted = _delete(stub, auth, created.id)

    restored = _undelete(stub, auth_for(tenant, sub="person-2"), created.id)

    assert not restored.is_deleted
    assert not restored.HasField("deleted_at")
    assert restored.deleted_by == ""
    assert restored.version == deleted.version + 1 == 3
    assert restored.updated_by == "person-2"
    assert stamp(restored.updated_at) > stamp(deleted.updated_at)
    assert content_of(restored) == content_of(created)
    row = stored_row(db, tenant, created.id)
    assert row is not None
    assert (row["is_deleted"], row["deleted_at"], row["deleted_by"]) == (False, None, "")
    assert get(stub, auth, created.id) == restored


def test_an_undeleted_cohort_returns_to_the_default_list_and_can_be_updated(stub, auth):
    created = create(stub, auth)
    _delete(stub, auth, created.id)
    _undelete(stub, auth, created.id)

    listed = stub.ListCohorts(cohort_service_pb2.ListCohortsRequest(), metadata=auth)
    updated = stub.UpdateCohort(
        cohort_service_pb2.UpdateCohortRequest(cohort={"id": created.id, "name": "Back"}),
        metadata=auth,
    )

    assert [c.id for c in listed.cohorts] == [created.id]
    assert updated.name == "Back" and updated.version == 4


def test_undeleting_a_live_cohort_is_already_exists_and_changes_nothing(stub, auth, tenant, db):
    created = create(stub, auth)
    before = stored_row(db, tenant, created.id)

    error = rpc_error(
        stub.UndeleteCohort, cohort_service_pb2.UndeleteCohortRequest(id=created.id), auth
    )

    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert info_of(error).domain == ERROR_DOMAIN
    assert stored_row(db, tenant, created.id) == before


def test_undeleting_an_unknown_cohort_is_not_found(stub, auth):
    error = rpc_error(
        stub.UndeleteCohort, cohort_service_pb2.UndeleteCohortRequest(id=UNKNOWN_ID), auth
    )

    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_undeleting_with_a_malformed_id_is_invalid_argument(stub, auth):
    error = rpc_error(
        stub.UndeleteCohort, cohort_service_pb2.UndeleteCohortRequest(id="coh_nope"), auth
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_delete_and_undelete_can_alternate_and_every_step_bumps_the_version(stub, auth):
    created = create(stub, auth)

    versions = [created.version]
    for _ in range(2):
        versions.append(_delete(stub, auth, created.id, version=versions[-1]).version)
        versions.append(_undelete(stub, auth, created.id).version)

    assert versions == [1, 2, 3, 4, 5]
    assert not get(stub, auth, created.id).is_deleted
