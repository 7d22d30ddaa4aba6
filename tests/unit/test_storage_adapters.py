"""Storage uses psycopg's public API: its own connection class, and no global adapter swaps."""

from __future__ import annotations

import psycopg
from psycopg.pq import Format
from psycopg.types.json import JsonbLoader

import cohorts.storage.database  # noqa: F401 - importing it must change nothing global
import cohorts.storage.unit_of_work  # noqa: F401


def test_importing_storage_leaves_psycopgs_global_json_adapters_alone():
    jsonb = psycopg.adapters.types["jsonb"].oid
    assert psycopg.adapters.get_loader(jsonb, Format.TEXT) is JsonbLoader
