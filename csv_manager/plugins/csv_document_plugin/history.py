"""The change history of watched files, and the recorded baselines that survive a restart of csv_watcher_run.

Kept in the history database (``HISTORY_DATABASE_*``) in the tables of models.py. :class:`History` is what the
plugins use: it queues the writes (version_writes.py) for the recorder thread (recorder.py, which also says how
leases guard them), reads through :class:`~.history_reads.HistoryReads`, and prunes and purges.
"""
import logging
import zlib

from csv_manager.database import transaction
from csv_manager.errors import CsvManagerError
from csv_manager.outage import Outage
from csv_manager.plugins.csv_document_plugin.history_reads import HistoryReads
from csv_manager.plugins.csv_document_plugin.recorder import WAIT_SECONDS, Recorder
from csv_manager.plugins.csv_document_plugin.version_writes import VersionWrites, new_record
from csv_manager.runner_locks import locks_for
from csv_manager.sqlite_tuning import return_free_pages


class History(HistoryReads):
    """Reads and writes the history database ``db`` (a groundwork-database Database) with ``models``;
    ``on_recorded(record)`` follows each committed version worth reporting (see record_change)."""

    def __init__(self, db, models, on_recorded, outage=None):
        super().__init__(db, models)
        outage = outage if outage is not None else Outage(logging.getLogger(__name__))
        self._writes = VersionWrites(models, self._rebuild)
        self._recorder = Recorder(db, on_recorded, self._return_free_pages, outage)

    def start(self):
        self._recorder.start()

    def stop(self):
        """Record what is queued, in the time Recorder.stop gives it."""
        self._recorder.stop()

    def record_baseline(self, csv_file, rows, content, lease=None):
        """Queue ``content`` as the file's new snapshot (compared with nothing)."""
        self._recorder.put(csv_file, lease, lambda session: self._writes.baseline(session, csv_file, rows, content))

    def record_change(self, csv_file, new_rows, missing_rows, changed_rows, columns, rows, patch, content,
                      lease=None, back=False, added=False):
        """Queue a version; ``on_recorded(record)`` follows once it is committed, if it changed rows or columns,
        ends a problem state (``back``) or is a folder's new file (``added``). ``record`` is a dict of csv_file,
        event (``change``, ``columns``, ``file_back`` or ``file_added``), new_rows, missing_rows, changed_rows,
        columns, reason (None), rows and seen_at (when the change was found, naive UTC, as stored)."""
        event = "file_added" if added else "file_back" if back else "change" if columns is None else "columns"
        record = new_record(csv_file, event, rows, new_rows=new_rows, missing_rows=missing_rows,
                            changed_rows=changed_rows, columns=columns)
        self._recorder.put(csv_file, lease, lambda session: self._writes.change(session, record, patch, content))

    def record_state(self, csv_file, state, reason, rows, lease=None):
        """Queue a version telling that the file went ``missing``, ``empty``, ``unreadable`` or ``invalid``
        (``reason`` says why), or is ``back`` as it was, or was ``removed`` from its folder; ``on_recorded(record)``
        follows (see record_change; the event is ``file_`` and the state). A file without history gets none:
        there is nothing to tell apart. A removed file's content becomes empty: a file that appears at its path
        later is a new one, whose rows are all new."""
        record = new_record(csv_file, "file_" + state, rows, reason=reason)
        self._recorder.put(csv_file, lease, lambda session: self._writes.state(session, record))

    def record_rename(self, previous, csv_file, rows, lease=None):
        """Queue moving the history of ``previous`` to ``csv_file``, with a ``file_renamed`` version whose
        ``reason`` is the previous path; ``on_recorded(record)`` follows. A history already at ``csv_file`` (of a
        file removed from there) is kept under ``csv_file (until TIME)``."""
        record = new_record(csv_file, "file_renamed", rows, reason=previous)
        self._recorder.put(csv_file, lease, lambda session: self._writes.rename(session, record))

    def record_status(self, entries):
        """Queue one write of watcher statuses: (lease, csv_file, state, checked_at, changed_at) entries; those
        whose lease no longer holds by then are left out."""
        self._recorder.put(None, entries[0][0], lambda session: self._writes.status(session, entries))

    def release(self, lease):
        """Queue the release of ``lease`` behind the writes queued so far."""
        self._recorder.then(lease.release)

    def then(self, function, lease=None):
        """Queue ``function()`` behind the writes queued so far; skipped if ``lease`` no longer holds by then."""
        self._recorder.then(function, lease)

    def locks(self, stall_seconds=None):
        """New runner locks (not joined yet) in this database: ownership matters where the history is written,
        so the locks live with it (see the runner_locks package). A runner silent for ``stall_seconds`` loses them."""
        return locks_for(self.db, stall_seconds)

    def content_to_resume(self, csv_file):
        """The content a watcher of ``csv_file`` starting in this runner resumes from: the last recorded one
        (None if there is none), read once this runner's writes still queued for the file are done, or they
        would be reported twice. CsvManagerError if the history cannot be read."""
        self.wait_until_recorded(csv_file)
        return self.last_content(csv_file)

    def wait_until_recorded(self, csv_file, timeout=WAIT_SECONDS):
        """Wait until the writes queued for ``csv_file`` are done (see Recorder.wait_until_recorded)."""
        self._recorder.wait_until_recorded(csv_file, timeout)

    def prune(self, csv_file, keep_versions=None, keep_since=None):
        """Delete the versions of ``csv_file`` that are neither among the newest ``keep_versions`` nor seen at
        or after ``keep_since`` (naive UTC); None keeps by that rule everything. The oldest kept version becomes
        a snapshot, so it can still be shown byte-exact, and the kept versions keep their numbers.

        Returns (versions deleted, number of the oldest kept version or None when none is left).
        """
        with transaction(self.db, writes=True) as session:
            history = self.File.of(session, csv_file)
            if history is None:
                raise CsvManagerError("No history for %s." % csv_file)
            shown = session.query(self.Version.id, self.Version.seen_at).filter(*self.shown(history)).order_by(
                self.Version.id).all()
            first_kept = 0
            if keep_versions is not None:
                first_kept = max(first_kept, len(shown) - keep_versions)
            if keep_since is not None:
                first_kept = max(first_kept, next((index for index, (_, seen_at) in enumerate(shown)
                                                   if seen_at >= keep_since), len(shown)))
            if first_kept == 0:
                return 0, history.pruned_versions + 1 if shown else None
            last = session.query(self.Version.id).filter_by(file_id=history.id).order_by(
                self.Version.id.desc()).first()[0]
            boundary = shown[first_kept][0] if first_kept < len(shown) else last
            content = self._rebuild(session, history, boundary, history.pruned_versions + first_kept + 1)
            rows = session.get(self.Version, boundary).rows
            self._drop_before(session, history, boundary, keep_boundary=first_kept < len(shown))
            if history.snapshot_version < boundary:
                # The newest content, its hash and the patches after the boundary stay as they are.
                history.snapshot, history.snapshot_size = zlib.compress(content), len(content)
                history.snapshot_rows, history.snapshot_version = rows, boundary
            elif history.snapshot_version > boundary:
                session.add(self.Snapshot(file_id=history.id, version_id=boundary, snapshot=zlib.compress(content)))
            history.pruned_versions += first_kept
            oldest = history.pruned_versions + 1 if first_kept < len(shown) else None
        self._return_free_pages()
        return first_kept, oldest

    def _drop_before(self, session, history, boundary, keep_boundary):
        """Delete the versions (and their rows) before ``boundary``, and it too unless ``keep_boundary``, and the
        kept snapshots at or before it."""
        dropped = self.Version.id < boundary if keep_boundary else self.Version.id <= boundary
        ids = session.query(self.Version.id).filter(self.Version.file_id == history.id, dropped)
        session.query(self.Row).filter(self.Row.version_id.in_(ids)).delete(synchronize_session=False)
        session.query(self.Version).filter(self.Version.file_id == history.id, dropped).delete(
            synchronize_session=False)
        session.query(self.Snapshot).filter(self.Snapshot.file_id == history.id,
                                            self.Snapshot.version_id <= boundary).delete(synchronize_session=False)

    def purge(self, csv_file, folder=False):
        """Delete everything recorded for ``csv_file``, and with ``folder`` for every file under it; returns
        how many files had anything."""
        purged = 0
        if folder:
            with transaction(self.db) as session:
                under = [path for (path,) in session.query(self.File.csv_file).filter(
                    self.File.csv_file.startswith(csv_file.rstrip("/") + "/", autoescape=True))]
            purged = sum(self.purge(path) for path in under)
        return purged + self._purge_file(csv_file)

    def _purge_file(self, csv_file):
        with transaction(self.db, writes=True) as session:
            history = self.File.of(session, csv_file)
            if history is None:
                return False
            version_ids = session.query(self.Version.id).filter_by(file_id=history.id)
            session.query(self.Row).filter(self.Row.version_id.in_(version_ids)).delete(synchronize_session=False)
            session.query(self.Snapshot).filter_by(file_id=history.id).delete(synchronize_session=False)
            session.query(self.Version).filter_by(file_id=history.id).delete(synchronize_session=False)
            session.delete(history)
        self._return_free_pages()
        return True

    def _return_free_pages(self):
        """Shrink the file after a write that freed pages (a rewritten snapshot). The write is committed
        already, so a failure here only means the pages stay free for the next writes to reuse."""
        try:
            return_free_pages(self.db.engine)
        except Exception as error:
            self.log.debug("Could not return the history database's free pages: %s", error)
