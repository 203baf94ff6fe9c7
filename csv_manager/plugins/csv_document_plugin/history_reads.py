"""Reading the history: what csv_history, the web view, hooks and a resuming watcher ask of it.

A version's number (1, 2, 3 ... in its file's history) counts the versions csv_history shows (see
shown_versions); its ``id`` is unique across files and grows in commit order, so it is a reader's cursor (see
after).
"""
import json
import logging
import zlib

from sqlalchemy import func

from csv_manager.database import transaction
from csv_manager.errors import CsvManagerError
from csv_manager.patterns.csv_watcher_pattern.csv_diff import Patch
from csv_manager.plugins.csv_document_plugin.version_writes import content_hash

#: The most versions csv_history --after reads at a time.
AFTER_LIMIT = 1000
#: The most files whose last numbered version after() remembers.
NUMBERED_FILES = 10000


class HistoryReads:
    """Reads the history database ``db`` (a groundwork-database Database) with ``models`` (see models.py)."""

    def __init__(self, db, models):
        self.db = db
        self.models = models
        self.File, self.Version, self.Row, self.Status, self.Snapshot = models
        self.log = logging.getLogger(__name__)
        #: {file id: (id, number) of the newest version after() numbered}, see _number_before.
        self._numbered = {}

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

    def statuses(self):
        """{csv_file: (state, checked_at, changed_at)} of every watcher whose status a runner wrote."""
        columns = (self.Status.csv_file, self.Status.state, self.Status.checked_at, self.Status.changed_at)
        with transaction(self.db) as session:
            return {csv_file: status for csv_file, *status in session.query(*columns)}

    def last_content(self, csv_file):
        """The content last recorded for ``csv_file``, or None if there is none or it is damaged."""
        with transaction(self.db) as session:
            history = self.File.of(session, csv_file)
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
            history = self.File.of(session, csv_file)
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
            history = self.File.of(session, csv_file)
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

    def shown(self, history):
        """The filter of the versions of the file ``history`` that csv_history shows (see shown_versions)."""
        return self.Version.file_id == history.id, self.shown_versions()

    def shown_versions(self):
        """The filter of the versions csv_history shows (and numbers), of any file: those with rows or columns
        changed, and those of another event than a change (a new baseline, a file state)."""
        counts = self.Version.new_count + self.Version.missing_count + self.Version.changed_count
        return (counts > 0) | (self.Version.event != "change")
