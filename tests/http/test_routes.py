"""Every HTTP/JSON route of the contract, through a real Envoy to the real service.

Each test calls the gateway with a real HTTP client and, where it matters, checks the
result against the same cohort read over gRPC: the HTTP face is the gRPC API in JSON,
not a second implementation.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from google.protobuf import json_format
from learning.v1 import cohort_service_pb2

from tests.fixtures.gateway import HttpApi
from tests.fixtures.server import bearer
from tests.http._json import assert_error, assert_json_success

# Every client-settable field, in proto3 JSON (lowerCamelCase names, enums by name,
# RFC 3339 timestamps, int64 as a string).
FULL_COHORT: dict[str, Any] = {
    "source": "hr-sync",
    "sourceType": "SOURCE_TYPE_BACKEND",
    "groupId": "grp-0c3f2a1e-8a4b-4c1d-9e2f-3a4b5c6d7e8f",
    "programId": "prog-data-science-101",
    "name": "Data Science — Spring 2027 ✓",
    "startDate": "2027-01-15T09:30:00.123456Z",
    "endDate": "2027-06-30T17:00:00Z",
    "status": "COHORT_STATUS_ACTIVE",
    "sessionCount": 24,
    "facilitatorIds": ["person-ada", "person-grace"],
    "assignedAssessmentIds": ["asm-6f1d2c3b-4a5e-4f60-8172-93a4b5c6d7e8"],
    "completionRequiredPct": 80.5,
    "currentCompletionPct": 12.25,
    "metadata": {
        "level": "advanced",
        "credits": 7.5,
        "remote": True,
        "room": None,
        "schedule": {"weekday": "tuesday", "slots": [9, 14], "inner": {"deep": "é✓🚀"}},
    },
    "tags": ["data", "spring", "évening"],
}
SERVER_FIELDS = {"id", "tenantId", "createdAt", "updatedAt", "createdBy", "updatedBy", "version"}


def _grpc_json(stub: Any, token: str, cohort_id: str) -> dict[str, Any]:
    cohort = stub.GetCohort(
        cohort_service_pb2.GetCohortRequest(id=cohort_id), metadata=bearer(token)
    )
    return json_format.MessageToDict(cohort)


def test_every_field_round_trips_as_proto3_json_and_matches_the_grpc_view(
    http: HttpApi, stub: Any, token: str, tenant: str
):
    created = assert_json_success(http.create(token, FULL_COHORT))
    for name, value in FULL_COHORT.items():
        assert created[name] == value, name
    assert SERVER_FIELDS <= created.keys()
    assert created["tenantId"] == tenant
    assert created["version"] == "1"  # int64 as a string
    assert created["createdAt"].endswith("Z")

    fetched = assert_json_success(http.get(token, created["id"]))
    assert fetched == created
    assert fetched == _grpc_json(stub, token, created["id"])


def test_unset_optional_fields_are_absent_and_zero_values_present(http: HttpApi, token: str):
    bare = assert_json_success(http.create(token, {"name": "Bare"}))
    for absent in ("sessionCount", "completionRequiredPct", "startDate", "metadata", "appId"):
        assert absent not in bare, absent
    zeroes = assert_json_success(http.create(token, {"name": "Zeroes", "sessionCount": 0}))
    assert zeroes["sessionCount"] == 0


def test_update_replaces_only_the_fields_in_update_mask(http: HttpApi, token: str):
    created = assert_json_success(http.create(token, FULL_COHORT))
    changes = {"name": "Renamed", "tags": ["only"], "programId": "not-in-the-mask"}
    updated = assert_json_success(
        http.update(token, created["id"], changes, updateMask="name,tags")
    )
    assert updated["name"] == "Renamed" and updated["tags"] == ["only"]
    assert updated["programId"] == FULL_COHORT["programId"]
    assert updated["version"] == "2"
    assert updated["updatedAt"] > created["updatedAt"]


@pytest.mark.parametrize(
    ("parameter", "path"),
    [("updateMask", "sourceType"), ("update_mask", "source_type"), ("updateMask", "source_type")],
)
def test_update_mask_paths_may_be_camel_or_snake_case(
    http: HttpApi, token: str, parameter: str, path: str
):
    created = assert_json_success(http.create(token, {"name": "Masked"}))
    updated = assert_json_success(
        http.update(token, created["id"], {"sourceType": "SOURCE_TYPE_SERVER"}, **{parameter: path})
    )
    assert updated["sourceType"] == "SOURCE_TYPE_SERVER"


def test_a_masked_field_sent_empty_is_cleared(http: HttpApi, token: str):
    created = assert_json_success(http.create(token, FULL_COHORT))
    updated = assert_json_success(
        http.update(token, created["id"], {}, updateMask="sessionCount,tags,source")
    )
    assert "sessionCount" not in updated and "tags" not in updated
    assert updated["source"] == "edm"  # clearing source restores its default


def test_an_unknown_mask_path_is_invalid_and_changes_nothing(http: HttpApi, token: str):
    created = assert_json_success(http.create(token, {"name": "Kept"}))
    response = http.update(token, created["id"], {"name": "Lost"}, updateMask="name,noSuchField")
    assert_error(response, 400, "INVALID_ARGUMENT")
    assert assert_json_success(http.get(token, created["id"])) == created


def test_a_stale_version_is_a_conflict_naming_the_current_version(http: HttpApi, token: str):
    created = assert_json_success(http.create(token, {"name": "Contended"}))
    assert_json_success(
        http.update(token, created["id"], {"name": "First", "version": "1"}, updateMask="name")
    )
    stale = http.update(token, created["id"], {"name": "Second", "version": "1"}, updateMask="name")
    info = assert_error(stale, 409, "VERSION_MISMATCH")
    assert info["metadata"]["current_version"] == "2"
    assert assert_json_success(http.get(token, created["id"]))["name"] == "First"

    stale_delete = http.delete(token, created["id"], version="1")
    assert assert_error(stale_delete, 409, "VERSION_MISMATCH")["metadata"]["current_version"] == "2"
    assert "isDeleted" not in assert_json_success(http.get(token, created["id"]))


def test_create_with_a_request_id_is_idempotent(http: HttpApi, token: str):
    request_id = str(uuid.uuid4())
    first = assert_json_success(http.create(token, {"name": "Once"}, requestId=request_id))
    retry = assert_json_success(http.create(token, {"name": "Once"}, requestId=request_id))
    assert retry == first
    listed = assert_json_success(http.list(token))
    assert [cohort["id"] for cohort in listed["cohorts"]] == [first["id"]]


def test_delete_hides_and_undelete_restores_a_cohort(http: HttpApi, token: str):
    created = assert_json_success(http.create(token, {"name": "Phoenix"}))

    deleted = assert_json_success(http.delete(token, created["id"], version="1"))
    assert deleted["isDeleted"] is True and deleted["deletedBy"] == "person-1"
    assert "deletedAt" in deleted
    assert assert_json_success(http.list(token)).get("cohorts", []) == []
    shown = assert_json_success(http.list(token, "showDeleted=true"))
    assert [cohort["id"] for cohort in shown["cohorts"]] == [created["id"]]
    assert_error(http.delete(token, created["id"]), 404, "COHORT_NOT_FOUND")

    restored = assert_json_success(http.undelete(token, created["id"]))
    assert "isDeleted" not in restored and "deletedAt" not in restored
    assert_error(http.undelete(token, created["id"]), 409, "COHORT_NOT_DELETED")
    assert assert_json_success(http.list(token))["cohorts"][0]["id"] == created["id"]


def test_updating_a_deleted_cohort_is_a_failed_precondition(http: HttpApi, token: str):
    created = assert_json_success(http.create(token, {"name": "Gone"}))
    assert_json_success(http.delete(token, created["id"]))
    response = http.update(token, created["id"], {"name": "Back"}, updateMask="name")
    assert_error(response, 400, "COHORT_DELETED")


@pytest.mark.parametrize(
    "query",
    [
        "filter=status+%3D+COHORT_STATUS_ACTIVE+AND+tags%3A%22x%22&orderBy=session_count+desc",
        "filter=status%20%3D%20COHORT_STATUS_ACTIVE%20AND%20tags%3A%22x%22"
        "&orderBy=session_count%20desc",
    ],
    ids=["plus-is-space", "percent-20"],
)
def test_filter_and_order_by_arrive_as_browsers_encode_them(http: HttpApi, token: str, query: str):
    wanted = []
    for count in (3, 9, 5):
        cohort = {"name": f"n{count}", "status": "COHORT_STATUS_ACTIVE", "sessionCount": count}
        wanted.append(assert_json_success(http.create(token, cohort | {"tags": ["x"]}))["id"])
    assert_json_success(http.create(token, {"name": "draft", "tags": ["x"], "sessionCount": 7}))
    assert_json_success(http.create(token, {"name": "untagged", "status": "COHORT_STATUS_ACTIVE"}))

    listed = assert_json_success(http.list(token, query))
    assert [cohort["sessionCount"] for cohort in listed["cohorts"]] == [9, 5, 3]


def test_an_invalid_filter_is_a_json_400_with_its_reason(http: HttpApi, token: str):
    assert_error(http.list(token, "filter=name+%3D%3D%3D"), 400, "INVALID_FILTER")
    assert_error(http.list(token, "orderBy=colour"), 400, "INVALID_ORDER_BY")
    assert_error(http.list(token, "pageToken=forged"), 400, "INVALID_PAGE_TOKEN")


def test_pages_followed_to_the_end_return_every_cohort_once(http: HttpApi, token: str):
    created = {assert_json_success(http.create(token, {"name": f"c{i}"}))["id"] for i in range(11)}
    seen: list[str] = []
    page_token = ""
    for _ in range(20):
        params = {"pageSize": "3", "pageToken": page_token}
        page = assert_json_success(http.call("GET", token=token, params=params))
        assert len(page.get("cohorts", [])) <= 3
        seen += [cohort["id"] for cohort in page.get("cohorts", [])]
        page_token = page.get("nextPageToken", "")
        if not page_token:
            break
    assert len(seen) == len(set(seen)) == 11
    assert set(seen) == created
