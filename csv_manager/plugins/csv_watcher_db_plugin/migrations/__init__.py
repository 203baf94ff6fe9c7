"""Alembic migrations of the plugin's two databases, applied by csv_manager.migrations on first use.

Each file in ``history/versions`` and ``watchers/versions`` is one revision (``revision`` and
``down_revision`` chain them). To change a schema, add the next file, change the models to match (history.py,
or ``setup_db`` in the plugin) and the ``head`` below; the tests upgrade the databases made by release 0.1.0
(tests/data/release-0.1.0) to the newest revisions.
"""
import os

from csv_manager.migrations import Migrations

HERE = os.path.dirname(os.path.abspath(__file__))

#: The history database. Release 0.1.0 made its tables without a migration: they are revision 0001.
HISTORY = Migrations(
    script_location=os.path.join(HERE, "history"), head="0003", version_table="alembic_version",
    adopted="0001", adopted_table="csv_history_files",
    adopted_columns=frozenset({"id", "csv_file", "snapshot", "snapshot_rows", "snapshot_size", "snapshot_version",
                               "content_hash", "patched_bytes"}))

#: The watcher database: the tutorial's ``csv_watchers`` table (revision 0001, as release 0.1.0 made it) and
#: the per-watcher options added since. Its own version table lets both databases be one.
WATCHERS = Migrations(
    script_location=os.path.join(HERE, "watchers"), head="0002", version_table="csv_watchers_version",
    adopted="0001", adopted_table="csv_watchers", adopted_columns=frozenset({"id", "csv_file", "interval"}))
