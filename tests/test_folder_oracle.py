"""Differential, property-based, for folders: files written, appended to, replaced, renamed and removed in a real
directory in any order, several at a time between two looks, and once the folder has settled every file in it
has had reported exactly the rows csv.DictReader reads from it: its baseline (for files there at the start) or
nothing (for files that came later) plus what was reported new, minus what was reported missing, following its
renames. A file that is gone has nothing left, and a file that does not match the pattern is never reported.

The folder runs on a test clock without notifications (listings and stats on each tick, as on a network file
system); CSV_MANAGER_ORACLE_EXAMPLES sets the budget as in test_oracle.py.
"""
import csv
import io
import os
import tempfile
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csv_manager.patterns.csv_watcher_pattern.folder import FolderWatcher
from csv_manager.patterns.csv_watcher_pattern.watcher import QUIET_SECONDS, CsvWatcher
from oracle import Clock, dictreader_rows, row_values

EXAMPLES = int(os.environ.get("CSV_MANAGER_ORACLE_EXAMPLES", "300")) // 3
budget = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.timeout(600)

NAMES = ["a.csv", "b.csv", "c.csv", "notes.txt"]
rows = st.lists(st.lists(st.text(alphabet='ab,"\n é', max_size=4), min_size=2, max_size=2), max_size=4)
operations = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), rows),
    st.tuples(st.just("append"), st.sampled_from(NAMES), rows),
    st.tuples(st.just("replace"), st.sampled_from(NAMES), rows),
    st.tuples(st.just("remove"), st.sampled_from(NAMES)),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("settle")),
)


def csv_bytes(records, header=True):
    stream = io.StringIO(newline="")
    writer = csv.writer(stream)
    if header:
        writer.writerow(["id", "name"])
    writer.writerows(records)
    return stream.getvalue().encode()


def apply(directory, operation):
    """Do ``operation`` to the files in ``directory`` as a writer would."""
    kind, name, *rest = operation
    path = os.path.join(directory, name)
    if kind == "write":
        with open(path, "wb") as stream:
            stream.write(csv_bytes(rest[0]))
    elif kind == "append" and os.path.exists(path):
        with open(path, "ab") as stream:
            stream.write(csv_bytes(rest[0], header=False))
    elif kind == "replace":
        with open(path + ".tmp", "wb") as stream:
            stream.write(csv_bytes(rest[0]))
        os.replace(path + ".tmp", path)
    elif kind == "remove" and os.path.exists(path):
        os.remove(path)
    elif kind == "rename" and os.path.exists(path):
        os.replace(path, os.path.join(directory, rest[0]))


class Ticker:
    """Stands for the ticker: keeps the watchers, and ticks them when told."""

    def __init__(self):
        self.watchers = []

    def add(self, watcher, first=0.0):
        self.watchers.append(watcher)

    def tick(self):
        for watcher in self.watchers:
            if not watcher.stopped:
                watcher.tick()


class NoNotifications:
    def watch(self, watcher):
        pass

    def unwatch(self, watcher):
        pass

    def watch_directory(self, folder, directory):
        return False


class Ledger:
    """A FolderWatcher of ``directory`` and, per path, the multiset of rows it has reported there so far."""

    def __init__(self, directory):
        self.clock = Clock()
        #: Whether the first listing's files have settled: later files are never a baseline.
        self.started = False
        self.rows = {}
        self.removed = []
        self.ticker = Ticker()
        self.folder = FolderWatcher(
            directory, "*.csv", 1, new_member=self._member, on_started=lambda folder, files: None,
            on_marked=lambda folder: None, on_removed=self._removed, on_renamed=self._renamed,
            on_state=lambda folder, state, reason: None, clock=self.clock)
        self.folder.attach(NoNotifications(), self.ticker, prepare=None)

    def _member(self, path, **hooks):
        return CsvWatcher(path, 1, on_started=lambda watcher: None, on_baseline=self._baseline,
                          on_change=self._change, clock=self.clock, **hooks)

    def _baseline(self, watcher, content):
        assert not self.started, "%s came later, yet was taken as a silent baseline" % watcher.csv_file
        self.rows[watcher.csv_file] = Counter(map(row_values, dictreader_rows(content)))

    def _change(self, watcher, change, content):
        held = self.rows.setdefault(watcher.csv_file, Counter())
        missing = Counter(map(row_values, change.missing_rows))
        assert not missing - held, "reported missing rows that %s never had" % watcher.csv_file
        held.subtract(missing)
        held.update(map(row_values, change.new_rows))
        self.rows[watcher.csv_file] = +held

    def _removed(self, path):
        self.removed.append(path)
        self.rows.pop(path, None)

    def _renamed(self, previous, path, rows):
        self.rows[path] = self.rows.pop(previous, Counter())

    def look(self):
        """A tick of each file, then of the folder, and the checks they lead to: a file's watcher may look
        before the listing shows that its file was renamed or removed."""
        self.ticker.tick()
        self.folder.run_due()
        self.folder.tick()
        self.folder.run_due()

    def settle(self):
        """Look, let the quiet period pass with nothing written, look again: every write is finished."""
        for _ in range(3):
            self.look()
            self.clock.advance(QUIET_SECONDS + 0.1)
        self.look()


def truth(directory):
    """{path: multiset of DictReader rows} of the matching files in ``directory`` that have content."""
    files = {}
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if name.endswith(".csv") and os.path.getsize(path):
            with open(path, "rb") as stream:
                files[path] = Counter(map(row_values, dictreader_rows(stream.read())))
    return files


@budget
@given(present=st.lists(st.tuples(st.sampled_from(NAMES), rows), max_size=3),
       steps=st.lists(operations, max_size=12))
def test_a_folder_reports_exactly_what_dictreader_reads_as_files_come_and_go(present, steps):
    with tempfile.TemporaryDirectory() as directory:
        for name, records in present:
            apply(directory, ("write", name, records))
        ledger = Ledger(directory)
        ledger.settle()
        assert ledger.rows == truth(directory), "the baseline is not the files' rows"
        ledger.started = True
        for step in steps:
            if step[0] == "settle":
                ledger.settle()
                assert ledger.rows == truth(directory)
            else:
                apply(directory, step)
                ledger.look()
        ledger.settle()
        assert ledger.rows == truth(directory)
        assert not any(path.endswith(".txt") for path in list(ledger.rows) + ledger.removed)
