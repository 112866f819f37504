"""Tests for tests/pgserver.py: a real, throwaway PostgreSQL server."""

from __future__ import annotations

import asyncio
import os
import re
import socket

import asyncpg
import pytest

try:
    from tests import pgserver
except ImportError:  # tests/ itself on sys.path (plain `pytest`, rootdir mode)
    import pgserver

PgServer = pgserver.PgServer

DSN_RE = re.compile(r"^postgresql://fieldbook@127\.0\.0\.1:(\d+)/fieldbook_test$")


@pytest.fixture(autouse=True)
def _no_external_dsn(monkeypatch):
    # These tests exercise the server start-up itself, so a developer's own
    # server (FIELDBOOK_TEST_PG_DSN) must not short-circuit them.
    monkeypatch.delenv(pgserver.ENV_DSN, raising=False)


def _port_refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_find_bin_dir():
    bin_dir = pgserver.find_bin_dir()
    for name in ("initdb", "pg_ctl", "postgres", "psql"):
        assert os.access(os.path.join(bin_dir, name), os.X_OK), name


def test_server_lifecycle():
    server = PgServer()
    dsn = server.start()
    try:
        match = DSN_RE.match(dsn)
        assert match, dsn
        port = int(match.group(1))
        assert port == server.port
        assert server.start() == dsn  # idempotent

        # Everything lives in the private temp dir.
        assert os.path.isdir(server.data_dir)
        assert server.socket_dir.startswith(server.tmp_dir)
        assert any(n.startswith(".s.PGSQL.") for n in os.listdir(server.socket_dir))

        async def check_main() -> None:
            conn = await asyncpg.connect(dsn)
            try:
                version = await conn.fetchval("select version()")
                assert version.startswith("PostgreSQL "), version
                assert await conn.fetchval("select current_user") == "fieldbook"
                assert await conn.fetchval(
                    "select rolsuper from pg_roles where rolname = current_user"
                )
                assert await conn.fetchval(
                    "select pg_get_userbyid(datdba) from pg_database"
                    " where datname = current_database()"
                ) == "fieldbook"
                settings = {
                    r["name"]: r["setting"]
                    for r in await conn.fetch(
                        "select name, setting from pg_settings where name = any($1)",
                        ["listen_addresses", "fsync", "synchronous_commit",
                         "full_page_writes", "max_connections",
                         "unix_socket_directories"],
                    )
                }
                assert settings["listen_addresses"] == "127.0.0.1"
                assert settings["fsync"] == "off"
                assert settings["synchronous_commit"] == "off"
                assert settings["full_page_writes"] == "off"
                assert settings["max_connections"] == "100"
                assert settings["unix_socket_directories"] == server.socket_dir

                await conn.execute("create table notes (id serial primary key, body text)")
                await conn.execute("insert into notes (body) values ($1), ($2)", "a", "b")
                rows = await conn.fetch("select body from notes order by id")
                assert [r["body"] for r in rows] == ["a", "b"]
            finally:
                await conn.close()

        asyncio.run(check_main())

        other_dsn = server.create_database("second db")
        assert other_dsn == f"postgresql://fieldbook@127.0.0.1:{port}/second%20db"

        async def check_other() -> None:
            conn = await asyncpg.connect(other_dsn)
            try:
                assert await conn.fetchval("select current_database()") == "second db"
                # A separate database: the first one's table is not here.
                assert await conn.fetchval("select to_regclass('notes')") is None
                await conn.execute("create table notes (id int)")
                await conn.execute("insert into notes values (42)")
                assert await conn.fetchval("select id from notes") == 42
            finally:
                await conn.close()

        asyncio.run(check_other())

        # FIELDBOOK_TEST_PG_DSN mode against this (already running) server:
        # start() hands the DSN back, create_database() goes through psql.
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(pgserver.ENV_DSN, dsn)
            external = PgServer()
            assert external.start() == dsn
            assert external.tmp_dir is None
            third_dsn = external.create_database("third")
            assert third_dsn == f"postgresql://fieldbook@127.0.0.1:{port}/third"
            external.stop()

        async def check_third() -> None:
            conn = await asyncpg.connect(third_dsn)
            try:
                assert await conn.fetchval("select current_database()") == "third"
            finally:
                await conn.close()

        asyncio.run(check_third())
        tmp_dir = server.tmp_dir
    finally:
        server.stop()

    assert _port_refuses(port)
    assert not os.path.exists(tmp_dir)
    server.stop()  # second stop is a no-op
    with pytest.raises(RuntimeError):
        server.create_database("too_late")


def test_retries_when_port_taken(monkeypatch):
    # Hold a listening socket on the port the first attempt will use.
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    real_pick = pgserver._pick_free_port
    picks = iter([taken])
    monkeypatch.setattr(pgserver, "_pick_free_port", lambda: next(picks, None) or real_pick())
    try:
        server = PgServer()
        with server as dsn:
            port = int(DSN_RE.match(dsn).group(1))
            assert port != taken
            with open(server.log_path) as log:
                assert "Address already in use" in log.read()  # first try failed

            async def ping() -> int:
                conn = await asyncpg.connect(dsn)
                try:
                    return await conn.fetchval("select 1")
                finally:
                    await conn.close()

            assert asyncio.run(ping()) == 1
        assert _port_refuses(port)
    finally:
        blocker.close()


def test_start_failure_includes_server_log(monkeypatch):
    monkeypatch.setitem(pgserver._SETTINGS, "max_connections", "lots")
    server = PgServer()
    with pytest.raises(RuntimeError) as excinfo:
        server.start()
    message = str(excinfo.value)
    assert "server log" in message
    assert 'invalid value for parameter "max_connections"' in message
    assert server.tmp_dir is None  # cleaned up


def test_external_dsn_starts_nothing(monkeypatch):
    monkeypatch.setenv(pgserver.ENV_DSN, "postgresql://someone@db.example:5433/theirs")
    server = PgServer()
    assert server.start() == "postgresql://someone@db.example:5433/theirs"
    assert server.tmp_dir is None and server.port is None
    server.stop()
    server.stop()
