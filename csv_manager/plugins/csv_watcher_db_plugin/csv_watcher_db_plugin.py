"""CsvWatcherDbPlugin: persistent CSV file watchers, stored in a database registered through GwSqlPattern.

The flow follows the groundwork tutorial chapter "Simple watcher database": ``activate`` registers the commands,
``setup_db`` registers the database and the ``CsvWatchers`` model, ``load_watchers`` restores every persisted
watcher through ``activate_watcher``. Restoring registers a watcher and its thread but does not start it: only
``csv_watcher_run`` starts watchers, so one-shot commands never read a watched file and never wait on a thread.
Several csv_watcher_run processes share the watchers: each starts only those it owns (see sharing.py).

Hooks (hooks.py, hook_commands.py) live in the same database; csv_watcher_run delivers those of the watchers it
owns from the history (hook_delivery.py).

What the watchers report is recorded by another plugin (CsvDocumentPlugin), which this one knows only through
signals: the watchers' own (see CsvWatcherPattern), ``csv_history_recorded``, after which a change is printed,
and the two this plugin sends:

- ``csv_watcher_recorder`` (outage): asks for the record keeper csv_watcher_run needs; a receiver returns an
  object with the methods of record_keeper.RecordKeeper (the history: it restores baselines, queues printing
  and lease releases behind its writes, keeps the runner locks and the watchers' status, feeds the hooks).
- ``csv_watcher_deleted`` (csv_file, purge, say): a watcher was deleted; ``purge`` asks to delete its history
  too, and what that did is told through ``say`` (see add_watcher).
"""
from typing import Optional

import click
from click.core import ParameterSource
from groundwork.patterns import GwCommandsPattern
from groundwork_database.patterns import GwSqlPattern
from sqlalchemy import Column, Integer, String, Text
from sqlalchemy.exc import IntegrityError

from csv_manager import settings
from csv_manager.compat import register_model
from csv_manager.database import close, register_configured, transaction
from csv_manager.errors import CsvManagerError
from csv_manager.migrations import prepare_migrated_tables
from csv_manager.outage import Outage
from csv_manager.patterns import CsvWatcherPattern
from csv_manager.patterns.csv_watcher_pattern.dialect import DEFAULT, Dialect
from csv_manager.patterns.csv_watcher_pattern.file_pattern import DEFAULT_PATTERN
from csv_manager.patterns.csv_watcher_pattern.watcher import QUIET_SECONDS
from csv_manager.plugins.csv_watcher_db_plugin import hook_commands, migrations, watcher_commands
from csv_manager.plugins.csv_watcher_db_plugin.csv_file_path import check_watchable, normalise
from csv_manager.plugins.csv_watcher_db_plugin.folders import (
    check_folder, check_not_overlapping, count_files, is_folder, updated_pattern)
from csv_manager.plugins.csv_watcher_db_plugin.hooks import HookStore, hook_models
from csv_manager.plugins.csv_watcher_db_plugin.record_keeper import RecordKeeper
from csv_manager.plugins.csv_watcher_db_plugin.runner import Runner
from csv_manager.plugins.csv_watcher_db_plugin.status import with_status
from csv_manager.plugins.csv_watcher_db_plugin.watcher_commands import DEFAULT_INTERVAL, count_shown
from csv_manager.plugins.csv_watcher_db_plugin.watcher_options import (
    Options, check_key, delimiter_hint, options_of, read_header, read_options, stored_options)

SIGNALS = {
    "csv_watcher_recorder": "Sent by csv_watcher_run and csv_watcher_list to find the plugin that records what "
                            "the watchers report; its receiver returns the record keeper. Arguments: outage",
    "csv_watcher_deleted": "Sent when a watcher was deleted. Arguments: csv_file, purge (delete its history too), "
                           "say (tells what was done)",
}


class CsvWatcherDbPlugin(GwCommandsPattern, CsvWatcherPattern, GwSqlPattern):
    """
    A plugin for monitoring csv files.
    """

    def __init__(self, app, **kwargs):
        self.name = "CsvWatcherDbPlugin"
        super().__init__(app, **kwargs)
        self.db = None
        self.Watcher = None
        self.hooks = None
        self.quiet_seconds = QUIET_SECONDS
        #: The run loop, while csv_watcher_run runs (see runner.py).
        self.runner = None

    def activate(self):
        self.commands.register("csv_watcher_list", "Shows all csv watchers.", self.csv_watcher_list,
                               params=watcher_commands.LIST_PARAMS)
        self.commands.register("csv_watcher_add", "Adds a permanent watcher for CSV_FILE, or for the CSV files in "
                                                  "the folder CSV_FILE (see --pattern).", self.csv_watcher_add,
                               params=watcher_commands.ADD_PARAMS)
        self.commands.register("csv_watcher_delete", "Removes the permanent watcher of CSV_FILE.",
                               self.csv_watcher_delete, params=watcher_commands.DELETE_PARAMS)
        self.commands.register("csv_watcher_update", "Changes how often CSV_FILE is checked, or how it is read "
                                                     "(key, delimiter, encoding, a folder's pattern). Its history "
                                                     "is kept, and a running csv_watcher_run picks the change up "
                                                     "within a second.",
                               self.csv_watcher_update, params=watcher_commands.UPDATE_PARAMS)
        self.commands.register("csv_watcher_run",
                               "Watches the csv files and prints new and missing rows until stopped "
                               "(Ctrl-C or SIGTERM). Runners sharing one store split the files between them.",
                               self.csv_watcher_run, params=watcher_commands.RUN_PARAMS)
        self.commands.register("csv_hook_add", "Adds a hook: a command to run, or a URL to post to, for every "
                                               "change recorded from now on that passes its filters. "
                                               "csv_watcher_run delivers it, in order, again until received.",
                               self.csv_hook_add, params=hook_commands.ADD_PARAMS)
        self.commands.register("csv_hook_list", "Shows the hooks, each with its backlog and the error its delivery "
                                                "fails with, if it does.",
                               self.csv_hook_list, params=hook_commands.LIST_PARAMS)
        self.commands.register("csv_hook_delete", "Removes the hook NAME; what it had not received is dropped.",
                               self.csv_hook_delete, params=hook_commands.DELETE_PARAMS)
        for signal, description in SIGNALS.items():
            self.signals.register(signal, description)
        if getattr(self.app, "help_only", False):
            return
        try:
            self.quiet_seconds = settings.quiet_seconds(self.app.config, QUIET_SECONDS)
            self.setup_db()
            self.load_watchers()
        except Exception:
            close(self.db)
            raise

    def deactivate(self):
        for csv_file in list(self.csv_watcher.get()):
            self.csv_watcher.unregister(csv_file)
        close(self.db)

    def setup_db(self):
        """Register the watcher database and the CsvWatchers model; create or upgrade the table (Alembic, see
        migrations) if it is missing or behind."""
        self.db = register_configured(self, "WATCHER")
        Base = self.db.Base

        class CsvWatchers(Base):
            __tablename__ = 'csv_watchers'

            id = Column(Integer, primary_key=True)
            csv_file = Column(String(2048), nullable=False, unique=True)
            interval = Column(Integer, nullable=False)
            #: The options of watcher_options.py; NULL for the defaults (no key, a comma, UTF-8).
            key_columns = Column(Text, nullable=True)
            delimiter = Column(String(8), nullable=True)
            encoding = Column(String(64), nullable=True)
            #: For a folder watcher, the pattern of its files (see folder.py); NULL for a file watcher.
            pattern = Column(String(1024), nullable=True)

        self.Watcher = register_model(self.db, CsvWatchers)
        hook_tables = [register_model(self.db, model) for model in hook_models(Base)]
        self.hooks = HookStore(self.db, hook_tables)
        prepare_migrated_tables(self.db, migrations.WATCHERS, [CsvWatchers] + hook_tables)

    def load_watchers(self):
        """Make the registered watchers match the database: register new rows, unregister deleted ones.
        Returns the stored watchers (see stored_watchers).

        A watcher is registered whatever state its file is in: a missing or unusable file is the watcher's to
        report once it runs (csv_watcher_run), not an error of every command.
        """
        stored = self.stored_watchers()
        wanted = {watcher["csv_file"]: options_of(watcher) + (watcher["pattern"],) for watcher in stored}
        for csv_file, watcher in self.csv_watcher.get().items():
            if wanted.get(csv_file) != (watcher.interval, watcher.key, watcher.dialect, _pattern(watcher)):
                self.csv_watcher.unregister(csv_file)
                if self.runner is not None:
                    # Claimed again (with the new interval) only after its queued writes: the restored
                    # content must include them.
                    self.runner.share.forget(csv_file)
        registered = 0
        for csv_file, (interval, key, dialect, pattern) in wanted.items():
            if self.csv_watcher.get(csv_file) is None:
                self.activate_watcher(csv_file, interval, key, dialect, pattern)
                registered += 1
        if registered:
            # One line, not one per watcher: with 1,000 watchers the log lines were most of a command's cost.
            self.log.info("Registered %d watchers" % registered)
        return stored

    def activate_watcher(self, csv_file, interval, key=(), dialect=DEFAULT, pattern=None):
        """Register the watcher of ``csv_file`` and its thread; it starts with the others in csv_watcher_run.
        Its rows are read in ``dialect`` and matched by the columns ``key`` (see watcher_options.py). With a
        ``pattern``, ``csv_file`` is a folder whose matching files are watched (see folder.py)."""
        self.csv_watcher.register(csv_file, interval, "Watcher for %s" % csv_file, self.quiet_seconds, key, dialect,
                                  pattern)

    def csv_watcher_list(self, as_json, status):
        watchers = [dict(watcher, files=count_files(watcher["csv_file"], watcher["pattern"])
                         if watcher["pattern"] is not None else None) for watcher in self.stored_watchers()]
        if as_json or status:
            watchers = self.with_status(watchers)
        watcher_commands.print_watchers(watchers, as_json, status)

    def csv_watcher_add(self, csv_file, interval, key, delimiter, encoding, pattern):
        chosen = click.get_current_context().get_parameter_source("delimiter") != ParameterSource.DEFAULT
        self.add_watcher(csv_file, interval, key, delimiter, encoding, hint=not chosen, pattern=pattern)

    def csv_watcher_delete(self, csv_file, purge):
        self.delete_watcher(csv_file, purge)

    def csv_watcher_update(self, csv_file, interval, key, no_key, delimiter, encoding, pattern):
        self.update_watcher(csv_file, interval, key, no_key, delimiter, encoding, pattern)

    def csv_hook_add(self, name, command, url, files, events, columns, min_rows):
        hook_commands.add_hook(self.hooks, hook_commands.need_history(self._recorder()), self.stored_watchers(),
                               name, command, url, files, events, columns, min_rows)

    def csv_hook_list(self, as_json):
        hook_commands.list_hooks(self.hooks, hook_commands.need_history(self._recorder()), self.stored_watchers(),
                                 as_json)

    def csv_hook_delete(self, name):
        hook_commands.delete_hook(self.hooks, name)

    def add_watcher(self, csv_file, interval=DEFAULT_INTERVAL, key=(), delimiter=",", encoding="utf-8", hint=True,
                    pattern=None, say=click.echo):
        """Add the watcher of ``csv_file`` (csv_watcher_add), a folder's when ``csv_file`` is a directory (its
        files matching ``pattern``, default DEFAULT_PATTERN); what it has to tell goes to ``say(message,
        err=False)``, a warning with ``err=True``. ``hint``: warn when the header looks separated by another
        delimiter. Raises a click.ClickException naming what is wrong and leaves the database as it was."""
        csv_file = normalise(csv_file)
        key, dialect = tuple(dict.fromkeys(key)), Dialect(delimiter, encoding)
        if is_folder(csv_file):
            pattern = pattern or DEFAULT_PATTERN
            check_folder(csv_file, pattern)
        elif pattern is not None:
            raise click.BadParameter("%s is not a folder; --pattern chooses a folder's files." % csv_file,
                                     param_hint="'--pattern'")
        else:
            check_watchable(csv_file)
            header = read_header(csv_file, dialect)
            check_key(csv_file, key, header)
            warning = delimiter_hint(csv_file, header, dialect) if hint else None
            if warning is not None:
                say(warning, err=True)
        check_not_overlapping(self.stored_watchers(), csv_file, pattern)
        try:
            with transaction(self.db, writes=True) as session:
                session.add(self.Watcher(csv_file=csv_file, interval=interval, pattern=pattern,
                                         **stored_options(key, dialect)))
                session.flush()
                if self.csv_watcher.get(csv_file) is None:
                    self.activate_watcher(csv_file, interval, key, dialect, pattern)
        except IntegrityError:
            raise CsvManagerError("%s is already watched." % csv_file)
        self.log.info("Watcher added for %s" % csv_file)
        if pattern is None:
            say("Added watcher for %s (every %d s)" % (csv_file, interval))
        else:
            say("Added watcher for the folder %s: %s files matching %s (every %d s)"
                % (csv_file, count_shown(count_files(csv_file, pattern)), pattern, interval))

    def delete_watcher(self, csv_file, purge=False, say=click.echo):
        """Remove the watcher of ``csv_file`` (csv_watcher_delete), and its history with ``purge``; see
        add_watcher for ``say`` and errors."""
        csv_file = normalise(csv_file)
        with transaction(self.db, writes=True):
            watcher = self.Watcher.query.filter_by(csv_file=csv_file).first()
            if watcher is None:
                raise CsvManagerError("No watcher for %s." % csv_file)
            folder = watcher.pattern is not None
            self.Watcher.query.filter_by(id=watcher.id).delete()
        if self.csv_watcher.get(csv_file) is not None:
            self.csv_watcher.unregister(csv_file)
        say("Removed watcher for %s" % csv_file)
        if not self.signals.send("csv_watcher_deleted", csv_file=csv_file, purge=purge, say=say,
                                 folder=folder) and purge:
            say("No history to delete: no plugin records one (CsvDocumentPlugin is not in PLUGINS).", err=True)

    def update_watcher(self, csv_file, interval=None, key=(), no_key=False, delimiter=None, encoding=None,
                       pattern=None, say=click.echo):
        """Change how the watcher of ``csv_file`` checks and reads it (csv_watcher_update): None and () keep
        what it has; see add_watcher for ``say`` and errors."""
        csv_file = normalise(csv_file)
        if key and no_key:
            raise click.UsageError("--key and --no-key cannot be combined.")
        if interval is None and not key and not no_key and delimiter is None and encoding is None and not pattern:
            raise click.UsageError("Say what to change: -i/--interval, --key, --no-key, --delimiter, --encoding or "
                                   "--pattern.")
        stored = self.stored_watchers()
        with transaction(self.db, writes=True):
            watcher = self.Watcher.query.filter_by(csv_file=csv_file).first()
            if watcher is None:
                raise CsvManagerError("No watcher for %s." % csv_file)
            options = read_options(watcher.key_columns, watcher.delimiter, watcher.encoding)
            before = options_of(dict(options, interval=watcher.interval))
            after = Options(interval or before.interval,
                            () if no_key else tuple(dict.fromkeys(key)) if key else before.key,
                            Dialect(delimiter or before.dialect.delimiter, encoding or before.dialect.encoding))
            if after.key and watcher.pattern is None:
                check_key(csv_file, after.key, read_header(csv_file, after.dialect))
            pattern_before, new_pattern = watcher.pattern, updated_pattern(watcher, pattern, stored)
            watcher.interval, watcher.pattern = after.interval, new_pattern
            for column, value in stored_options(after.key, after.dialect).items():
                setattr(watcher, column, value)
        self.load_watchers()  # registers the watcher again with its new interval and options
        if new_pattern != pattern_before:
            say("Watcher for %s now watches its files matching %s (was %s)" % (csv_file, new_pattern, pattern_before))
        if after.interval != before.interval:
            self.log.info("Watcher for %s changed from every %d s to every %d s"
                          % (csv_file, before.interval, after.interval))
            say("Watcher for %s now checks every %d s (was %d s)" % (csv_file, after.interval, before.interval))
        if (after.key, after.dialect) != (before.key, before.dialect):
            say("Watcher for %s now reads it with %s (was %s)" % (csv_file, after.described(), before.described()))
        if after == before and new_pattern == pattern_before:
            say("Watcher for %s unchanged: every %d s, %s" % (csv_file, after.interval, after.described()))

    def csv_watcher_run(self, as_json, timestamps):
        """Run until stopped (see runner.py)."""
        poll_seconds = self.app.config.get("WATCHER_DATABASE_POLL_SECONDS", 1)
        notifications = settings.notifications(self.app.config)
        outage = Outage(self.log)
        recorder = self._recorder(outage)
        if recorder is None:
            raise CsvManagerError("csv_watcher_run needs a plugin that records what it reports: add "
                                  "CsvDocumentPlugin to PLUGINS.")
        self.runner = Runner(self, recorder, outage)
        click.get_current_context().exit(self.runner.run(as_json, timestamps, poll_seconds, notifications))

    def _recorder(self, outage=None) -> Optional[RecordKeeper]:
        """The record keeper a plugin answers ``csv_watcher_recorder`` with (see the module's docstring), or
        None when no active plugin records."""
        answers = self.signals.send("csv_watcher_recorder", outage=outage)
        return next((recorder for _, recorder in answers if recorder is not None), None)

    def restart_later(self, csv_file):
        """Stop the watcher of ``csv_file`` and register it again, unstarted, for whichever runner owns it next."""
        watcher = self.csv_watcher.get(csv_file)
        if watcher is not None:
            self.csv_watcher.unregister(csv_file)
            self.activate_watcher(csv_file, watcher.interval, watcher.key, watcher.dialect, _pattern(watcher))

    def with_status(self, watchers):
        """``watchers`` with their state, owner and times (see status.py)."""
        return with_status(self._recorder(), watchers)

    def stored_watchers(self, csv_file=None):
        """All persisted watchers (or that of ``csv_file`` only) as dicts (id, csv_file, interval, key, delimiter,
        encoding, pattern: None for a file's), oldest first."""
        columns = (self.Watcher.id, self.Watcher.csv_file, self.Watcher.interval, self.Watcher.key_columns,
                   self.Watcher.delimiter, self.Watcher.encoding, self.Watcher.pattern)
        with transaction(self.db):
            # Plain tuples: loading 1,000 ORM objects cost a one-shot command more than everything else it does.
            query = self.Watcher.query.with_entities(*columns)
            if csv_file is not None:
                query = query.filter_by(csv_file=csv_file)
            stored = query.order_by(self.Watcher.id).all()
        return [dict({"id": row[0], "csv_file": row[1], "interval": row[2]}, **read_options(*row[3:6]),
                     pattern=row[6]) for row in stored]


def _pattern(watcher):
    """The pattern of a registered folder watcher; None for a file's."""
    return getattr(watcher, "pattern", None)
