"""How large metadata may be: its size as the compact UTF-8 JSON storage writes."""

from __future__ import annotations

from cohorts.domain.rules import MAX_METADATA_BYTES, metadata_problem

# {"k":"…"} around a value of n two-byte characters is 2n + 8 bytes.
_AT_LIMIT = (MAX_METADATA_BYTES - 8) // 2


def test_metadata_of_exactly_the_limit_in_utf8_bytes_is_allowed():
    assert metadata_problem({"k": "é" * _AT_LIMIT}) is None


def test_one_character_more_is_refused_with_its_size():
    problem = metadata_problem({"k": "é" * (_AT_LIMIT + 1)})
    assert problem == (
        f"is {MAX_METADATA_BYTES + 2} bytes as JSON; at most {MAX_METADATA_BYTES} are allowed"
    )


def test_metadata_json_cannot_hold_is_refused_not_raised():
    problem = metadata_problem({"n": 2**70})
    assert problem is not None and problem.startswith("cannot be written as JSON")
