"""Create the cohorts table.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE cohorts (
            tenant_id text NOT NULL,
            id text NOT NULL,
            app_id text,
            request_id uuid,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            created_by text NOT NULL,
            updated_by text NOT NULL,
            source text NOT NULL,
            source_type text NOT NULL
                CHECK (source_type IN ('FRONTEND', 'BACKEND', 'SERVER', 'SYSTEM', 'API')),
            is_deleted boolean NOT NULL DEFAULT false,
            deleted_at timestamptz,
            deleted_by text NOT NULL DEFAULT '',
            schema_version integer NOT NULL CHECK (schema_version >= 1),
            group_id text NOT NULL DEFAULT '',
            program_id text NOT NULL DEFAULT '',
            name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
            start_date timestamptz,
            end_date timestamptz,
            status text NOT NULL
                CHECK (status IN ('DRAFT', 'SCHEDULED', 'ACTIVE', 'COMPLETED', 'ARCHIVED')),
            session_count integer CHECK (session_count >= 0),
            facilitator_ids jsonb NOT NULL DEFAULT '[]'
                CHECK (jsonb_typeof(facilitator_ids) = 'array'),
            assigned_assessment_ids jsonb NOT NULL DEFAULT '[]'
                CHECK (jsonb_typeof(assigned_assessment_ids) = 'array'),
            completion_required_pct double precision
                CHECK (completion_required_pct BETWEEN 0 AND 100),
            current_completion_pct double precision
                CHECK (current_completion_pct BETWEEN 0 AND 100),
            metadata jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
            tags jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tags) = 'array'),
            version bigint NOT NULL CHECK (version >= 1),
            CONSTRAINT cohorts_pkey PRIMARY KEY (tenant_id, id),
            CONSTRAINT cohorts_request_id_key UNIQUE (tenant_id, request_id),
            CONSTRAINT cohorts_dates_ordered CHECK (end_date >= start_date),
            CONSTRAINT cohorts_deleted_consistent
                CHECK (is_deleted = (deleted_at IS NOT NULL))
        )
        """
    )
    # Serves the default List order (newest first, id as tie-breaker) per tenant.
    op.execute(
        "CREATE INDEX cohorts_tenant_created_idx ON cohorts (tenant_id, created_at DESC, id DESC)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE cohorts")
