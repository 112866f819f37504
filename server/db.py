"""Database engines: one long-lived SQLite connection pair, or a PostgreSQL pool; write transactions."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory
from piccolo.querystring import QueryString

from server.settings import DatabaseSettings

#: Seconds a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_S = 10
#: WAL pages past which the writer checkpoints by itself, inside a commit, should the
#: background checkpoint (PersistentSQLiteEngine._checkpoint) fall behind. SQLite's default
#: is 1000: about every third push of 500 records then paid for the copy in its commit.
WAL_BACKSTOP_PAGES = 10000
#: Bytes the WAL file is cut back to when SQLite starts it over after a checkpoint. Without a
#: limit it keeps the largest size it ever reached (a bulk import, or a long read that held
#: the checkpoint back) until the server stops. A push of 500 records leaves about 3 MiB, so
#: everyday writes never churn against it.
WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024

#: Every connection's settings (bench/sync_bench.py's raw floor uses them too).
CONNECTION_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}",
    f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}",
)
#: The writer's own settings, beside those: the backstop above, and a page cache of 64 MiB
#: (SQLite's default is 2 MiB). A push reads the stored state of hundreds of records by id and
#: writes them back, each by its own path through the table and its indexes; the writer's
#: cache, unlike a reader's, outlives the writes (its own), so those paths stay in memory
#: rather than being read again from the file (in-process A/B, alternating rounds: pushes
#: about 5 % faster). The readers keep the default: in WAL mode their cache is dropped after
#: every write, and a large one only costs more to fill again.
WRITER_PRAGMAS = (f"PRAGMA wal_autocheckpoint = {WAL_BACKSTOP_PAGES}", "PRAGMA cache_size = -65536")

log = logging.getLogger(__name__)


@dataclass
class _LoopConnections:
    """The connections of one event loop: aiosqlite futures belong to the loop that made them."""

    reader: aiosqlite.Connection | None = None
    writer: aiosqlite.Connection | None = None
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    open_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Copies committed pages from the WAL into the database file, beside the writer.
    checkpointer: aiosqlite.Connection | None = None
    checkpoint: asyncio.Task | None = None
    checkpoint_again: bool = False


class PersistentTransaction(SQLiteTransaction):
    """A transaction on the shared writer connection, holding the in-process write lock throughout."""

    __slots__ = ("_lock",)

    async def get_connection(self) -> aiosqlite.Connection:
        conns = await self.engine.loop_connections()  # type: ignore[attr-defined]
        await conns.write_lock.acquire()
        self._lock = conns.write_lock
        return conns.writer

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()
        try:
            await self.begin()
        except BaseException:
            # A failed BEGIN must not keep the lock, or every later write would hang.
            self._lock.release()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            return exception is None
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()
            elif not self._committed and not self._rolled_back:
                await self.commit()
        finally:
            self.engine.current_transaction.reset(self.context)
            self._lock.release()
        if exception is None:
            self.engine.committed()  # type: ignore[attr-defined]
        return exception is None


class PersistentSQLiteEngine(SQLiteEngine):
    """SQLite with one reader and one writer connection per event loop, instead of one per query.

    Piccolo's stock engine opens a connection for every query outside a transaction, which
    costs about ten times the query itself. Reads go to the reader (WAL lets it run beside a
    writer); writes are serialised on the writer by an asyncio lock, and across processes by
    SQLite's own lock with a busy timeout.
    """

    __slots__ = ("_per_loop",)

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(path=path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, **kwargs)
        self._per_loop: dict[asyncio.AbstractEventLoop, _LoopConnections] = {}

    async def _connect(self) -> aiosqlite.Connection:
        pending = aiosqlite.connect(**self.connection_kwargs)
        # Its worker thread is not a daemon: a connection someone forgot to close would keep
        # the process alive at exit. Closing stays the rule; this only stops a hang.
        pending._thread.daemon = True
        connection = await pending
        connection.row_factory = dict_factory  # type: ignore[assignment]
        return connection

    async def _open(self) -> aiosqlite.Connection:
        connection = await self._connect()
        for pragma in CONNECTION_PRAGMAS:
            await connection.execute(pragma)
        return connection

    def committed(self) -> None:
        """After a write on this loop committed: checkpoint in the background (see _checkpoint)."""
        conns = self._per_loop.get(asyncio.get_running_loop())
        if conns is None or conns.writer is None:
            return
        if conns.checkpoint is not None and not conns.checkpoint.done():
            conns.checkpoint_again = True
            return
        conns.checkpoint = asyncio.get_running_loop().create_task(self._checkpoint(conns), name="sqlite checkpoint")

    async def _checkpoint(self, conns: _LoopConnections) -> None:
        """Copy what the WAL holds into the database file, on a connection (and so a thread) of
        its own, while the writer goes on. SQLite would otherwise do it inside whichever commit
        fills the WAL past 1000 pages, with the write lock held: a copy of megabytes and two
        fsyncs (about 30 ms after every third push of 500 records). PASSIVE: it never waits for
        a reader or a writer, it copies what it can; one more runs if writes committed
        meanwhile. The WAL is synced at each one, so a power cut can take back less than it
        could with the autocheckpoint alone (synchronous = NORMAL syncs only at checkpoints)."""
        try:
            if conns.checkpointer is None:
                conns.checkpointer = await self._open()  # synchronous = NORMAL, as the others
            while True:
                conns.checkpoint_again = False
                await conns.checkpointer.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
                if not conns.checkpoint_again:
                    return
        except Exception:  # noqa: BLE001 - the writer's own autocheckpoint still runs
            log.exception("background checkpoint failed")

    async def loop_connections(self) -> _LoopConnections:
        loop = asyncio.get_running_loop()
        conns = self._per_loop.get(loop)
        if conns is None:
            conns = self._per_loop.setdefault(loop, _LoopConnections())
        if conns.writer is None:
            async with conns.open_lock:
                if conns.writer is None:
                    conns.reader = await self._open()
                    conns.writer = await self._open()
                    for pragma in WRITER_PRAGMAS:
                        await conns.writer.execute(pragma)
        return conns

    async def close(self) -> None:
        """Close this loop's connections (aiosqlite threads are not daemons: unclosed, they hang exit)."""
        conns = self._per_loop.pop(asyncio.get_running_loop(), None)
        if conns is None:
            return
        if conns.checkpoint is not None:
            await asyncio.gather(conns.checkpoint, return_exceptions=True)  # cancelled or not
        for connection in (conns.reader, conns.writer, conns.checkpointer):
            if connection is not None:
                await connection.close()

    async def get_connection(self) -> aiosqlite.Connection:
        # Used by Piccolo for batches; a fresh connection keeps a long cursor off the shared ones.
        return await self._connect()

    async def _execute(self, connection: aiosqlite.Connection, query: str, args: list[Any]) -> list[dict]:
        # One trip to the connection's thread, where execute + fetchall + close would be three.
        return list(await connection.execute_fetchall(query, args))  # type: ignore[arg-type]

    async def _run(self, query: str, args: list[Any]) -> list[dict]:
        transaction = self.current_transaction.get()
        if transaction:
            await flush_deferred()
            return await self._execute(transaction.connection, query, args)
        conns = await self.loop_connections()
        if query.lstrip()[:6].upper() == "SELECT":
            return await self._execute(conns.reader, query, args)  # type: ignore[arg-type]
        async with conns.write_lock:
            rows = await self._execute(conns.writer, query, args)  # type: ignore[arg-type]
        self.committed()
        return rows

    async def run_querystring(self, querystring: QueryString, in_pool: bool = False):
        query, args = querystring.compile_string(engine_type=self.engine_type)
        if self.log_queries:
            self.print_query(query_id=self.get_query_id(), query=str(querystring))
        return await self._run(query, list(args))

    async def run_ddl(self, ddl: str, in_pool: bool = False):
        if self.log_queries:
            self.print_query(query_id=self.get_query_id(), query=ddl)
        return await self._run(ddl, [])

    def transaction(
        self, transaction_type: TransactionType = TransactionType.immediate, allow_nested: bool = True
    ) -> SQLiteTransaction:
        # IMMEDIATE by default: a deferred transaction that later writes fails under concurrency.
        return PersistentTransaction(engine=self, transaction_type=transaction_type, allow_nested=allow_nested)


class DeferringPostgresEngine(PostgresEngine):
    """Piccolo's PostgreSQL engine, except that a query inside a write transaction first runs
    the writes deferred before it (see WriteTransaction.defer), so every read sees them."""

    async def run_querystring(self, querystring: QueryString, in_pool: bool = True):
        if self.current_transaction.get():
            await flush_deferred()
        return await super().run_querystring(querystring, in_pool=in_pool)

    async def run_ddl(self, ddl: str, in_pool: bool = True):
        if self.current_transaction.get():
            await flush_deferred()
        return await super().run_ddl(ddl, in_pool=in_pool)


def make_engine(settings: DatabaseSettings) -> Engine:
    if settings.is_sqlite:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return PersistentSQLiteEngine(path=str(settings.sqlite_path))
    if settings.url.startswith(("postgres://", "postgresql://")):
        return DeferringPostgresEngine(config={"dsn": settings.url})
    raise ValueError(f"DATABASE_URL must start with sqlite:/// or postgresql://, not {settings.url!r}")


def is_sqlite(engine: Engine) -> bool:
    return engine.engine_type == "sqlite"


async def start(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=2, max_size=20)


async def stop(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()
    elif isinstance(engine, PersistentSQLiteEngine):
        await engine.close()


class WriteTransaction:
    """Hands out change sequence numbers in commit order, so a pull cursor never skips a change;
    and gathers deferred writes, to send each statement once with all its rows (executemany)."""

    def __init__(self, engine: Engine, clock: int) -> None:
        self.engine = engine
        self.start = clock
        self.seq = clock
        #: SQL ({} placeholders) -> argument rows, in the order first deferred.
        self._deferred: dict[str, list[tuple]] = {}
        #: What the deferred rows write, e.g. ("contact", id): one row per key, see defer().
        self._keys: set[Any] = set()
        #: Work that services gather during the transaction and do once before it commits.
        self.notes: dict[str, Any] = {}
        self._jobs: list[Callable[[], Awaitable[None]]] = []
        self._time: tuple[str, Any] | None = None

    def time(self) -> tuple[str, Any]:
        """The transaction's time, one for every record it writes (they commit together): as ISO
        text for the API, and as the driver takes it for a timestamp column (SQLite: the text
        Piccolo's adapter would make of it, made once rather than per row)."""
        if self._time is None:
            at = dt.datetime.now(dt.timezone.utc)
            self._time = (at.isoformat(), str(at) if is_sqlite(self.engine) else at)
        return self._time

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def before_commit(self, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job` once, after the body of the transaction and before it commits."""
        if job not in self._jobs:
            self._jobs.append(job)

    async def run_jobs(self) -> None:
        while self._jobs:
            await self._jobs.pop(0)()

    async def defer(self, key: Any, sql: str, *args: Any) -> None:
        """Run a write later, batched with others of the same SQL: before the next query of this
        transaction, or at its end.

        `key` names the row written. Rows of different keys commute, so grouping them by
        statement cannot change the outcome; a second write of a key already waiting runs the
        waiting ones first, so writes of one row keep their order.
        """
        if key in self._keys:
            await self.flush()
        self._keys.add(key)
        self._deferred.setdefault(sql, []).append(args)

    async def flush(self) -> None:
        if not self._deferred:
            return
        deferred, self._deferred = self._deferred, {}
        self._keys = set()
        connection = self.engine.current_transaction.get().connection  # type: ignore[attr-defined]
        for sql, rows in deferred.items():
            if is_sqlite(self.engine):
                cursor = await connection.executemany(sql.replace("{}", "?"), rows)
                await cursor.close()
            else:
                await connection.executemany(_numbered(sql), rows)


def _numbered(sql: str) -> str:
    """{} placeholders as PostgreSQL's $1, $2, ..."""
    parts = sql.split("{}")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], start=1)) + parts[-1]


_current_write: ContextVar[WriteTransaction | None] = ContextVar("fieldbook_write", default=None)

#: Called, with the last seq, after each write transaction that handed out seqs has committed.
commit_hooks: list[Callable[[int], None]] = []


def current_write() -> WriteTransaction:
    """The write transaction this code runs in (an error outside one: writes need one)."""
    current = _current_write.get()
    if current is None:
        raise RuntimeError("not inside write_transaction()")
    return current


async def flush_deferred() -> None:
    """Run the current write transaction's deferred writes, if any (the engines call this first
    thing for every query inside a transaction)."""
    current = _current_write.get()
    if current is not None and current._deferred:
        await current.flush()


async def raw(engine: Engine, sql: str, *args: Any) -> list[dict]:
    """Run SQL with ``{}`` placeholders, inside the current transaction if there is one."""
    return await engine.run_querystring(QueryString(sql, *args))


@asynccontextmanager
async def write_transaction(engine: Engine) -> AsyncIterator[WriteTransaction]:
    """Every write to synced records runs in one of these.

    Writers are serialised: SQLite by BEGIN IMMEDIATE, PostgreSQL by a row lock on the clock
    taken first. So sequence numbers are assigned in commit order, and a reader that sees
    change N has also seen every change below N. Nested calls join the outer transaction.
    """
    current = _current_write.get()
    if current is not None:
        yield current
        return
    async with engine.transaction():
        suffix = "" if is_sqlite(engine) else " FOR UPDATE"
        rows = await raw(engine, f"SELECT value FROM sync_clock WHERE id = 1{suffix}")
        tx = WriteTransaction(engine, int(rows[0]["value"]))
        token = _current_write.set(tx)
        try:
            yield tx
            await tx.run_jobs()
            await tx.flush()
            if tx.seq != tx.start:
                await raw(engine, "UPDATE sync_clock SET value = {} WHERE id = 1", tx.seq)
        finally:
            _current_write.reset(token)
    if tx.seq != tx.start:
        for hook in list(commit_hooks):
            hook(tx.seq)


# -- hot reads in SQL written out ------------------------------------------------------


@lru_cache(maxsize=512)
def _placeholders(sql: str, engine_type: str) -> str:
    """{} placeholders as the engine's own: SQLite's ?, PostgreSQL's $1, $2, ..."""
    return sql.replace("{}", "?") if engine_type == "sqlite" else _numbered(sql)


async def fetch(engine: Engine, sql: str, *args: Any) -> list:
    """Rows of a SELECT with ``{}`` placeholders, each indexable by column name; the same rows
    `raw` gives, minus building and compiling a QueryString per call (a hot read's biggest cost
    after the query itself: for a statement of hundreds of arguments, more than the query).
    Inside a transaction it runs on the transaction's connection, after the deferred writes.
    With QueryString arguments it is `raw`."""
    if any(isinstance(a, QueryString) for a in args):
        return await raw(engine, sql, *args)
    if isinstance(engine, PersistentSQLiteEngine):
        return await engine._run(_placeholders(sql, "sqlite"), list(args))
    if isinstance(engine, PostgresEngine):
        transaction = engine.current_transaction.get()
        if transaction is not None:
            await flush_deferred()
            return await transaction.connection.fetch(_placeholders(sql, "postgres"), *args)
        if engine.pool is not None:
            return await engine._run_in_pool(_placeholders(sql, "postgres"), args)
    return await raw(engine, sql, *args)
