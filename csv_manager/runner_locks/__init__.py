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
from csv_manager.database import sqlite_file
from csv_manager.runner_locks.file_locks import FileLocks
from csv_manager.runner_locks.leases import SoloLocks
from csv_manager.runner_locks.postgres_locks import PostgresLocks


def locks_for(database, stall_seconds=None):
    """The lock space of the history ``database`` (a groundwork-database Database), not joined yet; a runner
    that shows no sign of life for ``stall_seconds`` loses its locks where the database can see to it."""
    dialect = database.engine.dialect.name
    if dialect == "postgresql":
        return PostgresLocks(database, stall_seconds)
    if dialect == "sqlite" and sqlite_file(database.database_url):
        return FileLocks(database, sqlite_file(database.database_url) + "-runners", stall_seconds)
    return SoloLocks(database)
