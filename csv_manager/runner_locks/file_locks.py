"""Runner locks on SQLite (:class:`FileLocks`): who owns which watcher in the history database's tables, who is
alive in fcntl locks on a file next to it. See the package's docstring.
"""
import fcntl
import os
import struct
import threading
import time
from contextlib import contextmanager

from sqlalchemy import text

from csv_manager.database import transaction
from csv_manager.errors import CsvManagerError
from csv_manager.files import create_private
from csv_manager.runner_locks.leases import STALL_FOREVER, TAKEN, Lease, LeaseLost, Locks, clock, runner_name

#: fcntl's byte offsets in the lock file: a watcher locks the byte at its id, a runner one byte from here on.
RUNNER_SLOTS = 1 << 40
MAX_RUNNERS = 256


class FileLocks(Locks):
    """Ownership kept in the history database's ``csv_runners`` and ``csv_runner_leases`` tables, liveness in
    fcntl locks on ``path``; see the module docstring.

    A runner holds one byte of the lock file (its slot) for as long as its process lives, and writes a heartbeat
    into its ``csv_runners`` row every quarter of its stall bound. A runner is live while its slot is locked by
    its pid and its heartbeat is younger than its bound; the watchers of a runner that is not are free to
    claim. Claiming a watcher raises its lease's ``epoch``, and every write checks the epoch it was made under in
    its own transaction (SQLite writes one transaction at a time), so a runner that wakes after its watchers
    were taken commits nothing more of them.

    POSIX locks belong to the process and are all dropped when it closes any descriptor of the file, so the file
    is opened once, by the runner, and closed only when it stops.
    """

    def __init__(self, database, path, stall_seconds=None):
        super().__init__(stall_seconds)
        self.database = database
        self.path = path
        self._fd = None
        self._slot = None
        self._id = None
        #: {watcher id: leases of it claimed and not released}, changed only together with the lease table, under
        #: _counting: a release (in the recorder's thread) must not free a row that a claim has just counted on.
        self._claims = {}
        self._counting = threading.Lock()
        self._mutex = threading.Lock()

    def join(self):
        create_private(self.path)
        try:
            self._fd = os.open(self.path, os.O_RDWR)
        except OSError as error:
            raise CsvManagerError("Cannot open the runners' lock file %s: %s" % (self.path, error.strerror))
        self._slot = next((slot for slot in range(MAX_RUNNERS) if self._lock(RUNNER_SLOTS + slot)), None)
        if self._slot is None:
            self.close()
            raise CsvManagerError("More than %d runners share %s" % (MAX_RUNNERS, self.path))
        proved = clock()
        with transaction(self.database, writes=True) as session:
            self._forget_runners(session, self._live_runners(session, include_self=False)[1])
            self._id = session.execute(text(
                "INSERT INTO csv_runners (name, slot, pid, stall_seconds, beat_at) "
                "VALUES (:name, :slot, :pid, :stall, :now)"),
                {"name": runner_name(), "slot": self._slot, "pid": os.getpid(),
                 "stall": self.stall_seconds or STALL_FOREVER, "now": time.time()}).lastrowid
        self._proved = proved

    def runners(self):
        with transaction(self.database) as session:
            return len(self._live_runners(session)[0])

    def claim(self, watcher_ids, limit):
        """Claim, in one transaction, watchers with no live owner (raising their epoch) and watchers this runner
        holds already (a watcher restarted before its old lease's release ran): those keep their epoch, so the
        old lease's queued writes still go in, and are counted, so that the old release keeps the new claim."""
        leases = []
        with self._counting, self._writing() as session:
            live, gone = self._live_runners(session)
            self._forget_runners(session, gone)
            current = {watcher_id: (runner_id, epoch) for watcher_id, runner_id, epoch in session.execute(
                text("SELECT watcher_id, runner_id, epoch FROM csv_runner_leases"))}
            for watcher_id in watcher_ids:
                if len(leases) >= limit:
                    break
                runner_id, epoch = current.get(watcher_id, (None, 0))
                if runner_id in live and runner_id != self._id:
                    continue
                if runner_id != self._id:
                    epoch += 1
                    session.execute(text(
                        "INSERT INTO csv_runner_leases (watcher_id, runner_id, epoch) VALUES (:watcher, :runner, "
                        ":epoch) ON CONFLICT (watcher_id) DO UPDATE SET runner_id = :runner, epoch = :epoch"),
                        {"watcher": watcher_id, "runner": self._id, "epoch": epoch})
                leases.append(Lease(self, watcher_id, epoch))
            for lease in leases:
                self._claims[lease.watcher_id] = self._claims.get(lease.watcher_id, 0) + 1
        return leases

    def release(self, watcher_id):
        with self._counting:
            self._claims[watcher_id] -= 1
            if self._claims[watcher_id]:
                return
            del self._claims[watcher_id]
            with self._writing() as session:
                session.execute(text("UPDATE csv_runner_leases SET runner_id = NULL "
                                     "WHERE watcher_id = :watcher AND runner_id = :runner"),
                                {"watcher": watcher_id, "runner": self._id})

    def owners(self, watcher_ids):
        if self._fd is None:
            if not os.path.exists(self.path):
                return {}
            self._fd = os.open(self.path, os.O_RDONLY)
        wanted = set(watcher_ids)
        with transaction(self.database) as session:
            live = self._live_runners(session, include_self=False, stalled=True)[0]
            rows = session.execute(text("SELECT l.watcher_id, r.id, r.name FROM csv_runner_leases l "
                                        "JOIN csv_runners r ON r.id = l.runner_id")).all()
        return {watcher_id: name for watcher_id, runner_id, name in rows if watcher_id in wanted and runner_id in live}

    def check(self):
        if self.lost or self._id is None:
            return not self.lost
        if clock() - self._proved >= (self.stall_seconds or STALL_FOREVER) / 4:
            proved = clock()
            try:
                with transaction(self.database, writes=True) as session:
                    beat = session.execute(text("UPDATE csv_runners SET beat_at = :now WHERE id = :runner"),
                                           {"now": time.time(), "runner": self._id})
                    if beat.rowcount != 1:
                        self.lose(TAKEN)
                        return False
            except CsvManagerError:
                return not self.lost  # lost once the bound passes without a heartbeat
            self._proved = proved
        return not self.lost

    @contextmanager
    def write(self, lease):
        if not lease.held:
            raise LeaseLost()
        with transaction(self.database, writes=True) as session:
            current = session.execute(
                text("SELECT runner_id, epoch FROM csv_runner_leases WHERE watcher_id = :watcher"),
                {"watcher": lease.watcher_id}).one_or_none()
            if current is None or tuple(current) != (self._id, lease.epoch):
                self.lose(TAKEN)
                raise LeaseLost()
            yield session

    def close(self):
        if self._id is not None:
            try:
                with transaction(self.database, writes=True) as session:
                    self._forget_runners(session, [self._id])
            except CsvManagerError:
                pass  # the others see the slot free once the file is closed below
        self._id = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @contextmanager
    def _writing(self):
        """A writing transaction for the lock tables; a failure loses the locks: whether it committed is not
        known, so this runner can no longer tell which watchers are its own."""
        if self.lost:
            raise LeaseLost()
        try:
            with transaction(self.database, writes=True) as session:
                yield session
        except CsvManagerError:
            self.lose("this runner could not update its leases in the history database")
            raise

    def _live_runners(self, session, include_self=True, stalled=False):
        """({ids of live runners}, [ids of runners gone or stalled]) by the ``csv_runners`` rows (see the class
        docstring); with ``stalled``, a runner whose process lives counts as live however old its heartbeat."""
        now = time.time()
        live, gone = set(), []
        for runner_id, slot, pid, stall_seconds, beat_at in session.execute(
                text("SELECT id, slot, pid, stall_seconds, beat_at FROM csv_runners")):
            if runner_id == self._id:
                if include_self:
                    live.add(runner_id)
            elif self._holder(RUNNER_SLOTS + slot) == pid and (stalled or beat_at + stall_seconds > now):
                live.add(runner_id)
            else:
                gone.append(runner_id)
        return live, gone

    def _forget_runners(self, session, runner_ids):
        """Delete the rows of runners ``runner_ids`` and free their leases (their epochs stay, for the fence)."""
        for runner_id in runner_ids:
            session.execute(text("UPDATE csv_runner_leases SET runner_id = NULL WHERE runner_id = :runner"),
                            {"runner": runner_id})
            session.execute(text("DELETE FROM csv_runners WHERE id = :runner"), {"runner": runner_id})

    def _lock(self, offset):
        with self._mutex:
            try:
                fcntl.fcntl(self._fd, fcntl.F_SETLK, _flock(fcntl.F_WRLCK, offset))
                return True
            except OSError:
                return False

    def _holder(self, offset):
        """The pid of the process holding a lock on byte ``offset`` (None if free or ours)."""
        with self._mutex:
            answer = fcntl.fcntl(self._fd, fcntl.F_GETLK, _flock(fcntl.F_WRLCK, offset))
        kind, _, _, _, pid = struct.unpack(FLOCK, answer)
        return None if kind == fcntl.F_UNLCK else pid


#: Linux's struct flock: l_type, l_whence (shorts), l_start, l_len (off_t), l_pid, padded to 32 bytes.
FLOCK = "hhqqi4x"


def _flock(kind, offset):
    return struct.pack(FLOCK, kind, os.SEEK_SET, offset, 1, 0)
