"""Schema changes through Alembic, applied when a command first opens a database behind the newest revision.

Alembic runs here from code rather than from an ``alembic.ini`` and ``env.py``: the app knows its database URL
and engine already, and the migration must run inside our own writing transaction (``BEGIN IMMEDIATE`` on SQLite,
an advisory lock on PostgreSQL) so that several processes starting at once on an old database upgrade it once.
Alembic (with Mako and Pygments, about 0.2 s) is imported only when a database is behind: a database at the
newest revision is recognised by reading its version table with plain SQLAlchemy, so every other command starts
without it.

Each database's migrations keep their revision in a version table of their own (``alembic_version`` for the
history, ``csv_watchers_version`` for the watchers), so the two can share one database.
"""
from dataclasses import dataclass

from sqlalchemy import inspect, text

from csv_manager.database import SCHEMA_LOCK_ID, WRITES, prepare_tables, unexpected_columns


@dataclass(frozen=True)
class Migrations:
    """A directory of Alembic revisions: ``script_location``, its newest revision ``head``, the
    ``version_table`` that records a database's revision, and the revision a database made before it had
    migrations is taken to be at (``adopted``), when ``adopted_table`` has exactly ``adopted_columns``."""

    script_location: str
    head: str
    version_table: str
    adopted: str
    adopted_table: str
    adopted_columns: frozenset


def prepare_migrated_tables(database, migrations, models):
    """Upgrade ``database`` to the newest of its ``migrations``, then check the tables of ``models`` and use
    WAL (see database.prepare_tables).

    Only a database behind the newest revision leads to a writing transaction: reads must not queue behind
    other processes' writes. A table of the adopted name that has other columns was not made by us: it is
    refused, and the transaction rolled back with nothing written.
    """
    def upgrade_if_behind(database):
        if current_revision(database.engine, migrations.version_table) != migrations.head:
            _upgrade(database, migrations)

    prepare_tables(database, models, update=upgrade_if_behind)


def current_revision(engine, version_table="alembic_version"):
    """The revision recorded in ``version_table`` (None for a database without one), read without Alembic."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(version_table):
            return None
        return connection.execute(text("SELECT version_num FROM %s" % version_table)).scalar()


def _upgrade(database, migrations):
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(migrations.script_location)

    with database.engine.connect() as connection:
        with connection.execution_options(**WRITES).begin():
            if database.engine.dialect.name == "postgresql":
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%d)" % SCHEMA_LOCK_ID)
            context = MigrationContext.configure(connection, opts={"version_table": migrations.version_table})
            # Under the lock: another process may have made or upgraded the tables since this one looked.
            if context.get_current_revision() is None and inspect(connection).has_table(migrations.adopted_table):
                unexpected_columns(connection, migrations.adopted_table, migrations.adopted_columns)
                context.stamp(script, migrations.adopted)
            with EnvironmentContext(Config(), script, fn=lambda revision, _: script._upgrade_revs("head", revision),
                                    destination_rev="head") as environment:
                environment.configure(connection=connection, version_table=migrations.version_table)
                environment.run_migrations()
