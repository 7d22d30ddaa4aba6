"""Make ListCohorts index-friendly under row-level security.

Under RLS PostgreSQL applies the policy before any condition built from a
function not marked LEAKPROOF, so such conditions cannot be index conditions.
What bench.list_depth found at 1M rows (docs/performance.md, "Keyset pages
under row-level security"):

- Nullable sort keys were ordered through COALESCE(...) expressions, which are
  not leakproof: deep pages filtered instead of seeking. They now sort on
  stored generated columns (plain columns compare with leakproof operators).
- The policy's `coalesce(app) = '' OR app_id = app` made the planner expect
  a tiny fraction of a tenant's rows and choose full-tenant sorts; the CASE
  form is estimated sensibly.
- No index served a status filter ordered by start date.
- jsonb containment (`tags:"x"`, `metadata.k:"v"`) and key existence
  (`metadata.k:*`) can use their GIN indexes only when their functions are
  LEAKPROOF. They raise no data-dependent errors and have no side effects, so
  marking them leaks nothing; only a superuser may, so without one the
  migration leaves them (the filters stay correct, just unindexed).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_IN_SCOPE = """
    tenant_id = current_setting('app.tenant_id', true)
    AND CASE
        WHEN coalesce(current_setting('app.app_id', true), '') = '' THEN true
        ELSE app_id = current_setting('app.app_id', true)
    END
"""

_OLD_IN_SCOPE = """
    tenant_id = current_setting('app.tenant_id', true)
    AND (
        coalesce(current_setting('app.app_id', true), '') = ''
        OR app_id = current_setting('app.app_id', true)
    )
"""

_SORT_COLUMNS = {
    "start_sort": "timestamptz GENERATED ALWAYS AS (COALESCE(start_date, '-infinity')) STORED",
    "end_sort": "timestamptz GENERATED ALWAYS AS (COALESCE(end_date, '-infinity')) STORED",
    "sessions_sort": "integer GENERATED ALWAYS AS (COALESCE(session_count, -1)) STORED",
}
_OLD_INDEXES = ["cohorts_tenant_start_idx", "cohorts_tenant_end_idx", "cohorts_tenant_sessions_idx"]
_NEW_INDEXES = {
    "cohorts_tenant_start_sort_idx": "(tenant_id, start_sort, id)",
    "cohorts_tenant_end_sort_idx": "(tenant_id, end_sort, id)",
    "cohorts_tenant_sessions_sort_idx": "(tenant_id, sessions_sort, id)",
    "cohorts_tenant_status_start_idx": "(tenant_id, status, start_sort, id)",
}
_LEAKPROOF = ["jsonb_contains(jsonb, jsonb)", "jsonb_exists(jsonb, text)"]


def upgrade() -> None:
    op.execute(
        f"ALTER POLICY cohorts_scope ON cohorts USING ({_IN_SCOPE}) WITH CHECK ({_IN_SCOPE})"
    )
    for name, definition in _SORT_COLUMNS.items():
        op.execute(f"ALTER TABLE cohorts ADD COLUMN {name} {definition}")
    for name in _OLD_INDEXES:
        op.execute(f"DROP INDEX {name}")
    for name, columns in _NEW_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON cohorts {columns}")
    statements = " ".join(f"ALTER FUNCTION {f} LEAKPROOF;" for f in _LEAKPROOF)
    op.execute(
        f"""
        DO $$
        BEGIN
            {statements}
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'not a superuser: jsonb filters stay unindexed under row-level security';
        END
        $$
        """
    )


def downgrade() -> None:
    for name in _NEW_INDEXES:
        op.execute(f"DROP INDEX {name}")
    for name in _SORT_COLUMNS:
        op.execute(f"ALTER TABLE cohorts DROP COLUMN {name}")
    op.execute(
        "CREATE INDEX cohorts_tenant_start_idx ON cohorts"
        " (tenant_id, (COALESCE(start_date, '-infinity'::timestamptz)), id)"
    )
    op.execute(
        "CREATE INDEX cohorts_tenant_end_idx ON cohorts"
        " (tenant_id, (COALESCE(end_date, '-infinity'::timestamptz)), id)"
    )
    op.execute(
        "CREATE INDEX cohorts_tenant_sessions_idx ON cohorts"
        " (tenant_id, (COALESCE(session_count, -1)), id)"
    )
    op.execute(
        f"ALTER POLICY cohorts_scope ON cohorts USING ({_OLD_IN_SCOPE})"
        f" WITH CHECK ({_OLD_IN_SCOPE})"
    )
