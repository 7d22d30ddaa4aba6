"""Random sequences of operations by three tenants and two apps, checked against a model.

Nine callers act: in each of three fresh tenants a person (no app_id, sees the whole tenant) and
two applications, app-a and app-b (each sees only its own cohorts). Hypothesis drives
create (with or without a request_id, which may collide across tenants and apps), get, update
(with no version, the current one or a stale one), delete (likewise), undelete and paged list
through the real gRPC stub. The model predicts every status code, and after every step the
invariants check that

* no caller observes a row outside its scope: each caller's List (show_deleted) returns exactly
  the model's in-scope ids in the documented order, and a Get of the row each step touched, by
  every caller, is NOT_FOUND exactly when the row is out of that caller's scope;
* every acknowledged write is readable with the acknowledged version and values, through List,
  Get and in the database itself (owner connection, bypassing row-level security): the three
  tenants hold exactly the rows the model holds, nothing more.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import grpc
import psycopg
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from learning.v1 import cohort_pb2, cohort_service_pb2
from psycopg.rows import dict_row

from tests.fixtures.server import bearer, mint_token
from tests.integration._assertions import error_info
from tests.integration._support import update_request

OK = grpc.StatusCode.OK
NOT_FOUND = grpc.StatusCode.NOT_FOUND
ABORTED = grpc.StatusCode.ABORTED
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
ALREADY_EXISTS = grpc.StatusCode.ALREADY_EXISTS

APPS: tuple[str | None, ...] = (None, "app-a", "app-b")
CALLERS = 3 * len(APPS)  # three tenants
# Request ids are shared by every tenant on purpose: a collision across tenants must create two
# rows, across apps of one tenant must be refused, and by the tenant's person must replay.
REQUEST_IDS = ("", str(uuid.uuid4()), str(uuid.uuid4()))
NEVER_CREATED = "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R"

Metadata = tuple[tuple[str, str], ...]

names = st.one_of(
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=24
    ).filter(lambda s: bool(s.strip())),
    st.sampled_from(["'; DROP TABLE cohorts; --", "%", "_*", "Robert'); --"]),
)
tag_lists = st.lists(st.sampled_from(["a", "b", "' OR 1=1 --", "%", "_"]), max_size=3)
callers = st.integers(0, CALLERS - 1)
# 3 in 4 targeted operations come from a caller that can see the row (so writes succeed and
# the deleted / stale-version paths are reached); the rest from any of the nine callers.
insiders = st.integers(0, 3).map(bool)
version_modes = st.sampled_from(["none", "current", "stale"])


@dataclass(frozen=True)
class Actor:
    tenant: str
    app: str | None
    subject: str
    metadata: Metadata

    def sees(self, row: ModelRow) -> bool:
        return row.tenant == self.tenant and (self.app is None or row.app == self.app)


@dataclass
class ModelRow:
    id: str
    tenant: str
    app: str | None
    name: str
    tags: list[str]
    version: int
    is_deleted: bool
    created_by: str
    updated_by: str
    sequence: int  # creation order: List's default order is newest first
    request_id: str = ""


def _call(method: Callable[..., Any], request: Any, actor: Actor) -> tuple[grpc.StatusCode, Any]:
    try:
        return OK, method(request, metadata=actor.metadata, timeout=30)
    except grpc.RpcError as error:
        return error.code(), error


class IsolationMachine(RuleBasedStateMachine):
    """The service against a model of who may see and change what."""

    stub: ClassVar[Any]
    db: ClassVar[psycopg.Connection[Any]]

    cohorts = Bundle("cohorts")

    def __init__(self) -> None:
        super().__init__()
        run = uuid.uuid4().hex[:10]
        self.tenants = [f"sm-{run}-{i}" for i in range(3)]
        self.actors = [
            Actor(
                tenant=tenant,
                app=app,
                subject=f"{app or 'person'}-{index}",
                metadata=bearer(
                    mint_token(tenant=tenant, sub=f"{app or 'person'}-{index}", app=app)
                ),
            )
            for index, tenant in enumerate(self.tenants)
            for app in APPS
        ]
        self.rows: dict[str, ModelRow] = {}
        self.request_ids: dict[tuple[str, str], str] = {}
        self.sequence = 0
        self.touched: list[str] = []

    # -- checks ------------------------------------------------------------------------------

    def expect(self, got: tuple[grpc.StatusCode, Any], code: grpc.StatusCode, what: str) -> Any:
        status, result = got
        if status != code:
            details = result.details() if isinstance(result, grpc.RpcError) else ""
            raise AssertionError(f"{what}: expected {code.name}, got {status.name} {details}")
        if code is not OK:
            error_info(result)  # every refusal carries the service's ErrorInfo
        return result

    def same(self, cohort: cohort_pb2.Cohort, row: ModelRow) -> None:
        observed = (
            cohort.id,
            cohort.tenant_id,
            cohort.app_id if cohort.HasField("app_id") else None,
            cohort.name,
            list(cohort.tags),
            cohort.version,
            cohort.is_deleted,
            cohort.HasField("deleted_at"),
            cohort.created_by,
            cohort.updated_by,
        )
        expected = (
            row.id,
            row.tenant,
            row.app,
            row.name,
            row.tags,
            row.version,
            row.is_deleted,
            row.is_deleted,
            row.created_by,
            row.updated_by,
        )
        assert observed == expected, f"service {observed} != model {expected}"

    def in_scope(self, actor: Actor, *, show_deleted: bool) -> list[ModelRow]:
        rows = [r for r in self.rows.values() if actor.sees(r)]
        if not show_deleted:
            rows = [r for r in rows if not r.is_deleted]
        return sorted(rows, key=lambda r: r.sequence, reverse=True)

    def visible_row(self, actor: Actor, cohort_id: str) -> ModelRow | None:
        row = self.rows.get(cohort_id)
        return row if row is not None and actor.sees(row) else None

    def pick(self, who: int, cohort_id: str, insider: bool) -> Actor:
        """An insider (a caller that sees the row) or any caller, by who."""
        row = self.rows.get(cohort_id)
        if insider and row is not None:
            candidates = [a for a in self.actors if a.sees(row)]
            return candidates[who % len(candidates)]
        return self.actors[who]

    def touch(self, cohort_id: str) -> None:
        self.touched.append(cohort_id)

    # -- rules -------------------------------------------------------------------------------

    @initialize()
    def start_empty(self) -> None:
        found = self.db.execute(
            "SELECT count(*) FROM cohorts WHERE tenant_id = ANY(%s)", (self.tenants,)
        ).fetchone()
        assert found == (0,), "the run's tenants must be fresh"
        request = cohort_service_pb2.GetCohortRequest(id=NEVER_CREATED)
        for actor in self.actors:
            self.expect(
                _call(self.stub.GetCohort, request, actor), NOT_FOUND, "get of a missing id"
            )

    @rule(
        target=cohorts,
        who=callers,
        name=names,
        tags=tag_lists,
        request_id=st.sampled_from(REQUEST_IDS),
    )
    def create(self, who: int, name: str, tags: list[str], request_id: str) -> Any:
        return self._create(self.actors[who], name, tags, request_id)

    @rule(target=cohorts, who=callers, cohort_id=cohorts, insider=insiders, name=names)
    def create_reusing_a_request_id(
        self, who: int, cohort_id: str, insider: bool, name: str
    ) -> Any:
        """A retry by the row's scope replays it; another app is refused; another tenant creates."""
        row = self.rows[cohort_id]
        request_id = row.request_id or REQUEST_IDS[1]
        return self._create(self.pick(who, cohort_id, insider), name, [], request_id)

    def _create(self, actor: Actor, name: str, tags: list[str], request_id: str) -> Any:
        request = cohort_service_pb2.CreateCohortRequest(
            cohort=cohort_pb2.Cohort(name=name, tags=tags), request_id=request_id
        )
        got = _call(self.stub.CreateCohort, request, actor)
        earlier_id = self.request_ids.get((actor.tenant, request_id)) if request_id else None
        if earlier_id is not None:
            earlier = self.rows[earlier_id]
            if not actor.sees(earlier):
                self.expect(got, ALREADY_EXISTS, "create reusing an out-of-scope request_id")
                return multiple()
            replayed = self.expect(got, OK, "create replaying a request_id")
            self.same(replayed, earlier)
            self.touch(earlier_id)
            return multiple()
        created = self.expect(got, OK, "create")
        self.sequence += 1
        row = ModelRow(
            id=created.id,
            tenant=actor.tenant,
            app=actor.app,
            name=name.strip(),
            tags=list(tags),
            version=1,
            is_deleted=False,
            created_by=actor.subject,
            updated_by=actor.subject,
            sequence=self.sequence,
            request_id=request_id,
        )
        assert row.id not in self.rows
        self.same(created, row)
        self.rows[row.id] = row
        if request_id:
            self.request_ids[(actor.tenant, request_id)] = row.id
        self.touch(row.id)
        return row.id

    def _version(self, cohort_id: str, mode: str) -> int:
        """0 (no condition), the stored version, or one that is not (an attacker may know it)."""
        if mode == "none":
            return 0
        row = self.rows[cohort_id]
        return row.version if mode == "current" else row.version + 1

    @rule(
        who=callers,
        cohort_id=cohorts,
        insider=insiders,
        name=names,
        tags=tag_lists,
        mode=version_modes,
    )
    def update(
        self, who: int, cohort_id: str, insider: bool, name: str, tags: list[str], mode: str
    ) -> None:
        actor = self.pick(who, cohort_id, insider)
        version = self._version(cohort_id, mode)
        request = update_request(
            cohort_pb2.Cohort(id=cohort_id, name=name, tags=tags, version=version),
            ["name", "tags"],
        )
        got = _call(self.stub.UpdateCohort, request, actor)
        row = self.visible_row(actor, cohort_id)
        if row is None:
            self.expect(got, NOT_FOUND, "update of an out-of-scope id")
        elif version and version != row.version:
            self.expect(got, ABORTED, "update with a stale version")
        elif row.is_deleted:
            self.expect(got, FAILED_PRECONDITION, "update of a deleted cohort")
        else:
            updated = self.expect(got, OK, "update")
            row.name, row.tags = name.strip(), list(tags)
            row.version += 1
            row.updated_by = actor.subject
            self.same(updated, row)
        self.touch(cohort_id)

    @rule(who=callers, cohort_id=cohorts, insider=insiders, mode=version_modes)
    def delete(self, who: int, cohort_id: str, insider: bool, mode: str) -> None:
        actor = self.pick(who, cohort_id, insider)
        version = self._version(cohort_id, mode)
        request = cohort_service_pb2.DeleteCohortRequest(id=cohort_id, version=version)
        got = _call(self.stub.DeleteCohort, request, actor)
        row = self.visible_row(actor, cohort_id)
        if row is None:
            self.expect(got, NOT_FOUND, "delete of an out-of-scope id")
        elif version and version != row.version:
            self.expect(got, ABORTED, "delete with a stale version")
        elif row.is_deleted:
            self.expect(got, NOT_FOUND, "delete of a deleted cohort")
        else:
            deleted = self.expect(got, OK, "delete")
            row.is_deleted = True
            row.version += 1
            row.updated_by = actor.subject
            self.same(deleted, row)
            assert deleted.deleted_by == actor.subject
        self.touch(cohort_id)

    @rule(who=callers, cohort_id=cohorts, insider=insiders)
    def undelete(self, who: int, cohort_id: str, insider: bool) -> None:
        actor = self.pick(who, cohort_id, insider)
        request = cohort_service_pb2.UndeleteCohortRequest(id=cohort_id)
        got = _call(self.stub.UndeleteCohort, request, actor)
        row = self.visible_row(actor, cohort_id)
        if row is None:
            self.expect(got, NOT_FOUND, "undelete of an out-of-scope id")
        elif not row.is_deleted:
            self.expect(got, ALREADY_EXISTS, "undelete of a live cohort")
        else:
            restored = self.expect(got, OK, "undelete")
            row.is_deleted = False
            row.version += 1
            row.updated_by = actor.subject
            self.same(restored, row)
        self.touch(cohort_id)

    @rule(who=callers, other=callers, show_deleted=st.booleans(), page_size=st.integers(1, 4))
    def list_pages(self, who: int, other: int, show_deleted: bool, page_size: int) -> None:
        """Paging returns the scope in order; each token pages only for its own scope."""
        actor, intruder = self.actors[who], self.actors[other]
        expected = self.in_scope(actor, show_deleted=show_deleted)
        seen: list[cohort_pb2.Cohort] = []
        tokens: list[str] = []
        token = ""
        for _ in range(len(expected) + 2):
            request = cohort_service_pb2.ListCohortsRequest(
                page_size=page_size, page_token=token, show_deleted=show_deleted
            )
            page = self.expect(_call(self.stub.ListCohorts, request, actor), OK, "list")
            assert len(page.cohorts) <= page_size
            seen.extend(page.cohorts)
            token = page.next_page_token
            if not token:
                break
            tokens.append(token)
        assert not token, "List did not end"
        assert [c.id for c in seen] == [r.id for r in expected]
        for cohort, row in zip(seen, expected, strict=True):
            self.same(cohort, row)
        if tokens:
            request = cohort_service_pb2.ListCohortsRequest(
                page_size=page_size, page_token=tokens[0], show_deleted=show_deleted
            )
            got = _call(self.stub.ListCohorts, request, intruder)
            if (actor.tenant, actor.app) == (intruder.tenant, intruder.app):
                self.expect(got, OK, "page token reused within its scope")
            else:
                self.expect(got, grpc.StatusCode.INVALID_ARGUMENT, "page token of another scope")

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def database_holds_exactly_the_acknowledged_rows(self) -> None:
        with self.db.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                "SELECT id, tenant_id, app_id, name, tags, version, is_deleted, created_by,"
                " updated_by FROM cohorts WHERE tenant_id = ANY(%s)",
                (self.tenants,),
            )
            stored = {r["id"]: r for r in cursor.fetchall()}
        assert set(stored) == set(self.rows), "stored rows differ from acknowledged ones"
        for cohort_id, row in self.rows.items():
            s = stored[cohort_id]
            assert (
                s["tenant_id"],
                s["app_id"],
                s["name"],
                s["tags"],
                s["version"],
                s["is_deleted"],
                s["created_by"],
                s["updated_by"],
            ) == (
                row.tenant,
                row.app,
                row.name,
                row.tags,
                row.version,
                row.is_deleted,
                row.created_by,
                row.updated_by,
            ), cohort_id

    @invariant()
    def every_caller_lists_and_gets_exactly_its_scope(self) -> None:
        """Each caller's List (show_deleted) is its scope; Gets of touched rows obey scope.

        Scopes never change, so a row's visibility can only change when a step touches it;
        the Lists re-read every in-scope row after every step. All calls go out at once.
        """
        request = cohort_service_pb2.ListCohortsRequest(page_size=1000, show_deleted=True)
        lists = [self.stub.ListCohorts.future(request, metadata=a.metadata) for a in self.actors]
        gets = [
            (
                actor,
                cohort_id,
                self.stub.GetCohort.future(
                    cohort_service_pb2.GetCohortRequest(id=cohort_id), metadata=actor.metadata
                ),
            )
            for cohort_id in dict.fromkeys(self.touched)
            for actor in self.actors
        ]
        self.touched.clear()
        for actor, future in zip(self.actors, lists, strict=True):
            page = future.result(timeout=30)
            expected = self.in_scope(actor, show_deleted=True)
            assert not page.next_page_token
            ids = [c.id for c in page.cohorts]
            outside = [i for i in ids if i not in self.rows or not actor.sees(self.rows[i])]
            assert not outside, f"{actor.tenant}/{actor.app} listed rows outside its scope"
            assert ids == [r.id for r in expected]
            for cohort, row in zip(page.cohorts, expected, strict=True):
                self.same(cohort, row)
        for actor, cohort_id, future in gets:
            try:
                got: tuple[grpc.StatusCode, Any] = (OK, future.result(timeout=30))
            except grpc.RpcError as error:
                got = (error.code(), error)
            row = self.visible_row(actor, cohort_id)
            if row is None:
                self.expect(got, NOT_FOUND, f"get of {cohort_id} outside the caller's scope")
            else:
                self.same(self.expect(got, OK, f"get of {cohort_id}"), row)


ISOLATION_SETTINGS = settings(max_examples=25, stateful_step_count=20, deadline=None)


def test_no_caller_ever_sees_outside_its_scope_and_no_acknowledged_write_is_lost(stub, db):
    machine = type("BoundIsolationMachine", (IsolationMachine,), {"stub": stub, "db": db})
    run_state_machine_as_test(machine, settings=ISOLATION_SETTINGS)
