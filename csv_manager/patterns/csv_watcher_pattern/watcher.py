"""One watcher: a groundwork thread that checks one CSV file when a notification or its ticker says it changed.

The kernel's notifications (see :mod:`.notifier`) wake the thread the moment a writer writes or closes the file;
the ticker (see :mod:`.ticker`) is the safety net, every ``interval`` seconds, and costs one ``os.stat`` while
the file is unchanged. A woken thread reads the file and compares it with the last finished version (see
:mod:`.csv_diff`). Writes wake it after a settle of ``SETTLE_SECONDS`` (so a burst of writes is one look, and a
writer that keeps the file open is looked at at least that often); a close wakes it at once.

Only finished states are reported or become a baseline; a writer's intermediate states never are:

- an append of records to a version whose last record was finished, when the new last record is finished too
  (the bytes end with a line end outside quotes), is finished at once, and so is a first read that ends that
  way (an append to nothing);
- a state seen right after its writer closed the file (or moved it into place), unchanged while it was read,
  whose last record is finished, is finished at once: the writer says it is done;
- any other new state (a last line without its line end, a rewrite still open, a file that shrank, emptied,
  went missing or cannot be parsed) is finished once it has stayed unchanged for ``quiet_seconds``: a later
  check finds the same stat (device, inode, size, mtime and ctime) and the same bytes. Until then it is pending
  and the watcher's thread wakes for it when the quiet period ends, whatever the interval.

So a row written in two halves within the quiet period is reported once, whole, even when each half is
written and closed on its own; a slow rewrite is reported once, as its net effect, when its writer closes the
file; two writes that each close the file are two reports; a stable file without a final newline is complete
after the quiet period. Problems (file gone, unreadable, not UTF-8, empty, malformed) are logged once when they
are finished states; the last good version stays the baseline, so once the file is back the next report is the
difference against it.

Where notifications show that a writer wrote the file and has not closed it since, the quiet period is not
enough: a writer holding the file open may pause longer in the middle of a row. Then a state whose last row is
unfinished (and, for a file new to a watched folder, any state: it is still being copied) is held until the
row ends, the writer closes the file, or ``WRITER_HOLD_SECONDS`` pass without a change. Where there are no
notifications, the quiet period alone decides.

A file changed within ``RACY_SECONDS`` of being read is read again on the next tick even if its stat looks
unchanged, because file systems keep times at a coarse granularity and a same-size rewrite could hide.

A watcher of a folder's file (see :mod:`.folder`) has no thread of its own: its folder's thread runs its
checks, woken through ``wake``.
"""
import csv
import logging
import os
import stat
import threading
import time
from dataclasses import dataclass

from csv_manager.patterns.csv_watcher_pattern.csv_diff import diff
from csv_manager.patterns.csv_watcher_pattern.dialect import DEFAULT, delimiter_name, suggested_delimiter
from csv_manager.patterns.csv_watcher_pattern.file_reads import (
    EMPTY, GONE, Problem, read_against, stat_key, stat_key_of, unparsable)
from csv_manager.patterns.csv_watcher_pattern.records import LINE_ENDS
from csv_manager.patterns.csv_watcher_pattern.version import read
from csv_manager.patterns.csv_watcher_pattern.keys import MISSING_COLUMNS
from csv_manager.patterns.csv_watcher_pattern.threaded import Threaded

RACY_SECONDS = 2
#: How long a state that could be a writer's intermediate one must stay unchanged to count as finished.
QUIET_SECONDS = 2.0
#: After a write notification, how long to wait for more before looking (a close does not wait).
SETTLE_SECONDS = 0.05
#: How long a state that a writer still holding the file open may finish is held past the quiet period.
WRITER_HOLD_SECONDS = 60.0
#: The stat key of a missing file: a state like any other, finished once it has stayed for the quiet period.
MISSING = "missing"


@dataclass
class Pending:
    """A state of the file seen and not finished yet: its stat key and bytes, when it was first seen, and
    whether the wait for it was logged."""

    key: object
    data: bytes
    since: float
    said: bool = False


class CsvWatcher(Threaded):
    """Watches ``csv_file`` and reports through three callbacks, each given the watcher first:

    - ``on_started(watcher)``: once, at the first finished read (``watcher.rows`` is the row count);
    - ``on_baseline(watcher, content)``: ``content`` is a new baseline, compared with nothing (the first read
      of a file with no restored content, or restored content that cannot be parsed);
    - ``on_change(watcher, change, content)``: the bytes changed; ``change`` holds the new and missing rows
      (possibly none, for a re-quoted or moved row), the rows matched by ``key`` (see keys.py), how the columns
      changed, the patch from the previous content to ``content``, and ``back`` when the file was missing or
      unusable just before;
    - ``on_state(watcher, state, reason)``, if given: the file is in the finished problem ``state``
      (``missing``, ``empty``, ``unreadable`` or ``invalid``; ``reason`` says why), or ``back`` (reason None)
      with the content it had before the problem (content that differs comes as a change with ``back``).

    The file is read in ``dialect`` (dialect.Dialect: delimiter and encoding); ``key`` is a tuple of column
    names, empty for none.

    The loop runs in the groundwork thread ``thread`` (a :class:`groundwork.patterns.gw_threads_pattern.Thread`)
    once :meth:`start` is called, and checks whenever :meth:`tick` or :meth:`notify` wakes it or a pending
    state's quiet period ends; :meth:`stop` ends it within one check. ``clock`` (seconds, monotonic) is
    replaceable for tests.

    A folder's watcher drives its files' watchers itself: it gives each a ``wake(watcher)`` to call instead of
    waking a thread, and runs :meth:`check_if_due`; ``on_gone(watcher)`` is called instead of reporting the
    file missing (the folder tells a removal), and ``added`` makes the first change a ``file_added``.
    """

    def __init__(self, csv_file, interval, on_started, on_baseline, on_change, quiet_seconds=QUIET_SECONDS,
                 clock=time.monotonic, key=(), dialect=DEFAULT, on_state=None, wake=None, on_gone=None):
        self.csv_file = csv_file
        self.interval = interval
        #: Seconds between two ticks: the interval, or a folder's longer safety poll (see folder.py).
        self.tick_seconds = interval
        #: True for a file that appeared in a watched folder, until its first finished state is reported.
        self.added = False
        self.key = tuple(key)
        self.dialect = dialect
        self.quiet_seconds = quiet_seconds
        self.log = logging.getLogger(__name__)
        self._on_started = on_started
        self._on_baseline = on_baseline
        self._on_change = on_change
        self._on_state = on_state or (lambda watcher, state, reason: None)
        self._clock = clock
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._wake_up = wake or (lambda watcher: self._wake.set())
        self._on_gone = on_gone
        #: Guards the facts notifications leave for the thread: when to look, whether the file was closed by its
        #: writer since the last look, and whether it was written and not closed since (see WRITER_HOLD_SECONDS).
        self._notified = threading.Lock()
        self._look_at = None
        self._closed = False
        self._writing = False
        self._version = None
        self._restored = None
        self._announced = False
        self._stat_key = None
        self._recheck = False
        self._pending = None
        self._problem = None
        self._unmatched = set()
        #: Wall-clock times (time.time()) of the last tick and of the last finished change or baseline.
        self.checked_at = None
        self.changed_at = None

    def restore(self, content):
        """Start from recorded ``content`` instead of a silent baseline: the first check then reports what
        changed since. Call before :meth:`start`."""
        self._restored = content

    @property
    def rows(self):
        """The row count of the last finished version (None before the first)."""
        return None if self._version is None else self._version.rows

    def start(self):
        """Start the thread; it checks when :meth:`tick` wakes it, the first time to take the baseline."""
        self._run_thread()

    def stop(self):
        """Ask the loop to end after the current check; see :meth:`join`."""
        self._stopped.set()
        self._wake.set()

    @property
    def state(self):
        """``watching``, or the finished problem state: ``missing``, ``empty``, ``unreadable`` or ``invalid``."""
        problem = self._problem
        return "watching" if problem is None else problem.state

    def tick(self):
        """Called every ``interval`` seconds by the ticker: wake the thread if a check could find something.

        This is the whole cost of an unchanged file: one os.stat.
        """
        self.checked_at = time.time()
        if self._recheck or self._stat_key is None or self._stat_key != stat_key_of(self.csv_file):
            self._look(self._clock())

    def notify(self, closed, written=False):
        """Called by the notifier: the file changed, ``closed`` if by a writer that closed it (or moved it into
        place) since, else ``written`` if a writer wrote to it (and has not closed it since). A close is looked
        at at once, a write after SETTLE_SECONDS."""
        now = self._clock()
        with self._notified:
            self._closed = closed
            self._writing = not closed and (written or self._writing)
        self._look(now if closed else now + SETTLE_SECONDS)

    def _look(self, at):
        with self._notified:
            if self._look_at is None or at < self._look_at:
                self._look_at = at
        self._wake_up(self)

    def watch(self, plugin):
        """The thread's function: check each time a look is due or a pending state may be finished."""
        while True:
            self._wake.wait(self._seconds_to_wait())
            if self._stopped.is_set():
                return
            self._wake.clear()
            self.check_if_due()

    def check_if_due(self):
        """Check once if a look is due or the pending state may be finished now; returns the seconds until the
        next is (None for no time set)."""
        if self._seconds_to_wait() == 0:
            with self._notified:
                self._look_at = None
            try:
                self.check()
            except Exception:
                self.log.exception("Unexpected error while checking %s", self.csv_file)
        return self._seconds_to_wait()

    def _seconds_to_wait(self):
        """Seconds until the next look is due or the pending state's quiet period ends; None for neither."""
        waits = [self.pending_seconds()]
        with self._notified:
            if self._look_at is not None:
                waits.append(max(0.0, self._look_at - self._clock()))
        waits = [wait for wait in waits if wait is not None]
        return min(waits) if waits else None

    def pending_seconds(self):
        """Seconds until the pending state's quiet period ends; None when nothing is pending."""
        if self._pending is None:
            return None
        return max(0.0, self._pending.since + self._settle_seconds(self._pending.data) - self._clock())

    def _settle_seconds(self, data):
        """How long the state ``data`` must stay unchanged to be finished: the quiet period, or
        WRITER_HOLD_SECONDS while a writer that may finish it holds the file open (see the module)."""
        if self._writing and data is not None and (self._first_added() or not data.endswith(LINE_ENDS)):
            return max(self.quiet_seconds, WRITER_HOLD_SECONDS)
        return self.quiet_seconds

    def _first_added(self):
        """True while an added file has no reported content: any state of it may be a copy in progress."""
        return self.added and (self._version is None or not self._version.data)

    def check(self):
        """Look at the file once; report a finished baseline or change, or log a finished problem once."""
        now = self._clock()
        with self._notified:
            closed, self._closed = self._closed, False
        try:
            status = os.stat(self.csv_file)
        except FileNotFoundError:
            if self._on_gone is not None:
                return self._on_gone(self)
            return self._problem_state(MISSING, None, now, GONE)
        except OSError as error:
            return self._problem_state(("stat", error.errno), None, now,
                                       Problem("unreadable", "cannot be checked: %s" % error.strerror))
        key = stat_key(status)
        if key == self._stat_key and not self._recheck and not closed and self.pending_seconds() != 0:
            return None
        if not stat.S_ISREG(status.st_mode):
            return self._problem_state(key, None, now, Problem("unreadable", "is not a regular file"))
        self._stat_key = key
        self._recheck = status.st_ctime_ns > time.time_ns() - RACY_SECONDS * 10 ** 9
        try:
            with open(self.csv_file, "rb") as csv_stream:
                data = read_against(csv_stream, None if self._version is None else self._version.data)
        except OSError as error:
            self._recheck = True
            return self._problem_state(("read", error.errno), None, now,
                                       Problem("unreadable", "cannot be read: %s" % error.strerror))
        if closed and stat_key_of(self.csv_file) != key:
            closed, self._recheck = False, True  # written again while read: not the state its writer closed
        if self._version is None and self._restored is not None:
            self._restore_version()
        if self._version is not None and data == self._version.data:
            self._pending = None
            if self._clear_problem():
                self._on_state(self, "back", None)
            return self._announce()
        finished = self._observe(key, data, now)
        if not data:
            return self._report_problem(EMPTY) if finished else self._waiting()
        if not finished and not closed and (self._first_added() or not self._may_be_finished_append(data)):
            return self._waiting()
        try:
            if self._version is None:
                change, version = None, read(data, self.dialect)
            else:
                change, version = diff(self._version, data, self.key)
        except (UnicodeDecodeError, csv.Error) as error:
            return self._report_problem(Problem("invalid", unparsable(error, self.dialect))) if finished else None
        if finished or version.terminated:
            return self._accept(change, version)
        return self._waiting()

    def _may_be_finished_append(self, data):
        """True when ``data`` ends with a line end and only adds records to the last version (there is none, or
        its last record was finished and ``data`` extends it): then it is finished at once if its own last
        record is. Bytes appended to an unfinished last record change that row, so they wait like an edit."""
        if not data.endswith(LINE_ENDS):
            return False
        version = self._version
        return version is None or (version.terminated and data.startswith(version.data))

    def _observe(self, key, data, now):
        """Note the state (stat key and bytes) seen now; True once it has stayed the same for the quiet period."""
        if self._pending is not None and self._pending.key == key and self._pending.data == data:
            return now - self._pending.since >= self._settle_seconds(data)
        self._pending = Pending(key, data, now)
        return self._settle_seconds(data) <= 0

    def _waiting(self):
        """Log, once per pending state, that it is waited for."""
        if not self._pending.said:
            self._pending.said = True
            self.log.debug("%s may be in the middle of a write; waiting until it stays unchanged for %s s",
                           self.csv_file, self._settle_seconds(self._pending.data))

    def _problem_state(self, key, data, now, problem):
        """A state that is a problem, not content: logged once it is finished."""
        self._stat_key = None
        if problem == self._problem:
            self._pending = None
        elif self._observe(key, data, now):
            self._report_problem(problem)

    def _restore_version(self):
        content, self._restored = self._restored, None
        try:
            self._version = read(content, self.dialect)
        except (UnicodeDecodeError, csv.Error) as error:
            self.log.error("The recorded content of %s cannot be parsed (%s); taking a new baseline",
                           self.csv_file, error)

    def _accept(self, change, version):
        previous, self._version = self._version, version
        self.changed_at = time.time()
        self._pending = None
        back = self._clear_problem()
        # The first finished read is announced after a baseline is taken, before a change is reported.
        if previous is None:
            self._hint_delimiter(version.header)
        if change is None:
            self._on_baseline(self, version.data)
            self._announce()
            if back:
                self._on_state(self, "back", None)
        else:
            self._announce()
            self._warn_unmatched(change.unmatched)
            change.back = back
            change.added, self.added = self.added, False
            self._on_change(self, change, version.data)

    def _hint_delimiter(self, header):
        delimiter = suggested_delimiter(header, self.dialect)
        if delimiter is not None:
            self.log.warning("%s looks %s-separated: its header is one column, %r; to read its columns: csv_manager "
                             "csv_watcher_update %s --delimiter %r", self.csv_file, delimiter_name(delimiter),
                             header[0], self.csv_file, delimiter_name(delimiter))

    def _warn_unmatched(self, reasons):
        """Warn once per reason that rows could not be matched by the key."""
        for unmatched in reasons:
            if unmatched.reason in self._unmatched:
                continue
            self._unmatched.add(unmatched.reason)
            if unmatched.reason == MISSING_COLUMNS:
                self.log.warning("%s: the key column %s is not in the header; rows are compared without the key",
                                 self.csv_file, ", ".join(map(repr, unmatched.detail)))
            else:
                self.log.warning("%s: the key %s is on more than one row; such rows are reported as new and "
                                 "missing, not as changed", self.csv_file,
                                 " ".join("%s=%s" % item for item in unmatched.detail.items()))

    def _announce(self):
        if not self._announced:
            self._announced = True
            self._on_started(self)

    def _report_problem(self, problem):
        self._pending = None
        if problem != self._problem:
            self.log.warning("%s %s", self.csv_file, problem.message)
            self._problem = problem
            self._on_state(self, *problem)

    def _clear_problem(self):
        """End the problem state, if any; True if there was one."""
        if self._problem is None:
            return False
        self.log.warning("%s is readable again", self.csv_file)
        self._problem = None
        return True
