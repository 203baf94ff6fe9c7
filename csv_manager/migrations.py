"""Schema changes through Alembic, applied when a command first opens a database behind the newest revision.

Alembic runs here from code rather than from an ``alembic.ini`` and ``env.py``: the app knows its database URL
and engine already, and the migration must run inside our own writing transaction (``BEGIN IMMEDIATE`` on SQLite,
an advisory lock on PostgreSQL) so that several processes starting at once on an old database upgrade it once.
Alembic (with Mako and Pygments, about 0.2 s) is imported only when a database is behind: a database at the
newest revision is recognised by reading ``alembic_version`` with plain SQLAlchemy, so every other command starts
without it.
"""
from sqlalchemy import inspect, text

from csv_manager.database import SCHEMA_LOCK_ID, WRITES, prepare_tables


def prepare_migrated_tables(database, script_location, head_revision, models, adopted_revision):
    """Upgrade ``database`` to ``head_revision``, the newest revision in ``script_location``, then check the
    tables of ``models`` and use WAL (see database.prepare_tables).

    A database made before it had migrations (our tables, no ``alembic_version``) is taken to be at
    ``adopted_revision``. Only a database behind the newest revision leads to a writing transaction: reads must
    not queue behind other processes' writes.
    """
    def upgrade_if_behind(database):
        if current_revision(database.engine) != head_revision:
            _upgrade(database, script_location, models[0].__table__.name, adopted_revision)

    prepare_tables(database, models, update=upgrade_if_behind)


def current_revision(engine):
    """The revision recorded in ``alembic_version`` (None for a database without one), read without Alembic."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _upgrade(database, script_location, first_table, adopted_revision):
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(script_location)

    with database.engine.connect() as connection:
        with connection.execution_options(**WRITES).begin():
            if database.engine.dialect.name == "postgresql":
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%d)" % SCHEMA_LOCK_ID)
            context = MigrationContext.configure(connection)
            if context.get_current_revision() is None and inspect(connection).has_table(first_table):
                context.stamp(script, adopted_revision)
            with EnvironmentContext(Config(), script, fn=lambda revision, _: script._upgrade_revs("head", revision),
                                    destination_rev="head") as environment:
                environment.configure(connection=connection)
                environment.run_migrations()
