"""CsvDocumentPlugin: the history of every watched file, as the tutorial's chapter "Complex history database"
builds it: a plugin of its own that receives the watchers' signals and stores each change as a version.

The watcher plugin knows nothing of it. The two meet only through signals:

- ``csv_watcher_baseline``, ``csv_watcher_change`` and ``csv_watcher_state`` (sent by the watchers, see
  CsvWatcherPattern) are recorded as versions, each only while the ``lease`` they carry holds;
- ``csv_history_recorded`` (sent here) follows each recorded change, so whatever is printed from it is already
  on the record;
- ``csv_watcher_recorder`` (sent by csv_watcher_run and csv_watcher_list) asks for the record keeper: this
  plugin answers with its History, which the runner starts and stops, resumes watchers from
  (``content_to_resume``), orders its printing and lease releases behind (``then``, ``release``), writes the
  watchers' status through (``record_status``, ``statuses``) and takes its runner locks from (``locks``);
- ``csv_watcher_deleted`` with ``purge`` deletes the file's history.

The history database is registered only by the commands that need it, so the others never open it.
"""
import click
from click import Argument, IntRange, Option

from groundwork.patterns import GwCommandsPattern
from groundwork_database.patterns import GwSqlPattern

from csv_manager.compat import register_model
from csv_manager.database import close, register_configured
from csv_manager.errors import CsvManagerError
from csv_manager.migrations import prepare_migrated_tables
from csv_manager.patterns import CsvWatcherPattern
from csv_manager.patterns.csv_watcher_pattern.dialect import DEFAULT
from csv_manager.plugins.csv_document_plugin.history import History
from csv_manager.plugins.csv_document_plugin.history_output import (
    SinceType, check_cursor_options, check_history_options, print_after, print_diff, print_pruned, print_versions,
    write_version)
from csv_manager.plugins.csv_document_plugin.migrations import HISTORY
from csv_manager.plugins.csv_document_plugin.models import get_models
from csv_manager.plugins.csv_document_plugin.retention import retention
from csv_manager.plugins.csv_watcher_db_plugin.csv_file_path import normalise
from csv_manager.plugins.csv_watcher_db_plugin.stop_request import StopRequest

RECORDED = ("Sent when a change of rows or columns, or of the file's state, is in the history. Arguments: csv_file, "
            "event, new_rows, missing_rows, changed_rows, columns, reason, rows, seen_at")


class CsvDocumentPlugin(CsvWatcherPattern, GwCommandsPattern, GwSqlPattern):
    """Records what the watchers report, and shows it with ``csv_history``."""

    def __init__(self, app, **kwargs):
        self.name = self.__class__.__name__
        super().__init__(app, **kwargs)
        self.db = None
        self.history = None

    def activate(self):
        self.commands.register("csv_history", "Shows the recorded changes of CSV_FILE, newest first; "
                                              "--show N and --diff N [M] show a version and compare two; "
                                              "--after ID [--follow] reads every file's in order, as a cursor.",
                               self.csv_history, params=[
                                   Argument(("csv_file",), required=False, type=str),
                                   Argument(("versions",), nargs=-1, type=IntRange(min=1)),
                                   Option(("--since",), type=SinceType(), help="Only versions seen at or after "
                                          "TIME (ISO 8601; local unless it has an offset)."),
                                   Option(("--limit",), type=IntRange(min=1), help="At most N versions, the newest."),
                                   Option(("--json", "as_json"), is_flag=True, help="Print JSON instead of text."),
                                   Option(("--show",), type=IntRange(min=1), metavar="N",
                                          help="Write the file's exact bytes as recorded at version N to stdout "
                                               "(> old.csv restores it)."),
                                   Option(("--diff",), is_flag=True,
                                          help="Print the rows that differ between versions N and M, given after "
                                               "CSV_FILE (M defaults to the newest recorded content), in the live "
                                               "report's words."),
                                   Option(("--after",), type=IntRange(min=0), metavar="ID",
                                          help="The versions recorded after the one whose id is ID (0: all), of "
                                               "every file or of CSV_FILE, oldest first. Every version's JSON "
                                               "lines carry its id: store the last one seen and ask again."),
                                   Option(("--follow",), is_flag=True,
                                          help="With --after: go on printing versions as they are recorded, "
                                               "until Ctrl-C or SIGTERM."),
                                   Option(("--prune",), is_flag=True,
                                          help="Delete the versions the retention settings (HISTORY_KEEP_DAYS, "
                                               "HISTORY_KEEP_VERSIONS) do not keep; the oldest kept one can still "
                                               "be shown.")])
        self.signals.register("csv_history_recorded", RECORDED)
        self._connect("csv_watcher_recorder", self.setup_db, "Hands the history to csv_watcher_run as its recorder")
        self._connect("csv_watcher_baseline", self._archive_baseline, "Records a new baseline")
        self._connect("csv_watcher_change", self._archive_change, "Records a change as a version")
        self._connect("csv_watcher_state", self._archive_state, "Records a file's state as a version")
        self._connect("csv_watcher_renamed", self._archive_rename, "Moves a renamed file's history to its new name")
        self._connect("csv_watcher_deleted", self._purge, "Deletes the history of a deleted watcher if asked")

    def deactivate(self):
        close(self.db)

    def setup_db(self, plugin=None, outage=None, **kwargs):
        """Register the history database and its models (get_models), create or upgrade its tables (Alembic,
        see migrations), and return the History; once per process. The recorder tells database trouble
        through ``outage`` (see outage.py)."""
        if self.history is None:
            self.db = register_configured(self, "HISTORY")
            models = [register_model(self.db, model) for model in get_models(self.db)]
            prepare_migrated_tables(self.db, HISTORY, models)
            self.history = History(self.db, models, outage=outage,
                                   on_recorded=lambda record: self.signals.send("csv_history_recorded", **record))
        return self.history

    def csv_history(self, csv_file, versions, since, limit, as_json, show, diff, prune, after, follow):
        check_cursor_options(after, follow, versions, since, limit, show, diff, prune)
        if after is not None:
            return self._follow(normalise(csv_file) if csv_file else None, after, as_json, follow)
        if csv_file is None:
            raise click.UsageError("Missing argument 'CSV_FILE'.")
        csv_file = normalise(csv_file)
        check_history_options(versions, show, diff, prune)
        if prune:
            keep_versions, keep_since = retention(self.app.config)
            return print_pruned(csv_file, *self.setup_db().prune(csv_file, keep_versions, keep_since))
        history = self.setup_db()
        if show is not None:
            return write_version(history, csv_file, show)
        watcher = self.app.csv_watcher.get(csv_file)
        if diff:
            key, dialect = (watcher.key, watcher.dialect) if watcher is not None else ((), DEFAULT)
            return print_diff(history, csv_file, versions, key, dialect, as_json)
        if getattr(watcher, "pattern", None) is not None:
            click.echo("%s is a folder: its files have a history each (csv_manager csv_history %s/FILE)"
                       % (csv_file, csv_file), err=True)
            return None
        versions = history.versions(csv_file, since, limit)
        if versions is None and watcher is None:
            raise CsvManagerError("No history for %s." % csv_file)
        if versions is None:
            click.echo("Nothing recorded for %s yet: csv_watcher_run records its changes." % csv_file, err=True)
        elif not versions:
            click.echo("No changes of %s recorded%s." % (
                csv_file, "" if since is None else " since %sZ" % since.isoformat(timespec="seconds")), err=True)
        print_versions(csv_file, versions or [], as_json)

    def _follow(self, csv_file, after, as_json, follow):
        history = self.setup_db()
        with StopRequest() as stop:
            print_after(history, csv_file, after, as_json, follow, stop.event)
        click.get_current_context().exit(stop.exit_code)

    def _connect(self, signal, function, description):
        self.signals.connect("%s_%s" % (signal, function.__name__), signal, function, description)

    def _archive_baseline(self, plugin, csv_file, rows, content, lease=None, **kwargs):
        self.setup_db().record_baseline(csv_file, rows, content, lease)

    def _archive_change(self, plugin, csv_file, new_rows, missing_rows, changed_rows, columns, back, rows, patch,
                        content, lease=None, added=False, **kwargs):
        self.setup_db().record_change(csv_file, new_rows, missing_rows, changed_rows, columns, rows, patch, content,
                                      lease, back=back, added=added)

    def _archive_state(self, plugin, csv_file, state, reason, rows, lease=None, **kwargs):
        self.setup_db().record_state(csv_file, state, reason, rows, lease)

    def _archive_rename(self, plugin, csv_file, previous, rows, lease=None, **kwargs):
        self.setup_db().record_rename(previous, csv_file, rows, lease)

    def _purge(self, plugin, csv_file, purge, say=click.echo, folder=False, **kwargs):
        purged = self.setup_db().purge(csv_file, folder) if purge else 0
        if purged and folder:
            say("Deleted the history of %s and its files" % csv_file)
        elif purged:
            say("Deleted the history of %s" % csv_file)
