"""A runner's share (sharing.py) on real runner locks in a real SQLite history database: every watcher has its
lease for as long as it can send anything, from before it starts until it has stopped. A watcher without one was
recorded unfenced, and a runner that had just lost its database session recorded a change that the next owner
recorded again (seen once in the three-runner test on PostgreSQL)."""
import pytest

from csv_manager.applications.csv_manager_app import CsvManagerApp
from csv_manager.plugins.csv_watcher_db_plugin.sharing import Share

pytestmark = pytest.mark.timeout(30)

STORED = {"/data/a.csv": 1, "/data/b.csv": 2, "/data/c.csv": 3}


class Runner:
    """A Share whose start and stop callbacks note the lease the watcher would send under at that moment."""

    def __init__(self, new_locks):
        self.started, self.seen_at_start, self.seen_at_stop, self.released = set(), {}, {}, []
        #: At each stop, the lease every watcher still running would send under (they run on meanwhile).
        self.running_at_stops = []
        self.share = Share(new_locks, start=self.start, started=self.started.__contains__,
                           stop=self.stop, release=self.released.append, say=lambda message: None)

    def start(self, csv_file):
        self.seen_at_start[csv_file] = self.share.lease(csv_file)
        self.started.add(csv_file)

    def stop(self, csv_file):
        self.seen_at_stop[csv_file] = (self.share.lease(csv_file), self.share.owns(csv_file))
        self.running_at_stops.append({running: self.share.lease(running) for running in self.started})
        self.started.discard(csv_file)


@pytest.fixture
def history_db(home):
    """The history plugin, its SQLite database set up (the runner locks live there)."""
    app = CsvManagerApp()
    plugin = app.app.plugins.get("CsvDocumentPlugin")
    plugin.setup_db()
    yield plugin
    app.stop()


@pytest.fixture
def runner(history_db):
    runner = Runner(lambda: history_db.history.locks(stall_seconds=10))
    yield runner
    runner.share.close()


def test_a_watcher_has_its_lease_before_it_starts(runner):
    runner.share.balance(STORED)
    assert set(runner.seen_at_start) == set(STORED)
    for csv_file, lease in runner.seen_at_start.items():
        assert lease is not None and lease is runner.share.lease(csv_file) and lease.held


def test_watchers_stopped_for_lost_locks_send_under_their_lost_lease(runner):
    runner.share.balance(STORED)
    leases = dict(runner.share.leases)
    runner.share.locks.lose("lost in a test")
    assert not runner.share.check()
    assert runner.seen_at_stop == {csv_file: (lease, False) for csv_file, lease in leases.items()}
    assert runner.running_at_stops == [{running: leases[running] for running in STORED if running not in stopped}
                                       for stopped in [list(leases)[:count] for count in range(len(leases))]]
    assert not any(lease.held for lease in leases.values())
    assert [runner.share.lease(csv_file) for csv_file in STORED] == [None, None, None]


def test_a_watcher_handed_over_sends_under_its_lease_until_stopped(runner):
    runner.share.balance(STORED)
    leases = dict(runner.share.leases)
    runner.share.balance({"/data/a.csv": 1})
    assert runner.seen_at_stop == {"/data/b.csv": (leases["/data/b.csv"], False),
                                   "/data/c.csv": (leases["/data/c.csv"], False)}
    assert runner.running_at_stops == [leases, {"/data/a.csv": leases["/data/a.csv"],
                                                "/data/c.csv": leases["/data/c.csv"]}]
    assert runner.released == [leases["/data/b.csv"], leases["/data/c.csv"]]
    assert runner.share.lease("/data/b.csv") is None and runner.share.lease("/data/c.csv") is None
