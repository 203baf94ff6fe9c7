"""The change history of watched files, and the recorded baselines that survive a restart of csv_watcher_run.

Kept in the history database (``HISTORY_DATABASE_*``) in three tables:

- ``csv_history_files``: per file, one zlib-compressed snapshot of its content, the hash of the last recorded
  content and how many patch bytes were recorded since the snapshot;
- ``csv_history_versions``: per change, when it was seen, the row count, how many rows appeared and went
  missing, and the byte patch from the previous content (see csv_diff.Patch), compressed;
- ``csv_history_rows``: the new and missing rows of each version, as JSON objects.

The last recorded content is the snapshot with the later patches applied, checked against the stored hash. The
snapshot is rewritten only when the patches since it add up to more than its own size, so storage grows with
what changed: an append of 10 rows stores those 10 rows and their bytes, not a copy of the file.

Writes happen in a recorder thread, so the watchers never wait for the database. A write that fails (database
locked, disk full) is logged once and retried until it succeeds; nothing is dropped silently. ``on_recorded``
is called after each change is committed, so whatever is printed from it is already in the history.
"""
import datetime
import hashlib
import json
import logging
import queue
import threading
import zlib

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Integer, LargeBinary, String, Text, func

from csv_manager.database import return_free_pages, transaction
from csv_manager.outage import Outage
from csv_manager.patterns.csv_watcher_pattern.csv_diff import Patch

RETRY_SECONDS = 1
#: How long stop() waits for queued changes to be recorded before giving up on them (and saying so).
FLUSH_SECONDS = 1


def define_models(Base):
    """The history models on a groundwork-database ``Base``; returns (File, Version, Row)."""

    class CsvHistoryFile(Base):
        __tablename__ = "csv_history_files"

        id = Column(Integer, primary_key=True)
        csv_file = Column(String(2048), nullable=False, unique=True)
        snapshot = Column(LargeBinary, nullable=False)
        snapshot_rows = Column(Integer, nullable=False)
        snapshot_size = Column(BigInteger, nullable=False)
        snapshot_version = Column(Integer, nullable=False)
        content_hash = Column(String(32), nullable=False)
        patched_bytes = Column(BigInteger, nullable=False)

    class CsvHistoryVersion(Base):
        __tablename__ = "csv_history_versions"

        id = Column(Integer, primary_key=True)
        file_id = Column(Integer, ForeignKey("csv_history_files.id"), nullable=False, index=True)
        seen_at = Column(DateTime, nullable=False)
        rows = Column(Integer, nullable=False)
        new_count = Column(Integer, nullable=False)
        missing_count = Column(Integer, nullable=False)
        patch_start = Column(BigInteger, nullable=False)
        patch_end = Column(BigInteger, nullable=False)
        patch = Column(LargeBinary, nullable=False)

    class CsvHistoryRow(Base):
        __tablename__ = "csv_history_rows"

        id = Column(Integer, primary_key=True)
        version_id = Column(Integer, ForeignKey("csv_history_versions.id"), nullable=False, index=True)
        change = Column(String(7), nullable=False)
        row = Column(Text, nullable=False)

    return CsvHistoryFile, CsvHistoryVersion, CsvHistoryRow


def content_hash(content):
    return hashlib.blake2b(content, digest_size=16).hexdigest()


def utc_now():
    """The current UTC time without tzinfo, as stored in ``seen_at``."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class History:
    """Reads and writes the history database ``db`` (a groundwork-database Database) with ``models``."""

    def __init__(self, db, models, on_recorded, outage=None):
        self.db = db
        self.File, self.Version, self.Row = models
        self.log = logging.getLogger(__name__)
        self._on_recorded = on_recorded
        self._queue = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._write_all, name="csv_history recorder", daemon=True)
        self._problem = None
        self._outage = outage if outage is not None else Outage(self.log)

    def start(self):
        self._thread.start()

    def stop(self):
        """Record what is queued, waiting at most FLUSH_SECONDS, then a write in progress at most RETRY_SECONDS.

        A write still unfinished then was not reported to on_recorded, so nothing printed is lost; the number of
        changes left unrecorded is logged as an error.
        """
        self._queue.put(None)
        self._thread.join(FLUSH_SECONDS)
        if self._thread.is_alive():
            self._stopping.set()
            self._thread.join(RETRY_SECONDS)
        if self._thread.is_alive():
            self.log.error("The history recorder did not finish in time; up to %d changes were not recorded",
                           self._queue.qsize())

    def record_baseline(self, csv_file, rows, content):
        """Queue ``content`` as the file's new snapshot (compared with nothing)."""
        self._queue.put(lambda session: self._write_baseline(session, csv_file, rows, content))

    def record_change(self, csv_file, new_rows, missing_rows, rows, patch, content):
        """Queue a version; ``on_recorded(csv_file, new_rows, missing_rows)`` follows once it is committed."""
        seen_at = utc_now()
        self._queue.put(lambda session: self._write_change(session, csv_file, seen_at, new_rows, missing_rows, rows,
                                                           patch, content))

    def last_content(self, csv_file):
        """The content last recorded for ``csv_file``, or None if there is none or it is damaged."""
        with transaction(self.db) as session:
            history = session.query(self.File).filter_by(csv_file=csv_file).first()
            if history is None:
                return None
            content = zlib.decompress(history.snapshot)
            for version in (session.query(self.Version)
                            .filter(self.Version.file_id == history.id, self.Version.id > history.snapshot_version)
                            .order_by(self.Version.id)):
                patch = Patch(version.patch_start, version.patch_end, zlib.decompress(version.patch))
                content = patch.apply(content)
            if content_hash(content) != history.content_hash:
                self.log.error("The recorded content of %s does not match its hash; taking a new baseline",
                               csv_file)
                return None
            return content

    def versions(self, csv_file, since=None, limit=None):
        """Recorded versions with row changes, newest first: dicts of id, seen_at, rows, new_rows, missing_rows.

        Returns None if the file has no history at all.
        """
        with transaction(self.db) as session:
            history = session.query(self.File).filter_by(csv_file=csv_file).first()
            if history is None:
                return None
            query = (session.query(self.Version)
                     .filter(self.Version.file_id == history.id,
                             self.Version.new_count + self.Version.missing_count > 0)
                     .order_by(self.Version.id.desc()))
            if since is not None:
                query = query.filter(self.Version.seen_at >= since)
            if limit is not None:
                query = query.limit(limit)
            versions = []
            for version in query:
                rows = {"new": [], "missing": []}
                for row in session.query(self.Row).filter_by(version_id=version.id).order_by(self.Row.id):
                    rows[row.change].append(json.loads(row.row))
                versions.append({"id": version.id, "seen_at": version.seen_at, "rows": version.rows,
                                 "new_rows": rows["new"], "missing_rows": rows["missing"]})
            return versions

    def purge(self, csv_file):
        """Delete everything recorded for ``csv_file``; returns whether there was anything."""
        with transaction(self.db, writes=True) as session:
            history = session.query(self.File).filter_by(csv_file=csv_file).first()
            if history is None:
                return False
            version_ids = session.query(self.Version.id).filter_by(file_id=history.id)
            session.query(self.Row).filter(self.Row.version_id.in_(version_ids)).delete(synchronize_session=False)
            session.query(self.Version).filter_by(file_id=history.id).delete(synchronize_session=False)
            session.delete(history)
        self._return_free_pages()
        return True

    def _write_all(self):
        while True:
            write = self._queue.get()
            if write is None:
                return
            while not self._write_one(write):
                if self._stopping.wait(RETRY_SECONDS):
                    lost = 1 + sum(1 for write in self._drain() if write is not None)
                    self.log.error("%d changes could not be recorded in the history: %s", lost, self._problem)
                    return

    def _drain(self):
        while True:
            try:
                yield self._queue.get_nowait()
            except queue.Empty:
                return

    def _write_one(self, write):
        try:
            with transaction(self.db, writes=True) as session:
                recorded = write(session)
        except Exception as error:
            self._problem = str(getattr(error, "message", error))
            self._outage.failed("history", self._problem)
            return False
        self._problem = None
        self._outage.succeeded("history")
        if recorded is not None:
            self._on_recorded(*recorded)
        self._return_free_pages()
        return True

    def _return_free_pages(self):
        """Shrink the file after a write that freed pages (a rewritten snapshot). The write is committed
        already, so a failure here only means the pages stay free for the next writes to reuse."""
        try:
            return_free_pages(self.db.engine)
        except Exception as error:
            self.log.debug("Could not return the history database's free pages: %s", error)

    def _write_baseline(self, session, csv_file, rows, content):
        history = session.query(self.File).filter_by(csv_file=csv_file).first()
        if history is None:
            history = self.File(csv_file=csv_file)
            session.add(history)
        last_version = session.query(func.max(self.Version.id)).filter_by(file_id=history.id).scalar()
        _set_snapshot(history, content, rows, last_version or 0)
        return None

    def _write_change(self, session, csv_file, seen_at, new_rows, missing_rows, rows, patch, content):
        history = session.query(self.File).filter_by(csv_file=csv_file).first()
        if history is None:
            history = self.File(csv_file=csv_file)
            session.add(history)
            _set_snapshot(history, content, rows, 0)
            session.flush()
        version = self.Version(file_id=history.id, seen_at=seen_at, rows=rows, new_count=len(new_rows),
                               missing_count=len(missing_rows), patch_start=patch.start, patch_end=patch.end,
                               patch=zlib.compress(patch.replacement))
        session.add(version)
        session.flush()
        session.add_all([self.Row(version_id=version.id, change=change, row=json.dumps(row, ensure_ascii=False))
                         for change, changed in (("new", new_rows), ("missing", missing_rows)) for row in changed])
        history.content_hash = content_hash(content)
        history.patched_bytes += len(patch.replacement)
        if history.patched_bytes > history.snapshot_size:
            _set_snapshot(history, content, rows, version.id)
        return (csv_file, new_rows, missing_rows) if new_rows or missing_rows else None


def _set_snapshot(history, content, rows, version_id):
    history.snapshot = zlib.compress(content)
    history.snapshot_rows = rows
    history.snapshot_size = len(content)
    history.snapshot_version = version_id
    history.content_hash = content_hash(content)
    history.patched_bytes = 0
