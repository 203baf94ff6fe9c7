"""Runner locks on PostgreSQL (:class:`PostgresLocks`): session-level advisory locks, released by the server
with the session that holds them. See the package's docstring.
"""
import threading
import zlib
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

from csv_manager.database import database_error
from csv_manager.errors import CsvManagerError
from csv_manager.runner_locks.leases import GONE, Lease, LeaseLost, Locks, clock, runner_name, warn_once


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
            warn_once("Cannot end the session of a stalled runner of another database role (%s): grant this "
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


#: Advisory locks of our namespace (two-key form: objsubid 2) in the current database, granted.
_OUR_ADVISORY_LOCKS = ("locktype = 'advisory' AND classid::bigint = :namespace AND objsubid = 2 AND granted "
                       "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
