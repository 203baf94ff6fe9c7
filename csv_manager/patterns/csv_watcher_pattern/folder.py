"""A folder watcher: every file in a directory whose path matches a pattern, the files that arrive later too.

A folder is one watcher (one row of ``csv_watchers``, one owner among the runners), run by one thread. Each
matching file gets a file watcher of its own (a :class:`.watcher.CsvWatcher` without a thread: the folder's
thread runs its checks), so each file is read, finished and reported by the same rules as a watched file.

What the folder adds is the coming and going of files, found by listing its directories (names and inode
numbers, no ``stat``) whenever the kernel says a name came or went there (see notifier.py) and on every tick:

- a file that appears while the folder is watched (created, copied, moved in, renamed to match) is
  ``file_added``: its watcher starts from empty content, so its rows are reported as new rows, once its writer
  has finished (closed the file, or left it unchanged for the quiet period; a copy that a writer still holds
  open is held, see watcher.py): a file still being copied is never reported half;
- files present when a runner first watches the folder are a silent baseline, as a watched file's first read is;
  a runner that resumes the folder reports the files that arrived (``file_added``), changed or went away
  (``file_removed``) meanwhile;
- a file that goes away is ``file_removed``, once (without row lines); a file that was never finished goes
  away unreported;
- a name that goes away while a new name with the same inode appears is a rename, ``file_renamed``, and the
  file's history goes with it; a rotation (``data.csv`` to ``data-1.csv``, then a new ``data.csv``) is a rename
  and an added file.

Where notifications cover the folder, its listing and its files' stats are a safety net taken every
``SAFETY_SECONDS`` (or the interval, if longer): a folder of 10,000 files costs no stat a second. Where they
do not (a network file system, notifications off), everything is polled every interval.

A folder whose directory is missing or unreadable keeps its files' watchers as they are (an unmounted disk is
not 10,000 removals) and tells its state once, as a file's watcher does.
"""
import heapq
import itertools
import logging
import os
import random
import threading
import time

from csv_manager.errors import CsvManagerError
from csv_manager.patterns.csv_watcher_pattern.file_pattern import FilePattern, list_files
from csv_manager.patterns.csv_watcher_pattern.file_reads import GONE, Problem
from csv_manager.patterns.csv_watcher_pattern.threaded import Threaded
from csv_manager.patterns.csv_watcher_pattern.watcher import SETTLE_SECONDS

#: How often a folder seen through notifications is listed and its files stat'ed anyway.
SAFETY_SECONDS = 60.0


class FolderWatcher(Threaded):
    """Watches the files under ``directory`` that match ``pattern`` (a string, see FilePattern).

    :param new_member: ``new_member(path, wake, on_gone)`` makes the (unstarted, threadless) CsvWatcher of one
        file, reporting through the signals of the folder's plugin.
    :param on_started: ``on_started(folder, files)`` once the first listing is done.
    :param on_marked: ``on_marked(folder)`` when a runner first watches the folder (see :meth:`restore`).
    :param on_removed: ``on_removed(path)``: a file that was reported is gone.
    :param on_renamed: ``on_renamed(previous, path, rows)``: a file that was reported has a new name.
    :param on_state: ``on_state(folder, state, reason)``: the directory went missing or unreadable, or is back.

    The thread is the groundwork thread ``thread``; :meth:`start` runs it, :meth:`stop` ends it.
    """

    def __init__(self, directory, pattern, interval, new_member, on_started, on_marked, on_removed, on_renamed,
                 on_state, key=(), dialect=None, clock=time.monotonic):
        self.csv_file = directory
        self.pattern = pattern
        self.interval = interval
        self.key = tuple(key)
        self.dialect = dialect
        self.log = logging.getLogger(__name__)
        self.checked_at = None
        self.changed_at = None
        self._matcher = FilePattern(pattern)
        self._new_member = new_member
        self._on_started = on_started
        self._on_marked = on_marked
        self._on_removed = on_removed
        self._on_renamed = on_renamed
        self._on_state = on_state
        self._clock = clock
        self._notifier = None
        self._ticker = None
        self._prepare = None
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        #: Guarded by _lock: when to list the folder again, the files' watchers that asked to be checked, and what
        #: notifications told of files not watched yet ({path: (closed, written)}).
        self._list_at = None
        self._woken = set()
        self._told = {}
        #: Only the folder's thread touches these: {path: file watcher}, {path: inode}, the paths with a
        #: history, the directories given to the notifier, and the check schedule (heap, {watcher: time}).
        self._members = {}
        self._inodes = {}
        self._recorded = set()
        self._directories = set()
        self._covered = False
        self._due = []
        self._scheduled = {}
        self._order = itertools.count()
        self._problem = None
        self._resumed = False
        self._listed = False

    @property
    def files(self):
        """How many files the folder holds now (as last listed)."""
        return len(self._members)

    @property
    def tick_seconds(self):
        return max(self.interval, SAFETY_SECONDS) if self._covered else self.interval

    @property
    def state(self):
        return "watching" if self._problem is None else self._problem.state

    def restore(self, marker, recorded):
        """Resume the folder: ``marker`` is what :meth:`on_marked` recorded when a runner first watched it (None
        if none did), ``recorded`` the paths under it whose history goes on (not removed); those the pattern
        does not take in (it was changed) are left alone. Call before start."""
        self._resumed = marker is not None
        self._recorded = {path for path in recorded if self._matcher.matches(os.path.relpath(path, self.csv_file))}

    def start(self, notifier, ticker, prepare):
        """Start the thread, listing the folder at once (see :meth:`attach`)."""
        self.attach(notifier, ticker, prepare)
        self._run_thread()
        ticker.add(self)

    def attach(self, notifier, ticker, prepare):
        """Use ``notifier`` and ``ticker`` (see notifier.py and ticker.py) for the files' watchers, and call
        ``prepare(watcher)`` before one with a history starts (to restore it); the first :meth:`run_due` lists
        the folder. Without :meth:`start`, a test drives the folder with run_due on its own clock."""
        self._notifier, self._ticker, self._prepare = notifier, ticker, prepare
        self._list_at = self._clock()

    def stop(self):
        self._stopped.set()
        self._wake.set()
        for member in list(self._members.values()):
            member.stop()
            if self._notifier is not None:
                self._notifier.unwatch(member)

    def tick(self):
        """Called by the ticker: list the folder now."""
        self.checked_at = time.time()
        self._list_soon(0)

    def notify(self, entries=()):
        """Called by the notifier: names came or went in one of the folder's directories, or files it does not
        watch yet were written or closed. ``entries`` are (path, closed, written), which the file's watcher is
        told once it is made (see CsvWatcher.notify): a file moved in or closed by its writer is finished at
        once, one written and not closed is held."""
        entries = [entry for entry in entries if self._matcher.matches(os.path.relpath(entry[0], self.csv_file))]
        with self._lock:
            for path, closed, written in entries:
                if closed or written:
                    self._told[path] = (closed, written or not closed and self._told.get(path, (False, False))[1])
        self._list_soon(SETTLE_SECONDS)

    def _list_soon(self, seconds):
        at = self._clock() + seconds
        with self._lock:
            if self._list_at is None or at < self._list_at:
                self._list_at = at
        self._wake.set()

    def _wake_member(self, member):
        with self._lock:
            self._woken.add(member)
        self._wake.set()

    def _gone(self, member):
        """A file's watcher found its file gone: the listing tells whether it was removed or renamed."""
        self._list_soon(0)

    def watch(self, plugin):
        """The thread's function: list the folder when asked to, and check each file when it is due."""
        while True:
            self._wake.wait(self._seconds_to_wait())
            if self._stopped.is_set():
                return self.stop()  # also the watchers of files added while stop() ran
            self._wake.clear()
            try:
                self.run_due()
            except Exception:
                self.log.exception("Unexpected error while watching the folder %s", self.csv_file)

    def _seconds_to_wait(self):
        waits = [self._due[0][0]] if self._due else []
        with self._lock:
            if self._list_at is not None:
                waits.append(self._list_at)
        return max(0.0, min(waits) - self._clock()) if waits else None

    def run_due(self):
        """One pass of the thread: list the folder if that is due, then check each file whose check is due."""
        with self._lock:
            listing = self._list_at is not None and self._list_at <= self._clock()
            if listing:
                self._list_at = None
            woken, self._woken = self._woken, set()
        if listing:
            self._list()
        for member in woken:
            self._check(member)
        while self._due and self._due[0][0] <= self._clock() and not self._stopped.is_set():
            at, _, member = heapq.heappop(self._due)
            if self._scheduled.get(member) != at:
                continue
            del self._scheduled[member]
            self._check(member)

    def _check(self, member):
        """Run ``member``'s check if it is due, and schedule the next. A file whose path holds another inode than
        the folder last listed is listed first: it may have been renamed away (and another file put in its
        place), and then its watcher must follow it, not read the newcomer as a change of it."""
        if self._members.get(member.csv_file) is not member:
            return
        if _inode(member.csv_file) != self._inodes[member.csv_file]:
            self._list()
            if self._members.get(member.csv_file) is not member:
                return
        self._schedule(member, member.check_if_due())

    def _schedule(self, member, seconds):
        """Check ``member`` again in ``seconds`` (None: when it is woken)."""
        if seconds is None:
            return
        at = self._clock() + seconds
        if member in self._scheduled and self._scheduled[member] <= at:
            return
        self._scheduled[member] = at
        heapq.heappush(self._due, (at, next(self._order), member))

    def _list(self):
        try:
            found, directories = list_files(self.csv_file, self._matcher)
        except FileNotFoundError:
            return self._report_problem(GONE)
        except OSError as error:
            return self._report_problem(Problem("unreadable", "cannot be listed: %s" % error.strerror))
        if self._problem is not None:
            self.log.warning("%s is readable again", self.csv_file)
            self._problem = None
            self._on_state(self, "back", None)
        self._watch_directories(directories)
        with self._lock:
            self._told = {path: told for path, told in self._told.items() if path in found}
        first = not self._listed
        self._listed = True
        # A path that is gone, or holds another inode now, may have been renamed: to the path its inode is at.
        left = {inode: path for path, inode in self._inodes.items() if found.get(path) != inode}
        renames = [(left[inode], path) for path, inode in found.items() if left.get(inode, path) != path]
        moving = [(self._members[previous], path) for previous, path in renames]
        for previous, _ in renames:
            self._detach(previous)
        for _, path in renames:
            if path in self._members:
                self._remove(path)  # renamed over a watched file
        for (member, path), (previous, _) in zip(moving, renames):
            self._attach(member, previous, path, found[path])
        for path in [path for path in self._members if path not in found]:
            self._remove(path)
        for path, inode in found.items():
            if path in self._members:
                self._inodes[path] = inode  # replaced in place: its watcher reports the new content
            else:
                self._add(path, inode, added=self._resumed or not first)
        if first:
            for member in list(self._members.values()):
                member.tick()  # the baselines are taken before the folder is said to be watched
                self._check(member)
            for path in sorted(self._recorded - set(found)):
                self._on_removed(path)  # went away while no runner watched the folder
            self._recorded &= set(found)
            if not self._resumed:
                self._on_marked(self)
            self._on_started(self, len(self._members))

    def _watch_directories(self, directories):
        new = [directory for directory in directories if directory not in self._directories]
        if not new:
            return
        covered = [self._notifier.watch_directory(self, directory) for directory in new]
        self._covered = (self._covered or not self._directories) and all(covered)
        self._directories.update(new)

    def _add(self, path, inode, added):
        if self._stopped.is_set():
            return
        member = self._new_member(path, wake=self._wake_member, on_gone=self._gone)
        member.tick_seconds = self.tick_seconds
        if path in self._recorded:
            try:
                self._prepare(member)
            except CsvManagerError as error:
                self.log.error("%s; its watcher starts with the next listing", error)
                return
        else:
            member.added = added
            if added:
                member.restore(b"")
        self._members[path] = member
        self._inodes[path] = inode
        self._notifier.watch(member)
        with self._lock:
            told = self._told.pop(path, None)
        if told is not None:
            member.notify(*told)
        member.tick()  # its first look, now
        # At a random phase of its safety poll: the files of a folder listed at once would otherwise all be
        # stat'ed in one burst every SAFETY_SECONDS.
        self._ticker.add(member, first=random.uniform(0, member.tick_seconds))

    def _remove(self, path):
        member = self._members.pop(path)
        del self._inodes[path]
        self._scheduled.pop(member, None)
        member.stop()
        self._notifier.unwatch(member)
        if self._reported(path, member):
            self._recorded.discard(path)
            self.changed_at = time.time()
            self._on_removed(path)

    def _detach(self, previous):
        """Take the watcher of ``previous`` out of the folder: its file was renamed (see _attach)."""
        member = self._members.pop(previous)
        del self._inodes[previous]
        self._notifier.unwatch(member)

    def _attach(self, member, previous, path, inode):
        """Put the watcher ``member`` of ``previous`` back at ``path``, where its file now is, and tell the
        rename if the file was reported under its previous name."""
        reported = self._reported(previous, member)
        member.csv_file = path
        self._members[path] = member
        self._inodes[path] = inode
        self._notifier.watch(member)
        if reported:
            self._recorded.discard(previous)
            self._recorded.add(path)
            self.changed_at = time.time()
            self._on_renamed(previous, path, member.rows)
        self._wake_member(member)

    def _reported(self, path, member):
        """Whether the file at ``path`` has a history: restored from one, or reported since."""
        return path in self._recorded or member.changed_at is not None

    def _report_problem(self, problem):
        if problem != self._problem:
            self.log.warning("%s %s", self.csv_file, problem.message)
            self._problem = problem
            self._on_state(self, *problem)


def _inode(path):
    try:
        return os.stat(path).st_ino
    except OSError:
        return None
