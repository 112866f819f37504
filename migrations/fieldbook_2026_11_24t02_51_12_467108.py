"""Drop the synced tables' one-column indexes on `deleted`, and on the team or owner (and a
task's assignee) that their list and pull indexes already lead with. The `deleted` ones were
worse than useless: SQLite, with no statistics, picked them for a manager's or a rep's list and
walked every live record of every team (a manager's deal list beside 50,000 deals of another
team: 79 ms, against 0.2 ms through deal_list); and every write paid for all of them."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, ForeignKey

ID = "2026-11-24T02:51:12:467108"
VERSION = "1.38.0"
DESCRIPTION = "drop the redundant deleted, team and owner indexes"

#: (table class, table, column, column type) of each index dropped.
DROPPED = [
    *((cls, table, "deleted", Boolean) for cls, table in (
        ("Company", "company"), ("Contact", "contact"), ("Deal", "deal"),
        ("Activity", "activity"), ("Task", "task"), ("Approval", "approval"),
    )),
    ("Company", "company", "team", ForeignKey),
    ("Contact", "contact", "team", ForeignKey),
    ("Deal", "deal", "owner", ForeignKey),
    ("Activity", "activity", "owner", ForeignKey),
    ("Task", "task", "owner", ForeignKey),
    ("Task", "task", "assignee", ForeignKey),
    ("Approval", "approval", "owner", ForeignKey),
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldbook", description=DESCRIPTION)
    for table_class_name, tablename, column, column_class in DROPPED:
        manager.alter_column(
            table_class_name=table_class_name,
            tablename=tablename,
            column_name=column,
            db_column_name=column,
            params={"index": False},
            old_params={"index": True},
            column_class=column_class,
            old_column_class=column_class,
            schema=None,
        )
    return manager
