"""The history tables of release 0.1.0, which made them with create_all and no migration.

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "csv_history_files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("csv_file", sa.String(2048), nullable=False, unique=True),
        sa.Column("snapshot", sa.LargeBinary, nullable=False),
        sa.Column("snapshot_rows", sa.Integer, nullable=False),
        sa.Column("snapshot_size", sa.BigInteger, nullable=False),
        sa.Column("snapshot_version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("patched_bytes", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "csv_history_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("csv_history_files.id"), nullable=False, index=True),
        sa.Column("seen_at", sa.DateTime, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("new_count", sa.Integer, nullable=False),
        sa.Column("missing_count", sa.Integer, nullable=False),
        sa.Column("patch_start", sa.BigInteger, nullable=False),
        sa.Column("patch_end", sa.BigInteger, nullable=False),
        sa.Column("patch", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "csv_history_rows",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("csv_history_versions.id"), nullable=False, index=True),
        sa.Column("change", sa.String(7), nullable=False),
        sa.Column("row", sa.Text, nullable=False),
    )
