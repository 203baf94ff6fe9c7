"""Release 0.2.0, many runners: what each watcher's owner last saw, and versions that mark a new baseline.

- ``csv_watcher_status``: per watched file, its state (watching, missing, empty, unreadable, invalid) and the
  times of the last check and the last change, written by the runner that owns the watcher.
- ``csv_history_versions.event``: ``change`` for the versions before, ``baseline`` for one that marks a baseline
  taken again because the recorded content could not be trusted (a gap in the record).

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.create_table(
        "csv_watcher_status",
        sa.Column("csv_file", sa.String(2048), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("checked_at", sa.DateTime, nullable=True),
        sa.Column("changed_at", sa.DateTime, nullable=True),
    )
    op.add_column("csv_history_versions",
                  sa.Column("event", sa.String(16), nullable=False, server_default="change"))
