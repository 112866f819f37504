"""SQLite's plans for the hot reads of a rep and a manager: each reaches its rows through an index
led by what scopes them (team, owner, assignee), never by walking every team's records.

The server never runs ANALYZE, so SQLite plans without statistics; an index on a column of two
values (such as `deleted`) then looks as selective as any other. SQLite did pick those for
these lists, whose cost then grew with every team's records rather than with the user's own.
PostgreSQL plans from the statistics autovacuum keeps, so only SQLite is checked here.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from server import piccolo_conf
from server.app import bind_tables, engine_for
from server.cli import migrate_database
from server.domain.accounts.services import CurrentUser
from server.domain.crm.services import KINDS, _list_sql
from server.domain.syncing.services import _page_sql
from server.settings import DatabaseSettings, SecuritySettings, ServerSettings, Settings
from tests.server.conftest import run

REP = CurrentUser(id=3, email="rep@test.example", name="Rep", role="rep", team=1, team_name="North")
MANAGER = CurrentUser(id=2, email="manager@test.example", name="Manager", role="manager", team=1, team_name="North")


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file migrated to the current schema (empty: plans do not need rows)."""
    path = tmp_path_factory.mktemp("plans") / "plans.db"
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{path}"),
        server=ServerSettings(),
        security=SecuritySettings(secret_key="test-secret-key-not-for-production"),
    )
    bound = piccolo_conf.DB
    try:
        run(engine_for(settings), lambda: migrate_database(quiet=True))
    finally:
        bind_tables(bound)  # the tables go back to the engine the other tests bound them to
    return path


def _plan(path: Path, sql: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        sql = sql.replace("{}", "?")
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", [None] * sql.count("?"))]


def _reached_by_scope(plan: list[str], table: str, columns: tuple[str, ...]) -> bool:
    """Whether `table` (by its name or an alias) is searched by an index of its own whose first
    constrained column is one of `columns`."""
    pattern = re.compile(rf"SEARCH \S+ USING (COVERING )?INDEX {table}_\w+ \(({'|'.join(columns)})=\?")
    return any(pattern.match(step) for step in plan)


# Every REST list (approvals have none: they are read through their deal), for each role that
# sees a part of it; an admin's lists are of every record.
LISTS = [(kind, who) for kind in KINDS if kind != "approval" for who in ("rep", "manager")]


@pytest.mark.parametrize(("kind_name", "who"), LISTS)
def test_a_list_reaches_its_rows_through_its_scope(schema: Path, kind_name: str, who: str) -> None:
    kind = KINDS[kind_name]
    scope = "team" if kind.scope == "team" or who == "manager" else "user"
    page, count = _list_sql(kind_name, scope, None, 0)
    table = kind.table._meta.tablename
    for sql in (page, count):
        plan = _plan(schema, sql)
        if who == "manager" and kind.scope != "team":
            # Through the team's people, then each one's records.
            assert any(re.match(r"SEARCH \S+ USING COVERING INDEX app_user_team \(team=\?\)", step) for step in plan), plan
        assert _reached_by_scope(plan, table, kind.scope_fields), plan
        assert not any("_deleted" in step for step in plan), plan


@pytest.mark.parametrize("user", [REP, MANAGER], ids=["rep", "manager"])
def test_a_pull_page_reaches_each_table_through_its_scope(schema: Path, user: CurrentUser) -> None:
    sql, _ = _page_sql(user, 0, 500)
    plan = _plan(schema, sql)
    for kind in KINDS.values():
        assert _reached_by_scope(plan, kind.table._meta.tablename, kind.scope_fields), (kind.name, plan)
