"""Races with real threads: compare-and-set versions and idempotent creates."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
from learning.v1 import cohort_pb2, cohort_service_pb2

from tests.integration._support import create, full_cohort, get, rows_with_id, update_request

WRITERS = 8


def _race(count, action):
    """Run action(i) for i in range(count) on count threads released at the same moment."""
    start = threading.Barrier(count)

    def run(index):
        start.wait(timeout=10)
        try:
            return ("ok", action(index))
        except grpc.RpcError as error:
            return (error.code(), error)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_of_racing_updates_with_the_same_expected_version_exactly_one_wins(stub, auth, tenant, db):
    created = create(stub, auth)

    def write(index):
        return stub.UpdateCohort(
            update_request(
                cohort_pb2.Cohort(id=created.id, name=f"writer {index}", version=created.version),
                ["name"],
            ),
            metadata=auth,
            timeout=30,
        )

    outcomes = _race(WRITERS, write)

    winners = [result for kind, result in outcomes if kind == "ok"]
    losers = [kind for kind, _ in outcomes if kind != "ok"]
    assert len(winners) == 1, outcomes
    assert losers == [grpc.StatusCode.ABORTED] * (WRITERS - 1)
    final = get(stub, auth, created.id)
    assert final.version == 2
    assert final == winners[0]
    (row,) = rows_with_id(db, created.id)
    assert (row["version"], row["name"]) == (2, winners[0].name)


def test_racing_deletes_delete_once_and_the_others_find_nothing(stub, auth, db):
    created = create(stub, auth)

    def delete(_index):
        return stub.DeleteCohort(
            cohort_service_pb2.DeleteCohortRequest(id=created.id), metadata=auth, timeout=30
        )

    outcomes = _race(WRITERS, delete)

    assert [kind for kind, _ in outcomes].count("ok") == 1, outcomes
    assert sorted(str(kind) for kind, _ in outcomes if kind != "ok") == [
        str(grpc.StatusCode.NOT_FOUND)
    ] * (WRITERS - 1)
    (row,) = rows_with_id(db, created.id)
    assert (row["is_deleted"], row["version"]) == (True, 2)


def test_racing_creates_with_one_request_id_store_one_cohort_and_all_return_it(
    stub, auth, tenant, db
):
    request_id = str(uuid.uuid4())

    def create_once(index):
        return stub.CreateCohort(
            cohort_service_pb2.CreateCohortRequest(
                cohort=full_cohort(name=f"attempt {index}"), request_id=request_id
            ),
            metadata=auth,
            timeout=30,
        )

    outcomes = _race(WRITERS, create_once)

    assert [kind for kind, _ in outcomes] == ["ok"] * WRITERS, outcomes
    cohorts = [result for _, result in outcomes]
    assert len({c.id for c in cohorts}) == 1
    assert all(c == cohorts[0] for c in cohorts)
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM cohorts WHERE tenant_id = %s AND request_id = %s",
            (tenant, request_id),
        )
        assert cursor.fetchall() == [(cohorts[0].id,)]
        cursor.execute("SELECT count(*) FROM cohorts WHERE tenant_id = %s", (tenant,))
        assert cursor.fetchone() == (1,)


def test_read_modify_write_loops_that_retry_on_aborted_lose_no_increment(stub, auth, db):
    created = create(stub, auth, full_cohort(session_count=0))
    writers, increments = 4, 5

    def increment(_index):
        aborted = 0
        for _ in range(increments):
            for _attempt in range(500):
                current = get(stub, auth, created.id)
                try:
                    stub.UpdateCohort(
                        update_request(
                            cohort_pb2.Cohort(
                                id=created.id,
                                session_count=current.session_count + 1,
                                version=current.version,
                            ),
                            ["session_count"],
                        ),
                        metadata=auth,
                        timeout=30,
                    )
                    break
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.ABORTED:
                        raise
                    aborted += 1
            else:
                raise AssertionError("an increment kept losing the race")
        return aborted

    outcomes = _race(writers, increment)

    assert [kind for kind, _ in outcomes] == ["ok"] * writers, outcomes
    final = get(stub, auth, created.id)
    assert final.session_count == writers * increments == 20
    assert final.version == 1 + writers * increments == 21
    (row,) = rows_with_id(db, created.id)
    assert (row["session_count"], row["version"]) == (20, 21)


def test_racing_updates_without_a_version_all_apply_and_each_bumps_the_version_once(stub, auth, db):
    created = create(stub, auth, full_cohort(tags=[]))
    writers = 4

    def write(index):
        return stub.UpdateCohort(
            update_request(cohort_pb2.Cohort(id=created.id, tags=[f"w{index}"]), ["tags"]),
            metadata=auth,
            timeout=30,
        )

    outcomes = _race(writers, write)

    assert [kind for kind, _ in outcomes] == ["ok"] * writers, outcomes
    assert sorted(result.version for _, result in outcomes) == [2, 3, 4, 5]
    final = get(stub, auth, created.id)
    assert final.version == 1 + writers
    last = max((result for _, result in outcomes), key=lambda c: c.version)
    assert list(final.tags) == list(last.tags)
    (row,) = rows_with_id(db, created.id)
    assert row["version"] == 1 + writers
