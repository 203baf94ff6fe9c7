"""CsvWatcherDbPlugin: persistent CSV file watchers, stored in a database registered through GwSqlPattern.

The flow follows the groundwork tutorial chapter "Simple watcher database": ``activate`` registers the commands,
``setup_db`` registers the database and the ``CsvWatchers`` model, ``load_watchers`` restores every persisted
watcher through ``activate_watcher``. Restoring registers a watcher and its thread but does not start it: only
``csv_watcher_run`` starts watchers, so one-shot commands never read a watched file and never wait on a thread.
"""
import json
from contextlib import contextmanager

import click
from click import Argument, IntRange, Option
from groundwork.patterns import GwCommandsPattern
from groundwork_database.patterns import GwSqlPattern
from sqlalchemy import Column, Integer, String
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from csv_manager.compat import register_database, register_model
from csv_manager.database import (check_schema, check_url, configure_engine, create_tables, database_error,
                                  use_wal_journal)
from csv_manager.errors import CsvManagerError
from csv_manager.patterns import CsvWatcherPattern
from csv_manager.plugins.csv_watcher_db_plugin.csv_file_path import check_watchable, normalise
from csv_manager.plugins.csv_watcher_db_plugin.reporter import Reporter
from csv_manager.plugins.csv_watcher_db_plugin.stop_request import StopRequest

DEFAULT_INTERVAL = 10
#: One day. Longer intervals are almost always a typo (milliseconds for seconds).
MAX_INTERVAL = 86400


class CsvWatcherDbPlugin(GwCommandsPattern, CsvWatcherPattern, GwSqlPattern):
    """
    A plugin for monitoring csv files.
    """

    def __init__(self, app, **kwargs):
        self.name = "CsvWatcherDbPlugin"
        super().__init__(app, **kwargs)
        self.db = None
        self.Watcher = None
        self._unavailable = set()

    def activate(self):
        path_argument = Argument(("csv_file",), required=True, type=str)
        interval_option = Option(("-i", "--interval"), type=IntRange(1, MAX_INTERVAL), default=DEFAULT_INTERVAL,
                                 show_default=True,
                                 help="Seconds between two checks of the file (1 to %d)." % MAX_INTERVAL)
        json_option = Option(("--json", "as_json"), is_flag=True, help="Print JSON instead of text.")

        self.commands.register("csv_watcher_list", "Shows all csv watchers.", self.csv_watcher_list,
                               params=[json_option])
        self.commands.register("csv_watcher_add", "Adds a permanent watcher for CSV_FILE.", self.csv_watcher_add,
                               params=[path_argument, interval_option])
        self.commands.register("csv_watcher_delete", "Removes the permanent watcher of CSV_FILE.",
                               self.csv_watcher_delete, params=[path_argument])
        self.commands.register("csv_watcher_run",
                               "Watches all csv files and prints new and missing rows until stopped "
                               "(Ctrl-C or SIGTERM).",
                               self.csv_watcher_run, params=[json_option])
        try:
            self.setup_db()
            self.load_watchers()
        except Exception:
            self._close_db()
            raise

    def deactivate(self):
        for csv_file in list(self.csv_watcher.get()):
            self.csv_watcher.unregister(csv_file)
        self._close_db()

    def setup_db(self):
        """Register the watcher database and the CsvWatchers model; create the table if it is missing."""
        url = self.app.config.get("WATCHER_DATABASE_CONNECTION", "sqlite://")
        check_url(url)
        self.db = register_database(self, self.app.config.get("WATCHER_DATABASE_NAME", "csv_watcher_db"), url,
                                    self.app.config.get("WATCHER_DATABASE_DESCRIPTION", "Stores csv watchers"))
        configure_engine(self.db.engine)
        Base = self.db.Base

        class CsvWatchers(Base):
            __tablename__ = 'csv_watchers'

            id = Column(Integer, primary_key=True)
            csv_file = Column(String(2048), nullable=False, unique=True)
            interval = Column(Integer, nullable=False)

        self.Watcher = register_model(self.db, CsvWatchers)
        try:
            create_tables(self.db)
            check_schema(self.db.engine, CsvWatchers.__table__)
            use_wal_journal(self.db.engine)
        except SQLAlchemyError as error:
            raise database_error(url, error)

    def load_watchers(self):
        """Make the registered watchers match the database: register new rows, unregister deleted ones.

        A watcher whose file is unusable is logged as an error (once) and skipped; it is tried again on the
        next call, which csv_watcher_run makes every WATCHER_DATABASE_POLL_SECONDS.
        """
        current_watchers = self._stored_watchers()
        wanted = {watcher["csv_file"]: watcher["interval"] for watcher in current_watchers}
        for csv_file, watcher in self.csv_watcher.get().items():
            if wanted.get(csv_file) != watcher.interval:
                self.csv_watcher.unregister(csv_file)
        self._unavailable &= set(wanted)
        for csv_file, interval in wanted.items():
            if self.csv_watcher.get(csv_file) is not None:
                continue
            try:
                self.activate_watcher(csv_file, interval)
            except CsvManagerError as error:
                if csv_file not in self._unavailable:
                    self.log.error("Couldn't activate watcher for %s: %s" % (csv_file, error.message))
                    self._unavailable.add(csv_file)
            else:
                self._unavailable.discard(csv_file)

    def activate_watcher(self, csv_file, interval):
        """Check the file and register its watcher; it starts with the others in csv_watcher_run."""
        check_watchable(csv_file)
        self.csv_watcher.register(csv_file, interval, "Watcher for %s" % csv_file)
        self.log.info("Watcher registered for %s" % csv_file)

    def csv_watcher_list(self, as_json):
        watchers = self._stored_watchers()
        if as_json:
            click.echo(json.dumps(watchers, ensure_ascii=False))
        else:
            for watcher in watchers:
                click.echo("file: %s - interval: %s" % (watcher["csv_file"], watcher["interval"]))
        if not watchers:
            click.echo("No watchers yet. Add one with: csv_manager csv_watcher_add CSV_FILE", err=True)

    def csv_watcher_add(self, csv_file, interval):
        csv_file = normalise(csv_file)
        check_watchable(csv_file)
        try:
            with self._transaction() as session:
                session.add(self.Watcher(csv_file=csv_file, interval=interval))
                session.flush()
                if self.csv_watcher.get(csv_file) is None:
                    self.activate_watcher(csv_file, interval)
        except IntegrityError:
            raise CsvManagerError("%s is already watched." % csv_file)
        click.echo("Added watcher for %s (every %d s)" % (csv_file, interval))

    def csv_watcher_delete(self, csv_file):
        csv_file = normalise(csv_file)
        with self._transaction():
            deleted = self.Watcher.query.filter_by(csv_file=csv_file).delete()
        if not deleted:
            raise CsvManagerError("No watcher for %s." % csv_file)
        if self.csv_watcher.get(csv_file) is not None:
            self.csv_watcher.unregister(csv_file)
        click.echo("Removed watcher for %s" % csv_file)

    def csv_watcher_run(self, as_json):
        poll_seconds = self.app.config.get("WATCHER_DATABASE_POLL_SECONDS", 1)
        with StopRequest() as stop:
            reporter = Reporter(as_json, on_broken_pipe=stop.set)
            self.signals.connect("csv_watcher_run_baseline", "csv_watcher_baseline", reporter.baseline,
                                 "Prints that a watcher took its baseline")
            self.signals.connect("csv_watcher_run_change", "csv_watcher_change", reporter.change,
                                 "Prints new and missing rows")
            if not self.csv_watcher.get():
                click.echo("No watchers yet; waiting for csv_watcher_add (Ctrl-C to stop).", err=True)
            self.csv_watcher.start()
            database_problem = None
            while not stop.event.wait(poll_seconds):
                database_problem = self._poll_watchers(database_problem)
            self.csv_watcher.stop()
        click.get_current_context().exit(stop.exit_code)

    def _poll_watchers(self, known_problem):
        """load_watchers() for the run loop: a database that fails for a while (locked, restarting) is logged
        once and tried again on the next poll; the watchers keep running meanwhile. Returns the current problem.
        """
        try:
            self.load_watchers()
        except CsvManagerError as error:
            if error.message != known_problem:
                self.log.warning("Cannot read the watcher list, retrying: %s" % error.message)
            return error.message
        if known_problem is not None:
            self.log.warning("The watcher list can be read again")
        return None

    def _stored_watchers(self):
        """All persisted watchers as dicts (id, csv_file, interval), oldest first."""
        with self._transaction():
            return [{"id": watcher.id, "csv_file": watcher.csv_file, "interval": watcher.interval}
                    for watcher in self.Watcher.query.order_by(self.Watcher.id)]

    @contextmanager
    def _transaction(self):
        """A session transaction that is committed, or rolled back on error, and always closed.

        Closing matters: a transaction left open would hold SQLite's write lock (see csv_manager.database).
        IntegrityError is passed on for the caller to explain; other database errors become CsvManagerError.
        """
        session = self.db.session
        try:
            yield session
            session.commit()
        except BaseException as error:
            session.rollback()
            if isinstance(error, SQLAlchemyError) and not isinstance(error, IntegrityError):
                raise database_error(self.db.database_url, error) from error
            raise
        finally:
            session.close()

    def _close_db(self):
        if self.db is not None:
            self.db.session.remove()
            self.db.engine.dispose()
