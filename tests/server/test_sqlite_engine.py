"""The SQLite engine's own behaviour: its WAL is copied into the database file in the
background (and the WAL file cut back after a bulk write), and its writer has a page cache
of its own."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from pathlib import Path

from server import db


def _rows_in_file_alone(path: Path, copy: Path) -> list[tuple]:
    """The rows the database file holds by itself, without its WAL: a copy of the file alone."""
    shutil.copyfile(path, copy)
    with sqlite3.connect(copy) as conn:
        return conn.execute("SELECT n FROM t ORDER BY n").fetchall()


def test_committed_writes_reach_the_database_file_without_waiting_for_the_wal_to_fill(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    engine = db.PersistentSQLiteEngine(path=str(path))
    # Held open all along, so that closing the engine's connections is not the last close
    # (which would checkpoint whatever is left and hide what the engine did before it).
    bystander = sqlite3.connect(path)
    threads_before = set(threading.enumerate())

    async def work() -> tuple[int, list[int]]:
        await engine._run("CREATE TABLE t (n INTEGER PRIMARY KEY)", [])
        bystander.execute("SELECT count(*) FROM t").fetchall()  # it has the WAL open now
        for n in range(3):
            async with engine.transaction():
                await engine._run("INSERT INTO t (n) VALUES (?)", [n])
        conns = await engine.loop_connections()
        backstop = (await conns.writer.execute_fetchall("PRAGMA wal_autocheckpoint"))[0]["wal_autocheckpoint"]
        caches = [(await c.execute_fetchall("PRAGMA cache_size"))[0]["cache_size"] for c in (conns.writer, conns.reader)]
        await engine.close()  # waits for the checkpoint under way, and closes its connection too
        return backstop, caches

    try:
        backstop, caches = asyncio.run(work())
        # A few rows are a few WAL pages: SQLite alone would leave them in the WAL until it
        # held 1000; the background checkpoint has copied them into the file.
        assert _rows_in_file_alone(path, tmp_path / "copy.db") == [(0,), (1,), (2,)]
        assert backstop == db.WAL_BACKSTOP_PAGES
        # The writer's page cache is its own, 64 MiB; the reader keeps SQLite's 2 MiB.
        assert caches == [-65536, -2000]
        # Every connection's thread ends, the checkpointer's too (each ends just after its close).
        for thread in set(threading.enumerate()) - threads_before:
            thread.join(timeout=10)
        assert set(threading.enumerate()) <= threads_before
    finally:
        bystander.close()


def test_a_failed_background_checkpoint_stops_no_write(tmp_path: Path, caplog) -> None:
    engine = db.PersistentSQLiteEngine(path=str(tmp_path / "t.db"))

    async def work() -> list[dict]:
        await engine._run("CREATE TABLE t (n INTEGER PRIMARY KEY)", [])
        conns = await engine.loop_connections()
        await conns.checkpoint  # the table's own
        await conns.checkpointer.close()  # every checkpoint on it now fails
        async with engine.transaction():
            await engine._run("INSERT INTO t (n) VALUES (?)", [1])
        await conns.checkpoint
        async with engine.transaction():
            await engine._run("INSERT INTO t (n) VALUES (?)", [2])
        rows = await engine._run("SELECT n FROM t ORDER BY n", [])
        conns.checkpointer = None
        await engine.close()
        return rows

    assert asyncio.run(work()) == [{"n": 1}, {"n": 2}]
    assert "background checkpoint failed" in caplog.text


def test_the_wal_file_gives_back_what_a_bulk_write_grew_it_to(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    engine = db.PersistentSQLiteEngine(path=str(path))
    wal = Path(f"{path}-wal")
    bulk = db.WAL_SIZE_LIMIT_BYTES + 4 * 1024 * 1024

    async def work() -> tuple[int, int]:
        await engine._run("CREATE TABLE t (n INTEGER PRIMARY KEY, b BLOB)", [])
        async with engine.transaction():
            for _ in range(bulk // 1_000_000):
                await engine._run("INSERT INTO t (b) VALUES (zeroblob(1000000))", [])
        grown = wal.stat().st_size
        conns = await engine.loop_connections()
        await conns.checkpoint  # copied into the file: the next write starts the WAL over
        async with engine.transaction():
            await engine._run("INSERT INTO t (b) VALUES (x'00')", [])
        after = wal.stat().st_size
        await engine.close()
        return grown, after

    grown, after = asyncio.run(work())
    assert grown > db.WAL_SIZE_LIMIT_BYTES  # the bulk write did grow it past the limit
    assert after <= db.WAL_SIZE_LIMIT_BYTES  # and the server, still running, gave it back
