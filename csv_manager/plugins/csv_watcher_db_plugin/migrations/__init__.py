"""Alembic migrations of the history database, applied by csv_manager.migrations on first use.

Each file in ``versions`` is one revision (``revision`` and ``down_revision`` chain them). To change the
schema, add the next file and change the models in history.py to match; the tests upgrade a database made by
release 0.1.0 (tests/data/release-0.1.0) to the newest revision.
"""
import os

SCRIPT_LOCATION = os.path.dirname(os.path.abspath(__file__))

#: The newest revision in ``versions``, so that a database already there is recognised without importing Alembic
#: (tests/test_migrations.py checks it against Alembic's own answer).
HEAD_REVISION = "0003"
