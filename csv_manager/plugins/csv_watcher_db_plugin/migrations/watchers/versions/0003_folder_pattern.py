"""Folder watchers: a watcher whose ``pattern`` is set watches the files in the folder ``csv_file`` that match it.

NULL for a watcher of one file, as every watcher of the releases before is.

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade():
    op.add_column("csv_watchers", sa.Column("pattern", sa.String(1024), nullable=True))
