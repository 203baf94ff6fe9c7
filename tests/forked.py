"""csv_manager processes forked from an interpreter that has imported the app already.

Tests about many processes at once (concurrent adds, adds killed mid-write, runners sharing watchers) need real
processes, each with its own pid, database connections, locks and signals, but not a fresh interpreter each:
importing SQLAlchemy costs about 0.3 s of CPU per process, and on two cores that was most of the suite's time.

``ForkedProcess`` is a fork of a multiprocessing forkserver that preloaded csv_manager. It runs the console
script's entry point (``start_app``) with its own arguments, the caller's environment, working directory and
umask, and stdout/stderr pipes, and offers the part of ``subprocess.Popen`` the tests use. The forkserver is a fresh,
single-threaded interpreter started once per test worker, so the fork copies no lock held by another thread.
Tests about the script itself (its start-up, --help, its signals, what another user may read) run the installed
script.
"""
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection

_CONTEXT = multiprocessing.get_context("forkserver")
# With the modules the first command imports on demand (SQLite's dialect, groundwork-database's plugin): a forked
# command then costs about 45 ms of CPU instead of 75. And with Alembic, which a command imports when it makes a
# fresh database (as most tests' first runner or --json listing does): such a command costs 0.12 s, not 0.37.
_CONTEXT.set_forkserver_preload(["csv_manager.applications.csv_manager_app", "sqlalchemy.dialects.sqlite",
                                 "groundwork_database.plugins", "email.parser", "alembic.config",
                                 "alembic.runtime.environment", "alembic.runtime.migration", "alembic.script"])


def _main(args, environ, cwd, umask, stdout, stderr):
    """The child: become ``csv_manager ARGS`` run from ``cwd`` with ``environ`` and ``umask``, writing to the
    given pipes."""
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    os.umask(umask)
    for connection, fd in ((stdout, 1), (stderr, 2)):
        os.dup2(connection.fileno(), fd)
        connection.close()
    sys.argv = ["csv_manager", *args]
    from csv_manager.applications.csv_manager_app import start_app
    sys.exit(start_app())


def _umask():
    """This process's umask, read from /proc: os.umask can only read it by setting it, which other threads of the
    test could see."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))


class ForkedProcess:
    """``csv_manager ARGS`` in a forked child; ``stdout`` and ``stderr`` are text pipes, as with Popen(text=True)."""

    def __init__(self, *args, cwd=None):
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        writers = [Connection(out_write, readable=False), Connection(err_write, readable=False)]
        self._process = _CONTEXT.Process(target=_main, args=([str(arg) for arg in args], dict(os.environ),
                                                             str(cwd or os.getcwd()), _umask(), *writers))
        self._process.start()
        for writer in writers:
            writer.close()
        self.pid = self._process.pid
        self.args = list(args)
        self.stdout = open(out_read, encoding="utf-8")
        self.stderr = open(err_read, encoding="utf-8")

    @property
    def returncode(self):
        """The exit code, negative for the signal that ended it (as Popen's); None while it runs."""
        return self._process.exitcode

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        self._process.join(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, signum):
        """As Popen.send_signal: nothing if the child is known to have ended, and a child that ended before the
        forkserver reported it (its pid is gone) is no error either."""
        if self.returncode is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout=None):
        """Read both pipes to their end and wait for the exit; returns (stdout, stderr)."""
        output = {}
        readers = [threading.Thread(target=lambda stream=stream: output.__setitem__(stream, stream.read()),
                                    daemon=True) for stream in (self.stdout, self.stderr)]
        for reader in readers:
            reader.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        for reader in readers:
            reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self.stdout.close()
        self.stderr.close()
        return output[self.stdout], output[self.stderr]
