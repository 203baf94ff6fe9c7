"""SIGINT and SIGTERM turned into an event that a foreground loop waits on."""
import signal
import threading

EXIT_CODES = {signal.SIGTERM: 0, signal.SIGINT: 130}


class StopRequest:
    """While entered, SIGINT and SIGTERM set :attr:`event` instead of interrupting the main thread.

    :attr:`exit_code` is 0 after SIGTERM (an orderly stop) and 130 after Ctrl-C, as shells report it.
    """

    def __init__(self):
        self.event = threading.Event()
        self.exit_code = 0
        self._previous = {}

    def __enter__(self):
        for signum in EXIT_CODES:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def set(self, exit_code=0):
        self.exit_code = exit_code
        self.event.set()

    def _handle(self, signum, frame):
        self.set(EXIT_CODES[signum])
