"""The tutorial's watcher table, as release 0.1.0 made it with create_all and no migration.

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "csv_watchers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("csv_file", sa.String(2048), nullable=False, unique=True),
        sa.Column("interval", sa.Integer, nullable=False),
    )
