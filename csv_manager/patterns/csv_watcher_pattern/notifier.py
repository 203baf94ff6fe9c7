"""Kernel file notifications (Linux inotify), so that a watcher checks its file the moment a writer is done.

One Notifier serves every watcher of the application: one inotify instance, one thread that sleeps in poll(),
one watch per directory (many watched files in one directory share it). The directory is watched, not the
file, because only the directory sees an atomic replace (a rename over the file), ``sed -i``, an editor's
backup-and-rename or a delete-and-recreate: a watch on the file would follow the old inode away. A watched path
that is a symbolic link is watched in the link's directory and in its target's.

Each event wakes the watchers of the file it names (see CsvWatcher.notify) with one of three facts:

- ``closed``: a writer closed the file after writing to it (IN_CLOSE_WRITE), or a file was moved into place
  (IN_MOVED_TO). What the file holds now is a writer's finished state, if it ends with a whole row.
- ``written``: a writer wrote to it (IN_MODIFY) and has not closed it since: it may be in the middle of a row.
- otherwise the file was truncated, created, deleted, moved away or touched: look soon.

A folder's watcher (see folder.py) is woken, with ``notify(entries)``, when a name in one of its directories is
created, deleted or moved in or out (the folder's files may have changed), or a file it does not watch yet is
written or closed; each entry is (path, closed, written), so that what a file's writer did before the folder
watches the file is known (see CsvWatcher.notify).

Where notifications cannot be had, the watchers rely on their interval (stat polling) alone, and one warning
says why: inotify missing (not Linux) or turned off (``WATCHER_NOTIFICATIONS``), a directory on a network or
FUSE file system (a write from another machine raises no event here), the per-user watch limit
(``fs.inotify.max_user_watches``) reached, or an event queue overflow (then every watcher looks at once).
Where they can be had, the interval stays the safety net for a notification that never comes.

This is a thin ctypes binding of libc's inotify_init1, inotify_add_watch and inotify_rm_watch rather than
watchdog: the events needed are these few; watchdog's observer would add a dependency the tutorial does not
name, a thread per watched directory, and its own event objects to translate back; and the close event, which
is what makes a finished state visible at once, is what matters here.
"""
import collections
import ctypes
import ctypes.util
import errno
import logging
import os
import select
import struct
import sys
import threading
import time

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000

#: Events after which the names in a directory may differ: a folder's watcher looks at it again.
ENTRIES = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO

#: Events after which the file holds what a writer meant it to hold.
CLOSED = IN_CLOSE_WRITE | IN_MOVED_TO
MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
        | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#: struct inotify_event without its name: wd, mask, cookie, len.
EVENT = struct.Struct("iIII")
READ_BYTES = 64 * 1024
#: How often a directory that is gone (or not there yet) is tried again.
RETRY_SECONDS = 1.0

#: statfs f_type of file systems whose files other machines (or a user-space server) may change: inotify sees
#: only the changes made through this kernel.
REMOTE_FILE_SYSTEMS = {
    0x6969: "NFS", 0x517B: "SMB", 0xFF534D42: "CIFS", 0xFE534D42: "SMB2", 0x65735546: "FUSE",
    0x01021997: "9P", 0x00C36400: "Ceph", 0x5346414F: "AFS", 0x47504653: "GPFS", 0x0BD00BD0: "Lustre",
}


class Notifier:
    """Calls ``watcher.notify(closed, written)`` when the kernel reports a change to ``watcher.csv_file``, and
    ``folder.notify(entries)`` when names come or go in a directory given to :meth:`watch_directory`.

    ``watch(watcher)`` and ``unwatch(watcher)`` may be called from any thread; ``start()`` and ``stop()`` run
    and end the reading thread. With ``enabled`` False nothing is watched (and one warning says so).
    """

    def __init__(self, enabled=True):
        self.log = logging.getLogger(__name__)
        self._lock = threading.Lock()
        self._warned = set()
        #: directory -> wd, or None while it cannot be watched; wd -> the directories it stands for.
        self._directories = {}
        self._by_wd = {}
        #: (directory, name) -> the watchers of that file (name None: the folders watching the directory); each
        #: watcher's (directory, name) places; directory -> how many of its names are watched.
        self._names = {}
        self._places = {}
        self._watched_names = collections.Counter()
        #: Directories that are not there yet or went away: tried again every RETRY_SECONDS.
        self._retry = set()
        self._libc = None
        self._fd = None
        self._unavailable = None if enabled else "notifications are turned off (WATCHER_NOTIFICATIONS)"
        if enabled:
            self._open()
        self._stop_read, self._stop_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name="csv_watcher notifier", daemon=True)

    @property
    def available(self):
        return self._fd is not None

    def start(self):
        if self._unavailable is not None:
            self._warn("polling", "Watching by polling every interval: %s", self._unavailable)
        if self.available:
            self._thread.start()

    def stop(self):
        if self._stop_write is None:
            return
        os.write(self._stop_write, b"x")
        if self._thread.ident is not None:
            self._thread.join()
        for fd in (self._fd, self._stop_read, self._stop_write):
            if fd is not None:
                os.close(fd)
        self._fd = self._stop_read = self._stop_write = None

    def watch(self, watcher):
        """Wake ``watcher`` on notifications about its file (nothing happens where there are none)."""
        if not self.available:
            return
        with self._lock:
            for place in _places(watcher.csv_file):
                self._watch_place(watcher, place)

    def watch_directory(self, folder, directory):
        """Call ``folder.notify()`` when a name in ``directory`` is created, deleted or moved. True if
        notifications about it can be had."""
        if not self.available:
            return False
        with self._lock:
            self._watch_place(folder, (directory, None))
            return self._directories[directory] is not None

    def _watch_place(self, watcher, place):
        places = self._places.setdefault(watcher, set())
        if place in places:
            return
        places.add(place)
        if place not in self._names:
            self._names[place] = set()
            self._watched_names[place[0]] += 1
        self._names[place].add(watcher)
        if place[0] not in self._directories:
            self._directories[place[0]] = self._add(place[0])

    def unwatch(self, watcher):
        """Forget ``watcher`` (or folder); a directory with no watched file or folder left is no longer watched."""
        if not self.available:
            return
        with self._lock:
            for place in self._places.pop(watcher, ()):
                self._names[place].discard(watcher)
                if not self._names[place]:
                    del self._names[place]
                    self._watched_names[place[0]] -= 1
                    if not self._watched_names[place[0]]:
                        del self._watched_names[place[0]]
                        self._remove(place[0])

    def _open(self):
        if not sys.platform.startswith("linux"):
            self._unavailable = "file notifications are implemented for Linux (inotify) only"
            return
        try:
            self._libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError) as error:
            self._unavailable = "inotify is not available (%s)" % error
            return
        if fd < 0:
            self._unavailable = "inotify cannot be started: %s" % os.strerror(ctypes.get_errno())
            return
        self._fd = fd

    def _add(self, directory):
        """Watch ``directory``; returns its wd, or None (said once per reason) when it cannot be watched."""
        remote = _remote_file_system(self._libc, directory)
        if remote is not None:
            self._warn(("remote", directory), "%s is on a %s file system, where changes made elsewhere raise no "
                       "notification: its files are checked by polling every interval", directory, remote)
            return None
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), MASK)
        if wd < 0:
            error = ctypes.get_errno()
            if error in (errno.ENOENT, errno.ENOTDIR):
                self._retry.add(directory)
            elif error == errno.ENOSPC:
                self._warn("limit", "The inotify watch limit (fs.inotify.max_user_watches) is reached at %s: "
                           "files in this and further directories are checked by polling every interval; raise "
                           "the limit to have them seen at once", directory)
            else:
                self._warn(("error", error), "Cannot watch %s for notifications (%s): its files are checked by "
                           "polling every interval", directory, os.strerror(error))
            return None
        self._retry.discard(directory)
        self._by_wd.setdefault(wd, set()).add(directory)
        return wd

    def _remove(self, directory):
        wd = self._directories.pop(directory)
        self._retry.discard(directory)
        if wd is None:
            return
        directories = self._by_wd.get(wd, set())
        directories.discard(directory)
        if not directories:
            self._by_wd.pop(wd, None)
            self._libc.inotify_rm_watch(self._fd, wd)

    def _warn(self, reason, message, *args):
        if reason not in self._warned:
            self._warned.add(reason)
            self.log.warning(message, *args)

    def _run(self):
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._stop_read, select.POLLIN)
        retry_at = time.monotonic() + RETRY_SECONDS
        while True:
            with self._lock:
                timeout = max(0.0, retry_at - time.monotonic()) * 1000 if self._retry else None
            ready = {fd for fd, _ in poller.poll(timeout)}
            if self._stop_read in ready:
                return
            woken = {}
            if self._fd in ready:
                try:
                    data = os.read(self._fd, READ_BYTES)
                except BlockingIOError:
                    data = b""
                with self._lock:
                    self._collect(data, woken)
            if time.monotonic() >= retry_at:
                retry_at = time.monotonic() + RETRY_SECONDS
                with self._lock:
                    self._try_again(woken)
            for watcher, facts in woken.items():
                watcher.notify(*facts)

    def _collect(self, data, woken):
        """Add to ``woken`` (watcher -> (closed, written)) the watchers that the events in ``data`` concern, in
        order: the last event about a file decides whether it was closed, and a write after that whether it was
        written; and (folder -> ()) the folders whose directories' names changed."""
        offset = 0
        while offset < len(data):
            wd, mask, _, length = EVENT.unpack_from(data, offset)
            name = os.fsdecode(data[offset + EVENT.size:offset + EVENT.size + length].rstrip(b"\0"))
            offset += EVENT.size + length
            if mask & IN_Q_OVERFLOW:
                self._warn("overflow", "The inotify event queue overflowed: every watched file is checked now")
                woken.update(_look_at((watcher, name) for (_, name), watchers in self._names.items()
                                      for watcher in watchers))
                continue
            directories = self._by_wd.get(wd, set())
            if mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF):
                self._lose(wd, directories, woken)
                continue
            for directory in directories:
                for watcher in self._names.get((directory, name), ()):
                    closed = bool(mask & CLOSED)
                    woken[watcher] = closed, not closed and bool(mask & IN_MODIFY or woken.get(watcher, _LOOK)[1])
                folders = self._names.get((directory, None), ())
                if folders and (mask & ENTRIES or (directory, name) not in self._names):
                    entry = (os.path.join(directory, name), bool(mask & CLOSED), bool(mask & IN_MODIFY))
                    for folder in folders:
                        woken.setdefault(folder, ([],))[0].append(entry)

    def _lose(self, wd, directories, woken):
        """A watched directory was deleted or moved: look at its files now and watch it again once it is back
        at its path."""
        for directory in directories:
            self._directories[directory] = None
            self._retry.add(directory)
            woken.update(_look_at(self._watchers_in(directory)))
        if self._by_wd.pop(wd, None) is not None:
            self._libc.inotify_rm_watch(self._fd, wd)

    def _try_again(self, woken):
        for directory in list(self._retry):
            if self._directories.get(directory, 0) is not None:
                self._retry.discard(directory)
                continue
            self._directories[directory] = self._add(directory)
            if self._directories[directory] is not None:
                woken.update(_look_at(self._watchers_in(directory)))

    def _watchers_in(self, directory):
        """(watcher, name) of every watcher and folder (name None) of ``directory``."""
        return [(watcher, name) for (place, name), watchers in self._names.items() if place == directory
                for watcher in watchers]


#: The facts for a file that was touched, neither closed nor written: just look.
_LOOK = (False, False)


def _look_at(watchers):
    """``woken`` entries that make ``watchers`` (files and folders) look again."""
    return ((watcher, () if name is None else _LOOK) for watcher, name in watchers)


def _places(csv_file):
    """(directory, name) pairs whose directory events concern ``csv_file``: its own, and its target's when it is
    a symbolic link."""
    places = {os.path.split(csv_file)}
    places.add(os.path.split(os.path.realpath(csv_file)))
    return sorted(places)


def _remote_file_system(libc, directory):
    """The name of the network or FUSE file system ``directory`` is on, or None (also when it cannot be told)."""
    buffer = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on x86-64; f_type comes first
    if libc.statfs(os.fsencode(directory), buffer) != 0:
        return None
    return REMOTE_FILE_SYSTEMS.get(ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF)
