"""This runner's share of the watchers: at most ceil(watchers / runners), claimed through the runner_locks package.

Every poll of csv_watcher_run calls :meth:`Share.balance` with the stored watchers. A runner with more than its
share hands the rest over (stops them, then releases their locks behind their queued history writes); one with
less claims watchers that nobody owns. Runners that join, leave or die thus even out within a few polls. A
runner whose locks are lost stops every watcher at once, because it can no longer prove they are its own (its
database session is gone, or it did not answer for longer than its stall bound and the others may have taken
them), and competes for them again once it can join again.
"""
import math

from csv_manager.runner_locks.leases import LeaseLost, clock

#: How often a runner starting the watchers it claimed shows it is alive meanwhile (as each poll does).
CLAIM_CHECK_SECONDS = 1


class Share:
    """The leases this runner holds, kept at its share.

    :param new_locks: makes a Locks (not joined) in the recorder's store (``locks`` of csv_watcher_recorder).
    :param start: ``start(csv_file)`` starts the watcher of a claimed file; CsvManagerError if it cannot (its
        recorded content cannot be read): the lease is then released at once.
    :param started: ``started(csv_file)`` tells whether the watcher of ``csv_file`` runs.
    :param stop: ``stop(csv_file)`` stops the watcher of a file (and leaves it ready to start again).
    :param release: ``release(lease)`` releases a lease once the writes queued before it are done.
    :param say: ``say(message)`` tells the user (one line on stderr).
    """

    def __init__(self, new_locks, start, started, stop, release, say):
        self._new_locks = new_locks
        self._start = start
        self._started = started
        self._stop = stop
        self._release = release
        self._say = say
        self.locks = None
        self.leases = {}
        self._stopping = {}

    def owns(self, csv_file):
        return csv_file in self.leases

    def lease(self, csv_file):
        """The lease what the watcher of ``csv_file`` sends is recorded under. A watcher has its lease from
        before it starts until it has stopped, stopping included: without one its writes would go unfenced, and
        a runner that had just lost its locks could record a change that the next owner records again."""
        return self.leases.get(csv_file) or self._stopping.get(csv_file)

    def forget(self, csv_file):
        """The watcher of ``csv_file`` was stopped (deleted, or changed and registered again): release its lease,
        if this runner holds one, behind its queued writes."""
        lease = self.leases.pop(csv_file, None)
        if lease is not None:
            self._release(lease)

    def balance(self, stored):
        """Claim or hand over watchers so this runner holds its share of ``stored`` ({csv_file: watcher id}).

        Raises CsvManagerError when the runner cannot join or start a watcher (the database is down); call again
        on the next poll.
        """
        if not self.check():
            self.locks = self._new_locks()
            self.locks.join()
        try:
            # Deleted (or deleted and added again) since claimed, or not started because the database failed.
            self._give_up([csv_file for csv_file, lease in self.leases.items()
                           if stored.get(csv_file) != lease.watcher_id or not self._started(csv_file)])
            runners = self.locks.runners()
            share = math.ceil(len(stored) / runners)
            if len(self.leases) > share:
                surplus = sorted(self.leases, key=lambda csv_file: self.leases[csv_file].watcher_id)[share:]
                self._give_up(surplus)
                self._say("Handed over %s (%s)" % (_watchers(len(surplus)), _sharing(runners, len(stored))))
            elif len(self.leases) < share:
                self._claim(stored, share - len(self.leases), runners)
        except LeaseLost:
            self.check()

    def check(self):
        """True if the locks are held; if they were lost, stop every watcher and say so once."""
        if self.locks is None:
            return False
        if self.locks.check():
            return True
        # Every lost lease is "stopping" before any watcher is stopped: the others run on meanwhile, and one
        # that sent with no lease at all would be recorded unfenced.
        lost, reason = self.leases, self.locks.lost_reason
        self._stopping.update(lost)
        self.leases = {}
        for csv_file in lost:
            self._stop_stopping(csv_file)
        if lost:
            self._say("Stopped %s: %s; they go to whichever runner claims them first, this one included"
                      % (_watchers(len(lost)), reason))
        self.locks = None
        return False

    def close(self):
        """Release everything: the runner stops (its watchers are stopped and their writes done)."""
        if self.leases:
            self._say("Handed over %s: this runner stops" % _watchers(len(self.leases)))
        self.leases.clear()
        if self.locks is not None:
            self.locks.close()

    def _claim(self, stored, wanted, runners):
        free = [watcher_id for csv_file, watcher_id in sorted(stored.items(), key=lambda item: item[1])
                if csv_file not in self.leases]
        files = {watcher_id: csv_file for csv_file, watcher_id in stored.items()}
        leases = self.locks.claim(free, wanted)
        checked = clock()
        for taken, lease in enumerate(leases):
            # Starting thousands of watchers takes longer than the stall bound: the heartbeat goes on meanwhile,
            # or the runner counted its own locks as lost, stopped everything, and started over for ever. Lost
            # all the same: the next poll's check() stops what was started.
            if clock() - checked >= CLAIM_CHECK_SECONDS:
                checked = clock()
                if not self.locks.check():
                    for unused in leases[taken:]:
                        unused.release()
                    return
            csv_file = files[lease.watcher_id]
            self.leases[csv_file] = lease
            try:
                self._start(csv_file)
            except Exception:
                del self.leases[csv_file]
                for unused in leases[taken:]:
                    unused.release()
                raise
        if leases:
            self._say("Took %s (%s)" % (_watchers(len(leases)), _sharing(runners, len(stored))))

    def _give_up(self, csv_files):
        for csv_file in csv_files:
            lease = self._stopping[csv_file] = self.leases[csv_file]  # stopping before it is no longer owned
            del self.leases[csv_file]
            self._stop_stopping(csv_file)
            self._release(lease)

    def _stop_stopping(self, csv_file):
        """Stop the watcher of ``csv_file``, which this runner no longer owns, its lease (in ``_stopping``) still
        what it sends is recorded under until then (see :meth:`lease`): a lost lease drops its writes, a
        handed-over one keeps them."""
        try:
            self._stop(csv_file)
        finally:
            del self._stopping[csv_file]


def _watchers(count):
    return "1 watcher" if count == 1 else "%d watchers" % count


def _sharing(runners, watchers):
    return "%s %s %s" % ("1 runner" if runners == 1 else "%d runners" % runners, "has" if runners == 1 else "share",
                         _watchers(watchers))
