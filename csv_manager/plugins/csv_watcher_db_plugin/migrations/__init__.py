"""Alembic migrations of the watcher database, applied by csv_manager.migrations on first use.

Each file in ``watchers/versions`` is one revision (``revision`` and ``down_revision`` chain them). To change the
schema, add the next file, change the model in ``setup_db`` of the plugin to match and ``head`` below; the tests
upgrade the database made by release 0.1.0 (tests/data/release-0.1.0) to the newest revision.
"""
import os

from csv_manager.migrations import Migrations

HERE = os.path.dirname(os.path.abspath(__file__))

#: The tutorial's ``csv_watchers`` table (revision 0001, as release 0.1.0 made it), the per-watcher options
#: (0002), the folder pattern (0003) and the hooks (0004) added since. Its own version table lets the watcher
#: and history databases be one.
WATCHERS = Migrations(
    script_location=os.path.join(HERE, "watchers"), head="0004", version_table="csv_watchers_version",
    adopted="0001", adopted_table="csv_watchers", adopted_columns=frozenset({"id", "csv_file", "interval"}))
