"""Property: for random filters, orders and page sizes over random cohorts, every page of
ListCohorts put together equals a plain-Python evaluation of the same query.

The data (a few dozen cohorts with random subsets of fields unset, drawn from small
value domains so that filters hit) is created once through the API in a tenant of
its own. Each example builds a random filter AST here, renders it as AIP-160 text
(respecting the grammar's precedence, sometimes with redundant parentheses, implicit
AND and `-` for NOT), and compares what the server pages out with

    [c for c in cohorts if matches(ast, c)] sorted by the order in Python.

It also checks that the service's parser reads the text as the AST meant it.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from google.protobuf import field_mask_pb2
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st
from learning.v1 import cohort_pb2, cohort_service_pb2

from cohorts.domain.cohort import Cohort, CohortStatus, SourceType
from cohorts.service.filter_parser import parse_filter
from cohorts.service.list_query import (
    And,
    Compare,
    Filter,
    HasItem,
    HasKey,
    NamePrefix,
    Not,
    Or,
)
from tests.filter_reference import matches
from tests.fixtures.server import bearer, mint_token
from tests.integration._domain import to_domain

Metadata = tuple[tuple[str, str], ...]

# --- value domains --------------------------------------------------------------------------

NAMES = [
    "Alpha",
    "alpha",
    "Beta",
    "Spring",
    "Spring 1",
    "Spring 2",
    "Spring*",
    "Ärger",
    "Zed",
    'Q"uote',
    "back\\slash",
    "50% off",
]
PROGRAMS = ["", "p1", "p2", "p3"]
GROUPS = [
    "",
    "grp-00000000-0000-4000-8000-000000000001",
    "grp-00000000-0000-4000-8000-000000000002",
]
SOURCES = ["", "crm", "lms"]  # "" is stored as the default "edm"
SUBS = ["alice", "bob", "carol"]
APPS: list[str | None] = [None, "app-a", "app-b"]
SESSION_COUNTS = [None, 0, 1, 5, 10]
PCTS = [None, 0.0, 12.5, 50.0, 100.0]
DATES = [
    None,
    datetime(2027, 1, 1, tzinfo=UTC),
    datetime(2027, 2, 1, tzinfo=UTC),
    datetime(2027, 3, 1, 12, 30, 0, 500000, tzinfo=UTC),
]
TAGS = ["beta", "Beta", "evening", "remote"]
PEOPLE = ["person-a", "person-b", "person-c"]
ASSESSMENTS = [f"asm-00000000-0000-4000-8000-00000000000{i}" for i in range(3)]
ROWS = 40

ORDERABLE = (
    "name",
    "start_date",
    "end_date",
    "created_at",
    "updated_at",
    "status",
    "session_count",
)


def _random_metadata(rng: random.Random) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    choices: dict[str, list[Any]] = {
        "room": ["A1", "B2", "b2", None],
        "n": [0, 1, 2.5, "1"],
        "flag": [True, False],
        "nested": [{"floor": 1}, {"floor": 2, "room": "B2"}, "B2"],
        "list": [["B2", 1]],
    }
    for key, values in choices.items():
        if rng.random() < 0.45:
            metadata[key] = rng.choice(values)
    return metadata


def _random_cohort(rng: random.Random) -> cohort_pb2.Cohort:
    message = cohort_pb2.Cohort(
        name=rng.choice(NAMES),
        program_id=rng.choice(PROGRAMS),
        group_id=rng.choice(GROUPS),
        source=rng.choice(SOURCES),
        source_type=int(rng.choice(list(SourceType))),  # UNSPECIFIED is stored as API
        status=int(rng.choice(list(CohortStatus))),  # UNSPECIFIED is stored as DRAFT
    )
    start = rng.choice(DATES)
    end = (
        rng.choice([None, start, start + timedelta(days=1), start + timedelta(days=31)])
        if start
        else rng.choice(DATES)
    )
    for field, value in (("start_date", start), ("end_date", end)):
        if value is not None:
            getattr(message, field).FromDatetime(value)
    for field, domain in (
        ("session_count", SESSION_COUNTS),
        ("completion_required_pct", PCTS),
        ("current_completion_pct", PCTS),
    ):
        value = rng.choice(domain)
        if value is not None:
            setattr(message, field, value)
    message.tags.extend(t for t in TAGS if rng.random() < 0.35)
    message.facilitator_ids.extend(p for p in PEOPLE if rng.random() < 0.35)
    message.assigned_assessment_ids.extend(a for a in ASSESSMENTS if rng.random() < 0.3)
    metadata = _random_metadata(rng)
    if metadata:
        message.metadata.update(metadata)
    return message


# --- the data set -----------------------------------------------------------------------------


@dataclass
class DataSet:
    tenant: str
    cohorts: list[Cohort]  # the final state of every cohort, deleted ones included

    def auth(self, app: str | None) -> Metadata:
        return bearer(mint_token(tenant=self.tenant, sub="lister", app=app))


@pytest.fixture(scope="module")
def dataset(stub: Any) -> DataSet:
    rng = random.Random(20270101)
    tenant = f"tenant-{uuid.uuid4().hex[:12]}"
    person = bearer(mint_token(tenant=tenant, sub="dave"))
    ids = []
    for _ in range(ROWS):
        creator = bearer(mint_token(tenant=tenant, sub=rng.choice(SUBS), app=rng.choice(APPS)))
        created = stub.CreateCohort(
            cohort_service_pb2.CreateCohortRequest(cohort=_random_cohort(rng)), metadata=creator
        )
        ids.append(created.id)
        if len(ids) % 4 == 0:  # updated by someone else: updated_at and updated_by move on
            stub.UpdateCohort(
                cohort_service_pb2.UpdateCohortRequest(
                    cohort=cohort_pb2.Cohort(id=created.id, tags=rng.sample(TAGS, 2)),
                    update_mask=field_mask_pb2.FieldMask(paths=["tags"]),
                ),
                metadata=person,
            )
        if len(ids) % 7 == 3:
            stub.DeleteCohort(
                cohort_service_pb2.DeleteCohortRequest(id=created.id), metadata=person
            )
    cohorts = [
        to_domain(stub.GetCohort(cohort_service_pb2.GetCohortRequest(id=i), metadata=person))
        for i in ids
    ]
    assert any(c.is_deleted for c in cohorts), "no deleted cohort"
    assert any(c.app_id is None for c in cohorts), "no cohort without an app"
    return DataSet(tenant, cohorts)


# --- random filters ---------------------------------------------------------------------------

OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
# Precedence levels of the grammar: an expression (AND) < a factor (OR) < a term.
EXPRESSION, FACTOR, TERM = 0, 1, 2


def quote(text: str) -> str:
    """A string literal: `"`, `\\` and `*` escaped, so a star is never a wildcard."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("*", "\\*")
    return f'"{escaped}"'


def _stamp(draw: st.DrawFn, value: datetime) -> str:
    """value as RFC 3339, in a random zone and spelling."""
    zone = draw(
        st.sampled_from(
            [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
        )
    )
    local = value.astimezone(zone)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if local.microsecond or draw(st.booleans()):
        text += f".{local.microsecond:06d}"
    if zone is UTC:
        text += draw(st.sampled_from(["Z", "z", "+00:00"]))
    else:
        text += local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    if draw(st.booleans()):
        text = text.replace("T", "t")
    return f'"{text}"'


@dataclass(frozen=True)
class Node:
    """A filter as text at a precedence level, and the AST it means."""

    text: str
    level: int
    ast: Filter


def _wrap(node: Node, needed: int, draw: st.DrawFn) -> str:
    """node's text where the grammar needs `needed`; parentheses when it must, or by chance."""
    if node.level < needed or draw(st.integers(0, 9)) == 0:
        return f"({node.text})"
    return node.text


def _comparison(draw: st.DrawFn, data: DataSet) -> Node:
    field = draw(
        st.sampled_from(
            [
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
            ]
        )
    )
    op = draw(st.sampled_from(OPERATORS))
    strings = {
        "name": NAMES + ["Spring 0", "alp", "zzz", ""],
        "program_id": PROGRAMS + ["p0", "p9"],
        "group_id": GROUPS + ["grp-00000000-0000-4000-8000-000000000003"],
        "source": ["edm", "crm", "lms", "abc", "zzz"],
        "app_id": ["app-a", "app-b", "app-c", "", "app"],
        "created_by": SUBS + ["dave", "zed", ""],
        "updated_by": SUBS + ["dave", "zed", ""],
    }
    if field in strings:
        value: Any = draw(st.sampled_from(strings[field]))
        literal = quote(value)
    elif field in ("status", "source_type"):
        enum = CohortStatus if field == "status" else SourceType
        prefix = "COHORT_STATUS_" if field == "status" else "SOURCE_TYPE_"
        value = draw(st.sampled_from([m for m in enum if m]))
        literal = draw(st.sampled_from([prefix, ""])) + value.name
    elif field == "session_count":
        value = draw(st.sampled_from([-1, 0, 1, 4, 5, 6, 10, 11]))
        literal = str(value)
    elif field in ("completion_required_pct", "current_completion_pct"):
        value, literal = draw(
            st.sampled_from(
                [
                    (0.0, "0"),
                    (0.0, "0.0"),
                    (12.5, "12.5"),
                    (12.5, "1.25e1"),
                    (50.0, "50"),
                    (99.9, "99.9"),
                    (100.0, "100"),
                    (-1.0, "-1"),
                ]
            )
        )
    else:
        if field in ("start_date", "end_date"):
            pool = [d for d in DATES if d is not None] + [datetime(2027, 4, 1, tzinfo=UTC)]
        else:
            pool = [getattr(c, field) for c in data.cohorts]
        value = draw(st.sampled_from(pool)) + timedelta(
            microseconds=draw(st.sampled_from([0, 0, -1, 1]))
        )
        literal = _stamp(draw, value)
    return Node(f"{field} {op} {literal}", TERM, Compare(field, op, value))


def _name_prefix(draw: st.DrawFn) -> Node:
    prefix = draw(
        st.sampled_from(
            ["", "Sp", "Spring", "Spring ", "Spring*", "al", "A", 'Q"', "back\\", "50%", "Ä"]
        )
    )
    negated = draw(st.booleans())
    escaped = quote(prefix)[:-1] + '*"'
    return Node(f"name {'!=' if negated else '='} {escaped}", TERM, NamePrefix(prefix, negated))


def _has_item(draw: st.DrawFn) -> Node:
    field, domain = draw(
        st.sampled_from(
            [
                ("tags", TAGS + ["bet"]),
                ("facilitator_ids", PEOPLE + ["person-z"]),
                ("assigned_assessment_ids", ASSESSMENTS),
            ]
        )
    )
    value = draw(st.sampled_from([None, *domain]))
    literal = "*" if value is None else quote(value)
    return Node(f"{field}:{literal}", TERM, HasItem(field, value))


def _has_key(draw: st.DrawFn) -> Node:
    path = draw(
        st.sampled_from(
            [
                ("room",),
                ("n",),
                ("flag",),
                ("nested",),
                ("nested", "floor"),
                ("nested", "room"),
                ("list",),
                ("list", "0"),
                ("room", "x"),
                ("missing",),
            ]
        )
    )
    literal, value, any_value = draw(
        st.sampled_from(
            [
                ("*", None, True),
                ('"A1"', "A1", False),
                ('"B2"', "B2", False),
                ('"b2"', "b2", False),
                ('"1"', "1", False),
                ("0", 0.0, False),
                ("1", 1.0, False),
                ("1.0", 1.0, False),
                ("2", 2.0, False),
                ("2.5", 2.5, False),
                ("true", True, False),
                ("false", False, False),
                ("null", None, False),
            ]
        )
    )
    return Node(f"metadata.{'.'.join(path)}:{literal}", TERM, HasKey(path, value, any_value))


@st.composite
def restrictions(draw: st.DrawFn, data: DataSet) -> Node:
    kind = draw(st.sampled_from(["compare", "compare", "compare", "prefix", "item", "key"]))
    if kind == "compare":
        return _comparison(draw, data)
    if kind == "prefix":
        return _name_prefix(draw)
    if kind == "item":
        return _has_item(draw)
    return _has_key(draw)


def filters(draw: st.DrawFn, data: DataSet, depth: int) -> Node:
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(restrictions(data))
    kind = draw(st.sampled_from(["and", "or", "not"]))
    if kind == "not":
        operand = filters(draw, data, depth - 1)
        keyword = draw(st.sampled_from(["NOT ", "-", "- "]))
        return Node(keyword + _wrap(operand, TERM, draw), TERM, Not(operand.ast))
    operands = [filters(draw, data, depth - 1) for _ in range(draw(st.integers(2, 3)))]
    if kind == "or":
        text = " OR ".join(_wrap(o, TERM, draw) for o in operands)
        return Node(text, FACTOR, Or(tuple(o.ast for o in operands)))
    parts = [_wrap(o, FACTOR, draw) for o in operands]
    text = parts[0]
    for part in parts[1:]:
        # Juxtaposition is an implicit AND.
        text += draw(st.sampled_from([" AND ", " AND ", " "])) + part
    return Node(text, EXPRESSION, And(tuple(o.ast for o in operands)))


@st.composite
def filter_nodes(draw: st.DrawFn, data: DataSet) -> Node:
    return filters(draw, data, 3)


@st.composite
def orders(draw: st.DrawFn) -> str:
    fields = draw(st.lists(st.sampled_from(ORDERABLE), unique=True, max_size=3))
    return ", ".join(f + draw(st.sampled_from(["", " asc", " desc", " desc"])) for f in fields)


# --- the Python side of ordering ----------------------------------------------------------


def _value(cohort: Cohort, field: str) -> Any:
    if field in ("created_at", "updated_at"):
        return getattr(cohort, field)
    return getattr(cohort.content, field)


def _compare(x: Any, y: Any) -> int:
    """Three-way comparison: unset lowest, str by code point, IntEnum by number."""
    if x is None or y is None:
        return (x is not None) - (y is not None)
    return (x > y) - (x < y)


def python_order(cohorts: Iterable[Cohort], order_by: str) -> list[Cohort]:
    keys = [(p.split()[0], p.split()[1:] == ["desc"]) for p in order_by.split(",") if p.split()]
    keys = keys or [("created_at", True)]

    def compare(a: Cohort, b: Cohort) -> int:
        for field, descending in keys:
            result = _compare(_value(a, field), _value(b, field))
            if result:
                return -result if descending else result
        result = _compare(a.id, b.id)  # the tie-breaker follows the last key's direction
        return -result if keys[-1][1] else result

    return sorted(cohorts, key=functools.cmp_to_key(compare))


def page_through(
    stub: Any, auth: Metadata, *, filter: str, order_by: str, page_size: int, show_deleted: bool
) -> list[str]:
    ids: list[str] = []
    token = ""
    for _ in range(ROWS + 2):
        page = stub.ListCohorts(
            cohort_service_pb2.ListCohortsRequest(
                filter=filter,
                order_by=order_by,
                page_size=page_size,
                page_token=token,
                show_deleted=show_deleted,
            ),
            metadata=auth,
        )
        assert len(page.cohorts) <= page_size
        ids.extend(c.id for c in page.cohorts)
        token = page.next_page_token
        if not token:
            return ids
    raise AssertionError("ListCohorts never returned an empty next_page_token")


# --- the property -----------------------------------------------------------------------------


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_paged_list_equals_python_evaluation(stub, dataset, data):
    node = data.draw(filter_nodes(dataset), label="filter")
    text = node.text
    assume(len(text) <= 2000)
    order_by = data.draw(orders(), label="order_by")
    page_size = data.draw(st.sampled_from([1, 2, 3, 5, 8, 50]), label="page_size")
    show_deleted = data.draw(st.booleans(), label="show_deleted")
    app = data.draw(st.sampled_from([None, None, "app-a"]), label="app")
    note(f"filter: {text}")

    # The service's parser reads the text as the AST it was rendered from.
    parsed = parse_filter(text)
    assert parsed is not None
    for cohort in dataset.cohorts:
        assert matches(parsed, cohort) == matches(node.ast, cohort), (text, parsed, cohort)

    in_scope = [
        c
        for c in dataset.cohorts
        if (app is None or c.app_id == app) and (show_deleted or not c.is_deleted)
    ]
    expected = [c.id for c in python_order(in_scope, order_by) if matches(node.ast, c)]

    listed = page_through(
        stub,
        dataset.auth(app),
        filter=text,
        order_by=order_by,
        page_size=page_size,
        show_deleted=show_deleted,
    )

    share = "none" if not expected else "all" if len(expected) == len(in_scope) else "some"
    event(f"matches: {share}")
    event(f"pages: {min(len(expected) // page_size + 1, 5)}")
    assert listed == expected
