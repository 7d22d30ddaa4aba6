"""Tenant and app isolation: a cohort outside the caller's scope does not exist for it."""

from __future__ import annotations

import uuid

import grpc
import pytest
from learning.v1 import cohort_pb2, cohort_service_pb2

from tests.integration._support import (
    create,
    full_cohort,
    get,
    list_all,
    rpc_error,
    stored_row,
    update_request,
)
from tests.integration._support import (
    error_info as info_of,
)

MISSING_ID = "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R"


def _new_tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


# Each operation as (stub method name, request for a cohort id).
OPERATIONS = {
    "get": ("GetCohort", lambda i: cohort_service_pb2.GetCohortRequest(id=i)),
    "update": (
        "UpdateCohort",
        lambda i: update_request(cohort_pb2.Cohort(id=i, name="hijacked"), ["name"]),
    ),
    "update with a version": (
        "UpdateCohort",
        lambda i: update_request(cohort_pb2.Cohort(id=i, name="hijacked", version=9), ["name"]),
    ),
    "delete": ("DeleteCohort", lambda i: cohort_service_pb2.DeleteCohortRequest(id=i)),
    "delete with a version": (
        "DeleteCohort",
        lambda i: cohort_service_pb2.DeleteCohortRequest(id=i, version=9),
    ),
    "undelete": ("UndeleteCohort", lambda i: cohort_service_pb2.UndeleteCohortRequest(id=i)),
}


def _assert_same_not_found(stub, metadata, method, make_request, hidden_id):
    """The call on hidden_id fails exactly like the call on an id that does not exist."""
    call = getattr(stub, method)
    hidden = rpc_error(call, make_request(hidden_id), metadata)
    missing = rpc_error(call, make_request(MISSING_ID), metadata)

    assert hidden.code() == missing.code() == grpc.StatusCode.NOT_FOUND
    assert hidden.details().replace(hidden_id, "<id>") == missing.details().replace(
        MISSING_ID, "<id>"
    )
    hidden_info, missing_info = info_of(hidden), info_of(missing)
    assert (hidden_info.reason, hidden_info.domain) == (missing_info.reason, missing_info.domain)
    assert {k: v.replace(hidden_id, "<id>") for k, v in hidden_info.metadata.items()} == {
        k: v.replace(MISSING_ID, "<id>") for k, v in missing_info.metadata.items()
    }


# --- tenants ------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("deleted", [False, True], ids=["live", "deleted"])
def test_another_tenant_gets_not_found_exactly_as_for_a_missing_id_and_changes_nothing(
    stub, auth, auth_for, tenant, db, operation, deleted
):
    created = create(stub, auth)
    if deleted:
        stub.DeleteCohort(cohort_service_pb2.DeleteCohortRequest(id=created.id), metadata=auth)
    before = stored_row(db, tenant, created.id)
    intruder = auth_for(_new_tenant(), sub="person-1")
    method, make_request = OPERATIONS[operation]

    _assert_same_not_found(stub, intruder, method, make_request, created.id)

    assert stored_row(db, tenant, created.id) == before


def test_another_tenant_does_not_list_the_cohort(stub, auth, auth_for):
    mine = create(stub, auth)
    other = auth_for(_new_tenant())
    theirs = create(stub, other)

    assert list_all(stub, other) == [theirs.id]
    assert list_all(stub, auth) == [mine.id]


def test_another_tenant_with_the_same_sub_and_app_still_sees_nothing(stub, auth_for):
    tenant_a, tenant_b = _new_tenant(), _new_tenant()
    owner = auth_for(tenant_a, sub="shared-sub", app="shared-app")
    intruder = auth_for(tenant_b, sub="shared-sub", app="shared-app")
    created = create(stub, owner)

    _assert_same_not_found(stub, intruder, *OPERATIONS["get"], created.id)
    assert list_all(stub, intruder) == []


def test_a_tenant_id_claimed_in_the_request_body_is_ignored(stub, auth, auth_for, tenant, db):
    victim = _new_tenant()

    created = create(stub, auth, full_cohort(tenant_id=victim, app_id="evil-app"))

    assert created.tenant_id == tenant
    assert not created.HasField("app_id")
    row = stored_row(db, tenant, created.id)
    assert row is not None
    assert row["tenant_id"] == tenant and row["app_id"] is None
    assert stored_row(db, victim, created.id) is None
    assert list_all(stub, auth_for(victim)) == []


def test_an_app_id_claimed_in_the_request_body_is_replaced_by_the_tokens(
    stub, auth_for, tenant, db
):
    app_token = auth_for(tenant, sub="bot", app="app-1")

    created = create(stub, app_token, full_cohort(tenant_id="elsewhere", app_id="app-2"))

    assert (created.tenant_id, created.app_id) == (tenant, "app-1")
    row = stored_row(db, tenant, created.id)
    assert row is not None
    assert (row["tenant_id"], row["app_id"]) == (tenant, "app-1")
    assert get(stub, app_token, created.id).app_id == "app-1"


def test_a_request_id_reused_by_another_tenant_creates_that_tenants_own_cohort(
    stub, auth, auth_for, tenant, db
):
    request_id = str(uuid.uuid4())
    first = create(stub, auth, full_cohort(name="Tenant A"), request_id=request_id)
    other_tenant = _new_tenant()

    second = create(
        stub, auth_for(other_tenant), full_cohort(name="Tenant B"), request_id=request_id
    )

    assert second.id != first.id
    assert second.tenant_id == other_tenant and second.name == "Tenant B"
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT tenant_id, id FROM cohorts WHERE request_id = %s ORDER BY tenant_id",
            (request_id,),
        )
        assert sorted(cursor.fetchall()) == sorted([(tenant, first.id), (other_tenant, second.id)])
    # Each tenant's retry still returns its own cohort.
    assert create(stub, auth, full_cohort(name="retry"), request_id=request_id).id == first.id
    again = create(stub, auth_for(other_tenant), full_cohort(name="retry"), request_id=request_id)
    assert again.id == second.id


# --- applications -------------------------------------------------------------------------


@pytest.fixture
def app_world(stub, auth, auth_for, tenant):
    """One tenant with a person's cohort and one cohort each from two apps."""
    app1 = auth_for(tenant, sub="bot-1", app="app-1")
    app2 = auth_for(tenant, sub="bot-2", app="app-2")
    return {
        "person": auth,
        "app1": app1,
        "app2": app2,
        "person_cohort": create(stub, auth, full_cohort(name="by a person")),
        "app1_cohort": create(stub, app1, full_cohort(name="by app 1")),
        "app2_cohort": create(stub, app2, full_cohort(name="by app 2")),
    }


def test_an_app_token_stamps_its_app_on_the_cohorts_it_creates(app_world):
    assert app_world["app1_cohort"].app_id == "app-1"
    assert app_world["app2_cohort"].app_id == "app-2"
    assert not app_world["person_cohort"].HasField("app_id")


def test_an_app_token_reads_its_own_apps_cohort(stub, app_world):
    own = app_world["app1_cohort"]

    assert get(stub, app_world["app1"], own.id) == own


@pytest.mark.parametrize("hidden", ["app2_cohort", "person_cohort"])
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_an_app_token_cannot_touch_cohorts_of_another_app_or_of_a_person(
    stub, app_world, tenant, db, hidden, operation
):
    hidden_id = app_world[hidden].id
    if operation == "undelete":
        stub.DeleteCohort(
            cohort_service_pb2.DeleteCohortRequest(id=hidden_id), metadata=app_world["person"]
        )
    before = stored_row(db, tenant, hidden_id)
    method, make_request = OPERATIONS[operation]

    _assert_same_not_found(stub, app_world["app1"], method, make_request, hidden_id)

    assert stored_row(db, tenant, hidden_id) == before


def test_an_app_token_lists_only_its_own_apps_cohorts(stub, app_world):
    assert list_all(stub, app_world["app1"]) == [app_world["app1_cohort"].id]
    assert list_all(stub, app_world["app2"]) == [app_world["app2_cohort"].id]


def test_a_person_token_of_the_tenant_sees_every_cohort_of_the_tenant(stub, app_world):
    person = app_world["person"]
    cohorts = [app_world[k] for k in ("person_cohort", "app1_cohort", "app2_cohort")]

    for cohort in cohorts:
        assert get(stub, person, cohort.id) == cohort
    assert sorted(list_all(stub, person)) == sorted(c.id for c in cohorts)


def test_a_person_token_can_update_an_apps_cohort_without_changing_its_app(stub, app_world):
    person = app_world["person"]
    target = app_world["app1_cohort"]

    updated = stub.UpdateCohort(
        update_request(cohort_pb2.Cohort(id=target.id, name="edited", app_id="other")),
        metadata=person,
    )

    assert updated.name == "edited" and updated.app_id == "app-1"
    assert get(stub, app_world["app1"], target.id).name == "edited"


def test_an_app_token_of_another_tenant_sees_nothing_of_a_same_named_app(stub, app_world, auth_for):
    outsider = auth_for(_new_tenant(), sub="bot-1", app="app-1")

    assert list_all(stub, outsider) == []
    _assert_same_not_found(stub, outsider, *OPERATIONS["get"], app_world["app1_cohort"].id)


def test_an_app_reusing_another_apps_request_id_does_not_get_that_apps_cohort(
    stub, app_world, tenant, db
):
    request_id = str(uuid.uuid4())
    original = create(stub, app_world["app2"], full_cohort(name="app 2"), request_id=request_id)

    error = rpc_error(
        stub.CreateCohort,
        cohort_service_pb2.CreateCohortRequest(
            cohort=full_cohort(name="app 1"), request_id=request_id
        ),
        app_world["app1"],
    )

    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert original.id not in error.details()
    assert original.name not in error.details()
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM cohorts WHERE tenant_id = %s AND request_id = %s",
            (tenant, request_id),
        )
        assert cursor.fetchone() == (1,)
