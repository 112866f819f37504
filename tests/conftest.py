"""Test set-up shared by every suite: a private data folder, so no test touches ./data."""

import os
import tempfile

# Before anything imports `server`: settings are read from the environment once.
os.environ["FIELDBOOK_DATA_DIR"] = tempfile.mkdtemp(prefix="fieldbook-test-data-")
os.environ.pop("DATABASE_URL", None)
os.environ["SECRET_KEY"] = "test-secret-key-not-for-production"
