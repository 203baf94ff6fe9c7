"""One thread that keeps every watcher's schedule, so idle watchers cost a stat and no thread wake-up.

Each watcher's own thread sleeps until the ticker wakes it. Every ``interval`` seconds (its ``tick_seconds``:
a folder's files, seen through notifications, are ticked less often, see folder.py) the ticker calls
``watcher.tick()``, which stats the file and wakes the watcher's thread only if a check could find something.
A thousand watchers on unchanged files thus cost a thousand ``os.stat`` calls a second from one thread,
instead of a thousand thread wake-ups (measured: about 7 % of a core for the wake-ups alone).
"""
import heapq
import itertools
import threading
import time

#: When the ticker wakes for the first due watcher it also ticks those due within this many seconds, so it wakes
#: at most 1 / SLACK_SECONDS times a second rather than once per watcher (a Python thread wake-up costs tens of
#: microseconds).
SLACK_SECONDS = 0.1


class Ticker:
    def __init__(self):
        self._schedule = []
        self._order = itertools.count()
        self._condition = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="csv_watcher ticker", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        with self._condition:
            self._stopped = True
            self._condition.notify()
        if self._thread.ident is not None:
            self._thread.join()

    def add(self, watcher, first=0.0):
        """Tick ``watcher`` in ``first`` seconds (now by default), then every ``watcher.tick_seconds`` seconds
        until it is stopped."""
        with self._condition:
            heapq.heappush(self._schedule, (time.monotonic() + first, next(self._order), watcher))
            self._condition.notify()

    def _run(self):
        with self._condition:
            while not self._stopped:
                now = time.monotonic()
                if not self._schedule or self._schedule[0][0] > now:
                    self._condition.wait(self._schedule[0][0] - now if self._schedule else None)
                    continue
                while self._schedule and self._schedule[0][0] <= now + SLACK_SECONDS:
                    due, _, watcher = heapq.heappop(self._schedule)
                    if not watcher.stopped:
                        watcher.tick()
                        following = max(due + watcher.tick_seconds, now)
                        heapq.heappush(self._schedule, (following, next(self._order), watcher))
