"""Version ids are never given twice: on SQLite, ``csv_history_versions`` becomes AUTOINCREMENT.

Without it SQLite gives a new row the highest id in the table plus one. Once ``csv_watcher_delete --purge`` had
deleted the versions with the highest ids, the next versions got those ids again, and a reader of
``csv_history --after`` or a hook whose cursor was past them never saw them. PostgreSQL's sequences never give
an id twice: nothing changes there.

The table is copied into its new form (SQLite cannot alter this), its rows, ids and index kept; the copy sets
the table's sequence to its highest id.

Revision ID: 0005
"""
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("csv_history_versions", recreate="always",
                              table_kwargs={"sqlite_autoincrement": True}):
        pass
