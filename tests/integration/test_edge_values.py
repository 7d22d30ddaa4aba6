"""Values at the edges of what the contract allows: every page reachable, every date usable."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2
from learning.v1 import cohort_pb2, cohort_service_pb2, cohort_service_pb2_grpc

from cohorts.domain.rules import MAX_NAME_CHARS
from cohorts.storage.database import APP_ROLE, as_role
from tests.fixtures.server import ServerThread, make_settings
from tests.integration._assertions import create


def _ts(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


FIRST = datetime(1, 1, 1, tzinfo=UTC)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)


@pytest.mark.parametrize(
    "character", ["é", "日", "🚀", "\x01"], ids=["latin", "cjk", "emoji", "ctrl"]
)
def test_a_list_ordered_by_long_non_ascii_names_pages_to_the_end(stub: Any, auth: Any, character):
    names = [f"{n:02d}" + character * (MAX_NAME_CHARS - 2) for n in range(5)]
    for name in names:
        create(stub, auth, name=name)
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = stub.ListCohorts(
            cohort_service_pb2.ListCohortsRequest(
                page_size=2, order_by="name desc,start_date,created_at", page_token=token
            ),
            metadata=auth,
        )
        seen += [cohort.name for cohort in page.cohorts]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(names, reverse=True)


@pytest.fixture
def far_from_utc(
    database_url: str, tmp_path: Path
) -> Iterator[cohort_service_pb2_grpc.CohortServiceStub]:
    """A server whose database role defaults to a time zone 14 hours ahead of UTC."""
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute(f"ALTER ROLE {APP_ROLE} SET TimeZone = 'Pacific/Kiritimati'")
        try:
            server = ServerThread(make_settings(tmp_path), as_role(database_url))
        finally:
            # Only connections opened from now on miss the setting; the server's pool is open.
            owner.execute(f"ALTER ROLE {APP_ROLE} RESET TimeZone")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield cohort_service_pb2_grpc.CohortServiceStub(channel)
    finally:
        server.stop()


def test_dates_at_the_ends_of_the_range_work_whatever_the_databases_time_zone(
    far_from_utc: Any, auth: Any
):
    stub = far_from_utc
    edge = create(stub, auth, name="Edges", start_date=_ts(FIRST), end_date=_ts(LAST))
    create(stub, auth, name="Ordinary", start_date=_ts(datetime(2027, 1, 1, tzinfo=UTC)))

    for order_by in ("start_date", "end_date desc", "start_date desc,end_date"):
        listed = stub.ListCohorts(
            cohort_service_pb2.ListCohortsRequest(page_size=1, order_by=order_by), metadata=auth
        )
        assert listed.cohorts and listed.next_page_token
        stub.ListCohorts(
            cohort_service_pb2.ListCohortsRequest(
                page_size=1, order_by=order_by, page_token=listed.next_page_token
            ),
            metadata=auth,
        )
    updated = stub.UpdateCohort(
        cohort_service_pb2.UpdateCohortRequest(
            cohort=cohort_pb2.Cohort(id=edge.id, name="Edges (B)"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        ),
        metadata=auth,
    )
    assert updated.end_date.ToDatetime(tzinfo=UTC) == LAST
    deleted = stub.DeleteCohort(cohort_service_pb2.DeleteCohortRequest(id=edge.id), metadata=auth)
    assert deleted.is_deleted and deleted.start_date.ToDatetime(tzinfo=UTC) == FIRST
