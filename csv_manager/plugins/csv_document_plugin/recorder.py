"""The history's recorder: one thread that runs the queued writes in order, so that the watchers never wait for
the database.

A write is a function of a session that returns what to report (a record for ``on_recorded``) or None. A write
that fails (database locked, disk full) is said once and retried until it succeeds; nothing is dropped
silently. ``on_recorded`` is called after the transaction is committed, so whatever is printed from it is
already in the history.

In csv_watcher_run each write carries the lease of the runner's claim on the watcher (see the runner_locks
package) and is committed only while the lease holds. A write whose lease was lost is dropped unprinted: the
watcher's next owner finds the change against the recorded content and reports it. Releasing a lease is queued
behind the writes before it, so the next owner starts from everything this runner reported.
"""
import logging
import queue
import threading
from contextlib import contextmanager
from typing import Callable, NamedTuple, Optional

from csv_manager.database import transaction
from csv_manager.errors import CsvManagerError
from csv_manager.runner_locks.leases import LeaseLost

RETRY_SECONDS = 1
#: The most changes queued together under one lease that are written in one transaction.
BATCH_WRITES = 100
#: How long a watcher about to start waits for the writes still queued for its file (see wait_until_recorded).
WAIT_SECONDS = 10
#: How long stop() waits for queued changes to be recorded before giving up on them (and saying so).
FLUSH_SECONDS = 1


class Queued(NamedTuple):
    """A queued write: of a file's history (``csv_file``; None for statuses and queued functions), under
    ``lease`` (None outside csv_watcher_run), and the ``write`` itself (a function of a session, or a Then)."""

    csv_file: Optional[str]
    lease: object
    write: Callable

    @property
    def is_change(self):
        """Whether it writes a change, baseline or state of a file (not a status or a queued function)."""
        return self.csv_file is not None and not isinstance(self.write, Then)


class Then:
    """A queued function to run in order with the writes (see Recorder.then)."""

    def __init__(self, function):
        self.function = function


class Recorder:
    """Runs the writes queued for the database ``db`` in a thread of its own; ``on_recorded(record)`` for each
    record a committed write returns, ``after_write()`` after each committed transaction. ``outage`` says a
    failing database once (see outage.py)."""

    def __init__(self, db, on_recorded, after_write, outage):
        self.db = db
        self.log = logging.getLogger(__name__)
        self._on_recorded = on_recorded
        self._after_write = after_write
        self._outage = outage
        self._queue = queue.Queue()
        #: {csv_file: writes queued and not done yet}, guarded by the condition _recorded.
        self._queued = {}
        self._recorded = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._write_all, name="csv_history recorder", daemon=True)
        self._problem = None
        #: How many changes (not statuses, nor queued functions) the write in progress holds, and whether the
        #: recorder is past its commit, printing or running a queued function (see stop()).
        self._writing_changes = 0
        self._reporting = False

    def start(self):
        self._thread.start()

    def stop(self):
        """Record what is queued, waiting at most FLUSH_SECONDS, then a write in progress at most RETRY_SECONDS.

        A write still unfinished then was not reported to on_recorded, so nothing printed is lost; the number of
        changes left unrecorded is logged as an error, and a recorder stuck after its commit (printing to a pipe
        nobody reads) is said to be, since what it printed is recorded.
        """
        self._queue.put(None)
        self._thread.join(FLUSH_SECONDS)
        if self._thread.is_alive():
            self._stopping.set()
            self._thread.join(RETRY_SECONDS)
        if not self._thread.is_alive():
            return
        with self._queue.mutex:
            queued = sum(item is not None and item.is_change for item in self._queue.queue)
        if self._reporting:
            self.log.error("The history recorder did not finish in time: what it recorded last is recorded, but "
                           "printing it is stuck (is the output read?); %d changes queued after it were not recorded",
                           queued)
        else:
            self.log.error("The history recorder did not finish in time; up to %d changes were not recorded",
                           queued + self._writing_changes)

    def put(self, csv_file, lease, write):
        """Queue ``write`` (a function of a session) for the history of ``csv_file`` under ``lease``."""
        with self._recorded:
            self._queued[csv_file] = self._queued.get(csv_file, 0) + 1
        self._queue.put(Queued(csv_file, lease, write))

    def then(self, function, lease=None):
        """Queue ``function()`` behind the writes queued so far; skipped if ``lease`` no longer holds by then."""
        self.put(None, lease, Then(function))

    def wait_until_recorded(self, csv_file, timeout=WAIT_SECONDS):
        """Wait until the writes queued for ``csv_file`` are done (committed, or dropped with their lease): the
        content recorded for it is then all this runner saw. CsvManagerError if that takes over ``timeout``."""
        with self._recorded:
            if not self._recorded.wait_for(lambda: not self._queued.get(csv_file), timeout):
                raise CsvManagerError("The history of %s is still being written (%s); trying again later"
                                      % (csv_file, self._problem or "busy"))

    def _done(self, csv_file):
        with self._recorded:
            self._queued[csv_file] -= 1
            if not self._queued[csv_file]:
                del self._queued[csv_file]
                self._recorded.notify_all()

    def _write_all(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = self._batch(item)
            self._writing_changes = sum(queued.is_change for queued in batch)
            while not self._write_one(item.lease, [queued.write for queued in batch]):
                # Stopping ends the retries only after one more attempt: stop() may come in the middle of the wait
                # before the attempt that would have succeeded.
                if self._stopping.is_set():
                    lost = self._writing_changes + sum(queued.is_change for queued in self._drain())
                    self.log.error("%d changes could not be recorded in the history: %s", lost, self._problem)
                    return
                self._stopping.wait(RETRY_SECONDS)
            for queued in batch:
                self._done(queued.csv_file)

    def _batch(self, first):
        """``first`` and, if it is a change, the changes queued right behind it under the same lease (at most
        BATCH_WRITES): they are written in one transaction. A folder of files arriving together is recorded at
        the pace of the database's work, not of its commits."""
        batch = [first]
        if not first.is_change:
            return batch
        with self._queue.mutex:
            waiting = self._queue.queue
            while (len(batch) < BATCH_WRITES and waiting and waiting[0] is not None and waiting[0].is_change
                   and waiting[0].lease is first.lease):
                batch.append(waiting.popleft())
        return batch

    def _drain(self):
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                yield item

    def _write_one(self, lease, writes):
        """Run ``writes`` (functions of a session) in one transaction under ``lease``, then report what they
        recorded; a queued function (``Then``) comes alone. False if the database failed (try again)."""
        if isinstance(writes[0], Then):
            with self._past_commit():
                try:
                    if lease is None or lease.held:
                        writes[0].function()
                except LeaseLost:
                    pass  # the locks are gone, and the lease with them
            return True
        try:
            with self._writing(lease) as session:
                recorded = []
                for write in writes:
                    recorded.append(write(session))
                    session.flush()  # the next write's queries see this one's rows (the session does not autoflush)
        except LeaseLost:
            # Not a sign that the database works again: a lost lease is found out without touching it.
            self.log.debug("Dropped a write: this runner no longer owns the watcher it was for")
            return True
        except Exception as error:
            if lease is not None and not lease.held:
                # The failure ended the session that held the lease (see PostgresLocks.write): the write is the
                # next owner's to make, now, not after a retry that would hold up this runner's restart of its
                # watchers.
                self.log.debug("Dropped a write whose lease went with the failing session: %s", error)
                return True
            self._problem = str(getattr(error, "message", error))
            self._outage.failed("history", self._problem)
            return False
        self._problem = None
        self._outage.succeeded("history")
        with self._past_commit():
            for record in recorded:
                if record is not None:
                    self._on_recorded(record)
        self._after_write()
        return True

    @contextmanager
    def _past_commit(self):
        """While entered, the recorder prints or runs a queued function: what it wrote is committed (see stop)."""
        self._reporting = True
        try:
            yield
        finally:
            self._reporting = False

    def _writing(self, lease):
        return transaction(self.db, writes=True) if lease is None else lease.locks.write(lease)
