"""What SQLite needs to be shared by several processes at once (scripts, cron jobs, runners).

Each connection gets a busy timeout, the database uses WAL journaling once our tables are known to be ours
(readers then never wait for writers), and a transaction that writes starts with ``BEGIN IMMEDIATE``: one that
first reads and then writes could otherwise fail at once with "database is locked" when another process wrote
in between, without waiting for the busy timeout. Read-only transactions start with a plain ``BEGIN`` and so
never queue for the write lock. After a write that freed pages, they are given back to the file system; and a
cheap counter tells a loop whether anyone committed since it last looked.
"""
import sqlite3
import time

from sqlalchemy import event

SQLITE_BUSY_TIMEOUT_MS = 30000
#: Bytes a SQLite write-ahead log is truncated to after a checkpoint.
WAL_SIZE_LIMIT = 1 << 20
#: Seconds between two attempts to switch a database that another process has open to WAL journaling.
WAL_RETRY_SECONDS = 0.05


def configure_sqlite(engine):
    """Set the per-connection options that concurrent use needs (see the module docstring)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        # Let SQLAlchemy's "begin" event below emit BEGIN instead of the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = %d" % SQLITE_BUSY_TIMEOUT_MS)
        # For a new database only (on an existing one it would take the write lock and change nothing): then
        # return_free_pages() can give back the pages that rewriting a large history snapshot frees.
        if cursor.execute("PRAGMA page_count").fetchone()[0] == 0:
            cursor.execute("PRAGMA auto_vacuum = INCREMENTAL")
        # The write-ahead log keeps the size of its largest write unless told to shrink back after a checkpoint.
        cursor.execute("PRAGMA journal_size_limit = %d" % WAL_SIZE_LIMIT)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        writes = connection.get_execution_options().get("csv_manager_writes", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def use_wal_journal(engine):
    """Switch a SQLite database to WAL journaling (persistent, so readers and writers do not block each other).

    Called only after check_schema: a database we refuse to use must stay byte-identical. Switching needs the
    database to itself, and SQLite answers "database is locked" at once, without the busy timeout, while another
    process (starting at the same moment) has it open: that is retried until the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        connection = engine.raw_connection()  # outside any transaction, as the pragma requires
        try:
            cursor = connection.cursor()
            # Reading the mode takes no lock; switching it does, so that happens once, not on every command.
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        finally:
            connection.close()
        time.sleep(WAL_RETRY_SECONDS)  # no wait primitive exists for this lock: back off, then try again


def return_free_pages(engine):
    """Give the free pages of a SQLite database back to the file system, if a write freed some (a rewritten
    history snapshot): vacuum them away (for databases made with incremental auto-vacuum), then fold the
    write-ahead log into the database and truncate it, unless a reader is in the way.

    Outside any transaction: sqlite3's executescript is the only call that runs the vacuum to its end (execute
    frees one page per call). A no-op for other backends.
    """
    if engine.dialect.name != "sqlite":
        return
    connection = engine.raw_connection()
    try:
        if connection.cursor().execute("PRAGMA freelist_count").fetchone()[0]:
            connection.driver_connection.executescript("PRAGMA incremental_vacuum")
            # Without a busy timeout: a TRUNCATE checkpoint waits (30 s) for every reader and blocks every writer
            # meanwhile, so another runner stopped in a read held this runner's writes, its claims included.
            # Not waiting, it copies what it can, as a PASSIVE one would, and truncates when no reader is there.
            cursor = connection.cursor()
            cursor.execute("PRAGMA busy_timeout = 0")
            try:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                cursor.execute("PRAGMA busy_timeout = %d" % SQLITE_BUSY_TIMEOUT_MS)
    finally:
        connection.close()


def commit_counter(engine):
    """For a SQLite ``engine``: a function returning a number that changes whenever another connection (of any
    process) has committed to the database since its last call (``PRAGMA data_version``, asked on a connection
    kept for it; close it with ``counter.close()``), or None when that cannot be asked. None for other backends,
    which have no such cheap question.

    It lets a loop that rereads a table every second skip the reading while nobody wrote.
    """
    if engine.dialect.name != "sqlite":
        return None
    connection = engine.raw_connection()

    def counter():
        try:
            return connection.cursor().execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            return None
    counter.close = connection.close
    return counter
