"""Composite indexes that let a visibility-scoped pull read changes in seq order straight from an index."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "pull indexes: visibility column, then seq"

# The same statements suit both engines. A pull asks each table for "seq > cursor AND
# <visibility> ORDER BY seq LIMIT n"; with the visibility column first, that is one range scan
# that stops after n rows, where the lone seq index walks past every other team's changes.
INDEXES = [
    "CREATE INDEX company_pull ON company (team, seq)",
    "CREATE INDEX contact_pull ON contact (team, seq)",
    "CREATE INDEX deal_pull ON deal (owner, seq)",
    "CREATE INDEX activity_pull ON activity (owner, seq)",
    "CREATE INDEX task_pull_owner ON task (owner, seq)",
    "CREATE INDEX task_pull_assignee ON task (assignee, seq)",
    "CREATE INDEX approval_pull ON approval (owner, seq)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldbook", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in INDEXES:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
