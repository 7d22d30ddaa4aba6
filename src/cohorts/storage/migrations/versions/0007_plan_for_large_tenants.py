"""Plan by-key statements for a large tenant, whichever tenant runs them.

Reads and writes by key run on their statement's generic plan, made once per
connection without knowing the tenant (storage/unit_of_work.py, and
docs/performance.md, "Plan cache modes"). PostgreSQL estimates an unknown
tenant's rows as the table's rows over its distinct tenants: with a thousand
tenants, about a thousandth of the table. A generic plan made on that
estimate scanned the whole of the calling tenant's range of a secondary
index, `(tenant_id, updated_at, id)`, testing each entry against the batch's
ids, instead of looking each id up in the primary key: cheap for the small
tenant the planner imagined, and ten to twenty times the cost of the lookups
for a tenant of ten thousand cohorts (docs/performance.md, "Plans for many
tenants").

A fixed `n_distinct` of 1 for tenant_id makes an unknown tenant the whole
table in every estimate, so generic plans stay right for the largest tenant
whatever the table's size, and cost the small ones nothing that matters (a
tenth of the table was not enough while the table was small). Plans made for a known tenant
still use its own frequency where the statistics have one. ANALYZE applies
it at once rather than at the next autovacuum.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TENANTS_TO_PLAN_FOR = 1


def upgrade() -> None:
    op.execute(
        f"ALTER TABLE cohorts ALTER COLUMN tenant_id SET (n_distinct = {TENANTS_TO_PLAN_FOR})"
    )
    op.execute("ANALYZE cohorts")


def downgrade() -> None:
    op.execute("ALTER TABLE cohorts ALTER COLUMN tenant_id RESET (n_distinct)")
    op.execute("ANALYZE cohorts")
