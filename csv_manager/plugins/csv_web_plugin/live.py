"""What keeps the open pages live: one thread of the web server looks at the databases every WEB_POLL_SECONDS,
and every open page's event stream (server-sent events) wakes when what it shows may have changed; the page
then fetches its content again. The runners write the databases, so whatever runner or machine recorded a
change, the pages see it, and a restart of the server or a runner loses nothing: a page reconnects by itself.

An idle page costs its stream's thread waiting on a condition, and a comment line every KEEPALIVE_SECONDS
that finds out whether the browser is still there.
"""
import logging
import threading

#: Seconds between two lines on an idle event stream.
KEEPALIVE_SECONDS = 15
#: Milliseconds a browser waits before it reconnects a stream that ended (a restart of the server).
RETRY_MILLISECONDS = 1000


class Changes:
    """Calls ``fingerprint()`` every ``poll_seconds`` and counts the times its answer changed; ``wait`` blocks
    until the count passes a given one."""

    def __init__(self, fingerprint, poll_seconds):
        self._fingerprint = fingerprint
        self._poll_seconds = poll_seconds
        self._changed = threading.Condition()
        self._count = 0
        self._stopping = threading.Event()
        self._thread = None
        self._log = logging.getLogger(__name__)
        self._failing = False

    @property
    def count(self):
        with self._changed:
            return self._count

    def start(self):
        self._thread = threading.Thread(target=self._run, name="csv_web changes", daemon=True)
        self._thread.start()

    def stop(self):
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()

    def wait(self, seen, timeout):
        """The change count once it is past ``seen``, or after ``timeout`` seconds, or once stopping."""
        with self._changed:
            self._changed.wait_for(lambda: self._count != seen or self._stopping.is_set(), timeout)
            return self._count

    @property
    def stopping(self):
        return self._stopping.is_set()

    def _run(self):
        last = self._look()
        while not self._stopping.wait(self._poll_seconds):
            current = self._look()
            if current is not None and current != last:
                last = current
                with self._changed:
                    self._count += 1
                    self._changed.notify_all()

    def _look(self):
        try:
            current = self._fingerprint()
        except Exception as error:  # a database restarting: say so once, keep the pages as they are
            if not self._failing:
                self._log.warning("The live pages cannot read the databases (%s); trying again", error)
            self._failing = True
            return None
        if self._failing:
            self._log.warning("The live pages read the databases again")
        self._failing = False
        return current


def event_stream(changes, seen):
    """The server-sent events of one open page: ``change`` whenever ``changes`` counts one after ``seen``."""
    yield "retry: %d\n\n" % RETRY_MILLISECONDS
    while not changes.stopping:
        count = changes.wait(seen, KEEPALIVE_SECONDS)
        if count != seen:
            seen = count
            yield "event: change\ndata: %d\n\n" % count
        else:
            yield ": idle\n\n"
