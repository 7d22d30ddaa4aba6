"""Who is calling: the identity a verified token carries."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified caller. Its tenant (and app, when present) bound everything it touches."""

    tenant_id: str
    subject: str
    app_id: str | None = None
