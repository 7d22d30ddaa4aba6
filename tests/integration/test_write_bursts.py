"""A burst of unversioned updates of one cohort: every one succeeds ("last writer wins")."""

from __future__ import annotations

from typing import Any

from google.protobuf import field_mask_pb2
from learning.v1 import cohort_pb2, cohort_service_pb2

from tests.integration._assertions import create

WRITERS = 32


def test_32_concurrent_unversioned_updates_all_succeed_and_each_counts(stub: Any, auth: Any):
    cohort = create(stub, auth, name="Contended")
    calls = [
        stub.UpdateCohort.future(
            cohort_service_pb2.UpdateCohortRequest(
                cohort=cohort_pb2.Cohort(id=cohort.id, name=f"Writer {n}", session_count=n),
                update_mask=field_mask_pb2.FieldMask(paths=["name", "session_count"]),
            ),
            metadata=auth,
            timeout=30,
        )
        for n in range(WRITERS)
    ]
    results = [call.result() for call in calls]  # raises if any failed

    assert sorted(result.version for result in results) == list(range(2, WRITERS + 2))
    final = stub.GetCohort(cohort_service_pb2.GetCohortRequest(id=cohort.id), metadata=auth)
    assert final.version == WRITERS + 1
    # The last writer's name and session count, together: no write was half-applied.
    last = max(results, key=lambda result: result.version)
    assert (final.name, final.session_count) == (last.name, last.session_count)
