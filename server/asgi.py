"""The ASGI app for uvicorn: `uvicorn server.asgi:app`."""

import gc

from server.app import create_app
from server.memory import keep_large_buffers

keep_large_buffers()

app = create_app()

# What loading made (modules, the app and its routes) lives as long as the process: kept out of
# the collector's way, each collection walks only what requests make. A push of 500 records
# makes enough objects to set off several full collections, which walked all of it each time.
gc.collect()
gc.freeze()
