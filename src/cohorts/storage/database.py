"""Engines and migrations for a PostgreSQL URL."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_MIGRATIONS = Path(__file__).parent / "migrations"
APP_ROLE = "cohorts_app"

_log = logging.getLogger(__name__)


def sqlalchemy_url(database_url: str) -> str:
    """The URL with the psycopg 3 driver named, whatever PostgreSQL spelling it came in."""
    url = make_url(database_url)
    if url.drivername in ("postgres", "postgresql", "postgresql+psycopg"):
        url = url.set(drivername="postgresql+psycopg")
    else:
        raise ValueError(f"unsupported database URL scheme {url.drivername!r}; use postgresql://")
    return url.render_as_string(hide_password=False)


def create_engine_for(
    database_url: str, *, pool_size: int, pool_timeout_seconds: float
) -> AsyncEngine:
    """An async engine with a bounded pool; a dead connection is dropped, not reused."""
    return create_async_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout_seconds,
        connect_args={"connect_timeout": 5, "application_name": "cohorts"},
    )


def migrate(database_url: str, revision: str = "head") -> None:
    """Bring the schema to revision with Alembic (the only way the schema changes)."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def as_role(database_url: str, role: str = APP_ROLE) -> str:
    """The same server and database, connecting as another role (trust or peer auth)."""
    url: URL = make_url(database_url).set(username=role, password=None)
    return url.render_as_string(hide_password=False)


async def warn_if_row_security_is_bypassed(engine: AsyncEngine) -> None:
    """Log loudly when the service's role is exempt from row-level security."""
    async with engine.connect() as connection:
        result = await connection.execute(
            text(
                "SELECT current_user, rolsuper OR rolbypassrls FROM pg_roles"
                " WHERE rolname = current_user"
            )
        )
        row = result.one()
    if row[1]:
        _log.warning(
            "database role %r is a superuser or has BYPASSRLS: row-level security does not "
            "apply to it; connect as %r (see README: Storage and roles)",
            row[0],
            APP_ROLE,
        )


class PoolObserver(Protocol):
    """Told when pooled connections are taken and returned."""

    def connection_checked_out(self) -> None: ...

    def connection_checked_in(self) -> None: ...


def observe_pool(engine: AsyncEngine, observer: PoolObserver) -> None:
    """Report every checkout and checkin of the engine's pool to observer."""

    def checked_out(*_: Any) -> None:
        observer.connection_checked_out()

    def checked_in(*_: Any) -> None:
        observer.connection_checked_in()

    event.listen(engine.sync_engine, "checkout", checked_out)
    event.listen(engine.sync_engine, "checkin", checked_in)
