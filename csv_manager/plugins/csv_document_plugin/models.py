"""The models of the history database (``HISTORY_DATABASE_*``), as the tutorial's chapter "Complex history
database" keeps them: ``get_models(db)`` defines them on a groundwork-database database. Their schema is made
and changed by the Alembic revisions in ``migrations/history``; a change here needs a revision there.

- ``csv_history_files``: per file, one zlib-compressed snapshot of its content, the hash of the last recorded
  content and how many patch bytes were recorded since the snapshot;
- ``csv_history_versions``: per change, when it was seen, the row count, how many rows appeared, went missing
  and changed (matched by a key), and the byte patch from the previous content (see csv_diff.Patch),
  compressed; ``event`` tells a change of rows from one of the header or of the file's state;
- ``csv_history_rows``: the new, missing and changed rows of each version and its column change, as JSON
  objects;
- ``csv_history_snapshots``: earlier snapshots, so that any version can be rebuilt;
- ``csv_watcher_status``: per watched file, the state and the times of the last check and change that its
  owning runner saw (csv_watcher_list --status).
"""
from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import deferred


def get_models(db):
    """The history models on the groundwork-database ``db``; returns (File, Version, Row, Status, Snapshot)."""
    Base = db.Base

    class CsvHistoryFile(Base):
        __tablename__ = "csv_history_files"

        id = Column(Integer, primary_key=True)
        csv_file = Column(String(2048), nullable=False, unique=True)
        #: Loaded only when read: recording a change needs the file's other columns, not a compressed copy of it.
        snapshot = deferred(Column(LargeBinary, nullable=False))
        snapshot_rows = Column(Integer, nullable=False)
        snapshot_size = Column(BigInteger, nullable=False)
        snapshot_version = Column(Integer, nullable=False)
        content_hash = Column(String(32), nullable=False)
        patched_bytes = Column(BigInteger, nullable=False)
        #: Versions deleted by csv_history --prune: the kept ones keep their numbers.
        pruned_versions = Column(Integer, nullable=False, default=0, server_default="0")

        @classmethod
        def of(cls, session, csv_file):
            """The history of ``csv_file`` in ``session``, or None if it has none."""
            return session.query(cls).filter_by(csv_file=csv_file).first()

    class CsvHistoryVersion(Base):
        __tablename__ = "csv_history_versions"
        #: An id is never given twice (a reader's cursor, a hook's): see migration 0005.
        __table_args__ = {"sqlite_autoincrement": True}

        id = Column(Integer, primary_key=True)
        file_id = Column(Integer, ForeignKey("csv_history_files.id"), nullable=False, index=True)
        seen_at = Column(DateTime, nullable=False)
        rows = Column(Integer, nullable=False)
        new_count = Column(Integer, nullable=False)
        missing_count = Column(Integer, nullable=False)
        patch_start = Column(BigInteger, nullable=False)
        patch_end = Column(BigInteger, nullable=False)
        patch = Column(LargeBinary, nullable=False)
        #: "change"; "columns" for a change of the header; "baseline" for a baseline taken again because the
        #: recorded content was not trusted; "file_missing", "file_empty", "file_unreadable", "file_invalid"
        #: when the file went so (no patch, ``reason`` says why) and "file_back" when it came back.
        event = Column(String(16), nullable=False, default="change", server_default="change")
        changed_count = Column(Integer, nullable=False, default=0, server_default="0")
        reason = Column(Text, nullable=True)

    class CsvHistoryRow(Base):
        __tablename__ = "csv_history_rows"

        id = Column(Integer, primary_key=True)
        version_id = Column(Integer, ForeignKey("csv_history_versions.id"), nullable=False, index=True)
        change = Column(String(7), nullable=False)
        row = Column(Text, nullable=False)

    class CsvWatcherStatus(Base):
        __tablename__ = "csv_watcher_status"

        csv_file = Column(String(2048), primary_key=True)
        state = Column(String(16), nullable=False)
        checked_at = Column(DateTime, nullable=True)
        changed_at = Column(DateTime, nullable=True)

    class CsvHistorySnapshot(Base):
        """A snapshot that was the file's before a newer one replaced it, kept so that the content at any
        version can be rebuilt: the nearest snapshot at or before it, and the patches after that."""
        __tablename__ = "csv_history_snapshots"

        id = Column(Integer, primary_key=True)
        file_id = Column(Integer, ForeignKey("csv_history_files.id"), nullable=False, index=True)
        version_id = Column(Integer, nullable=False)
        snapshot = Column(LargeBinary, nullable=False)

    return CsvHistoryFile, CsvHistoryVersion, CsvHistoryRow, CsvWatcherStatus, CsvHistorySnapshot
