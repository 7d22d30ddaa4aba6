"""The cohorts table as SQLAlchemy Core sees it; migrations/ owns its DDL."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

cohorts = Table(
    "cohorts",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("id", Text, primary_key=True),
    Column("app_id", Text),
    Column("request_id", Uuid(as_uuid=False)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("updated_by", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("source_type", SmallInteger, nullable=False),
    Column("is_deleted", Boolean, nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    Column("deleted_by", Text, nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("group_id", Text, nullable=False),
    Column("program_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("start_date", DateTime(timezone=True)),
    Column("end_date", DateTime(timezone=True)),
    Column("status", SmallInteger, nullable=False),
    Column("session_count", Integer),
    Column("facilitator_ids", JSONB, nullable=False),
    Column("assigned_assessment_ids", JSONB, nullable=False),
    Column("completion_required_pct", Double),
    Column("current_completion_pct", Double),
    Column("metadata", JSONB, nullable=False),
    Column("tags", JSONB, nullable=False),
    Column("version", BigInteger, nullable=False),
)
