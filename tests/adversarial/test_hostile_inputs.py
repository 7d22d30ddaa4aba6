"""Hostile inputs sent through a real gRPC channel: each gets its exact status, none changes data.

HOSTILE_CASES (right below) is the whole table: one row per hostile input, with the status code
the service must answer and, where it is pinned, the google.rpc.ErrorInfo reason. CASES.md is the
same table in Markdown (regenerate it with `python -m tests.adversarial.test_hostile_inputs`;
test_cases_md_matches_the_table fails when it is stale).

Every case runs against a fresh world of two tenants: the attacker's tenant A (a person, app-1
and app-2, with live, deleted and per-app cohorts) and a victim tenant V (a person and its own
app-1). The database is snapshotted through the owner connection (which bypasses row-level
security) right before the hostile call and right after it:

* a rejected call must leave every row of A and V byte-for-byte unchanged, the table's row count
  unchanged and its newest updated_at unchanged (so no write landed in any other tenant either);
* an accepted call may only create or change the rows it names (always rows of the caller's own
  tenant), and each accepted case checks that what it stored round-trips exactly.

Codes come from grpc itself for two cases only (RESOURCE_EXHAUSTED for an oversize message and
UNIMPLEMENTED for an unknown method); every other non-OK answer must carry the service's ErrorInfo.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf import struct_pb2, timestamp_pb2
from learning.v1 import cohort_pb2, cohort_service_pb2
from psycopg.rows import dict_row

from tests.fixtures.server import bearer, mint_token
from tests.integration._assertions import error_info, names_field, violated_fields
from tests.integration._support import content_of, full_cohort, update_request
from tests.wire import length_delimited

OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
ABORTED = grpc.StatusCode.ABORTED
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
ALREADY_EXISTS = grpc.StatusCode.ALREADY_EXISTS
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED

# Answered by grpc before any service code runs, so they carry no ErrorInfo.
GRPC_LEVEL_CODES = frozenset({RESOURCE_EXHAUSTED, UNIMPLEMENTED})


@dataclass(frozen=True)
class HostileCase:
    """One hostile input and the answer the service owes it."""

    id: str
    input: str
    expected: grpc.StatusCode
    reason: str = ""  # the ErrorInfo reason, when pinned
    field: str = ""  # a BadRequest field violation the answer must name, when pinned


C = HostileCase
MALFORMED = "MALFORMED_REQUEST"
BAD = "INVALID_ARGUMENT"
BAD_FILTER = "INVALID_FILTER"
BAD_ORDER = "INVALID_ORDER_BY"
BAD_TOKEN = "INVALID_PAGE_TOKEN"
MISSING = "COHORT_NOT_FOUND"

HOSTILE_CASES: tuple[HostileCase, ...] = (
    # --- malformed protobuf bytes (raw channel.unary_unary, identity serializers) -----------
    C("malformed-create-garbage", "CreateCohort raw bytes ff ff ff", INVALID, MALFORMED),
    C(
        "malformed-update-truncated",
        "UpdateCohort of A's live row, serialized, last byte cut off",
        INVALID,
        MALFORMED,
    ),
    C("malformed-get-overlong-varint", "GetCohort bytes 08 ff*10 01 (11-byte varint)", INVALID),
    C("malformed-list-length-past-end", "ListCohorts bytes 1a 7f 'xxx' (length 127)", INVALID),
    C("malformed-delete-open-group", "DeleteCohort bytes 0b (start group, never ended)", INVALID),
    C("malformed-undelete-field-zero", "UndeleteCohort bytes 00 01 (field number 0)", INVALID),
    C(
        "malformed-update-wrong-wire-type",
        "UpdateCohort bytes 08 01 (cohort sent as a varint)",
        INVALID,
        field="cohort.id",
    ),
    C("unknown-method", "/learning.v1.CohortService/DropCohorts with a valid token", UNIMPLEMENTED),
    C(
        "unknown-field-ignored",
        "CreateCohort with an extra field 999 appended to valid bytes",
        OK,
    ),
    # --- oversize ---------------------------------------------------------------------------
    C("oversize-create-5MiB", "CreateCohort with a 5 MiB name (> 4 MiB limit)", RESOURCE_EXHAUSTED),
    C(
        "oversize-update-5MiB",
        "UpdateCohort of A's live row with a 5 MiB name",
        RESOURCE_EXHAUSTED,
    ),
    C(
        "near-limit-create-4M-name",
        "CreateCohort with a 4,000,000-character name (under the message limit)",
        INVALID,
        BAD,
        "cohort.name",
    ),
    C(
        "list-max-size-rows-default-page",
        "ListCohorts (default page size) over 32 maximum-size cohorts (~144 KB each)",
        OK,
    ),
    # --- deep and wide structures -----------------------------------------------------------
    C(
        "struct-100-deep-create",
        "CreateCohort, metadata Struct nested 100 deep",
        INVALID,
        MALFORMED,
    ),
    C(
        "struct-100-deep-update",
        "UpdateCohort of A's live row, metadata Struct nested 100 deep (raw bytes)",
        INVALID,
        MALFORMED,
    ),
    C(
        "listvalue-100-deep-create",
        "CreateCohort, metadata ListValue nested 100 deep",
        INVALID,
        MALFORMED,
    ),
    C(
        "struct-11-deep-create",
        "CreateCohort, metadata 11 objects deep (limit 10)",
        INVALID,
        BAD,
        "cohort.metadata",
    ),
    C("tags-10000-create", "CreateCohort with 10,000 tags", INVALID, BAD, "cohort.tags"),
    C(
        "tags-10000-update",
        "UpdateCohort of A's live row, mask tags, 10,000 tags",
        INVALID,
        BAD,
        "cohort.tags",
    ),
    C(
        "facilitators-10000-create",
        "CreateCohort with 10,000 facilitator_ids",
        INVALID,
        BAD,
        "cohort.facilitator_ids",
    ),
    C(
        "metadata-10000-keys-create",
        "CreateCohort, metadata with 10,000 keys (> 64 KiB as JSON)",
        INVALID,
        BAD,
        "cohort.metadata",
    ),
    # --- NUL bytes in every string field ----------------------------------------------------
    C("nul-name", "CreateCohort name 'Spr\\x00ing'", INVALID, BAD, "cohort.name"),
    C("nul-source", "CreateCohort source 'hr\\x00sync'", INVALID, BAD, "cohort.source"),
    C("nul-group_id", "CreateCohort group_id 'grp-<uuid>\\x00'", INVALID, BAD, "cohort.group_id"),
    C("nul-program_id", "CreateCohort program_id 'prog\\x001'", INVALID, BAD, "cohort.program_id"),
    C(
        "nul-facilitator_ids",
        "CreateCohort facilitator_ids ['person-a', 'person\\x00b']",
        INVALID,
        BAD,
        "cohort.facilitator_ids",
    ),
    C(
        "nul-assigned_assessment_ids",
        "CreateCohort assigned_assessment_ids ['asm-<uuid>\\x00']",
        INVALID,
        BAD,
        "cohort.assigned_assessment_ids",
    ),
    C("nul-tags", "CreateCohort tags ['ok', 'ta\\x00g']", INVALID, BAD, "cohort.tags"),
    C(
        "nul-metadata-key",
        "CreateCohort metadata {'ke\\x00y': 'v'}",
        INVALID,
        BAD,
        "cohort.metadata",
    ),
    C(
        "nul-metadata-value",
        "CreateCohort metadata {'key': 'va\\x00lue'}",
        INVALID,
        BAD,
        "cohort.metadata",
    ),
    C("nul-request_id", "CreateCohort request_id '<uuid>\\x00'", INVALID, BAD, "request_id"),
    C(
        "nul-update_mask-path",
        "UpdateCohort of A's live row, update_mask path 'name\\x00'",
        INVALID,
        BAD,
        "update_mask.paths",
    ),
    C("nul-filter", "ListCohorts filter 'name = \"Spr\\x00ing\"'", INVALID, BAD_FILTER, "filter"),
    C("nul-order_by", "ListCohorts order_by 'name\\x00'", INVALID, BAD_ORDER, "order_by"),
    C("nul-page_token", "ListCohorts page_token 'AAAA\\x00'", INVALID, BAD_TOKEN, "page_token"),
    C("nul-id-get", "GetCohort id '<A's live id>\\x00'", INVALID, BAD, "id"),
    C("nul-id-update", "UpdateCohort cohort.id '<A's live id>\\x00'", INVALID, BAD, "cohort.id"),
    C("nul-id-delete", "DeleteCohort id '<A's live id>\\x00'", INVALID, BAD, "id"),
    C("nul-id-undelete", "UndeleteCohort id '<A's deleted id>\\x00'", INVALID, BAD, "id"),
    C(
        "nul-name-update",
        "UpdateCohort of A's live row, mask name, name 'Spr\\x00ing'",
        INVALID,
        BAD,
        "cohort.name",
    ),
    C(
        "nul-output-only-fields-create",
        "CreateCohort with NUL in tenant_id, app_id, created_by, updated_by, deleted_by "
        "(output-only: ignored, stored from the token)",
        OK,
    ),
    # --- lone surrogates (bytes ed a0 80, invalid UTF-8) in every string field ---------------
    C("surrogate-name", "CreateCohort name with bytes ed a0 80", INVALID, MALFORMED),
    C("surrogate-source", "CreateCohort source with bytes ed a0 80", INVALID, MALFORMED),
    C("surrogate-group_id", "CreateCohort group_id with bytes ed a0 80", INVALID, MALFORMED),
    C("surrogate-program_id", "CreateCohort program_id with bytes ed a0 80", INVALID, MALFORMED),
    C(
        "surrogate-facilitator_ids",
        "CreateCohort facilitator_ids[1] with bytes ed a0 80",
        INVALID,
        MALFORMED,
    ),
    C(
        "surrogate-assigned_assessment_ids",
        "CreateCohort assigned_assessment_ids[0] with bytes ed a0 80",
        INVALID,
        MALFORMED,
    ),
    C("surrogate-tags", "CreateCohort tags[1] with bytes ed a0 80", INVALID, MALFORMED),
    C(
        "surrogate-metadata-key",
        "CreateCohort metadata key with bytes ed a0 80",
        INVALID,
        MALFORMED,
    ),
    C(
        "surrogate-metadata-value",
        "CreateCohort metadata string value with bytes ed a0 80",
        INVALID,
        MALFORMED,
    ),
    C(
        "surrogate-tenant_id",
        "CreateCohort output-only tenant_id with bytes ed a0 80",
        INVALID,
        MALFORMED,
    ),
    C("surrogate-request_id", "CreateCohort request_id with bytes ed a0 80", INVALID, MALFORMED),
    C(
        "surrogate-update_mask-path",
        "UpdateCohort of A's live row, update_mask path with bytes ed a0 80",
        INVALID,
        MALFORMED,
    ),
    C("surrogate-filter", "ListCohorts filter with bytes ed a0 80", INVALID, MALFORMED),
    C("surrogate-order_by", "ListCohorts order_by with bytes ed a0 80", INVALID, MALFORMED),
    C("surrogate-page_token", "ListCohorts page_token with bytes ed a0 80", INVALID, MALFORMED),
    C("surrogate-id-get", "GetCohort id '<A's live id>' + ed a0 80", INVALID, MALFORMED),
    C(
        "surrogate-id-update",
        "UpdateCohort cohort.id '<A's live id>' + ed a0 80",
        INVALID,
        MALFORMED,
    ),
    C("surrogate-id-delete", "DeleteCohort id '<A's live id>' + ed a0 80", INVALID, MALFORMED),
    C(
        "surrogate-id-undelete",
        "UndeleteCohort id '<A's deleted id>' + ed a0 80",
        INVALID,
        MALFORMED,
    ),
    # --- doubles ----------------------------------------------------------------------------
    C(
        "nan-completion_required_pct",
        "CreateCohort completion_required_pct NaN",
        INVALID,
        BAD,
        "cohort.completion_required_pct",
    ),
    C(
        "pinf-completion_required_pct",
        "CreateCohort completion_required_pct +Inf",
        INVALID,
        BAD,
        "cohort.completion_required_pct",
    ),
    C(
        "ninf-completion_required_pct",
        "CreateCohort completion_required_pct -Inf",
        INVALID,
        BAD,
        "cohort.completion_required_pct",
    ),
    C(
        "nan-current_completion_pct",
        "CreateCohort current_completion_pct NaN",
        INVALID,
        BAD,
        "cohort.current_completion_pct",
    ),
    C(
        "pinf-current_completion_pct",
        "CreateCohort current_completion_pct +Inf",
        INVALID,
        BAD,
        "cohort.current_completion_pct",
    ),
    C(
        "ninf-current_completion_pct",
        "CreateCohort current_completion_pct -Inf",
        INVALID,
        BAD,
        "cohort.current_completion_pct",
    ),
    C(
        "nan-update",
        "UpdateCohort of A's live row, mask current_completion_pct, value NaN",
        INVALID,
        BAD,
        "cohort.current_completion_pct",
    ),
    C(
        "pct-100-plus-one-ulp",
        "CreateCohort completion_required_pct 100.00000000000001",
        INVALID,
        BAD,
        "cohort.completion_required_pct",
    ),
    C("negzero-create", "CreateCohort both percentages -0.0 (stored and returned as +0.0)", OK),
    C("negzero-update", "UpdateCohort of A's live row, both percentages -0.0 (stored as +0.0)", OK),
    C("subnormal-pct-create", "CreateCohort both percentages 5e-324 (round trip exactly)", OK),
    # --- other numbers and enums ------------------------------------------------------------
    C(
        "session_count-int32-min",
        "CreateCohort session_count -2147483648",
        INVALID,
        BAD,
        "cohort.session_count",
    ),
    C("status-unknown-99", "CreateCohort status 99 (unknown enum)", INVALID, BAD, "cohort.status"),
    C(
        "source_type-negative",
        "CreateCohort source_type -1 (unknown enum)",
        INVALID,
        BAD,
        "cohort.source_type",
    ),
    C("page_size-negative", "ListCohorts page_size -1", INVALID, BAD, "page_size"),
    C("page_size-int32-max", "ListCohorts page_size 2147483647 (capped at 1000)", OK),
    C(
        "delete-negative-version",
        "DeleteCohort of A's live row with version -1",
        ABORTED,
        "VERSION_MISMATCH",
    ),
    C(
        "update-int64-max-version",
        "UpdateCohort of A's live row with version 2^63-1",
        ABORTED,
        "VERSION_MISMATCH",
    ),
    # --- dates ------------------------------------------------------------------------------
    C(
        "dates-year-1-and-9999-create",
        "CreateCohort start 0001-01-01T00:00:00Z, end 9999-12-31T23:59:59.999999999Z",
        OK,
    ),
    C(
        "dates-year-1-and-9999-update",
        "UpdateCohort of A's live row to start 0001-01-01, end 9999-12-31T23:59:59.999999999Z",
        OK,
    ),
    C(
        "date-before-year-1",
        "CreateCohort start_date 0000-12-31T23:59:59Z (seconds -62135596801)",
        INVALID,
        BAD,
        "cohort.start_date",
    ),
    C(
        "date-after-year-9999",
        "CreateCohort end_date 10000-01-01T00:00:00Z (seconds 253402300800)",
        INVALID,
        BAD,
        "cohort.end_date",
    ),
    C(
        "date-negative-nanos",
        "CreateCohort start_date nanos -1",
        INVALID,
        BAD,
        "cohort.start_date",
    ),
    C(
        "date-nanos-one-billion",
        "CreateCohort start_date nanos 1000000000",
        INVALID,
        BAD,
        "cohort.start_date",
    ),
    C(
        "date-int64-min-seconds",
        "CreateCohort start_date seconds -2^63",
        INVALID,
        BAD,
        "cohort.start_date",
    ),
    C(
        "date-before-year-1-update",
        "UpdateCohort of A's live row, mask start_date, seconds -62135596801",
        INVALID,
        BAD,
        "cohort.start_date",
    ),
    C(
        "page-token-across-year-1-and-9999",
        "ListCohorts order_by start_date, page_size 1, following tokens past year-1 "
        "and year-9999 rows",
        OK,
    ),
    C(
        "filter-date-year-0",
        "ListCohorts filter 'start_date > \"0000-12-31T00:00:00Z\"'",
        INVALID,
        BAD_FILTER,
    ),
    C(
        "filter-date-overflow-after-utc",
        "ListCohorts filter 'start_date < \"9999-12-31T23:59:59-01:00\"'",
        INVALID,
        BAD_FILTER,
    ),
    C("filter-date-year-1", "ListCohorts filter 'start_date >= \"0001-01-01T00:00:00Z\"'", OK),
    # --- ids of other tenants, other apps, deleted rows -------------------------------------
    C("get-victim-id", "GetCohort of V's live id with A's token", NOT_FOUND, MISSING),
    C("update-victim-id", "UpdateCohort of V's live id (mask name)", NOT_FOUND, MISSING),
    C(
        "update-victim-id-right-version",
        "UpdateCohort of V's live id carrying its current version",
        NOT_FOUND,
        MISSING,
    ),
    C(
        "update-victim-id-wrong-version",
        "UpdateCohort of V's live id with a wrong version (must not say ABORTED)",
        NOT_FOUND,
        MISSING,
    ),
    C(
        "update-victim-deleted-id",
        "UpdateCohort of V's deleted id (must not say FAILED_PRECONDITION)",
        NOT_FOUND,
        MISSING,
    ),
    C("delete-victim-id", "DeleteCohort of V's live id", NOT_FOUND, MISSING),
    C(
        "delete-victim-id-wrong-version",
        "DeleteCohort of V's live id with a wrong version",
        NOT_FOUND,
        MISSING,
    ),
    C("undelete-victim-deleted-id", "UndeleteCohort of V's deleted id", NOT_FOUND, MISSING),
    C(
        "update-victim-id-body-claims-victim",
        "UpdateCohort of V's id with cohort.tenant_id = V in the body",
        NOT_FOUND,
        MISSING,
    ),
    C(
        "mask-star-on-victim-id",
        "UpdateCohort of V's id with update_mask '*'",
        NOT_FOUND,
        MISSING,
    ),
    C("get-other-app-id", "GetCohort of app-2's row with an app-1 token", NOT_FOUND, MISSING),
    C("update-other-app-id", "UpdateCohort of app-2's row with an app-1 token", NOT_FOUND, MISSING),
    C("delete-other-app-id", "DeleteCohort of app-2's row with an app-1 token", NOT_FOUND, MISSING),
    C(
        "get-person-row-as-app",
        "GetCohort of a person-created row (no app) with an app-1 token",
        NOT_FOUND,
        MISSING,
    ),
    C(
        "get-same-app-name-other-tenant",
        "GetCohort of V's app-1 row with A's app-1 token",
        NOT_FOUND,
        MISSING,
    ),
    C(
        "update-deleted",
        "UpdateCohort of A's own deleted row",
        FAILED_PRECONDITION,
        "COHORT_DELETED",
    ),
    C("delete-deleted", "DeleteCohort of A's own deleted row", NOT_FOUND, MISSING),
    C(
        "undelete-live",
        "UndeleteCohort of A's own live row",
        ALREADY_EXISTS,
        "COHORT_NOT_DELETED",
    ),
    C(
        "request-id-of-other-tenant",
        "CreateCohort reusing V's request_id (creates A's own row)",
        OK,
    ),
    C(
        "request-id-of-other-app",
        "CreateCohort by app-2 reusing app-1's request_id",
        ALREADY_EXISTS,
        "REQUEST_ID_REUSED",
    ),
    C(
        "request-id-of-app-by-person",
        "CreateCohort by A's person reusing app-1's request_id (replays app-1's row)",
        OK,
    ),
    # --- a token for tenant A, a body claiming tenant B -------------------------------------
    C(
        "create-body-claims-victim",
        "CreateCohort with tenant_id V, app_id, id of V's row, created_by, is_deleted, "
        "version 99, schema_version 7 in the body",
        OK,
    ),
    C(
        "update-body-claims-victim",
        "UpdateCohort of A's row, mask [name, tenant_id], body tenant_id V",
        OK,
    ),
    C(
        "create-app-body-claims-other-app",
        "CreateCohort with an app-1 token and app_id app-2 in the body",
        OK,
    ),
    C(
        "extra-metadata-claims-victim",
        "GetCohort of V's id, A's token plus x-tenant-id: V and tenant_id: V metadata",
        NOT_FOUND,
        MISSING,
    ),
    # --- SQL-looking strings ----------------------------------------------------------------
    C("sql-name", 'CreateCohort name "Robert\'); DROP TABLE cohorts;--" (verbatim)', OK),
    C("sql-source", "CreateCohort source \"' OR '1'='1' --\" (verbatim)", OK),
    C("sql-program_id", "CreateCohort program_id '1; DELETE FROM cohorts WHERE true; --'", OK),
    C("sql-facilitator_ids", "CreateCohort facilitator_ids with quotes, $$ and pg_sleep", OK),
    C("sql-tags", "CreateCohort tags with TRUNCATE, %, _, backslash, || (verbatim)", OK),
    C("sql-metadata", "CreateCohort metadata keys/values with SQL and JSONB operators", OK),
    C("sql-all-text-fields-update", "UpdateCohort of A's row, SQL in every free-text field", OK),
    C(
        "sql-group_id",
        "CreateCohort group_id \"grp-' OR '1'='1\"",
        INVALID,
        BAD,
        "cohort.group_id",
    ),
    C(
        "sql-assigned_assessment_ids",
        "CreateCohort assigned_assessment_ids ['asm-'; DROP TABLE cohorts; --']",
        INVALID,
        BAD,
        "cohort.assigned_assessment_ids",
    ),
    C("sql-request_id", 'CreateCohort request_id "\' OR 1=1 --"', INVALID, BAD, "request_id"),
    C("sql-id-get", "GetCohort id \"coh_' OR '1'='1\"", INVALID, BAD, "id"),
    C(
        "sql-id-delete",
        "DeleteCohort id \"<A's live id>' OR tenant_id <> '\"",
        INVALID,
        BAD,
        "id",
    ),
    C(
        "sql-update_mask-path",
        "UpdateCohort update_mask path 'name; DROP TABLE cohorts'",
        INVALID,
        BAD,
        "update_mask.paths",
    ),
    C(
        "sql-order_by",
        "ListCohorts order_by 'name; DROP TABLE cohorts'",
        INVALID,
        BAD_ORDER,
        "order_by",
    ),
    C("sql-page_token", 'ListCohorts page_token "\' OR 1=1 --"', INVALID, BAD_TOKEN, "page_token"),
    # --- filters ----------------------------------------------------------------------------
    C(
        "filter-sql-string-literal",
        "ListCohorts filter 'name = \"Robert'); DROP TABLE cohorts;--\"' (matches as data)",
        OK,
    ),
    C(
        "filter-sql-tautology-number",
        "ListCohorts filter 'name = \"x\" OR 1=1'",
        INVALID,
        BAD_FILTER,
    ),
    C(
        "filter-sql-single-quotes",
        "ListCohorts filter \"name = '' OR ''=''\"",
        INVALID,
        BAD_FILTER,
    ),
    C(
        "filter-sql-semicolon",
        "ListCohorts filter 'name = \"a\"; DROP TABLE cohorts'",
        INVALID,
        BAD_FILTER,
    ),
    C(
        "filter-sql-comment",
        "ListCohorts filter 'name = \"a\" -- comment'",
        INVALID,
        BAD_FILTER,
    ),
    C(
        "filter-sql-in-metadata-key",
        "ListCohorts filter \"metadata.x') OR ('1'='1:*\"",
        INVALID,
        BAD_FILTER,
    ),
    C(
        "filter-like-wildcards",
        'ListCohorts filter \'name = "%*" OR name = "_*"\' (no name starts with % or _)',
        OK,
    ),
    C(
        "filter-tautology-person",
        'ListCohorts filter \'created_by = "x" OR NOT created_by = "x"\' (stays in scope)',
        OK,
    ),
    C(
        "filter-tautology-app",
        "ListCohorts as app-1, same tautology (stays in app-1's rows)",
        OK,
    ),
    C(
        "filter-tenant_id",
        "ListCohorts filter 'tenant_id = \"<V>\"'",
        INVALID,
        BAD_FILTER,
    ),
    C("filter-app_id-other-app", "ListCohorts as app-1, filter 'app_id = \"app-2\"'", OK),
    C(
        "filter-jsonb-operators-in-value",
        "ListCohorts filter 'metadata.room:\"A1' ? 'x\"' and 'tags:\"'; TRUNCATE cohorts; --\"'",
        OK,
    ),
    C(
        "filter-session_count-beyond-int32",
        "ListCohorts filter 'session_count = 2147483648' (int4 column: data, empty result)",
        OK,
    ),
    C(
        "filter-session_count-int64-max",
        "ListCohorts filter 'session_count > 9223372036854775807' (data, empty result)",
        OK,
    ),
    C(
        "filter-session_count-beyond-int64",
        "ListCohorts filter 'session_count = 9223372036854775808'",
        INVALID,
        BAD_FILTER,
    ),
    C(
        "filter-metadata-path-990-keys-any",
        "ListCohorts filter 'metadata.a.a.(990 keys):*' (deeper than metadata can be)",
        INVALID,
        BAD_FILTER,
    ),
    C(
        "filter-metadata-path-990-keys-value",
        "ListCohorts filter 'metadata.a.a.(990 keys):\"x\"' (deeper than metadata can be)",
        INVALID,
        BAD_FILTER,
    ),
    C("filter-nesting-21", "ListCohorts filter with 21 nested parentheses", INVALID, BAD_FILTER),
    C("filter-101-restrictions", "ListCohorts filter with 101 restrictions", INVALID, BAD_FILTER),
    C("filter-2001-chars", "ListCohorts filter of 2001 characters", INVALID, BAD_FILTER),
    C(
        "filter-non-ascii-digits",
        "ListCohorts filter 'session_count = \\u0661\\u0662' (Arabic-Indic digits)",
        INVALID,
        BAD_FILTER,
    ),
    C(
        "filter-double-overflow",
        "ListCohorts filter 'completion_required_pct = 1e999'",
        INVALID,
        BAD_FILTER,
    ),
    # --- field masks ------------------------------------------------------------------------
    C("mask-duplicates", "UpdateCohort mask [name, name, tags, tags] (applied once)", OK),
    C(
        "mask-nested-metadata",
        "UpdateCohort mask ['metadata.room']",
        INVALID,
        BAD,
        "update_mask.paths",
    ),
    C(
        "mask-nested-timestamp",
        "UpdateCohort mask ['start_date.seconds']",
        INVALID,
        BAD,
        "update_mask.paths",
    ),
    C("mask-indexed", "UpdateCohort mask ['tags[0]']", INVALID, BAD, "update_mask.paths"),
    C("mask-star-with-path", "UpdateCohort mask ['*', 'name']", INVALID, BAD, "update_mask.paths"),
    C(
        "mask-server-fields",
        "UpdateCohort mask of server fields only, body claiming V, deleted, other creator",
        OK,
    ),
    C("mask-10000-paths", "UpdateCohort mask with 10,000 paths", INVALID, BAD, "update_mask.paths"),
    C("mask-empty-path", "UpdateCohort mask ['']", INVALID, BAD, "update_mask.paths"),
    C("mask-json-name", "UpdateCohort mask ['programId']", INVALID, BAD, "update_mask.paths"),
    # --- page tokens ------------------------------------------------------------------------
    C(
        "page-token-other-tenant",
        "ListCohorts by V's person with A's person's page token",
        INVALID,
        BAD_TOKEN,
    ),
    C(
        "page-token-other-app",
        "ListCohorts by app-2 with app-1's page token",
        INVALID,
        BAD_TOKEN,
    ),
    C(
        "page-token-person-to-app",
        "ListCohorts by app-1 with A's person's page token",
        INVALID,
        BAD_TOKEN,
    ),
    C("page-token-truncated", "ListCohorts with a page token missing its last 4 chars", INVALID),
    C(
        "page-token-bit-flipped-body",
        "ListCohorts with one bit flipped in the token's body",
        INVALID,
        BAD_TOKEN,
    ),
    C(
        "page-token-bit-flipped-mac",
        "ListCohorts with one bit flipped in the token's MAC",
        INVALID,
        BAD_TOKEN,
    ),
    C(
        "page-token-other-filter",
        "ListCohorts with a token issued for another filter",
        INVALID,
        BAD_TOKEN,
    ),
    C(
        "page-token-other-order_by",
        "ListCohorts with a token issued for another order_by",
        INVALID,
        BAD_TOKEN,
    ),
    C(
        "page-token-other-show_deleted",
        "ListCohorts show_deleted with a token issued without it",
        INVALID,
        BAD_TOKEN,
    ),
    C("page-token-2000-chars", "ListCohorts with a 2000-character token", INVALID, BAD_TOKEN),
    C("page-token-non-ascii", "ListCohorts with a token containing 'é'", INVALID, BAD_TOKEN),
    C(
        "page-token-forged",
        "ListCohorts with a token MACed with a guessed secret, pointing into V",
        INVALID,
        BAD_TOKEN,
    ),
    # --- bearer tokens ----------------------------------------------------------------------
    C("no-authorization", "DeleteCohort of A's live row without metadata", UNAUTHENTICATED),
    C(
        "jwt-expired",
        "UpdateCohort of A's live row, token expired an hour ago",
        UNAUTHENTICATED,
        "TOKEN_EXPIRED",
    ),
    C(
        "jwt-nbf-future",
        "CreateCohort, token with nbf an hour ahead",
        UNAUTHENTICATED,
        "TOKEN_NOT_YET_VALID",
    ),
    C(
        "jwt-alg-none",
        "DeleteCohort of A's live row, unsigned token (alg none)",
        UNAUTHENTICATED,
        "TOKEN_ALGORITHM_REJECTED",
    ),
    C(
        "jwt-wrong-key",
        "UpdateCohort of A's live row, HS256 token signed with another secret",
        UNAUTHENTICATED,
        "TOKEN_SIGNATURE",
    ),
    C(
        "jwt-rs256-foreign-key",
        "CreateCohort, RS256 token signed with an attacker's RSA key",
        UNAUTHENTICATED,
        "TOKEN_ALGORITHM_REJECTED",
    ),
    C(
        "jwt-payload-swapped-to-victim",
        "GetCohort of V's id, A's header and signature around V's payload",
        UNAUTHENTICATED,
        "TOKEN_SIGNATURE",
    ),
    C(
        "jwt-signature-stripped",
        "DeleteCohort of A's live row, token with an empty signature",
        UNAUTHENTICATED,
    ),
    C(
        "jwt-tenant-list",
        "GetCohort of V's id, tenant_id claim [A, V]",
        UNAUTHENTICATED,
        "TOKEN_CLAIM_INVALID",
    ),
    C(
        "jwt-empty-app-id",
        "GetCohort of app-2's row, app_id claim '' (would widen to the person scope)",
        UNAUTHENTICATED,
        "TOKEN_CLAIM_INVALID",
    ),
    C(
        "jwt-oversize-12000-bytes",
        "CreateCohort 20 times with a 12,000-byte token (> 8 KiB limit; each must be "
        "UNAUTHENTICATED, none RESOURCE_EXHAUSTED)",
        UNAUTHENTICATED,
        "TOKEN_TOO_LARGE",
    ),
    C(
        "jwt-valid-7900-bytes",
        "ListCohorts 150 times with a valid 7,900-byte token (under the 8 KiB limit; each "
        "must be OK, none RESOURCE_EXHAUSTED)",
        OK,
    ),
    C(
        "jwt-tenant-nul",
        "CreateCohort, tenant_id claim 'A\\x00'",
        UNAUTHENTICATED,
        "TOKEN_CLAIM_INVALID",
    ),
    C(
        "jwt-tenant-lone-surrogate",
        "CreateCohort, tenant_id claim 'A\\ud800' (JSON escape)",
        UNAUTHENTICATED,
        "TOKEN_CLAIM_INVALID",
    ),
    C(
        "jwt-sub-nul",
        "CreateCohort, sub claim 'person\\x00'",
        UNAUTHENTICATED,
        "TOKEN_CLAIM_INVALID",
    ),
    C(
        "jwt-app-nul",
        "GetCohort of app-1's row, app_id claim 'app-1\\x00'",
        UNAUTHENTICATED,
        "TOKEN_CLAIM_INVALID",
    ),
    C(
        "jwt-tenant-percent-wildcard",
        "GetCohort of V's id with a valid token for tenant '%'",
        NOT_FOUND,
        MISSING,
    ),
    # --- unicode ----------------------------------------------------------------------------
    C("unicode-200-astral-name", "CreateCohort name of 200 emoji (800 bytes)", OK),
    C(
        "unicode-201-astral-name",
        "CreateCohort name of 201 emoji",
        INVALID,
        BAD,
        "cohort.name",
    ),
    C(
        "unicode-bidi-noncharacters",
        "CreateCohort name with U+202E, U+FEFF, U+FFFF, U+10FFFF, combining mark",
        OK,
    ),
)

# --------------------------------------------------------------------------------------------
# The world every case attacks, snapshots, and the call helpers.
# --------------------------------------------------------------------------------------------

Metadata = tuple[tuple[str, str], ...]

PLACEHOLDER = "\u2603"  # 3 UTF-8 bytes, swapped on the wire for...
LONE_SURROGATE = b"\xed\xa0\x80"  # ...U+D800 "encoded" as UTF-8: invalid UTF-8
MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
FIVE_MIB = 5 * 1024 * 1024
SQL_NAME = "Robert'); DROP TABLE cohorts;--"
SERVICE_PATH = "/learning.v1.CohortService/"
REQUEST_CLASSES: dict[str, Any] = {
    "GetCohort": cohort_service_pb2.GetCohortRequest,
    "ListCohorts": cohort_service_pb2.ListCohortsRequest,
    "CreateCohort": cohort_service_pb2.CreateCohortRequest,
    "UpdateCohort": cohort_service_pb2.UpdateCohortRequest,
    "DeleteCohort": cohort_service_pb2.DeleteCohortRequest,
    "UndeleteCohort": cohort_service_pb2.UndeleteCohortRequest,
}


@dataclass(frozen=True)
class Outcome:
    """What one hostile call got, and which rows ((tenant, id)) it may have written."""

    code: grpc.StatusCode
    response: Any = None
    error: grpc.RpcError | None = None
    writes: frozenset[tuple[str, str]] = frozenset()

    def allowing(self, *keys: tuple[str, str]) -> Outcome:
        return dataclasses.replace(self, writes=self.writes | frozenset(keys))


@dataclass
class World:
    """Tenant A (the attacker) and tenant V (the victim), seeded through the service."""

    stub: Any
    channel: grpc.Channel
    db: psycopg.Connection[Any]
    tenant: str
    victim: str
    person: Metadata
    app1: Metadata
    app2: Metadata
    victim_person: Metadata
    victim_app1: Metadata
    app1_request_id: str
    victim_request_id: str
    live: cohort_pb2.Cohort = field(default_factory=cohort_pb2.Cohort)
    live2: cohort_pb2.Cohort = field(default_factory=cohort_pb2.Cohort)
    deleted: cohort_pb2.Cohort = field(default_factory=cohort_pb2.Cohort)
    app1_row: cohort_pb2.Cohort = field(default_factory=cohort_pb2.Cohort)
    app1_row2: cohort_pb2.Cohort = field(default_factory=cohort_pb2.Cohort)
    app2_row: cohort_pb2.Cohort = field(default_factory=cohort_pb2.Cohort)
    victim_live: cohort_pb2.Cohort = field(default_factory=cohort_pb2.Cohort)
    victim_deleted: cohort_pb2.Cohort = field(default_factory=cohort_pb2.Cohort)
    victim_app1_row: cohort_pb2.Cohort = field(default_factory=cohort_pb2.Cohort)
    prepared: dict[str, Any] = field(default_factory=dict)

    # -- calls -------------------------------------------------------------------------------

    def call(self, method: str, request: Any, metadata: Metadata | None = None) -> Outcome:
        """The generated stub's call; metadata defaults to A's person."""
        md = self.person if metadata is None else metadata
        try:
            response = getattr(self.stub, method)(request, metadata=md, timeout=60)
        except grpc.RpcError as error:
            return Outcome(error.code(), error=error)
        return Outcome(OK, response=response)

    def raw(self, method: str, data: bytes, metadata: Metadata | None = None) -> Outcome:
        """The call with hand-made request bytes (identity serializers both ways)."""
        md = self.person if metadata is None else metadata
        call = self.channel.unary_unary(
            SERVICE_PATH + method, request_serializer=None, response_deserializer=None
        )
        try:
            response = call(data, metadata=md, timeout=60)
        except grpc.RpcError as error:
            return Outcome(error.code(), error=error)
        return Outcome(OK, response=response)

    def create(
        self, metadata: Metadata, cohort: cohort_pb2.Cohort, request_id: str = ""
    ) -> cohort_pb2.Cohort:
        request = cohort_service_pb2.CreateCohortRequest(cohort=cohort, request_id=request_id)
        created: cohort_pb2.Cohort = self.stub.CreateCohort(request, metadata=metadata)
        return created

    def get(self, cohort_id: str, metadata: Metadata | None = None) -> cohort_pb2.Cohort:
        fetched: cohort_pb2.Cohort = self.stub.GetCohort(
            cohort_service_pb2.GetCohortRequest(id=cohort_id),
            metadata=self.person if metadata is None else metadata,
        )
        return fetched

    def delete(self, metadata: Metadata, cohort_id: str) -> cohort_pb2.Cohort:
        deleted: cohort_pb2.Cohort = self.stub.DeleteCohort(
            cohort_service_pb2.DeleteCohortRequest(id=cohort_id), metadata=metadata
        )
        return deleted

    def list_ids(self, metadata: Metadata | None = None, **query: Any) -> list[str]:
        """Every id List returns for the query, following next_page_token."""
        ids: list[str] = []
        token = ""
        for _ in range(1000):
            page = self.stub.ListCohorts(
                cohort_service_pb2.ListCohortsRequest(page_token=token, **query),
                metadata=self.person if metadata is None else metadata,
            )
            ids.extend(c.id for c in page.cohorts)
            token = page.next_page_token
            if not token:
                return ids
        raise AssertionError("List never ended")

    def page_token(self, metadata: Metadata | None = None, **query: Any) -> str:
        page = self.stub.ListCohorts(
            cohort_service_pb2.ListCohortsRequest(page_size=1, **query),
            metadata=self.person if metadata is None else metadata,
        )
        assert page.next_page_token, "the seeded world must need a second page"
        return str(page.next_page_token)

    # -- what each scope owns ----------------------------------------------------------------

    @property
    def person_live_ids(self) -> set[str]:
        rows = (self.live, self.live2, self.app1_row, self.app1_row2, self.app2_row)
        return {r.id for r in rows}

    def row(self, cohort_id: str, tenant: str | None = None) -> dict[str, Any]:
        with self.db.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                "SELECT * FROM cohorts WHERE tenant_id = %s AND id = %s",
                (tenant or self.tenant, cohort_id),
            )
            row = cursor.fetchone()
        assert row is not None, f"{cohort_id} is not stored in {tenant or self.tenant}"
        return row


@pytest.fixture
def world(stub, channel, db, tenant, auth_for) -> World:
    victim = f"victim-{uuid.uuid4().hex[:12]}"
    w = World(
        stub=stub,
        channel=channel,
        db=db,
        tenant=tenant,
        victim=victim,
        person=auth_for(tenant, sub="person-a"),
        app1=auth_for(tenant, sub="svc-1", app="app-1"),
        app2=auth_for(tenant, sub="svc-2", app="app-2"),
        victim_person=auth_for(victim, sub="person-v"),
        victim_app1=auth_for(victim, sub="svc-v1", app="app-1"),
        app1_request_id=str(uuid.uuid4()),
        victim_request_id=str(uuid.uuid4()),
    )
    w.live = w.create(w.person, full_cohort(name=SQL_NAME))
    w.live2 = w.create(w.person, full_cohort(name="Second live"))
    w.deleted = w.delete(w.person, w.create(w.person, full_cohort(name="Gone")).id)
    w.app1_row = w.create(w.app1, full_cohort(name="App one"), w.app1_request_id)
    w.app1_row2 = w.create(w.app1, full_cohort(name="App one again"))
    w.app2_row = w.create(w.app2, full_cohort(name="App two"))
    w.victim_live = w.create(w.victim_person, full_cohort(name="Victim"), w.victim_request_id)
    w.victim_deleted = w.delete(
        w.victim_person, w.create(w.victim_person, full_cohort(name="Victim gone")).id
    )
    w.victim_app1_row = w.create(w.victim_app1, full_cohort(name="Victim app one"))
    return w


@dataclass(frozen=True)
class Snapshot:
    rows: dict[tuple[str, str], dict[str, Any]]
    total: int
    last_write: datetime | None


def take_snapshot(w: World) -> Snapshot:
    with w.db.cursor(row_factory=dict_row) as cursor:
        cursor.execute(
            "SELECT * FROM cohorts WHERE tenant_id = ANY(%s) ORDER BY tenant_id, id",
            ([w.tenant, w.victim],),
        )
        rows = {(r["tenant_id"], r["id"]): r for r in cursor.fetchall()}
    summary = w.db.execute("SELECT count(*), max(updated_at) FROM cohorts").fetchone()
    assert summary is not None
    return Snapshot(rows=rows, total=int(summary[0]), last_write=summary[1])


def write_problems(
    before: Snapshot, after: Snapshot, writes: frozenset[tuple[str, str]]
) -> list[str]:
    """How the database changed beyond the rows the call was allowed to write."""
    problems: list[str] = []
    for key in sorted(before.rows.keys() | after.rows.keys()):
        if key in writes:
            continue
        if key not in before.rows:
            problems.append(f"row {key} appeared")
        elif key not in after.rows:
            problems.append(f"row {key} vanished")
        elif before.rows[key] != after.rows[key]:
            changed = sorted(
                k for k in before.rows[key] if before.rows[key][k] != after.rows[key][k]
            )
            problems.append(f"row {key} changed: {changed}")
    appeared = len(after.rows.keys() - before.rows.keys())
    if after.total - before.total != appeared:
        problems.append(
            f"{after.total - before.total} rows were added to the table but {appeared} "
            "to the two tenants: something was written to another tenant"
        )
    if not writes and after.last_write != before.last_write:
        problems.append("the table's newest updated_at moved: something was written")
    return problems


# --------------------------------------------------------------------------------------------
# Attacks: one per HOSTILE_CASES id.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    run: Callable[[World], Outcome]
    prepare: Callable[[World], None] | None = None


ATTACKS: dict[str, Attack] = {}


def attack(
    case_id: str, *, prepare: Callable[[World], None] | None = None
) -> Callable[[Callable[[World], Outcome]], Callable[[World], Outcome]]:
    def register(run: Callable[[World], Outcome]) -> Callable[[World], Outcome]:
        assert case_id not in ATTACKS, case_id
        ATTACKS[case_id] = Attack(run, prepare)
        return run

    return register


# -- wire helpers ----------------------------------------------------------------------------


def undecodable(method: str, data: bytes) -> bytes:
    """The bytes, after checking the protobuf runtime itself refuses them."""
    with pytest.raises(Exception):  # noqa: B017 - any decode error will do
        REQUEST_CLASSES[method].FromString(data)
    return data


def with_lone_surrogate(method: str, request: Any) -> bytes:
    """The request's bytes with its one PLACEHOLDER turned into invalid UTF-8."""
    data = request.SerializeToString()
    assert data.count(PLACEHOLDER.encode()) == 1, "the placeholder must appear exactly once"
    return undecodable(method, data.replace(PLACEHOLDER.encode(), LONE_SURROGATE))


def create_request(**overrides: Any) -> cohort_service_pb2.CreateCohortRequest:
    request_id = overrides.pop("request_id", "")
    return cohort_service_pb2.CreateCohortRequest(
        cohort=full_cohort(**overrides), request_id=request_id
    )


def create_of(w: World, outcome: Outcome, sent: cohort_pb2.Cohort | None = None) -> Outcome:
    """For an accepted create: A owns the new row, Get returns it, and it holds what was sent."""
    if outcome.code is not OK:
        return outcome
    created = outcome.response
    if isinstance(created, bytes):
        created = cohort_pb2.Cohort.FromString(created)
    assert created.tenant_id == w.tenant
    assert not created.is_deleted and created.version == 1
    assert w.get(created.id) == created
    if sent is not None:
        assert content_of(created) == content_of(sent), "stored content differs from the sent"
    return outcome.allowing((w.tenant, created.id))


def update_of(w: World, outcome: Outcome, before: cohort_pb2.Cohort) -> Outcome:
    """For an accepted update of A's row: version +1, identity unchanged, Get agrees."""
    if outcome.code is not OK:
        return outcome
    updated = outcome.response
    assert updated.id == before.id and updated.tenant_id == w.tenant
    assert updated.version == before.version + 1
    assert updated.created_by == before.created_by and updated.created_at == before.created_at
    assert updated.HasField("app_id") == before.HasField("app_id")
    assert w.get(updated.id) == updated
    return outcome.allowing((w.tenant, before.id))


def listed(w: World, outcome: Outcome, expected: set[str], metadata: Metadata | None = None):
    """For an accepted List: exactly the expected ids (a subset of the caller's scope)."""
    if outcome.code is OK:
        ids = [c.id for c in outcome.response.cohorts]
        assert len(ids) == len(set(ids))
        assert set(ids) == expected, (sorted(ids), sorted(expected))
        assert all(c.tenant_id == w.tenant for c in outcome.response.cohorts)
    return outcome


def first_other_than(code: grpc.StatusCode, attempts: list[Outcome]) -> Outcome:
    """The first attempt that did not get code, or the first attempt when all got it."""
    return next((o for o in attempts if o.code != code), attempts[0])


# -- malformed bytes, unknown method and fields ----------------------------------------------


@attack("malformed-create-garbage")
def _malformed_create(w: World) -> Outcome:
    return w.raw("CreateCohort", undecodable("CreateCohort", b"\xff\xff\xff"))


@attack("malformed-update-truncated")
def _malformed_update(w: World) -> Outcome:
    request = update_request(cohort_pb2.Cohort(id=w.live.id, name="Truncated"), ["name"])
    return w.raw("UpdateCohort", undecodable("UpdateCohort", request.SerializeToString()[:-1]))


@attack("malformed-get-overlong-varint")
def _malformed_get(w: World) -> Outcome:
    return w.raw("GetCohort", undecodable("GetCohort", b"\x08" + b"\xff" * 10 + b"\x01"))


@attack("malformed-list-length-past-end")
def _malformed_list(w: World) -> Outcome:
    return w.raw("ListCohorts", undecodable("ListCohorts", b"\x1a\x7fxxx"))


@attack("malformed-delete-open-group")
def _malformed_delete(w: World) -> Outcome:
    return w.raw("DeleteCohort", undecodable("DeleteCohort", b"\x0b"))


@attack("malformed-undelete-field-zero")
def _malformed_undelete(w: World) -> Outcome:
    return w.raw("UndeleteCohort", undecodable("UndeleteCohort", b"\x00\x01"))


@attack("malformed-update-wrong-wire-type")
def _malformed_wire_type(w: World) -> Outcome:
    return w.raw("UpdateCohort", b"\x08\x01")


@attack("unknown-method")
def _unknown_method(w: World) -> Outcome:
    return w.raw("DropCohorts", b"")


@attack("unknown-field-ignored")
def _unknown_field(w: World) -> Outcome:
    sent = full_cohort(name="Unknown field")
    data = cohort_service_pb2.CreateCohortRequest(cohort=sent).SerializeToString()
    return create_of(w, w.raw("CreateCohort", data + length_delimited(999, b"junk")), sent)


# -- oversize --------------------------------------------------------------------------------


@attack("oversize-create-5MiB")
def _oversize_create(w: World) -> Outcome:
    return w.call("CreateCohort", create_request(name="x" * FIVE_MIB))


@attack("oversize-update-5MiB")
def _oversize_update(w: World) -> Outcome:
    request = update_request(cohort_pb2.Cohort(id=w.live.id, name="y" * FIVE_MIB), ["name"])
    return w.call("UpdateCohort", request)


@attack("near-limit-create-4M-name")
def _near_limit(w: World) -> Outcome:
    return w.call("CreateCohort", create_request(name="n" * 4_000_000))


def _maximum_cohort() -> cohort_pb2.Cohort:
    """A cohort at every documented size limit, in 4-byte characters where text is counted."""
    emoji = "\U0001f600"
    cohort = cohort_pb2.Cohort(
        name=emoji * 200,
        source=emoji * 64,
        program_id=emoji * 128,
        facilitator_ids=[emoji * 128] * 100,
        tags=[emoji * 64] * 100,
    )
    cohort.metadata.update({"k": "x" * 65_000})
    return cohort


def _prepare_maximum_rows(w: World) -> None:
    big = _maximum_cohort()
    w.prepared["big"] = {w.create(w.person, big).id for _ in range(32)}


@attack("list-max-size-rows-default-page", prepare=_prepare_maximum_rows)
def _list_maximum_rows(w: World) -> Outcome:
    outcome = w.call("ListCohorts", cohort_service_pb2.ListCohortsRequest())
    if outcome.code is OK:
        # A page may be short, but following the tokens must reach every cohort.
        assert set(w.list_ids()) == w.person_live_ids | w.prepared["big"]
    return outcome


# -- deep and wide ---------------------------------------------------------------------------


def _deep_struct_bytes(levels: int) -> bytes:
    struct = b""
    for _ in range(levels):
        value = length_delimited(5, struct)  # Value.struct_value = 5
        entry = length_delimited(1, b"a") + length_delimited(2, value)
        struct = length_delimited(1, entry)  # Struct.fields = 1
    return struct


@attack("struct-100-deep-create")
def _struct_deep_create(w: World) -> Outcome:
    # Built in place: copying a message this deep would re-parse it and hit the client's limit.
    request = cohort_service_pb2.CreateCohortRequest()
    request.cohort.name = "Deep"
    current: struct_pb2.Struct = request.cohort.metadata
    for _ in range(100):
        current = current.fields["a"].struct_value
    current.fields["leaf"].string_value = "bottom"
    return w.call("CreateCohort", request)


@attack("struct-100-deep-update")
def _struct_deep_update(w: World) -> Outcome:
    head = update_request(cohort_pb2.Cohort(id=w.live.id), ["metadata"]).SerializeToString()
    # A second `cohort` field merges into the first: it adds the deep metadata.
    deep = length_delimited(1, length_delimited(25, _deep_struct_bytes(100)))
    return w.raw("UpdateCohort", undecodable("UpdateCohort", head + deep))


@attack("listvalue-100-deep-create")
def _list_deep_create(w: World) -> Outcome:
    request = cohort_service_pb2.CreateCohortRequest()
    request.cohort.name = "Deep list"
    value: struct_pb2.Value = request.cohort.metadata.fields["a"]
    for _ in range(100):
        value = value.list_value.values.add()
    value.number_value = 1
    return w.call("CreateCohort", request)


def _nested_objects(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):  # this dict becomes metadata itself, the outermost object
        value = {"child": value}
    return value


@attack("struct-11-deep-create")
def _struct_11(w: World) -> Outcome:
    return w.call("CreateCohort", create_request(metadata=_nested_objects(11)))


@attack("tags-10000-create")
def _tags_create(w: World) -> Outcome:
    return w.call("CreateCohort", create_request(tags=[f"t{i}" for i in range(10_000)]))


@attack("tags-10000-update")
def _tags_update(w: World) -> Outcome:
    cohort = cohort_pb2.Cohort(id=w.live.id, tags=[f"t{i}" for i in range(10_000)])
    return w.call("UpdateCohort", update_request(cohort, ["tags"]))


@attack("facilitators-10000-create")
def _facilitators(w: World) -> Outcome:
    ids = [f"person-{i}" for i in range(10_000)]
    return w.call("CreateCohort", create_request(facilitator_ids=ids))


@attack("metadata-10000-keys-create")
def _metadata_keys(w: World) -> Outcome:
    metadata = {f"k{i:05d}": "value" for i in range(10_000)}
    return w.call("CreateCohort", create_request(metadata=metadata))


# -- NUL bytes and lone surrogates in every string field -------------------------------------

# Each target: the method and how to build its request with `s` spliced into one string field.
StringTarget = tuple[str, Callable[[World, str], Any]]
STRING_TARGETS: dict[str, StringTarget] = {
    "name": ("CreateCohort", lambda w, s: create_request(name=f"Spr{s}ing")),
    "source": ("CreateCohort", lambda w, s: create_request(source=f"hr{s}sync")),
    "group_id": ("CreateCohort", lambda w, s: create_request(group_id=f"grp-{uuid.uuid4()}{s}")),
    "program_id": ("CreateCohort", lambda w, s: create_request(program_id=f"prog{s}1")),
    "facilitator_ids": (
        "CreateCohort",
        lambda w, s: create_request(facilitator_ids=["person-a", f"person{s}b"]),
    ),
    "assigned_assessment_ids": (
        "CreateCohort",
        lambda w, s: create_request(assigned_assessment_ids=[f"asm-{uuid.uuid4()}{s}"]),
    ),
    "tags": ("CreateCohort", lambda w, s: create_request(tags=["ok", f"ta{s}g"])),
    "metadata-key": ("CreateCohort", lambda w, s: create_request(metadata={f"ke{s}y": "v"})),
    "metadata-value": ("CreateCohort", lambda w, s: create_request(metadata={"key": f"va{s}lue"})),
    "tenant_id": ("CreateCohort", lambda w, s: create_request(tenant_id=f"{w.victim}{s}")),
    "request_id": ("CreateCohort", lambda w, s: create_request(request_id=f"{uuid.uuid4()}{s}")),
    "update_mask-path": (
        "UpdateCohort",
        lambda w, s: update_request(cohort_pb2.Cohort(id=w.live.id, name="Masked"), [f"name{s}"]),
    ),
    "filter": (
        "ListCohorts",
        lambda w, s: cohort_service_pb2.ListCohortsRequest(filter=f'name = "Spr{s}ing"'),
    ),
    "order_by": (
        "ListCohorts",
        lambda w, s: cohort_service_pb2.ListCohortsRequest(order_by=f"name{s}"),
    ),
    "page_token": (
        "ListCohorts",
        lambda w, s: cohort_service_pb2.ListCohortsRequest(page_token=f"AAAA{s}"),
    ),
    "id-get": ("GetCohort", lambda w, s: cohort_service_pb2.GetCohortRequest(id=w.live.id + s)),
    "id-update": (
        "UpdateCohort",
        lambda w, s: update_request(cohort_pb2.Cohort(id=w.live.id + s, name="Hijack"), ["name"]),
    ),
    "id-delete": (
        "DeleteCohort",
        lambda w, s: cohort_service_pb2.DeleteCohortRequest(id=w.live.id + s),
    ),
    "id-undelete": (
        "UndeleteCohort",
        lambda w, s: cohort_service_pb2.UndeleteCohortRequest(id=w.deleted.id + s),
    ),
}
NUL_TARGETS = [name for name in STRING_TARGETS if name != "tenant_id"]  # see nul-output-only


def _nul_attack(method: str, build: Callable[[World, str], Any]) -> Callable[[World], Outcome]:
    return lambda w: w.call(method, build(w, "\x00"))


def _surrogate_attack(
    method: str, build: Callable[[World, str], Any]
) -> Callable[[World], Outcome]:
    return lambda w: w.raw(method, with_lone_surrogate(method, build(w, PLACEHOLDER)))


for _name in NUL_TARGETS:
    attack(f"nul-{_name}")(_nul_attack(*STRING_TARGETS[_name]))
for _name, _target in STRING_TARGETS.items():
    attack(f"surrogate-{_name}")(_surrogate_attack(*_target))


@attack("nul-name-update")
def _nul_name_update(w: World) -> Outcome:
    cohort = cohort_pb2.Cohort(id=w.live.id, name="Spr\x00ing")
    return w.call("UpdateCohort", update_request(cohort, ["name"]))


@attack("nul-output-only-fields-create")
def _nul_output_only(w: World) -> Outcome:
    sent = full_cohort(
        name="Output-only NUL",
        tenant_id=f"{w.victim}\x00",
        app_id="app-2\x00",
        created_by="mallory\x00",
        updated_by="mallory\x00",
        deleted_by="mallory\x00",
    )
    outcome = create_of(
        w, w.call("CreateCohort", cohort_service_pb2.CreateCohortRequest(cohort=sent))
    )
    if outcome.code is OK:
        created = outcome.response
        assert not created.HasField("app_id")
        assert created.created_by == created.updated_by == "person-a"
        assert created.deleted_by == ""
        assert content_of(created) == content_of(sent)
    return outcome


# -- doubles ---------------------------------------------------------------------------------


def _double_attack(name: str, value: float) -> Callable[[World], Outcome]:
    return lambda w: w.call("CreateCohort", create_request(**{name: value}))


for _name in ("completion_required_pct", "current_completion_pct"):
    for _label, _value in (("nan", math.nan), ("pinf", math.inf), ("ninf", -math.inf)):
        attack(f"{_label}-{_name}")(_double_attack(_name, _value))


@attack("nan-update")
def _nan_update(w: World) -> Outcome:
    cohort = cohort_pb2.Cohort(id=w.live.id, current_completion_pct=math.nan)
    return w.call("UpdateCohort", update_request(cohort, ["current_completion_pct"]))


@attack("pct-100-plus-one-ulp")
def _pct_ulp(w: World) -> Outcome:
    return w.call(
        "CreateCohort", create_request(completion_required_pct=math.nextafter(100, math.inf))
    )


PCT_FIELDS = ("completion_required_pct", "current_completion_pct")


def _assert_positive_zero(w: World, cohort: cohort_pb2.Cohort) -> None:
    row = w.row(cohort.id)
    for name in PCT_FIELDS:
        assert cohort.HasField(name), f"{name} must stay set"  # type: ignore[arg-type]
        assert math.copysign(1.0, getattr(cohort, name)) == 1.0, f"{name} came back as -0.0"
        assert row[name] == 0.0 and math.copysign(1.0, row[name]) == 1.0, f"{name} stored -0.0"


@attack("negzero-create")
def _negzero_create(w: World) -> Outcome:
    request = create_request(completion_required_pct=-0.0, current_completion_pct=-0.0)
    outcome = create_of(w, w.call("CreateCohort", request))
    if outcome.code is OK:
        _assert_positive_zero(w, outcome.response)
    return outcome


@attack("negzero-update")
def _negzero_update(w: World) -> Outcome:
    cohort = cohort_pb2.Cohort(
        id=w.live.id, completion_required_pct=-0.0, current_completion_pct=-0.0
    )
    outcome = update_of(w, w.call("UpdateCohort", update_request(cohort, list(PCT_FIELDS))), w.live)
    if outcome.code is OK:
        _assert_positive_zero(w, outcome.response)
    return outcome


@attack("subnormal-pct-create")
def _subnormal(w: World) -> Outcome:
    tiny = 5e-324
    sent = full_cohort(completion_required_pct=tiny, current_completion_pct=tiny)
    outcome = create_of(
        w, w.call("CreateCohort", cohort_service_pb2.CreateCohortRequest(cohort=sent)), sent
    )
    if outcome.code is OK:
        row = w.row(outcome.response.id)
        assert row["completion_required_pct"] == row["current_completion_pct"] == tiny
    return outcome


# -- other numbers and enums -----------------------------------------------------------------


@attack("session_count-int32-min")
def _session_min(w: World) -> Outcome:
    return w.call("CreateCohort", create_request(session_count=-(2**31)))


@attack("status-unknown-99")
def _status_99(w: World) -> Outcome:
    return w.call("CreateCohort", create_request(status=99))


@attack("source_type-negative")
def _source_type_negative(w: World) -> Outcome:
    return w.call("CreateCohort", create_request(source_type=-1))


@attack("page_size-negative")
def _page_size_negative(w: World) -> Outcome:
    return w.call("ListCohorts", cohort_service_pb2.ListCohortsRequest(page_size=-1))


@attack("page_size-int32-max")
def _page_size_max(w: World) -> Outcome:
    outcome = w.call("ListCohorts", cohort_service_pb2.ListCohortsRequest(page_size=2**31 - 1))
    if outcome.code is OK:
        assert not outcome.response.next_page_token
    return listed(w, outcome, w.person_live_ids)


@attack("delete-negative-version")
def _delete_negative_version(w: World) -> Outcome:
    return w.call("DeleteCohort", cohort_service_pb2.DeleteCohortRequest(id=w.live.id, version=-1))


@attack("update-int64-max-version")
def _update_huge_version(w: World) -> Outcome:
    cohort = cohort_pb2.Cohort(id=w.live.id, name="Version bomb", version=2**63 - 1)
    return w.call("UpdateCohort", update_request(cohort, ["name"]))


# -- dates -----------------------------------------------------------------------------------

YEAR_1 = timestamp_pb2.Timestamp(seconds=MIN_SECONDS)
YEAR_9999 = timestamp_pb2.Timestamp(seconds=MAX_SECONDS, nanos=999_999_999)


def _assert_extreme_dates(w: World, cohort: cohort_pb2.Cohort) -> None:
    assert (cohort.start_date.seconds, cohort.start_date.nanos) == (MIN_SECONDS, 0)
    # Stored with microsecond precision: the nanoseconds below are truncated.
    assert (cohort.end_date.seconds, cohort.end_date.nanos) == (MAX_SECONDS, 999_999_000)
    row = w.row(cohort.id)
    assert row["start_date"] == datetime(1, 1, 1, tzinfo=UTC)
    assert row["end_date"] == datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)


@attack("dates-year-1-and-9999-create")
def _dates_create(w: World) -> Outcome:
    outcome = create_of(
        w, w.call("CreateCohort", create_request(start_date=YEAR_1, end_date=YEAR_9999))
    )
    if outcome.code is OK:
        _assert_extreme_dates(w, outcome.response)
    return outcome


@attack("dates-year-1-and-9999-update")
def _dates_update(w: World) -> Outcome:
    cohort = cohort_pb2.Cohort(id=w.live.id, start_date=YEAR_1, end_date=YEAR_9999)
    request = update_request(cohort, ["start_date", "end_date"])
    outcome = update_of(w, w.call("UpdateCohort", request), w.live)
    if outcome.code is OK:
        _assert_extreme_dates(w, outcome.response)
    return outcome


def _date_attack(name: str, seconds: int, nanos: int = 0) -> Callable[[World], Outcome]:
    stamp = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    return lambda w: w.call("CreateCohort", create_request(**{name: stamp}))


attack("date-before-year-1")(_date_attack("start_date", MIN_SECONDS - 1))
attack("date-after-year-9999")(_date_attack("end_date", MAX_SECONDS + 1))
attack("date-negative-nanos")(_date_attack("start_date", 1_700_000_000, -1))
attack("date-nanos-one-billion")(_date_attack("start_date", 1_700_000_000, 10**9))
attack("date-int64-min-seconds")(_date_attack("start_date", -(2**63)))


@attack("date-before-year-1-update")
def _date_update(w: World) -> Outcome:
    cohort = cohort_pb2.Cohort(
        id=w.live.id, start_date=timestamp_pb2.Timestamp(seconds=MIN_SECONDS - 1)
    )
    return w.call("UpdateCohort", update_request(cohort, ["start_date"]))


def _prepare_extreme_dates(w: World) -> None:
    w.prepared["extremes"] = [
        w.create(w.person, cohort_pb2.Cohort(name="Year 1", start_date=YEAR_1)).id,
        w.create(w.person, cohort_pb2.Cohort(name="Year 9999", start_date=YEAR_9999)).id,
        w.create(w.person, cohort_pb2.Cohort(name="No start")).id,
    ]


@attack("page-token-across-year-1-and-9999", prepare=_prepare_extreme_dates)
def _page_extremes(w: World) -> Outcome:
    year_1, year_9999, no_start = w.prepared["extremes"]
    try:
        ids = w.list_ids(order_by="start_date", page_size=1)
    except grpc.RpcError as error:
        return Outcome(error.code(), error=error)
    assert len(ids) == len(set(ids)) == len(w.person_live_ids) + 3
    assert set(ids) == w.person_live_ids | {year_1, year_9999, no_start}
    # Unset sorts lowest, then year 1, ..., year 9999 last.
    assert ids[0] == no_start and ids[1] == year_1 and ids[-1] == year_9999
    return Outcome(OK)


def _filter_attack(text: str, expected: set[str] | None = None) -> Callable[[World], Outcome]:
    def run(w: World) -> Outcome:
        outcome = w.call("ListCohorts", cohort_service_pb2.ListCohortsRequest(filter=text))
        return listed(w, outcome, expected if expected is not None else set())

    return run


attack("filter-date-year-0")(_filter_attack('start_date > "0000-12-31T00:00:00Z"'))
attack("filter-date-overflow-after-utc")(_filter_attack('start_date < "9999-12-31T23:59:59-01:00"'))


@attack("filter-date-year-1")
def _filter_year_1(w: World) -> Outcome:
    return _filter_attack('start_date >= "0001-01-01T00:00:00Z"', w.person_live_ids)(w)


# -- other tenants, other apps, deleted rows -------------------------------------------------


def _hijack(cohort_id: str, version: int = 0) -> cohort_service_pb2.UpdateCohortRequest:
    return update_request(
        cohort_pb2.Cohort(id=cohort_id, name="Hijacked", version=version), ["name"]
    )


@attack("get-victim-id")
def _get_victim(w: World) -> Outcome:
    return w.call("GetCohort", cohort_service_pb2.GetCohortRequest(id=w.victim_live.id))


@attack("update-victim-id")
def _update_victim(w: World) -> Outcome:
    return w.call("UpdateCohort", _hijack(w.victim_live.id))


@attack("update-victim-id-right-version")
def _update_victim_right_version(w: World) -> Outcome:
    return w.call("UpdateCohort", _hijack(w.victim_live.id, w.victim_live.version))


@attack("update-victim-id-wrong-version")
def _update_victim_wrong_version(w: World) -> Outcome:
    return w.call("UpdateCohort", _hijack(w.victim_live.id, w.victim_live.version + 7))


@attack("update-victim-deleted-id")
def _update_victim_deleted(w: World) -> Outcome:
    return w.call("UpdateCohort", _hijack(w.victim_deleted.id))


@attack("delete-victim-id")
def _delete_victim(w: World) -> Outcome:
    return w.call("DeleteCohort", cohort_service_pb2.DeleteCohortRequest(id=w.victim_live.id))


@attack("delete-victim-id-wrong-version")
def _delete_victim_version(w: World) -> Outcome:
    request = cohort_service_pb2.DeleteCohortRequest(id=w.victim_live.id, version=99)
    return w.call("DeleteCohort", request)


@attack("undelete-victim-deleted-id")
def _undelete_victim(w: World) -> Outcome:
    request = cohort_service_pb2.UndeleteCohortRequest(id=w.victim_deleted.id)
    return w.call("UndeleteCohort", request)


@attack("update-victim-id-body-claims-victim")
def _update_victim_claiming(w: World) -> Outcome:
    cohort = cohort_pb2.Cohort(id=w.victim_live.id, tenant_id=w.victim, name="Hijacked")
    return w.call("UpdateCohort", update_request(cohort, ["name", "tenant_id"]))


@attack("mask-star-on-victim-id")
def _star_on_victim(w: World) -> Outcome:
    cohort = full_cohort(id=w.victim_live.id, name="Hijacked")
    return w.call("UpdateCohort", update_request(cohort, ["*"]))


@attack("get-other-app-id")
def _get_other_app(w: World) -> Outcome:
    return w.call("GetCohort", cohort_service_pb2.GetCohortRequest(id=w.app2_row.id), w.app1)


@attack("update-other-app-id")
def _update_other_app(w: World) -> Outcome:
    return w.call("UpdateCohort", _hijack(w.app2_row.id), w.app1)


@attack("delete-other-app-id")
def _delete_other_app(w: World) -> Outcome:
    request = cohort_service_pb2.DeleteCohortRequest(id=w.app2_row.id)
    return w.call("DeleteCohort", request, w.app1)


@attack("get-person-row-as-app")
def _get_person_row(w: World) -> Outcome:
    return w.call("GetCohort", cohort_service_pb2.GetCohortRequest(id=w.live.id), w.app1)


@attack("get-same-app-name-other-tenant")
def _get_same_app_name(w: World) -> Outcome:
    request = cohort_service_pb2.GetCohortRequest(id=w.victim_app1_row.id)
    return w.call("GetCohort", request, w.app1)


@attack("update-deleted")
def _update_deleted(w: World) -> Outcome:
    return w.call("UpdateCohort", _hijack(w.deleted.id))


@attack("delete-deleted")
def _delete_deleted(w: World) -> Outcome:
    return w.call("DeleteCohort", cohort_service_pb2.DeleteCohortRequest(id=w.deleted.id))


@attack("undelete-live")
def _undelete_live(w: World) -> Outcome:
    return w.call("UndeleteCohort", cohort_service_pb2.UndeleteCohortRequest(id=w.live.id))


@attack("request-id-of-other-tenant")
def _request_id_other_tenant(w: World) -> Outcome:
    sent = full_cohort(name="Mine, not the victim's")
    request = cohort_service_pb2.CreateCohortRequest(cohort=sent, request_id=w.victim_request_id)
    outcome = create_of(w, w.call("CreateCohort", request), sent)
    if outcome.code is OK:
        assert outcome.response.id != w.victim_live.id
    return outcome


@attack("request-id-of-other-app")
def _request_id_other_app(w: World) -> Outcome:
    request = create_request(name="Steal app one", request_id=w.app1_request_id)
    return w.call("CreateCohort", request, w.app2)


@attack("request-id-of-app-by-person")
def _request_id_by_person(w: World) -> Outcome:
    request = create_request(name="Replay", request_id=w.app1_request_id)
    outcome = w.call("CreateCohort", request)
    if outcome.code is OK:
        assert outcome.response == w.app1_row, "the replay must return app-1's row unchanged"
    return outcome


# -- token for A, body claiming B ------------------------------------------------------------


@attack("create-body-claims-victim")
def _create_claiming_victim(w: World) -> Outcome:
    sent = full_cohort(
        name="Claims the victim",
        id=w.victim_live.id,
        tenant_id=w.victim,
        app_id="app-1",
        created_by="victim-admin",
        updated_by="victim-admin",
        is_deleted=True,
        deleted_by="victim-admin",
        schema_version=7,
        version=99,
        created_at=timestamp_pb2.Timestamp(seconds=1),
        deleted_at=timestamp_pb2.Timestamp(seconds=2),
    )
    outcome = w.call("CreateCohort", cohort_service_pb2.CreateCohortRequest(cohort=sent))
    outcome = create_of(w, outcome, sent)
    if outcome.code is OK:
        created = outcome.response
        assert created.id != w.victim_live.id
        assert not created.HasField("app_id") and not created.HasField("deleted_at")
        assert created.created_by == "person-a" and created.schema_version == 1
        assert created.created_at.seconds > 1_700_000_000
    return outcome


@attack("update-body-claims-victim")
def _update_claiming_victim(w: World) -> Outcome:
    cohort = cohort_pb2.Cohort(id=w.live.id, tenant_id=w.victim, name="Still mine")
    outcome = w.call("UpdateCohort", update_request(cohort, ["name", "tenant_id"]))
    outcome = update_of(w, outcome, w.live)
    if outcome.code is OK:
        assert outcome.response.name == "Still mine"
        assert w.row(w.live.id)["tenant_id"] == w.tenant
    return outcome


@attack("create-app-body-claims-other-app")
def _create_claiming_app(w: World) -> Outcome:
    request = create_request(name="Claims app two", app_id="app-2")
    outcome = w.call("CreateCohort", request, w.app1)
    if outcome.code is OK:
        created = outcome.response
        assert created.tenant_id == w.tenant and created.app_id == "app-1"
        assert w.row(created.id)["app_id"] == "app-1"
        return outcome.allowing((w.tenant, created.id))
    return outcome


@attack("extra-metadata-claims-victim")
def _extra_metadata(w: World) -> Outcome:
    metadata = (*w.person, ("x-tenant-id", w.victim), ("tenant_id", w.victim))
    request = cohort_service_pb2.GetCohortRequest(id=w.victim_live.id)
    return w.call("GetCohort", request, metadata)


# -- SQL-looking strings ---------------------------------------------------------------------

SQL_TEXT: dict[str, Any] = {
    "name": SQL_NAME,
    "source": "' OR '1'='1' --",
    "program_id": "1; DELETE FROM cohorts WHERE true; --",
    "facilitator_ids": [
        "x' OR 1=1 --",
        "$$; DROP TABLE cohorts; $$",
        "\\'; SELECT pg_sleep(10); --",
    ],
    "tags": ["'; TRUNCATE cohorts; --", "%", "_", "\\", "' || (SELECT current_user) || '"],
    "metadata": {
        "'; DROP TABLE cohorts;--": "1' UNION SELECT * FROM pg_authid --",
        "a' ? 'b": {"#>": "->>", "$.x": ["@@", "?|", "E'\\x00'"]},
        "tenant_id": "' OR tenant_id IS NOT NULL --",
    },
}


def _assert_stored_verbatim(w: World, cohort: cohort_pb2.Cohort, names: list[str]) -> None:
    row = w.row(cohort.id)
    for name in names:
        assert row[name] == SQL_TEXT[name], f"{name} is not stored verbatim"
        sent = SQL_TEXT[name]
        if name == "metadata":
            assert dict(cohort.metadata) == json.loads(json.dumps(sent))
        elif isinstance(sent, list):
            assert list(getattr(cohort, name)) == sent
        else:
            assert getattr(cohort, name) == sent


def _sql_create(name: str) -> Callable[[World], Outcome]:
    def run(w: World) -> Outcome:
        sent = full_cohort(**{name: SQL_TEXT[name]})
        request = cohort_service_pb2.CreateCohortRequest(cohort=sent)
        outcome = create_of(w, w.call("CreateCohort", request), sent)
        if outcome.code is OK:
            _assert_stored_verbatim(w, outcome.response, [name])
        return outcome

    return run


for _name in ("name", "source", "program_id", "facilitator_ids", "tags", "metadata"):
    attack(f"sql-{_name}")(_sql_create(_name))


@attack("sql-all-text-fields-update")
def _sql_update(w: World) -> Outcome:
    cohort = full_cohort(id=w.live2.id, **SQL_TEXT)
    outcome = w.call("UpdateCohort", update_request(cohort, sorted(SQL_TEXT)))
    outcome = update_of(w, outcome, w.live2)
    if outcome.code is OK:
        _assert_stored_verbatim(w, outcome.response, sorted(SQL_TEXT))
    return outcome


@attack("sql-group_id")
def _sql_group(w: World) -> Outcome:
    return w.call("CreateCohort", create_request(group_id="grp-' OR '1'='1"))


@attack("sql-assigned_assessment_ids")
def _sql_assessments(w: World) -> Outcome:
    request = create_request(assigned_assessment_ids=["asm-'; DROP TABLE cohorts; --"])
    return w.call("CreateCohort", request)


@attack("sql-request_id")
def _sql_request_id(w: World) -> Outcome:
    return w.call("CreateCohort", create_request(request_id="' OR 1=1 --"))


@attack("sql-id-get")
def _sql_id_get(w: World) -> Outcome:
    return w.call("GetCohort", cohort_service_pb2.GetCohortRequest(id="coh_' OR '1'='1"))


@attack("sql-id-delete")
def _sql_id_delete(w: World) -> Outcome:
    request = cohort_service_pb2.DeleteCohortRequest(id=f"{w.live.id}' OR tenant_id <> '")
    return w.call("DeleteCohort", request)


@attack("sql-update_mask-path")
def _sql_mask(w: World) -> Outcome:
    cohort = cohort_pb2.Cohort(id=w.live.id, name="x")
    return w.call("UpdateCohort", update_request(cohort, ["name; DROP TABLE cohorts"]))


@attack("sql-order_by")
def _sql_order(w: World) -> Outcome:
    request = cohort_service_pb2.ListCohortsRequest(order_by="name; DROP TABLE cohorts")
    return w.call("ListCohorts", request)


@attack("sql-page_token")
def _sql_page_token(w: World) -> Outcome:
    return w.call("ListCohorts", cohort_service_pb2.ListCohortsRequest(page_token="' OR 1=1 --"))


# -- filters ---------------------------------------------------------------------------------


@attack("filter-sql-string-literal")
def _filter_sql_literal(w: World) -> Outcome:
    return _filter_attack(f'name = "{SQL_NAME}"', {w.live.id})(w)


attack("filter-sql-tautology-number")(_filter_attack('name = "x" OR 1=1'))
attack("filter-sql-single-quotes")(_filter_attack("name = '' OR ''=''"))
attack("filter-sql-semicolon")(_filter_attack('name = "a"; DROP TABLE cohorts'))
attack("filter-sql-comment")(_filter_attack('name = "a" -- comment'))
attack("filter-sql-in-metadata-key")(_filter_attack("metadata.x') OR ('1'='1:*"))
attack("filter-like-wildcards")(_filter_attack('name = "%*" OR name = "_*"'))
attack("filter-tenant_id")(_filter_attack('tenant_id = "victim"'))
attack("filter-session_count-beyond-int32")(_filter_attack("session_count = 2147483648"))
attack("filter-session_count-int64-max")(_filter_attack("session_count > 9223372036854775807"))
attack("filter-session_count-beyond-int64")(_filter_attack("session_count = 9223372036854775808"))
attack("filter-metadata-path-990-keys-any")(
    _filter_attack("metadata." + ".".join(["a"] * 990) + ":*")
)
attack("filter-metadata-path-990-keys-value")(
    _filter_attack("metadata." + ".".join(["a"] * 990) + ':"x"')
)
attack("filter-nesting-21")(_filter_attack("(" * 21 + 'name = "x"' + ")" * 21))
attack("filter-101-restrictions")(_filter_attack(" OR ".join(['name = "x"'] * 101)))
attack("filter-2001-chars")(_filter_attack('name = "' + "x" * 1992 + '"'))
attack("filter-non-ascii-digits")(_filter_attack("session_count = \u0661\u0662"))
attack("filter-double-overflow")(_filter_attack("completion_required_pct = 1e999"))

TAUTOLOGY = 'created_by = "x" OR NOT created_by = "x"'


@attack("filter-tautology-person")
def _tautology_person(w: World) -> Outcome:
    return _filter_attack(TAUTOLOGY, w.person_live_ids)(w)


@attack("filter-tautology-app")
def _tautology_app(w: World) -> Outcome:
    request = cohort_service_pb2.ListCohortsRequest(filter=TAUTOLOGY, show_deleted=True)
    return listed(w, w.call("ListCohorts", request, w.app1), {w.app1_row.id, w.app1_row2.id})


@attack("filter-app_id-other-app")
def _filter_other_app(w: World) -> Outcome:
    request = cohort_service_pb2.ListCohortsRequest(filter='app_id = "app-2"', show_deleted=True)
    return listed(w, w.call("ListCohorts", request, w.app1), set())


@attack("filter-jsonb-operators-in-value")
def _filter_jsonb(w: World) -> Outcome:
    outcome = _filter_attack("metadata.room:\"A1' ? 'x\"")(w)
    if outcome.code is not OK:
        return outcome
    return _filter_attack('tags:"\'; TRUNCATE cohorts; --"')(w)


# -- field masks -----------------------------------------------------------------------------


def _mask_attack(paths: list[str]) -> Callable[[World], Outcome]:
    def run(w: World) -> Outcome:
        cohort = full_cohort(id=w.live.id, name="Masked")
        return w.call("UpdateCohort", update_request(cohort, paths))

    return run


attack("mask-nested-metadata")(_mask_attack(["metadata.room"]))
attack("mask-nested-timestamp")(_mask_attack(["start_date.seconds"]))
attack("mask-indexed")(_mask_attack(["tags[0]"]))
attack("mask-star-with-path")(_mask_attack(["*", "name"]))
attack("mask-10000-paths")(_mask_attack(["name"] * 10_000))
attack("mask-empty-path")(_mask_attack([""]))
attack("mask-json-name")(_mask_attack(["programId"]))


@attack("mask-duplicates")
def _mask_duplicates(w: World) -> Outcome:
    cohort = cohort_pb2.Cohort(id=w.live.id, name="Once", tags=["only"])
    outcome = w.call("UpdateCohort", update_request(cohort, ["name", "name", "tags", "tags"]))
    outcome = update_of(w, outcome, w.live)
    if outcome.code is OK:
        updated = outcome.response
        assert updated.name == "Once" and list(updated.tags) == ["only"]
        expected = cohort_pb2.Cohort()
        expected.CopyFrom(content_of(w.live))
        expected.name, expected.tags[:] = "Once", ["only"]
        assert content_of(updated) == expected, "only name and tags may change"
    return outcome


@attack("mask-server-fields")
def _mask_server_fields(w: World) -> Outcome:
    cohort = cohort_pb2.Cohort(
        id=w.live.id,
        tenant_id=w.victim,
        app_id="app-2",
        created_by="mallory",
        updated_by="mallory",
        is_deleted=True,
        deleted_by="mallory",
        schema_version=9,
        deleted_at=timestamp_pb2.Timestamp(seconds=5),
        created_at=timestamp_pb2.Timestamp(seconds=5),
        name="Ignored",
    )
    paths = [
        "id",
        "tenant_id",
        "app_id",
        "created_by",
        "updated_by",
        "is_deleted",
        "deleted_at",
        "deleted_by",
        "schema_version",
        "created_at",
        "updated_at",
    ]
    outcome = update_of(w, w.call("UpdateCohort", update_request(cohort, paths)), w.live)
    if outcome.code is OK:
        updated = outcome.response
        assert content_of(updated) == content_of(w.live), "no client field may change"
        assert not updated.is_deleted and not updated.HasField("deleted_at")
        assert updated.deleted_by == "" and updated.schema_version == 1
        assert updated.updated_by == "person-a"
        row = w.row(w.live.id)
        assert row["tenant_id"] == w.tenant and row["app_id"] is None
    return outcome


# -- page tokens -----------------------------------------------------------------------------


def _list_with(w: World, token: str, metadata: Metadata | None = None, **query: Any) -> Outcome:
    request = cohort_service_pb2.ListCohortsRequest(page_size=1, page_token=token, **query)
    return w.call("ListCohorts", request, metadata)


def _token_bytes(token: str) -> bytearray:
    return bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def _token_text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@attack("page-token-other-tenant")
def _token_other_tenant(w: World) -> Outcome:
    return _list_with(w, w.page_token(), w.victim_person)


@attack("page-token-other-app")
def _token_other_app(w: World) -> Outcome:
    return _list_with(w, w.page_token(w.app1), w.app2)


@attack("page-token-person-to-app")
def _token_person_to_app(w: World) -> Outcome:
    return _list_with(w, w.page_token(), w.app1)


@attack("page-token-truncated")
def _token_truncated(w: World) -> Outcome:
    return _list_with(w, w.page_token()[:-4])


@attack("page-token-bit-flipped-body")
def _token_flip_body(w: World) -> Outcome:
    raw = _token_bytes(w.page_token())
    raw[len(raw) // 2 + 8] ^= 0x01  # past the 16-byte MAC, inside the JSON body
    return _list_with(w, _token_text(bytes(raw)))


@attack("page-token-bit-flipped-mac")
def _token_flip_mac(w: World) -> Outcome:
    raw = _token_bytes(w.page_token())
    raw[3] ^= 0x80
    return _list_with(w, _token_text(bytes(raw)))


@attack("page-token-other-filter")
def _token_other_filter(w: World) -> Outcome:
    return _list_with(w, w.page_token(), filter='name = "Second live"')


@attack("page-token-other-order_by")
def _token_other_order(w: World) -> Outcome:
    return _list_with(w, w.page_token(), order_by="name")


@attack("page-token-other-show_deleted")
def _token_other_show_deleted(w: World) -> Outcome:
    return _list_with(w, w.page_token(), show_deleted=True)


@attack("page-token-2000-chars")
def _token_long(w: World) -> Outcome:
    token = w.page_token()
    return _list_with(w, token + "A" * (2000 - len(token)))


@attack("page-token-non-ascii")
def _token_non_ascii(w: World) -> Outcome:
    token = w.page_token()
    return _list_with(w, token[:10] + "é" + token[11:])


@attack("page-token-forged")
def _token_forged(w: World) -> Outcome:
    # Points before V's newest row under V's fingerprint, MACed with a guessed secret.
    material = json.dumps([w.victim, None, "", "created_at desc", False], separators=(",", ":"))
    fingerprint = hashlib.sha256(material.encode()).hexdigest()[:32]
    body = json.dumps(
        [[{"t": 2**62}, "coh_7ZZZZZZZZZZZZZZZZZZZZZZZZZ"], fingerprint], separators=(",", ":")
    ).encode()
    mac = hmac.new(b"page-token:secret", body, hashlib.sha256).digest()[:16]
    return _list_with(w, _token_text(mac + body))


# -- bearer tokens ---------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(tenant: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"tenant_id": tenant, "sub": "person-a", "iat": now, "exp": now + 300, **extra}


@attack("no-authorization")
def _no_authorization(w: World) -> Outcome:
    return w.call("DeleteCohort", cohort_service_pb2.DeleteCohortRequest(id=w.live.id), ())


@attack("jwt-expired")
def _jwt_expired(w: World) -> Outcome:
    token = mint_token(tenant=w.tenant, sub="person-a", lifetime_seconds=-3600)
    return w.call("UpdateCohort", _hijack(w.live.id), bearer(token))


@attack("jwt-nbf-future")
def _jwt_nbf(w: World) -> Outcome:
    token = mint_token(tenant=w.tenant, nbf=int(time.time()) + 3600)
    return w.call("CreateCohort", create_request(name="Too early"), bearer(token))


@attack("jwt-alg-none")
def _jwt_none(w: World) -> Outcome:
    header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    token = f"{header}.{_b64url(json.dumps(_claims(w.tenant)).encode())}."
    request = cohort_service_pb2.DeleteCohortRequest(id=w.live.id)
    return w.call("DeleteCohort", request, bearer(token))


@attack("jwt-wrong-key")
def _jwt_wrong_key(w: World) -> Outcome:
    token = mint_token(tenant=w.tenant, secret="an-attackers-own-secret-that-is-long-enough-0123")
    return w.call("UpdateCohort", _hijack(w.live.id), bearer(token))


@attack("jwt-rs256-foreign-key")
def _jwt_rs256(w: World) -> Outcome:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(w.tenant), key, algorithm="RS256")
    return w.call("CreateCohort", create_request(name="Foreign key"), bearer(token))


@attack("jwt-payload-swapped-to-victim")
def _jwt_swapped(w: World) -> Outcome:
    header, _, signature = mint_token(tenant=w.tenant).split(".")
    payload = _b64url(json.dumps(_claims(w.victim)).encode())
    request = cohort_service_pb2.GetCohortRequest(id=w.victim_live.id)
    return w.call("GetCohort", request, bearer(f"{header}.{payload}.{signature}"))


@attack("jwt-signature-stripped")
def _jwt_stripped(w: World) -> Outcome:
    header, payload, _ = mint_token(tenant=w.tenant).split(".")
    request = cohort_service_pb2.DeleteCohortRequest(id=w.live.id)
    return w.call("DeleteCohort", request, bearer(f"{header}.{payload}."))


@attack("jwt-tenant-list")
def _jwt_tenant_list(w: World) -> Outcome:
    token = mint_token(tenant=None, tenant_id=[w.tenant, w.victim])
    request = cohort_service_pb2.GetCohortRequest(id=w.victim_live.id)
    return w.call("GetCohort", request, bearer(token))


@attack("jwt-empty-app-id")
def _jwt_empty_app(w: World) -> Outcome:
    token = mint_token(tenant=w.tenant, sub="svc-1", app="")
    request = cohort_service_pb2.GetCohortRequest(id=w.app2_row.id)
    return w.call("GetCohort", request, bearer(token))


@attack("jwt-oversize-12000-bytes")
def _jwt_oversize(w: World) -> Outcome:
    unpadded = len(mint_token(tenant=w.tenant, padding=""))
    token = mint_token(tenant=w.tenant, padding="p" * ((12_000 - unpadded) * 3 // 4))
    assert 11_950 < len(token) <= 12_050
    request = create_request(name="Oversize token")
    attempts = [w.call("CreateCohort", request, bearer(token)) for _ in range(20)]
    return first_other_than(UNAUTHENTICATED, attempts)


@attack("jwt-valid-7900-bytes")
def _jwt_large_valid(w: World) -> Outcome:
    unpadded = len(mint_token(tenant=w.tenant, sub="person-a", padding=""))
    padding = "p" * ((7_900 - unpadded) * 3 // 4)
    token = mint_token(tenant=w.tenant, sub="person-a", padding=padding)
    assert 7_850 < len(token) <= 7_950
    request = cohort_service_pb2.ListCohortsRequest(page_size=1000)
    attempts = [w.call("ListCohorts", request, bearer(token)) for _ in range(150)]
    return listed(w, first_other_than(OK, attempts), w.person_live_ids)


@attack("jwt-tenant-nul")
def _jwt_tenant_nul(w: World) -> Outcome:
    token = mint_token(tenant=f"{w.tenant}\x00")
    return w.call("CreateCohort", create_request(name="NUL tenant"), bearer(token))


@attack("jwt-tenant-lone-surrogate")
def _jwt_tenant_surrogate(w: World) -> Outcome:
    token = mint_token(tenant=f"{w.tenant}\ud800")
    return w.call("CreateCohort", create_request(name="Surrogate tenant"), bearer(token))


@attack("jwt-sub-nul")
def _jwt_sub_nul(w: World) -> Outcome:
    token = mint_token(tenant=w.tenant, sub="person\x00")
    return w.call("CreateCohort", create_request(name="NUL subject"), bearer(token))


@attack("jwt-app-nul")
def _jwt_app_nul(w: World) -> Outcome:
    token = mint_token(tenant=w.tenant, sub="svc-1", app="app-1\x00")
    request = cohort_service_pb2.GetCohortRequest(id=w.app1_row.id)
    return w.call("GetCohort", request, bearer(token))


@attack("jwt-tenant-percent-wildcard")
def _jwt_percent(w: World) -> Outcome:
    request = cohort_service_pb2.GetCohortRequest(id=w.victim_live.id)
    return w.call("GetCohort", request, bearer(mint_token(tenant="%")))


# -- unicode ---------------------------------------------------------------------------------


def _name_round_trip(name: str) -> Callable[[World], Outcome]:
    def run(w: World) -> Outcome:
        sent = full_cohort(name=name)
        request = cohort_service_pb2.CreateCohortRequest(cohort=sent)
        outcome = create_of(w, w.call("CreateCohort", request), sent)
        if outcome.code is OK:
            assert w.row(outcome.response.id)["name"] == name
        return outcome

    return run


attack("unicode-200-astral-name")(_name_round_trip("\U0001f600" * 200))
attack("unicode-201-astral-name")(_name_round_trip("\U0001f600" * 201))
attack("unicode-bidi-noncharacters")(
    _name_round_trip("a\u202eevil\u202c\ufeff\uffff\U0010ffffe\u0301z")
)

# --------------------------------------------------------------------------------------------
# The tests.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", HOSTILE_CASES, ids=[case.id for case in HOSTILE_CASES])
def test_hostile_input_gets_its_exact_status_and_changes_no_stored_data(
    case: HostileCase, world: World
) -> None:
    hostile = ATTACKS[case.id]
    if hostile.prepare is not None:
        hostile.prepare(world)
    before = take_snapshot(world)
    outcome = hostile.run(world)
    after = take_snapshot(world)

    problems = write_problems(before, after, outcome.writes)
    if outcome.code != case.expected:
        details = outcome.error.details() if outcome.error is not None else ""
        problems.insert(
            0,
            f"{case.input}: expected {case.expected.name}, got {outcome.code.name}"
            f" ({(details or '')[:300]})",
        )
    assert not problems, "\n".join(problems)

    if outcome.code is not OK:
        assert not outcome.writes
        assert outcome.error is not None
        if case.expected not in GRPC_LEVEL_CODES:
            info = error_info(outcome.error)
            if case.reason:
                assert info.reason == case.reason, (info.reason, outcome.error.details())
        if case.field:
            reported = violated_fields(outcome.error)
            assert names_field(reported, case.field), (case.field, reported)


def test_every_hostile_case_has_exactly_one_attack() -> None:
    ids = [case.id for case in HOSTILE_CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert set(ids) == set(ATTACKS)
    assert len(ids) >= 40


CASES_MD = Path(__file__).with_name("CASES.md")


def cases_markdown() -> str:
    """HOSTILE_CASES as a Markdown table: hostile input -> expected status."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "# Hostile inputs and the status each must get",
        "",
        "Generated from `HOSTILE_CASES` in `test_hostile_inputs.py` "
        "(`python -m tests.adversarial.test_hostile_inputs`). Every case runs through a real "
        "gRPC channel and also asserts that no stored row changed beyond what an accepted "
        "call may write (its own new or updated row in the caller's tenant).",
        "",
        f"{len(HOSTILE_CASES)} cases. A = the caller's tenant, V = another (victim) tenant.",
        "",
        "| # | case | hostile input | expected status | ErrorInfo reason |",
        "|---|------|---------------|-----------------|------------------|",
    ]
    for number, case in enumerate(HOSTILE_CASES, 1):
        reason = f"`{case.reason}`" if case.reason else ""
        lines.append(
            f"| {number} | `{case.id}` | {cell(case.input)} | {case.expected.name} | {reason} |"
        )
    return "\n".join(lines) + "\n"


def test_cases_md_matches_the_table() -> None:
    assert CASES_MD.read_text() == cases_markdown(), (
        "CASES.md is stale: run python -m tests.adversarial.test_hostile_inputs"
    )


if __name__ == "__main__":
    CASES_MD.write_text(cases_markdown())
    print(f"wrote {CASES_MD} ({len(HOSTILE_CASES)} cases)")
