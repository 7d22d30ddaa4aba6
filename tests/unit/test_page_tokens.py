"""PageTokenCodec: opaque, tamper-evident page tokens bound to their query."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from cohorts.domain.caller import Caller
from cohorts.domain.errors import InvalidArgument
from cohorts.domain.rules import MAX_NAME_CHARS
from cohorts.service.list_query import ORDERABLE_FIELDS
from cohorts.service.page_tokens import MAX_TOKEN_CHARS, PageTokenCodec, query_fingerprint

SECRET = b"unit-test-page-token-secret"
COHORT_ID = "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R"
POSITION = [datetime(2027, 3, 14, 15, 9, 26, 535897, tzinfo=UTC), COHORT_ID]
CALLER = Caller(tenant_id="tenant-a", subject="person-1")


def _query(caller: Caller = CALLER, **changes: object) -> str:
    arguments: dict[str, object] = {
        "filter_": "",
        "order_by": "created_at desc",
        "show_deleted": False,
    }
    arguments.update(changes)
    return query_fingerprint(caller, **arguments)  # type: ignore[arg-type]


QUERY = _query()


def _rejected(codec: PageTokenCodec, token: str, query: str = QUERY) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        codec.decode(token, query=query)
    assert [v.field for v in caught.value.violations] == ["page_token"]
    return caught.value


def _raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- round trip ---------------------------------------------------------------------------


def test_a_token_decodes_to_the_position_it_was_made_from():
    codec = PageTokenCodec(SECRET)

    assert codec.decode(codec.encode(POSITION, query=QUERY), query=QUERY) == POSITION


@pytest.mark.parametrize(
    "created_at",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2027, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    ],
)
def test_a_round_trip_keeps_the_exact_microsecond(created_at):
    codec = PageTokenCodec(SECRET)
    position = [created_at, COHORT_ID]

    decoded = codec.decode(codec.encode(position, query=QUERY), query=QUERY)

    assert decoded == position
    assert decoded[0].utcoffset() is not None


def test_a_new_codec_with_the_same_secret_accepts_the_token():
    token = PageTokenCodec(SECRET).encode(POSITION, query=QUERY)

    assert PageTokenCodec(SECRET).decode(token, query=QUERY) == POSITION


def test_a_token_is_url_safe_and_does_not_show_its_contents():
    token = PageTokenCodec(SECRET).encode(POSITION, query=QUERY)

    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert COHORT_ID not in token
    assert QUERY not in token


def test_different_positions_give_different_tokens():
    codec = PageTokenCodec(SECRET)
    other = [POSITION[0], "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1S"]

    assert codec.encode(POSITION, query=QUERY) != codec.encode(other, query=QUERY)


# --- tampering ----------------------------------------------------------------------------


def test_changing_any_character_of_a_token_is_detected():
    codec = PageTokenCodec(SECRET)
    token = codec.encode(POSITION, query=QUERY)

    # The last few characters may carry only padding bits; every full group counts.
    for index in range(len(token) - 4):
        replacement = "A" if token[index] != "A" else "B"
        tampered = token[:index] + replacement + token[index + 1 :]
        _rejected(codec, tampered)


def test_a_body_changed_without_the_secret_is_rejected():
    codec = PageTokenCodec(SECRET)
    raw = _raw(codec.encode(POSITION, query=QUERY))
    mac, body = raw[:16], raw[16:]
    (when, cohort_id), query = json.loads(body)
    when["t"] += 1
    forged = json.dumps([[when, cohort_id], query], separators=(",", ":")).encode()

    _rejected(codec, _token(mac + forged))


def test_a_token_made_with_another_secret_is_rejected():
    foreign = PageTokenCodec(b"some-other-secret").encode(POSITION, query=QUERY)

    _rejected(PageTokenCodec(SECRET), foreign)


@pytest.mark.parametrize(
    "token",
    [
        "x",
        "not-a-token",
        "!!!!",
        "====",
        "é",
        "A" * 40,
        _token(b"\x00" * 16 + b"[]"),
        "A" * 5000,
    ],
    ids=["one-char", "words", "punctuation", "padding", "non-ascii", "zeros", "no-mac", "huge"],
)
def test_garbage_is_rejected_as_invalid_argument(token):
    _rejected(PageTokenCodec(SECRET), token)


@pytest.mark.parametrize("cut", [1, 5, 16, 30])
def test_a_truncated_token_is_rejected(cut):
    codec = PageTokenCodec(SECRET)
    token = codec.encode(POSITION, query=QUERY)

    _rejected(codec, token[:-cut])


def test_a_token_with_characters_appended_is_rejected():
    codec = PageTokenCodec(SECRET)
    token = codec.encode(POSITION, query=QUERY)

    _rejected(codec, token + "AAAA")


# --- the query a token belongs to ---------------------------------------------------------


@pytest.mark.parametrize(
    "other_query",
    [
        _query(Caller(tenant_id="tenant-b", subject="person-1")),
        _query(Caller(tenant_id="tenant-a", subject="person-1", app_id="app-1")),
        _query(filter_='status = "ACTIVE"'),
        _query(order_by="created_at asc"),
        _query(show_deleted=True),
    ],
    ids=["other-tenant", "other-app", "other-filter", "other-order", "show-deleted"],
)
def test_a_token_is_rejected_for_any_other_query(other_query):
    codec = PageTokenCodec(SECRET)
    token = codec.encode(POSITION, query=QUERY)

    assert other_query != QUERY
    error = _rejected(codec, token, query=other_query)
    assert error.reason == "INVALID_PAGE_TOKEN"


def test_the_query_does_not_depend_on_who_in_the_tenant_asks():
    assert _query(Caller(tenant_id="tenant-a", subject="someone-else")) == QUERY


def test_a_token_is_accepted_for_the_same_query_computed_again():
    codec = PageTokenCodec(SECRET)
    token = codec.encode(POSITION, query=QUERY)

    assert codec.decode(token, query=_query()) == POSITION


def test_rejections_never_echo_the_token():
    codec = PageTokenCodec(SECRET)
    token = codec.encode(POSITION, query=QUERY)

    error = _rejected(codec, token, query=_query(show_deleted=True))

    assert token not in error.message
    assert all(token not in v.description for v in error.violations)


@pytest.mark.parametrize(
    "name_character",
    ["\x01", "é", "🚀", '"', "\\"],
    ids=["escaped-control", "two-byte", "four-byte", "quote", "backslash"],
)
def test_the_longest_token_the_service_can_issue_is_accepted(name_character):
    # Every orderable key at its longest (list_query.ORDERABLE_FIELDS), then the id.
    codec = PageTokenCodec(b"secret")
    query = query_fingerprint(
        Caller(tenant_id="t" * 256, subject="s", app_id="a" * 256),
        filter_="x" * 2000,
        order_by=",".join(f"{field} desc" for field in ORDERABLE_FIELDS),
        show_deleted=True,
    )
    latest = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    position = [
        name_character * MAX_NAME_CHARS,
        latest,
        latest,
        latest,
        latest,
        2**31 - 1,
        2**31 - 1,
        "coh_" + "Z" * 26,
    ]

    token = codec.encode(position, query=query)

    assert len(token) <= MAX_TOKEN_CHARS
    assert codec.decode(token, query=query) == position
