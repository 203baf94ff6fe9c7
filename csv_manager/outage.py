"""One warning when a runner's database stops working and one line when it works again.

Several parts of csv_watcher_run use the database (the poll of the watcher list, the history recorder), and
while a server restarts their errors change from "terminating connection" to "connection refused" to "the
database system is starting up". Users want to know that it started and that it ended: the first failure of
any part is one warning, the others go to the debug log, and the line that it ended comes once every part that
failed has succeeded again.
"""
import threading


class Outage:
    def __init__(self, log):
        self._log = log
        self._lock = threading.Lock()
        self._failing = set()

    def failed(self, part, problem):
        """``part`` (a name, such as "history") could not use the database because of ``problem`` (a message)."""
        with self._lock:
            if not self._failing:
                self._log.warning("Cannot use the database (%s); retrying every second, nothing is lost meanwhile"
                                  % _first_line(problem))
            else:
                self._log.debug("The database still fails for the %s: %s" % (part, _first_line(problem)))
            self._failing.add(part)

    def succeeded(self, part):
        """``part`` used the database successfully."""
        with self._lock:
            if part in self._failing:
                self._failing.discard(part)
                if not self._failing:
                    self._log.warning("The database works again")


def _first_line(problem):
    return str(problem).strip().splitlines()[0] if str(problem).strip() else "no reason given"
