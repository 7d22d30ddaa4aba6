"""Loads synthetic cohorts into a migrated database, fast, with PostgreSQL doing the work.

`seed(database_url, total, tenants)` replaces every row of `cohorts` with
`total` generated cohorts spread over `tenants` tenants, in one transaction:
one `INSERT ... SELECT` over `generate_series`, then every row's stored
encoding written by the service's own `reencode` (as if the service had
written each row), with the table's secondary indexes dropped first and
rebuilt afterwards (their definitions are read back from the catalog, so
whatever the migrations created is what gets rebuilt), then
`VACUUM (FULL, ANALYZE)` so the table holds one version of each row.

The distribution (docs/performance.md, "ListCohorts at depth", sums it up):

* Tenant sizes follow Zipf's law with exponent 1: the tenant of rank r gets
  total / (r * H(tenants)) rows (H = harmonic number), rounded so they sum to
  total. At 1,000,000 rows and 100 tenants the largest tenant holds 192,776
  rows, rank 19 holds 10,146 and the smallest 1,928.
* created_at is uniform over the 365 days before ANCHOR; rows are inserted
  in created_at order, interleaving tenants, as a live table fills up.
* ids are `coh_` + a ULID-shaped 26 characters of Crockford base32: 10 for
  the created_at milliseconds, 8 for (tenant rank, row number), 8 random, so
  ids sort by created_at and are unique.
* start_date is NULL for 8% of rows, else created_at + 0..90 days; end_date
  is start_date + 28..112 days (NULL for 3% of started rows). status follows
  the dates as seen at ANCHOR: DRAFT (no start, or 20% of future starts),
  SCHEDULED (future start), ACTIVE (running at ANCHOR), COMPLETED (ended),
  ARCHIVED (half of those that ended more than 180 days before ANCHOR).
* program_id is one of 8 programmes (skewed: the first holds ~30%), tags are
  [] / ["beta"] / ["beta","pilot"] / ["evening"] / ["evening","remote"]
  (40/30/10/10/10%), 1-3 facilitators from 300 people, half the rows have
  one assessment, metadata is {} for 25% and {room, cost_centre, language}
  otherwise, 40% have an app_id, half have a request_id, 2% are soft-deleted.

Generation is deterministic (setseed), so two seeds of the same size are
identical row for row.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import psycopg

from cohorts.api.wire import COHORT_WIRE
from cohorts.storage.reencode import reencode

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
# Bump when the generated data changes, so `ensure_seeded` reseeds old databases.
SEED_FORMAT = 2
_RANDOM_SEED = 0.4242
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

PROGRAMS = [
    ("prog-leadership", "Leadership Essentials"),
    ("prog-onboarding", "New Starter Onboarding"),
    ("prog-safety", "Site Safety"),
    ("prog-data-literacy", "Data Literacy"),
    ("prog-sales", "Sales Foundations"),
    ("prog-compliance", "Compliance Refresher"),
    ("prog-mentoring", "Mentoring Circle"),
    ("prog-wellbeing", "Wellbeing at Work"),
]

Log = Callable[[str], None]


def tenant_id(rank: int) -> str:
    """The id of the tenant of the given size rank (1 is the largest)."""
    return f"bench-t{rank:03d}"


def tenant_counts(total: int, tenants: int) -> list[int]:
    """Rows per tenant, largest first: Zipf (s=1) shares, largest-remainder rounded to total."""
    if tenants < 1 or total < tenants:
        raise ValueError("need at least one tenant and at least one row per tenant")
    harmonic = sum(Fraction(1, r) for r in range(1, tenants + 1))
    exact = [Fraction(total, 1) / (r * harmonic) for r in range(1, tenants + 1)]
    counts = [int(share) for share in exact]
    by_remainder = sorted(range(tenants), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _b32(expr: str, chars: int) -> str:
    """SQL for the low 5*chars bits of a bigint expression in Crockford base32."""
    return " || ".join(
        f"substr('{_CROCKFORD}', (({expr} >> {5 * i}) & 31)::int + 1, 1)"
        for i in reversed(range(chars))
    )


def _pick(options: list[str], draw: str) -> str:
    """SQL choosing one of options (SQL literals) uniformly by a random draw in [0, 1)."""
    array = ", ".join(options)
    return f"(ARRAY[{array}])[floor({draw} * {len(options)})::int + 1]"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_PROGRAM_INDEX = f"(floor(power(b.r_prog, 1.7) * {len(PROGRAMS)})::int + 1)"
_PERSON = "'person-' || lpad(({n})::text, 4, '0')"

# One row per cohort: b draws the random numbers, s derives the dates, d the
# status; the outer SELECT shapes every column. {b32_*} are filled in below.
_INSERT = """
INSERT INTO cohorts (
    tenant_id, id, app_id, request_id, created_at, updated_at, created_by, updated_by,
    source, source_type, is_deleted, deleted_at, deleted_by, schema_version, group_id,
    program_id, name, start_date, end_date, status, session_count, facilitator_ids,
    assigned_assessment_ids, completion_required_pct, current_completion_pct, metadata,
    tags, version
)
SELECT
    d.tenant_id,
    'coh_' || {b32_time} || {b32_serial} || {b32_noise},
    CASE WHEN d.r_app < 0.60 THEN NULL WHEN d.r_app < 0.85 THEN 'app-lms' ELSE 'app-hr' END,
    CASE WHEN d.r_req < 0.5 THEN md5(d.tenant_id || ':' || d.k || ':request')::uuid END,
    d.created_at,
    d.updated_at,
    d.created_by,
    d.updated_by,
    CASE WHEN d.r_src < 0.70 THEN 'edm' WHEN d.r_src < 0.90 THEN 'lms-sync'
         WHEN d.r_src < 0.97 THEN 'admin-ui' ELSE 'nightly-import' END,
    CASE WHEN d.r_src < 0.70 THEN 5 WHEN d.r_src < 0.90 THEN 3
         WHEN d.r_src < 0.97 THEN 1 ELSE 4 END,
    d.r_del < 0.02,
    CASE WHEN d.r_del < 0.02 THEN d.updated_at END,
    CASE WHEN d.r_del < 0.02 THEN d.updated_by ELSE '' END,
    1,
    CASE WHEN d.r_grp < 0.30 THEN ''
         ELSE 'grp-' || md5(d.tenant_id || ':' || d.k || ':group')::uuid END,
    (ARRAY[{program_ids}])[d.program],
    (ARRAY[{program_titles}])[d.program] || ' - '
        || to_char(coalesce(d.start_date, d.created_at), 'Mon YYYY') || ' #' || d.k,
    d.start_date,
    d.end_date,
    d.status,
    CASE WHEN d.r_sess < 0.10 THEN NULL ELSE 4 + floor(d.r_sess * 13)::int END,
    CASE WHEN d.r_nfac < 0.55 THEN jsonb_build_array({person_1})
         WHEN d.r_nfac < 0.90 THEN jsonb_build_array({person_1}, {person_2})
         ELSE jsonb_build_array({person_1}, {person_2}, {person_3}) END,
    CASE WHEN d.r_asm < 0.5 THEN '[]'::jsonb
         ELSE jsonb_build_array('asm-' || md5(d.tenant_id || ':' || d.k || ':asm')::uuid) END,
    (ARRAY[NULL, 70, 80, 80, 100]::double precision[])[floor(d.r_req_pct * 5)::int + 1],
    CASE WHEN d.status IN (4, 5) THEN round((60 + d.r_cur * 40)::numeric, 1)::double precision
         WHEN d.status = 3 THEN round((d.r_cur * 80)::numeric, 1)::double precision END,
    CASE WHEN d.r_meta < 0.25 THEN '{{}}'::jsonb
         ELSE jsonb_build_object(
             'room', 'R' || (1 + mod(floor(d.r_meta * 4000)::int, 40)),
             'cost_centre', 'CC-' || lpad(mod(floor(d.r_meta * 100)::int, 30)::text, 3, '0'),
             'language', {language}) END,
    CASE WHEN d.r_tag < 0.40 THEN '[]'::jsonb
         WHEN d.r_tag < 0.70 THEN '["beta"]'::jsonb
         WHEN d.r_tag < 0.80 THEN '["beta", "pilot"]'::jsonb
         WHEN d.r_tag < 0.90 THEN '["evening"]'::jsonb
         ELSE '["evening", "remote"]'::jsonb END,
    1 + floor(power(d.r_ver, 2) * 5)::int
FROM (
    SELECT s.*,
        CASE WHEN s.start_date IS NULL THEN 1
             WHEN s.start_date > %(anchor)s THEN CASE WHEN s.r_status < 0.2 THEN 1 ELSE 2 END
             WHEN coalesce(s.end_date, s.start_date + interval '70 days') >= %(anchor)s THEN 3
             WHEN coalesce(s.end_date, s.start_date + interval '70 days')
                  < %(anchor)s - interval '180 days' AND s.r_status < 0.5 THEN 5
             ELSE 4 END AS status
    FROM (
        SELECT b.*,
            {program_index} AS program,
            floor(extract(epoch FROM b.created_at) * 1000)::bigint AS ms,
            (b.rank::bigint << 32) | b.k AS serial,
            CASE WHEN b.r_nostart >= 0.08 THEN b.created_at + b.r_lead * interval '90 days' END
                AS start_date,
            CASE WHEN b.r_nostart >= 0.08 AND b.r_noend >= 0.03
                 THEN b.created_at + b.r_lead * interval '90 days'
                      + (28 + b.r_len * 84) * interval '1 day' END AS end_date,
            b.created_at + b.r_upd * (%(anchor)s - b.created_at) AS updated_at,
            {person_created} AS created_by,
            CASE WHEN b.r_upd_by < 0.6 THEN {person_created} ELSE {person_updated} END
                AS updated_by
        FROM (
            SELECT t.tenant_id, t.rank, g.k,
                date_trunc('microseconds', %(anchor)s - random() * interval '365 days')
                    AS created_at,
                random() AS r_app, random() AS r_req, random() AS r_upd, random() AS r_user,
                random() AS r_user2, random() AS r_upd_by, random() AS r_src, random() AS r_del,
                random() AS r_grp, random() AS r_prog, random() AS r_nostart, random() AS r_lead,
                random() AS r_len, random() AS r_noend, random() AS r_status, random() AS r_sess,
                random() AS r_nfac, random() AS r_fac, random() AS r_asm, random() AS r_req_pct,
                random() AS r_cur, random() AS r_meta, random() AS r_lang, random() AS r_tag,
                random() AS r_ver, floor(random() * 1099511627776)::bigint AS noise
            FROM unnest(%(tenants)s::text[], %(counts)s::int[])
                WITH ORDINALITY AS t(tenant_id, n, rank)
            CROSS JOIN LATERAL generate_series(1, t.n) AS g(k)
        ) b
    ) s
) d
ORDER BY d.created_at, d.tenant_id, d.k
"""


def _insert_sql() -> str:
    person = "floor(d.r_fac * 300)::int"
    return _INSERT.format(
        b32_time=_b32("d.ms", 10),
        b32_serial=_b32("d.serial", 8),
        b32_noise=_b32("d.noise", 8),
        program_ids=", ".join(_quote(p) for p, _ in PROGRAMS),
        program_titles=", ".join(_quote(t) for _, t in PROGRAMS),
        program_index=_PROGRAM_INDEX,
        person_1=_PERSON.format(n=person),
        person_2=_PERSON.format(n=f"mod({person} + 17, 300)"),
        person_3=_PERSON.format(n=f"mod({person} + 131, 300)"),
        person_created=_PERSON.format(n="floor(b.r_user * 300)::int"),
        person_updated=_PERSON.format(n="floor(b.r_user2 * 300)::int"),
        language=_pick(["'en'", "'en'", "'en'", "'fr'", "'de'", "'es'"], "d.r_lang"),
    )


_SECONDARY_INDEXES = """
SELECT i.relname, pg_get_indexdef(i.oid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = 'cohorts'::regclass
  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = x.indexrelid)
ORDER BY i.relname
"""

_MARKER_TABLE = """
CREATE TABLE IF NOT EXISTS bench_seed (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    info jsonb NOT NULL
)
"""


def _print(message: str) -> None:
    print(message, flush=True)


def seed(
    database_url: str,
    total: int = 1_000_000,
    tenants: int = 100,
    *,
    log: Log = _print,
) -> dict[str, Any]:
    """Replace every cohort in the (migrated) database with `total` generated ones.

    Connect as the table's owner (or a superuser): row-level security must not
    filter the load, and the secondary indexes are dropped and rebuilt. Returns
    what was seeded, which is also stored in the `bench_seed` table.
    """
    counts = tenant_counts(total, tenants)
    names = [tenant_id(rank) for rank in range(1, tenants + 1)]
    started = time.perf_counter()
    with psycopg.connect(database_url) as connection:
        with connection.transaction():
            for setting, value in (
                ("TimeZone", "UTC"),
                ("work_mem", "512MB"),
                ("maintenance_work_mem", "1GB"),
                ("synchronous_commit", "off"),
            ):
                connection.execute("SELECT set_config(%s, %s, true)", (setting, value))
            indexes = connection.execute(_SECONDARY_INDEXES).fetchall()
            for name, _ in indexes:
                connection.execute(f'DROP INDEX "{name}"')
            connection.execute("TRUNCATE cohorts")
            connection.execute("SELECT setseed(%s)", (_RANDOM_SEED,))
            connection.execute(
                _insert_sql(), {"anchor": ANCHOR, "tenants": names, "counts": counts}
            )
            inserted = time.perf_counter()
            log(f"seed: inserted {total:,} rows in {inserted - started:.1f}s")
            reencode(connection, COHORT_WIRE, batch_rows=10_000)
            loaded = time.perf_counter()
            log(f"seed: stored their encodings in {loaded - inserted:.1f}s")
            for _, definition in indexes:
                connection.execute(definition)
            log(
                f"seed: rebuilt {len(indexes)} secondary indexes in "
                f"{time.perf_counter() - loaded:.1f}s"
            )
            info = {
                "format": SEED_FORMAT,
                "total": total,
                "tenants": tenants,
                "distribution": "zipf(s=1)",
                "anchor": ANCHOR.isoformat(),
                "tenant_rows": dict(zip(names, counts, strict=True)),
                "seeded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            connection.execute(_MARKER_TABLE)
            connection.execute("DELETE FROM bench_seed")
            connection.execute(
                "INSERT INTO bench_seed (info) VALUES (%s::jsonb)", (json.dumps(info),)
            )
    vacuumed = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("VACUUM (FULL, ANALYZE) cohorts")
    log(f"seed: VACUUM (FULL, ANALYZE) in {time.perf_counter() - vacuumed:.1f}s")
    info["seconds"] = round(time.perf_counter() - started, 1)
    log(f"seed: {total:,} cohorts across {tenants} tenants in {info['seconds']}s")
    return info


def seeded_info(database_url: str) -> dict[str, Any] | None:
    """What `seed` stored in this database, or None when it was never seeded."""
    with psycopg.connect(database_url) as connection:
        exists = connection.execute("SELECT to_regclass('bench_seed') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        row = connection.execute("SELECT info FROM bench_seed").fetchone()
        if row is None:
            return None
        info: dict[str, Any] = row[0]
        count = connection.execute("SELECT count(*) FROM cohorts").fetchone()
        if count is None or count[0] != info.get("total"):
            return None
        return info


def _schema_revision(database_url: str) -> str | None:
    """The Alembic revision the database is at (None before the first migration)."""
    with psycopg.connect(database_url) as connection:
        exists = connection.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        return None if row is None else str(row[0])


def database_url_for(server_url: str, database: str) -> str:
    """The URL of another database on the same server."""
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


def ensure_seeded(
    server_url: str,
    total: int,
    tenants: int,
    *,
    reseed: bool = False,
    log: Log = _print,
) -> tuple[str, dict[str, Any]]:
    """A migrated database `bench_<total>_<tenants>` on the server, seeded; (owner URL, info).

    Reuses a database already seeded with the same size and SEED_FORMAT unless
    reseed is set. Migrations always run (a reused database gains new indexes),
    followed by ANALYZE, or VACUUM (ANALYZE) when one changed the schema.
    """
    from cohorts.storage.database import migrate

    database = f"bench_{total}_{tenants}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        found = connection.execute(
            "SELECT FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if found is None:
            connection.execute(f'CREATE DATABASE "{database}"')
            log(f"seed: created database {database}")
    url = database_url_for(server_url, database)
    before = _schema_revision(url)
    migrated = time.perf_counter()
    migrate(url)
    after = _schema_revision(url)
    if after != before:
        log(
            f"seed: migrated {database} {before} -> {after} "
            f"in {time.perf_counter() - migrated:.1f}s"
        )
    info = None if reseed else seeded_info(url)
    if info is not None and info.get("format") == SEED_FORMAT:
        log(f"seed: reusing {database} (seeded {info['seeded_at']}; --reseed to redo)")
        with psycopg.connect(url, autocommit=True) as connection:
            if after != before:
                # A migration may have rewritten the table (a stored generated column
                # does): VACUUM sets the visibility map and hint bits a fresh seed has.
                vacuumed = time.perf_counter()
                connection.execute("VACUUM (ANALYZE) cohorts")
                log(f"seed: VACUUM (ANALYZE) in {time.perf_counter() - vacuumed:.1f}s")
            else:
                connection.execute("ANALYZE cohorts")
        return url, info
    return url, seed(url, total, tenants, log=log)


def main() -> None:
    """`python -m bench.seed DATABASE_URL [--total N] [--tenants N]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", help="owner URL of a migrated database")
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=100)
    args = parser.parse_args()
    seed(args.database_url, args.total, args.tenants)


if __name__ == "__main__":
    main()
