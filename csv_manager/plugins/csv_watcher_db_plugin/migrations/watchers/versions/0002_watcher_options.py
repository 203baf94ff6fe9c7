"""Per-watcher options: the key columns that match changed rows, the delimiter and the encoding.

All three may be NULL, which means what every watcher of the releases before did: no key, a comma, UTF-8.

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.add_column("csv_watchers", sa.Column("key_columns", sa.Text, nullable=True))
    op.add_column("csv_watchers", sa.Column("delimiter", sa.String(8), nullable=True))
    op.add_column("csv_watchers", sa.Column("encoding", sa.String(64), nullable=True))
