"""Turns watcher signals into lines on stdout, one line per row, flushed at once.

Text lines use the tutorial's words; ``--json`` gives one JSON object per line instead::

    /abs/f.csv columns added: ['email']; removed: ['fax']
    /abs/f.csv has new row: {'id': '4', 'price': '3.00'}
    /abs/f.csv is missing row: {'id': '2', 'price': '1.50'}
    /abs/f.csv has changed row id=3: price '1.00' -> '2.00'

    {"at": "2026-11-28T02:59:01.123Z", "csv_file": "/abs/f.csv", "event": "new", "change": "new", "row": {...}}
    {"at": …, "csv_file": …, "event": "changed", "change": "changed", "key": {"id": "3"},
     "changes": {"price": ["1.00", "2.00"]}, "row": {...}}
    {"at": …, "csv_file": …, "event": "columns", "added": ["email"], "removed": ["fax"], "reordered": false,
     "previous": [...], "header": [...]}

``at`` is when the change was found (the ``seen_at`` of its version in the history), ISO 8601 UTC with
milliseconds; ``event`` names what the line tells, ``change`` is kept for consumers of earlier versions. With
``timestamps`` text lines begin with the same time. Watchers report from their own threads, so writing is
serialised by a lock and a line is never split.
"""
import json
import sys
import threading

from csv_manager.plugins.csv_watcher_db_plugin.history import utc_now


class Reporter:
    def __init__(self, as_json, timestamps, on_broken_pipe):
        self.as_json = as_json
        self.timestamps = timestamps
        self._on_broken_pipe = on_broken_pipe
        self._lock = threading.Lock()

    def started(self, plugin, csv_file, rows, interval, **kwargs):
        """``watching PATH (N rows, every S s)``: on stdout as text, on stderr with --json."""
        line = "watching %s (%d rows, every %d s)" % (csv_file, rows, interval)
        if self.timestamps:
            line = "%s %s" % (_at(utc_now()), line)
        self._write([line], sys.stderr if self.as_json else sys.stdout)

    def change(self, plugin, csv_file, new_rows, missing_rows, changed_rows, columns, seen_at, **kwargs):
        """A line for a column change, then one per new, missing and changed row (nothing for a change of bytes
        only)."""
        at = _at(seen_at)
        if self.as_json:
            lines = change_objects(csv_file, new_rows, missing_rows, changed_rows, columns, {"at": at})
            lines = [json.dumps(line, ensure_ascii=False) for line in lines]
        else:
            lines = change_lines(csv_file, new_rows, missing_rows, changed_rows, columns)
            if self.timestamps:
                lines = ["%s %s" % (at, line) for line in lines]
        self._write(lines, sys.stdout)

    def _write(self, lines, stream):
        with self._lock:
            try:
                stream.write("".join(line + "\n" for line in lines))
                stream.flush()
            except BrokenPipeError:
                self._on_broken_pipe()


def change_lines(csv_file, new_rows, missing_rows, changed_rows, columns):
    """The text lines of a change, in the tutorial's words for rows."""
    lines = [] if columns is None else ["%s columns %s" % (csv_file, describe_columns(columns))]
    lines += ["%s has new row: %s" % (csv_file, row) for row in new_rows]
    lines += ["%s is missing row: %s" % (csv_file, row) for row in missing_rows]
    lines += ["%s has changed row %s: %s" % (csv_file, describe_key(row["key"]), describe_changes(row["changes"]))
              for row in changed_rows]
    return lines


def change_objects(csv_file, new_rows, missing_rows, changed_rows, columns, extra):
    """The JSON objects of a change, each beginning with ``extra`` (``at`` live, the version in csv_history)."""
    def line(event, **fields):
        return dict(extra, csv_file=csv_file, event=event, **fields)
    objects = [] if columns is None else [line("columns", **columns)]
    objects += [line(change, change=change, row=row) for change, rows in (("new", new_rows), ("missing", missing_rows))
                for row in rows]
    objects += [line("changed", change="changed", **row) for row in changed_rows]
    return objects


def describe_columns(columns):
    """``added: ['email']; removed: ['fax']; reordered: ['b', 'a']``, the parts that apply."""
    parts = ["%s: %s" % (name, columns[name]) for name in ("added", "removed") if columns[name]]
    if columns["reordered"]:
        parts.append("reordered: %s" % columns["header"])
    return "; ".join(parts) or "changed: %s -> %s" % (columns["previous"], columns["header"])


def describe_key(key):
    return " ".join("%s=%s" % item for item in key.items())


def describe_changes(changes):
    return ", ".join("%s %r -> %r" % (name, old, new) for name, (old, new) in changes.items())


def _at(moment):
    """A naive UTC datetime as ISO 8601 with milliseconds and ``Z``."""
    return moment.isoformat(timespec="milliseconds") + "Z"
