"""The database handle: one SQLAlchemy engine, short transactions, migrations applied at start-up.

Queries run on the event loop thread. With SQLite in WAL mode a transaction takes tens of microseconds, far
less than a hop to a thread pool would cost, and one writer per process means no lock contention.

Two ways in. `tx()` yields a SQLAlchemy Connection for everything built ad hoc. `fast()` yields a `Raw`:
statements built once as module constants, compiled once for the dialect and run on the DBAPI connection
with the same SQL text and type conversions, but without SQLAlchemy's 40-90 µs per execution (statement
construction, cache key, result metadata). The hot paths use it: authentication, message create and fetch,
the job queue and message sends. `raw(conn)` gives a `Raw` inside a `tx()` transaction, so a function
that takes a `Tx` serves both. `read()` is `fast()` for blocks that only read.

`write()` is how the API and the job runner write, with group commit on SQLite: a WAL commit costs
100 µs or more, more than the rest of a message create, so the writes that finish in the same turn of
the event loop share one commit. Each block runs in a savepoint (a failing block undoes only its own
writes) and its caller resumes once the shared commit is done, so a 201 still means the row is on disk.
Any other transaction (`fast()`, `tx()`) commits the open group first.

A database that cannot be reached (PostgreSQL down or restarting, the connection to it cut) raises
`Unavailable` from any of them, at once rather than after a wait, and the block's transaction is not
committed (unless the connection was lost during the COMMIT itself, which no client can tell). The pool
keeps no dead connection: once one is found lost, every connection opened before is replaced on its next
checkout, and one that sat idle is pinged first, so the server recovers by itself when the database is
back. The callers decide what an outage means: the API answers 503, the workers try again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, DateTime, Float, bindparam, create_engine, event, insert
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.expression import Insert
from sqlalchemy.sql.schema import Table

Row = Mapping[Any, Any]  # a RowMapping from tx(), a dict from Raw
log = logging.getLogger("telephonist.db")
# A pooled connection idle longer than this is pinged before use: a restart of the server may have closed
# it meanwhile. Connections in steady use skip the round trip (a lost one is found when a block fails).
PING_IDLE_SECONDS = 1.0


class Unavailable(Exception):
    """The database cannot be reached: down, restarting, or the connection to it was lost."""


def utcnow() -> dt.datetime:
    """Naive UTC, as stored; rendering attaches +0000."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


CONNECT_TIMEOUT = 5  # seconds, PostgreSQL


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            # One connection shared by the loop thread; the file is the durability boundary.
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        elif url.startswith("postgresql") and "connect_timeout" not in url:
            # A server that does not answer (down, or cut off) fails a connection in seconds, not after
            # the system's TCP timeout of minutes: requests answer 503 and the job runner waits.
            kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}}
        # JSON columns (job payloads above all) through orjson, several times faster than json.
        kwargs |= {"json_serializer": _json_text, "json_deserializer": orjson.loads}
        self.engine: Engine = create_engine(url, **kwargs)
        self._held: Any = None  # SQLite: the pool's one connection, kept checked out for fast()
        self._lost = False  # a connection was found lost: the next checkout replaces the pool's older ones
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
            self._held = self.engine.raw_connection()
        else:
            event.listen(self.engine.pool, "checkout", self._on_checkout)
            event.listen(self.engine.pool, "checkin", _on_checkin)
        self._dbapi_error: type[Exception] = self.engine.dialect.loaded_dbapi.Error
        self._group: asyncio.Future[None] | None = None  # the open group commit, if any

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        self.commit_group()
        if self._held is not None:
            with self.engine.begin() as conn:
                yield conn
            return
        try:
            conn = self.engine.connect()
        except DBAPIError as exc:
            raise _unavailable(exc) from exc
        with conn:
            try:
                with conn.begin():
                    yield conn
            except Exception as exc:
                # SQLAlchemy invalidates the pool itself when it sees the connection lost; a block that
                # ran Raw statements on it (raw(conn)) fails with the driver's error.
                if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                    raise _unavailable(exc) from exc
                if self._is_lost(exc, conn.connection.driver_connection):
                    conn.invalidate(exc)
                    self._lost = True
                    raise _unavailable(exc) from exc
                raise

    @contextmanager
    def read(self) -> Iterator[Raw]:
        """Prepared statements for a block that only reads (it may see the open group's rows)."""
        if self._held is not None:
            yield Raw(self._held.driver_connection, self.engine.dialect)
            return
        with self.fast() as q:
            yield q

    def write(self) -> _Write:
        """`async with db.write() as q`: a write whose commit is shared with the others of this loop
        turn; resumes once committed."""
        return _Write(self)

    def _join_group(self) -> tuple[Raw, asyncio.Future[None]]:
        dbapi = self._held.driver_connection
        if self._group is None:
            if not dbapi.in_transaction:
                dbapi.execute("BEGIN")
            loop = asyncio.get_running_loop()
            self._group = loop.create_future()
            # Committed a turn later: the requests whose bytes arrived in this turn start as tasks on the
            # next one, and join this group instead of paying for a commit of their own.
            loop.call_soon(loop.call_soon, self.commit_group)
        return Raw(dbapi, self.engine.dialect), self._group

    def commit_group(self) -> None:
        group, self._group = self._group, None
        if group is None:
            return
        dbapi = self._held.driver_connection
        try:
            dbapi.commit()
        except Exception as exc:
            dbapi.rollback()
            group.set_exception(exc)
            return
        group.set_result(None)

    @contextmanager
    def fast(self) -> Iterator[Raw]:
        """A transaction on a DBAPI connection: committed on exit, rolled back on error."""
        self.commit_group()
        if self._held is not None:
            dbapi: Any = self._held.driver_connection
            if not dbapi.in_transaction:
                dbapi.execute("BEGIN")  # explicit, so that a savepoint nests instead of committing alone
            try:
                yield Raw(dbapi, self.engine.dialect)
                dbapi.commit()
            except BaseException:
                dbapi.rollback()
                raise
            return
        try:
            conn = self.engine.raw_connection()
        except self._dbapi_error as exc:  # refused, shutting down, starting up…
            raise _unavailable(exc) from exc
        dbapi = conn.driver_connection
        try:
            yield Raw(dbapi, self.engine.dialect)
            dbapi.commit()
        except BaseException as exc:
            lost = self._is_lost(exc, dbapi)
            if not lost:
                try:
                    dbapi.rollback()
                except self._dbapi_error as again:
                    lost = self._is_lost(again, dbapi)
                    if not lost:
                        raise
            if lost:
                conn.invalidate(exc if isinstance(exc, Exception) else None)
                self._lost = True
                if isinstance(exc, self._dbapi_error):
                    raise _unavailable(exc) from exc
            raise
        finally:
            conn.close()

    def _is_lost(self, exc: BaseException, dbapi: Any) -> bool:
        """Whether `exc` means the connection is gone (rather than the statement failing)."""
        dialect: Any = self.engine.dialect
        return isinstance(exc, self._dbapi_error) and bool(dialect.is_disconnect(exc, dbapi, None))

    def _on_checkout(self, dbapi: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        """Pool event: after a lost connection, every connection opened before it is replaced (raising
        InvalidatePoolError does that, and reconnects this one); one idle for a while is pinged."""
        if self._lost:
            self._lost = False
            raise InvalidatePoolError("a connection to the database was lost")
        idle_since = record.info.pop("idle_since", None)
        if idle_since is not None and time.monotonic() - idle_since > PING_IDLE_SECONDS:
            try:
                self.engine.dialect.do_ping(dbapi)
            except self._dbapi_error as exc:
                log.warning("database connection lost while idle (%s): reconnecting", exc)
                raise InvalidatePoolError(str(exc)) from exc

    def migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        cfg.attributes["connection_url"] = self.url
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        self.commit_group()
        if self._held is not None:
            self._held.close()
            self._held = None
        self.engine.dispose()


def _on_checkin(_dbapi: Any, record: ConnectionPoolEntry) -> None:
    record.info["idle_since"] = time.monotonic()


_warned = 0.0  # when an outage was last logged: once a second at most, not once a request


def _unavailable(exc: BaseException) -> Unavailable:
    global _warned
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc  # the driver's words
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    if time.monotonic() - _warned > 1.0:
        _warned = time.monotonic()
        log.warning("database unavailable: %s", text)
    return Unavailable(text)


class _Write:
    """Database.write(): a savepoint in the open group commit (SQLite), or a transaction of its own. A
    class rather than an @asynccontextmanager: it runs for every write of every request."""

    __slots__ = ("db", "q", "group", "alone")
    alone: AbstractContextManager[Raw] | None
    q: Raw
    group: asyncio.Future[None]

    def __init__(self, db: Database) -> None:
        self.db = db

    async def __aenter__(self) -> Raw:
        if self.db._held is None:
            self.alone = self.db.fast()
            return self.alone.__enter__()
        self.alone = None
        self.q, self.group = self.db._join_group()
        self.q.dbapi.execute("SAVEPOINT block")
        return self.q

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if self.alone is not None:
            self.alone.__exit__(kind, exc, tb)
            return
        dbapi = self.q.dbapi
        if kind is not None:  # this block's writes are undone, the group's others stay
            dbapi.execute("ROLLBACK TO block")
            dbapi.execute("RELEASE block")
            return
        dbapi.execute("RELEASE block")
        await asyncio.shield(self.group)


class Prepared:
    """One statement compiled for one dialect, with its bind and result type conversions."""

    def __init__(self, stmt: ClauseElement, dialect: Dialect) -> None:
        compiled: Any = stmt.compile(dialect=dialect)  # a SQLCompiler
        self.sql: str = compiled.string
        self.positional: bool = compiled.positional
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        self.names: Sequence[str] = compiled.positiontup or list(binds)
        missing = object()
        self._binds = [
            (
                name,
                _bind_processor(binds[name].type, dialect),
                missing if binds[name].required else binds[name].effective_value,
            )
            for name in self.names
        ]
        columns = getattr(stmt, "exported_columns", ())
        self._columns = [(c.key, _result_processor(c.type, dialect)) for c in columns]
        self._missing = missing

    def params(self, values: Mapping[str, Any]) -> Any:
        out = []
        for name, proc, default in self._binds:
            value = values.get(name, default)
            if value is self._missing:
                raise KeyError(f"no value for bind parameter {name!r} of {self.sql!r}")
            out.append(value if proc is None or value is None else proc(value))
        return out if self.positional else dict(zip(self.names, out, strict=True))

    def row(self, raw: Sequence[Any]) -> Row:
        return {
            key: value if proc is None or value is None else proc(value)
            for (key, proc), value in zip(self._columns, raw, strict=True)
        }


# SQLAlchemy stores a DateTime in SQLite as `2026-11-23 11:35:37.123456`, formatting it through a dict and
# parsing it back with a regex; isoformat/fromisoformat write and read that same text several times faster.
def _bind_processor(type_: Any, dialect: Dialect) -> Any:
    if dialect.name == "sqlite" and isinstance(type_, DateTime):
        return _sqlite_datetime
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _result_processor(type_: Any, dialect: Dialect) -> Any:
    if dialect.name == "sqlite" and isinstance(type_, DateTime):
        return dt.datetime.fromisoformat
    if dialect.name == "postgresql" and isinstance(type_, Float):
        return None  # psycopg gives a float8 as a float; SQLAlchemy's processor wants the column's type code
    return type_.dialect_impl(dialect).result_processor(dialect, None)


def _sqlite_datetime(value: dt.datetime) -> str:
    return value.isoformat(" ", "microseconds")


# Keyed by the statement's identity and the dialect; the entry holds the statement, so an id is not reused
# while cached. Statements run through Raw are module constants: a few dozen entries in all.
_PREPARED: dict[tuple[int, str], tuple[ClauseElement, Prepared]] = {}


def prepared(stmt: ClauseElement, dialect: Dialect) -> Prepared:
    key = (id(stmt), dialect.name)
    hit = _PREPARED.get(key)
    if hit is None:
        hit = _PREPARED[key] = (stmt, Prepared(stmt, dialect))
    return hit[1]


class Raw:
    """Prepared statements on one DBAPI connection, in its current transaction."""

    def __init__(self, dbapi: Any, dialect: Dialect) -> None:
        self.dbapi = dbapi
        self.dialect = dialect

    def _execute(self, stmt: ClauseElement, params: Mapping[str, Any]) -> tuple[Prepared, Any]:
        prepared = self.prepared(stmt)
        cursor = self.dbapi.cursor()
        cursor.execute(prepared.sql, prepared.params(params))
        return prepared, cursor

    def prepared(self, stmt: ClauseElement) -> Prepared:
        return prepared(stmt, self.dialect)

    def first(self, stmt: ClauseElement, **params: Any) -> Row | None:
        prepared, cursor = self._execute(stmt, params)
        raw = cursor.fetchone()
        return None if raw is None else prepared.row(raw)

    def all(self, stmt: ClauseElement, **params: Any) -> list[Row]:
        prepared, cursor = self._execute(stmt, params)
        return [prepared.row(raw) for raw in cursor.fetchall()]

    def run(self, stmt: ClauseElement, values: Mapping[str, Any] | None = None, /, **params: Any) -> int:
        """Execute with `values` and/or keyword parameters; the number of rows changed."""
        return int(self._execute(stmt, {**values, **params} if values else params)[1].rowcount)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested block whose writes are undone alone if it raises."""
        self.dbapi.execute("SAVEPOINT block")
        try:
            yield
        except BaseException:
            self.dbapi.execute("ROLLBACK TO block")
            self.dbapi.execute("RELEASE block")
            raise
        self.dbapi.execute("RELEASE block")

    def many(self, stmt: ClauseElement, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            prepared = self.prepared(stmt)
            self.dbapi.cursor().executemany(prepared.sql, [prepared.params(r) for r in rows])


Tx = Connection | Raw


def raw(conn: Tx) -> Raw:
    """Prepared statements in the transaction of either kind of connection."""
    if isinstance(conn, Raw):
        return conn
    return Raw(conn.connection.driver_connection, conn.dialect)


def insert_row(table: Table) -> Insert:
    """INSERT of every column but the autoincrement key, each bound by its own name."""
    return insert(table).values(
        {c.key: bindparam(c.key, type_=c.type) for c in table.columns if c is not table.autoincrement_column}
    )


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL + synchronous=NORMAL: a committed transaction survives a kill -9 of the process.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA cache_size=-32768")  # KiB: the hot index pages stay in memory (default 2 MiB)
    cur.close()
