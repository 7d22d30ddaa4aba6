"""Row-level security: a second wall behind the repository's own tenant predicates.

Policies compare each row with the transaction-local settings `app.tenant_id`
and `app.app_id` that SqlUnitOfWork sets at the start of every transaction
(`set_config(..., true)`, so a pooled connection never carries them into the
next transaction). FORCE makes the policies apply to the table owner too;
superusers and BYPASSRLS roles still bypass them, so the service connects as
`cohorts_app`, a login role that owns nothing.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

APP_ROLE = "cohorts_app"

_IN_SCOPE = """
    tenant_id = current_setting('app.tenant_id', true)
    AND (
        coalesce(current_setting('app.app_id', true), '') = ''
        OR app_id = current_setting('app.app_id', true)
    )
"""


def upgrade() -> None:
    op.execute("ALTER TABLE cohorts ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE cohorts FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY cohorts_scope ON cohorts USING ({_IN_SCOPE}) WITH CHECK ({_IN_SCOPE})"
    )
    # Roles are cluster-wide: create the service role once, and leave it to an
    # operator where the migrating role may not create roles.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
            END IF;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'cannot create role {APP_ROLE}; create it as an operator';
        END
        $$
        """
    )
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                GRANT USAGE ON SCHEMA public TO {APP_ROLE};
                -- No DELETE: cohorts are only ever soft-deleted (AIP-164).
                GRANT SELECT, INSERT, UPDATE ON cohorts TO {APP_ROLE};
            END IF;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                REVOKE ALL ON cohorts FROM {APP_ROLE};
            END IF;
        END
        $$
        """
    )
    op.execute("DROP POLICY cohorts_scope ON cohorts")
    op.execute("ALTER TABLE cohorts NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE cohorts DISABLE ROW LEVEL SECURITY")
