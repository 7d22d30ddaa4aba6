"""Keep cohorts of up to about 8 KB in their heap row.

PostgreSQL moves a row's largest values out of line (into the TOAST table,
after trying to compress them) once the row passes 2 KB. A cohort with 1 KiB of
metadata carries it twice, as JSONB and inside its stored encoding (`wire`,
migration 0005), so its row is about 2.9 KB and its `wire` went out of line:
every insert and update wrote it to the TOAST table and its index, and every
GetCohort and ListCohorts of such a row fetched it back from there.
`toast_tuple_target` raises the size a row must pass before that happens to
the most a heap page holds; larger rows are still compressed and moved out of
line as before (docs/performance.md, "Stored wire encodings", has the
measurement).

It only changes how rows written from now on are stored; existing rows move
when they are next written.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE cohorts SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    op.execute("ALTER TABLE cohorts RESET (toast_tuple_target)")
