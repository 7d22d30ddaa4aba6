"""The Cohort entity and the client-owned content it carries."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ulid import ULID

SCHEMA_VERSION = 1
ID_PREFIX = "coh_"
DEFAULT_SOURCE = "edm"

JsonObject = dict[str, Any]


class CohortStatus(enum.IntEnum):
    """Lifecycle state; numbers equal the wire enum's."""

    UNSPECIFIED = 0
    DRAFT = 1
    SCHEDULED = 2
    ACTIVE = 3
    COMPLETED = 4
    ARCHIVED = 5


class SourceType(enum.IntEnum):
    """Kind of caller that produced a cohort; numbers equal the wire enum's."""

    UNSPECIFIED = 0
    FRONTEND = 1
    BACKEND = 2
    SERVER = 3
    SYSTEM = 4
    API = 5


@dataclass(frozen=True, slots=True)
class CohortContent:
    """The fields a client owns. Defaults describe an empty request."""

    name: str = ""
    source: str = ""
    source_type: SourceType = SourceType.UNSPECIFIED
    group_id: str = ""
    program_id: str = ""
    start_date: datetime | None = None
    end_date: datetime | None = None
    status: CohortStatus = CohortStatus.UNSPECIFIED
    session_count: int | None = None
    facilitator_ids: tuple[str, ...] = ()
    assigned_assessment_ids: tuple[str, ...] = ()
    completion_required_pct: float | None = None
    current_completion_pct: float | None = None
    metadata: JsonObject = field(default_factory=dict)
    tags: tuple[str, ...] = ()


CLIENT_FIELDS: frozenset[str] = frozenset(CohortContent.__dataclass_fields__)

SERVER_FIELDS: frozenset[str] = frozenset(
    {
        "id",
        "tenant_id",
        "app_id",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "is_deleted",
        "deleted_at",
        "deleted_by",
        "schema_version",
        "version",
    }
)


@dataclass(frozen=True, slots=True)
class Cohort:
    """A stored cohort: server-owned bookkeeping around the client's content."""

    id: str
    tenant_id: str
    app_id: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str
    updated_by: str
    is_deleted: bool
    deleted_at: datetime | None
    deleted_by: str
    schema_version: int
    version: int
    content: CohortContent


def new_cohort_id() -> str:
    """A fresh, time-ordered cohort id: `coh_` + ULID."""
    return f"{ID_PREFIX}{ULID()}"


def with_defaults(content: CohortContent) -> CohortContent:
    """Fill the fields whose empty value stands for a default, and trim the name."""
    return CohortContent(
        name=content.name.strip(),
        source=content.source or DEFAULT_SOURCE,
        source_type=content.source_type or SourceType.API,
        group_id=content.group_id,
        program_id=content.program_id,
        start_date=content.start_date,
        end_date=content.end_date,
        status=content.status or CohortStatus.DRAFT,
        session_count=content.session_count,
        facilitator_ids=content.facilitator_ids,
        assigned_assessment_ids=content.assigned_assessment_ids,
        # -0.0 is stored as 0.0 so that equality and ordering behave.
        completion_required_pct=_positive_zero(content.completion_required_pct),
        current_completion_pct=_positive_zero(content.current_completion_pct),
        metadata=content.metadata,
        tags=content.tags,
    )


def _positive_zero(value: float | None) -> float | None:
    return 0.0 if value == 0 else value
