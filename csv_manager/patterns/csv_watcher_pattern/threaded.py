"""What the watchers that run a groundwork thread of their own share: a file's watcher (watcher.py) and a
folder's (folder.py)."""

#: How long joining a stopped watcher's thread waits for its last check to end.
JOIN_TIMEOUT_SECONDS = 5


class Threaded:
    """What a watcher run by a groundwork thread of its own (``thread``, a
    :class:`groundwork.patterns.gw_threads_pattern.Thread`) has: whether it started and stopped, and a join.
    The watcher sets the event ``_stopped`` to end its loop."""

    thread = None

    @property
    def started(self):
        return self.thread is not None and self.thread.thread.ident is not None

    @property
    def stopped(self):
        return self._stopped.is_set()

    def join(self):
        """Wait for the stopped loop to end; returns at once if it never started."""
        if self.started:
            self.thread.thread.join(JOIN_TIMEOUT_SECONDS)

    def _run_thread(self):
        self.thread.thread.daemon = True
        self.thread.run()
