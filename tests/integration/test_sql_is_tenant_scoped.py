"""The precondition for distributing cohorts over Citus shards by tenant_id (issue 5).

Every SQL statement the repository issues must name exactly one tenant, so
that a distributed PostgreSQL routes it to one shard instead of fanning out.
tests/fixtures/sql_capture.py records every statement of the whole test session
and fails the session on any unscoped one; this module makes the rule visible
as tests: it drives every RPC (List with filters, orders and page tokens
included) and checks each statement it caused, and it checks that the rule
itself rejects the statements it exists to reject.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from learning.v1 import cohort_pb2, cohort_service_pb2

from tests.fixtures.sql_capture import Execution, SqlCapture, judge
from tests.integration._support import full_cohort

Metadata = tuple[tuple[str, str], ...]

_COLUMNS = "cohorts.tenant_id, cohorts.id, cohorts.name"


# --- the rule itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT set_config('app.tenant_id', %(tenant_id)s, true), "
        "set_config('app.app_id', %(app_id)s, true)",
        f"SELECT {_COLUMNS} FROM cohorts WHERE cohorts.tenant_id = %(tenant_id_1)s::VARCHAR "
        "AND cohorts.id = %(id_1)s::VARCHAR",
        f"SELECT {_COLUMNS} FROM cohorts WHERE cohorts.tenant_id = %(tenant_id_1)s::VARCHAR "
        "AND cohorts.app_id = %(app_id_1)s::VARCHAR AND (cohorts.name = %(name_1)s::VARCHAR "
        "OR (cohorts.tags @> %(tags_1)s::JSONB)) ORDER BY cohorts.name ASC LIMIT %(param_1)s",
        f"SELECT {_COLUMNS} FROM cohorts WHERE (cohorts.app_id = %(a)s AND "
        "cohorts.tenant_id = %(t)s) AND cohorts.id > %(i)s",
        "UPDATE cohorts SET name=%(name)s::VARCHAR WHERE cohorts.tenant_id = "
        "%(tenant_id_1)s::VARCHAR AND cohorts.id = %(id_1)s::VARCHAR",
        "INSERT INTO cohorts (tenant_id, id, name) VALUES (%(tenant_id)s::VARCHAR, "
        "%(id)s::VARCHAR, %(name)s::VARCHAR) ON CONFLICT ON CONSTRAINT cohorts_request_id_key "
        "DO NOTHING RETURNING cohorts.id",
        "DELETE FROM cohorts WHERE tenant_id = 'a' AND id = 'b'",
    ],
)
def test_the_rule_accepts_statements_confined_to_one_tenant(sql: str):
    verdict = judge(sql)
    assert verdict.scoped, verdict


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT {_COLUMNS} FROM cohorts WHERE cohorts.id = %(id_1)s::VARCHAR",
        f"SELECT {_COLUMNS} FROM cohorts",
        f"SELECT {_COLUMNS} FROM cohorts ORDER BY cohorts.tenant_id = %(t)s",
        f"SELECT {_COLUMNS} FROM cohorts WHERE cohorts.tenant_id = %(t)s OR cohorts.id = %(i)s",
        f"SELECT {_COLUMNS} FROM cohorts WHERE (cohorts.tenant_id = %(t)s OR cohorts.id = %(i)s)"
        " AND cohorts.name = %(n)s",
        f"SELECT {_COLUMNS} FROM cohorts WHERE NOT cohorts.tenant_id = %(t)s",
        f"SELECT {_COLUMNS} FROM cohorts WHERE cohorts.tenant_id IN (%(a)s, %(b)s)",
        f"SELECT {_COLUMNS} FROM cohorts WHERE cohorts.tenant_id != %(t)s",
        f"SELECT {_COLUMNS} FROM cohorts WHERE cohorts.id IN (SELECT id FROM cohorts "
        "WHERE tenant_id = %(t)s)",
        "SELECT count(*) FROM cohorts",
        "UPDATE cohorts SET name=%(name)s WHERE cohorts.id = %(id_1)s",
        "UPDATE cohorts SET tenant_id=%(tenant_id)s",
        "INSERT INTO cohorts (id, name) VALUES (%(id)s, %(name)s)",
        "INSERT INTO cohorts SELECT * FROM cohorts WHERE tenant_id = %(t)s",
        "DELETE FROM cohorts WHERE id = %(i)s",
        "TRUNCATE cohorts",
    ],
)
def test_the_rule_rejects_statements_that_would_fan_out(sql: str):
    verdict = judge(sql)
    assert verdict.touches_cohorts and not verdict.scoped, verdict


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "SELECT current_user, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
        "select pg_catalog.version()",
    ],
)
def test_the_rule_ignores_statements_that_do_not_touch_cohorts(sql: str):
    verdict = judge(sql)
    assert not verdict.touches_cohorts and verdict.scoped, verdict


# --- every RPC through the real server ---------------------------------------------------------


class Recorder:
    """Runs calls and keeps the statements each one caused, by label."""

    def __init__(self, capture: SqlCapture) -> None:
        self._capture = capture
        self.by_call: dict[str, list[Execution]] = {}

    def __call__(self, label: str, call: Callable[[], Any]) -> Any:
        with self._capture.recording() as executions:
            try:
                result = call()
            except grpc.RpcError as error:
                result = error
        self.by_call.setdefault(label, []).extend(executions)
        return result


def _list(stub: Any, metadata: Metadata, **fields: Any) -> cohort_service_pb2.ListCohortsResponse:
    response: cohort_service_pb2.ListCohortsResponse = stub.ListCohorts(
        cohort_service_pb2.ListCohortsRequest(**fields), metadata=metadata
    )
    return response


def _all_pages(
    record: Recorder, label: str, stub: Any, metadata: Metadata, **fields: Any
) -> list[str]:
    ids: list[str] = []
    token = ""
    for page_number in range(100):
        response = record(
            f"{label} (page {page_number + 1})",
            lambda token=token: _list(stub, metadata, page_token=token, **fields),
        )
        assert not isinstance(response, grpc.RpcError), (label, response)
        ids.extend(c.id for c in response.cohorts)
        token = response.next_page_token
        if not token:
            return ids
    raise AssertionError(f"{label}: no last page")


FILTERS = [
    'name = "Scoped*"',
    'tags:"evening" OR session_count > 3',
    "NOT status = COHORT_STATUS_DRAFT AND -metadata.room:null",
    'metadata.room:"A1" (program_id = "prog-data-101" OR source_type >= SOURCE_TYPE_API)',
    'start_date >= "2027-01-01T00:00:00Z" AND facilitator_ids:* AND app_id != "zzz"',
    "completion_required_pct >= 50 AND current_completion_pct < 99.5",
]
ORDERS = ["", "name", "session_count desc, name desc", "status, start_date desc, name"]


def test_every_rpc_issues_only_sql_scoped_to_the_callers_tenant(
    stub: Any, auth_for: Callable[..., Metadata], tenant: str, sql_capture: SqlCapture
):
    record = Recorder(sql_capture)
    person, app = auth_for(tenant), auth_for(tenant, sub="service-1", app="app-scoped")
    ids: list[str] = []
    for index in range(5):
        cohort = full_cohort(name=f"Scoped {index}", session_count=index + 1)
        for caller in (person, app):
            created = record(
                "CreateCohort",
                lambda cohort=cohort, caller=caller: stub.CreateCohort(
                    cohort_service_pb2.CreateCohortRequest(cohort=cohort), metadata=caller
                ),
            )
            ids.append(created.id)
    request_id = str(uuid.uuid4())
    first, replayed = (
        record(
            label,
            lambda: stub.CreateCohort(
                cohort_service_pb2.CreateCohortRequest(
                    cohort=full_cohort(name="Scoped retry"), request_id=request_id
                ),
                metadata=app,
            ),
        )
        for label in ("CreateCohort request_id", "CreateCohort request_id replay")
    )
    assert first.id == replayed.id
    target = ids[0]
    record(
        "GetCohort",
        lambda: stub.GetCohort(cohort_service_pb2.GetCohortRequest(id=target), metadata=person),
    )
    missing = record(
        "GetCohort not found",
        lambda: stub.GetCohort(
            cohort_service_pb2.GetCohortRequest(id="coh_01ARZ3NDEKTSV4RRFFQ69G5FAV"), metadata=app
        ),
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    updated = record(
        "UpdateCohort",
        lambda: stub.UpdateCohort(
            cohort_service_pb2.UpdateCohortRequest(
                cohort=cohort_pb2.Cohort(id=target, name="Scoped renamed", version=1),
                update_mask=field_mask_pb2.FieldMask(paths=["name"]),
            ),
            metadata=person,
        ),
    )
    assert updated.version == 2
    stale = record(
        "UpdateCohort stale version",
        lambda: stub.UpdateCohort(
            cohort_service_pb2.UpdateCohortRequest(
                cohort=cohort_pb2.Cohort(id=target, name="Scoped stale", version=1),
                update_mask=field_mask_pb2.FieldMask(paths=["name"]),
            ),
            metadata=person,
        ),
    )
    assert stale.code() == grpc.StatusCode.ABORTED
    record(
        "DeleteCohort",
        lambda: stub.DeleteCohort(
            cohort_service_pb2.DeleteCohortRequest(id=ids[1], version=1), metadata=app
        ),
    )
    record(
        "UndeleteCohort",
        lambda: stub.UndeleteCohort(
            cohort_service_pb2.UndeleteCohortRequest(id=ids[1]), metadata=app
        ),
    )
    record(
        "DeleteCohort (kept deleted)",
        lambda: stub.DeleteCohort(cohort_service_pb2.DeleteCohortRequest(id=ids[3]), metadata=app),
    )

    every_id = set(ids) | {first.id}
    assert set(_all_pages(record, "ListCohorts", stub, person, page_size=2, show_deleted=True)) == (
        every_id
    )
    for order_by in ORDERS:
        for caller_name, caller in (("person", person), ("app", app)):
            listed = _all_pages(
                record,
                f"ListCohorts {caller_name} order_by={order_by!r}",
                stub,
                caller,
                page_size=3,
                order_by=order_by,
            )
            assert listed, order_by
    for filter_text in FILTERS:
        for order_by in ORDERS[:2]:
            _all_pages(
                record,
                f"ListCohorts filter={filter_text!r} order_by={order_by!r}",
                stub,
                person,
                page_size=2,
                filter=filter_text,
                order_by=order_by,
                show_deleted=True,
            )

    kinds: set[str] = set()
    for label, executions in record.by_call.items():
        on_cohorts = [e for e in executions if judge(e.sql).touches_cohorts]
        assert on_cohorts, f"{label} issued no SQL on cohorts: {executions}"
        for execution in on_cohorts:
            verdict = judge(execution.sql)
            assert verdict.scoped, f"{label}: {verdict.reason}: {execution.sql}"
            # Not just a predicate on tenant_id: the caller's own tenant is what is bound.
            assert verdict.tenant_value(execution.parameters) == tenant, (label, execution)
            kinds.add(execution.sql.split(" ", 1)[0].upper())
            if execution.sql.startswith("SELECT set_config"):
                kinds.add("set_config")
    assert {"SELECT", "INSERT", "UPDATE", "set_config"} <= kinds, kinds
    lists = [label for label in record.by_call if label.startswith("ListCohorts")]
    assert any("page 2" in label for label in lists), "no List call followed a page token"
