"""What ``csv_watcher_list --json`` and ``--status`` show of each watcher: its state, owner and last times.

The owner comes from the runner locks (see csv_manager/runner_locks/), so a runner that died shows as
``not running`` at once. The state and the times of the last check and the last change are written by the
owning runner into ``csv_watcher_status`` (through the recorder, in the history database): a new state or change
on its next poll, the time of the last check at most every CHECKED_SECONDS (writing 1,000 rows a second to say
nothing changed would cost more than the watching).
"""
import datetime
import time

#: How often a runner rewrites the time of the last check of its watchers.
CHECKED_SECONDS = 10
NOT_RUNNING = "not running"


class StatusPublisher:
    """Writes the status of the watchers this runner owns through ``recorder`` (see csv_watcher_recorder), in
    the order of its writes."""

    def __init__(self, recorder, clock=time.monotonic):
        self._recorder = recorder
        self._clock = clock
        self._published = {}
        self._all_at = None

    def publish(self, owned):
        """``owned``: (watcher, lease) pairs. Queue one write of the statuses that are new since last time."""
        now = self._clock()
        everything = self._all_at is None or now - self._all_at >= CHECKED_SECONDS
        if everything:
            self._all_at = now
        entries = []
        for watcher, lease in owned:
            shown = (watcher.state, watcher.changed_at, watcher.checked_at is None)
            if everything or self._published.get(watcher.csv_file) != shown:
                self._published[watcher.csv_file] = shown
                entries.append((lease, watcher.csv_file, watcher.state, _utc(watcher.checked_at),
                                _utc(watcher.changed_at)))
        if entries:
            self._recorder.record_status(entries)


def with_status(recorder, watchers):
    """The stored ``watchers`` (dicts) with their state, owner and times, from ``recorder``'s runner locks and
    statuses (see record_keeper.py); without a recorder no runner can run, so none is."""
    if recorder is None:
        return [describe(watcher, None, None) for watcher in watchers]
    locks = recorder.locks()
    try:
        owners = locks.owners([watcher["id"] for watcher in watchers])
    finally:
        locks.close()
    statuses = recorder.statuses()
    return [describe(watcher, owners.get(watcher["id"]), statuses.get(watcher["csv_file"])) for watcher in watchers]


def describe(watcher, owner, status):
    """The --json fields of one stored ``watcher`` dict: ``owner`` is "host:pid" or None, ``status`` its
    (state, checked_at, changed_at) from csv_watcher_status or None."""
    state, checked_at, changed_at = status or (None, None, None)
    host, _, pid = owner.rpartition(":") if owner else (None, None, None)
    return dict(watcher,
                state=(state or "watching") if owner else NOT_RUNNING,
                owner={"host": host, "pid": int(pid)} if owner else None,
                checked_at=_iso(checked_at),
                changed_at=_iso(changed_at))


def _utc(timestamp):
    """A time.time() value as the naive UTC datetime the database stores (None stays None)."""
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).replace(tzinfo=None)


def _iso(moment):
    return None if moment is None else moment.isoformat(timespec="milliseconds") + "Z"
