"""cohorts.client: the typed Python client other services import, against the real server."""

from __future__ import annotations

import asyncio
import itertools
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import grpc
import grpc.aio
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from learning.v1 import cohort_pb2, cohort_service_pb2

from cohorts.client import (
    AlreadyExists,
    AsyncClient,
    Backoff,
    Client,
    CohortError,
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from cohorts.client.calls import CallPolicy
from cohorts.client.errors import error_from_rpc
from tests.fixtures.server import mint_token

UNKNOWN_ID = "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R"
FAST_BACKOFF = Backoff(initial_seconds=0.01, max_seconds=0.05)


class Tokens:
    """A token_provider that mints a fresh token per call, with sub `user-<n>` for call n."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return mint_token(tenant=self.tenant, sub=f"user-{self.calls}")


@pytest.fixture
def target(server) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture
def token(tenant) -> str:
    return mint_token(tenant=tenant)


@pytest.fixture
def client(target, token) -> Iterator[Client]:
    with Client(target, token=token) as client:
        yield client


@pytest.fixture
def cohorts(client):
    return client.learning.cohorts


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A local port that accepts TCP connections but never speaks HTTP/2."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def _ids(cohorts) -> list[str]:
    return [c.id for c in cohorts]


# --- create, get, update ----------------------------------------------------------------


def test_create_takes_python_values_and_returns_the_stored_cohort(cohorts, tenant):
    start = datetime(2027, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))

    created = cohorts.create(
        name="Spring 2027",
        program_id="p1",
        status="COHORT_STATUS_SCHEDULED",
        source_type=cohort_pb2.SOURCE_TYPE_BACKEND,
        start_date=start,
        end_date=date(2027, 6, 30),
        session_count=12,
        completion_required_pct=80.0,
        tags=("evening", "remote"),
        metadata={"room": "A1", "nested": {"x": 1}},
    )

    assert isinstance(created, cohort_pb2.Cohort)
    assert created.id.startswith("coh_") and created.version == 1
    assert created.tenant_id == tenant
    assert (created.name, created.program_id) == ("Spring 2027", "p1")
    assert created.status == cohort_pb2.COHORT_STATUS_SCHEDULED
    assert created.source_type == cohort_pb2.SOURCE_TYPE_BACKEND
    assert created.start_date.ToDatetime(tzinfo=UTC) == start
    assert created.end_date.ToDatetime(tzinfo=UTC) == datetime(2027, 6, 30, tzinfo=UTC)
    assert created.session_count == 12 and created.completion_required_pct == 80.0
    assert list(created.tags) == ["evening", "remote"]
    assert dict(created.metadata) == {"room": "A1", "nested": {"x": 1.0}}
    assert cohorts.get(created.id) == created


def test_update_replaces_only_the_fields_given_and_none_clears_a_field(cohorts):
    created = cohorts.create(
        name="Spring 2027", program_id="p1", session_count=12, tags=["a"], status=3
    )

    updated = cohorts.update(
        created.id,
        name="Spring 2027 (B)",
        session_count=None,
        tags=None,
        status="COHORT_STATUS_ACTIVE",
        expected_version=created.version,
    )

    assert updated.name == "Spring 2027 (B)"
    assert not updated.HasField("session_count")
    assert list(updated.tags) == []
    assert updated.status == cohort_pb2.COHORT_STATUS_ACTIVE
    assert updated.program_id == "p1"  # not named, so not touched
    assert updated.version == created.version + 1
    assert cohorts.get(created.id) == updated


def test_update_without_an_expected_version_is_unconditional(cohorts):
    created = cohorts.create(name="a")
    cohorts.update(created.id, name="b")

    assert cohorts.update(created.id, name="c").version == 3


# --- list ---------------------------------------------------------------------------------


def test_list_iterates_every_page_lazily(target, tenant):
    tokens = Tokens(tenant)
    with Client(target, token_provider=tokens) as client:
        created = [client.learning.cohorts.create(name=f"c{i}") for i in range(5)]

        tokens.calls = 0
        first_two = list(itertools.islice(client.learning.cohorts.list(page_size=2), 2))
        assert tokens.calls == 1  # the second page was never asked for

        tokens.calls = 0
        listed = list(client.learning.cohorts.list(page_size=2))

    assert _ids(first_two) == _ids(reversed(created))[:2]
    assert _ids(listed) == _ids(reversed(created))  # newest first, across pages
    assert tokens.calls >= 3  # 5 rows in pages of at most 2


def test_list_of_an_empty_tenant_yields_nothing(cohorts):
    assert list(cohorts.list()) == []


# --- delete and undelete ------------------------------------------------------------------


def test_delete_hides_a_cohort_from_list_and_undelete_restores_it(cohorts):
    created = cohorts.create(name="a")

    deleted = cohorts.delete(created.id, expected_version=created.version)

    assert deleted.is_deleted and deleted.version == created.version + 1
    assert cohorts.get(created.id).is_deleted
    assert list(cohorts.list()) == []
    assert _ids(cohorts.list(show_deleted=True)) == [created.id]

    restored = cohorts.undelete(created.id)

    assert not restored.is_deleted
    assert _ids(cohorts.list()) == [created.id]


# --- typed exceptions ---------------------------------------------------------------------


def test_an_unknown_id_is_not_found(cohorts):
    with pytest.raises(NotFound) as raised:
        cohorts.get(UNKNOWN_ID)

    error = raised.value
    assert isinstance(error, CohortError)
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "COHORT_NOT_FOUND"
    assert UNKNOWN_ID in error.message
    assert isinstance(error.__cause__, grpc.RpcError)


def test_invalid_fields_are_invalid_argument_listing_every_violation(cohorts):
    with pytest.raises(InvalidArgument) as raised:
        cohorts.create(name="   ", source="s" * 65)

    error = raised.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason
    fields = [field for field, _ in error.violations]
    assert "cohort.name" in fields and "cohort.source" in fields
    assert all(isinstance(v, FieldViolation) and v.description for v in error.violations)
    assert list(cohorts.list()) == []


def test_a_malformed_id_is_invalid_argument_naming_the_id(cohorts):
    with pytest.raises(InvalidArgument) as raised:
        cohorts.get("not-an-id")

    assert [field for field, _ in raised.value.violations] == ["id"]


def test_a_stale_expected_version_is_a_conflict_carrying_the_current_version(cohorts):
    created = cohorts.create(name="a")
    cohorts.update(created.id, name="b")

    with pytest.raises(Conflict) as raised:
        cohorts.update(created.id, name="c", expected_version=created.version)

    assert raised.value.code == grpc.StatusCode.ABORTED
    assert raised.value.reason == "VERSION_MISMATCH"
    assert raised.value.current_version == 2
    with pytest.raises(Conflict) as raised:
        cohorts.delete(created.id, expected_version=1)
    assert raised.value.current_version == 2
    assert cohorts.get(created.id).name == "b"


def test_updating_a_deleted_cohort_is_a_failed_precondition(cohorts):
    created = cohorts.create(name="a")
    cohorts.delete(created.id)

    with pytest.raises(FailedPrecondition) as raised:
        cohorts.update(created.id, name="b")

    assert raised.value.reason == "COHORT_DELETED"


def test_undeleting_a_live_cohort_is_already_exists(cohorts):
    created = cohorts.create(name="a")

    with pytest.raises(AlreadyExists) as raised:
        cohorts.undelete(created.id)

    assert raised.value.reason == "COHORT_NOT_DELETED"


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        pytest.param(lambda tenant: "not-a-jwt", "INVALID_TOKEN", id="malformed"),
        pytest.param(
            lambda tenant: mint_token(tenant=tenant, lifetime_seconds=-3600),
            "TOKEN_EXPIRED",
            id="expired",
        ),
        pytest.param(
            lambda tenant: mint_token(tenant=tenant, secret="another-secret-" * 4),
            "TOKEN_SIGNATURE",
            id="wrongly-signed",
        ),
    ],
)
def test_a_bad_token_is_unauthenticated(target, tenant, make_token, reason):
    with (
        Client(target, token=make_token(tenant)) as client,
        pytest.raises(Unauthenticated) as raised,
    ):
        client.learning.cohorts.get(UNKNOWN_ID)

    assert raised.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert raised.value.reason == reason


def test_an_unreachable_server_is_unavailable_after_the_configured_retries(closed_port, tenant):
    tokens = Tokens(tenant)
    target = f"127.0.0.1:{closed_port}"
    with (
        Client(
            target, token_provider=tokens, default_timeout=2.0, retries=1, backoff=FAST_BACKOFF
        ) as client,
        pytest.raises(Unavailable) as raised,
    ):
        client.learning.cohorts.get(UNKNOWN_ID)

    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert raised.value.reason == ""  # gRPC's own failure, not the server's
    assert tokens.calls == 2  # the first attempt and one retry


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.update(UNKNOWN_ID, name="b"), id="update"),
        pytest.param(lambda c: c.delete(UNKNOWN_ID), id="delete"),
        pytest.param(lambda c: c.undelete(UNKNOWN_ID), id="undelete"),
    ],
)
def test_writes_that_are_not_idempotent_are_never_retried(closed_port, tenant, call):
    tokens = Tokens(tenant)
    with (
        Client(
            f"127.0.0.1:{closed_port}", token_provider=tokens, retries=3, backoff=FAST_BACKOFF
        ) as client,
        pytest.raises(Unavailable),
    ):
        call(client.learning.cohorts)

    assert tokens.calls == 1


def test_a_server_that_never_answers_is_deadline_exceeded_without_retries(silent_port, tenant):
    tokens = Tokens(tenant)
    with (
        Client(f"127.0.0.1:{silent_port}", token_provider=tokens, default_timeout=0.3) as client,
        pytest.raises(DeadlineExceeded) as raised,
    ):
        client.learning.cohorts.get(UNKNOWN_ID)

    assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert tokens.calls == 1


def test_a_per_call_timeout_overrides_the_default(silent_port, token):
    with Client(f"127.0.0.1:{silent_port}", token=token, default_timeout=30) as client:
        with pytest.raises(DeadlineExceeded):
            client.learning.cohorts.get(UNKNOWN_ID, timeout=0.2)


def test_a_rich_unavailable_status_carries_the_servers_retry_delay():
    error = error_from_rpc(
        _FakeRpcError(
            grpc.StatusCode.UNAVAILABLE,
            "database unreachable",
            error_details_pb2.ErrorInfo(reason="STORAGE_UNAVAILABLE", domain="cohorts.learning.v1"),
            error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1)),
        )
    )

    assert isinstance(error, Unavailable)
    assert (error.reason, error.retry_delay, error.message) == (
        "STORAGE_UNAVAILABLE",
        1.0,
        "database unreachable",
    )


def test_a_retry_the_deadline_cannot_fit_is_not_attempted():
    policy = CallPolicy(token="t", token_provider=None, default_timeout=0.5, retries=3)
    wait_a_second = Unavailable("busy", retry_delay=1.0)
    request = cohort_service_pb2.GetCohortRequest(id=UNKNOWN_ID)

    assert (
        policy.retry_delay(request, wait_a_second, retries_done=0, deadline=policy.deadline(None))
        is None
    )
    assert (
        policy.retry_delay(request, wait_a_second, retries_done=0, deadline=policy.deadline(5.0))
        == 1.0
    )


# --- request ids make creates safe to retry -----------------------------------------------


def test_creates_with_the_same_request_id_create_one_cohort(cohorts):
    request_id = uuid.uuid4()

    first = cohorts.create(name="a", request_id=request_id)
    second = cohorts.create(name="a", request_id=str(request_id))

    assert second.id == first.id
    assert _ids(cohorts.list()) == [first.id]


def test_each_logical_create_gets_its_own_request_id(cohorts):
    first = cohorts.create(name="a")
    second = cohorts.create(name="a")

    assert first.id != second.id


def test_a_create_whose_reply_was_lost_is_retried_with_the_same_request_id(target, token):
    lose_first = _LoseFirstCreateReply()
    with grpc.insecure_channel(target) as raw:
        channel = grpc.intercept_channel(raw, lose_first)
        client = Client(channel=channel, token=token, backoff=FAST_BACKOFF)

        created = client.learning.cohorts.create(name="a")
        listed = list(client.learning.cohorts.list())

    assert len(lose_first.request_ids) == 2
    assert lose_first.request_ids[0] == lose_first.request_ids[1]
    uuid.UUID(lose_first.request_ids[0])
    assert _ids(listed) == [created.id]  # the retry returned the cohort the first try stored


def test_token_provider_is_asked_on_every_call(target, tenant):
    tokens = Tokens(tenant)
    with Client(target, token_provider=tokens) as client:
        created = client.learning.cohorts.create(name="a")
        client.learning.cohorts.get(created.id)
        updated = client.learning.cohorts.update(created.id, name="b")

    assert tokens.calls == 3
    assert (created.created_by, updated.updated_by) == ("user-1", "user-3")


# --- mistakes caught before anything is sent ----------------------------------------------


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(lambda c: c.create(name="a", nmae="b"), TypeError, id="unknown-field"),
        pytest.param(lambda c: c.create(name="a", version=3), TypeError, id="output-only"),
        pytest.param(lambda c: c.create(name="a", tags="abc"), TypeError, id="str-for-list"),
        pytest.param(
            lambda c: c.create(name="a", start_date=datetime(2027, 1, 1)),
            ValueError,
            id="naive-datetime",
        ),
        pytest.param(lambda c: c.create(name="a", status="ACTIVE"), ValueError, id="enum-name"),
        pytest.param(lambda c: c.create(name="a", metadata={"t": object()}), TypeError, id="meta"),
        pytest.param(lambda c: c.create(name="a", request_id=""), ValueError, id="empty-rid"),
        pytest.param(lambda c: c.update(UNKNOWN_ID), ValueError, id="update-nothing"),
        pytest.param(
            lambda c: c.update(UNKNOWN_ID, name="a", expected_version=0),
            ValueError,
            id="version-0",
        ),
        pytest.param(lambda c: c.get(UNKNOWN_ID, timeout=0), ValueError, id="zero-timeout"),
    ],
)
def test_a_mistaken_argument_raises_before_any_call(tenant, call, error):
    tokens = Tokens(tenant)
    with Client("127.0.0.1:1", token_provider=tokens) as client, pytest.raises(error):
        call(client.learning.cohorts)

    assert tokens.calls == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="no-credentials"),
        pytest.param({"token": "t", "token_provider": lambda: "t"}, id="both-credentials"),
        pytest.param({"token": "t", "retries": -1}, id="negative-retries"),
        pytest.param({"token": "t", "default_timeout": 0}, id="zero-timeout"),
    ],
)
def test_a_client_refuses_contradictory_settings(kwargs):
    with pytest.raises(ValueError):
        Client("127.0.0.1:1", **kwargs)


def test_the_client_package_imports_nothing_of_the_server():
    probe = (
        "import sys, cohorts.client; "
        "print(sorted(m for m in sys.modules if m.startswith('cohorts.') "
        "and not m.startswith('cohorts.client')))"
    )
    imported = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout

    assert imported.strip() == "[]"


# --- AsyncClient: the same surface over grpc.aio ------------------------------------------


def test_async_client_creates_gets_updates_and_pages_through_a_list(target, token):
    async def scenario():
        async with AsyncClient(target, token=token) as client:
            cohorts = client.learning.cohorts
            created = [await cohorts.create(name=f"c{i}", program_id="p1") for i in range(5)]
            got = await cohorts.get(created[0].id)
            updated = await cohorts.update(
                created[0].id, name="renamed", program_id=None, expected_version=1
            )
            listed = [c async for c in cohorts.list(page_size=2)]
            return created, got, updated, listed

    created, got, updated, listed = asyncio.run(scenario())

    assert got == created[0]
    assert (updated.name, updated.program_id, updated.version) == ("renamed", "", 2)
    assert _ids(listed) == _ids(reversed(created))
    assert listed[-1] == updated


def test_async_client_deletes_and_undeletes(target, token):
    async def scenario():
        async with AsyncClient(target, token=token) as client:
            cohorts = client.learning.cohorts
            created = await cohorts.create(name="a")
            deleted = await cohorts.delete(created.id, expected_version=1)
            hidden = [c async for c in cohorts.list()]
            restored = await cohorts.undelete(created.id)
            return deleted, hidden, restored

    deleted, hidden, restored = asyncio.run(scenario())

    assert deleted.is_deleted and hidden == [] and not restored.is_deleted


def test_async_client_raises_the_same_typed_exceptions(target, token):
    async def raised_by(call):
        try:
            await call
        except CohortError as error:
            return error
        raise AssertionError("no error raised")

    async def scenario():
        async with AsyncClient(target, token=token) as client:
            cohorts = client.learning.cohorts
            created = await cohorts.create(name="a")
            await cohorts.update(created.id, name="b")
            return (
                await raised_by(cohorts.get(UNKNOWN_ID)),
                await raised_by(cohorts.create(name="")),
                await raised_by(cohorts.update(created.id, name="c", expected_version=1)),
            )

    not_found, invalid, conflict = asyncio.run(scenario())

    assert isinstance(not_found, NotFound) and not_found.reason == "COHORT_NOT_FOUND"
    assert isinstance(invalid, InvalidArgument)
    assert [field for field, _ in invalid.violations] == ["cohort.name"]
    assert isinstance(conflict, Conflict) and conflict.current_version == 2


def test_async_client_with_a_bad_token_is_unauthenticated(target):
    async def scenario():
        async with AsyncClient(target, token="not-a-jwt") as client:
            await client.learning.cohorts.get(UNKNOWN_ID)

    with pytest.raises(Unauthenticated):
        asyncio.run(scenario())


def test_async_reads_are_retried_on_unavailable_and_writes_are_not(closed_port, tenant):
    tokens = Tokens(tenant)

    async def scenario():
        async with AsyncClient(
            f"127.0.0.1:{closed_port}",
            token_provider=tokens,
            default_timeout=2.0,
            retries=2,
            backoff=FAST_BACKOFF,
        ) as client:
            with pytest.raises(Unavailable):
                await anext(client.learning.cohorts.list())
            reads = tokens.calls
            with pytest.raises(Unavailable):
                await client.learning.cohorts.update(UNKNOWN_ID, name="a")
            return reads, tokens.calls - reads

    assert asyncio.run(scenario()) == (3, 1)


def test_async_create_whose_reply_was_lost_is_retried_with_the_same_request_id(target, tenant):
    lose_first = _AsyncLoseFirstCreateReply()
    tokens = Tokens(tenant)

    async def scenario():
        async with grpc.aio.insecure_channel(target, interceptors=[lose_first]) as channel:
            client = AsyncClient(channel=channel, token_provider=tokens, backoff=FAST_BACKOFF)
            created = await client.learning.cohorts.create(name="a")
            listed = [c async for c in client.learning.cohorts.list()]
            return created, listed

    created, listed = asyncio.run(scenario())

    assert len(lose_first.request_ids) == 2
    assert lose_first.request_ids[0] == lose_first.request_ids[1]
    assert _ids(listed) == [created.id]
    assert tokens.calls == 3  # two create attempts, one list page


# --- test doubles -------------------------------------------------------------------------


class _FakeRpcError(grpc.RpcError):
    """An RpcError as gRPC raises it, carrying a rich status built like the server's."""

    def __init__(self, code: grpc.StatusCode, message: str, *details) -> None:
        status = status_pb2.Status(code=code.value[0], message=message)
        for detail in details:
            status.details.add().Pack(detail)
        self._status = rpc_status.to_status(status)

    def code(self):
        return self._status.code

    def details(self):
        return self._status.details

    def trailing_metadata(self):
        return self._status.trailing_metadata


class _LostReply(grpc.RpcError):
    """UNAVAILABLE after the server replied: the connection dropped on the way back."""

    def code(self):
        return grpc.StatusCode.UNAVAILABLE

    def details(self):
        return "connection reset after the server replied (simulated)"

    def trailing_metadata(self):
        return None


class _LoseFirstCreateReply(grpc.UnaryUnaryClientInterceptor):
    """Lets the first CreateCohort reach the server and store its cohort, then loses the reply."""

    def __init__(self) -> None:
        self.request_ids: list[str] = []

    def intercept_unary_unary(self, continuation, client_call_details, request):
        outcome = continuation(client_call_details, request)
        if client_call_details.method.endswith("/CreateCohort"):
            self.request_ids.append(request.request_id)
            if len(self.request_ids) == 1:
                outcome.result()  # the server has stored the cohort
                raise _LostReply()
        return outcome


class _AsyncLoseFirstCreateReply(grpc.aio.UnaryUnaryClientInterceptor):
    """The grpc.aio twin of _LoseFirstCreateReply."""

    def __init__(self) -> None:
        self.request_ids: list[str] = []

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        call = await continuation(client_call_details, request)
        method = client_call_details.method
        if isinstance(method, bytes):
            method = method.decode()
        if method.endswith("/CreateCohort"):
            self.request_ids.append(request.request_id)
            if len(self.request_ids) == 1:
                await call  # the server has stored the cohort
                raise grpc.aio.AioRpcError(
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.aio.Metadata(),
                    grpc.aio.Metadata(),
                    details="connection reset after the server replied (simulated)",
                )
        return call
