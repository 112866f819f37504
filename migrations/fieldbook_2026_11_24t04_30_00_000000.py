"""A deal event's edit counter as a BIGINT: it holds a sibling's dot counter, which the wire
allows up to 2**53 - 1, and PostgreSQL's integer stopped at 2**31 - 1 (a push holding a larger
one failed whole). SQLite's INTEGER holds 64 bits already, and SQLite cannot alter a column's
type: only PostgreSQL changes (so `piccolo migrations new --auto`, run on SQLite, would still
see this change to make)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt, Integer
from piccolo.engine.finder import engine_finder

ID = "2026-11-24T04:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "deal_event.counter as a BIGINT"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldbook", description=DESCRIPTION)
    engine = engine_finder()
    if engine is None or engine.engine_type != "postgres":
        return manager
    manager.alter_column(
        table_class_name="DealEvent",
        tablename="deal_event",
        column_name="counter",
        db_column_name="counter",
        params={},
        old_params={},
        column_class=BigInt,
        old_column_class=Integer,
        schema=None,
    )
    return manager
