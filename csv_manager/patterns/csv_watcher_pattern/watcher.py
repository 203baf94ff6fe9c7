"""One watcher: a groundwork thread that checks one CSV file when its ticker finds the file changed.

A tick costs one ``os.stat`` while the file is unchanged (see :mod:`.ticker`). When the stat changes the file
is read and diffed against the last good content (see :mod:`.csv_diff`). Problems (file gone, unreadable, not
UTF-8, empty, malformed, header changed) are logged once when they start, not on every tick; the last good
content stays the baseline, so once the file is back the next report is the difference against it.

A last line without its newline may be half-written: it is held back until a tick sees the file unchanged. A
file modified within ``RACY_SECONDS`` of being read is read again on the next tick even if its stat looks
unchanged, because file systems keep mtimes at a coarse granularity and a same-size rewrite could hide.
"""
import csv
import logging
import os
import stat
import threading
import time

from csv_manager.patterns.csv_watcher_pattern.csv_diff import (
    HeaderChanged, complete_length, diff, read_header, split_records)

RACY_SECONDS = 2
JOIN_TIMEOUT_SECONDS = 5


class CsvWatcher:
    """Watches ``csv_file`` and reports through three callbacks, each given the watcher first:

    - ``on_started(watcher)``: once, at the first good read (``watcher.rows`` is the row count);
    - ``on_baseline(watcher, content)``: ``content`` is a new baseline, compared with nothing (the first read
      of a file with no restored content, or a file whose header changed);
    - ``on_change(watcher, change, content)``: the bytes changed; ``change`` holds the new and missing rows
      (possibly none, for a re-quoted or moved row) and the patch from the previous content to ``content``.

    The loop runs in the groundwork thread ``thread`` (a :class:`groundwork.patterns.gw_threads_pattern.Thread`)
    once :meth:`start` is called, and checks whenever :meth:`tick` wakes it; :meth:`stop` ends it within one
    check.
    """

    def __init__(self, csv_file, interval, on_started, on_baseline, on_change):
        self.csv_file = csv_file
        self.interval = interval
        self.thread = None
        self.rows = None
        self.log = logging.getLogger(__name__)
        self._on_started = on_started
        self._on_baseline = on_baseline
        self._on_change = on_change
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._content = None
        self._announced = False
        self._stat_key = None
        self._recheck = False
        self._problem = None

    def restore(self, content, rows):
        """Start from recorded ``content`` (with ``rows`` rows) instead of a silent baseline: the first check
        then reports what changed since. Call before :meth:`start`."""
        self._content, self.rows = content, rows

    @property
    def started(self):
        return self.thread is not None and self.thread.thread.ident is not None

    @property
    def stopped(self):
        return self._stopped.is_set()

    def start(self):
        """Start the thread; it checks when :meth:`tick` wakes it, the first time to take the baseline."""
        self.thread.thread.daemon = True
        self.thread.run()

    def stop(self):
        """Ask the loop to end after the current check; see :meth:`join`."""
        self._stopped.set()
        self._wake.set()

    def join(self):
        """Wait for the stopped loop to end; returns at once if it never started."""
        if self.started:
            self.thread.thread.join(JOIN_TIMEOUT_SECONDS)

    def tick(self):
        """Called every ``interval`` seconds by the ticker: wake the thread if a check could find something.

        This is the whole cost of an unchanged file: one os.stat.
        """
        if self._recheck or self._stat_key is None or self._stat_key != _stat_key(self.csv_file):
            self._wake.set()

    def watch(self, plugin):
        """The thread's function: check each time the ticker wakes it, until stopped."""
        while True:
            self._wake.wait()
            if self._stopped.is_set():
                return
            self._wake.clear()
            try:
                self.check()
            except Exception:
                self.log.exception("Unexpected error while checking %s", self.csv_file)

    def check(self):
        """Look at the file once; report a baseline or a change, or log a problem once."""
        read_at = time.time_ns()
        try:
            status = os.stat(self.csv_file)
        except FileNotFoundError:
            return self._report_problem("is missing; waiting for it to come back")
        except OSError as error:
            return self._report_problem("cannot be checked: %s" % error.strerror)
        key = _key(status)
        if key == self._stat_key and not self._recheck:
            return None
        if not stat.S_ISREG(status.st_mode):
            return self._report_problem("is not a regular file")
        settled = key == self._stat_key
        self._stat_key = key
        self._recheck = status.st_mtime_ns > read_at - RACY_SECONDS * 10 ** 9
        try:
            with open(self.csv_file, "rb") as csv_stream:
                data = csv_stream.read()
        except OSError as error:
            self._recheck = True
            return self._report_problem("cannot be read: %s" % error.strerror)
        if not data:
            return self._report_problem("is empty; waiting for content")
        if self._content is None:
            return self._take_baseline(data)
        return self._compare(data, settled)

    def _take_baseline(self, data):
        try:
            data.decode("utf-8")
            read_header(data)
            rows = len(split_records(data)) - 1
        except (UnicodeDecodeError, csv.Error) as error:
            return self._report_problem(_unparsable(error))
        self._content, self.rows = data, rows
        self._clear_problem()
        self._on_baseline(self, data)
        self._announce()

    def _compare(self, data, settled):
        if not settled:
            complete = complete_length(data)
            if complete < len(data):
                self.log.debug("holding back the unfinished last line of %s", self.csv_file)
                self._recheck = True
                data = data[:complete]
        if data == self._content:
            self._clear_problem()
            return self._announce()
        try:
            change = diff(self._content, data, self.rows)
        except HeaderChanged as error:
            self.log.warning("%s: %s; its rows are compared with the new header from now on",
                             self.csv_file, error)
            return self._take_baseline(data)
        except (UnicodeDecodeError, csv.Error) as error:
            return self._report_problem(_unparsable(error))
        self._content, self.rows = data, change.rows
        self._clear_problem()
        self._announce()
        self._on_change(self, change, data)

    def _announce(self):
        if not self._announced:
            self._announced = True
            self._on_started(self)

    def _report_problem(self, problem):
        if problem != self._problem:
            self.log.warning("%s %s", self.csv_file, problem)
            self._problem = problem

    def _clear_problem(self):
        if self._problem is not None:
            self.log.warning("%s is readable again", self.csv_file)
            self._problem = None


def _key(status):
    """What identifies a version of a file without reading it: device, inode, size and mtime."""
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


def _stat_key(path):
    try:
        return _key(os.stat(path))
    except OSError:
        return None


def _unparsable(error):
    if isinstance(error, UnicodeDecodeError):
        return "holds bytes that are not UTF-8; waiting for valid content"
    return "is not valid CSV (%s); waiting for valid content" % error
