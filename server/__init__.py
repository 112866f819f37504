"""Fieldbook server: the Litestar app, its domains, CLI and settings."""

import os

# Piccolo finds its engine through this module; set it before any table loads.
os.environ.setdefault("PICCOLO_CONF", "server.piccolo_conf")
