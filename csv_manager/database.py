"""Engine set-up and checks shared by every database csv_manager registers through GwSqlPattern: the URL's
checks, the tables' creation and schema checks, sessions bounded for runners, and :func:`transaction`. What
SQLite needs to be shared by several processes is in sqlite_tuning.py.
"""
import datetime
import re
import sqlite3
from contextlib import contextmanager

from sqlalchemy import event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from csv_manager.compat import check_connections_before_use, register_database
from csv_manager.errors import CsvManagerError
from csv_manager.files import create_private
from csv_manager.sqlite_tuning import configure_sqlite, use_wal_journal
from csv_manager.stall import keepalives, stall_seconds

#: Execution option that marks a connection's transactions as writing (see sqlite_tuning.configure_sqlite).
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
    if database.engine.dialect.name == "sqlite":
        configure_sqlite(database.engine)
    else:
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


#: Any constant identifies csv_manager's schema changes among PostgreSQL advisory locks.
SCHEMA_LOCK_ID = 0x637376


def create_tables(database):
    """``database.create_all()``, safe when many processes start at once on a fresh database.

    The check and the CREATE run in one writing transaction: on SQLite BEGIN IMMEDIATE serialises them (see
    sqlite_tuning.py). PostgreSQL runs concurrent CREATE TABLEs side by side and all but one fail ("duplicate
    key value violates unique constraint pg_type_typname_nsp_index"), so there they run under an advisory lock.
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
        if database.engine.dialect.name == "sqlite":
            use_wal_journal(database.engine)
    except (SQLAlchemyError, sqlite3.Error) as error:
        raise database_error(database.database_url, error)


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


def database_error(url, error):
    """A CsvManagerError that names the database and says what went wrong, without a traceback."""
    reason = getattr(error, "orig", None) or error
    return CsvManagerError("Database %s: %s" % (describe(url), reason))


@contextmanager
def transaction(database, writes=False):
    """This thread's session of a groundwork-database ``Database``: committed, or rolled back on error, and
    always closed. Pass ``writes=True`` for a transaction that writes (see the module docstring).

    Closing matters: a transaction left open would hold SQLite's write lock (see sqlite_tuning.py).
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
