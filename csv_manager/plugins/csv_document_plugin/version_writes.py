"""What recording a version writes: the version and its rows, the file's snapshot and hash, statuses. Each
write is a function of a session, run by the recorder (recorder.py) in its transaction; it returns the record
to report (see new_record) or None.

The last recorded content is the snapshot with the later patches applied, checked against the stored hash. The
snapshot is rewritten only when the patches since it add up to more than its own size, so storage grows with
what changed: an append of 10 rows stores those 10 rows and their bytes, not a copy of the file.
"""
import hashlib
import json
import zlib

from sqlalchemy import insert, text

from csv_manager.database import utc_now
from csv_manager.patterns.csv_watcher_pattern.csv_diff import Patch

#: JSON characters of rows inserted at a time: a version's rows are never all held as JSON at once (with a
#: 100 MB field, each copy counts).
ROWS_BATCH_CHARS = 1 << 20
#: The PostgreSQL advisory lock that orders version ids (see in_id_order).
VERSION_ORDER_LOCK_ID = 0x63737676


def content_hash(content):
    return hashlib.blake2b(content, digest_size=16).hexdigest()


def new_record(csv_file, event, rows, new_rows=(), missing_rows=(), changed_rows=(), columns=None, reason=None):
    """A version to record, as on_recorded gets it; ``id`` is set once it is added (see VersionWrites)."""
    return {"id": None, "csv_file": csv_file, "event": event, "new_rows": list(new_rows),
            "missing_rows": list(missing_rows), "changed_rows": list(changed_rows), "columns": columns,
            "reason": reason, "rows": rows, "seen_at": utc_now()}


class VersionWrites:
    """The writes of versions, snapshots and statuses with ``models`` (see models.py); ``rebuild(session,
    history)`` gives a file's recorded content (see HistoryReads)."""

    def __init__(self, models, rebuild):
        self.File, self.Version, self.Row, self.Status, self.Snapshot = models
        self._rebuild = rebuild

    def status(self, session, entries):
        """Replace the status rows of the (lease, csv_file, state, checked_at, changed_at) ``entries`` whose
        lease still holds."""
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

    def baseline(self, session, csv_file, rows, content):
        """The first content of a file, or a baseline taken again over a recorded content that could not be
        trusted: the latter is a version of its own, so that the history shows the gap."""
        history = self.File.of(session, csv_file)
        if history is None:
            history = self.File(csv_file=csv_file)
            session.add(history)
            self._replace_snapshot(session, history, content, rows, 0)
            return None
        version = self.Version(file_id=history.id, seen_at=utc_now(), rows=rows, new_count=0, missing_count=0,
                               patch_start=0, patch_end=0, patch=zlib.compress(b""), event="baseline")
        in_id_order(session)
        session.add(version)
        session.flush()
        self._replace_snapshot(session, history, content, rows, version.id)
        return None

    def change(self, session, record, patch, content):
        history = self.File.of(session, record["csv_file"])
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
            self._replace_snapshot(session, history, content, record["rows"], version.id)
        changed = any(record[name] for name in ("new_rows", "missing_rows", "changed_rows", "columns"))
        return record if changed or record["event"] in ("file_back", "file_added") else None

    def state(self, session, record):
        history = self.File.of(session, record["csv_file"])
        if history is not None:
            patch = Patch(0, 0, b"")
            if record["event"] == "file_removed":
                patch = Patch(0, len(self._rebuild(session, history)), b"")
                history.content_hash = content_hash(b"")
            self._add_version(session, history, record, patch)
        return record

    def rename(self, session, record):
        history = self.File.of(session, record["reason"])
        if history is None:
            return None
        displaced = self.File.of(session, record["csv_file"])
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
        in_id_order(session)
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

    def _replace_snapshot(self, session, history, content, rows, version_id):
        """Make ``content`` (at ``version_id``, 0 for the first baseline) the file's snapshot; the one it
        replaces is kept in csv_history_snapshots."""
        if history.snapshot is not None:
            session.add(self.Snapshot(file_id=history.id, version_id=history.snapshot_version,
                                      snapshot=history.snapshot))
        _set_snapshot(history, content, rows, version_id)


def in_id_order(session):
    """Before a version is added: on PostgreSQL, take the transaction lock that makes versions commit in the
    order of their ids (a sequence hands ids out at insert, and two runners' transactions could commit the
    other way round, so a reader that saw the later id would never see the earlier). SQLite writes one
    transaction at a time already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(%d)" % VERSION_ORDER_LOCK_ID))


def _set_snapshot(history, content, rows, version_id):
    history.snapshot = zlib.compress(content)
    history.snapshot_rows = rows
    history.snapshot_size = len(content)
    history.snapshot_version = version_id
    history.content_hash = content_hash(content)
    history.patched_bytes = 0
