"""SQLAlchemy Core statements compiled once into psycopg SQL text.

SQLAlchemy builds and renders every statement (so the table definition has
one source); psycopg executes the text directly, which costs a fraction of
SQLAlchemy's async execution path on the request path (docs/performance.md).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.sqltypes import JSON

_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]


# Compiled statements by SQLAlchemy cache key: statements of the same shape
# (filter structure, order, flags) share one compilation, whatever their values.
_COMPILED: OrderedDict[Any, SQLCompiler] = OrderedDict()
_MAX_COMPILED = 512


def render(statement: ClauseElement) -> tuple[str, dict[str, Any]]:
    """The statement's SQL (with %(name)s placeholders) and its bound values."""
    cache_key = statement._generate_cache_key()
    compiled = _COMPILED.get(cache_key.key) if cache_key is not None else None
    if compiled is None:
        # Compiled as SQLAlchemy's own execution does, so the cached form can
        # take the values extracted from later statements of the same shape.
        compiled = _DIALECT.statement_compiler(_DIALECT, statement, cache_key=cache_key)
        if cache_key is not None:
            _COMPILED[cache_key.key] = compiled
            if len(_COMPILED) > _MAX_COMPILED:
                _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(cache_key.key)  # type: ignore[union-attr]
    params = dict(
        compiled.construct_params(
            extracted_parameters=cache_key.bindparams if cache_key is not None else None
        )
        or {}
    )
    for name, bind in compiled.binds.items():
        if isinstance(bind.type, JSON) and params.get(name) is not None:
            # psycopg needs JSON wrapped; SQLAlchemy's own bind processing is bypassed.
            params[name] = Jsonb(params[name])
    return compiled.string, params


def render_template(statement: ClauseElement) -> str:
    """SQL for a statement whose values come at run time as named parameters."""
    return str(statement.compile(dialect=_DIALECT))
