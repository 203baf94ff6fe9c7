"""Turns watcher signals into lines on stdout, one line per row, flushed at once.

Text lines use the tutorial's words; ``--json`` gives one JSON object per line instead. Watchers report from
their own threads, so writing is serialised by a lock and a line is never split.
"""
import json
import sys
import threading


class Reporter:
    def __init__(self, as_json, on_broken_pipe):
        self.as_json = as_json
        self._on_broken_pipe = on_broken_pipe
        self._lock = threading.Lock()

    def started(self, plugin, csv_file, rows, interval, **kwargs):
        """``watching PATH (N rows, every S s)``: on stdout as text, on stderr with --json."""
        line = "watching %s (%d rows, every %d s)" % (csv_file, rows, interval)
        self._write([line], sys.stderr if self.as_json else sys.stdout)

    def change(self, plugin, csv_file, new_rows, missing_rows, **kwargs):
        """One line per new row, then one per missing row (nothing for a change of bytes only)."""
        if self.as_json:
            lines = [json.dumps({"csv_file": csv_file, "change": change, "row": row}, ensure_ascii=False)
                     for change, rows in (("new", new_rows), ("missing", missing_rows)) for row in rows]
        else:
            lines = ["%s has new row: %s" % (csv_file, row) for row in new_rows]
            lines += ["%s is missing row: %s" % (csv_file, row) for row in missing_rows]
        self._write(lines, sys.stdout)

    def _write(self, lines, stream):
        with self._lock:
            try:
                stream.write("".join(line + "\n" for line in lines))
                stream.flush()
            except BrokenPipeError:
                self._on_broken_pipe()
