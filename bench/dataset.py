"""The data a benchmark calls on: run sizes, the seeded database, its tenant, ids and tokens."""

from __future__ import annotations

import random
from dataclasses import dataclass

import psycopg
from sqlalchemy.engine import make_url

from bench.layout import log
from bench.seed import database_url_for, ensure_seeded, seed, tenant_counts, tenant_id

JWT_SECRET = "bench-run-jwt-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
SUBJECT = "bench-user"
SERVICE_ROLE = "cohorts_app"
TARGET_TENANT_ROWS = 10_000


@dataclass(frozen=True)
class Profile:
    """How big a run is."""

    name: str
    total: int
    tenants: int
    duration: float
    warmup: float
    max_ids: int


# 1,000 tenants of Zipf sizes: the largest (the noisy neighbour) holds about
# 20,000 rows, and rank 2 (the single-tenant scenarios') about 10,000.
FULL = Profile("full", 150_000, 1_000, duration=10.0, warmup=2.0, max_ids=20_000)
QUICK = Profile("quick", 2_000, 20, duration=2.0, warmup=0.5, max_ids=2_000)


@dataclass
class Dataset:
    """A seeded database and the tenant the benchmark calls as."""

    owner_url: str
    database: str
    total: int
    tenants: int
    tenant: str
    tenant_rows: int
    get_ids: list[str]
    update_ids: list[str]


def token(tenant: str) -> str:
    """A bearer token for tenant, signed with the secret the benchmark's servers verify."""
    from cohorts.cli import mint_token

    return mint_token(JWT_SECRET, tenant=tenant, subject=SUBJECT, app=None, ttl_seconds=12 * 3600)


def as_service_role(owner_url: str) -> str:
    """The URL the service connects with: the owner's database, as cohorts_app."""
    from cohorts.storage.database import as_role

    return as_role(owner_url, SERVICE_ROLE)


def pick_tenant(total: int, tenants: int) -> tuple[str, int]:
    """The tenant whose size is closest to TARGET_TENANT_ROWS."""
    counts = tenant_counts(total, tenants)
    rank = min(range(tenants), key=lambda i: abs(counts[i] - TARGET_TENANT_ROWS))
    return tenant_id(rank + 1), counts[rank]


def load_ids(owner_url: str, tenant: str, limit: int) -> tuple[list[str], list[str]]:
    """(ids to read, live ids to update) of the tenant, shuffled reproducibly."""
    with psycopg.connect(owner_url) as connection:
        rows = connection.execute(
            "SELECT id, is_deleted FROM cohorts WHERE tenant_id = %s ORDER BY id", (tenant,)
        ).fetchall()
    rng = random.Random(42)
    every = [row[0] for row in rows]
    live = [row[0] for row in rows if not row[1]]
    rng.shuffle(every)
    rng.shuffle(live)
    return every[:limit], live[:limit]


def _quiet_seed_log(message: str) -> None:
    log(message.removeprefix("seed: "))


def prepare_main_dataset(server_url: str, profile: Profile) -> Dataset:
    """A database of its own for the main scenarios (they write), seeded fresh every run."""
    from cohorts.storage.database import migrate

    database = f"bench_run_{profile.name}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        if (
            connection.execute("SELECT FROM pg_database WHERE datname = %s", (database,)).fetchone()
            is None
        ):
            connection.execute(f'CREATE DATABASE "{database}"')
    owner_url = database_url_for(server_url, database)
    migrate(owner_url)
    seed(owner_url, profile.total, profile.tenants, log=_quiet_seed_log)
    tenant, rows = pick_tenant(profile.total, profile.tenants)
    get_ids, update_ids = load_ids(owner_url, tenant, profile.max_ids)
    with psycopg.connect(owner_url) as connection:
        for table, ids in (("bench_ids", get_ids), ("bench_update_ids", update_ids)):
            connection.execute(f"DROP TABLE IF EXISTS {table}")
            connection.execute(f"CREATE TABLE {table} (n integer PRIMARY KEY, id text NOT NULL)")
            with connection.cursor().copy(f"COPY {table} (n, id) FROM STDIN") as copy:
                for n, cohort_id in enumerate(ids, start=1):
                    copy.write_row((n, cohort_id))
            connection.execute(f"GRANT SELECT ON {table} TO {SERVICE_ROLE}")
    with psycopg.connect(owner_url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE) bench_ids, bench_update_ids")
        # Write the seed's dirty buffers out now, not during the first scenario.
        connection.execute("CHECKPOINT")
    return Dataset(
        owner_url, database, profile.total, profile.tenants, tenant, rows, get_ids, update_ids
    )


def read_only_dataset(server_url: str, total: int, tenants: int, max_ids: int) -> Dataset:
    """A `bench_<total>_<tenants>` database, seeded once and reused, for scenarios that read."""
    owner_url, _ = ensure_seeded(server_url, total, tenants, log=_quiet_seed_log)
    tenant, tenant_rows = pick_tenant(total, tenants)
    get_ids, _ = load_ids(owner_url, tenant, max_ids)
    database = make_url(owner_url).database or ""
    return Dataset(owner_url, database, total, tenants, tenant, tenant_rows, get_ids, [])


Facts = tuple[int, int, int]


def tenant_facts(owner_url: str, tenant: str) -> Facts:
    """(rows the benchmark created, versions added by updates, rows the benchmark renamed).

    A created row starts at version 1, so only updates move sum(version - 1).
    Each UpdateCohort body renames its own row, so the renamed rows show how
    many distinct rows the rotating bodies reached.
    """
    with psycopg.connect(owner_url) as connection:
        row = connection.execute(
            "SELECT count(*) FILTER (WHERE created_by = %s), coalesce(sum(version - 1), 0),"
            " count(*) FILTER (WHERE name LIKE 'Bench rename %%')"
            " FROM cohorts WHERE tenant_id = %s",
            (SUBJECT, tenant),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])
