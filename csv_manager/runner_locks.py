"""Which runner owns which watcher: ownership that ends when a runner is gone, and also when it stops answering.

A runner (one ``csv_watcher_run`` process) joins the history database's lock space, then claims watchers by
their id. Only the holder of a watcher's lease reads its file, prints and records; the history is where
ownership matters, so the leases live with the history database. A runner shows it is alive by a heartbeat
(:meth:`Locks.check`, every poll); one silent for longer than its stall bound (``RUNNER_STALL_SECONDS``) loses
its watchers to the others, as a Kafka consumer that misses its session timeout loses its partitions:

- PostgreSQL (:class:`PostgresLocks`): session-level advisory locks on a connection the runner keeps for the
  purpose. The server releases them when that session ends, whether the runner exits, is killed, or its session
  is terminated. The heartbeat is a query on that session, and the same query ends the sessions of the runners
  whose lock session has been quiet for longer than the bound (stopped, paused, cut off from the network), as
  a group coordinator evicts a member. The runner writes its history on that same session, so a runner whose
  session is gone cannot commit anything: its writes fail, are dropped, and the next owner reports those
  changes from the recorded content instead. A runner's sessions also carry TCP keepalives, ``tcp_user_timeout``
  and ``idle_in_transaction_session_timeout`` of the bound (database.bound_runner_sessions), so that a cut-off
  runner's row locks go too.
- SQLite (:class:`FileLocks`): a table of runners with their heartbeats and a table of leases, in the history
  database, and an fcntl lock per runner on a file next to it, which the kernel drops the moment the process is
  gone. A SQLite file has no server to end a silent runner's claim, so the other runners judge it by its
  heartbeat, and take its watchers by raising their lease's epoch; every write checks its epoch in its own
  transaction.

A runner that has not proved itself alive within its bound also counts its own locks as lost (:attr:`Locks.lost`),
before anyone can have taken them: it stops its watchers, says so once, and joins again.

A :class:`Lease` is one claim of one watcher. Writes go through :meth:`Locks.write` with the lease that asked for
them, and raise :class:`LeaseLost` once it no longer holds.
"""
import fcntl
import logging
import os
import socket
import struct
import threading
import time
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


def locks_for(database, stall_seconds=None):
    """The lock space of the history ``database`` (a groundwork-database Database), not joined yet; a runner
    that shows no sign of life for ``stall_seconds`` loses its locks where the database can see to it."""
    dialect = database.engine.dialect.name
    if dialect == "postgresql":
        return PostgresLocks(database, stall_seconds)
    if dialect == "sqlite" and sqlite_file(database.database_url):
        return FileLocks(database, sqlite_file(database.database_url) + "-runners", stall_seconds)
    return SoloLocks(database)


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


class PostgresLocks(Locks):
    """Session-level advisory locks on a connection of the runner's own; see the module docstring.

    Keys are pairs: a namespace (a hash of the database and schema, since advisory locks are per database and
    several csv_manager schemas may share one) and the watcher id, 0 standing for "a runner is here" (taken
    shared by every runner, so counting its holders counts the runners).
    """

    def __init__(self, database, stall_seconds=None):
        super().__init__(stall_seconds)
        self.database = database
        self._connection = None
        self._backend_pid = None
        self._namespace = None
        self._mutex = threading.Lock()

    def join(self):
        engine = self.database.engine
        proved = clock()
        try:
            self._connection = engine.connect()
            with self._connection.begin():
                self._backend_pid, self._namespace = self._identify(self._connection)
                self._connection.execute(text("SELECT set_config('application_name', :name, false)"),
                                         {"name": "csv_manager %s" % runner_name()})
                self._execute("SELECT pg_advisory_lock_shared(:namespace, 0)")
            self._proved = proved
        except Exception as error:
            self.close()
            raise database_error(self.database.database_url, error) from error

    def runners(self):
        return max(1, self._scalar(
            "SELECT count(*) FROM pg_locks WHERE %s AND objid::bigint = 0" % _OUR_ADVISORY_LOCKS))

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
        """The heartbeat is a query on the lock session, and the query ends the sessions of the runners that have
        sent none for longer than this runner's stall bound (see _evict_stalled)."""
        if not self.lost:
            proved = clock()
            try:
                self._evict_stalled()
                self._proved = proved
            except (LeaseLost, CsvManagerError):
                pass  # _rows has found out whether the session is still ours
        return not self.lost

    def _evict_stalled(self):
        """End the lock sessions of other runners of this namespace that have been quiet for longer than the
        stall bound: not running a statement, or waiting for their client to send the rest of one. Their runners
        stopped answering, and the server releases their locks with their sessions.

        The server's own timeouts cannot see every such runner: one stopped in the middle of a pipeline of
        statements (an executemany) leaves its session ``active``, waiting (``ClientRead``) for the rest of the
        pipeline, where neither ``idle_in_transaction_session_timeout`` nor TCP keepalives apply; this query
        passed such sessions over until a test stopped a runner there (test_runner_locks.py). A live runner
        sends a pipeline at once, and one whose statement takes longer than the bound counts its locks as lost
        anyway. Sessions of another role need the ``pg_signal_backend`` role; without it a stalled runner is
        said once and left to the server."""
        if self.stall_seconds is None:
            self._scalar("SELECT 1")
            return
        try:
            self._rows(
                "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
                "WHERE %s AND objid::bigint = 0 AND a.pid <> pg_backend_pid() "
                "AND (a.state <> 'active' OR a.wait_event = 'ClientRead') "
                "AND a.state_change < now() - make_interval(secs => :stall)" % _OUR_ADVISORY_LOCKS,
                stall=self.stall_seconds)
        except CsvManagerError as error:
            if "must be a member" not in error.message:
                raise
            _warn_once("Cannot end the session of a stalled runner of another database role (%s): grant this "
                       "role pg_signal_backend, or its watchers wait until the server ends that session"
                       % error.message)

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
        """End the lock session itself: returned to the pool, it would keep its advisory locks (and a runner that
        counted itself lost while its session lived would hold its watchers from every other runner)."""
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except Exception:
                pass  # the session is gone already, and with it the locks
            self._connection = None
        self.lose(GONE)

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
            self.lose(GONE)
            raise LeaseLost()

    def _notice_loss(self):
        """After an error on our connection: is it still our session?"""
        try:
            with self._connection.begin():
                self._prove_session(self._connection)
        except Exception:
            self.lose(GONE)

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
