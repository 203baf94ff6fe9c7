"""csv_watcher_run: the loop of one runner, from its start to its stop.

A runner starts the history's recorder, takes its share of the watchers (sharing.py), starts those, and then,
every ``WATCHER_DATABASE_POLL_SECONDS``, reads the watcher table again (only when it may have changed), balances
its share, publishes its watchers' status (status.py) and tells its hooks which watchers it owns
(hook_delivery.py). What the watchers find is printed once recorded (reporter.py). On Ctrl-C or SIGTERM it stops
the hooks, the watchers and the recorder, in that order, and releases its share.
"""
import time
from typing import NamedTuple

import click

from csv_manager import stall
from csv_manager.database import bound_runner_sessions
from csv_manager.errors import CsvManagerError
from csv_manager.plugins.csv_watcher_db_plugin.hook_delivery import Deliveries, Owners, retry_max_seconds
from csv_manager.plugins.csv_watcher_db_plugin.record_keeper import RecordKeeper
from csv_manager.plugins.csv_watcher_db_plugin.reporter import Reporter
from csv_manager.plugins.csv_watcher_db_plugin.sharing import Share
from csv_manager.plugins.csv_watcher_db_plugin.status import StatusPublisher
from csv_manager.plugins.csv_watcher_db_plugin.stop_request import StopRequest
from csv_manager.sqlite_tuning import commit_counter


class Polled(NamedTuple):
    """The watcher table as the run loop read it last: the commit counter then, and {csv_file: id, interval,
    pattern} of every watcher."""

    commit: object
    ids: dict
    intervals: dict
    patterns: dict


class Runner:
    """The run loop of ``plugin`` (a CsvWatcherDbPlugin), writing through ``recorder`` (the answer to the
    plugin's ``csv_watcher_recorder`` signal); ``outage`` says a failing database once."""

    def __init__(self, plugin, recorder: RecordKeeper, outage):
        self.plugin = plugin
        self.recorder = recorder
        self.log = plugin.log
        self._outage = outage
        self._watchers = plugin.csv_watcher
        stall_seconds = stall.stall_seconds(plugin.app.config)
        for engine in (plugin.db.engine, recorder.db.engine):
            bound_runner_sessions(engine, stall_seconds)
        self.share = Share(lambda: recorder.locks(stall_seconds), start=self._watchers.resume,
                           started=lambda csv_file: self._watchers.get(csv_file).started,
                           stop=plugin.restart_later, release=recorder.release, say=self.say)
        self._status = StatusPublisher(recorder)
        #: The watchers this runner owns, for its hook deliveries (see hook_delivery.py).
        self._owners = Owners({})
        self._deliveries = Deliveries(plugin.hooks, recorder, lambda: self._owners, self.say,
                                      retry_max_seconds(plugin.app.config))
        #: The watcher table at the loop's last read (a Polled).
        self._polled = None

    def run(self, as_json, timestamps, poll_seconds, notifications):
        """Watch until stopped; returns the exit code (see StopRequest)."""
        with StopRequest() as stop:
            reporter = Reporter(as_json, timestamps, on_broken_pipe=stop.set)
            self._connect_reports(reporter)
            if not self._watchers.get():
                click.echo("No watchers yet; waiting for csv_watcher_add (Ctrl-C to stop).", err=True)
            self.recorder.start()
            self._watchers.start(prepare=self._restore_baseline, owns=self.share.owns,
                                 notifications=notifications, lease_of=self.share.lease)
            commits = commit_counter(self.plugin.db.engine)
            self._poll(commits, reporter)
            while not stop.event.wait(poll_seconds):
                self._poll(commits, reporter)
            if commits is not None:
                commits.close()
            self._stop()
        return stop.exit_code

    def say(self, message):
        """Tell the runner's user ``message``, on stderr."""
        self.log.debug(message)
        click.echo(message, err=True)

    def _connect_reports(self, reporter):
        """Print what the watchers read and the recorder recorded, and have the hooks deliver it."""
        recorder = self.recorder

        def watching(plugin, csv_file, rows, interval, lease, files=None, pattern=None, **kwargs):
            recorder.then(lambda: reporter.started(plugin, csv_file, rows, interval, files, pattern), lease)
        self._connect("csv_watcher_started", watching, "Prints that a watcher read its file, once recorded")
        self._connect("csv_history_recorded", reporter.change, "Prints a change or state once recorded")
        self._connect("csv_history_recorded", self._deliveries.wake, "Has the hooks deliver a recorded change")

    def _connect(self, signal, function, description):
        self.plugin.signals.connect("%s_%s" % (signal, function.__name__), signal, function, description)

    def _stop(self):
        stopping = time.monotonic()
        self._deliveries.stop()
        self._watchers.stop()
        self.recorder.stop()
        self.share.close()
        self.log.info("Stopped %d watchers and the history recorder in %.2f s"
                      % (len(self._watchers.get()), time.monotonic() - stopping))

    def _restore_baseline(self, watcher):
        """Start a watcher from the content last recorded for its file, if any, so that it reports what
        changed while it was not watched. A history that cannot be read (CsvManagerError) keeps it from
        starting: a fresh baseline would lose what changed meanwhile. This runner's own writes still queued for
        the file (from a watcher of it that just stopped) are waited for, or they would be reported twice."""
        content = self.recorder.content_to_resume(watcher.csv_file)
        if getattr(watcher, "pattern", None) is not None:
            watcher.restore(content, self.recorder.recorded_files(watcher.csv_file))
        elif content is not None:
            watcher.restore(content)

    def _poll(self, commits, reporter):
        """load_watchers() and this runner's share of them, and the hooks it delivers: a database that fails for
        a while (locked, restarting) is told through the outage and tried again on the next poll; the watchers
        this runner can still prove it owns keep running meanwhile.

        ``commits`` (see sqlite_tuning.commit_counter) tells when the watcher table cannot have changed since the
        last poll: then it is not read again (reading 1,000 rows a second was most of an idle runner's CPU)."""
        try:
            commit = commits() if commits is not None else None
            if commit is None or self._polled is None or self._polled.commit != commit:
                stored = self.plugin.load_watchers()
                if self._polled is not None:
                    _report_watcher_changes(reporter, self._polled.intervals, stored)
                self._polled = Polled(commit, *({watcher["csv_file"]: watcher[column] for watcher in stored}
                                                for column in ("id", "interval", "pattern")))
                self._deliveries.update(self.plugin.hooks.hooks())
            self.share.balance(self._polled.ids)
            self._status.publish([(self._watchers.get(csv_file), lease)
                                  for csv_file, lease in self.share.leases.items()])
        except CsvManagerError as error:
            self.share.check()
            self._outage.failed("watcher list", error.message)
        else:
            self._outage.succeeded("watcher list")
        if self._polled is not None:
            owned = {csv_file: self._polled.patterns.get(csv_file) for csv_file in self.share.leases}
            if owned != self._owners.watchers:
                self._owners = Owners(owned)
                self._deliveries.wake()


def _report_watcher_changes(reporter, known, stored):
    """Tell ``reporter`` which watchers were added, removed or given another interval since ``known``
    ({csv_file: interval}), by the ``stored`` watchers."""
    intervals = {watcher["csv_file"]: watcher["interval"] for watcher in stored}
    reporter.watchers(added={csv_file: interval for csv_file, interval in intervals.items() if csv_file not in known},
                      removed=[csv_file for csv_file in known if csv_file not in intervals],
                      changed={csv_file: (known[csv_file], interval) for csv_file, interval in intervals.items()
                               if csv_file in known and known[csv_file] != interval})
