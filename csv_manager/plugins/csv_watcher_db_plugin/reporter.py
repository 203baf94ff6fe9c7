"""Turns watcher signals into events on stdout, one line each, flushed at once.

Every line csv_watcher_run prints on stdout is an event. Text lines use the tutorial's words for rows; ``--json``
gives one JSON object per line instead, all of one shape: ``at`` (when it happened, ISO 8601 UTC with
milliseconds: for a change, the ``seen_at`` of its version in the history), ``csv_file``, ``event``, and the
event's own fields (see EVENTS). ``change`` repeats ``event`` on row lines for consumers of earlier versions.
With ``timestamps`` text lines begin with the same time. Watchers report from their own threads, so writing is
serialised by a lock and a line is never split.
"""
import itertools
import json
import sys
import threading

from csv_manager.database import utc_now

#: Characters of a line written at a time: a row with a 100 MB field is not copied again as one encoded line.
PIECE = 1 << 20

#: Each event's text form and its JSON fields besides ``at``, ``csv_file`` and ``event``. README.rst lists the
#: same events; tests/test_events.py checks every line against it.
EVENTS = {
    "watching": ("watching PATH (N rows, every S s)", {"rows": int, "interval": int}),
    "watching_folder": ("watching FOLDER (N files matching PATTERN, every S s)",
                        {"files": int, "pattern": str, "interval": int}),
    "new": ("PATH has new row: ROW", {"id": int, "change": str, "row": dict}),
    "missing": ("PATH is missing row: ROW", {"id": int, "change": str, "row": dict}),
    "changed": ("PATH has changed row KEY: FIELD 'OLD' -> 'NEW', ...",
                {"id": int, "change": str, "key": dict, "changes": dict, "row": dict}),
    "columns": ("PATH columns added: [...]; removed: [...]; reordered: [...]",
                {"id": int, "added": list, "removed": list, "reordered": bool, "previous": list, "header": list}),
    "file_missing": ("PATH is missing; waiting for it to come back", {"id": int, "reason": str}),
    "file_empty": ("PATH is empty; waiting for content", {"id": int, "reason": str}),
    "file_unreadable": ("PATH cannot be read: REASON (or is not a regular file)", {"id": int, "reason": str}),
    "file_invalid": ("PATH is not valid CSV (REASON) / holds bytes that are not ENCODING", {"id": int, "reason": str}),
    "file_back": ("PATH is back (N rows)", {"id": int, "rows": int}),
    "file_added": ("PATH was added (N rows)", {"id": int, "rows": int}),
    "file_removed": ("PATH was removed", {"id": int, "reason": str}),
    "file_renamed": ("PATH was renamed from PREVIOUS", {"id": int, "from": str, "to": str}),
    "watcher_added": ("watcher added for PATH (every S s)", {"interval": int}),
    "watcher_removed": ("watcher removed for PATH", {}),
    "watcher_interval_changed": ("watcher for PATH now checks every S s (was P s)",
                                 {"interval": int, "previous": int}),
}


class Reporter:
    def __init__(self, as_json, timestamps, on_broken_pipe):
        self.as_json = as_json
        self.timestamps = timestamps
        self._on_broken_pipe = on_broken_pipe
        self._lock = threading.Lock()

    def started(self, plugin, csv_file, rows, interval, files=None, pattern=None, **kwargs):
        """``watching PATH (N rows, every S s)``, once the watcher's first read is recorded; for a folder
        (``files`` not None) ``watching FOLDER (N files matching PATTERN, every S s)``."""
        if files is not None:
            self._print(utc_now(), csv_file, [(
                ["watching %s (%d files matching %s, every %d s)" % (csv_file, files, pattern, interval)],
                {"event": "watching_folder", "files": files, "pattern": pattern, "interval": interval})])
            return
        self._print(utc_now(), csv_file, [(["watching %s (%d rows, every %d s)" % (csv_file, rows, interval)],
                                           {"event": "watching", "rows": rows, "interval": interval})])

    def change(self, plugin, **record):
        """The events of a recorded version (the ``csv_history_recorded`` signal's arguments)."""
        self._print(record["seen_at"], record["csv_file"], record_events(record))

    def watchers(self, added, removed, changed):
        """Watchers added and removed (``{csv_file: interval}``) and intervals changed (``{csv_file: (previous,
        interval)}``) by other processes."""
        events = []
        for csv_file, interval in added.items():
            events.append((csv_file, "watcher added for %s (every %d s)" % (csv_file, interval),
                           {"event": "watcher_added", "interval": interval}))
        for csv_file in removed:
            events.append((csv_file, "watcher removed for %s" % csv_file, {"event": "watcher_removed"}))
        for csv_file, (previous, interval) in changed.items():
            events.append((csv_file, "watcher for %s now checks every %d s (was %d s)" % (csv_file, interval, previous),
                           {"event": "watcher_interval_changed", "interval": interval, "previous": previous}))
        moment = utc_now()
        for csv_file, text, fields in events:
            self._print(moment, csv_file, [([text], fields)])

    def _print(self, moment, csv_file, events):
        """Write the lines of ``events`` (text, JSON fields) together, made one at a time: a version's lines
        are never interleaved with another's, and only one of them is held at once."""
        at = _at(moment)
        with self._lock:
            try:
                for text, fields in events:
                    if self.as_json:
                        text = [json.dumps(dict({"at": at, "csv_file": csv_file}, **fields), ensure_ascii=False)]
                    elif self.timestamps:
                        text = itertools.chain([at, " "], text)
                    _write_line(text)
                sys.stdout.flush()
            except BrokenPipeError:
                self._on_broken_pipe()


def _write_line(pieces):
    """Write the str ``pieces`` and a line end to stdout, a long piece PIECE characters at a time."""
    for piece in pieces:
        for start in range(0, len(piece), PIECE):
            sys.stdout.write(piece[start:start + PIECE])
    sys.stdout.write("\n")


def record_events(record):
    """(text, JSON fields) of each event of a recorded version (the arguments of ``csv_history_recorded``): the
    file's state, then a column change, then one per new, missing and changed row. Each event's fields end
    with the version's ``id`` (its place in the history, a reader's cursor) when it has one.

    A text is an iterable of str pieces (``"".join`` them for the line), made as it is read: a row's text is as
    long as the row, so a row with a 100 MB field is never copied whole into its line, and JSON output never
    makes it."""
    cursor = {} if record.get("id") is None else {"id": record["id"]}
    for text, fields in _events(record):
        yield text, dict(fields, **cursor)


def _events(record):
    csv_file, event = record["csv_file"], record["event"]
    if event == "file_back":
        yield ["%s is back (%d rows)" % (csv_file, record["rows"])], {"event": event, "rows": record["rows"]}
    elif event == "file_added":
        yield ["%s was added (%d rows)" % (csv_file, record["rows"])], {"event": event, "rows": record["rows"]}
    elif event == "file_renamed":
        yield (["%s was renamed from %s" % (csv_file, record["reason"])],
               {"event": event, "from": record["reason"], "to": csv_file})
    elif event.startswith("file_"):
        yield ["%s %s" % (csv_file, record["reason"])], {"event": event, "reason": record["reason"]}
    columns = record["columns"]
    if columns is not None:
        yield ["%s columns %s" % (csv_file, describe_columns(columns))], dict({"event": "columns"}, **columns)
    for change, words in (("new", "has new row"), ("missing", "is missing row")):
        for row in record[change + "_rows"]:
            yield _row_text("%s %s: " % (csv_file, words), row), {"event": change, "change": change, "row": row}
    for row in record["changed_rows"]:
        yield (_changes_text("%s has changed row %s: " % (csv_file, describe_key(row["key"])), row["changes"]),
               dict({"event": "changed", "change": "changed"}, **row))


def _row_text(prefix, row):
    """``prefix`` and ``repr(row)``, the repr a key and a value at a time."""
    yield prefix + "{"
    for index, (name, value) in enumerate(row.items()):
        yield "%s%r: " % (", " if index else "", name)
        yield repr(value)
    yield "}"


def _changes_text(prefix, changes):
    """``prefix`` and ``FIELD 'OLD' -> 'NEW'`` for each of ``changes``, joined by commas."""
    yield prefix
    for index, (name, (old, new)) in enumerate(changes.items()):
        yield "%s%s " % (", " if index else "", name)
        yield repr(old)
        yield " -> "
        yield repr(new)


def describe_columns(columns):
    """``added: ['email']; removed: ['fax']; reordered: ['b', 'a']``, the parts that apply."""
    parts = ["%s: %s" % (name, columns[name]) for name in ("added", "removed") if columns[name]]
    if columns["reordered"]:
        parts.append("reordered: %s" % columns["header"])
    return "; ".join(parts) or "changed: %s -> %s" % (columns["previous"], columns["header"])


def describe_key(key):
    return " ".join("%s=%s" % item for item in key.items())


def _at(moment):
    """A naive UTC datetime as ISO 8601 with milliseconds and ``Z``."""
    return moment.isoformat(timespec="milliseconds") + "Z"
