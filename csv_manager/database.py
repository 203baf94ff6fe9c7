"""Engine set-up and checks shared by every database csv_manager registers through GwSqlPattern.

SQLite is the default store and is used by several processes at once (scripts, cron jobs, a running
``csv_watcher_run``), so each connection gets a busy timeout, the database uses WAL journaling once our tables
are known to be ours (readers then never wait for writers), and a transaction that writes starts with
``BEGIN IMMEDIATE``: one that first reads and then writes could otherwise fail at once with "database is
locked" when another process wrote in between, without waiting for the busy timeout. Read-only transactions
start with a plain ``BEGIN`` and so never queue for the write lock.
"""
import datetime
import re
import sqlite3
import time
from contextlib import contextmanager

from sqlalchemy import event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from csv_manager.compat import check_connections_before_use, register_database
from csv_manager.errors import CsvManagerError
from csv_manager.files import create_private
from csv_manager.stall import keepalives, stall_seconds

SQLITE_BUSY_TIMEOUT_MS = 30000
#: Bytes a SQLite write-ahead log is truncated to after a checkpoint.
WAL_SIZE_LIMIT = 1 << 20
#: Seconds between two attempts to switch a database that another process has open to WAL journaling.
WAL_RETRY_SECONDS = 0.05
#: Execution option that marks a connection's transactions as writing (see configure_engine).
WRITES = {"csv_manager_writes": True}


def describe(url):
    """The database named for a user: its file for SQLite, the URL without password otherwise."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def register_configured(plugin, prefix):
    """Register, through ``plugin`` (a GwSqlPattern), the database its application's PREFIX_DATABASE_* settings
    configure, set up for concurrent use; a SQLite file is created private first."""
    config = plugin.app.config
    url = config.get("%s_DATABASE_CONNECTION" % prefix)
    check_url(url)
    database_file = sqlite_file(url)
    if database_file is not None:
        create_private(database_file)
    database = register_database(plugin, config.get("%s_DATABASE_NAME" % prefix), url,
                                 config.get("%s_DATABASE_DESCRIPTION" % prefix))
    configure_engine(database.engine)
    if database.engine.dialect.name != "sqlite":
        check_connections_before_use(database.engine)
        end_silent_connections(database.engine, stall_seconds(config))
    return database


def end_silent_connections(engine, seconds):
    """Have libpq give up on a PostgreSQL connection that stops answering (packets lost, no reset) within about
    ``seconds``, instead of waiting in a query for TCP's retransmissions (about fifteen minutes): keepalives for
    an idle connection, ``tcp_user_timeout`` for one whose sent data goes unacknowledged, and a bound on
    connecting. What the database URL sets itself is kept. For the libpq drivers (psycopg, psycopg2) only."""
    if engine.dialect.driver not in ("psycopg", "psycopg2"):
        return
    idle, interval, count = keepalives(seconds)
    options = {"keepalives": 1, "keepalives_idle": idle, "keepalives_interval": interval, "keepalives_count": count,
               "tcp_user_timeout": seconds * 1000, "connect_timeout": seconds}

    @event.listens_for(engine, "do_connect")
    def _on_connect(dialect, connection_record, cargs, cparams):
        for name, value in options.items():
            cparams.setdefault(name, value)


def bound_runner_sessions(engine, seconds):
    """Have the PostgreSQL server end a session of ``engine`` (csv_watcher_run's, with the stall bound) whose
    runner has been silent for about ``seconds`` while it matters: idle inside a transaction, or not answering
    TCP (keepalives, and ``tcp_user_timeout`` for data it does not acknowledge). A runner cut off in the middle
    of a transaction would otherwise keep its row locks (on the watchers' status, which every runner writes)
    until the server's TCP gives up, after two hours or fifteen minutes. Not for the other commands: csv_history
    read through a pager may rightly sit in a transaction for longer. Connections already pooled are closed, to
    be made again with these settings."""
    if engine.dialect.name != "postgresql":
        return
    idle, interval, count = keepalives(seconds)
    settings = {"idle_in_transaction_session_timeout": seconds * 1000, "tcp_user_timeout": seconds * 1000,
                "tcp_keepalives_idle": idle, "tcp_keepalives_interval": interval, "tcp_keepalives_count": count}
    options = " ".join("-c %s=%d" % setting for setting in settings.items())

    @event.listens_for(engine, "do_connect")
    def _on_connect(dialect, connection_record, cargs, cparams):
        cparams["options"] = " ".join(filter(None, [cparams.get("options"), options]))
    engine.dispose()


def close(database):
    """Close what ``database`` (None: nothing registered) holds: its session and its engine's connections."""
    if database is not None:
        database.session.remove()
        database.engine.dispose()


def utc_now():
    """The current UTC time without tzinfo, as the DateTime columns store it."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def sqlite_file(url):
    """The file of a SQLite URL, None for other backends and in-memory databases."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return url.database
    return None


#: The package that brings the driver of a backend+driver, where its name is not the module's.
DRIVER_PACKAGES = {
    "postgresql+psycopg": 'psycopg (pip install "csv_manager[postgres]")',
    "postgresql+psycopg2": "psycopg2-binary",
    "mysql+mysqldb": "mysqlclient",
    "mysql+pymysql": "PyMySQL",
    "mariadb+mariadbconnector": "mariadb",
    "mssql+pyodbc": "pyodbc",
    "oracle+oracledb": "oracledb",
}


def check_url(url):
    """Raise CsvManagerError naming what is wrong if ``url`` is not a usable SQLAlchemy URL, before groundwork
    builds an engine: the part that does not parse, an unknown backend, or a driver that is not installed and
    the package that brings it. The password is never shown."""
    shown = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", str(url))
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CsvManagerError("Cannot use database URL %r: it is not of the form "
                              "backend[+driver]://[user[:password]@]host[:port]/database" % shown)
    except ValueError:
        host = shown.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
        raise CsvManagerError("Cannot use database URL %r: the port %r is not a number"
                              % (shown, host.rpartition(":")[2]))
    shown = parsed.render_as_string(hide_password=True)
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise CsvManagerError("Cannot use database URL %r: SQLAlchemy knows no backend %r"
                              % (shown, parsed.drivername))
    try:
        dialect.import_dbapi()
    except ImportError as error:
        name = "%s+%s" % (parsed.get_backend_name(), dialect.driver)
        raise CsvManagerError("Cannot use database URL %r: the %s driver for %s is not installed (%s); install %s"
                              % (shown, dialect.driver, parsed.get_backend_name(), error,
                                 DRIVER_PACKAGES.get(name, "the package that provides it")))


def configure_engine(engine):
    """Set the per-connection options that concurrent use needs (see the module docstring)."""
    if engine.dialect.name != "sqlite":
        return

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


#: Any constant identifies csv_manager's schema changes among PostgreSQL advisory locks.
SCHEMA_LOCK_ID = 0x637376


def create_tables(database):
    """``database.create_all()``, safe when many processes start at once on a fresh database.

    The check and the CREATE run in one writing transaction: on SQLite BEGIN IMMEDIATE (see configure_engine)
    serialises them. PostgreSQL runs concurrent CREATE TABLEs side by side and all but one fail ("duplicate key
    value violates unique constraint pg_type_typname_nsp_index"), so there they run under an advisory lock.
    """
    with database.engine.connect() as connection:
        with connection.execution_options(**WRITES).begin():
            if database.engine.dialect.name == "postgresql":
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%d)" % SCHEMA_LOCK_ID)
            database.Base.metadata.create_all(connection)


def prepare_tables(database, models, update=None):
    """Create the tables of ``models`` where missing, check that existing ones are ours, then use WAL.

    ``update(database)``, if given, brings the schema up to date instead of creating missing tables (Alembic
    migrations, see migrations.py). Only a missing table or an outdated schema leads to a writing transaction:
    every command starts here, and one that merely reads must not queue behind another process's write.
    """
    try:
        if update is not None:
            update(database)
        elif not all(inspect(database.engine).has_table(model.__table__.name) for model in models):
            create_tables(database)
        for model in models:
            check_schema(database.engine, model.__table__)
        use_wal_journal(database.engine)
    except SQLAlchemyError as error:
        raise database_error(database.database_url, error)


def use_wal_journal(engine):
    """Switch a SQLite database to WAL journaling (persistent, so readers and writers do not block each other).

    Called only after check_schema: a database we refuse to use must stay byte-identical. Switching needs the
    database to itself, and SQLite answers "database is locked" at once, without the busy timeout, while another
    process (starting at the same moment) has it open: that is retried until the busy timeout.
    """
    if engine.dialect.name != "sqlite":
        return
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
                raise database_error(engine.url, error)
        finally:
            connection.close()
        time.sleep(WAL_RETRY_SECONDS)  # no wait primitive exists for this lock: back off, then try again


def check_schema(engine, table):
    """Raise CsvManagerError unless the existing ``table`` has the columns our model defines.

    ``create_all`` leaves an existing table alone, so a table of the same name made by something else would
    otherwise fail later with an obscure SQL error. We never alter or recreate what we did not make.
    """
    unexpected_columns(engine, table.name, {column.name for column in table.columns})


def unexpected_columns(bind, table_name, expected):
    """Raise CsvManagerError unless the table ``table_name`` has exactly the columns ``expected`` (``bind``: an
    engine, or a connection to look inside its transaction)."""
    found = {column["name"] for column in inspect(bind).get_columns(table_name)}
    if found != set(expected):
        raise CsvManagerError(
            "Database %s has a table %r with columns %s, expected %s; it was not made by csv_manager "
            "and was left unchanged." % (describe(bind.engine.url), table_name, sorted(found), sorted(expected)))


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


def database_error(url, error):
    """A CsvManagerError that names the database and says what went wrong, without a traceback."""
    reason = getattr(error, "orig", None) or error
    return CsvManagerError("Database %s: %s" % (describe(url), reason))


@contextmanager
def transaction(database, writes=False):
    """This thread's session of a groundwork-database ``Database``: committed, or rolled back on error, and
    always closed. Pass ``writes=True`` for a transaction that writes (see the module docstring).

    Closing matters: a transaction left open would hold SQLite's write lock (see configure_engine).
    IntegrityError is passed on for the caller to explain; other database errors become CsvManagerError.
    """
    session = database.session()
    try:
        if writes:
            session.connection(execution_options=WRITES)
        yield session
        session.commit()
    except BaseException as error:
        session.rollback()
        if isinstance(error, SQLAlchemyError) and not isinstance(error, IntegrityError):
            raise database_error(database.database_url, error) from error
        raise
    finally:
        session.close()
