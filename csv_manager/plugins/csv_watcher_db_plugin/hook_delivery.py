"""Delivers the hooks (see hooks.py) from the record: csv_watcher_run runs a thread per hook.

Each thread reads the versions recorded after its cursors, oldest first (History.after, whose ids grow in commit
order), and delivers those of the files whose watcher this runner owns, one at a time and in order. A delivery
that fails is tried again with backoff (RETRY_FIRST_SECONDS, doubling up to the retry maximum) until it works or
the watcher goes to another runner; meanwhile that hook waits, and nothing else does: the watchers and the other
hooks have threads of their own.

A hook's cursors (``csv_hook_cursors``) are, per watcher, the newest version id of its files that the hook is
done with (delivered, or not passing its filters), saved after the delivery: a runner killed between the two
delivers that version again after its restart, with the same ``id``. Any runner may save a cursor: one stale by
a lost lease can only move it back, which delivers again, never skips. The versions of a watcher's files get
their ids in the order they are committed and one runner records them at a time, so everything up to a saved
cursor was seen by whoever saved it.
"""
import logging
import os
import subprocess
import threading
import time

from csv_manager.errors import CsvManagerError
from csv_manager.patterns.csv_watcher_pattern.file_pattern import FilePattern
from csv_manager.plugins.csv_watcher_db_plugin.hooks import document
from csv_manager.plugins.csv_watcher_db_plugin.webhook import DeliveryError, Webhook
from csv_manager.settings import whole_seconds

#: The versions read at a time.
BATCH = 200
#: How often a hook's cursors are saved while it delivers.
SAVE_SECONDS = 1.0
#: How often the cursors of every owned watcher are saved, those whose files had no delivery included.
CATCH_UP_SECONDS = 60.0
#: How often a hook looks for versions when nothing told it of one. It is told of each version this runner
#: records and of each watcher it takes over: the look is a safety net, so that an idle hook costs nothing.
IDLE_SECONDS = 60.0
#: How soon a hook tries again after its database failed.
FAILED_SECONDS = 1.0
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 30
RETRY_MAX_LIMITS = (1, 3600)
#: How long a stopping runner waits for its hooks' deliveries under way.
STOP_SECONDS = 2.0
#: How long a command may take to finish (a webhook's receiver: webhook.TIMEOUT_SECONDS).
EXEC_TIMEOUT_SECONDS = 60
#: The last characters of a failing command's stderr that its error message keeps.
STDERR_KEPT = 500


class Owners:
    """The watchers a runner owns ({path: pattern, None for a file's}), and which of them watches a file."""

    def __init__(self, watchers):
        self.watchers = watchers
        self._patterns = {path: FilePattern(pattern) for path, pattern in watchers.items() if pattern is not None}

    def of(self, path):
        """The path of the owned watcher that watches the file ``path``, or None."""
        if path in self.watchers:
            return path
        folder = path
        while True:
            folder = os.path.dirname(folder)
            pattern = self._patterns.get(folder)
            if pattern is not None and pattern.matches(path[len(folder.rstrip("/")) + 1:]):
                return folder
            if folder == os.path.dirname(folder):
                return None


class Deliveries:
    """This runner's hook threads: one per stored hook, started and stopped as hooks are added and deleted.

    :param store: the HookStore.
    :param history: the History whose versions are delivered.
    :param owners: ``owners()``: the Owners of this runner's watchers now.
    :param say: ``say(message)`` tells the user (stderr).
    :param retry_max: the longest wait between two tries of a failing delivery.
    """

    def __init__(self, store, history, owners, say, retry_max=RETRY_MAX_SECONDS):
        self._store = store
        self._history = history
        self._owners = owners
        self._say = say
        self._retry_max = retry_max
        self._threads = {}

    def update(self, hooks):
        """Run a thread for each of ``hooks`` (Hook), and none for a hook no longer among them."""
        wanted = {hook.id: hook for hook in hooks}
        for hook_id in [hook_id for hook_id in self._threads if hook_id not in wanted]:
            self._threads.pop(hook_id).stop()
        for hook_id, hook in wanted.items():
            if hook_id not in self._threads:
                self._threads[hook_id] = HookThread(hook, self._store, self._history, self._owners, self._say,
                                                    self._retry_max)
                self._threads[hook_id].start()

    def wake(self, *args, **kwargs):
        """A version was recorded: have the hooks look now (any arguments, so that it can receive a signal)."""
        for thread in list(self._threads.values()):
            thread.wake.set()

    def stop(self):
        """Stop every hook thread, saving its cursors, within STOP_SECONDS in all: a delivery still under way
        then is left to finish or fail in its daemon thread, and is delivered again next time."""
        for thread in self._threads.values():
            thread.stopping.set()
            thread.wake.set()
        deadline = time.monotonic() + STOP_SECONDS
        for thread in self._threads.values():
            thread.stop(max(0.0, deadline - time.monotonic()))
        self._threads.clear()


class HookThread(threading.Thread):
    """Delivers one hook's versions (see the module's docstring)."""

    def __init__(self, hook, store, history, owners, say, retry_max):
        super().__init__(name="hook %s" % hook.name, daemon=True)
        self.hook = hook
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self._store = store
        self._history = history
        self._owners = owners
        self._say = say
        self._retry_max = retry_max
        self._send = sender(hook)
        self._log = logging.getLogger(__name__)
        #: {watcher path: version id} as this thread knows them, and as saved; the watchers with deliveries since
        #: the last save; the watchers this runner owned at the last batch.
        self._cursors = {}
        self._saved = {}
        self._delivered = set()
        self._owned = set()
        self._saved_at = self._caught_up_at = time.monotonic()
        self._failing = None

    def stop(self, timeout=STOP_SECONDS):
        self.stopping.set()
        self.wake.set()
        self.join(timeout)

    def run(self):
        while not self.stopping.is_set():
            wait = 0.0
            try:
                if not self._deliver_batch():
                    wait = self._idle_seconds()
                self._save()
            except CsvManagerError as error:
                # The database failed (the run loop tells of outages); the batch is read again.
                self._log.debug("Hook %s could not read or save its progress: %s", self.hook.name, error)
                wait = FAILED_SECONDS
            except Exception:
                self._log.exception("Hook %s failed unexpectedly; trying again", self.hook.name)
                wait = FAILED_SECONDS
            if wait:
                self.wake.wait(wait)
                self.wake.clear()
        self._save_quietly()

    def _idle_seconds(self):
        """How long to wait for news: IDLE_SECONDS, or until the next save of deliveries not saved yet."""
        if not self._delivered:
            return IDLE_SECONDS
        return max(0.0, SAVE_SECONDS - (time.monotonic() - self._saved_at))

    def _deliver_batch(self):
        """Deliver what this runner owns of the versions after its owned watchers' lowest cursor; True if there
        may be more right away."""
        owners = self._owners()
        self._take_over([watcher for watcher in owners.watchers if watcher not in self._owned])
        self._owned = set(owners.watchers)
        low = min((self._cursor(watcher) for watcher in owners.watchers), default=None)
        if low is None:
            return False
        versions = self._history.after(low, limit=BATCH)
        for version in versions:
            watcher = owners.of(version["csv_file"])
            if watcher is None or version["id"] <= self._cursor(watcher):
                continue
            if self.hook.passes(version) and not self._deliver(version, watcher):
                return False
            self._advance(watcher, version["id"])
        if versions:
            # The owned watchers whose files had no version of this hook's in the batch are done up to its end
            # too; saved every CATCH_UP_SECONDS only, since they may be many.
            end = versions[-1]["id"]
            self._cursors.update((watcher, end) for watcher in owners.watchers if self._cursor(watcher) < end)
        return len(versions) == BATCH

    def _take_over(self, watchers):
        """Start the newly owned ``watchers`` from their saved cursors, where those are ahead of what this thread
        knows: another runner delivered for them meanwhile. Both are safe (see the module's docstring), so the
        later one is."""
        saved = self._store.cursors(self.hook.id, watchers) if watchers else {}
        self._saved.update(saved)
        for watcher, version_id in saved.items():
            self._cursors[watcher] = max(self._cursor(watcher), version_id)

    def _cursor(self, watcher):
        return self._cursors.get(watcher, self.hook.after_id)

    def _advance(self, watcher, version_id):
        self._cursors[watcher] = version_id
        self._delivered.add(watcher)

    def _deliver(self, version, watcher):
        """Send ``version`` until it is received; False if the runner stops or no longer owns ``watcher``."""
        body = document(version)
        delay = RETRY_FIRST_SECONDS
        while not self.stopping.is_set():
            try:
                self._send(body, version)
            except DeliveryError as error:
                self._failed(str(error))
            else:
                self._recovered()
                return True
            if self.stopping.wait(delay) or self._owners().of(version["csv_file"]) != watcher:
                return False
            delay = min(delay * 2, self._retry_max)
        return False

    def _failed(self, error):
        if self._failing is None:
            self._say("Hook %s failed: %s; its deliveries wait and are tried again with backoff (at most every "
                      "%d s)" % (self.hook.name, error, self._retry_max))
            self._failing = error
            self._record_failure(error)

    def _recovered(self):
        if self._failing is not None:
            self._say("Hook %s delivers again" % self.hook.name)
            self._failing = None
            self._record_failure(None)

    def _record_failure(self, error):
        try:
            self._store.set_failure(self.hook.id, error)
        except CsvManagerError as failure:
            self._log.debug("Could not record hook %s's state: %s", self.hook.name, failure)

    def _save(self, every_watcher=False):
        """Save the cursors that moved: those of the watchers with deliveries every SAVE_SECONDS, every owned
        watcher's every CATCH_UP_SECONDS and with ``every_watcher`` (the hook stops)."""
        now = time.monotonic()
        if not every_watcher and now - self._saved_at < SAVE_SECONDS:
            return
        watchers = self._delivered
        if every_watcher or now - self._caught_up_at >= CATCH_UP_SECONDS:
            watchers, self._caught_up_at = list(self._cursors), now
        moved = {watcher: self._cursors[watcher] for watcher in watchers
                 if self._saved.get(watcher) != self._cursors[watcher]}
        if moved:
            self._store.save_cursors(self.hook.id, moved)
            self._saved.update(moved)
        self._delivered, self._saved_at = set(), now

    def _save_quietly(self):
        try:
            self._save(every_watcher=True)
        except CsvManagerError as error:
            self._log.debug("Hook %s could not save its progress: %s", self.hook.name, error)


def retry_max_seconds(config):
    """The HOOK_RETRY_MAX_SECONDS of the app's ``config``; CsvManagerError naming the setting if it is not a
    whole number within RETRY_MAX_LIMITS."""
    return whole_seconds(config, "HOOK_RETRY_MAX_SECONDS", RETRY_MAX_SECONDS, RETRY_MAX_LIMITS,
                         "The longest wait between a hook's retries")


def sender(hook):
    """The function that delivers a document to ``hook``: ``send(body, version)``, raising DeliveryError."""
    if hook.url is not None:
        webhook = Webhook(hook.url, hook.secret)
        return lambda body, version: webhook.send(body, version["id"])
    return Command(hook.name, hook.command).send


class Command:
    """Runs a command (its argv, no shell) with a document on its stdin; exit code 0 is a delivery. Its
    environment tells the hook, the file, the version's number and its id."""

    def __init__(self, name, argv):
        self._name = name
        self._argv = list(argv)

    def send(self, body, version):
        environment = dict(os.environ, CSV_MANAGER_HOOK=self._name, CSV_MANAGER_FILE=version["csv_file"],
                           CSV_MANAGER_VERSION=str(version["number"]), CSV_MANAGER_VERSION_ID=str(version["id"]))
        try:
            done = subprocess.run(self._argv, input=body, env=environment, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, timeout=EXEC_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            raise DeliveryError("%s did not finish within %d s" % (self._argv[0], EXEC_TIMEOUT_SECONDS))
        except OSError as error:
            raise DeliveryError("cannot run %s: %s" % (self._argv[0], error.strerror))
        if done.returncode != 0:
            stderr = done.stderr.decode("utf-8", "replace").strip()[-STDERR_KEPT:]
            raise DeliveryError("%s exited with %d%s" % (self._argv[0], done.returncode,
                                                         ": " + stderr.splitlines()[-1] if stderr else ""))
