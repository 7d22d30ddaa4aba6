"""The service under list_depth: the real server in-process, with the list statement timed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bench.dataset import JWT_SECRET, SERVICE_ROLE, as_service_role


def _is_list(statement: str) -> bool:
    return "FROM cohorts" in statement and "ORDER BY" in statement


class SqlRecorder:
    """Times every ListCohorts SELECT the server runs, and keeps the last one with its values.

    Timing comes from a statement hook (`units_of_work.statement_hooks`: called
    around every statement the unit of work sends, so it spans the one pipelined
    round trip that sets the caller's scope, runs the SELECT and fetches its rows).
    The hook sees only the SQL text, so the bound values come from wrapping the
    unit of work's `fetch`, which every statement passes through with its
    values just before the hook runs. The benchmark makes one call at a time,
    so the last list statement fetched is the one the hook then times.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: list[float] = []
        self.last: tuple[str, dict[str, Any]] | None = None
        self._rendered: tuple[str, dict[str, Any]] | None = None

    def attach(self, units_of_work: Any) -> None:
        """Start recording the list statements of units_of_work's units."""
        from cohorts.storage.unit_of_work import SqlUnitOfWork

        fetch = SqlUnitOfWork.fetch

        async def recording_fetch(
            unit: Any, sql_text: str, params: dict[str, Any], *, binary: bool = False
        ) -> Any:
            if _is_list(sql_text):
                with self._lock:
                    self._rendered = (sql_text, dict(params))
            return await fetch(unit, sql_text, params, binary=binary)

        # Every statement of a unit of work goes through fetch with its values.
        SqlUnitOfWork.fetch = recording_fetch  # type: ignore[method-assign,assignment]

        @contextmanager
        def hook(statement: str) -> Iterator[None]:
            if not _is_list(statement):
                yield
                return
            started = time.perf_counter()
            try:
                yield
            finally:
                # Never raise here: an exception would fail the server's own statement.
                elapsed = time.perf_counter() - started
                with self._lock:
                    self.seconds.append(elapsed)
                    rendered, self._rendered = self._rendered, None
                    matched = rendered is not None and rendered[0] == statement
                    self.last = rendered if matched else None

        units_of_work.statement_hooks.append(hook)

    def take(self) -> float:
        """Seconds of the one list statement run since the last take()."""
        with self._lock:
            if len(self.seconds) != 1:
                raise RuntimeError(f"expected one list statement, saw {len(self.seconds)}")
            return self.seconds.pop()


class ServerThread:
    """The real server (cohorts.server.start_server) on its own uvloop in a thread."""

    def __init__(self, database_url: str, data_dir: Path) -> None:
        import uvloop

        from cohorts.server import start_server
        from cohorts.settings import Settings

        settings = Settings(
            listen="127.0.0.1:0",
            jwt_secret=JWT_SECRET,
            page_token_secret="bench-page-token-secret",
            data_dir=data_dir,
            grace_period_seconds=1.0,
            log_level="WARNING",
        )
        self._loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.running = self._call(start_server(settings, database_url=database_url))
        self.port: int = self.running.port
        self.recorder = SqlRecorder()
        self.recorder.attach(self.running.units_of_work)

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(60)

    def stop(self) -> None:
        """Stop the server and its event loop."""
        self._call(self.running.stop(1.0))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def service_url(owner_url: str) -> tuple[str, bool]:
    """(URL the service connects with, whether row-level security applies to it).

    Like `cohorts serve` on the embedded server: the non-owner cohorts_app role
    when migrations created it, else the owner (which bypasses row security).
    """
    with psycopg.connect(owner_url) as connection:
        row = connection.execute(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = %s", (SERVICE_ROLE,)
        ).fetchone()
    if row is None:
        return owner_url, False
    return as_service_role(owner_url), not row[0]
