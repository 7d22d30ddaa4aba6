"""Each cohort's encoding is stored beside its row and served only while it is the row's own.

Reads send the stored bytes (migration 0005, api/wire.py); a row whose bytes
are missing, of another format, or dropped because something other than the
service wrote the row, is rebuilt from its columns.
"""

from __future__ import annotations

from typing import Any

import psycopg
from learning.v1 import cohort_pb2, cohort_service_pb2
from ulid import ULID

from cohorts.api.mapping import cohort_to_proto
from cohorts.api.wire import COHORT_WIRE
from cohorts.cli import main as cli_main
from cohorts.storage.reencode import reencode
from cohorts.storage.repository import COHORT_COLUMNS, cohort_from_row
from tests.integration._support import create, full_cohort, get, stored_row, update

_COLUMNS = ", ".join(column.name for column in COHORT_COLUMNS)


def _listed(stub: Any, auth: Any) -> list[cohort_pb2.Cohort]:
    response = stub.ListCohorts(
        cohort_service_pb2.ListCohortsRequest(page_size=1000, show_deleted=True), metadata=auth
    )
    return list(response.cohorts)


def _rebuilt(db: psycopg.Connection[Any], tenant: str, cohort_id: str) -> cohort_pb2.Cohort:
    """The message the stored columns make, as a read of an unencoded row builds it."""
    row = db.execute(
        f"SELECT {_COLUMNS} FROM cohorts WHERE tenant_id = %s AND id = %s", (tenant, cohort_id)
    ).fetchone()
    assert row is not None
    return cohort_to_proto(cohort_from_row(row))


def _stored_wire(db: psycopg.Connection[Any], tenant: str, cohort_id: str) -> tuple[Any, int]:
    row = stored_row(db, tenant, cohort_id)
    assert row is not None
    return row["wire"], row["wire_format"]


def _store_as_the_service(
    db: psycopg.Connection[Any], tenant: str, cohort_id: str, wire: bytes, wire_format: int
) -> None:
    """Write encoding bytes the way the service does (the trigger keeps them)."""
    with db.transaction():
        db.execute("SELECT set_config('app.stores_wire', 'on', true)")
        db.execute(
            "UPDATE cohorts SET wire = %s, wire_format = %s WHERE tenant_id = %s AND id = %s",
            (wire, wire_format, tenant, cohort_id),
        )


def test_every_write_stores_the_encoding_its_columns_make(stub, auth, db, tenant):
    created = create(stub, auth)
    updated = update(stub, auth, full_cohort(id=created.id, name="renamed"), ["name"])
    deleted = stub.DeleteCohort(
        cohort_service_pb2.DeleteCohortRequest(id=created.id), metadata=auth
    )
    other = create(stub, auth, full_cohort(name="other"))

    for answered in (deleted, other):
        wire, wire_format = _stored_wire(db, tenant, answered.id)
        assert wire_format == COHORT_WIRE.format
        stored = cohort_pb2.Cohort.FromString(wire)
        assert stored == answered == _rebuilt(db, tenant, answered.id)
    assert updated.name == "renamed" and deleted.is_deleted


def test_reads_serve_the_stored_bytes(stub, auth, db, tenant):
    # Proof that the stored encoding is what is sent: bytes the columns would
    # not make, stored as the service stores them, are what Get and List return.
    created = create(stub, auth)
    marked = cohort_pb2.Cohort()
    marked.CopyFrom(created)
    marked.name = "as stored"
    _store_as_the_service(db, tenant, created.id, marked.SerializeToString(), COHORT_WIRE.format)

    assert get(stub, auth, created.id).name == "as stored"
    assert [c.name for c in _listed(stub, auth)] == ["as stored"]


def test_a_row_changed_outside_the_service_is_served_as_changed(stub, auth, db, tenant):
    created = create(stub, auth)
    db.execute(
        "UPDATE cohorts SET name = 'fixed by hand', session_count = 99"
        " WHERE tenant_id = %s AND id = %s",
        (tenant, created.id),
    )

    assert _stored_wire(db, tenant, created.id) == (None, 0)
    fetched = get(stub, auth, created.id)
    assert (fetched.name, fetched.session_count) == ("fixed by hand", 99)
    assert _listed(stub, auth) == [fetched]
    assert fetched == _rebuilt(db, tenant, created.id)


def test_a_row_copied_outside_the_service_is_served_with_its_own_id(stub, auth, db, tenant):
    created = create(stub, auth)
    copy_id = f"coh_{ULID()}"
    columns = [c.name for c in COHORT_COLUMNS if c.name not in ("id", "request_id")]
    db.execute(
        f"INSERT INTO cohorts (id, wire, wire_format, {', '.join(columns)})"
        f" SELECT %s, wire, wire_format, {', '.join(columns)} FROM cohorts"
        " WHERE tenant_id = %s AND id = %s",
        (copy_id, tenant, created.id),
    )

    assert _stored_wire(db, tenant, copy_id) == (None, 0)
    assert get(stub, auth, copy_id).id == copy_id
    assert sorted(c.id for c in _listed(stub, auth)) == sorted([created.id, copy_id])


def test_an_encoding_of_another_format_is_never_served(stub, auth, db, tenant):
    created = create(stub, auth)
    _store_as_the_service(db, tenant, created.id, b"\xff not a cohort", COHORT_WIRE.format + 1)

    assert get(stub, auth, created.id) == created
    assert _listed(stub, auth) == [created]


def test_reencode_stores_the_current_encoding_on_rows_lacking_it(stub, auth, db, tenant):
    kept = create(stub, auth, full_cohort(name="kept"))
    by_hand = create(stub, auth, full_cohort(name="by hand"))
    db.execute(
        "UPDATE cohorts SET name = 'changed by hand' WHERE tenant_id = %s AND id = %s",
        (tenant, by_hand.id),
    )
    kept_wire = _stored_wire(db, tenant, kept.id)

    with psycopg.connect(db.info.dsn, password=db.info.password) as connection:
        assert reencode(connection, COHORT_WIRE) >= 1
        assert reencode(connection, COHORT_WIRE) == 0  # nothing left to do

    wire, wire_format = _stored_wire(db, tenant, by_hand.id)
    assert wire_format == COHORT_WIRE.format
    assert cohort_pb2.Cohort.FromString(wire) == _rebuilt(db, tenant, by_hand.id)
    assert cohort_pb2.Cohort.FromString(wire).name == "changed by hand"
    assert _stored_wire(db, tenant, kept.id) == kept_wire


def test_the_reencode_command_encodes_the_configured_database(
    stub, auth, db, tenant, database_url, monkeypatch
):
    created = create(stub, auth)
    db.execute(
        "UPDATE cohorts SET name = 'changed by hand' WHERE tenant_id = %s AND id = %s",
        (tenant, created.id),
    )
    monkeypatch.setenv("COHORTS_DATABASE_URL", database_url)

    assert cli_main(["reencode"]) == 0

    assert _stored_wire(db, tenant, created.id)[1] == COHORT_WIRE.format
    assert get(stub, auth, created.id).name == "changed by hand"
