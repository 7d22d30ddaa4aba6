"""The stored encoding of fixed cohorts, byte for byte, per COHORT_WIRE.format.

Rows keep the bytes the mapping produced when they were written (api/wire.py), and
reads serve them as they are. So the mapping (api/mapping.py) may change what it
encodes only together with a new format number, which sends old rows back to their
columns until `cohorts reencode` runs. This test holds the mapping to the bytes
committed for the current format: a mapping change without a format bump fails here.

After a deliberate bump, write the new format's file with
`COHORTS_WRITE_GOLDEN=1 .venv/bin/pytest tests/unit/test_wire_golden.py` and commit it;
the file of a format that already has one is never rewritten.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from learning.v1 import cohort_pb2

from cohorts.api.wire import COHORT_WIRE
from cohorts.domain.cohort import Cohort, CohortContent, CohortStatus, SourceType

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / f"cohort_wire_{COHORT_WIRE.format}.json"

_CREATED = datetime(2026, 11, 2, 9, 30, 15, 123_456, tzinfo=UTC)


def _cohort(content: CohortContent, **server: object) -> Cohort:
    fields: dict[str, object] = {
        "id": "coh_01JD8X3G7Q9Z3M2V4C6B8N0P1R",
        "tenant_id": "tenant-golden",
        "app_id": None,
        "created_at": _CREATED,
        "updated_at": _CREATED,
        "created_by": "person-1",
        "updated_by": "person-1",
        "is_deleted": False,
        "deleted_at": None,
        "deleted_by": "",
        "schema_version": 1,
        "version": 1,
        "content": content,
    }
    fields.update(server)
    return Cohort(**fields)  # type: ignore[arg-type]


COHORTS = {
    "minimal": _cohort(CohortContent(name="Minimal", source="edm", status=CohortStatus.DRAFT)),
    "every_field": _cohort(
        CohortContent(
            name="Data Science — Spring 2027 ✓",
            source="hr-sync",
            source_type=SourceType.BACKEND,
            group_id="grp-0c3f2a1e-8a4b-4c1d-9e2f-3a4b5c6d7e8f",
            program_id="prog-data-science-101",
            start_date=datetime(2027, 1, 15, 9, 30, 0, 123_456, tzinfo=UTC),
            end_date=datetime(2027, 6, 30, 17, 0, tzinfo=UTC),
            status=CohortStatus.ACTIVE,
            session_count=24,
            facilitator_ids=("person-ada", "person-grace"),
            assigned_assessment_ids=("asm-6f1d2c3b-4a5e-4f60-8172-93a4b5c6d7e8",),
            completion_required_pct=80.5,
            current_completion_pct=12.25,
            metadata={
                "level": "advanced",
                "credits": 7.5,
                "remote": True,
                "room": None,
                "schedule": {"slots": [9, 14], "inner": {"deep": "é✓🚀"}},
            },
            tags=("data", "spring"),
        ),
        app_id="app-lms",
        version=7,
        updated_at=datetime(2027, 2, 1, tzinfo=UTC),
        updated_by="person-2",
    ),
    "zeroes_present": _cohort(
        CohortContent(
            name="Zeroes", session_count=0, completion_required_pct=0.0, current_completion_pct=0.0
        )
    ),
    "deleted_at_the_edges": _cohort(
        CohortContent(
            name="Edges",
            start_date=datetime(1, 1, 1, tzinfo=UTC),
            end_date=datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        ),
        is_deleted=True,
        deleted_at=datetime(2027, 3, 3, tzinfo=UTC),
        deleted_by="person-3",
        version=2**40,
    ),
}


def test_the_mapping_encodes_fixed_cohorts_as_committed_for_the_current_format():
    # Protobuf writes map entries (metadata's Struct) in an order that varies from
    # process to process; read back and written deterministically, the bytes do not.
    encoded = {
        name: cohort_pb2.Cohort.FromString(COHORT_WIRE.encode(cohort))
        .SerializeToString(deterministic=True)
        .hex()
        for name, cohort in COHORTS.items()
    }
    if not GOLDEN.exists() and os.environ.get("COHORTS_WRITE_GOLDEN"):
        GOLDEN.write_text(json.dumps(encoded, indent=2, sort_keys=True) + "\n")
    assert GOLDEN.exists(), (
        f"no committed encoding for format {COHORT_WIRE.format}: write it as this module says"
    )
    committed = json.loads(GOLDEN.read_text())
    changed = sorted(name for name in COHORTS if committed.get(name) != encoded[name])
    assert not changed, (
        f"the mapping now encodes {changed} differently from what rows stored in format "
        f"{COHORT_WIRE.format} hold: bump COHORT_WIRE.format in api/wire.py (and write the new "
        "format's file), or undo the mapping change"
    )
