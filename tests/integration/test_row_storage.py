"""A cohort stays in its heap row until the row nears a page (migration 0006).

A row moved out of line costs every write a TOAST insert and every read a TOAST
fetch, so a cohort of a few kilobytes (metadata stored as JSONB and again in
its encoding) is kept whole in its row; only one too large for a page is
compressed and moved out of line, and it reads back the same.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.integration._support import create, full_cohort, get, update

# pg_column_toast_chunk_id, which tells a value stored out of line, is PostgreSQL 17's.
_OUT_OF_LINE = """
    SELECT pg_column_size(c.*),
           pg_column_toast_chunk_id(wire) IS NOT NULL,
           pg_column_toast_chunk_id(metadata) IS NOT NULL
    FROM cohorts c WHERE tenant_id = %s AND id = %s
"""


@pytest.fixture
def placement(db: psycopg.Connection[Any]) -> Any:
    if db.info.server_version < 170000:
        pytest.skip("needs PostgreSQL 17's pg_column_toast_chunk_id")

    def row_size_and_out_of_line(tenant: str, cohort_id: str) -> tuple[int, bool, bool]:
        row = db.execute(_OUT_OF_LINE, (tenant, cohort_id)).fetchone()
        assert row is not None
        return row[0], row[1], row[2]

    return row_size_and_out_of_line


def _metadata_of_about(size: int) -> dict[str, Any]:
    # Distinct text per key, so compression cannot shrink it much.
    return {f"note_{n:04d}": f"{n * 7919:x}-{n * 104729:x}-notes" for n in range(size // 36)}


def test_a_cohort_of_a_few_kilobytes_is_stored_in_its_row(stub, auth, tenant, placement):
    created = create(stub, auth, full_cohort(metadata=_metadata_of_about(1400)))

    row_size, wire_out_of_line, metadata_out_of_line = placement(tenant, created.id)

    # Past the 2 KB at which PostgreSQL moves values out by default.
    assert row_size > 2500
    assert not wire_out_of_line and not metadata_out_of_line
    assert get(stub, auth, created.id) == created


def test_an_update_keeps_the_cohort_in_its_row(stub, auth, tenant, placement):
    created = create(stub, auth, full_cohort(metadata=_metadata_of_about(1400)))
    updated = update(stub, auth, full_cohort(id=created.id, name="renamed"), ["name"])

    row_size, wire_out_of_line, metadata_out_of_line = placement(tenant, created.id)

    assert row_size > 2500 and updated.version == created.version + 1
    assert not wire_out_of_line and not metadata_out_of_line


def test_a_cohort_too_large_for_a_page_is_moved_out_of_line_and_reads_back_whole(
    stub, auth, tenant, placement
):
    created = create(stub, auth, full_cohort(metadata=_metadata_of_about(30_000)))

    _, wire_out_of_line, metadata_out_of_line = placement(tenant, created.id)

    assert wire_out_of_line or metadata_out_of_line
    assert get(stub, auth, created.id) == created
    assert dict(created.metadata) == _metadata_of_about(30_000)
