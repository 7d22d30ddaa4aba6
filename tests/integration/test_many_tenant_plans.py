"""Among many small tenants, a large tenant's Gets still look their ids up in the primary key.

Reads by key run on one generic plan per connection, planned without knowing
the tenant (test_plan_modes.py). PostgreSQL would estimate an unknown tenant as
the table over its distinct tenants, tiny when tenants are many, and then scan
the calling tenant's whole range of a secondary index for the batch's ids
(migration 0007).
"""

from __future__ import annotations

import re
import uuid

import psycopg

from cohorts.domain.caller import Caller
from cohorts.domain.cohort import CohortContent
from cohorts.service.cohorts import CohortUseCases
from cohorts.storage.database import as_role
from cohorts.storage.pipeline import _positional
from cohorts.storage.repository import _GET_ENCODED
from cohorts.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.integration._support import on_use_cases

BIG_TENANT_ROWS = 3_000
SMALL_TENANTS = 1_500


def _clone(
    owner: psycopg.Connection[tuple[object, ...]], source_id: str, tenant: str, n: int
) -> None:
    """n copies of a cohort row in tenant, each with an id of its own."""
    columns = [
        row[0]
        for row in owner.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'cohorts' AND is_generated = 'NEVER' ORDER BY ordinal_position"
        )
    ]
    replaced = {
        "id": "'coh_' || upper(substr(md5(random()::text || g::text), 1, 26))",
        "tenant_id": "%(tenant)s",
        "request_id": "NULL",
    }
    select = ", ".join(replaced.get(column, column) for column in columns)
    owner.execute(
        f"INSERT INTO cohorts ({', '.join(columns)}) SELECT {select}"
        " FROM cohorts, generate_series(1, %(n)s) AS g WHERE id = %(id)s",
        {"tenant": tenant, "n": n, "id": source_id},
    )


def test_a_large_tenants_get_uses_the_primary_key_among_many_small_tenants(database_url: str):
    big = Caller(f"big-{uuid.uuid4().hex[:10]}", "alice")

    async def one(_: SqlUnitOfWorkFactory, cases: CohortUseCases) -> str:
        return (await cases.create(big, CohortContent(name="template"))).cohort.id

    template = on_use_cases(database_url, one)
    with psycopg.connect(database_url, autocommit=True) as owner:
        _clone(owner, template, big.tenant_id, BIG_TENANT_ROWS)
        for _ in range(SMALL_TENANTS):
            _clone(owner, template, f"small-{uuid.uuid4().hex[:10]}", 1)
        owner.execute("ANALYZE cohorts")
        ids = [
            row[0]
            for row in owner.execute(
                "SELECT id FROM cohorts WHERE tenant_id = %s ORDER BY md5(id) LIMIT 20",
                (big.tenant_id,),
            )
        ]

    # A named prepared statement, planned generically as the service's are.
    query, names, _ = _positional(_GET_ENCODED[False])
    values = {
        "tenant_id": big.tenant_id,
        "app_id": None,
        "wire_format": 1,
        "ids": "{" + ",".join(ids) + "}",
    }
    arguments = ", ".join("NULL" if values[n] is None else f"'{values[n]}'" for n in names)
    with psycopg.connect(as_role(database_url, "cohorts_app"), autocommit=True) as app:
        app.execute(
            "SELECT set_config('app.tenant_id', %s, false),"
            " set_config('plan_cache_mode', 'force_generic_plan', false)",
            (big.tenant_id,),
        )
        simple = app.pgconn  # PREPARE's own $n must not be taken for the driver's parameters
        simple.exec_(b"PREPARE get_encoded AS " + query)
        result = simple.exec_(f"EXPLAIN EXECUTE get_encoded({arguments})".encode())
        plan = "\n".join(result.get_value(i, 0).decode() for i in range(result.ntuples))
    # An index scan or a bitmap of the primary key: either looks each id up.
    indexes = set(re.findall(r"Index (?:Only )?Scan (?:using|on) (\w+)", plan))
    assert indexes == {"cohorts_pkey"}, plan
