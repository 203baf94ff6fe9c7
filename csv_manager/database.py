"""Engine set-up and checks shared by every database csv_manager registers through GwSqlPattern.

SQLite is the default store and is used by several processes at once (scripts, cron jobs, a running
``csv_watcher_run``), so each connection gets a busy timeout, the database uses WAL journaling once our table
is known to be ours, and every transaction starts with ``BEGIN IMMEDIATE``: a transaction that first reads
and then writes can otherwise fail at once with "database is locked" when another process wrote in between,
without waiting for the busy timeout.
"""
from sqlalchemy import event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from csv_manager.errors import CsvManagerError

SQLITE_BUSY_TIMEOUT_MS = 30000


def describe(url):
    """The database named for a user: its file for SQLite, the URL without password otherwise."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def check_url(url):
    """Raise CsvManagerError if ``url`` is not a usable SQLAlchemy URL, before groundwork builds an engine."""
    try:
        url = make_url(url)
        url.get_dialect()
    except (ArgumentError, SQLAlchemyError, ImportError) as error:
        raise CsvManagerError("Cannot use database URL %r: %s" % (str(url), error))


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
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


#: Any constant identifies csv_manager's schema changes among PostgreSQL advisory locks.
SCHEMA_LOCK_ID = 0x637376


def create_tables(database):
    """``database.create_all()``, safe when many processes start at once on a fresh database.

    On SQLite, BEGIN IMMEDIATE (see configure_engine) already serialises the check and the CREATE. PostgreSQL
    runs concurrent CREATE TABLEs side by side and all but one fail ("duplicate key value violates unique
    constraint pg_type_typname_nsp_index"), so there the check and the CREATE run under an advisory lock.
    """
    if database.engine.dialect.name != "postgresql":
        database.create_all()
        return
    with database.engine.begin() as connection:
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%d)" % SCHEMA_LOCK_ID)
        database.Base.metadata.create_all(connection)


def use_wal_journal(engine):
    """Switch a SQLite database to WAL journaling (persistent, so readers and writers do not block each other).

    Called only after check_schema: a database we refuse to use must stay byte-identical.
    """
    if engine.dialect.name == "sqlite":
        connection = engine.raw_connection()  # outside any transaction, as the pragma requires
        try:
            connection.cursor().execute("PRAGMA journal_mode = WAL")
        finally:
            connection.close()


def check_schema(engine, table):
    """Raise CsvManagerError unless the existing ``table`` has the columns our model defines.

    ``create_all`` leaves an existing table alone, so a table of the same name made by something else would
    otherwise fail later with an obscure SQL error. We never alter or recreate what we did not make.
    """
    found = {column["name"] for column in inspect(engine).get_columns(table.name)}
    expected = {column.name for column in table.columns}
    if found != expected:
        raise CsvManagerError(
            "Database %s has a table %r with columns %s, expected %s; it was not made by csv_manager "
            "and was left unchanged." % (describe(engine.url), table.name, sorted(found), sorted(expected)))


def database_error(url, error):
    """A CsvManagerError that names the database and says what went wrong, without a traceback."""
    reason = getattr(error, "orig", None) or error
    return CsvManagerError("Database %s: %s" % (describe(url), reason))
