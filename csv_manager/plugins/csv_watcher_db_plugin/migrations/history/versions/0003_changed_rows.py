"""Keys and column changes: how many rows of a version a key matched as changed.

- ``csv_history_versions.changed_count``: rows matched by the watcher's key, stored in ``csv_history_rows`` as
  ``changed`` (0 for the versions before). A version whose header changed has the event ``columns`` and one
  ``columns`` row telling how.

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade():
    op.add_column("csv_history_versions",
                  sa.Column("changed_count", sa.Integer, nullable=False, server_default="0"))
