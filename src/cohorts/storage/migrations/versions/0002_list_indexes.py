"""Indexes for ListCohorts filters and orders.

Every btree index leads with tenant_id (every query is confined to one
tenant) and ends with id, so a keyset page continues with an index range
scan however deep it is. Nullable sort keys are indexed through the same
COALESCE expression the repository orders by. GIN indexes serve the `:`
(has) operator on the JSONB lists and metadata.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BTREE = {
    "cohorts_tenant_updated_idx": "(tenant_id, updated_at, id)",
    "cohorts_tenant_name_idx": "(tenant_id, name, id)",
    "cohorts_tenant_status_idx": "(tenant_id, status, created_at, id)",
    "cohorts_tenant_program_idx": "(tenant_id, program_id, created_at, id)",
    "cohorts_tenant_start_idx": "(tenant_id, (COALESCE(start_date, '-infinity'::timestamptz)), id)",
    "cohorts_tenant_end_idx": "(tenant_id, (COALESCE(end_date, '-infinity'::timestamptz)), id)",
    "cohorts_tenant_sessions_idx": "(tenant_id, (COALESCE(session_count, -1)), id)",
}
_GIN = {
    "cohorts_tags_gin": "tags jsonb_path_ops",
    "cohorts_facilitators_gin": "facilitator_ids jsonb_path_ops",
    "cohorts_assessments_gin": "assigned_assessment_ids jsonb_path_ops",
    "cohorts_metadata_gin": "metadata",
}


def upgrade() -> None:
    for name, columns in _BTREE.items():
        op.execute(f"CREATE INDEX {name} ON cohorts {columns}")
    for name, column in _GIN.items():
        op.execute(f"CREATE INDEX {name} ON cohorts USING gin ({column})")


def downgrade() -> None:
    for name in [*_BTREE, *_GIN]:
        op.execute(f"DROP INDEX {name}")
