"""Bring every row's stored encoding up to the current format (`cohorts reencode`).

Rows whose encoding is missing or of another format are served correctly
(rebuilt from their columns on every read), just more slowly. Run this after
deploying a new encoding format, after migration 0005 on an existing table, or
after writing rows outside the service. Connect as a role that row-level
security does not confine (the migrations role, a superuser).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import bindparam, select, tuple_

from cohorts.service.stored_cohort import CohortCodec
from cohorts.storage.repository import COHORT_COLUMNS, cohort_from_row
from cohorts.storage.statements import render_template
from cohorts.storage.tables import cohorts

_c = cohorts.c
_STALE_AFTER = render_template(
    select(*COHORT_COLUMNS)
    .where(
        _c.wire_format != bindparam("wire_format"),
        tuple_(_c.tenant_id, _c.id) > tuple_(bindparam("tenant_id"), bindparam("id")),
    )
    .order_by(_c.tenant_id, _c.id)
    .limit(bindparam("batch_rows"))
    # Nothing may change a row between reading it and storing its encoding.
    .with_for_update()
)
_STORE = """
UPDATE cohorts AS c SET wire = v.wire, wire_format = %(wire_format)s
FROM unnest(%(tenant_ids)s::text[], %(ids)s::text[], %(wires)s::bytea[]) AS v(tenant_id, id, wire)
WHERE c.tenant_id = v.tenant_id AND c.id = v.id
"""


def reencode(
    connection: psycopg.Connection[Any],
    wire: CohortCodec,
    *,
    batch_rows: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Store wire's encoding on every row lacking it, a batch per transaction; the row count.

    Inside a transaction the connection already has, each batch is a savepoint
    of it instead, and the caller commits.
    """
    done = 0
    after = ("", "")
    while True:
        with connection.transaction():
            # The trigger of migration 0005 keeps encodings only from writers saying this.
            connection.execute("SELECT set_config('app.stores_wire', 'on', true)")
            rows = connection.execute(
                _STALE_AFTER,
                {
                    "wire_format": wire.format,
                    "tenant_id": after[0],
                    "id": after[1],
                    "batch_rows": batch_rows,
                },
            ).fetchall()
            if not rows:
                return done
            batch = [cohort_from_row(row) for row in rows]
            connection.execute(
                _STORE,
                {
                    "wire_format": wire.format,
                    "tenant_ids": [cohort.tenant_id for cohort in batch],
                    "ids": [cohort.id for cohort in batch],
                    "wires": [wire.encode(cohort) for cohort in batch],
                },
            )
        done += len(batch)
        after = (batch[-1].tenant_id, batch[-1].id)
        if progress is not None:
            progress(done)
