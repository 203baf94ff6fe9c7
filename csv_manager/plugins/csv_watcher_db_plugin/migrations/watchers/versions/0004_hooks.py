"""Hooks: ``csv_hooks`` holds what csv_hook_add made (see hooks.py), ``csv_hook_cursors`` how far each hook's
deliveries have come among the versions of each watcher's files (see hook_delivery.py).

Revision ID: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade():
    op.create_table(
        "csv_hooks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("command", sa.Text, nullable=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("secret", sa.String(64), nullable=True),
        sa.Column("files", sa.Text, nullable=True),
        sa.Column("events", sa.Text, nullable=True),
        sa.Column("columns", sa.Text, nullable=True),
        sa.Column("min_rows", sa.Integer, nullable=True),
        sa.Column("after_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("failing_since", sa.DateTime, nullable=True))
    op.create_table(
        "csv_hook_cursors",
        sa.Column("hook_id", sa.Integer, primary_key=True),
        sa.Column("watcher", sa.String(2048), primary_key=True),
        sa.Column("version_id", sa.Integer, nullable=False))
