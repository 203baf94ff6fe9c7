"""Turns watcher signals into lines on stdout, one line per row, flushed at once.

Text lines use the tutorial's words; ``--json`` gives one JSON object per line instead::

    {"at": "2026-11-28T02:59:01.123Z", "csv_file": "/abs/f.csv", "event": "new", "change": "new", "row": {...}}

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

    def change(self, plugin, csv_file, new_rows, missing_rows, seen_at, **kwargs):
        """One line per new row, then one per missing row (nothing for a change of bytes only)."""
        at = _at(seen_at)
        if self.as_json:
            lines = [json.dumps({"at": at, "csv_file": csv_file, "event": change, "change": change, "row": row},
                                ensure_ascii=False)
                     for change, rows in (("new", new_rows), ("missing", missing_rows)) for row in rows]
        else:
            lines = ["%s has new row: %s" % (csv_file, row) for row in new_rows]
            lines += ["%s is missing row: %s" % (csv_file, row) for row in missing_rows]
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


def _at(moment):
    """A naive UTC datetime as ISO 8601 with milliseconds and ``Z``."""
    return moment.isoformat(timespec="milliseconds") + "Z"
