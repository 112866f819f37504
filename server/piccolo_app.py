"""The Piccolo app: every table, with migrations in the top-level migrations/ folder."""

from piccolo.conf.apps import AppConfig

from server.domain.approvals.tables import DealEvent, TeamRule
from server.domain.accounts.tables import Device, LoginFailure, Team, TeamMove, User, UserSession
from server.domain.crm.tables import SYNCED_TABLES, AudienceChange, SearchEntry, SyncClock
from server.domain.push.tables import PushAttempt, PushMessage, PushSubscription
from server.settings import PROJECT_ROOT

TABLES = [Team, User, Device, UserSession, LoginFailure, SyncClock, SearchEntry, *SYNCED_TABLES.values(), AudienceChange, TeamMove,
          PushSubscription, PushMessage, PushAttempt, TeamRule, DealEvent]

APP_CONFIG = AppConfig(
    app_name="fieldbook",
    migrations_folder_path=str(PROJECT_ROOT / "migrations"),
    table_classes=TABLES,
    migration_dependencies=[],
    commands=[],
)
