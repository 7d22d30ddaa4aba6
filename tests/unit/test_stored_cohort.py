"""StoredCohort: serves its stored encoding while it is in the asked-for format, else encodes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cohorts.domain.cohort import Cohort, CohortContent
from cohorts.service.stored_cohort import CohortCodec, StoredCohort

_AT = datetime(2027, 1, 1, tzinfo=UTC)


def _cohort(name: str) -> Cohort:
    return Cohort(
        id=f"coh_{name}",
        tenant_id="tenant-a",
        app_id=None,
        created_at=_AT,
        updated_at=_AT,
        created_by="person-1",
        updated_by="person-1",
        is_deleted=False,
        deleted_at=None,
        deleted_by="",
        schema_version=1,
        version=1,
        content=CohortContent(name=name),
    )


class NameCodec:
    """Encodes a cohort as format byte + name, and counts the work it does."""

    def __init__(self, format: int) -> None:
        self.encodes = 0
        self.decodes = 0
        self.codec = CohortCodec(format=format, encode=self._encode, decode=self._decode)

    def _encode(self, cohort: Cohort) -> bytes:
        self.encodes += 1
        return bytes([self.codec.format]) + cohort.content.name.encode()

    def _decode(self, encoded: bytes) -> Cohort:
        self.decodes += 1
        return _cohort(encoded[1:].decode())


@pytest.fixture
def names() -> NameCodec:
    return NameCodec(format=1)


def test_a_stored_encoding_in_the_asked_for_format_is_served_as_it_is(names: NameCodec):
    encoded = b"\x01stored"

    assert StoredCohort(names.codec, encoded).encoded(names.codec) is encoded
    assert (names.encodes, names.decodes) == (0, 0)


def test_a_stored_encoding_of_another_format_is_decoded_and_encoded_afresh(names: NameCodec):
    newer = NameCodec(format=2)

    assert StoredCohort(names.codec, b"\x01stored").encoded(newer.codec) == b"\x02stored"
    assert (names.decodes, newer.encodes) == (1, 1)


def test_a_cohort_without_an_encoding_is_encoded_when_asked(names: NameCodec):
    stored = StoredCohort(names.codec, cohort=_cohort("rebuilt"))

    assert stored.encoded(names.codec) == b"\x01rebuilt"
    assert stored.cohort == _cohort("rebuilt")
    assert names.decodes == 0


def test_the_cohort_of_an_encoding_is_decoded_once(names: NameCodec):
    stored = StoredCohort(names.codec, b"\x01stored")

    assert stored.cohort == _cohort("stored")
    assert stored.cohort.content.name == "stored"
    assert names.decodes == 1


def test_a_written_cohort_carries_the_encoding_made_for_it(names: NameCodec):
    stored = StoredCohort.with_encoding(_cohort("written"), names.codec)

    assert stored.encoded(names.codec) == b"\x01written"
    assert stored.cohort == _cohort("written")
    assert (names.encodes, names.decodes) == (1, 0)
