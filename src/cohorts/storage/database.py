"""Connection pools, health probes and migrations for a PostgreSQL URL."""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg
from alembic import command
from alembic.config import Config
from psycopg.abc import AdaptContext, Buffer
from psycopg.abc import Transformer as AbcTransformer
from psycopg.adapt import Loader, Transformer
from psycopg.types.json import set_json_dumps
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url

from cohorts.storage.pipeline import PreparedStatements

_MIGRATIONS = Path(__file__).parent / "migrations"


class _OrjsonLoader(Loader):
    """JSON and JSONB (text format) parsed by orjson, called straight from the row loader.

    psycopg's own JSON loader wraps the parse in a Python method that copies
    the buffer first; a List page parses 200 JSONB values, and the wrapper
    was a tenth of the page's fetch.
    """

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        # An instance attribute holding the C function: no Python frame per value.
        self.load = orjson.loads  # type: ignore[method-assign,assignment]

    def load(self, data: Buffer) -> Any:
        return orjson.loads(data)


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


def psycopg_conninfo(database_url: str) -> str:
    """The URL as psycopg takes it (no SQLAlchemy driver suffix)."""
    url = make_url(sqlalchemy_url(database_url)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


@dataclass
class UnitState:
    """What every unit of work that borrows a pooled connection reuses on it.

    A cursor or an adapter context per statement costs its construction
    (adapters, transformer) on every call, and a unit's trip to the database
    is the service's own cost per call (docs/performance.md, "Where a call's
    time goes"); a unit runs one statement at a time, so one of each serves
    them all. The statements prepared on the connection live as long as it does.
    """

    cursor: psycopg.AsyncCursor[Any]
    transformer: AbcTransformer
    prepared: PreparedStatements


# Kept beside the connections, not on them: psycopg's classes stay psycopg's own.
_UNIT_STATES: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], UnitState] = (
    weakref.WeakKeyDictionary()
)


def unit_state(connection: psycopg.AsyncConnection[Any]) -> UnitState:
    """The reusable state of a pooled connection, made on first use."""
    state = _UNIT_STATES.get(connection)
    if state is None:
        state = UnitState(
            connection.cursor(), Transformer.from_context(connection), PreparedStatements()
        )
        _UNIT_STATES[connection] = state
    return state


async def open_pool(
    database_url: str, *, pool_size: int, pool_timeout_seconds: float
) -> AsyncConnectionPool[Any]:
    """A fixed-size psycopg pool in autocommit mode (units of work begin their own transactions).

    It opens in the background: the service starts even while the database
    is down, and health reports NOT_SERVING until it answers.
    """
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        psycopg_conninfo(database_url),
        min_size=pool_size,
        max_size=pool_size,
        timeout=pool_timeout_seconds,
        kwargs={"autocommit": True, "connect_timeout": 5, "application_name": "cohorts"},
        configure=_configure,
        open=False,
    )
    await pool.open(wait=False)
    return pool


async def _configure(connection: psycopg.AsyncConnection[Any]) -> None:
    """Make a new pooled connection what the units of work expect."""
    # orjson parses and writes the JSONB columns several times faster than json; set on
    # the service's connections only, not psycopg's global adapters.
    set_json_dumps(orjson.dumps, context=connection)
    for type_name in ("json", "jsonb"):
        connection.adapters.register_loader(type_name, _OrjsonLoader)
    # Timestamps near the ends of their range (0001-01-01, 9999-12-31) leave it when
    # shown in a zone ahead of or behind UTC, in PostgreSQL and in psycopg's loaders,
    # whatever zone the server or the role defaults to. A session SET, not a startup
    # option: PgBouncer refuses those, but tracks and re-applies TimeZone.
    await connection.execute("SET TimeZone = 'UTC'")


async def database_answers(database_url: str, *, timeout_seconds: float) -> bool:
    """Whether a fresh connection to the database can run a query."""
    try:
        async with asyncio.timeout(timeout_seconds):
            connection = await psycopg.AsyncConnection.connect(
                psycopg_conninfo(database_url), autocommit=True, connect_timeout=5
            )
            async with connection:
                await connection.execute("SELECT 1")
        return True
    except (OSError, TimeoutError, psycopg.Error):
        return False


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


async def warn_if_row_security_is_bypassed(database_url: str) -> None:
    """Log loudly when the service's role is exempt from row-level security."""
    try:
        connection = await psycopg.AsyncConnection.connect(
            psycopg_conninfo(database_url), autocommit=True, connect_timeout=5
        )
    except psycopg.Error:
        return  # the database is down; health will say so
    async with connection:
        cursor = await connection.execute(
            "SELECT current_user, rolsuper OR rolbypassrls FROM pg_roles"
            " WHERE rolname = current_user"
        )
        row = await cursor.fetchone()
    if row and row[1]:
        _log.warning(
            "database role %r is a superuser or has BYPASSRLS: row-level security does not "
            "apply to it; connect as %r (see README: Storage and roles)",
            row[0],
            APP_ROLE,
        )
