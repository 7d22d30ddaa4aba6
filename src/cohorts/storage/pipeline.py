"""A unit's statements in one round trip, through libpq's pipeline mode driven directly.

A unit of work outside a transaction always sends the same shape: its scope,
then one statement once per parameter set, then one Sync. psycopg's own
pipeline handles any mix of cursors, statements and results, and on this
shape spends client CPU on bookkeeping the protocol does not need, once per
batch (docs/performance.md, "The libpq pipeline"). This sends the same protocol messages
through psycopg's libpq wrapper (`psycopg.pq`), with psycopg's adapters
(`Transformer`) for parameters and rows, and keeps every statement prepared
on its connection from its first run (psycopg prepares after the fifth).
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import psycopg
import psycopg.errors
from psycopg import pq
from psycopg.abc import Buffer, Transformer
from psycopg.adapt import PyFormat

Row = tuple[Any, ...]

# Statements are rendered by SQLAlchemy's psycopg dialect: named parameters,
# and %% for a literal percent sign.
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
_MAX_PREPARED = 256

_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)
_TEXT = PyFormat.TEXT
_BINARY = PyFormat.BINARY


@lru_cache(maxsize=1024)
def _positional(sql: str) -> tuple[bytes, tuple[str, ...], list[PyFormat]]:
    """sql with $n placeholders, the parameter name each n stands for, and their formats."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    query = _PLACEHOLDER.sub(number, sql).encode()
    return query, tuple(names), [PyFormat.AUTO] * len(names)


class SelfTypedSql(str):
    """SQL whose every parameter takes its type from the statement itself.

    A CAST, or the column an INSERT's VALUES fill, gives each parameter its
    type, so the statement is prepared without parameter types and its
    values go as text (bytes as binary, which PostgreSQL reads as the bytea
    the statement makes them). psycopg otherwise sends each value's own type:
    int2 or int4 by the value's size, and no type for NULL. A statement with
    hundreds of parameters (RowWrite.many) would then be prepared, parsed and
    planned afresh for nearly every combination of its rows' values.
    """

    __slots__ = ()


class PreparedStatements:
    """The statements prepared on one connection, by text and parameter types.

    Past _MAX_PREPARED the least recently used is closed (with the next
    pipeline), so a connection's server memory stays bounded however many
    List shapes callers ask for.
    """

    def __init__(self) -> None:
        self._names: OrderedDict[tuple[bytes, tuple[int, ...]], bytes] = OrderedDict()
        self._to_close: list[bytes] = []
        self._made = 0

    def name(self, key: tuple[bytes, tuple[int, ...]]) -> bytes | None:
        name = self._names.get(key)
        if name is not None:
            self._names.move_to_end(key)
        return name

    def new_name(self) -> bytes:
        self._made += 1
        return b"_cohorts_%d" % self._made

    def prepared(self, key: tuple[bytes, tuple[int, ...]], name: bytes) -> None:
        self._names[key] = name
        if len(self._names) > _MAX_PREPARED:
            _, evicted = self._names.popitem(last=False)
            self._to_close.append(evicted)

    def forget_all(self) -> None:
        self._names.clear()
        self._to_close.clear()

    def take_to_close(self) -> list[bytes]:
        names, self._to_close = self._to_close, []
        return names


class _Step:
    """One message's result to expect: a statement prepared, or a statement's rows."""

    __slots__ = ("key", "name", "is_run")

    def __init__(self, key: tuple[bytes, tuple[int, ...]] | None, name: bytes, is_run: bool):
        self.key = key
        self.name = name
        self.is_run = is_run


async def run_pipelined(
    connection: psycopg.AsyncConnection[Any],
    transformer: Transformer,
    prepared: PreparedStatements,
    statements: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    binary: bool,
    retried: bool = False,
) -> list[list[Row]]:
    """Each statement's rows ([] when it returns none), all sent in one pipeline and one Sync.

    Outside a transaction PostgreSQL runs them as one implicit transaction:
    all commit, or none does, and the first error is raised (as psycopg
    would raise it) once the pipeline has been read to its end.
    """
    pgconn = connection.pgconn
    result_format = pq.Format.BINARY if binary else pq.Format.TEXT
    # Parameters are adapted before anything is sent: a value that cannot be
    # adapted leaves the connection as it was.
    bound: list[tuple[bytes, tuple[int, ...], Sequence[Buffer | None], list[pq.Format] | None]] = []
    for sql, params in statements:
        query, names, adapt_as = _positional(sql)
        values = [params[name] for name in names]
        if isinstance(sql, SelfTypedSql):
            as_text = [_BINARY if type(value) is bytes else _TEXT for value in values]
            buffers = transformer.dump_sequence(values, as_text)
            bound.append((query, (), buffers, transformer.formats))
            continue
        buffers = transformer.dump_sequence(values, adapt_as)
        bound.append((query, tuple(transformer.types or ()), buffers, transformer.formats))

    steps: list[_Step] = []
    # Prepared earlier in this pipeline: PostgreSQL parses before it binds,
    # so a statement run many times here is prepared once.
    preparing: dict[tuple[bytes, tuple[int, ...]], bytes] = {}
    pgconn.enter_pipeline_mode()
    try:
        for name in prepared.take_to_close():
            pgconn.send_close_prepared(name)
            steps.append(_Step(None, name, is_run=False))
        for query, types, buffers, formats in bound:
            key = (query, types)
            known = prepared.name(key) or preparing.get(key)
            if known is not None:
                name = known
            else:
                name = prepared.new_name()
                pgconn.send_prepare(name, query, types)
                preparing[key] = name
                steps.append(_Step(key, name, is_run=False))
            pgconn.send_query_prepared(name, buffers, formats, result_format)
            steps.append(_Step(None, name, is_run=True))
        pgconn.pipeline_sync()
        results = await _round_trip(pgconn)
    except BaseException:
        # Part of the pipeline may still be unsent or unread (a cancelled
        # caller): no other unit may use the connection. A lost one is left
        # as it is, so that the unit of work sees it broken.
        if not connection.closed:
            await connection.close()
        raise
    pgconn.exit_pipeline_mode()

    rows: list[list[Row]] = []
    error: psycopg.Error | None = None
    for step, result in zip(steps, results, strict=True):
        if result.status not in _OK:
            if error is None and result.status == pq.ExecStatus.FATAL_ERROR:
                error = psycopg.errors.error_from_result(result, encoding=connection.info.encoding)
            continue
        if step.key is not None:
            prepared.prepared(step.key, step.name)
        elif step.is_run:
            rows.append(_rows(transformer, result))
    if isinstance(error, psycopg.errors.InvalidSqlStatementName) and not retried:
        # Something deallocated this connection's statements behind its back
        # (DEALLOCATE ALL, DISCARD ALL): the pipeline failed whole, so nothing
        # of it took effect, and it can be sent again with them prepared anew.
        prepared.forget_all()
        return await run_pipelined(
            connection, transformer, prepared, statements, binary=binary, retried=True
        )
    if error is not None:
        raise error
    return rows


def _rows(transformer: Transformer, result: pq.abc.PGresult) -> list[Row]:
    if result.status != pq.ExecStatus.TUPLES_OK:  # no RETURNING
        return []
    transformer.set_pgresult(result)
    rows: list[Row] = transformer.load_rows(0, result.ntuples, tuple)
    return rows


async def _round_trip(pgconn: pq.abc.PGconn) -> list[pq.abc.PGresult]:
    """Every result up to the pipeline's Sync (excluded), one per message sent.

    Sending and reading interleave: a large batch could otherwise fill both
    directions' buffers and wait on itself.
    """
    loop = asyncio.get_running_loop()
    fd = pgconn.socket
    while pgconn.flush():
        if await _ready(loop, fd, write=True):
            pgconn.consume_input()
    results: list[pq.abc.PGresult] = []
    while True:
        while pgconn.is_busy():
            await _ready(loop, fd, write=False)
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:  # the end of one statement's results
            continue
        if result.status == pq.ExecStatus.PIPELINE_SYNC:
            return results
        results.append(result)


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, *, write: bool) -> bool:
    """Wait until fd can be read (or, with write, written); whether it can be read."""
    readable: asyncio.Future[bool] = loop.create_future()
    loop.add_reader(fd, _set, readable, True)
    if write:
        loop.add_writer(fd, _set, readable, False)
    try:
        return await readable
    finally:
        loop.remove_reader(fd)
        if write:
            loop.remove_writer(fd)


def _set(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)
