"""Async engine and session factory for MySQL/MariaDB (asyncmy) and SQLite (aiosqlite), and
`Reads`: single-statement reads for the API's per-request lookups without the ORM."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, Protocol

from sqlalchemy import Table, event, insert, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from scaisend_core.compiled_sql import positional
from scaisend_core.config import CoreSettings, normalise_database_url

SessionFactory = async_sessionmaker[AsyncSession]


def create_engine_for_url(url: str, **pool: Any) -> AsyncEngine:
    """MySQL gets a pre-pinged pool; SQLite gets WAL and foreign keys on every connection."""
    url = normalise_database_url(url)
    echo = bool(pool.pop("echo", False))
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if "charset=" not in url:
        url += ("&" if "?" in url else "?") + "charset=utf8mb4"
    return create_async_engine(url, echo=echo, pool_pre_ping=True, **pool)


def create_engine(settings: CoreSettings) -> AsyncEngine:
    return create_engine_for_url(
        settings.database_url,
        echo=settings.db_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=settings.db_pool_recycle,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the embedded API read while the worker writes; FKs are off by default."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any exception."""
    async with factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


Row = tuple[Any, ...]


class Reads(Protocol):
    """One statement, autocommitted, first row or None: the shape of a per-request lookup (and
    the bulk INSERTs of the API's group commit, which must not pay the ORM's way either).

    SQL is written with `:name` parameters (as for `sqlalchemy.text`). Values come back as the
    driver gives them (no ORM types): ask for flags and strings, compare datetimes in SQL."""

    async def first(self, sql: str, params: Mapping[str, Any]) -> Row | None: ...

    async def all(self, sql: str, params: Mapping[str, Any]) -> list[Row]: ...

    async def insert_many(self, inserts: Sequence[tuple[Table, Sequence[dict[str, Any]]]]) -> None:
        """Every table's rows (dicts keyed by column) in one transaction, one multi-row INSERT
        per table: the API's group commit."""

    async def close(self) -> None: ...


class DriverReads:
    """MySQL/MariaDB straight through asyncmy's own pool, in autocommit mode.

    Through an AsyncSession, a one-row lookup costs about 1 ms of CPU (session, pool pre-ping,
    greenlet hop, ORM result, ROLLBACK on return); here it is one round trip and ~50 µs. Each
    statement is its own transaction, so it always sees the latest commit (a key revoked a
    moment ago is refused). A connection the server dropped is seen by the pool as closed;
    one lost mid-statement is retried once on a fresh connection (reads are idempotent)."""

    def __init__(self, pool: Any, engine: AsyncEngine) -> None:
        self._pool = pool
        self._engine = engine

    @classmethod
    async def open(cls, engine: AsyncEngine, size: int, recycle: int) -> DriverReads:
        import asyncmy

        _, params = engine.dialect.create_connect_args(engine.url)
        pool = await asyncmy.create_pool(
            minsize=0, maxsize=size, pool_recycle=recycle, autocommit=True,
            stmt_cache_size=STATEMENTS_PER_CONNECTION, **params,
        )  # fmt: skip
        return cls(pool, engine)

    async def first(self, sql: str, params: Mapping[str, Any]) -> Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def all(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        statement, names = _positional(sql)
        values = tuple(_naive_utc(params[name]) for name in names)
        try:
            return await self._all(statement, values)
        except _LOST_CONNECTION:
            return await self._all(statement, values)

    async def _all(self, statement: str, values: tuple[Any, ...]) -> list[Row]:
        async with self._pool.acquire() as conn, conn.cursor() as cursor:
            try:
                await cursor.execute(statement, values or None)  # none: plain text
                rows: list[Row] = list(await cursor.fetchall())
            except _LOST_CONNECTION:
                conn.close()  # the pool drops a closed connection instead of reusing it
                raise
            return rows

    async def insert_many(self, inserts: Sequence[tuple[Table, Sequence[dict[str, Any]]]]) -> None:
        """BEGIN, the driver's executemany per table with SQLAlchemy's own compiled INSERT and
        bind processors (the values SQLAlchemy would send), COMMIT: three or four round trips
        and no greenlet hop, against the engine's ping, INSERTs, COMMIT and the ROLLBACK on
        return. On MariaDB each executemany is one binary bulk statement (`_DriverInsert.bulk`),
        one per ~1 MB of a table's rows (`_chunks`).
        Rows that need a column default computed go through the engine instead. Driver errors
        come out as SQLAlchemy's (an IntegrityError stays one)."""
        work = [(table, rows) for table, rows in inserts if rows]
        plans = [(_driver_insert(self._engine.dialect, table, rows), rows) for table, rows in work]
        if any(plan is None for plan, _ in plans):
            await EngineReads(self._engine).insert_many(work)
            return
        dbapi_error = self._engine.dialect.loaded_dbapi.Error
        async with self._pool.acquire() as conn:
            try:
                await _begin(conn)
                for plan, rows in plans:
                    assert plan is not None
                    for chunk in _chunks(plan.parameters(rows), BULK_STATEMENT_BYTES):
                        sql, values = plan.bulk(chunk)
                        async with conn.cursor() as cursor:
                            await cursor.executemany(sql, values)
                await conn.commit()
            except dbapi_error as exc:
                await _rollback_or_close(conn)
                statement = plans[0][0].sql if plans[0][0] is not None else None
                raise DBAPIError.instance(statement, None, exc, dbapi_error) from exc
            except BaseException:  # cancelled or lost mid-way: the connection's state is unknown
                conn.close()
                raise

    async def close(self) -> None:
        self._pool.close()
        await self._pool.wait_closed()


async def _begin(conn: Any) -> None:
    """BEGIN, once more on a fresh connection if the pooled one turns out dead (nothing was
    written yet, so this retry is safe)."""
    try:
        await conn.begin()
    except _LOST_CONNECTION:
        conn.close()
        await conn.connect()
        await conn.begin()


async def _rollback_or_close(conn: Any) -> None:
    try:
        await conn.rollback()
    except Exception:  # a broken connection: drop it (the pool discards closed ones)
        conn.close()


class EngineReads:
    """Any other database (SQLite for `scaisend up`): the same statements through the engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def first(self, sql: str, params: Mapping[str, Any]) -> Row | None:
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def all(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        values = {k: _sqlite_value(v) for k, v in params.items()}
        async with self._engine.connect() as conn:
            result = await conn.execute(text(sql), values)
            return [tuple(row) for row in result.all()]

    async def insert_many(self, inserts: Sequence[tuple[Table, Sequence[dict[str, Any]]]]) -> None:
        async with self._engine.begin() as conn:
            for table, rows in inserts:
                if rows:
                    await conn.execute(insert(table), list(rows))

    async def close(self) -> None:
        """The engine belongs to its owner, who disposes of it."""


async def open_reads(engine: AsyncEngine, size: int, recycle: int) -> Reads:
    if engine.dialect.name in ("mysql", "mariadb") and engine.dialect.driver == "asyncmy":
        return await DriverReads.open(engine, size, recycle)
    return EngineReads(engine)


def _lost_connection_errors() -> tuple[type[BaseException], ...]:
    try:
        from asyncmy.errors import InterfaceError, OperationalError
    except ImportError:  # SQLite-only installs
        return ()
    return (InterfaceError, OperationalError, ConnectionError)


_LOST_CONNECTION = _lost_connection_errors()
_NAMED = re.compile(r"(?<![:\w]):(\w+)")


@lru_cache(maxsize=256)
def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` -> `%s` and the names in order: positional parameters let the driver run the
    statement as a cached server-side prepared statement (binary protocol: no escaping here,
    no parsing there). The statements are module constants, so the cache stays small."""
    if "%" in sql:
        raise ValueError("write % as a parameter: the driver formats the statement with %")
    return _NAMED.sub("%s", sql), tuple(_NAMED.findall(sql))


def _naive_utc(value: Any) -> Any:
    """DATETIME columns hold naive UTC (models/types.py); the driver writes what it is given."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _sqlite_value(value: Any) -> Any:
    """SQLite stores DateTime as SQLAlchemy's text format; compare against the same text."""
    if isinstance(value, datetime):
        return _naive_utc(value).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


@dataclass(frozen=True, slots=True)
class _DriverInsert:
    """SQLAlchemy's compiled INSERT and its bind processors, applied by hand."""

    sql: str
    names: tuple[str, ...]
    # (position, processor) for each column that has a processor
    steps: tuple[tuple[int, Callable[[Any], Any]], ...]

    # per step, the processor's output for each kind of empty value, kept across calls
    empties: tuple[dict[type, Any], ...]

    def parameters(self, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """Each processor's own output, computed once per distinct input: per column, once
        per kind of empty value (None, {}, [], "", 0, False each always serialize the same,
        so once per process), else once per object within a call (the personalizations of
        one send share their message-level values: content, categories, settings …, and a
        send's created_at and updated_at are the same datetime)."""
        get = itemgetter(*self.names)
        memos: list[dict[int, Any]] = [{} for _ in self.steps]
        plan = tuple(zip(self.steps, self.empties, memos, strict=True))
        out = []
        for row in rows:
            values = list(get(row)) if len(self.names) > 1 else [get(row)]
            for (position, process), empties, memo in plan:
                value = values[position]
                if value is None or (type(value) in _EMPTIES and not value):
                    kind = type(value)
                    if kind not in empties:
                        empties[kind] = process(value)
                    values[position] = empties[kind]
                else:
                    key = id(value)  # the rows keep every object alive meanwhile
                    if key not in memo:
                        memo[key] = process(value)
                    values[position] = memo[key]
            out.append(tuple(values))
        return out

    def bulk(self, values: list[tuple[Any, ...]]) -> tuple[str, list[tuple[Any, ...]]]:
        """The statement and values for MariaDB's binary bulk INSERT (COM_STMT_BULK_EXECUTE:
        no escaping, no SQL text for the server to parse). It needs a type for every
        parameter, so a column that is NULL in every row is written as a literal NULL instead
        of a parameter (the same value); the driver keeps one prepared statement per shape."""
        if not values:
            return self.sql, values
        rows = len(values)
        columns = list(zip(*values, strict=True))
        nulls = tuple(i for i, column in enumerate(columns) if column.count(None) == rows)
        if not nulls:
            return self.sql, values
        null_set = set(nulls)
        kept = [column for i, column in enumerate(columns) if i not in null_set]
        return _with_nulls(self.sql, nulls), list(zip(*kept, strict=True))


STATEMENTS_PER_CONNECTION = 64  # prepared INSERT shapes kept per pooled connection
_EMPTIES = (dict, list, str, bool, int)
# A bulk statement is one packet and must fit in the server's max_allowed_packet (16 MB on
# MariaDB by default, 1153 "packet bigger than" otherwise); every message row carries its
# send's content, so a big send's rows can exceed it. 1 MB is what the text protocol's
# statements were (asyncmy's max_stmt_length), so no server that took those refuses these.
BULK_STATEMENT_BYTES = 1_000_000
_VALUE_BYTES = 16  # a parameter's type, NULL indicator and length prefix, or a fixed-size value


def _chunks(values: list[tuple[Any, ...]], budget: int) -> Iterator[list[tuple[Any, ...]]]:
    """Consecutive runs of rows whose parameters take at most `budget` bytes (a row bigger
    than that goes alone): one bulk statement each, in the caller's transaction."""
    chunk: list[tuple[Any, ...]] = []
    size = 0
    encoded: dict[int, int] = {}  # rows share their send's values: encode each one once
    for row in values:
        row_size = _VALUE_BYTES * len(row)
        for value in row:
            if type(value) is str:
                if value.isascii():
                    row_size += len(value)
                else:
                    if id(value) not in encoded:
                        encoded[id(value)] = len(value.encode())
                    row_size += encoded[id(value)]
            elif type(value) is bytes:
                row_size += len(value)
        if chunk and size + row_size > budget:
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += row_size
    if chunk:
        yield chunk


@lru_cache(maxsize=256)
def _with_nulls(sql: str, nulls: tuple[int, ...]) -> str:
    """The INSERT with the `%s` of the given positions (0-based) replaced by NULL."""
    head, _, tail = sql.partition(" VALUES (")
    placeholders = tail.rstrip(")").split(", ")
    if any(p != "%s" for p in placeholders):
        raise ValueError(f"unexpected VALUES clause: {tail}")
    for i in nulls:
        placeholders[i] = "NULL"
    return f"{head} VALUES ({', '.join(placeholders)})"


def _driver_insert(
    dialect: Dialect, table: Table, rows: Sequence[dict[str, Any]]
) -> _DriverInsert | None:
    """None (let SQLAlchemy do it) unless every row names every column the INSERT needs, so
    no Python-side default would have to be computed."""
    keys = tuple(rows[0])
    if any(len(row) != len(keys) for row in rows):
        return None
    plan = _compiled_insert(dialect, table, keys)
    if plan is None or any(row.keys() != rows[0].keys() for row in rows):
        return None
    return plan


@lru_cache(maxsize=32)
def _compiled_insert(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> _DriverInsert | None:
    plan = positional(insert(table).compile(dialect=dialect, column_keys=list(keys)))  # type: ignore[arg-type]
    if set(plan.names) != set(keys):  # a column with a default to fill in, or an unknown key
        return None
    steps = tuple(
        (position, process)
        for position, process in enumerate(plan.processors)
        if process is not None
    )
    return _DriverInsert(plan.sql, plan.names, steps, tuple({} for _ in steps))
