"""The record keeper: what this plugin needs of the plugin that records what the watchers report, said in code.

CsvWatcherDbPlugin imports nothing of the history (tests/test_plugins.py checks it): it asks for a record keeper
with the signal ``csv_watcher_recorder``, and the receiver (CsvDocumentPlugin) answers with its History, which
has these methods. Nothing checks the Protocol at run time; it is the contract the two plugins keep.
"""
from typing import Protocol


class RecordKeeper(Protocol):
    """The record keeper csv_watcher_run, csv_watcher_list --status and the hooks use."""

    #: Its groundwork-database Database, whose sessions a runner bounds as its own (see bound_runner_sessions).
    db: object

    def start(self):
        """Start the thread that writes what is queued."""

    def stop(self):
        """Write what is queued, in bounded time, and stop the thread."""

    def locks(self, stall_seconds=None):
        """New runner locks (see the runner_locks package), in the store where the writes they fence go."""

    def content_to_resume(self, csv_file):
        """The last recorded content of ``csv_file`` (None for none), once this runner's writes for it are done."""

    def recorded_files(self, directory):
        """The paths under ``directory`` whose history goes on: what a folder's watcher resumes from."""

    def then(self, function, lease=None):
        """Run ``function()`` behind the writes queued so far; skipped if ``lease`` no longer holds by then."""

    def release(self, lease):
        """Release ``lease`` behind the writes queued so far."""

    def record_status(self, entries):
        """Queue one write of watcher statuses (see status.py)."""

    def statuses(self):
        """{csv_file: (state, checked_at, changed_at)} of every watcher whose status a runner wrote."""

    def after(self, version_id, csv_file=None, limit=1000):
        """At most ``limit`` versions recorded after the id ``version_id``, oldest first (what hooks deliver)."""

    def newest_id(self):
        """The id of the newest recorded version (0 for none)."""

    def files_after(self, version_id):
        """[(id, csv_file)] of each version recorded after the id ``version_id``, oldest first."""
