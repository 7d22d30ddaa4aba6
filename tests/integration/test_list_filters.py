"""ListCohorts filter (AIP-160) and order_by (AIP-132) through the real gRPC server.

Most tests read one module-wide "zoo" of cohorts in a tenant of its own, whose
values straddle every pivot a test compares against, so every operator selects
a proper, non-empty subset. Expected results are computed here in plain Python
from the cohorts the server returned, never from the service's own parser or
SQL compiler.
"""

from __future__ import annotations

import functools
import operator
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2
from learning.v1 import cohort_pb2, cohort_service_pb2

from cohorts.domain.cohort import Cohort, CohortStatus, SourceType
from tests.fixtures.server import bearer, mint_token
from tests.integration._assertions import (
    assert_invalid_argument,
    bad_request,
    count_rows,
    error_info,
    rpc_error,
)
from tests.integration._domain import to_domain

Metadata = tuple[tuple[str, str], ...]

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

ORDERABLE = (
    "name",
    "start_date",
    "end_date",
    "created_at",
    "updated_at",
    "status",
    "session_count",
)


# --- building, listing and reading cohorts ------------------------------------------------


def _ts(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def day(text: str) -> datetime:
    """Midnight UTC of an ISO date."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rfc3339(value: datetime) -> str:
    """An RFC 3339 UTC timestamp with microseconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build(name: str, **fields: Any) -> cohort_pb2.Cohort:
    """A Cohort message; datetimes become Timestamps and metadata a Struct."""
    message = cohort_pb2.Cohort(name=name)
    for field, value in fields.items():
        if value is None:
            continue
        if field == "metadata":
            message.metadata.update(value)
        elif isinstance(value, datetime):
            getattr(message, field).CopyFrom(_ts(value))
        elif isinstance(value, list | tuple):
            getattr(message, field).extend(value)
        else:
            setattr(message, field, value)
    return message


def value_of(cohort: Cohort, field: str) -> Any:
    """A field's value, None when unset."""
    if field in ("app_id", "created_at", "updated_at", "created_by", "updated_by"):
        return getattr(cohort, field)
    return getattr(cohort.content, field)


def request(**fields: Any) -> cohort_service_pb2.ListCohortsRequest:
    return cohort_service_pb2.ListCohortsRequest(**fields)


def list_pages(
    stub: Any,
    auth: Metadata,
    *,
    filter: str = "",
    order_by: str = "",
    page_size: int = 1000,
    show_deleted: bool = False,
) -> list[cohort_pb2.Cohort]:
    """Every cohort ListCohorts returns, following next_page_token to the end."""
    result: list[cohort_pb2.Cohort] = []
    token = ""
    for _ in range(1000):
        page = stub.ListCohorts(
            request(
                filter=filter,
                order_by=order_by,
                page_size=page_size,
                page_token=token,
                show_deleted=show_deleted,
            ),
            metadata=auth,
        )
        assert len(page.cohorts) <= page_size
        result.extend(page.cohorts)
        token = page.next_page_token
        if not token:
            return result
    raise AssertionError("ListCohorts never returned an empty next_page_token")


def _compare(x: Any, y: Any) -> int:
    """Three-way comparison with an unset value below every set one."""
    if x is None or y is None:
        return (x is not None) - (y is not None)
    return (x > y) - (x < y)


def parse_order(order_by: str) -> list[tuple[str, bool]]:
    """(field, descending) per key; the documented default is `created_at desc`."""
    keys = []
    for part in order_by.split(","):
        words = part.split()
        if words:
            keys.append((words[0], len(words) > 1 and words[1] == "desc"))
    return keys or [("created_at", True)]


def python_order(cohorts: Iterable[Cohort], order_by: str) -> list[Cohort]:
    """Sorted as order_by asks: unset lowest, strings by code point, enums by number,
    then the id in the direction of the last key."""
    keys = parse_order(order_by)

    def compare(a: Cohort, b: Cohort) -> int:
        for field, descending in keys:
            result = _compare(value_of(a, field), value_of(b, field))
            if result:
                return -result if descending else result
        result = _compare(a.id, b.id)
        return -result if keys[-1][1] else result

    return sorted(cohorts, key=functools.cmp_to_key(compare))


def filter_error(stub: Any, auth: Metadata, text: str) -> str:
    """The one BadRequest description a bad filter is rejected with."""
    error = rpc_error(lambda: stub.ListCohorts(request(filter=text), metadata=auth))
    assert_invalid_argument(error, "filter")
    assert error_info(error).reason == "INVALID_FILTER"
    violations = bad_request(error).field_violations
    assert [v.field for v in violations] == ["filter"], violations
    return violations[0].description


def order_by_error(stub: Any, auth: Metadata, text: str) -> str:
    error = rpc_error(lambda: stub.ListCohorts(request(order_by=text), metadata=auth))
    assert_invalid_argument(error, "order_by")
    assert error_info(error).reason == "INVALID_ORDER_BY"
    violations = bad_request(error).field_violations
    assert [v.field for v in violations] == ["order_by"], violations
    return violations[0].description


def page_token_error(stub: Any, auth: Metadata, **fields: Any) -> grpc.RpcError:
    error = rpc_error(lambda: stub.ListCohorts(request(**fields), metadata=auth))
    assert_invalid_argument(error, "page_token")
    assert error_info(error).reason == "INVALID_PAGE_TOKEN"
    return error


def _new_tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


# --- the zoo --------------------------------------------------------------------------------

GRP = [f"grp-00000000-0000-4000-8000-00000000000{i}" for i in range(4)]
ASM = [f"asm-00000000-0000-4000-8000-00000000000{i}" for i in range(4)]
S = cohort_pb2  # enum names

# (creator sub, app_id or None, updater sub or None, message)
ZOO_ROWS: list[tuple[str, str | None, str | None, cohort_pb2.Cohort]] = [
    (
        "alice",
        None,
        None,
        build(
            "Spring 2027",
            program_id="p1",
            group_id=GRP[1],
            status=S.COHORT_STATUS_ACTIVE,
            source="crm",
            source_type=S.SOURCE_TYPE_BACKEND,
            session_count=10,
            completion_required_pct=80.0,
            current_completion_pct=12.5,
            start_date=day("2027-01-01"),
            end_date=day("2027-02-01"),
            tags=["beta", "evening"],
            facilitator_ids=["person-a"],
            assigned_assessment_ids=[ASM[1]],
            metadata={"room": "B2", "nested": {"floor": 2, "wing": "east"}},
        ),
    ),
    (
        "bob",
        "app-a",
        "dave",
        build(
            "Spring 2028",
            program_id="p2",
            group_id=GRP[2],
            status=S.COHORT_STATUS_SCHEDULED,
            source="lms",
            source_type=S.SOURCE_TYPE_FRONTEND,
            session_count=5,
            completion_required_pct=50.5,
            current_completion_pct=0.0,
            start_date=day("2027-03-01"),
            end_date=day("2027-06-01"),
            tags=["beta"],
            facilitator_ids=["person-b", "person-a"],
            assigned_assessment_ids=[ASM[2]],
            metadata={"room": "A1", "n": 3},
        ),
    ),
    # Everything optional left unset; source and source_type take their defaults.
    ("carol", "app-b", None, build("Summer", program_id="p3", group_id=GRP[3])),
    (
        "bob",
        "app-c",
        None,
        build(
            "autumn",
            program_id="p1",
            status=S.COHORT_STATUS_COMPLETED,
            source="crm",
            source_type=S.SOURCE_TYPE_SERVER,
            session_count=0,
            completion_required_pct=100.0,
            current_completion_pct=99.9,
            start_date=day("2027-06-01"),
            tags=["remote"],
            facilitator_ids=["person-c"],
            assigned_assessment_ids=[ASM[1], ASM[3]],
            metadata={"room": "b2", "flag": True},
        ),
    ),
    (
        "alice",
        "app-a",
        "dave",
        build(
            "Spring*",
            program_id="p2",
            group_id=GRP[2],
            status=S.COHORT_STATUS_ARCHIVED,
            source="edm",
            source_type=S.SOURCE_TYPE_SYSTEM,
            session_count=20,
            completion_required_pct=0.0,
            current_completion_pct=33.3,
            end_date=day("2027-03-01"),
            tags=["Beta"],
            metadata={"room": None, "nested": {"room": "B2"}},
        ),
    ),
    (
        "carol",
        None,
        None,
        build(
            'Say "hi"',
            group_id=GRP[1],
            status=S.COHORT_STATUS_ACTIVE,
            source="lms",
            source_type=S.SOURCE_TYPE_BACKEND,
            session_count=5,
            completion_required_pct=80.0,
            current_completion_pct=12.5,
            start_date=day("2027-01-01"),
            end_date=day("2027-01-01"),
            tags=["beta", "remote"],
            facilitator_ids=["person-b"],
            metadata={"n": 3.5, "list": ["B2", 1]},
        ),
    ),
    (
        "alice",
        "app-b",
        None,
        build(
            "back\\slash",
            program_id="p3",
            status=S.COHORT_STATUS_SCHEDULED,
            source="crm",
            source_type=S.SOURCE_TYPE_FRONTEND,
            completion_required_pct=50.5,
            start_date=day("2027-03-01"),
            tags=["evening"],
            metadata={"n": "3"},
        ),
    ),
    (
        "bob",
        None,
        "dave",
        build(
            "Ärger",
            program_id="p1",
            group_id=GRP[3],
            status=S.COHORT_STATUS_DRAFT,
            source="edm",
            source_type=S.SOURCE_TYPE_API,
            session_count=10,
            current_completion_pct=0.0,
            start_date=day("2027-06-01"),
            end_date=day("2027-12-31"),
            metadata={"room": "B2", "flag": False},
        ),
    ),
    (
        "carol",
        "app-c",
        None,
        build(
            "Spring%",
            program_id="p2",
            status=S.COHORT_STATUS_ACTIVE,
            source="lms",
            source_type=S.SOURCE_TYPE_SERVER,
            session_count=0,
            completion_required_pct=0.0,
            current_completion_pct=100.0,
            start_date=day("2027-01-01"),
            end_date=day("2027-03-01"),
            tags=["beta"],
            facilitator_ids=["person-a"],
            assigned_assessment_ids=[ASM[3]],
        ),
    ),
    (
        "alice",
        None,
        "bob",
        build(
            "Spring_",
            program_id="p3",
            group_id=GRP[1],
            status=S.COHORT_STATUS_COMPLETED,
            source="crm",
            source_type=S.SOURCE_TYPE_SYSTEM,
            session_count=20,
            completion_required_pct=100.0,
            current_completion_pct=50.0,
            metadata={"nested": {"floor": 3}},
        ),
    ),
    (
        "bob",
        "app-b",
        None,
        build(
            "x' OR 1=1 --",
            program_id="p1",
            group_id=GRP[2],
            status=S.COHORT_STATUS_ARCHIVED,
            source="lms",
            source_type=S.SOURCE_TYPE_BACKEND,
            session_count=5,
            completion_required_pct=80.0,
            current_completion_pct=12.5,
            start_date=day("2027-03-01"),
            end_date=day("2027-03-01"),
        ),
    ),
    (
        "carol",
        "app-a",
        None,
        build(
            "Spring/Fall",
            program_id="p2",
            group_id=GRP[3],
            status=S.COHORT_STATUS_SCHEDULED,
            source="edm",
            source_type=S.SOURCE_TYPE_FRONTEND,
            current_completion_pct=33.3,
            start_date=day("2027-06-01"),
            end_date=day("2027-06-02"),
            tags=["evening", "beta"],
        ),
    ),
]


@dataclass
class Zoo:
    tenant: str
    auth: Metadata  # a person in the tenant: sees every app's cohorts
    cohorts: list[Cohort]  # as the server returned them, in creation order

    @property
    def names(self) -> set[str]:
        return {c.content.name for c in self.cohorts}

    def where(self, predicate: Callable[[Cohort], bool]) -> set[str]:
        return {c.content.name for c in self.cohorts if predicate(c)}

    def by_name(self, name: str) -> Cohort:
        return next(c for c in self.cohorts if c.content.name == name)

    def app(self, app: str) -> Metadata:
        return bearer(mint_token(tenant=self.tenant, sub="app-caller", app=app))


@pytest.fixture(scope="module")
def zoo(stub: Any) -> Zoo:
    tenant = _new_tenant()
    cohorts = []
    for sub, app, updater, message in ZOO_ROWS:
        created = stub.CreateCohort(
            cohort_service_pb2.CreateCohortRequest(cohort=message),
            metadata=bearer(mint_token(tenant=tenant, sub=sub, app=app)),
        )
        if updater is not None:
            change = cohort_pb2.Cohort(id=created.id, program_id=created.program_id)
            created = stub.UpdateCohort(
                cohort_service_pb2.UpdateCohortRequest(
                    cohort=change, update_mask=field_mask_pb2.FieldMask(paths=["program_id"])
                ),
                metadata=bearer(mint_token(tenant=tenant, sub=updater)),
            )
        cohorts.append(to_domain(created))
    assert len({c.content.name for c in cohorts}) == len(cohorts)
    return Zoo(tenant, bearer(mint_token(tenant=tenant, sub="lister")), cohorts)


def names(stub: Any, auth: Metadata, text: str, **fields: Any) -> set[str]:
    """The names of every cohort the filter returns (names are unique in the zoo)."""
    listed = list_pages(stub, auth, filter=text, **fields)
    result = [c.name for c in listed]
    assert len(result) == len(set(result)), f"duplicates in {result}"
    return set(result)


# --- every comparison operator on every comparable field ----------------------------------


def _pivot(zoo: Zoo, field: str) -> tuple[str, Any]:
    """(literal as written in a filter, the Python value it stands for)."""
    fixed: dict[str, tuple[str, Any]] = {
        "name": ('"Spring 2028"', "Spring 2028"),
        "program_id": ('"p2"', "p2"),
        "group_id": (f'"{GRP[2]}"', GRP[2]),
        "status": ("COHORT_STATUS_SCHEDULED", CohortStatus.SCHEDULED),
        "source": ('"edm"', "edm"),
        "source_type": ("SOURCE_TYPE_SERVER", SourceType.SERVER),
        "app_id": ('"app-b"', "app-b"),
        "session_count": ("5", 5),
        "completion_required_pct": ("80", 80.0),
        "current_completion_pct": ("33.3", 33.3),
        "start_date": ('"2027-03-01T00:00:00Z"', day("2027-03-01")),
        "end_date": ('"2027-03-01T00:00:00Z"', day("2027-03-01")),
        "created_by": ('"bob"', "bob"),
        "updated_by": ('"bob"', "bob"),
    }
    if field in fixed:
        return fixed[field]
    # created_at / updated_at: a value the server stored, from the middle of the zoo.
    value = getattr(zoo.cohorts[6], field)
    return f'"{rfc3339(value)}"', value


COMPARABLE = (
    "name",
    "program_id",
    "group_id",
    "status",
    "source",
    "source_type",
    "app_id",
    "session_count",
    "completion_required_pct",
    "current_completion_pct",
    "start_date",
    "end_date",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
)
NULLABLE = {
    "app_id",
    "session_count",
    "completion_required_pct",
    "current_completion_pct",
    "start_date",
    "end_date",
}


@pytest.mark.parametrize("op", list(OPERATORS))
@pytest.mark.parametrize("field", COMPARABLE)
def test_every_comparison_operator_on_every_field(stub, zoo, field, op):
    literal, pivot = _pivot(zoo, field)
    expected = zoo.where(
        lambda c: value_of(c, field) is not None and OPERATORS[op](value_of(c, field), pivot)
    )
    # The zoo straddles the pivot, so each operator picks a proper, non-empty subset.
    assert expected and expected != zoo.names

    assert names(stub, zoo.auth, f"{field} {op} {literal}") == expected
    # NOT is the exact complement: it includes the rows where the field is unset.
    assert names(stub, zoo.auth, f"NOT {field} {op} {literal}") == zoo.names - expected


@pytest.mark.parametrize("field", sorted(NULLABLE))
def test_comparisons_never_match_an_unset_field_but_their_negation_does(stub, zoo, field):
    unset = zoo.where(lambda c: value_of(c, field) is None)
    assert unset and unset != zoo.names
    literal, _ = _pivot(zoo, field)

    for op in OPERATORS:
        assert not names(stub, zoo.auth, f"{field} {op} {literal}") & unset, op
        assert unset <= names(stub, zoo.auth, f"-{field} {op} {literal}"), op


def test_strings_compare_by_code_point(stub, zoo):
    # In code point order "Z" < "a" < "z" < "Ä"; a linguistic collation would differ.
    assert names(stub, zoo.auth, 'name > "z"') == {"Ärger"}
    assert names(stub, zoo.auth, 'name >= "a" AND name < "c"') == {"autumn", "back\\slash"}
    assert names(stub, zoo.auth, 'name < "a"') == zoo.names - {"autumn", "back\\slash"} - {
        "x' OR 1=1 --",
        "Ärger",
    }
    assert names(stub, zoo.auth, 'name = "\u00c4rger"') == {"Ärger"}


def test_enums_compare_by_number_and_take_short_names(stub, zoo):
    # DRAFT=1 < SCHEDULED=2 < ACTIVE=3 < COMPLETED=4 < ARCHIVED=5 (not alphabetical).
    below_active = zoo.where(lambda c: c.content.status < CohortStatus.ACTIVE)
    assert names(stub, zoo.auth, "status < COHORT_STATUS_ACTIVE") == below_active
    assert names(stub, zoo.auth, "status < ACTIVE") == below_active
    assert names(stub, zoo.auth, "status > COMPLETED") == {"Spring*", "x' OR 1=1 --"}
    assert names(stub, zoo.auth, "source_type >= SOURCE_TYPE_SYSTEM") == zoo.where(
        lambda c: c.content.source_type >= SourceType.SYSTEM
    )
    # Defaults are stored values: an empty status is DRAFT, an empty source_type API.
    assert "Summer" in names(stub, zoo.auth, "status = DRAFT AND source_type = API")
    assert "Summer" in names(stub, zoo.auth, 'source = "edm"')


def test_numbers_are_compared_as_numbers(stub, zoo):
    assert names(stub, zoo.auth, "completion_required_pct = 80.0") == names(
        stub, zoo.auth, "completion_required_pct = 80"
    )
    assert names(stub, zoo.auth, "completion_required_pct >= 8e1") == zoo.where(
        lambda c: (c.content.completion_required_pct or -1) >= 80
    )
    assert names(stub, zoo.auth, "current_completion_pct < 0.5") == zoo.where(
        lambda c: c.content.current_completion_pct == 0
    )
    assert names(stub, zoo.auth, "session_count > -1") == zoo.where(
        lambda c: c.content.session_count is not None
    )


@pytest.mark.parametrize(
    ("text", "matches_set_rows"),
    [
        ("session_count < 2147483648", True),
        ("session_count <= 9223372036854775807", True),
        ("session_count > -2147483649", True),
        ("session_count > 2147483648", False),
        ("session_count = 9223372036854775807", False),
    ],
)
def test_integer_literals_beyond_int32_compare_or_are_rejected_never_internal(
    stub, zoo, text, matches_set_rows
):
    # session_count is an int32; a wider literal must either compare as the number it
    # is or be INVALID_ARGUMENT naming the literal, never fail inside the database.
    try:
        result = names(stub, zoo.auth, text)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
        description = filter_error(stub, zoo.auth, text)
        assert text.split()[-1] in description and "position 17" in description, description
        return
    set_rows = zoo.where(lambda c: c.content.session_count is not None)
    assert result == (set_rows if matches_set_rows else set())


def test_timestamp_literals_in_any_rfc3339_spelling(stub, zoo):
    new_year = zoo.where(lambda c: c.content.start_date == day("2027-01-01"))
    assert new_year == {"Spring 2027", 'Say "hi"', "Spring%"}
    assert names(stub, zoo.auth, 'start_date = "2027-01-01T02:00:00+02:00"') == new_year
    assert names(stub, zoo.auth, 'start_date = "2026-12-31T19:00:00-05:00"') == new_year
    assert names(stub, zoo.auth, 'start_date = "2027-01-01t00:00:00z"') == new_year
    assert names(stub, zoo.auth, 'start_date < "2027-01-01T00:00:00.000001Z"') == new_year
    assert names(stub, zoo.auth, 'start_date < "2027-01-01T00:00:00Z"') == set()


def test_created_at_matches_to_the_microsecond(stub, zoo):
    row = zoo.cohorts[4]
    at = rfc3339(row.created_at)
    one_us = rfc3339(row.created_at + timedelta(microseconds=1))
    assert names(stub, zoo.auth, f'created_at = "{at}"') == {row.content.name}
    assert names(stub, zoo.auth, f'created_at >= "{at}" AND created_at < "{one_us}"') == {
        row.content.name
    }
    assert row.content.name not in names(stub, zoo.auth, f'created_at > "{at}"')


def _nanoseconds(value: datetime) -> int:
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


@pytest.mark.parametrize("op", list(OPERATORS))
@pytest.mark.parametrize("field", ["created_at", "start_date"])
def test_sub_microsecond_digits_of_a_timestamp_literal_are_not_dropped(stub, zoo, field, op):
    # RFC 3339 (and protobuf's JSON) allow nanoseconds. Stored values have microsecond
    # precision, so for a stored T: T < T + 500ns, T != T + 500ns, and never T = T + 500ns.
    base = value_of(zoo.cohorts[1], field)  # start_date 2027-03-01, shared by others
    literal = rfc3339(base)[:-1] + "500Z"
    at = _nanoseconds(base) + 500
    expected = zoo.where(
        lambda c: (
            value_of(c, field) is not None and OPERATORS[op](_nanoseconds(value_of(c, field)), at)
        )
    )

    assert names(stub, zoo.auth, f'{field} {op} "{literal}"') == expected
    assert names(stub, zoo.auth, f'NOT {field} {op} "{literal}"') == zoo.names - expected


# --- `:` on lists and metadata ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('tags:"beta"', {"Spring 2027", "Spring 2028", 'Say "hi"', "Spring%", "Spring/Fall"}),
        ('tags:"Beta"', {"Spring*"}),
        ('tags:"remote"', {"autumn", 'Say "hi"'}),
        ('tags:"bet"', set()),
        (
            "tags:*",
            {
                "Spring 2027",
                "Spring 2028",
                "autumn",
                "Spring*",
                'Say "hi"',
                "back\\slash",
                "Spring%",
                "Spring/Fall",
            },
        ),
        ("NOT tags:*", {"Summer", "Ärger", "Spring_", "x' OR 1=1 --"}),
        ('facilitator_ids:"person-a"', {"Spring 2027", "Spring 2028", "Spring%"}),
        ('facilitator_ids:"person-c"', {"autumn"}),
        (
            "facilitator_ids:*",
            {"Spring 2027", "Spring 2028", "autumn", 'Say "hi"', "Spring%"},
        ),
        (f'assigned_assessment_ids:"{ASM[1]}"', {"Spring 2027", "autumn"}),
        (f'assigned_assessment_ids:"{ASM[3]}"', {"autumn", "Spring%"}),
        (f'assigned_assessment_ids:"{ASM[0]}"', set()),
        ("assigned_assessment_ids:*", {"Spring 2027", "Spring 2028", "autumn", "Spring%"}),
    ],
)
def test_has_on_repeated_fields(stub, zoo, text, expected):
    assert names(stub, zoo.auth, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('metadata.room:"B2"', {"Spring 2027", "Ärger"}),
        ('metadata.room:"b2"', {"autumn"}),
        ('metadata.room:"A1"', {"Spring 2028"}),
        ("metadata.room:*", {"Spring 2027", "Spring 2028", "autumn", "Spring*", "Ärger"}),
        ("metadata.room:null", {"Spring*"}),
        (
            "-metadata.room:*",
            {"Summer", 'Say "hi"', "back\\slash", "Spring%", "Spring_"}
            | {"x' OR 1=1 --", "Spring/Fall"},
        ),
        ("metadata.nested:*", {"Spring 2027", "Spring*", "Spring_"}),
        ("metadata.nested.floor:2", {"Spring 2027"}),
        ("metadata.nested.floor:2.0", {"Spring 2027"}),
        ("metadata.nested.floor:*", {"Spring 2027", "Spring_"}),
        ('metadata.nested.room:"B2"', {"Spring*"}),
        ('metadata.nested.wing:"east"', {"Spring 2027"}),
        ("metadata.n:3", {"Spring 2028"}),
        ("metadata.n:3.5", {'Say "hi"'}),
        ('metadata.n:"3"', {"back\\slash"}),
        ("metadata.n:*", {"Spring 2028", 'Say "hi"', "back\\slash"}),
        ("metadata.flag:true", {"autumn"}),
        ("metadata.flag:false", {"Ärger"}),
        ("metadata.flag:*", {"autumn", "Ärger"}),
        # A list is not its element, a string has no keys, a list has no text keys.
        ('metadata.list:"B2"', set()),
        ("metadata.list:*", {'Say "hi"'}),
        ("metadata.list.0:*", set()),
        ("metadata.room.x:*", set()),
        ("metadata.missing:*", set()),
        ('metadata.nested:"B2"', set()),
    ],
)
def test_has_on_metadata_keys(stub, zoo, text, expected):
    assert names(stub, zoo.auth, text) == expected


@pytest.mark.parametrize(
    ("text", "has"),
    [
        ("metadata.nested.floor:*", {"Spring 2027", "Spring_"}),
        ("metadata.room.x:*", set()),
        ("metadata.missing.deeper:*", set()),
    ],
)
def test_not_has_on_a_nested_key_is_every_other_cohort(stub, zoo, text, has):
    # A cohort whose metadata lacks the parent object does not have the key,
    # so its negation holds there (found by test_list_property).
    everyone = names(stub, zoo.auth, "")
    assert has <= everyone
    assert names(stub, zoo.auth, f"-{text}") == everyone - has
    assert names(stub, zoo.auth, f"NOT ({text})") == everyone - has


# --- AND / OR / NOT / - / parentheses and precedence --------------------------------------


def _p1(c: Cohort) -> bool:
    return c.content.program_id == "p1"


def _active(c: Cohort) -> bool:
    return c.content.status == CohortStatus.ACTIVE


def _beta(c: Cohort) -> bool:
    return "beta" in c.content.tags


A, B, C = 'program_id = "p1"', "status = COHORT_STATUS_ACTIVE", 'tags:"beta"'


@pytest.mark.parametrize(
    ("text", "predicate"),
    [
        (f"{A} AND {B}", lambda c: _p1(c) and _active(c)),
        (f"{A} {B}", lambda c: _p1(c) and _active(c)),  # juxtaposition is AND
        (f"{A} OR {C}", lambda c: _p1(c) or _beta(c)),
        (f"NOT {A}", lambda c: not _p1(c)),
        (f"-{A}", lambda c: not _p1(c)),
        (f"NOT NOT {A}", _p1),
        (f"- -{A}", _p1),
        (f"NOT ({A} OR {C})", lambda c: not (_p1(c) or _beta(c))),
        (f"-({A} AND {B})", lambda c: not (_p1(c) and _active(c))),
        (f"(({A}))", _p1),
        # OR binds tighter than AND: `a AND b OR c` is `a AND (b OR c)`.
        (f"{A} AND {B} OR {C}", lambda c: _p1(c) and (_active(c) or _beta(c))),
        (f"{C} OR {B} AND {A}", lambda c: (_beta(c) or _active(c)) and _p1(c)),
        (f"{A} {B} OR {C}", lambda c: _p1(c) and (_active(c) or _beta(c))),
        (f"({A} AND {B}) OR {C}", lambda c: (_p1(c) and _active(c)) or _beta(c)),
        (f"{A} AND ({B} OR {C})", lambda c: _p1(c) and (_active(c) or _beta(c))),
        # NOT binds tighter than OR.
        (f"NOT {A} OR {C}", lambda c: (not _p1(c)) or _beta(c)),
        (f"-{A} OR {C}", lambda c: (not _p1(c)) or _beta(c)),
        (f"{C} OR -{A} {B}", lambda c: (_beta(c) or not _p1(c)) and _active(c)),
    ],
)
def test_boolean_combinations(stub, zoo, text, predicate):
    assert names(stub, zoo.auth, text) == zoo.where(predicate)


def test_the_two_readings_of_a_and_b_or_c_differ_on_the_data(stub, zoo):
    aip160 = zoo.where(lambda c: _p1(c) and (_active(c) or _beta(c)))
    other = zoo.where(lambda c: (_p1(c) and _active(c)) or _beta(c))
    # Rows with tags:"beta" outside programme p1 tell the readings apart.
    assert aip160 != other
    assert aip160 == {"Spring 2027"}

    assert names(stub, zoo.auth, f"{A} AND {B} OR {C}") == aip160
    assert names(stub, zoo.auth, f"{C} OR {A} AND {B}") == zoo.where(
        lambda c: (_beta(c) or _p1(c)) and _active(c)
    )


# --- literals: escaping, prefixes, SQL-looking text ---------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "Say \\"hi\\""', {'Say "hi"'}),
        ('name = "back\\\\slash"', {"back\\slash"}),
        ('name = "back\\\\*"', {"back\\slash"}),
        ('name = "Spring\\*"', {"Spring*"}),
        ('name = "Spring\\**"', {"Spring*"}),
        (
            'name = "Spring*"',
            {"Spring 2027", "Spring 2028", "Spring*", "Spring%", "Spring_", "Spring/Fall"},
        ),
        ('name = "Spring 202*"', {"Spring 2027", "Spring 2028"}),
        ('name = "Spring%*"', {"Spring%"}),
        ('name = "Spring_*"', {"Spring_"}),
        ('name = "Spring/*"', {"Spring/Fall"}),
        ('name = "%*"', set()),
        ('name = "Spr"', set()),
        ('name = "Spring"', set()),
        ('name = "Spring%"', {"Spring%"}),
        ('name = "Say \\"*"', {'Say "hi"'}),
    ],
)
def test_escapes_and_prefixes(stub, zoo, text, expected):
    assert names(stub, zoo.auth, text) == expected


def test_a_negated_prefix_is_the_complement(stub, zoo):
    spring = names(stub, zoo.auth, 'name = "Spring*"')
    assert names(stub, zoo.auth, 'name != "Spring*"') == zoo.names - spring
    assert names(stub, zoo.auth, 'name = "*"') == zoo.names
    assert names(stub, zoo.auth, 'name != "*"') == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "x\' OR 1=1 --"', {"x' OR 1=1 --"}),
        ("name = \"nope' OR '1'='1\"", set()),
        ('name = "x\\"; DROP TABLE cohorts; --"', set()),
        ("name = \"'; DELETE FROM cohorts WHERE ''='\"", set()),
        ("tags:\"beta' OR 'x'='x\"", set()),
        ("metadata.room:\"B2' OR '1'='1\"", set()),
        ('name = "%"', set()),
        ('name != "x\' OR 1=1 --"', None),  # everything but that row
    ],
)
def test_sql_looking_literals_are_data(stub, zoo, db, text, expected):
    result = names(stub, zoo.auth, text)
    if expected is None:
        expected = zoo.names - {"x' OR 1=1 --"}
    assert result == expected
    assert count_rows(db, zoo.tenant) == len(zoo.cohorts)


def test_a_filter_at_the_length_limit_is_accepted(stub, zoo):
    text = 'name = "' + "x" * (2000 - len('name = ""')) + '"'
    assert len(text) == 2000
    assert names(stub, zoo.auth, text) == set()


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        # syntax errors
        ("name = ", ["`=`", "position 6"]),
        ('name = "a" AND', ["`AND`", "position 12"]),
        ('name "a"', ["`name`", "position 1", '`"a"`', "position 6"]),
        ('(name = "a"', ["`(`", "position 1"]),
        ('name = "a")', ["`)`", "position 11"]),
        ("name = 'a'", ["`'`", "position 8"]),
        ('name = "a" OR OR name = "b"', ["`OR`", "position 15"]),
        ('name = "a" OR "1"="1"', ['`"1"`', "position 15"]),
        ('AND name = "a"', ["`AND`", "position 1"]),
        ('name = "abc', ["string", "position 8"]),
        ('name == "a"', ["found `=`", "position 6"]),
        ('name = "a" ; name = "b"', ["`;`", "position 12"]),
        # unknown fields, including ones that would widen the scope
        ('tenant_id = "other"', ["`tenant_id`", "position 1"]),
        ("is_deleted = true", ["`is_deleted`", "position 1"]),
        ('deleted_by = ""', ["`deleted_by`", "position 1"]),
        ('id = "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R"', ["`id`", "position 1"]),
        ('name = "a" AND nmae = "b"', ["`nmae`", "position 16"]),
        ('name.first = "a"', ["`name.first`", "position 1"]),
        # operators that do not fit the field
        ('tags = "beta"', ["`=`", "`tags`", "position 6"]),
        ('facilitator_ids != "p"', ["`!=`", "`facilitator_ids`", "position 17"]),
        ('name:"a"', ["`:`", "`name`", "position 5"]),
        ("session_count:5", ["`:`", "`session_count`", "position 14"]),
        ('metadata.room = "B2"', ["`=`", "`metadata.room`", "position 15"]),
        ('metadata:"B2"', ["`metadata`", "position 1"]),
        # literals of the wrong type
        ('session_count = "5"', ['`"5"`', "position 17"]),
        ("session_count = 1.5", ["`1.5`", "position 17"]),
        ("name = Summer", ["`Summer`", "position 8"]),
        ('completion_required_pct > "80"', ['`"80"`', "position 27"]),
        ('start_date > "yesterday"', ['`"yesterday"`', "position 14"]),
        ('start_date > "2027-01-01"', ['`"2027-01-01"`', "position 14"]),
        ('start_date > "2027-02-30T00:00:00Z"', ['`"2027-02-30T00:00:00Z"`', "position 14"]),
        ("start_date > 2027", ["`2027`", "position 14"]),
        ('status = "COHORT_STATUS_ACTIVE"', ['`"COHORT_STATUS_ACTIVE"`', "position 10"]),
        ("status = COHORT_STATUS_NOPE", ["`COHORT_STATUS_NOPE`", "position 10"]),
        ("status = 3", ["`3`", "position 10"]),
        ("source_type = COHORT_STATUS_ACTIVE", ["`COHORT_STATUS_ACTIVE`", "position 15"]),
        ("tags:beta", ["`beta`", "position 6"]),
        ("metadata.room:B2", ["`B2`", "position 15"]),
        ("current_completion_pct < 1e999", ["`1e999`", "position 26"]),
    ],
)
def test_each_error_class_names_the_position_and_the_token(stub, zoo, text, mentions):
    description = filter_error(stub, zoo.auth, text)
    for mention in mentions:
        assert mention in description, (mention, description)


def test_a_filter_over_the_length_limit_is_invalid_argument(stub, zoo):
    text = 'name = "' + "x" * (2001 - len('name = ""')) + '"'
    description = filter_error(stub, zoo.auth, text)
    assert "2001" in description and "2000" in description, description


def test_parentheses_nested_too_deep_are_invalid_argument(stub, zoo):
    deepest = "(" * 20 + 'name = "a"' + ")" * 20
    assert names(stub, zoo.auth, deepest) == set()

    description = filter_error(stub, zoo.auth, "(" * 21 + 'name = "a"' + ")" * 21)
    assert "`(`" in description and "position 21" in description, description


def test_not_nested_too_deep_is_invalid_argument(stub, zoo):
    assert names(stub, zoo.auth, "NOT " * 20 + 'name != "a"') == zoo.names  # 20 is even

    description = filter_error(stub, zoo.auth, "NOT " * 21 + 'name = "a"')
    assert "`NOT`" in description and "position 81" in description, description
    description = filter_error(stub, zoo.auth, "-" * 21 + 'name = "a"')
    assert "`-`" in description and "position 21" in description, description


def test_too_many_restrictions_are_invalid_argument(stub, zoo):
    assert names(stub, zoo.auth, " OR ".join(['name = "a"'] * 100)) == set()

    text = " OR ".join(['name = "a"'] * 101)
    description = filter_error(stub, zoo.auth, text)
    assert "101" in description and f"position {100 * 14 + 1}" in description, description


# --- order_by -------------------------------------------------------------------------------


def listed_order(stub: Any, auth: Metadata, order_by: str, **fields: Any) -> list[str]:
    return [c.id for c in list_pages(stub, auth, order_by=order_by, **fields)]


@pytest.mark.parametrize("direction", ["", " desc"])
@pytest.mark.parametrize("field", ORDERABLE)
def test_order_by_each_orderable_field(stub, zoo, field, direction):
    order_by = field + direction
    expected = [c.id for c in python_order(zoo.cohorts, order_by)]

    assert listed_order(stub, zoo.auth, order_by) == expected


def test_the_orders_are_discriminating(zoo):
    # Sanity for the test above: ties and unset values exist where they matter.
    for field in ("status", "session_count", "start_date", "end_date"):
        values = [value_of(c, field) for c in zoo.cohorts]
        assert len(set(values)) < len(values), field
    for field in ("session_count", "start_date", "end_date"):
        assert None in [value_of(c, field) for c in zoo.cohorts], field


def test_unset_values_sort_first_ascending_and_last_descending(stub, zoo):
    unset = {c.id for c in zoo.cohorts if c.content.start_date is None}
    ascending = listed_order(stub, zoo.auth, "start_date")
    descending = listed_order(stub, zoo.auth, "start_date desc")
    assert set(ascending[: len(unset)]) == unset
    assert set(descending[-len(unset) :]) == unset


def test_the_default_order_is_newest_first_by_created_at(stub, zoo):
    expected = [c.id for c in sorted(zoo.cohorts, key=lambda c: (c.created_at, c.id))][::-1]
    assert listed_order(stub, zoo.auth, "") == expected
    assert listed_order(stub, zoo.auth, "created_at desc") == expected


@pytest.mark.parametrize(
    "order_by",
    [
        "status, name desc",
        "status desc, name",
        "session_count desc, start_date",
        "end_date desc, status desc, name",
        "status, session_count",
        "status desc, session_count desc",
        "start_date, end_date desc, updated_at",
        "session_count, status, created_at desc",
    ],
)
def test_order_by_several_keys(stub, zoo, order_by):
    expected = [c.id for c in python_order(zoo.cohorts, order_by)]
    assert listed_order(stub, zoo.auth, order_by) == expected


def test_order_by_spelling_variants(stub, zoo):
    assert listed_order(stub, zoo.auth, "name asc") == listed_order(stub, zoo.auth, "name")
    assert listed_order(stub, zoo.auth, "  start_date   desc ,name ") == listed_order(
        stub, zoo.auth, "start_date desc, name"
    )


@pytest.mark.parametrize(
    ("order_by", "mentions"),
    [
        ("tags", ["`tags`", "position 1"]),
        ("program_id", ["`program_id`", "position 1"]),
        ("nope", ["`nope`", "position 1"]),
        ("tenant_id", ["`tenant_id`", "position 1"]),
        ("name sideways", ["`sideways`", "position 6"]),
        ("name, name", ["`name`", "position 7"]),
        ("name,", ["`,`", "position 5"]),
        (",name", ["`,`", "position 1"]),
        ("name desc extra", ["`extra`", "position 11"]),
        ("name; DROP TABLE cohorts", ["`name;`", "position 1"]),
        ("name desc, status asc, nope desc", ["`nope`", "position 24"]),
    ],
)
def test_a_bad_order_by_is_invalid_argument(stub, zoo, order_by, mentions):
    description = order_by_error(stub, zoo.auth, order_by)
    for mention in mentions:
        assert mention in description, (mention, description)


# --- paging with filter and order ---------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 2])
@pytest.mark.parametrize(
    ("text", "order_by"),
    [
        ("", ""),
        ("", "start_date"),
        ("", "start_date desc"),
        ("", "session_count"),
        ("", "session_count desc, name"),
        ("", "start_date desc, name"),
        ("", "end_date, status desc"),
        ("", "status, session_count desc, end_date"),
        ("", "updated_at desc"),
        ('NOT program_id = "p1"', "status desc, session_count, name desc"),
        ('name = "Spring*"', "name desc"),
        ("tags:* OR session_count >= 0", "session_count desc, name"),
        ('tags:"beta" OR metadata.room:*', "end_date desc, created_at"),
        ("completion_required_pct >= 50 OR NOT current_completion_pct > 0", "start_date, name"),
    ],
)
def test_paging_returns_every_match_exactly_once(stub, zoo, text, order_by, page_size):
    expected = [
        c.id
        for c in python_order(zoo.cohorts, order_by)
        if c.content.name in _python_filter(zoo, text)
    ]
    paged = [
        c.id
        for c in list_pages(stub, zoo.auth, filter=text, order_by=order_by, page_size=page_size)
    ]

    assert len(paged) == len(set(paged))
    assert paged == expected
    assert paged == listed_order(stub, zoo.auth, order_by, filter=text)


def _python_filter(zoo: Zoo, text: str) -> set[str]:
    """The handful of filters the paging test uses, spelled out in Python."""
    predicates: dict[str, Callable[[Cohort], bool]] = {
        "": lambda c: True,
        'NOT program_id = "p1"': lambda c: c.content.program_id != "p1",
        'name = "Spring*"': lambda c: c.content.name.startswith("Spring"),
        "tags:* OR session_count >= 0": lambda c: (
            bool(c.content.tags) or c.content.session_count is not None
        ),
        'tags:"beta" OR metadata.room:*': lambda c: (
            "beta" in c.content.tags or "room" in c.content.metadata
        ),
        "completion_required_pct >= 50 OR NOT current_completion_pct > 0": lambda c: (
            (c.content.completion_required_pct or -1) >= 50
            or not (c.content.current_completion_pct or 0) > 0
        ),
    }
    return zoo.where(predicates[text])


def test_paging_with_show_deleted_and_a_filter(stub, auth, tenant):
    created = [
        stub.CreateCohort(
            cohort_service_pb2.CreateCohortRequest(
                cohort=build(f"d{i}", session_count=i % 3, tags=["t"] if i % 2 else [])
            ),
            metadata=auth,
        )
        for i in range(7)
    ]
    for c in created[::3]:
        stub.DeleteCohort(cohort_service_pb2.DeleteCohortRequest(id=c.id), metadata=auth)
    text, order_by = "tags:* OR session_count = 0", "session_count desc, name"
    every = [to_domain(c) for c in list_pages(stub, auth, show_deleted=True)]
    wanted = [c for c in every if c.content.tags or c.content.session_count == 0]

    with_deleted = list_pages(
        stub, auth, filter=text, order_by=order_by, page_size=2, show_deleted=True
    )
    live = list_pages(stub, auth, filter=text, order_by=order_by, page_size=2)

    assert [c.id for c in with_deleted] == [c.id for c in python_order(wanted, order_by)]
    assert [c.id for c in live] == [
        c.id for c in python_order(wanted, order_by) if not c.is_deleted
    ]
    assert any(c.is_deleted for c in with_deleted)


def test_a_page_token_is_bound_to_its_filter_order_and_scope(stub, zoo):
    first = stub.ListCohorts(
        request(filter="tags:*", order_by="name", page_size=2), metadata=zoo.auth
    )
    token = first.next_page_token
    assert token

    # The same query continues.
    follow = stub.ListCohorts(
        request(filter="tags:*", order_by="name", page_size=2, page_token=token),
        metadata=zoo.auth,
    )
    assert follow.cohorts

    page_token_error(stub, zoo.auth, filter="NOT tags:*", order_by="name", page_token=token)
    page_token_error(stub, zoo.auth, filter="", order_by="name", page_token=token)
    page_token_error(stub, zoo.auth, filter="tags:*", order_by="name desc", page_token=token)
    page_token_error(stub, zoo.auth, filter="tags:*", order_by="", page_token=token)
    page_token_error(stub, zoo.auth, filter="tags:*", order_by="name, status", page_token=token)
    page_token_error(
        stub, zoo.auth, filter="tags:*", order_by="name", page_token=token, show_deleted=True
    )
    page_token_error(stub, zoo.app("app-a"), filter="tags:*", order_by="name", page_token=token)
    other_tenant = bearer(mint_token(tenant=_new_tenant(), sub="lister"))
    page_token_error(stub, other_tenant, filter="tags:*", order_by="name", page_token=token)


@pytest.mark.parametrize(
    "order_by", ["name", "name desc", "session_count desc, name", "", "created_at"]
)
def test_rows_inserted_and_deleted_between_pages_cause_no_duplicates_or_skips(
    stub, auth, auth_for, tenant, order_by
):
    other = auth_for(tenant, sub="someone-else")

    def add(name: str, metadata: Metadata) -> Cohort:
        message = build(name, session_count=int(name[1:]) % 3)
        return to_domain(
            stub.CreateCohort(
                cohort_service_pb2.CreateCohortRequest(cohort=message), metadata=metadata
            )
        )

    originals = {c.id: c for c in (add(f"n{i:02d}", auth) for i in range(2, 26, 2))}
    inserted: dict[str, Cohort] = {}
    deleted_unseen: set[str] = set()
    deleted: set[str] = set()
    seen: list[cohort_pb2.Cohort] = []
    token = ""
    text = 'name = "n*"'
    for step in range(100):
        page = stub.ListCohorts(
            request(filter=text, order_by=order_by, page_size=3, page_token=token),
            metadata=auth,
        )
        seen.extend(page.cohorts)
        token = page.next_page_token
        if not token:
            break
        if step >= 4:
            continue
        # Another caller inserts a row that sorts early, one that sorts late, and
        # deletes one row already returned and one not yet returned.
        for name in (f"n{2 * step + 1:02d}", f"n{51 + step:02d}"):
            row = add(name, other)
            inserted[row.id] = row
        seen_ids = {c.id for c in seen}
        unseen = sorted(i for i in originals if i not in seen_ids and i not in deleted)
        done = sorted(i for i in originals if i in seen_ids and i not in deleted)
        for victim in unseen[1:2] + done[:1]:
            stub.DeleteCohort(cohort_service_pb2.DeleteCohortRequest(id=victim), metadata=other)
            deleted.add(victim)
            if victim not in seen_ids:
                deleted_unseen.add(victim)
    assert deleted_unseen, "the scenario deleted no row ahead of the cursor"

    ids = [c.id for c in seen]
    assert len(ids) == len(set(ids)), "a row was returned twice"
    survivors = set(originals) - deleted
    assert survivors <= set(ids), "a row that existed throughout was skipped"
    assert not deleted_unseen & set(ids), "a row deleted before it was reached was returned"
    assert set(ids) <= set(originals) | set(inserted)
    # Whatever was returned came in the requested order.
    returned = [to_domain(c) for c in seen]
    assert ids == [c.id for c in python_order(returned, order_by)]


# --- scope ----------------------------------------------------------------------------------


def test_a_filter_on_another_app_returns_nothing_to_an_app_caller(stub, zoo):
    app_a = zoo.app("app-a")
    mine = zoo.where(lambda c: c.app_id == "app-a")
    assert mine and "Summer" not in mine  # Summer belongs to app-b

    assert names(stub, app_a, 'app_id = "other-app"') == set()
    assert names(stub, app_a, 'app_id = "app-b"') == set()
    assert names(stub, app_a, 'name = "Summer"') == set()
    assert names(stub, app_a, 'app_id = "app-a"') == mine
    assert names(stub, app_a, 'NOT app_id = "app-a"') == set()
    assert names(stub, app_a, 'app_id != "app-a"') == set()
    assert names(stub, app_a, "") == mine


@pytest.mark.parametrize(
    "text",
    [
        'app_id = "app-b" OR name = "Summer"',
        'name = "Summer" OR tags:* OR NOT tags:*',
        'NOT name = "nothing-is-called-this"',
        'app_id = "app-b" OR app_id = "app-c" OR app_id = "app-a"',
        '(tags:* OR NOT tags:*) OR (app_id != "app-a")',
        "-(tags:* AND NOT tags:*)",
    ],
)
def test_an_or_filter_never_widens_the_app_scope(stub, zoo, text):
    app_a = zoo.app("app-a")
    mine = zoo.where(lambda c: c.app_id == "app-a")
    result = names(stub, app_a, text)
    assert result <= mine
    # Paging the same way never leaks either.
    paged = list_pages(stub, app_a, filter=text, order_by="name", page_size=1)
    assert {c.name for c in paged} == result
    assert {c.app_id for c in paged} <= {"app-a"}
    # An app with no cohorts sees nothing at all.
    assert names(stub, zoo.app("app-z"), text) == set()


@pytest.mark.parametrize(
    "text",
    [
        'name = "Spring 2027"',
        'name = "Spring 2027" OR NOT name = "Spring 2027"',
        'tags:"beta" OR -tags:"beta"',
        'name = "Spring*" OR app_id = "app-a" OR created_by = "alice"',
        "",
    ],
)
def test_an_or_filter_never_returns_another_tenants_rows(stub, zoo, auth, tenant, text):
    mine = stub.CreateCohort(
        cohort_service_pb2.CreateCohortRequest(cohort=build("Spring 2027", tags=["beta"])),
        metadata=auth,
    )

    listed = list_pages(stub, auth, filter=text, page_size=1)
    assert {c.id for c in listed} <= {mine.id}
    assert {c.tenant_id for c in listed} <= {tenant}

    zoo_ids = {c.id for c in zoo.cohorts}
    assert {c.id for c in list_pages(stub, zoo.auth, filter=text)} <= zoo_ids


def test_tenant_id_in_a_filter_is_an_unknown_field(stub, zoo):
    for text in ('tenant_id = "other"', f'tenant_id = "{zoo.tenant}" OR name = "x"'):
        description = filter_error(stub, zoo.auth, text)
        assert "unknown field" in description and "`tenant_id`" in description, description
