"""The AIP-160 filter parser and the AIP-132 order_by parser."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohorts.domain.cohort import Cohort, CohortContent, CohortStatus, SourceType
from cohorts.domain.errors import InvalidArgument
from cohorts.service.filter_parser import (
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    MAX_RESTRICTIONS,
    parse_filter,
    parse_order_by,
)
from cohorts.service.list_query import (
    COMPARISON_OPERATORS,
    FIELDS,
    ORDERABLE_FIELDS,
    And,
    Compare,
    FieldKind,
    Filter,
    HasItem,
    HasKey,
    NamePrefix,
    Not,
    Or,
    OrderKey,
)
from tests.filter_reference import matches


def parse(text: str) -> Filter:
    node = parse_filter(text)
    assert node is not None
    return node


def filter_error(text: str) -> str:
    """The description of the error text raises, after checking the error's shape."""
    with pytest.raises(InvalidArgument) as caught:
        parse_filter(text)
    error = caught.value
    assert error.reason == "INVALID_FILTER"
    assert len(error.violations) == 1
    assert error.violations[0].field == "filter"
    description = error.violations[0].description
    assert error.message == f"invalid filter: {description}"
    return description


def order_error(text: str) -> str:
    with pytest.raises(InvalidArgument) as caught:
        parse_order_by(text)
    error = caught.value
    assert error.reason == "INVALID_ORDER_BY"
    assert [v.field for v in error.violations] == ["order_by"]
    description = error.violations[0].description
    assert error.message == f"invalid order_by: {description}"
    return description


A = Compare("name", "=", "a")
B = Compare("group_id", "=", "b")
C = Compare("program_id", "=", "c")
D = Compare("source", "=", "d")


# --- empty filters -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\t\n  "])
def test_an_empty_filter_is_none(text: str) -> None:
    assert parse_filter(text) is None


# --- every operator on every comparable field kind -----------------------------------------


@pytest.mark.parametrize("op", COMPARISON_OPERATORS)
def test_every_comparison_operator_on_a_string_field(op: str) -> None:
    assert parse(f'program_id {op} "p-1"') == Compare("program_id", op, "p-1")


@pytest.mark.parametrize(
    ("field", "literal", "value"),
    [
        ("name", '"Spring"', "Spring"),
        ("program_id", '"p"', "p"),
        ("group_id", '"g"', "g"),
        ("source", '"edm"', "edm"),
        ("app_id", '"app"', "app"),
        ("created_by", '"u1"', "u1"),
        ("updated_by", '"u2"', "u2"),
        ("session_count", "12", 12),
        ("session_count", "-3", -3),
        ("completion_required_pct", "80", 80.0),
        ("completion_required_pct", "80.5", 80.5),
        ("current_completion_pct", "-0.25", -0.25),
        ("current_completion_pct", "1e2", 100.0),
        ("current_completion_pct", "2.5E-1", 0.25),
        ("status", "COHORT_STATUS_ACTIVE", CohortStatus.ACTIVE),
        ("status", "ARCHIVED", CohortStatus.ARCHIVED),
        ("source_type", "SOURCE_TYPE_API", SourceType.API),
        ("source_type", "FRONTEND", SourceType.FRONTEND),
        ("start_date", '"2027-01-01T00:00:00Z"', datetime(2027, 1, 1, tzinfo=UTC)),
        ("end_date", '"2027-01-01T00:00:00+02:00"', datetime(2026, 12, 31, 22, tzinfo=UTC)),
        (
            "created_at",
            '"2027-01-01T10:20:30.5-01:30"',
            datetime(2027, 1, 1, 11, 50, 30, 500000, tzinfo=UTC),
        ),
        (
            "updated_at",
            '"2027-06-30t23:59:59.123456z"',
            datetime(2027, 6, 30, 23, 59, 59, 123456, tzinfo=UTC),
        ),
    ],
)
@pytest.mark.parametrize("op", COMPARISON_OPERATORS)
def test_every_comparable_field_takes_a_typed_value(
    field: str, literal: str, value: object, op: str
) -> None:
    node = parse(f"{field} {op} {literal}")
    assert node == Compare(field, op, value)  # type: ignore[arg-type]
    assert isinstance(node, Compare) and type(node.value) is type(value)


def test_every_field_in_the_table_is_covered() -> None:
    scalar = {
        f
        for f, spec in FIELDS.items()
        if spec.kind not in (FieldKind.STRING_LIST, FieldKind.OBJECT)
    }
    assert len(scalar) == 16
    for field in scalar:
        # A value of the wrong kind names the field it was meant for.
        assert f"`{field}` needs" in filter_error(f"{field} = *")


def test_timestamps_become_aware_utc() -> None:
    node = parse('start_date < "2027-03-01T12:00:00+05:30"')
    assert isinstance(node, Compare) and isinstance(node.value, datetime)
    assert node.value.tzinfo is UTC
    assert node.value == datetime(2027, 3, 1, 12, tzinfo=timezone(timedelta(hours=5, minutes=30)))


def test_numbers_on_number_fields_are_floats() -> None:
    assert parse("completion_required_pct >= 50") == Compare("completion_required_pct", ">=", 50.0)
    node = parse("completion_required_pct >= 50")
    assert isinstance(node, Compare) and type(node.value) is float


@pytest.mark.parametrize("field", ["tags", "facilitator_ids", "assigned_assessment_ids"])
def test_has_on_list_fields(field: str) -> None:
    assert parse(f'{field}:"beta"') == HasItem(field, "beta")
    assert parse(f"{field} : *") == HasItem(field, None)
    # A trailing `*` on a list item is a literal character.
    assert parse(f'{field}:"be*"') == HasItem(field, "be*")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('metadata.room:"B2"', HasKey(("room",), "B2", any_value=False)),
        ("metadata.room:*", HasKey(("room",), None, any_value=True)),
        ("metadata.a.b.c:*", HasKey(("a", "b", "c"), None, any_value=True)),
        ("metadata.floor:2", HasKey(("floor",), 2.0, any_value=False)),
        ("metadata.floor:-2.5", HasKey(("floor",), -2.5, any_value=False)),
        ("metadata.ok:true", HasKey(("ok",), True, any_value=False)),
        ("metadata.ok:false", HasKey(("ok",), False, any_value=False)),
        ("metadata.gone:null", HasKey(("gone",), None, any_value=False)),
        ('metadata.x_1.room-no:"B*"', HasKey(("x_1", "room-no"), "B*", any_value=False)),
    ],
)
def test_has_on_metadata_keys(text: str, expected: Filter) -> None:
    node = parse(text)
    assert node == expected
    if isinstance(expected, HasKey) and isinstance(expected.value, float):
        assert isinstance(node, HasKey) and type(node.value) is float


# --- prefix match ---------------------------------------------------------------------------


def test_a_trailing_star_on_name_is_a_prefix_match() -> None:
    assert parse('name = "Spring*"') == NamePrefix("Spring")
    assert parse('name != "Spring*"') == NamePrefix("Spring", negated=True)
    assert parse('name = "*"') == NamePrefix("")
    assert parse('name = "a**"') == NamePrefix("a*")


def test_an_escaped_star_is_literal() -> None:
    assert parse(r'name = "Spring\*"') == Compare("name", "=", "Spring*")
    assert parse(r'name = "a*\*"') == Compare("name", "=", "a**")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name > "Spring*"', Compare("name", ">", "Spring*")),
        ('program_id = "p*"', Compare("program_id", "=", "p*")),
        ('name = "Sp*ring"', Compare("name", "=", "Sp*ring")),
    ],
)
def test_a_star_elsewhere_is_literal(text: str, expected: Filter) -> None:
    assert parse(text) == expected


# --- string escaping -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'"say \"hi\""', 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        (r'"ends with \\"', "ends with \\"),
        (r'"\a\b"', "ab"),
        ('"it\'s"', "it's"),
        ('"AND OR NOT ( ) : = -"', "AND OR NOT ( ) : = -"),
        ('"Zürich 北京 🎓"', "Zürich 北京 🎓"),
        ('""', ""),
    ],
)
def test_string_escapes(literal: str, value: str) -> None:
    assert parse(f"group_id = {literal}") == Compare("group_id", "=", value)


# --- combinations and precedence -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "a" AND group_id = "b"', And((A, B))),
        ('name = "a" group_id = "b"', And((A, B))),
        ('name="a"group_id="b"', And((A, B))),
        ('name = "a" OR group_id = "b"', Or((A, B))),
        # OR binds tighter than AND (AIP-160).
        ('name = "a" AND group_id = "b" OR program_id = "c"', And((A, Or((B, C))))),
        ('name = "a" OR group_id = "b" AND program_id = "c"', And((Or((A, B)), C))),
        ('name = "a" group_id = "b" OR program_id = "c"', And((A, Or((B, C))))),
        ('name = "a" OR group_id = "b" OR program_id = "c"', Or((A, B, C))),
        (
            'name = "a" AND group_id = "b" AND program_id = "c" AND source = "d"',
            And((A, B, C, D)),
        ),
        ('(name = "a" AND group_id = "b") OR program_id = "c"', Or((And((A, B)), C))),
        ('((name = "a"))', A),
        ('(name = "a" OR group_id = "b") (program_id = "c")', And((Or((A, B)), C))),
        ('NOT name = "a"', Not(A)),
        ('-name = "a"', Not(A)),
        ('NOT(name = "a")', Not(A)),
        ('-(name = "a" OR group_id = "b")', Not(Or((A, B)))),
        ('NOT name = "a" OR group_id = "b"', Or((Not(A), B))),
        ('NOT NOT name = "a"', Not(Not(A))),
        ('name = "a" -group_id = "b"', And((A, Not(B)))),
        ('name = "a" AND NOT group_id = "b"', And((A, Not(B)))),
        ('name = "a" OR NOT group_id = "b"', Or((A, Not(B)))),
    ],
)
def test_combinations(text: str, expected: Filter) -> None:
    assert parse(text) == expected


def test_keywords_are_uppercase_only() -> None:
    assert filter_error('name = "a" and group_id = "b"') == "unknown field `and` at position 12"
    assert "unknown field `or`" in filter_error('name = "a" or group_id = "b"')


def test_negative_numbers_need_no_space_but_negation_may_have_one() -> None:
    assert parse("session_count > -1") == Compare("session_count", ">", -1)
    assert parse('- name = "a"') == Not(A)


# --- errors: every class, with position and text --------------------------------------------


@pytest.mark.parametrize(
    ("text", "description"),
    [
        # unknown fields and bad paths
        ('nmae = "x"', "unknown field `nmae` at position 1"),
        ('name = "a" AND Name = "b"', "unknown field `Name` at position 16"),
        ('id = "coh_1"', "unknown field `id` at position 1"),
        ("tenant_id = 1", "unknown field `tenant_id` at position 1"),
        ('metadata = "x"', '`metadata` at position 1 needs a key, e.g. `metadata.room:"B2"`'),
        ("metadata:*", '`metadata` at position 1 needs a key, e.g. `metadata.room:"B2"`'),
        ("metadata.:*", "`metadata.` at position 1 has an empty key"),
        ("metadata.a..b:*", "`metadata.a..b` at position 1 has an empty key"),
        (
            'name.first = "x"',
            "`name.first` at position 1 is not a field; only `metadata` takes a dotted path",
        ),
        ("tags.x:*", "`tags.x` at position 1 is not a field; only `metadata` takes a dotted path"),
        # missing or misplaced operators and values
        ("name", "expected an operator after `name` at position 1"),
        ("tags:* name", "expected an operator after `name` at position 8"),
        ('name "x"', 'expected an operator after `name` at position 1, found `"x"` at position 6'),
        ("name = ", "expected a value after `=` at position 6"),
        ("name = )", "expected a value after `=` at position 6, found `)`"),
        ('name == "x"', "expected a value after `=` at position 6, found `=`"),
        ("name = AND", "expected a value after `=` at position 6, found `AND`"),
        # structure
        ('name = "x" )', "unexpected `)` at position 12"),
        (')name = "x"', "unexpected `)` at position 1"),
        ('(name = "x"', "`(` at position 1 is never closed"),
        ('(name = "x" "y")', 'unexpected `"y"` at position 13'),
        ("()", "unexpected `)` at position 2"),
        ('name = "x" AND', "expected a restriction after `AND` at position 12"),
        ('name = "x" OR', "expected a restriction after `OR` at position 12"),
        ("NOT", "expected a restriction after `NOT` at position 1"),
        ("-", "expected a restriction after `-` at position 1"),
        ('name = "x" AND OR group_id = "y"', "unexpected `OR` at position 16"),
        ('AND name = "x"', "unexpected `AND` at position 1"),
        ('"x"', 'unexpected `"x"` at position 1; a restriction starts with a field name'),
        ('name = "x" OR OR group_id = "y"', "unexpected `OR` at position 15"),
        # lexical
        ('name = "abc', "unterminated string starting at position 8"),
        ('name = "abc\\"', "unterminated string starting at position 8"),
        ('name = "abc\\', "unterminated string starting at position 8"),
        ("name = 'x'", "unexpected character `'` at position 8; strings take double quotes"),
        ('name = "a" && group_id = "b"', "unexpected character `&` at position 12"),
        ('name ~ "a"', "unexpected character `~` at position 6"),
        ("session_count = 5x", "invalid number `5x` at position 17"),
        ("session_count = 1.2.3", "invalid number `1.2.3` at position 17"),
        ('name = "a\x00"', "a NUL character at position 10 cannot be stored or matched"),
        ('name = "a\\\x00"', "a NUL character at position 11 cannot be stored or matched"),
        ("\x00", "a NUL character at position 1"),
        # operators that do not fit the field
        ('tags < "x"', "operator `<` does not apply to `tags` (a list; use `:`) at position 6"),
        ('tags = "x"', "operator `=` does not apply to `tags` (a list; use `:`) at position 6"),
        (
            'metadata.room = "B2"',
            "operator `=` does not apply to `metadata.room` (a metadata key; use `:`)"
            " at position 15",
        ),
        (
            'name:"x"',
            "operator `:` does not apply to `name` (not a list or metadata; use `=`) at position 5",
        ),
        ("status:ACTIVE", "operator `:` does not apply to `status`"),
        # literals of the wrong type
        (
            "session_count = 1.5",
            "`1.5` at position 17 is not an integer, which `session_count` needs",
        ),
        ("session_count = 1e3", "`1e3` at position 17 is not an integer"),
        ('session_count = "3"', '`"3"` at position 17 is not an integer'),
        ("session_count = 99999999999999999999", "is out of range for `session_count`"),
        ('completion_required_pct = "5"', "is not a number, which `completion_required_pct` needs"),
        ("completion_required_pct = 1e999", "`1e999` at position 27 is out of range"),
        ("name = 5", "`5` at position 8 is not a string literal (in double quotes), which `name`"),
        ("name = Spring", "`Spring` at position 8 is not a string literal"),
        ("name = *", "`*` at position 8 is not a string literal"),
        ("app_id = null", "`null` at position 10 is not a string literal"),
        ("name = true", "`true` at position 8 is not a string literal"),
        (
            'start_date > "2027-01-01"',
            '`"2027-01-01"` at position 14 is not an RFC 3339 timestamp with a time zone',
        ),
        ('start_date > "2027-01-01T00:00:00"', "is not an RFC 3339 timestamp with a time zone"),
        ('start_date > "2027-02-30T00:00:00Z"', "is not an RFC 3339 timestamp"),
        ('start_date > "2027-01-01T00:00:60Z"', "is not an RFC 3339 timestamp"),
        ('start_date > "0001-01-01T00:00:00+01:00"', "is not an RFC 3339 timestamp"),
        ('start_date > "20270101T000000Z"', "is not an RFC 3339 timestamp"),
        ("start_date > 2027", "`2027` at position 14 is not an RFC 3339 timestamp"),
        (
            "status = COHORT_STATUS_DONE",
            "unknown CohortStatus `COHORT_STATUS_DONE` at position 10; use one of"
            " COHORT_STATUS_DRAFT, COHORT_STATUS_SCHEDULED, COHORT_STATUS_ACTIVE,"
            " COHORT_STATUS_COMPLETED, COHORT_STATUS_ARCHIVED",
        ),
        ("status = active", "unknown CohortStatus `active` at position 10"),
        ("status = SOURCE_TYPE_API", "unknown CohortStatus `SOURCE_TYPE_API`"),
        ("source_type = COHORT_STATUS_ACTIVE", "unknown SourceType `COHORT_STATUS_ACTIVE`"),
        (
            "status = COHORT_STATUS_UNSPECIFIED",
            "`COHORT_STATUS_UNSPECIFIED` at position 10 is never",
        ),
        ("source_type = UNSPECIFIED", "SourceType `UNSPECIFIED` at position 15 is never stored"),
        (
            'status = "COHORT_STATUS_ACTIVE"',
            "is not a CohortStatus name (written bare, like COHORT_STATUS_DRAFT)",
        ),
        ("status = 3", "`3` at position 10 is not a CohortStatus name"),
        ("tags:beta", "`beta` at position 6 is not a string literal or `*`, which `tags` needs"),
        ("tags:1", "`1` at position 6 is not a string literal or `*`"),
        ("metadata.a:maybe", "`maybe` at position 12 is not a string, number, true, false, null"),
        ("metadata.a:TRUE", "`TRUE` at position 12 is not a string, number"),
        ("metadata.a:1e400", "`1e400` at position 12 is out of range"),
    ],
)
def test_errors_point_at_the_offending_token(text: str, description: str) -> None:
    assert description in filter_error(text)


def test_a_long_token_is_shortened_in_the_message() -> None:
    literal = '"' + "x" * 500 + '"'
    description = filter_error(f"session_count = {literal}")
    assert len(description) < 200
    assert "...` at position 17 is not an integer" in description


# --- bounds --------------------------------------------------------------------------------


def test_filter_length_is_bounded() -> None:
    at_limit = 'name = "' + "x" * (MAX_FILTER_LENGTH - 9) + '"'
    assert len(at_limit) == MAX_FILTER_LENGTH
    assert parse(at_limit) == Compare("name", "=", "x" * (MAX_FILTER_LENGTH - 9))
    too_long = at_limit + " "
    assert filter_error(too_long) == "the filter is 2001 characters long; the limit is 2000"


def test_parenthesis_depth_is_bounded() -> None:
    deepest = "(" * MAX_DEPTH + 'name = "a"' + ")" * MAX_DEPTH
    assert parse(deepest) == A
    too_deep = "(" * (MAX_DEPTH + 1) + 'name = "a"' + ")" * (MAX_DEPTH + 1)
    description = filter_error(too_deep)
    assert "nests deeper than 20 levels" in description
    assert "`(` at position 21" in description


def test_not_counts_towards_depth() -> None:
    assert parse("NOT " * MAX_DEPTH + 'name = "a"') is not None
    assert "nests deeper than 20" in filter_error("NOT " * (MAX_DEPTH + 1) + 'name = "a"')
    mixed = "(-" * (MAX_DEPTH // 2) + "NOT " + 'name = "a"' + ")" * (MAX_DEPTH // 2)
    assert "`NOT` at position 21" in filter_error(mixed)


def test_sibling_groups_do_not_add_up_to_depth() -> None:
    group = "(" * MAX_DEPTH + 'name = "a"' + ")" * MAX_DEPTH
    assert parse(f"{group} AND {group} OR {group}") is not None


def test_restriction_count_is_bounded() -> None:
    most = " AND ".join(["tags:*"] * MAX_RESTRICTIONS)
    node = parse(most)
    assert isinstance(node, And) and len(node.operands) == MAX_RESTRICTIONS
    too_many = " OR ".join(["tags:*"] * (MAX_RESTRICTIONS + 1))
    description = filter_error(too_many)
    assert "more than 100 restrictions" in description
    assert f"at position {100 * len('tags:* OR ') + 1}" in description


# --- order_by ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("   ", ()),
        ("name", (OrderKey("name", descending=False),)),
        ("name asc", (OrderKey("name", descending=False),)),
        ("name desc", (OrderKey("name", descending=True),)),
        ("name DESC", (OrderKey("name", descending=True),)),
        ("name Asc", (OrderKey("name", descending=False),)),
        (
            "start_date desc, name",
            (OrderKey("start_date", descending=True), OrderKey("name", descending=False)),
        ),
        (
            "  status\tdesc ,session_count,created_at   desc ",
            (
                OrderKey("status", descending=True),
                OrderKey("session_count", descending=False),
                OrderKey("created_at", descending=True),
            ),
        ),
    ],
)
def test_order_by(text: str, expected: tuple[OrderKey, ...]) -> None:
    assert parse_order_by(text) == expected


def test_every_orderable_field_can_be_ordered_by() -> None:
    text = ", ".join(f"{field} desc" for field in ORDERABLE_FIELDS)
    assert parse_order_by(text) == tuple(OrderKey(f, descending=True) for f in ORDERABLE_FIELDS)


@pytest.mark.parametrize(
    ("text", "description"),
    [
        (
            "tags",
            "`tags` cannot be ordered by; use one of name, start_date, end_date, created_at,"
            " updated_at, status, session_count (position 1)",
        ),
        ("name, metadata desc", "`metadata` cannot be ordered by; use one of name,"),
        ("nmae", "unknown field `nmae` at position 1; use one of name, start_date"),
        ("Name", "unknown field `Name` at position 1"),
        ("id", "unknown field `id` at position 1"),
        ("name, start_date, name desc", "`name` appears more than once (position 19)"),
        ("name up", "expected `asc` or `desc` after `name`, found `up` at position 6"),
        ("name -desc", "found `-desc` at position 6"),
        (
            "name desc start_date",
            "unexpected `start_date` at position 11; separate fields with commas",
        ),
        ("name,", "expected a field name after `,` at position 5"),
        (",name", "expected a field name before `,` at position 1"),
        ("name, ,start_date", "expected a field name before `,` at position 7"),
    ],
)
def test_order_by_errors(text: str, description: str) -> None:
    assert description in order_error(text)


# --- the reference evaluator, on the cases the storage property test relies on -------------

_T0 = datetime(2027, 1, 1, tzinfo=UTC)


def _cohort(**content: object) -> Cohort:
    return Cohort(
        id="coh_1",
        tenant_id="t1",
        app_id=None,
        created_at=_T0,
        updated_at=_T0,
        created_by="u1",
        updated_by="u1",
        is_deleted=False,
        deleted_at=None,
        deleted_by="",
        schema_version=1,
        version=1,
        content=CohortContent(**content),  # type: ignore[arg-type]
    )


def test_reference_unset_fields_match_no_comparison() -> None:
    cohort = _cohort(name="Spring")
    for text in [
        "session_count = 1",
        "session_count != 1",
        'app_id != "x"',
        'start_date < "3000-01-01T00:00:00Z"',
    ]:
        assert not matches(parse(text), cohort)
        assert matches(parse(f"NOT {text}"), cohort)
    assert matches(parse('app_id = "a"'), replace(cohort, app_id="a"))


def test_reference_compares_values() -> None:
    cohort = _cohort(
        name="Spring",
        status=CohortStatus.ACTIVE,
        session_count=3,
        completion_required_pct=80.0,
        start_date=_T0,
        tags=("beta",),
    )
    assert matches(parse("status > SCHEDULED AND status < COMPLETED"), cohort)
    assert matches(parse("session_count >= 3 session_count <= 3"), cohort)
    assert matches(parse("completion_required_pct = 80"), cohort)
    assert matches(parse('start_date = "2027-01-01T02:00:00+02:00"'), cohort)
    assert matches(parse('name = "Spr*" AND name != "Sum*"'), cohort)
    assert not matches(parse('name = "spr*"'), cohort)
    assert matches(parse('name < "spring"'), cohort)  # code-point order: "S" < "s"
    assert matches(parse('tags:"beta" AND tags:* AND NOT facilitator_ids:*'), cohort)
    assert not matches(parse('tags:"bet"'), cohort)
    assert matches(parse('created_by = "u1" AND created_at = "2027-01-01T00:00:00Z"'), cohort)


def test_reference_metadata() -> None:
    cohort = _cohort(
        metadata={"room": "B2", "n": 1, "flag": True, "gone": None, "a": {"b": 2.5}, "l": [1]}
    )
    assert matches(parse('metadata.room:"B2"'), cohort)
    assert matches(parse("metadata.n:1"), cohort)
    assert not matches(parse("metadata.n:true"), cohort)  # True == 1 in Python, not in JSON
    assert matches(parse("metadata.flag:true"), cohort)
    assert not matches(parse("metadata.flag:1"), cohort)
    assert matches(parse("metadata.gone:null metadata.gone:*"), cohort)
    assert not matches(parse("metadata.missing:null"), cohort)
    assert matches(parse("metadata.a.b:2.5 metadata.a:*"), cohort)
    assert not matches(parse("metadata.room.x:*"), cohort)
    assert not matches(parse("metadata.l.0:*"), cohort)
    assert not matches(parse('metadata.n:"1"'), cohort)


# --- robustness ----------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        *FIELDS,
        "metadata.a",
        "metadata.a.b",
        *COMPARISON_OPERATORS,
        ":",
        "AND",
        "OR",
        "NOT",
        "-",
        "(",
        ")",
        "*",
        '"x"',
        '"x*"',
        '"\\""',
        '"2027-01-01T00:00:00Z"',
        "1",
        "-1.5",
        "1e3",
        "ACTIVE",
        "SOURCE_TYPE_API",
        "true",
        "null",
        " ",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(_PIECES, max_size=25).map(" ".join)))
def test_any_text_parses_or_is_invalid_argument(text: str) -> None:
    try:
        parse_filter(text)
    except InvalidArgument as error:
        assert error.reason == "INVALID_FILTER"
        assert "position" in error.violations[0].description
    try:
        parse_order_by(text)
    except InvalidArgument as error:
        assert error.reason == "INVALID_ORDER_BY"
