"""Which runner owns which watcher: locks that the database server or the operating system hold for a live
runner only, and drop the moment it is gone.

A runner (one ``csv_watcher_run`` process) joins the history database's lock space, then claims watchers by
their id. Only the holder of a watcher's lock reads its file, prints and records; the history is where
ownership matters, so the locks live with the history database:

- PostgreSQL (:class:`PostgresLocks`): session-level advisory locks on a connection the runner keeps for the
  purpose. The server releases them when that session ends, whether the runner exits, is killed, or its session
  is terminated. A runner that stops answering (stopped, paused, stuck) loses them too: the session carries
  ``idle_session_timeout`` (and ``idle_in_transaction_session_timeout``) of the stall bound, and the runner's
  poll uses it every second as its heartbeat, so the server ends the session of a runner silent for longer.
  The runner also writes its history on that same session, so a runner whose session is gone cannot commit
  anything: its writes fail, are dropped, and the next owner reports those changes from the recorded content
  instead.
- SQLite (:class:`FileLocks`): POSIX byte-range locks (fcntl) on a file next to the history database, one byte
  per watcher and one per runner. The kernel releases them when the process dies, which is also when its
  writes stop.

A :class:`Lease` is one claim of one watcher. Writes go through :meth:`Locks.write` with the lease that asked for
them, and raise :class:`LeaseLost` once it no longer holds.
"""
import fcntl
import logging
import os
import socket
import struct
import threading
import zlib
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

from csv_manager.database import database_error, sqlite_file, transaction
from csv_manager.errors import CsvManagerError
from csv_manager.files import create_private

#: fcntl's byte offsets in the lock file: a watcher locks the byte at its id, a runner one byte from here on.
RUNNER_SLOTS = 1 << 40
MAX_RUNNERS = 256
#: Close a network-cut session on the server within about tcp_keepalives_idle + interval * count seconds, so
#: its watchers are free for the other runners, instead of after the operating system's two hours.
KEEPALIVES = {"tcp_keepalives_idle": 5, "tcp_keepalives_interval": 2, "tcp_keepalives_count": 3}


class LeaseLost(Exception):
    """The runner no longer owns the watcher a write was for."""


class Lease:
    """This runner's claim on watcher ``watcher_id``, valid until released or until its locks are lost."""

    def __init__(self, locks, watcher_id):
        self.locks = locks
        self.watcher_id = watcher_id
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


def locks_for(database, stall_seconds=None):
    """The lock space of the history ``database`` (a groundwork-database Database), not joined yet; a runner
    that shows no sign of life for ``stall_seconds`` loses its locks where the database can see to it."""
    dialect = database.engine.dialect.name
    if dialect == "postgresql":
        return PostgresLocks(database, stall_seconds)
    if dialect == "sqlite" and sqlite_file(database.database_url):
        return FileLocks(database, sqlite_file(database.database_url) + "-runners")
    return SoloLocks(database)


class Locks:
    """The interface; see the module docstring. ``lost`` turns True for good when the locks cannot be proven
    held any more; the runner then starts over with a new Locks."""

    lost = False

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
        """Set ``lost`` if the locks are no longer held; returns whether they are."""
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
        self.database = database

    def join(self):
        if self.database.engine.dialect.name != "sqlite":
            logging.getLogger(__name__).warning(
                "Runners share watchers on SQLite and PostgreSQL only; on %s this runner assumes it is the only one"
                % self.database.engine.dialect.name)


class FileLocks(Locks):
    """fcntl locks on ``path``; see the module docstring.

    POSIX locks belong to the process and are all dropped when it closes any descriptor of the file, so the file
    is opened once, by the runner, and closed only when it stops.
    """

    def __init__(self, database, path):
        self.database = database
        self.path = path
        self._fd = None
        self._mutex = threading.Lock()

    def join(self):
        create_private(self.path)
        try:
            self._fd = os.open(self.path, os.O_RDWR)
        except OSError as error:
            raise CsvManagerError("Cannot open the runners' lock file %s: %s" % (self.path, error.strerror))
        for slot in range(MAX_RUNNERS):
            if self._lock(RUNNER_SLOTS + slot, fcntl.F_WRLCK):
                return
        self.close()
        raise CsvManagerError("More than %d runners share %s" % (MAX_RUNNERS, self.path))

    def runners(self):
        return 1 + sum(1 for slot in range(MAX_RUNNERS) if self._holder(RUNNER_SLOTS + slot) is not None)

    def claim(self, watcher_ids, limit):
        leases = []
        for watcher_id in watcher_ids:
            if len(leases) >= limit:
                break
            if self._lock(watcher_id, fcntl.F_WRLCK):
                leases.append(Lease(self, watcher_id))
        return leases

    def release(self, watcher_id):
        self._lock(watcher_id, fcntl.F_UNLCK)

    def owners(self, watcher_ids):
        if self._fd is None:
            if not os.path.exists(self.path):
                return {}
            self._fd = os.open(self.path, os.O_RDONLY)
        host = socket.gethostname()
        holders = ((watcher_id, self._holder(watcher_id)) for watcher_id in watcher_ids)
        return {watcher_id: "%s:%d" % (host, pid) for watcher_id, pid in holders if pid is not None}

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _lock(self, offset, kind):
        with self._mutex:
            try:
                fcntl.fcntl(self._fd, fcntl.F_SETLK, _flock(kind, offset))
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


class PostgresLocks(Locks):
    """Session-level advisory locks on a connection of the runner's own; see the module docstring.

    Keys are pairs: a namespace (a hash of the database and schema, since advisory locks are per database and
    several csv_manager schemas may share one) and the watcher id, 0 standing for "a runner is here" (taken
    shared by every runner, so counting its holders counts the runners).
    """

    def __init__(self, database, stall_seconds=None):
        self.database = database
        self.stall_seconds = stall_seconds
        self.lost = False
        self._connection = None
        self._backend_pid = None
        self._namespace = None
        self._mutex = threading.Lock()

    def join(self):
        engine = self.database.engine
        try:
            self._connection = engine.connect()
            with self._connection.begin():
                self._backend_pid, self._namespace = self._identify(self._connection)
                for setting, value in KEEPALIVES.items():
                    self._connection.exec_driver_sql("SET %s = %d" % (setting, value))
                self._end_when_silent(self._connection)
                self._connection.execute(text("SELECT set_config('application_name', :name, false)"),
                                         {"name": "csv_manager %s" % runner_name()})
                self._execute("SELECT pg_advisory_lock_shared(:namespace, 0)")
        except Exception as error:
            self.close()
            raise database_error(self.database.database_url, error) from error

    def runners(self):
        return max(1, self._scalar(
            "SELECT count(*) FROM pg_locks WHERE %s AND objid::bigint = 0" % _OUR_ADVISORY_LOCKS))

    def _end_when_silent(self, connection):
        """Have the server end this session, and with it the locks, once the runner has sent nothing for
        ``stall_seconds`` (PostgreSQL 14 and later; before, only a runner that is gone loses its watchers)."""
        if self.stall_seconds is None:
            return
        if int(connection.exec_driver_sql("SHOW server_version_num").scalar()) < 140000:
            _warn_once("PostgreSQL before 14 cannot end the session of a runner that stopped answering: its "
                       "watchers go to the others only once it is gone")
            return
        for setting in ("idle_session_timeout", "idle_in_transaction_session_timeout"):
            connection.exec_driver_sql("SET %s = %d" % (setting, self.stall_seconds * 1000))

    def claim(self, watcher_ids, limit):
        """Try the ids nobody held a moment ago, ``limit`` at a time, each batch in one round trip."""
        taken = set(self._owned_ids())
        free = [watcher_id for watcher_id in watcher_ids if watcher_id not in taken]
        claimed = []
        while free and len(claimed) < limit:
            batch, free = free[:limit - len(claimed)], free[limit - len(claimed):]
            claimed += [row[0] for row in self._rows(
                "SELECT id FROM unnest(CAST(:ids AS integer[])) AS id WHERE pg_try_advisory_lock(:namespace, id)",
                ids=batch)]
        return [Lease(self, watcher_id) for watcher_id in claimed]

    def release(self, watcher_id):
        if not self.lost:
            self._scalar("SELECT pg_advisory_unlock(:namespace, :id)", id=watcher_id)

    def owners(self, watcher_ids):
        with self.database.engine.connect() as connection:
            with connection.begin():
                _, namespace = self._identify(connection)
                rows = connection.execute(text(
                    "SELECT l.objid::bigint, a.application_name FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE %s AND l.objid::bigint <> 0"
                    % _OUR_ADVISORY_LOCKS.replace("locktype", "l.locktype")), {"namespace": namespace})
                return {watcher_id: name.replace("csv_manager ", "", 1) for watcher_id, name in rows}

    def check(self):
        if not self.lost:
            try:
                self._scalar("SELECT 1")
            except (LeaseLost, CsvManagerError):
                pass  # _rows has found out whether the session is still ours
        return not self.lost

    @contextmanager
    def write(self, lease):
        with self._mutex:
            if not lease.held:
                raise LeaseLost()
            session = Session(bind=self._connection, autoflush=False)
            try:
                with session.begin():
                    self._prove_session(session.connection())
                    yield session
            except LeaseLost:
                raise
            except Exception as error:
                self._notice_loss()
                raise database_error(self.database.database_url, error) from error
            finally:
                session.close()

    def close(self):
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:
                pass  # the session is gone already, and with it the locks
            self._connection = None
        self.lost = True

    def _owned_ids(self):
        return [row[0] for row in self._rows(
            "SELECT objid::bigint FROM pg_locks WHERE %s AND objid::bigint <> 0" % _OUR_ADVISORY_LOCKS)]

    def _identify(self, connection):
        """(backend pid, lock namespace) of ``connection``."""
        pid, database, schema = connection.execute(
            text("SELECT pg_backend_pid(), current_database(), current_schema()")).one()
        return pid, zlib.crc32(("%s.%s" % (database, schema)).encode("utf-8")) & 0x7FFFFFFF

    def _prove_session(self, connection):
        """Raise LeaseLost unless ``connection`` is still the session that holds our locks: SQLAlchemy replaces
        a dropped connection silently on its next use, and that new session holds nothing."""
        if connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != self._backend_pid:
            self.lost = True
            raise LeaseLost()

    def _notice_loss(self):
        """After an error on our connection: is it still our session?"""
        try:
            with self._connection.begin():
                self._prove_session(self._connection)
        except Exception:
            self.lost = True

    def _execute(self, sql, **parameters):
        return self._connection.execute(text(sql), dict(parameters, namespace=self._namespace))

    def _rows(self, sql, **parameters):
        with self._mutex:
            if self.lost:
                raise LeaseLost()
            try:
                with self._connection.begin():
                    self._prove_session(self._connection)
                    return self._execute(sql, **parameters).all()
            except LeaseLost:
                raise
            except Exception as error:
                self._notice_loss()
                if self.lost:
                    raise LeaseLost()
                raise database_error(self.database.database_url, error) from error

    def _scalar(self, sql, **parameters):
        return self._rows(sql, **parameters)[0][0]


_warned = set()


def _warn_once(message):
    if message not in _warned:
        _warned.add(message)
        logging.getLogger(__name__).warning(message)


#: Advisory locks of our namespace (two-key form: objsubid 2) in the current database, granted.
_OUR_ADVISORY_LOCKS = ("locktype = 'advisory' AND classid::bigint = :namespace AND objsubid = 2 AND granted "
                       "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
