"""A cohort as the use cases return it: the domain value, its stored encoding, or both.

Storage keeps each row's encoding (made by the API's CohortCodec) beside the
row, so a read can hand it on without building a Cohort, and the API can send
it without encoding one. Neither the use cases nor the layers above see which
of the two a StoredCohort holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cohorts.domain.cohort import Cohort


@dataclass(frozen=True, slots=True)
class CohortCodec:
    """How the API encodes a cohort and reads one back; storage keeps the encoding.

    format names the encoding: stored bytes of any other format are stale and
    are rebuilt from the row instead of served.
    """

    format: int
    encode: Callable[[Cohort], bytes]
    decode: Callable[[bytes], Cohort]


class StoredCohort:
    """A cohort held as its domain value, as its encoding by codec, or as both.

    Not a frozen dataclass: a List page builds up to a thousand of these, and a
    frozen dataclass sets each field through object.__setattr__, several times
    the cost of plain slots. Its state is private and never reassigned once
    built; the one late write caches a decoded cohort.
    """

    __slots__ = ("_codec", "_cohort", "_encoded")

    def __init__(
        self, codec: CohortCodec, encoded: bytes | None = None, cohort: Cohort | None = None
    ) -> None:
        """encoded: the cohort's bytes in codec's format; at least one of encoded, cohort."""
        self._codec = codec
        self._encoded = encoded
        self._cohort = cohort

    @classmethod
    def with_encoding(cls, cohort: Cohort, codec: CohortCodec) -> StoredCohort:
        """cohort together with its encoding by codec, as a write stores it."""
        return cls(codec, codec.encode(cohort), cohort)

    @property
    def codec(self) -> CohortCodec:
        """The codec whose format the held encoding is in (or would be made in)."""
        return self._codec

    @property
    def cohort(self) -> Cohort:
        """The domain cohort, decoded from the held encoding if that is all there is."""
        cohort = self._cohort
        if cohort is None:
            assert self._encoded is not None
            cohort = self._cohort = self._codec.decode(self._encoded)
        return cohort

    def encoded(self, codec: CohortCodec) -> bytes:
        """The cohort encoded by codec: the held bytes when they are in its format."""
        encoded = self._encoded
        if encoded is not None and codec.format == self._codec.format:
            return encoded
        return codec.encode(self.cohort)

    def __repr__(self) -> str:
        held = repr(self._cohort) if self._cohort is not None else "<encoded only>"
        return f"StoredCohort({held}, format={self._codec.format})"
