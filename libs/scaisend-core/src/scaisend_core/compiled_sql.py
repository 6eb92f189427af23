"""Hot-path statements compiled once per shape and run through the driver (asyncmy) itself:
SQLAlchemy's per-execution compile-cache lookup, parameter construction and result wrapping
cost more CPU than the statement's round trip. `positional` is the compiled form both users
share: the API's group-commit INSERTs (db.py) and delivery's prebuilt UPDATEs (`execute`, in
the session's transaction; other dialects, SQLite in tools, go through SQLAlchemy as before)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True, slots=True)
class Compiled:
    """The statement's text with positional placeholders, and per placeholder its parameter's
    name, bind processor (the column type's, e.g. UTC datetimes to naive) and constant value."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    constants: Mapping[str, Any]

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        constants = self.constants
        return tuple(
            (value if process is None or value is None else process(value))
            for name, process in zip(self.names, self.processors, strict=True)
            for value in (params[name] if name in params else constants[name],)
        )


def positional(statement: SQLCompiler) -> Compiled:
    """What a driver needs to run a statement SQLAlchemy compiled: its text, and per
    positional placeholder the parameter's name, bind processor and constant value."""
    assert statement.positiontup is not None, "the driver's placeholders are positional"
    names = tuple(statement.positiontup)
    processors: Mapping[str, Any] = statement._bind_processors
    constants = {statement.bind_names[b]: b.value for b in statement.binds.values()
                 if not b.required}  # fmt: skip
    return Compiled(statement.string, names, tuple(processors.get(n) for n in names), constants)


@lru_cache(maxsize=64)
def compiled(build: Callable[[int], Update], size: int, dialect: Dialect) -> Compiled:
    return positional(build(size).compile(dialect=dialect))  # type: ignore[arg-type]


async def execute(
    session: AsyncSession, build: Callable[[int], Update], size: int, params: dict[str, Any]
) -> int:
    """Run `build(size)` with `params` in the session's transaction; the rows it matched."""
    connection = await session.connection()
    if connection.dialect.driver != "asyncmy":
        result = await connection.execute(build(size), params)
        return int(result.rowcount)
    statement = compiled(build, size, connection.dialect)
    driver = await _driver_connection(connection)
    async with driver.cursor() as cursor:
        # rows matched, not changed: the dialect connects with CLIENT.FOUND_ROWS
        return int(await cursor.execute(statement.sql, statement.values(params)))


async def _driver_connection(connection: AsyncConnection) -> Any:
    raw = await connection.get_raw_connection()
    return raw.driver_connection
