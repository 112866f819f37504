"""Piccolo's configuration: the engine from DATABASE_URL and the one app holding every table."""

from piccolo.conf.apps import AppRegistry

from server.db import make_engine
from server.settings import get_settings

#: The engine of the configured DATABASE_URL; `DB` is what Piccolo uses and tests may rebind it.
CONFIGURED_DB = DB = make_engine(get_settings().database)

APP_REGISTRY = AppRegistry(apps=["server.piccolo_app"])
