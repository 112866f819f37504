"""Writes leave search entries to the indexer from now on (crm.services.index_changes); until
now every write indexed its own records, so the index is up to date with the clock."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-23T17:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "the search index is up to date with the clock"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldbook", description=DESCRIPTION)

    async def run():
        await engine_finder().run_ddl("UPDATE sync_clock SET indexed = value")

    manager.add_raw(run)
    return manager
