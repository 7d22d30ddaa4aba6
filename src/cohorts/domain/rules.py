"""Validation of ids and cohort content; every rule reports, none raises."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import orjson

from cohorts.domain.cohort import CohortContent
from cohorts.domain.errors import FieldViolation

MAX_NAME_CHARS = 200
MAX_SOURCE_CHARS = 64
MAX_PROGRAM_ID_CHARS = 128
MAX_PERSON_ID_CHARS = 128
MAX_TAG_CHARS = 64
MAX_LIST_ITEMS = 100
ASSESSMENT_ID_CHARS = len("asm-") + 36  # `asm-` and a UUID
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 10

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
COHORT_ID_PATTERN = re.compile(r"coh_[0-7][0-9A-HJKMNP-TV-Z]{25}")
GROUP_ID_PATTERN = re.compile(rf"grp-{_UUID}")
ASSESSMENT_ID_PATTERN = re.compile(rf"asm-{_UUID}")
REQUEST_ID_PATTERN = re.compile(_UUID)


def cohort_id_violations(cohort_id: str, *, field: str) -> list[FieldViolation]:
    """Report a missing or malformed cohort id."""
    if not cohort_id:
        return [FieldViolation(field, "is required")]
    if COHORT_ID_PATTERN.fullmatch(cohort_id) is None:
        return [
            FieldViolation(
                field,
                "must be `coh_` followed by a 26-character ULID "
                "(e.g. coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R)",
            )
        ]
    return []


def request_id_violations(request_id: str, *, field: str) -> list[FieldViolation]:
    """Report a request_id that is set but not a UUID."""
    if request_id and REQUEST_ID_PATTERN.fullmatch(request_id) is None:
        return [FieldViolation(field, "must be a UUID, e.g. 3f1c2a9e-5b7d-4e8a-9c0f-1a2b3c4d5e6f")]
    return []


def content_violations(content: CohortContent, *, prefix: str) -> list[FieldViolation]:
    """Every rule broken by content that already has its defaults applied."""
    violations: list[FieldViolation] = []

    def bad(name: str, description: str) -> None:
        violations.append(FieldViolation(f"{prefix}{name}", description))

    if not content.name:
        bad("name", "is required and must not be blank")
    _check_text(bad, "name", content.name, MAX_NAME_CHARS)
    _check_text(bad, "source", content.source, MAX_SOURCE_CHARS)
    _check_text(bad, "program_id", content.program_id, MAX_PROGRAM_ID_CHARS)
    if content.group_id and GROUP_ID_PATTERN.fullmatch(content.group_id) is None:
        bad("group_id", "must be `grp-` followed by a UUID")
    if (
        content.start_date is not None
        and content.end_date is not None
        and content.end_date < content.start_date
    ):
        bad("end_date", "must not be before start_date")
    if content.session_count is not None and content.session_count < 0:
        bad("session_count", "must be zero or more")
    for name in ("completion_required_pct", "current_completion_pct"):
        value = getattr(content, name)
        if value is not None and not (math.isfinite(value) and 0 <= value <= 100):
            bad(name, "must be a finite number from 0 to 100")
    _check_list(bad, "facilitator_ids", content.facilitator_ids, MAX_PERSON_ID_CHARS)
    _check_list(bad, "tags", content.tags, MAX_TAG_CHARS)
    _check_list(
        bad, "assigned_assessment_ids", content.assigned_assessment_ids, ASSESSMENT_ID_CHARS
    )
    for index, assessment_id in enumerate(content.assigned_assessment_ids[:MAX_LIST_ITEMS]):
        if ASSESSMENT_ID_PATTERN.fullmatch(assessment_id) is None:
            bad(f"assigned_assessment_ids[{index}]", "must be `asm-` followed by a UUID")
    problem = metadata_problem(content.metadata)
    if problem:
        bad("metadata", problem)
    return violations


def metadata_problem(metadata: dict[str, Any]) -> str | None:
    """Why metadata cannot be stored, or None when it can."""
    problem = _json_problem(metadata, depth=1)
    if problem:
        return problem
    # Compact UTF-8, as storage sends it to PostgreSQL; orjson, not json.dumps,
    # because every create and update pays for this check.
    try:
        size = len(orjson.dumps(metadata))
    except orjson.JSONEncodeError as error:  # e.g. an integer beyond 64 bits
        return f"cannot be written as JSON: {error}"
    if size > MAX_METADATA_BYTES:
        return f"is {size} bytes as JSON; at most {MAX_METADATA_BYTES} are allowed"
    return None


def _json_problem(value: Any, *, depth: int) -> str | None:
    if isinstance(value, dict):
        if depth > MAX_METADATA_DEPTH:
            return f"is nested more than {MAX_METADATA_DEPTH} levels deep"
        for key, item in value.items():
            if "\x00" in key:
                return "keys must not contain NUL characters"
            problem = _json_problem(item, depth=depth + 1)
            if problem:
                return problem
    elif isinstance(value, list):
        if depth > MAX_METADATA_DEPTH:
            return f"is nested more than {MAX_METADATA_DEPTH} levels deep"
        for item in value:
            problem = _json_problem(item, depth=depth + 1)
            if problem:
                return problem
    elif isinstance(value, float):
        if not math.isfinite(value):
            return "numbers must be finite (no NaN or Infinity)"
    elif isinstance(value, str) and "\x00" in value:
        return "strings must not contain NUL characters"
    return None


def _check_text(bad: Any, name: str, value: str, max_chars: int) -> None:
    if len(value) > max_chars:
        bad(name, f"must be at most {max_chars} characters (got {len(value)})")
    if "\x00" in value:
        bad(name, "must not contain NUL characters")


def _check_list(bad: Any, name: str, values: Iterable[str], max_chars: int) -> None:
    items = tuple(values)
    if len(items) > MAX_LIST_ITEMS:
        bad(name, f"must have at most {MAX_LIST_ITEMS} entries (got {len(items)})")
        return
    for index, item in enumerate(items):
        if not item.strip():
            bad(f"{name}[{index}]", "must not be blank")
        elif len(item) > max_chars:
            bad(f"{name}[{index}]", f"must be at most {max_chars} characters")
        elif "\x00" in item:
            bad(f"{name}[{index}]", "must not contain NUL characters")
