"""CsvWatcherPattern: gives any plugin ``self.csv_watcher`` to register, unregister and get CSV file watchers.

The application holds one registry of watchers (``app.csv_watcher``) shared by every plugin that inherits the
pattern. Each watcher owns one groundwork thread, registered through GwThreadsPattern, which sleeps until the
kernel notifies a change to its file (:mod:`.notifier`) or the application's ticker (:mod:`.ticker`) finds it
changed. Registering a watcher does not start it: ``start()`` starts the notifier, the ticker, every registered
watcher and any registered afterwards; ``stop()`` stops and joins them. One-shot commands therefore register
watchers without ever reading the watched files.

``start(owns=...)`` starts only the watchers this process owns (several processes may share the watchers;
see csv_manager/runner_locks/); ``resume(csv_file)`` starts one once it is owned. A watcher's thread runs
once, so giving a watcher up means unregistering it and registering it again.

Signals sent by watchers (rows are dicts keyed by the header; see :class:`.watcher.CsvWatcher`):

- ``csv_watcher_started`` (csv_file, rows, interval): the first good read of the file after start.
- ``csv_watcher_baseline`` (csv_file, rows, content): content taken as a baseline, compared with nothing.
- ``csv_watcher_change`` (csv_file, new_rows, missing_rows, changed_rows, columns, back, rows, patch, content):
  the bytes changed. ``changed_rows`` are the rows a key matched (dicts of ``key``, ``changes`` and ``row``,
  see keys.py), ``columns`` how the header changed (a dict, see csv_diff.Columns) or None, ``back`` whether
  the file was missing or unusable just before.
- ``csv_watcher_state`` (csv_file, state, reason, rows): the file went ``missing``, ``empty``,
  ``unreadable`` or ``invalid`` (``reason`` says why), or is ``back`` as it was (``rows`` its row count); or a
  folder's file was ``removed``.

A folder watcher (see :mod:`.folder`, ``register(..., pattern=GLOB)``) sends these for each of its files
(``csv_watcher_change`` with ``added`` True for a file that appeared), ``csv_watcher_started`` once for
itself (rows None, ``files`` how many it holds, its ``pattern``), ``csv_watcher_baseline`` with empty content
for itself when a runner first watches it (the mark that its later files are added ones), and:

- ``csv_watcher_renamed`` (csv_file, previous, rows): a folder's file was renamed from ``previous``.

Each signal also carries ``lease``: what ``start(lease_of=...)`` gives for the file at the moment it is sent
(None without it), this process's claim on the watcher. A receiver that records passes it on, so that a process
that lost the watcher to another records nothing more of it.
"""
import threading

from groundwork.patterns import GwThreadsPattern

from csv_manager.patterns.csv_watcher_pattern.dialect import DEFAULT
from csv_manager.patterns.csv_watcher_pattern.folder import FolderWatcher
from csv_manager.patterns.csv_watcher_pattern.notifier import Notifier
from csv_manager.patterns.csv_watcher_pattern.ticker import Ticker
from csv_manager.patterns.csv_watcher_pattern.watcher import QUIET_SECONDS, CsvWatcher

SIGNALS = {
    "csv_watcher_started": "Sent once a watcher has read its file (or listed its folder) for the first time. "
                           "Arguments: csv_file, rows, interval, files and pattern (a folder's, else None), lease",
    "csv_watcher_baseline": "Sent when a watcher takes content as a new baseline, compared with nothing. "
                            "Arguments: csv_file, rows, content, lease",
    "csv_watcher_change": "Sent when the bytes of a watched csv file changed. Arguments: csv_file, new_rows, "
                          "missing_rows, changed_rows (all possibly empty), columns (None if the header did not "
                          "change), back, added (a folder's new file), rows, patch (old to new bytes), content, "
                          "lease",
    "csv_watcher_state": "Sent when a watched csv file goes missing, empty, unreadable or invalid, or comes back "
                         "unchanged, or a folder's file is removed. Arguments: csv_file, state, reason, rows, lease",
    "csv_watcher_renamed": "Sent when a file of a watched folder was renamed. Arguments: csv_file, previous, rows, "
                           "lease",
}


class CsvWatcherExistsError(Exception):
    """A watcher for this file is already registered."""


class CsvWatcherPattern(GwThreadsPattern):
    """Lets a plugin watch CSV files for new and missing rows."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not hasattr(self.app, "csv_watcher"):
            self.app.csv_watcher = CsvWatcherApplication(self.app)
        #: Instance of :class:`CsvWatcherPlugin`: register, unregister and get watchers of this plugin.
        self.csv_watcher = CsvWatcherPlugin(self)


class CsvWatcherPlugin:
    """A plugin's view of the application's watcher registry."""

    def __init__(self, plugin):
        self._plugin = plugin
        self._app = plugin.app

    def register(self, csv_file, interval, description=None, quiet_seconds=QUIET_SECONDS, key=(), dialect=DEFAULT,
                 pattern=None):
        """Register a watcher for ``csv_file`` (an absolute path) checking every ``interval`` seconds; a state
        that may be a writer's intermediate one is reported once unchanged for ``quiet_seconds``. The file is
        read in ``dialect`` (dialect.Dialect) and its rows matched by the columns ``key`` (see keys.py).
        With a ``pattern`` (see folder.py), ``csv_file`` is a folder and every file in it that matches is
        watched so."""
        return self._app.csv_watcher.register(csv_file, interval, description, quiet_seconds, self._plugin, key,
                                              dialect, pattern)

    def unregister(self, csv_file):
        """Stop the watcher of ``csv_file``, join its thread and forget it."""
        return self._app.csv_watcher.unregister(csv_file)

    def get(self, csv_file=None):
        """This plugin's watcher of ``csv_file``, or a dict of all its watchers keyed by file."""
        return self._app.csv_watcher.get(csv_file, self._plugin)

    def start(self, prepare=None, owns=None, notifications=True, lease_of=None):
        """Start all registered watchers, and from now on every watcher as soon as it is registered.

        ``prepare(watcher)`` is called before each watcher starts (for example to restore its baseline).
        ``owns(csv_file)``, if given, limits this to the watchers it returns True for; see :meth:`resume`.
        ``notifications`` False leaves the watchers to their interval alone (stat polling).
        ``lease_of(csv_file)`` gives the ``lease`` each signal carries.
        """
        return self._app.csv_watcher.start(prepare, owns, notifications, lease_of)

    def resume(self, csv_file):
        """Start the registered watcher of ``csv_file`` (after start(), once ``owns`` says it is ours)."""
        return self._app.csv_watcher.resume(csv_file)

    def stop(self):
        """Stop all running watchers and join their threads."""
        return self._app.csv_watcher.stop()


class CsvWatcherApplication:
    """The application-wide registry of watchers, keyed by absolute file path."""

    def __init__(self, app):
        self._app = app
        self._watchers = {}
        self._lock = threading.Lock()
        self._ticker = None
        self._notifier = None
        self._prepare = None
        self._owns = None
        self._lease_of = _no_lease

    @property
    def running(self):
        """True between start() and stop(): newly registered watchers start at once."""
        return self._ticker is not None

    def register(self, csv_file, interval, description, quiet_seconds, plugin, key=(), dialect=DEFAULT,
                 pattern=None):
        with self._lock:
            if csv_file in self._watchers:
                raise CsvWatcherExistsError("A watcher for %s is already registered" % csv_file)
            _register_signals(plugin)
            if pattern is None:
                watcher = self._new_watcher(csv_file, interval, quiet_seconds, plugin, key, dialect)
            else:
                watcher = self._new_folder(csv_file, pattern, interval, quiet_seconds, plugin, key, dialect)
            watcher.thread = plugin.threads.register("csv_watcher %s" % csv_file, watcher.watch, description)
            self._watchers[csv_file] = watcher
            if self.running and self._owns(csv_file):
                self._start(watcher)
            return watcher

    def _sender(self, plugin, lease_path=None):
        """``send(signal, csv_file, **arguments)``, with the lease of ``lease_path`` (a folder's file is
        recorded under its folder's lease) or else of ``csv_file``."""
        def send(signal, csv_file, **kwargs):
            plugin.signals.send(signal, csv_file=csv_file, lease=self._lease_of(lease_path or csv_file), **kwargs)
        return send

    def _new_watcher(self, csv_file, interval, quiet_seconds, plugin, key, dialect, folder=None, **hooks):
        """The CsvWatcher of ``csv_file``, sending the pattern's signals; one of ``folder`` sends no
        ``csv_watcher_started`` (its folder does, once)."""
        send = self._sender(plugin, folder)

        def started(watcher):
            if folder is None:
                send("csv_watcher_started", watcher.csv_file, rows=watcher.rows, interval=watcher.interval,
                     files=None, pattern=None)
        return CsvWatcher(
            csv_file, interval, on_started=started,
            on_baseline=lambda watcher, content: send(
                "csv_watcher_baseline", watcher.csv_file, rows=watcher.rows, content=content),
            on_change=lambda watcher, change, content: send(
                "csv_watcher_change", watcher.csv_file, new_rows=change.new_rows,
                missing_rows=change.missing_rows, changed_rows=change.changed_rows,
                columns=None if change.columns is None else change.columns.as_dict(), back=change.back,
                added=change.added, rows=change.rows, patch=change.patch, content=content),
            on_state=lambda watcher, state, reason: send(
                "csv_watcher_state", watcher.csv_file, state=state, reason=reason, rows=watcher.rows),
            quiet_seconds=quiet_seconds, key=key, dialect=dialect, **hooks)

    def _new_folder(self, directory, pattern, interval, quiet_seconds, plugin, key, dialect):
        send = self._sender(plugin, directory)
        return FolderWatcher(
            directory, pattern, interval,
            new_member=lambda path, **hooks: self._new_watcher(path, interval, quiet_seconds, plugin, key, dialect,
                                                               folder=directory, **hooks),
            on_started=lambda folder, files: send(
                "csv_watcher_started", directory, rows=None, interval=interval, files=files, pattern=pattern),
            on_marked=lambda folder: send("csv_watcher_baseline", directory, rows=0, content=b""),
            on_removed=lambda path: send("csv_watcher_state", path, state="removed", reason="was removed", rows=0),
            on_renamed=lambda previous, path, rows: send("csv_watcher_renamed", path, previous=previous, rows=rows),
            on_state=lambda folder, state, reason: send(
                "csv_watcher_state", directory, state=state, reason=reason, rows=None),
            key=key, dialect=dialect)

    def unregister(self, csv_file):
        with self._lock:
            watcher = self._watchers.pop(csv_file)
            if self._notifier is not None:
                self._notifier.unwatch(watcher)
        watcher.stop()
        watcher.join()
        watcher.thread.plugin.threads.unregister(watcher.thread.name)
        return watcher

    def get(self, csv_file=None, plugin=None):
        def owned(watcher):
            return watcher is not None and (plugin is None or watcher.thread.plugin is plugin)
        if csv_file is not None:
            watcher = self._watchers.get(csv_file)
            return watcher if owned(watcher) else None
        return {path: watcher for path, watcher in self._watchers.items() if owned(watcher)}

    def start(self, prepare=None, owns=None, notifications=True, lease_of=None):
        with self._lock:
            self._prepare = prepare
            self._owns = owns or (lambda csv_file: True)
            self._lease_of = lease_of or _no_lease
            self._notifier = Notifier(enabled=notifications)
            self._notifier.start()
            self._ticker = Ticker()
            self._ticker.start()
            for csv_file, watcher in self._watchers.items():
                if self._owns(csv_file):
                    self._start(watcher)

    def resume(self, csv_file):
        with self._lock:
            self._start(self._watchers[csv_file])

    def stop(self):
        with self._lock:
            watchers = list(self._watchers.values())
            ticker, self._ticker = self._ticker, None
            notifier, self._notifier = self._notifier, None
        if notifier is not None:
            notifier.stop()
        if ticker is not None:
            ticker.stop()
        for watcher in watchers:
            watcher.stop()
        for watcher in watchers:
            watcher.join()

    def _start(self, watcher):
        if watcher.started:
            return
        if self._prepare is not None:
            self._prepare(watcher)
        if isinstance(watcher, FolderWatcher):
            watcher.start(self._notifier, self._ticker, self._prepare)
            return
        watcher.start()
        self._notifier.watch(watcher)
        self._ticker.add(watcher)


def _no_lease(csv_file):
    return None


def _register_signals(plugin):
    for signal, description in SIGNALS.items():
        if plugin.app.signals.get(signal) is None:
            plugin.signals.register(signal, description)
