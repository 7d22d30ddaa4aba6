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
    # Text columns use the "C" collation: byte order (= code point order in
    # UTF-8) is the same on every server, whatever locale initdb chose, and lets
    # btree indexes serve prefix matches.
    op.execute(
        """
        CREATE TABLE cohorts (
            tenant_id text COLLATE "C" NOT NULL,
            id text COLLATE "C" NOT NULL,
            app_id text COLLATE "C",
            request_id uuid,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            created_by text COLLATE "C" NOT NULL,
            updated_by text COLLATE "C" NOT NULL,
            source text COLLATE "C" NOT NULL,
            -- learning.v1.SourceType numbers; 0 (UNSPECIFIED) is never stored.
            source_type smallint NOT NULL CHECK (source_type BETWEEN 1 AND 5),
            is_deleted boolean NOT NULL DEFAULT false,
            deleted_at timestamptz,
            deleted_by text COLLATE "C" NOT NULL DEFAULT '',
            schema_version integer NOT NULL CHECK (schema_version >= 1),
            group_id text COLLATE "C" NOT NULL DEFAULT '',
            program_id text COLLATE "C" NOT NULL DEFAULT '',
            name text COLLATE "C" NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
            start_date timestamptz,
            end_date timestamptz,
            -- learning.v1.CohortStatus numbers, so ordering follows the lifecycle.
            status smallint NOT NULL CHECK (status BETWEEN 1 AND 5),
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
