"""Release 0.3.0, runners that stall lose their watchers on SQLite too (see runner_locks.file_locks.FileLocks).

- ``csv_runners``: each running csv_watcher_run, with its lock-file slot and pid (a process that is gone is
  told by its slot's lock), its stall bound and the time of its last heartbeat (one that stopped is told by it).
- ``csv_runner_leases``: which runner owns which watcher, and how many times it was claimed (``epoch``): every
  history write checks, in its own transaction, that the lease it was made under is still the current one.

PostgreSQL keeps ownership in advisory locks and leaves these tables empty.

Revision ID: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade():
    op.create_table(
        "csv_runners",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("stall_seconds", sa.Integer, nullable=False),
        sa.Column("beat_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "csv_runner_leases",
        sa.Column("watcher_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("runner_id", sa.Integer, nullable=True),
        sa.Column("epoch", sa.Integer, nullable=False),
    )
