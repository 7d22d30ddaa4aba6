"""CreateCohort and GetCohort end to end: round trips, defaults, server fields, idempotency."""

from __future__ import annotations

import re
import time
import uuid

import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from learning.v1 import cohort_pb2, cohort_service_pb2
from ulid import ULID

from tests.integration._assertions import (
    assert_invalid_argument,
    count_rows,
    create,
    error_info,
    rpc_error,
)

COHORT_ID = re.compile(r"coh_[0-7][0-9A-HJKMNP-TV-Z]{25}")

# Every field a client owns, as the wire names them.
CLIENT_FIELDS = (
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
)


def _get(stub, auth, cohort_id: str) -> cohort_pb2.Cohort:
    return stub.GetCohort(cohort_service_pb2.GetCohortRequest(id=cohort_id), metadata=auth)


def _fully_populated() -> cohort_pb2.Cohort:
    metadata = struct_pb2.Struct()
    metadata.update(
        {
            "level": "advanced",
            "credits": 7.5,
            "remote": True,
            "room": None,
            "languages": ["en", "fr", 3, False, None, {"nested": "ok"}],
            "schedule": {"weekday": "tuesday", "slots": [9, 14], "inner": {"deep": "é✓🚀"}},
            "": "empty key",
        }
    )
    return cohort_pb2.Cohort(
        source="hr-sync",
        source_type=cohort_pb2.SOURCE_TYPE_BACKEND,
        group_id=f"grp-{uuid.uuid4()}",
        program_id="prog-data-science-101",
        name="Data Science — Spring 2027 ✓",
        start_date=timestamp_pb2.Timestamp(seconds=1_800_000_000, nanos=123_456_000),
        end_date=timestamp_pb2.Timestamp(seconds=1_810_000_000, nanos=999_999_000),
        status=cohort_pb2.COHORT_STATUS_ACTIVE,
        session_count=24,
        facilitator_ids=["person-ada", "person-grace", "person-ada"],
        assigned_assessment_ids=[f"asm-{uuid.uuid4()}", f"asm-{str(uuid.uuid4()).upper()}"],
        completion_required_pct=80.5,
        current_completion_pct=12.345678901234,
        metadata=metadata,
        tags=["data", "spring", "évening", "data"],
    )


PRESENCE_FIELDS = (
    "start_date",
    "end_date",
    "session_count",
    "completion_required_pct",
    "current_completion_pct",
    "metadata",
)


def _assert_client_fields_equal(actual: cohort_pb2.Cohort, expected: cohort_pb2.Cohort) -> None:
    for field in CLIENT_FIELDS:
        assert getattr(actual, field) == getattr(expected, field), field
    for field in PRESENCE_FIELDS:
        assert actual.HasField(field) == expected.HasField(field), field


def test_every_client_field_round_trips_through_create_then_get(stub, auth):
    sent = _fully_populated()

    created = stub.CreateCohort(cohort_service_pb2.CreateCohortRequest(cohort=sent), metadata=auth)
    fetched = _get(stub, auth, created.id)

    _assert_client_fields_equal(created, sent)
    _assert_client_fields_equal(fetched, sent)
    assert fetched == created


def test_optional_scalars_set_to_zero_stay_present_and_zero(stub, auth, db, tenant):
    created = create(
        stub, auth, session_count=0, completion_required_pct=0.0, current_completion_pct=0.0
    )
    fetched = _get(stub, auth, created.id)

    for cohort in (created, fetched):
        assert cohort.HasField("session_count") and cohort.session_count == 0
        assert cohort.HasField("completion_required_pct") and cohort.completion_required_pct == 0
        assert cohort.HasField("current_completion_pct") and cohort.current_completion_pct == 0
    stored = db.execute(
        "SELECT session_count, completion_required_pct, current_completion_pct "
        "FROM cohorts WHERE tenant_id = %s AND id = %s",
        (tenant, created.id),
    ).fetchone()
    assert stored == (0, 0.0, 0.0)


def test_unset_optional_fields_stay_absent_through_create_then_get(stub, auth, db, tenant):
    created = create(stub, auth, name="Bare")
    fetched = _get(stub, auth, created.id)

    for cohort in (created, fetched):
        for field in (
            "session_count",
            "completion_required_pct",
            "current_completion_pct",
            "start_date",
            "end_date",
            "deleted_at",
            "app_id",
        ):
            assert not cohort.HasField(field), field
        assert list(cohort.facilitator_ids) == []
        assert list(cohort.assigned_assessment_ids) == []
        assert list(cohort.tags) == []
        assert dict(cohort.metadata) == {}
        assert cohort.group_id == "" and cohort.program_id == ""
    stored = db.execute(
        "SELECT session_count, completion_required_pct, current_completion_pct, "
        "start_date, end_date FROM cohorts WHERE tenant_id = %s AND id = %s",
        (tenant, created.id),
    ).fetchone()
    assert stored == (None, None, None, None, None)


def test_timestamps_keep_microseconds_and_truncate_finer_nanos(stub, auth):
    created = create(
        stub,
        auth,
        start_date=timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=123_456_789),
        end_date=timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=123_457_001),
    )
    fetched = _get(stub, auth, created.id)

    for cohort in (created, fetched):
        assert cohort.start_date == timestamp_pb2.Timestamp(
            seconds=1_700_000_000, nanos=123_456_000
        )
        assert cohort.end_date == timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=123_457_000)


def test_create_applies_defaults_for_source_source_type_and_status(stub, auth, db, tenant):
    created = create(stub, auth, name="Defaults")
    fetched = _get(stub, auth, created.id)

    for cohort in (created, fetched):
        assert cohort.source == "edm"
        assert cohort.source_type == cohort_pb2.SOURCE_TYPE_API
        assert cohort.status == cohort_pb2.COHORT_STATUS_DRAFT
    stored = db.execute(
        "SELECT source FROM cohorts WHERE tenant_id = %s AND id = %s", (tenant, created.id)
    ).fetchone()
    assert stored == ("edm",)


def test_create_stamps_every_server_field_for_a_person_token(stub, auth_for, tenant):
    before = time.time()
    created = create(stub, auth_for(tenant, sub="alice@example.org"), name="Stamped")
    after = time.time()

    assert COHORT_ID.fullmatch(created.id), created.id
    assert len(created.id) == len("coh_") + 26
    ulid = ULID.from_str(created.id.removeprefix("coh_"))
    assert before - 5 <= ulid.timestamp <= after + 5
    assert created.tenant_id == tenant
    assert not created.HasField("app_id")
    assert created.created_by == "alice@example.org"
    assert created.updated_by == "alice@example.org"
    assert created.version == 1
    assert created.schema_version == 1
    assert created.HasField("created_at") and created.HasField("updated_at")
    assert created.created_at == created.updated_at
    assert before - 5 <= created.created_at.ToMicroseconds() / 1e6 <= after + 5
    assert created.is_deleted is False
    assert not created.HasField("deleted_at")
    assert created.deleted_by == ""
    assert _get(stub, auth_for(tenant, sub="bob"), created.id) == created


def test_create_with_an_app_token_stamps_the_app_id(stub, auth_for, tenant, db):
    created = create(stub, auth_for(tenant, sub="svc-sync", app="app-hr-sync"), name="By app")

    assert created.HasField("app_id") and created.app_id == "app-hr-sync"
    assert created.created_by == "svc-sync"
    fetched = _get(stub, auth_for(tenant, sub="svc-sync", app="app-hr-sync"), created.id)
    assert fetched == created
    stored = db.execute(
        "SELECT app_id, created_by FROM cohorts WHERE tenant_id = %s AND id = %s",
        (tenant, created.id),
    ).fetchone()
    assert stored == ("app-hr-sync", "svc-sync")


def test_create_ignores_values_the_client_sends_for_server_fields(stub, auth_for, tenant, db):
    forged_id = f"coh_{ULID()}"
    sent = cohort_pb2.Cohort(
        id=forged_id,
        tenant_id="someone-elses-tenant",
        app_id="forged-app",
        created_at=timestamp_pb2.Timestamp(seconds=946_684_800),
        updated_at=timestamp_pb2.Timestamp(seconds=946_684_800),
        created_by="mallory",
        updated_by="mallory",
        is_deleted=True,
        deleted_at=timestamp_pb2.Timestamp(seconds=946_684_800),
        deleted_by="mallory",
        schema_version=99,
        version=42,
        name="Forged",
    )

    created = stub.CreateCohort(
        cohort_service_pb2.CreateCohortRequest(cohort=sent), metadata=auth_for(tenant, sub="carol")
    )

    assert created.id != forged_id and COHORT_ID.fullmatch(created.id)
    assert created.tenant_id == tenant
    assert not created.HasField("app_id")
    assert created.created_at.seconds > 946_684_800
    assert created.updated_at == created.created_at
    assert created.created_by == created.updated_by == "carol"
    assert created.is_deleted is False
    assert not created.HasField("deleted_at")
    assert created.deleted_by == ""
    assert created.schema_version == 1
    assert created.version == 1
    assert _get(stub, auth_for(tenant), created.id) == created
    rows = db.execute(
        "SELECT tenant_id, id FROM cohorts WHERE id = %s OR tenant_id = %s",
        (forged_id, "someone-elses-tenant"),
    ).fetchall()
    assert rows == []


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("  Spring 2027  ", "Spring 2027"),
        ("\t\nAutumn\r\n ", "Autumn"),
        ("Two  inner  spaces", "Two  inner  spaces"),
        (" " * 10 + "x" * 200 + " " * 10, "x" * 200),
    ],
    ids=["spaces", "tabs-and-newlines", "inner-white-space-kept", "200-chars-after-trim"],
)
def test_create_trims_white_space_around_the_name(stub, auth, sent, stored):
    created = create(stub, auth, name=sent)

    assert created.name == stored
    assert _get(stub, auth, created.id).name == stored


def test_create_with_the_same_request_id_returns_the_same_cohort_and_stores_one_row(
    stub, auth, db, tenant
):
    request_id = str(uuid.uuid4())

    first = create(stub, auth, request_id=request_id, name="Once")
    retry = create(stub, auth, request_id=request_id, name="Once")
    different_body = create(stub, auth, request_id=request_id, name="Something else")

    assert retry == first
    assert different_body == first
    assert count_rows(db, tenant) == 1
    rows = db.execute(
        "SELECT id, request_id::text FROM cohorts WHERE tenant_id = %s", (tenant,)
    ).fetchall()
    assert rows == [(first.id, request_id)]


def test_create_with_different_request_ids_creates_different_cohorts(stub, auth, db, tenant):
    first = create(stub, auth, request_id=str(uuid.uuid4()))
    second = create(stub, auth, request_id=str(uuid.uuid4()))
    third = create(stub, auth)
    fourth = create(stub, auth)

    assert len({first.id, second.id, third.id, fourth.id}) == 4
    assert count_rows(db, tenant) == 4


def test_the_same_request_id_in_another_tenant_creates_its_own_cohort(stub, auth_for, db):
    request_id = str(uuid.uuid4())
    tenant_a, tenant_b = f"tenant-{uuid.uuid4().hex[:12]}", f"tenant-{uuid.uuid4().hex[:12]}"

    in_a = create(stub, auth_for(tenant_a), request_id=request_id, name="A")
    in_b = create(stub, auth_for(tenant_b), request_id=request_id, name="B")

    assert in_a.id != in_b.id
    assert (in_a.tenant_id, in_a.name) == (tenant_a, "A")
    assert (in_b.tenant_id, in_b.name) == (tenant_b, "B")
    assert count_rows(db, tenant_a) == 1 and count_rows(db, tenant_b) == 1


@pytest.mark.parametrize(
    "request_id",
    [
        "not-a-uuid",
        "12345",
        str(uuid.uuid4())[:-1],
        str(uuid.uuid4()) + "0",
        "{" + str(uuid.uuid4()) + "}",
        " " + str(uuid.uuid4()),
        str(uuid.uuid4()).replace("-", "") + "zzzz",
        str(uuid.uuid4())[:-1] + "\x00",
    ],
)
def test_create_with_a_request_id_that_is_not_a_uuid_is_invalid_and_writes_nothing(
    stub, auth, db, tenant, request_id
):
    error = rpc_error(lambda: create(stub, auth, request_id=request_id, name="Valid"))

    assert_invalid_argument(error, "request_id")
    assert count_rows(db, tenant) == 0


def test_get_returns_a_soft_deleted_cohort_marked_deleted(stub, auth_for, tenant):
    created = create(stub, auth_for(tenant, sub="creator"), name="Doomed")
    stub.DeleteCohort(
        cohort_service_pb2.DeleteCohortRequest(id=created.id),
        metadata=auth_for(tenant, sub="deleter"),
    )

    fetched = _get(stub, auth_for(tenant), created.id)

    assert fetched.id == created.id
    assert fetched.is_deleted is True
    assert fetched.HasField("deleted_at")
    assert fetched.deleted_by == "deleter"
    assert fetched.name == "Doomed"


@pytest.mark.parametrize(
    "cohort_id",
    [
        "",
        "coh_",
        "coh_123",
        "01JD8X3G7Q9Z3M2V4C6B8N0P1R",
        "cohort_01JD8X3G7Q9Z3M2V4C6B8N0P1R",
        "COH_01JD8X3G7Q9Z3M2V4C6B8N0P1R",
        "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1RX",
        "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1",
        "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1I",
        "coh_81JD8X3G7Q9Z3M2V4C6B8N0P1R",
        "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1\x00",
        " coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R",
        "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R\n",
        "coh_' OR '1'='1",
        "x" * 5000,
    ],
    ids=lambda value: repr(value)[:40],
)
def test_get_with_a_malformed_id_is_invalid_argument(stub, auth, cohort_id):
    error = rpc_error(lambda: _get(stub, auth, cohort_id))

    assert_invalid_argument(error, "id")


def test_get_with_a_well_formed_unknown_id_is_not_found(stub, auth):
    unknown = f"coh_{ULID()}"

    error = rpc_error(lambda: _get(stub, auth, unknown))

    assert error.code() == grpc.StatusCode.NOT_FOUND
    error_info(error)
