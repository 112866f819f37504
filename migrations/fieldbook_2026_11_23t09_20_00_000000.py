"""Composite indexes that let each list be read in order straight from an index."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T09:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "list indexes: visibility column, deleted, sort order"

INDEXES = [
    "CREATE INDEX company_list ON company (team, deleted, name, id)",
    "CREATE INDEX contact_list ON contact (team, deleted, name, id)",
    "CREATE INDEX deal_list ON deal (owner, deleted, updated_at)",
    "CREATE INDEX activity_list ON activity (owner, deleted, occurred_at)",
    "CREATE INDEX task_list_owner ON task (owner, deleted, due_at)",
    "CREATE INDEX task_list_assignee ON task (assignee, deleted, due_at)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldbook", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in INDEXES:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
