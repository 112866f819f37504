"""Seed the sync clock row and build the engine-specific full-text index over search_entry."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T08:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "sync clock row; full-text index (FTS5 on SQLite, GIN tsvector on PostgreSQL)"

SQLITE = [
    "INSERT INTO sync_clock (id, value) VALUES (1, 0)",
    # External-content FTS5: the text lives once, in search_entry; triggers keep the index in step.
    "CREATE VIRTUAL TABLE search_fts USING fts5(body, content='search_entry', content_rowid='id',"
    " tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER search_entry_ai AFTER INSERT ON search_entry BEGIN"
    " INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER search_entry_ad AFTER DELETE ON search_entry BEGIN"
    " INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER search_entry_au AFTER UPDATE ON search_entry BEGIN"
    " INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body);"
    " INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body); END",
]

POSTGRES = [
    "INSERT INTO sync_clock (id, value) VALUES (1, 0)",
    "CREATE INDEX search_entry_body_fts ON search_entry USING GIN (to_tsvector('simple', body))",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldbook", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in SQLITE if engine.engine_type == "sqlite" else POSTGRES:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
