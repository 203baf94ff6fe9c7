"""The ticker: every watcher ticked on its own interval, from one thread, and stopped cleanly."""
import threading

import pytest

from csv_manager.patterns.csv_watcher_pattern.ticker import Ticker

pytestmark = pytest.mark.timeout(20)


class FakeWatcher:
    def __init__(self, interval, ticks_wanted):
        self.tick_seconds = interval
        self.stopped = False
        self.ticks = 0
        self.threads = set()
        self.done = threading.Event()
        self._wanted = ticks_wanted

    def tick(self):
        self.ticks += 1
        self.threads.add(threading.get_ident())
        if self.ticks >= self._wanted:
            self.done.set()


def test_each_watcher_is_ticked_at_once_then_on_its_interval_from_one_thread():
    ticker = Ticker()
    watchers = [FakeWatcher(0.25, 3) for _ in range(50)]
    ticker.start()
    try:
        for watcher in watchers:
            ticker.add(watcher)
        for watcher in watchers:
            assert watcher.done.wait(10)
    finally:
        ticker.stop()
    assert len(set().union(*(watcher.threads for watcher in watchers))) == 1


def test_a_stopped_watcher_is_not_ticked_again():
    ticker = Ticker()
    stopped, running = FakeWatcher(0.25, 1), FakeWatcher(0.25, 3)
    ticker.start()
    try:
        ticker.add(stopped)
        ticker.add(running)
        assert stopped.done.wait(10)
        stopped.stopped = True
        assert running.done.wait(10)
    finally:
        ticker.stop()
    assert stopped.ticks == 1
