"""Drop the synced tables' one-column indexes on `deleted`, and on the team or owner (and a
task's assignee) that their list and pull indexes already lead with. The `deleted` ones were
worse than useless: SQLite, with no statistics, picked them for a manager's or a rep's list and
walked every live record of every team (a manager's deal list beside 50,000 deals of another
team: 79 ms, against 0.2 ms through deal_list); and every write paid for all of them."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.column_types import ForeignKey

ID = "2026-11-24T02:51:12:467108"
VERSION = "1.38.0"
DESCRIPTION = "drop the redundant deleted, team and owner indexes"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="fieldbook", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="Company",
        tablename="company",
        column_name="deleted",
        db_column_name="deleted",
        params={"index": False},
        old_params={"index": True},
        column_class=Boolean,
        old_column_class=Boolean,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Company",
        tablename="company",
        column_name="team",
        db_column_name="team",
        params={"index": False},
        old_params={"index": True},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Contact",
        tablename="contact",
        column_name="deleted",
        db_column_name="deleted",
        params={"index": False},
        old_params={"index": True},
        column_class=Boolean,
        old_column_class=Boolean,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Contact",
        tablename="contact",
        column_name="team",
        db_column_name="team",
        params={"index": False},
        old_params={"index": True},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Deal",
        tablename="deal",
        column_name="deleted",
        db_column_name="deleted",
        params={"index": False},
        old_params={"index": True},
        column_class=Boolean,
        old_column_class=Boolean,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Deal",
        tablename="deal",
        column_name="owner",
        db_column_name="owner",
        params={"index": False},
        old_params={"index": True},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Activity",
        tablename="activity",
        column_name="deleted",
        db_column_name="deleted",
        params={"index": False},
        old_params={"index": True},
        column_class=Boolean,
        old_column_class=Boolean,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Activity",
        tablename="activity",
        column_name="owner",
        db_column_name="owner",
        params={"index": False},
        old_params={"index": True},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Task",
        tablename="task",
        column_name="deleted",
        db_column_name="deleted",
        params={"index": False},
        old_params={"index": True},
        column_class=Boolean,
        old_column_class=Boolean,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Task",
        tablename="task",
        column_name="owner",
        db_column_name="owner",
        params={"index": False},
        old_params={"index": True},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Task",
        tablename="task",
        column_name="assignee",
        db_column_name="assignee",
        params={"index": False},
        old_params={"index": True},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Approval",
        tablename="approval",
        column_name="deleted",
        db_column_name="deleted",
        params={"index": False},
        old_params={"index": True},
        column_class=Boolean,
        old_column_class=Boolean,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Approval",
        tablename="approval",
        column_name="owner",
        db_column_name="owner",
        params={"index": False},
        old_params={"index": True},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    return manager
