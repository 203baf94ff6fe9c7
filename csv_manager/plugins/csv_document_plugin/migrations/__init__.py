"""Alembic migrations of the history database, applied by csv_manager.migrations on first use.

Each file in ``history/versions`` is one revision (``revision`` and ``down_revision`` chain them). To change the
schema, add the next file, change models.py to match and ``head`` below; the tests upgrade the databases made
by releases 0.1.0 and 0.2.0 (tests/data/release-*) to the newest revision.
"""
import os

from csv_manager.migrations import Migrations

HERE = os.path.dirname(os.path.abspath(__file__))

#: Release 0.1.0 made the history tables without a migration: they are revision 0001.
HISTORY = Migrations(
    script_location=os.path.join(HERE, "history"), head="0005", version_table="alembic_version",
    adopted="0001", adopted_table="csv_history_files",
    adopted_columns=frozenset({"id", "csv_file", "snapshot", "snapshot_rows", "snapshot_size", "snapshot_version",
                               "content_hash", "patched_bytes"}))
