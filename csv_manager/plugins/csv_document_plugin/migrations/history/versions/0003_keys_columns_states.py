"""Keys, column changes and file states.

- ``csv_history_versions.changed_count``: rows matched by the watcher's key, stored in ``csv_history_rows`` as
  ``changed`` (0 for the versions before). A version whose header changed has the event ``columns`` and one
  ``columns`` row telling how.
- ``csv_history_versions.reason``: why a file went missing, empty, unreadable or invalid, for the versions with
  those events (``file_missing`` ...); NULL for the others.
- ``csv_history_snapshots``: the snapshots a newer one replaced, so that ``csv_history --show`` can rebuild
  the content at any version recorded since.
- ``csv_history_files.pruned_versions``: how many versions ``csv_history --prune`` deleted, so that the kept
  ones keep their numbers.

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade():
    op.add_column("csv_history_versions",
                  sa.Column("changed_count", sa.Integer, nullable=False, server_default="0"))
    op.add_column("csv_history_versions", sa.Column("reason", sa.Text, nullable=True))
    op.add_column("csv_history_files",
                  sa.Column("pruned_versions", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "csv_history_snapshots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("csv_history_files.id"), nullable=False, index=True),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("snapshot", sa.LargeBinary, nullable=False),
    )
