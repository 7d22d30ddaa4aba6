"""SQLAlchemy Core statements compiled once into psycopg SQL text.

SQLAlchemy builds and renders every statement (so the table definition has
one source); psycopg executes the text directly, which costs a fraction of
SQLAlchemy's async execution path on the request path (docs/performance.md,
"Stored wire encodings").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.sqltypes import JSON
from sqlalchemy.types import TypeEngine

_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]


# Rendered statements by shape: what a caller says determines the statement
# (list filters, order, flags) apart from its run-time parameters.
_RENDERED: OrderedDict[Hashable, tuple[str, dict[str, Any]]] = OrderedDict()
_MAX_RENDERED = 512


def render_once(shape: Hashable, build: Callable[[], ClauseElement]) -> tuple[str, dict[str, Any]]:
    """The SQL (with %(name)s placeholders) and bound values of build()'s statement.

    build runs once per shape (least recently used shapes are forgotten past
    _MAX_RENDERED): shape must determine the statement and every value bound
    in it. Parameters left without a value (bindparam(..., required=False))
    are the caller's to fill in on each run.
    """
    rendered = _RENDERED.get(shape)
    if rendered is not None:
        _RENDERED.move_to_end(shape)
        return rendered
    compiled = _DIALECT.statement_compiler(_DIALECT, build())
    params = dict(compiled.params)
    for name, bind in compiled.binds.items():
        if isinstance(bind.type, JSON) and params.get(name) is not None:
            # psycopg needs JSON wrapped; SQLAlchemy's own bind processing is bypassed.
            params[name] = Jsonb(params[name])
    rendered = compiled.string, params
    _RENDERED[shape] = rendered
    if len(_RENDERED) > _MAX_RENDERED:
        _RENDERED.popitem(last=False)
    return rendered


def render_template(statement: ClauseElement) -> str:
    """SQL for a statement whose values come at run time as named parameters."""
    return str(statement.compile(dialect=_DIALECT))


def quoted(name: str) -> str:
    """name as an SQL identifier, quoted where it must be."""
    quote: Callable[[str], str] = _DIALECT.identifier_preparer.quote
    return quote(name)


def type_name(type_: TypeEngine[Any]) -> str:
    """The PostgreSQL name of a column type, for a CAST."""
    return type_.compile(dialect=_DIALECT)
