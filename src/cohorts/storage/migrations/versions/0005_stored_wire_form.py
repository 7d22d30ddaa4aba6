"""Keep each cohort's API encoding beside its row, so reads need not rebuild it.

Building a Cohort message from 28 columns in Python cost ListCohorts most of
its time (docs/performance.md, "Stored wire encodings"). Every write now also
stores the encoded message (`wire`) and the version of the encoding that
produced it (`wire_format`); a read serves `wire` when its format is the
current one and rebuilds the message from the columns otherwise. Rows from
before this migration carry format 0 and no bytes, so they are rebuilt until
written again or until `cohorts reencode` fills them in.

Stored bytes are only as good as the writer that made them, so a trigger keeps
them only from writers that say they encode every row they write (the
service, whose scope statement sets `app.stores_wire`). Any other INSERT or
UPDATE (a console fix, a data migration, a test setting the scene) drops them,
and readers rebuild those rows from the columns they changed.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE cohorts
            ADD COLUMN wire bytea,
            ADD COLUMN wire_format smallint NOT NULL DEFAULT 0
        """
    )
    op.execute(
        """
        CREATE FUNCTION cohorts_keep_wire_only_from_encoders() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('app.stores_wire', true) IS DISTINCT FROM 'on' THEN
                NEW.wire := NULL;
                NEW.wire_format := 0;
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER cohorts_keep_wire_only_from_encoders
        BEFORE INSERT OR UPDATE ON cohorts
        FOR EACH ROW EXECUTE FUNCTION cohorts_keep_wire_only_from_encoders()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER cohorts_keep_wire_only_from_encoders ON cohorts")
    op.execute("DROP FUNCTION cohorts_keep_wire_only_from_encoders()")
    op.execute("ALTER TABLE cohorts DROP COLUMN wire, DROP COLUMN wire_format")
