"""The change history of watched files, and the recorded baselines that survive a restart of csv_watcher_run.

Kept in the history database (``HISTORY_DATABASE_*``) in the tables of models.py.

The last recorded content is the snapshot with the later patches applied, checked against the stored hash. The
snapshot is rewritten only when the patches since it add up to more than its own size, so storage grows with
what changed: an append of 10 rows stores those 10 rows and their bytes, not a copy of the file.

Writes happen in a recorder thread, so the watchers never wait for the database. A write that fails (database
locked, disk full) is logged once and retried until it succeeds; nothing is dropped silently. ``on_recorded``
is called after each change is committed, so whatever is printed from it is already in the history.

In csv_watcher_run each write carries the lease of the runner's claim on the watcher (see runner_locks.py) and
is committed only while the lease holds. A write whose lease was lost is dropped unprinted: the watcher's next
owner finds the change against the recorded content and reports it. Releasing a lease is queued behind the
writes before it, so the next owner starts from everything this runner reported.
"""
import hashlib
import json
import logging
import queue
import threading
import zlib
from contextlib import contextmanager

from sqlalchemy import func, insert, text

from csv_manager.database import return_free_pages, transaction, utc_now
from csv_manager.errors import CsvManagerError
from csv_manager.outage import Outage
from csv_manager.patterns.csv_watcher_pattern.csv_diff import Patch
from csv_manager.runner_locks import LeaseLost, locks_for

RETRY_SECONDS = 1
#: JSON characters of rows inserted at a time: a version's rows are never all held as JSON at once (with a
#: 100 MB field, each copy counts).
ROWS_BATCH_CHARS = 1 << 20
#: The PostgreSQL advisory lock that orders version ids (see _in_id_order).
VERSION_ORDER_LOCK_ID = 0x63737676
#: The most versions csv_history --after reads at a time.
AFTER_LIMIT = 1000
#: The most files whose last numbered version after() remembers.
NUMBERED_FILES = 10000
#: The most changes queued together under one lease that are written in one transaction.
BATCH_WRITES = 100
#: How long a watcher about to start waits for the writes still queued for its file (see wait_until_recorded).
WAIT_SECONDS = 10
#: How long stop() waits for queued changes to be recorded before giving up on them (and saying so).
FLUSH_SECONDS = 1


def content_hash(content):
    return hashlib.blake2b(content, digest_size=16).hexdigest()


class History:
    """Reads and writes the history database ``db`` (a groundwork-database Database) with ``models``."""

    def __init__(self, db, models, on_recorded, outage=None):
        self.db = db
        self.models = models
        self.File, self.Version, self.Row, self.Status, self.Snapshot = models
        self.log = logging.getLogger(__name__)
        self._on_recorded = on_recorded
        self._queue = queue.Queue()
        #: {csv_file: writes queued and not done yet}, guarded by the condition _recorded.
        self._queued = {}
        self._recorded = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._write_all, name="csv_history recorder", daemon=True)
        self._problem = None
        #: How many changes (not statuses, nor queued functions) the write in progress holds, and whether the
        #: recorder is past its commit, printing or running a queued function (see stop()).
        self._writing_changes = 0
        self._reporting = False
        self._outage = outage if outage is not None else Outage(self.log)
        #: {file id: (id, number) of the newest version after() numbered}, see _number_before.
        self._numbered = {}

    def start(self):
        self._thread.start()

    def stop(self):
        """Record what is queued, waiting at most FLUSH_SECONDS, then a write in progress at most RETRY_SECONDS.

        A write still unfinished then was not reported to on_recorded, so nothing printed is lost; the number of
        changes left unrecorded is logged as an error, and a recorder stuck after its commit (printing to a pipe
        nobody reads) is said to be, since what it printed is recorded.
        """
        self._queue.put(None)
        self._thread.join(FLUSH_SECONDS)
        if self._thread.is_alive():
            self._stopping.set()
            self._thread.join(RETRY_SECONDS)
        if not self._thread.is_alive():
            return
        with self._queue.mutex:
            queued = sum(map(_is_change, self._queue.queue))
        if self._reporting:
            self.log.error("The history recorder did not finish in time: what it recorded last is recorded, but "
                           "printing it is stuck (is the output read?); %d changes queued after it were not recorded",
                           queued)
        else:
            self.log.error("The history recorder did not finish in time; up to %d changes were not recorded",
                           queued + self._writing_changes)

    def record_baseline(self, csv_file, rows, content, lease=None):
        """Queue ``content`` as the file's new snapshot (compared with nothing)."""
        self._put(csv_file, lease, lambda session: self._write_baseline(session, csv_file, rows, content))

    def record_change(self, csv_file, new_rows, missing_rows, changed_rows, columns, rows, patch, content,
                      lease=None, back=False, added=False):
        """Queue a version; ``on_recorded(record)`` follows once it is committed, if it changed rows or columns,
        ends a problem state (``back``) or is a folder's new file (``added``). ``record`` is a dict of csv_file,
        event (``change``, ``columns``, ``file_back`` or ``file_added``), new_rows, missing_rows, changed_rows,
        columns, reason (None), rows and seen_at (when the change was found, naive UTC, as stored)."""
        event = "file_added" if added else "file_back" if back else "change" if columns is None else "columns"
        record = _record(csv_file, event, rows, new_rows=new_rows, missing_rows=missing_rows,
                         changed_rows=changed_rows, columns=columns)
        self._put(csv_file, lease, lambda session: self._write_change(session, record, patch, content))

    def record_state(self, csv_file, state, reason, rows, lease=None):
        """Queue a version telling that the file went ``missing``, ``empty``, ``unreadable`` or ``invalid``
        (``reason`` says why), or is ``back`` as it was, or was ``removed`` from its folder; ``on_recorded(record)``
        follows (see record_change; the event is ``file_`` and the state). A file without history gets none:
        there is nothing to tell apart. A removed file's content becomes empty: a file that appears at its path
        later is a new one, whose rows are all new."""
        record = _record(csv_file, "file_" + state, rows, reason=reason)
        self._put(csv_file, lease, lambda session: self._write_state(session, record))

    def record_rename(self, previous, csv_file, rows, lease=None):
        """Queue moving the history of ``previous`` to ``csv_file``, with a ``file_renamed`` version whose
        ``reason`` is the previous path; ``on_recorded(record)`` follows. A history already at ``csv_file`` (of a
        file removed from there) is kept under ``csv_file (until TIME)``."""
        record = _record(csv_file, "file_renamed", rows, reason=previous)
        self._put(csv_file, lease, lambda session: self._write_rename(session, record))

    def recorded_files(self, directory):
        """The paths under ``directory`` whose history goes on: recorded, and not removed last."""
        with transaction(self.db) as session:
            files = dict(session.query(self.File.id, self.File.csv_file).filter(
                self.File.csv_file.startswith(directory.rstrip("/") + "/", autoescape=True)))
            last = session.query(func.max(self.Version.id)).filter(
                self.Version.file_id.in_(files)).group_by(self.Version.file_id)
            removed = {file_id for (file_id,) in session.query(self.Version.file_id).filter(
                self.Version.id.in_(last), self.Version.event == "file_removed")}
        return [csv_file for file_id, csv_file in files.items() if file_id not in removed]

    def record_status(self, entries):
        """Queue one write of watcher statuses: (lease, csv_file, state, checked_at, changed_at) entries; those
        whose lease no longer holds by then are left out."""
        self._put(None, entries[0][0], lambda session: self._write_status(session, entries))

    def statuses(self):
        """{csv_file: (state, checked_at, changed_at)} of every watcher whose status a runner wrote."""
        columns = (self.Status.csv_file, self.Status.state, self.Status.checked_at, self.Status.changed_at)
        with transaction(self.db) as session:
            return {csv_file: status for csv_file, *status in session.query(*columns)}

    def release(self, lease):
        """Queue the release of ``lease`` behind the writes queued so far."""
        self._put(None, None, _Then(lease.release))

    def then(self, function, lease=None):
        """Queue ``function()`` behind the writes queued so far; skipped if ``lease`` no longer holds by then."""
        self._put(None, lease, _Then(function))

    def locks(self, stall_seconds=None):
        """New runner locks (not joined yet) in this database: ownership matters where the history is written,
        so the locks live with it (see runner_locks.py). A runner silent for ``stall_seconds`` loses them."""
        return locks_for(self.db, stall_seconds)

    def content_to_resume(self, csv_file):
        """The content a watcher of ``csv_file`` starting in this runner resumes from: the last recorded one
        (None if there is none), read once this runner's writes still queued for the file are done, or they
        would be reported twice. CsvManagerError if the history cannot be read."""
        self.wait_until_recorded(csv_file)
        return self.last_content(csv_file)

    def wait_until_recorded(self, csv_file, timeout=WAIT_SECONDS):
        """Wait until the writes queued for ``csv_file`` are done (committed, or dropped with their lease): the
        content recorded for it is then all this runner saw. CsvManagerError if that takes over ``timeout``."""
        with self._recorded:
            if not self._recorded.wait_for(lambda: not self._queued.get(csv_file), timeout):
                raise CsvManagerError("The history of %s is still being written (%s); trying again later"
                                      % (csv_file, self._problem or "busy"))

    def _put(self, csv_file, lease, write):
        with self._recorded:
            self._queued[csv_file] = self._queued.get(csv_file, 0) + 1
        self._queue.put((csv_file, lease, write))

    def _done(self, csv_file):
        with self._recorded:
            self._queued[csv_file] -= 1
            if not self._queued[csv_file]:
                del self._queued[csv_file]
                self._recorded.notify_all()

    def last_content(self, csv_file):
        """The content last recorded for ``csv_file``, or None if there is none or it is damaged."""
        with transaction(self.db) as session:
            history = session.query(self.File).filter_by(csv_file=csv_file).first()
            if history is None:
                return None
            content = self._rebuild(session, history)
            if content_hash(content) != history.content_hash:
                self.log.error("The recorded content of %s does not match its hash, so what changed while it was "
                               "not watched cannot be told; taking a new baseline (csv_history shows the gap)",
                               csv_file)
                return None
            return content

    def versions(self, csv_file, since=None, limit=None):
        """Recorded versions with row or column changes, and new baselines, newest first: dicts of number (1, 2,
        3 ... in this file's history, the same whatever ``since`` and ``limit`` leave out), event ("change",
        "columns" or "baseline"), seen_at, rows, new_rows, missing_rows, changed_rows, columns (a dict, or None).

        Returns None if the file has no history at all.
        """
        with transaction(self.db) as session:
            history = session.query(self.File).filter_by(csv_file=csv_file).first()
            if history is None:
                return None
            shown = self.shown(history)
            numbers = {version_id: number for number, (version_id,) in enumerate(
                session.query(self.Version.id).filter(*shown).order_by(self.Version.id), history.pruned_versions + 1)}
            query = session.query(self.Version).filter(*shown).order_by(self.Version.id.desc())
            if since is not None:
                query = query.filter(self.Version.seen_at >= since)
            if limit is not None:
                query = query.limit(limit)
            query = query.all()
            rows = self._rows_of([version.id for version in query], session)
            return [self._version_dict(version, numbers[version.id], rows[version.id]) for version in query]

    def after(self, version_id, csv_file=None, limit=AFTER_LIMIT):
        """The versions csv_history shows that were recorded after the version ``version_id`` (its ``id``), of
        every file or of ``csv_file`` only, oldest first, at most ``limit``: dicts as versions() gives them, plus
        csv_file. Ids grow in the order versions are committed (see _in_id_order), so a reader that asks again
        with the last id it saw misses nothing and sees nothing twice.

        A few statements for the whole batch (the versions, each file's count of versions before them, their
        rows), not a few per version: hooks drain a backlog through here.
        """
        with transaction(self.db) as session:
            # Named columns, not ORM objects: building those was a fifth of a hook's time draining a backlog.
            query = session.query(
                self.Version.id, self.Version.file_id, self.Version.event, self.Version.seen_at, self.Version.rows,
                self.Version.reason, self.File.csv_file, self.File.pruned_versions).join(
                self.File, self.File.id == self.Version.file_id).filter(
                self.Version.id > version_id, self.shown_versions())
            if csv_file is not None:
                query = query.filter(self.File.csv_file == csv_file)
            found = query.order_by(self.Version.id).limit(limit).all()
            numbers = {}
            for version in found:
                if version.file_id not in numbers:
                    numbers[version.file_id] = self._number_before(session, version)
            rows = self._rows_of([version.id for version in found], session)
            versions = []
            for version in found:
                numbers[version.file_id] += 1
                self._numbered[version.file_id] = (version.id, numbers[version.file_id])
                versions.append(dict(self._version_dict(version, numbers[version.file_id], rows[version.id]),
                                     csv_file=version.csv_file))
            return versions

    def _number_before(self, session, version):
        """The number of the shown version of ``version``'s file before it (0 for none): counted from the last
        one after() numbered, if that was earlier and is still there, since counting from the start made
        draining one file's 100,000 versions quadratic. A number never changes: pruning counts what it deletes,
        and a version id is never given twice (migration 0005)."""
        if len(self._numbered) > NUMBERED_FILES:
            self._numbered.clear()
        known_id, number = self._numbered.get(version.file_id, (0, version.pruned_versions))
        if known_id >= version.id or known_id and session.query(self.Version.file_id).filter(
                self.Version.id == known_id).scalar() != version.file_id:
            # Later than this one, or gone with its file (purged; a new file may have its id): count from the start.
            known_id, number = 0, version.pruned_versions
        return number + session.query(func.count(self.Version.id)).filter(
            self.Version.file_id == version.file_id, self.Version.id > known_id, self.Version.id < version.id,
            self.shown_versions()).scalar()

    def newest_id(self):
        """The id of the newest recorded version (0 for none): what comes after it is new."""
        with transaction(self.db) as session:
            return session.query(func.max(self.Version.id)).scalar() or 0

    def files_after(self, version_id):
        """The file of each version csv_history shows that was recorded after the id ``version_id``, oldest
        first: [(id, csv_file)]."""
        with transaction(self.db) as session:
            return session.query(self.Version.id, self.File.csv_file).join(
                self.File, self.File.id == self.Version.file_id).filter(
                self.Version.id > version_id, self.shown_versions()).order_by(self.Version.id).all()

    def _rows_of(self, version_ids, session):
        """{version id: its rows by change} of each of ``version_ids``, in a statement per 500 versions."""
        rows = {version_id: {"new": [], "missing": [], "changed": [], "columns": [None]}
                for version_id in version_ids}
        for start in range(0, len(version_ids), 500):
            for version_id, change, row in session.query(self.Row.version_id, self.Row.change, self.Row.row).filter(
                    self.Row.version_id.in_(version_ids[start:start + 500])).order_by(self.Row.id):
                rows[version_id][change].append(json.loads(row))
        return rows

    def _version_dict(self, version, number, rows):
        """``version`` (a model object or a row with its columns) as versions() gives it."""
        return {"id": version.id, "number": number, "event": version.event, "seen_at": version.seen_at,
                "rows": version.rows, "new_rows": rows["new"], "missing_rows": rows["missing"],
                "changed_rows": rows["changed"], "columns": rows["columns"][-1], "reason": version.reason}

    def content_at(self, csv_file, number=None):
        """(content, event) of ``csv_file`` at its version ``number`` (1, 2, 3 ... as versions() numbers them;
        None for the newest recorded content, event None): the exact bytes as recorded, rebuilt from the nearest
        snapshot at or before it and the patches after that. The content is None for a version at which the
        file had none (missing, unreadable, invalid).

        Raises CsvManagerError when the file has no history, no such version, or the snapshot it needs was not
        kept (versions recorded before csv_history_snapshots existed).
        """
        with transaction(self.db) as session:
            history = session.query(self.File).filter_by(csv_file=csv_file).first()
            if history is None:
                raise CsvManagerError("No history for %s." % csv_file)
            ids = [version_id for (version_id,) in
                   session.query(self.Version.id).filter(*self.shown(history)).order_by(self.Version.id)]
            first = history.pruned_versions + 1
            if number is not None and not first <= number < first + len(ids):
                kept = "%d to %d" % (first, first + len(ids) - 1) if ids else (
                    "none yet" if first == 1 else "none kept (1 to %d were pruned)" % (first - 1))
                raise CsvManagerError("%s has no version %d; its versions are %s." % (csv_file, number, kept))
            if number is None:
                return self._rebuild(session, history), None
            version_id = ids[number - first]
            event = session.get(self.Version, version_id).event
            if event in ("file_missing", "file_unreadable", "file_invalid", "file_removed"):
                return None, event
            if event == "file_empty":
                return b"", event
            return self._rebuild(session, history, version_id, number), event

    def _rebuild(self, session, history, version_id=None, number=None):
        """The content after the version ``version_id`` (numbered ``number``, for a message), or the newest
        recorded content for None: the nearest snapshot and the patches after it."""
        if version_id is None or history.snapshot_version <= version_id:
            start, snapshot = history.snapshot_version, history.snapshot
        else:  # the nearest kept snapshot, and only it: each is a compressed copy of the file
            kept = (session.query(self.Snapshot)
                    .filter(self.Snapshot.file_id == history.id, self.Snapshot.version_id <= version_id)
                    .order_by(self.Snapshot.version_id.desc()).first())
            if kept is None:
                raise CsvManagerError("Version %d of %s cannot be rebuilt: it was recorded by a release that kept "
                                      "only the newest snapshot." % (number, history.csv_file))
            start, snapshot = kept.version_id, kept.snapshot
        content = zlib.decompress(snapshot)
        patches = session.query(self.Version).filter(self.Version.file_id == history.id, self.Version.id > start)
        if version_id is not None:
            patches = patches.filter(self.Version.id <= version_id)
        for version in patches.order_by(self.Version.id):
            content = Patch(version.patch_start, version.patch_end, zlib.decompress(version.patch)).apply(content)
        return content

    def prune(self, csv_file, keep_versions=None, keep_since=None):
        """Delete the versions of ``csv_file`` that are neither among the newest ``keep_versions`` nor seen at
        or after ``keep_since`` (naive UTC); None keeps by that rule everything. The oldest kept version becomes
        a snapshot, so it can still be shown byte-exact, and the kept versions keep their numbers.

        Returns (versions deleted, number of the oldest kept version or None when none is left).
        """
        with transaction(self.db, writes=True) as session:
            history = session.query(self.File).filter_by(csv_file=csv_file).first()
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

    def shown(self, history):
        """The filter of the versions of the file ``history`` that csv_history shows (see shown_versions)."""
        return self.Version.file_id == history.id, self.shown_versions()

    def shown_versions(self):
        """The filter of the versions csv_history shows (and numbers), of any file: those with rows or columns
        changed, and those of another event than a change (a new baseline, a file state)."""
        counts = self.Version.new_count + self.Version.missing_count + self.Version.changed_count
        return (counts > 0) | (self.Version.event != "change")

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
            history = session.query(self.File).filter_by(csv_file=csv_file).first()
            if history is None:
                return False
            version_ids = session.query(self.Version.id).filter_by(file_id=history.id)
            session.query(self.Row).filter(self.Row.version_id.in_(version_ids)).delete(synchronize_session=False)
            session.query(self.Snapshot).filter_by(file_id=history.id).delete(synchronize_session=False)
            session.query(self.Version).filter_by(file_id=history.id).delete(synchronize_session=False)
            session.delete(history)
        self._return_free_pages()
        return True

    def _write_all(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = self._batch(item)
            lease = item[1]
            self._writing_changes = sum(map(_is_change, batch))
            while not self._write_one(lease, [write for _, _, write in batch]):
                # Stopping ends the retries only after one more attempt: stop() may come in the middle of the wait
                # before the attempt that would have succeeded.
                if self._stopping.is_set():
                    lost = self._writing_changes + sum(map(_is_change, self._drain()))
                    self.log.error("%d changes could not be recorded in the history: %s", lost, self._problem)
                    return
                self._stopping.wait(RETRY_SECONDS)
            for csv_file, _, _ in batch:
                self._done(csv_file)

    def _batch(self, first):
        """``first`` and, if it is a change, the changes queued right behind it under the same lease (at most
        BATCH_WRITES): they are written in one transaction. A folder of files arriving together is recorded at
        the pace of the database's work, not of its commits."""
        batch = [first]
        if not _is_change(first):
            return batch
        with self._queue.mutex:
            waiting = self._queue.queue
            while len(batch) < BATCH_WRITES and waiting and _is_change(waiting[0]) and waiting[0][1] is first[1]:
                batch.append(waiting.popleft())
        return batch

    def _drain(self):
        while True:
            try:
                yield self._queue.get_nowait()
            except queue.Empty:
                return

    def _write_one(self, lease, writes):
        """Run ``writes`` (functions of a session) in one transaction under ``lease``, then report what they
        recorded; a queued function (``_Then``) comes alone. False if the database failed (try again)."""
        if isinstance(writes[0], _Then):
            with self._past_commit():
                try:
                    if lease is None or lease.held:
                        writes[0].function()
                except LeaseLost:
                    pass  # the locks are gone, and the lease with them
            return True
        try:
            with self._writing(lease) as session:
                recorded = []
                for write in writes:
                    recorded.append(write(session))
                    session.flush()  # the next write's queries see this one's rows (the session does not autoflush)
        except LeaseLost:
            # Not a sign that the database works again: a lost lease is found out without touching it.
            self.log.debug("Dropped a write: this runner no longer owns the watcher it was for")
            return True
        except Exception as error:
            if lease is not None and not lease.held:
                # The failure ended the session that held the lease (see runner_locks.PostgresLocks.write): the
                # write is the next owner's to make, now, not after a retry that would hold up this runner's
                # restart of its watchers.
                self.log.debug("Dropped a write whose lease went with the failing session: %s", error)
                return True
            self._problem = str(getattr(error, "message", error))
            self._outage.failed("history", self._problem)
            return False
        self._problem = None
        self._outage.succeeded("history")
        with self._past_commit():
            for record in recorded:
                if record is not None:
                    self._on_recorded(record)
        self._return_free_pages()
        return True

    @contextmanager
    def _past_commit(self):
        """While entered, the recorder prints or runs a queued function: what it wrote is committed (see stop)."""
        self._reporting = True
        try:
            yield
        finally:
            self._reporting = False

    def _writing(self, lease):
        return transaction(self.db, writes=True) if lease is None else lease.locks.write(lease)

    def _return_free_pages(self):
        """Shrink the file after a write that freed pages (a rewritten snapshot). The write is committed
        already, so a failure here only means the pages stay free for the next writes to reuse."""
        try:
            return_free_pages(self.db.engine)
        except Exception as error:
            self.log.debug("Could not return the history database's free pages: %s", error)

    def _write_status(self, session, entries):
        held = [entry for entry in entries if entry[0] is None or entry[0].held]
        files = [entry[1] for entry in held]
        for start in range(0, len(files), 500):
            session.query(self.Status).filter(self.Status.csv_file.in_(files[start:start + 500])).delete(
                synchronize_session=False)
        if held:
            # One executemany, not ORM objects: a runner rewrites all its watchers' rows every CHECKED_SECONDS,
            # and 1,000 objects through the unit of work were most of an idle runner's CPU.
            session.execute(insert(self.Status), [
                {"csv_file": csv_file, "state": state, "checked_at": checked_at, "changed_at": changed_at}
                for _, csv_file, state, checked_at, changed_at in held])
        return None

    def _write_baseline(self, session, csv_file, rows, content):
        """The first content of a file, or a baseline taken again over a recorded content that could not be
        trusted: the latter is a version of its own, so that the history shows the gap."""
        history = session.query(self.File).filter_by(csv_file=csv_file).first()
        if history is None:
            history = self.File(csv_file=csv_file)
            session.add(history)
            self._set_snapshot(session, history, content, rows, 0)
            return None
        version = self.Version(file_id=history.id, seen_at=utc_now(), rows=rows, new_count=0, missing_count=0,
                               patch_start=0, patch_end=0, patch=zlib.compress(b""), event="baseline")
        _in_id_order(session)
        session.add(version)
        session.flush()
        self._set_snapshot(session, history, content, rows, version.id)
        return None

    def _write_change(self, session, record, patch, content):
        history = session.query(self.File).filter_by(csv_file=record["csv_file"]).first()
        first = history is None
        if first:
            # No baseline was recorded: this version's content becomes the first snapshot, below.
            history = self.File(csv_file=record["csv_file"])
            _set_snapshot(history, b"", 0, 0)
            session.add(history)
            session.flush()
        version = self._add_version(session, history, record, patch)
        history.content_hash = content_hash(content)
        history.patched_bytes += len(patch.replacement)
        if first:
            _set_snapshot(history, content, record["rows"], version.id)
        elif history.patched_bytes > history.snapshot_size:
            self._set_snapshot(session, history, content, record["rows"], version.id)
        changed = any(record[name] for name in ("new_rows", "missing_rows", "changed_rows", "columns"))
        return record if changed or record["event"] in ("file_back", "file_added") else None

    def _write_state(self, session, record):
        history = session.query(self.File).filter_by(csv_file=record["csv_file"]).first()
        if history is not None:
            patch = Patch(0, 0, b"")
            if record["event"] == "file_removed":
                patch = Patch(0, len(self._rebuild(session, history)), b"")
                history.content_hash = content_hash(b"")
            self._add_version(session, history, record, patch)
        return record

    def _write_rename(self, session, record):
        history = session.query(self.File).filter_by(csv_file=record["reason"]).first()
        if history is None:
            return None
        displaced = session.query(self.File).filter_by(csv_file=record["csv_file"]).first()
        if displaced is not None:
            until = record["seen_at"].isoformat(timespec="seconds")
            displaced.csv_file = "%s (until %sZ)" % (record["csv_file"], until)
            session.flush()
        history.csv_file = record["csv_file"]
        self._add_version(session, history, record, Patch(0, 0, b""))
        return record

    def _add_version(self, session, history, record, patch):
        """Add the version of ``record`` (see record_change) with the byte ``patch`` and its rows."""
        version = self.Version(file_id=history.id, seen_at=record["seen_at"], rows=record["rows"] or 0,
                               new_count=len(record["new_rows"]), missing_count=len(record["missing_rows"]),
                               changed_count=len(record["changed_rows"]), patch_start=patch.start,
                               patch_end=patch.end, patch=zlib.compress(patch.replacement), event=record["event"],
                               reason=record["reason"])
        _in_id_order(session)
        session.add(version)
        session.flush()
        record["id"] = version.id
        entries = (("columns", [] if record["columns"] is None else [record["columns"]]),
                   ("new", record["new_rows"]), ("missing", record["missing_rows"]),
                   ("changed", record["changed_rows"]))
        batch, size = [], 0
        for change, rows in entries:
            for row in rows:
                text = json.dumps(row, ensure_ascii=False)
                batch.append({"version_id": version.id, "change": change, "row": text})
                size += len(text)
                if size >= ROWS_BATCH_CHARS:
                    session.execute(insert(self.Row), batch)
                    batch, size = [], 0
        if batch:
            session.execute(insert(self.Row), batch)
        return version

    def _set_snapshot(self, session, history, content, rows, version_id):
        """Make ``content`` (at ``version_id``, 0 for the first baseline) the file's snapshot; the one it
        replaces is kept in csv_history_snapshots."""
        if history.snapshot is not None:
            session.add(self.Snapshot(file_id=history.id, version_id=history.snapshot_version,
                                      snapshot=history.snapshot))
        _set_snapshot(history, content, rows, version_id)


def _in_id_order(session):
    """Before a version is added: on PostgreSQL, take the transaction lock that makes versions commit in the
    order of their ids (a sequence hands ids out at insert, and two runners' transactions could commit the
    other way round, so a reader that saw the later id would never see the earlier). SQLite writes one
    transaction at a time already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(%d)" % VERSION_ORDER_LOCK_ID))


def _record(csv_file, event, rows, new_rows=(), missing_rows=(), changed_rows=(), columns=None, reason=None):
    """A version to record, as on_recorded gets it; ``id`` is set once it is added (see _add_version)."""
    return {"id": None, "csv_file": csv_file, "event": event, "new_rows": list(new_rows),
            "missing_rows": list(missing_rows), "changed_rows": list(changed_rows), "columns": columns,
            "reason": reason, "rows": rows, "seen_at": utc_now()}


def _is_change(item):
    """Whether a queued item writes a change, baseline or state of a file (not a status, a queued function or
    the end marker)."""
    return item is not None and item[0] is not None and not isinstance(item[2], _Then)


class _Then:
    """A queued function to run in order with the writes (see History.then)."""

    def __init__(self, function):
        self.function = function


def _set_snapshot(history, content, rows, version_id):
    history.snapshot = zlib.compress(content)
    history.snapshot_rows = rows
    history.snapshot_size = len(content)
    history.snapshot_version = version_id
    history.content_hash = content_hash(content)
    history.patched_bytes = 0
