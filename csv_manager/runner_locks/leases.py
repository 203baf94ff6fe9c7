"""A runner's claims on watchers (:class:`Lease`) and the interface of the lock spaces that grant them
(:class:`Locks`), with the one for stores where no other runner can be seen (:class:`SoloLocks`). See the
package's docstring for how the others (file_locks.py, postgres_locks.py) keep ownership.
"""
import logging
import os
import socket
import time
from contextlib import contextmanager

from csv_manager.database import transaction

#: The stall bound recorded for a runner that has none (SoloLocks' processes, csv_watcher_list): never stalled.
STALL_FOREVER = 1 << 30
#: Why a runner's locks were lost, as Share says it on stderr.
GONE = "the database session that proved this runner owns them is gone"
TAKEN = "another runner took them while this one was not answering"
SILENT = "this runner did not answer for over its stall bound of %d s (stopped, suspended, or cut off)"


def clock():
    """Seconds on a clock that runs on while the machine is suspended (a closed laptop lid), where Linux has one."""
    return time.clock_gettime(time.CLOCK_BOOTTIME) if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic()


class LeaseLost(Exception):
    """The runner no longer owns the watcher a write was for."""


class Lease:
    """This runner's claim on watcher ``watcher_id``, valid until released or until its locks are lost;
    ``epoch`` tells this claim from earlier and later ones where the locks need it (FileLocks)."""

    def __init__(self, locks, watcher_id, epoch=None):
        self.locks = locks
        self.watcher_id = watcher_id
        self.epoch = epoch
        self.released = False

    @property
    def held(self):
        return not self.released and not self.locks.lost

    def release(self):
        if not self.released:
            self.released = True
            self.locks.release(self.watcher_id)


def runner_name():
    return "%s:%d" % (socket.gethostname(), os.getpid())


class Locks:
    """The interface; see the module docstring. :attr:`lost` turns True for good when the locks cannot be
    proven held any more (:attr:`lost_reason` says why); the runner then starts over with a new Locks."""

    def __init__(self, stall_seconds=None):
        self.stall_seconds = stall_seconds
        self.lost_reason = None
        #: clock() when the runner last proved itself alive (see check); None before it joined.
        self._proved = None

    @property
    def lost(self):
        if self.lost_reason is None and self._proved is not None and self.stall_seconds is not None \
                and clock() - self._proved > self.stall_seconds:
            self.lose(SILENT % self.stall_seconds)
        return self.lost_reason is not None

    def lose(self, reason):
        """Count the locks as lost for good, for ``reason`` (the first one given stays)."""
        if self.lost_reason is None:
            self.lost_reason = reason

    def join(self):
        """Become a runner (counted by :meth:`runners`)."""

    def runners(self):
        """How many runners are joined, this one included."""
        return 1

    def claim(self, watcher_ids, limit):
        """Claim up to ``limit`` of ``watcher_ids`` that no runner owns; returns their leases."""
        return [Lease(self, watcher_id) for watcher_id in list(watcher_ids)[:limit]]

    def release(self, watcher_id):
        """Give watcher ``watcher_id`` up (through :meth:`Lease.release`, after its writes)."""

    def owners(self, watcher_ids):
        """{watcher id: "host:pid"} for those of ``watcher_ids`` that another process owns."""
        return {}

    def check(self):
        """The heartbeat: prove this runner alive where the others can see it, and set ``lost`` if the locks are
        no longer held; returns whether they are."""
        return not self.lost

    @contextmanager
    def write(self, lease):
        """A session of the history database for a write on behalf of ``lease``: committed only if the lease
        still holds (LeaseLost otherwise)."""
        if not lease.held:
            raise LeaseLost()
        with transaction(self.database, writes=True) as session:
            yield session

    def close(self):
        """Release everything (the runner stops)."""


class SoloLocks(Locks):
    """For databases without a lock this runner can rely on (SQLite in memory, other servers): it owns all."""

    def __init__(self, database):
        super().__init__()
        self.database = database

    def join(self):
        if self.database.engine.dialect.name != "sqlite":
            logging.getLogger(__name__).warning(
                "Runners share watchers on SQLite and PostgreSQL only; on %s this runner assumes it is the only one"
                % self.database.engine.dialect.name)


_warned = set()


def warn_once(message):
    """Log ``message`` as a warning, once per process."""
    if message not in _warned:
        _warned.add(message)
        logging.getLogger(__name__).warning(message)
