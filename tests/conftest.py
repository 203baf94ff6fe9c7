"""Fixtures: an isolated CSV_MANAGER_HOME per test, the installed csv_manager script, and the app in-process."""
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from csv_manager.applications import CsvManagerApp
from forked import ForkedProcess

SCRIPT = shutil.which("csv_manager")
#: A PostgreSQL database the tests may create schemas in; .ci/run starts a server and sets it.
POSTGRES_URL = os.environ.get("CSV_MANAGER_TEST_POSTGRES_URL")


def pytest_collection_modifyitems(items):
    """Long tests first, one after the other on one worker: pytest-xdist hands tests out in this order (a long one
    started last would leave the other workers idle while it runs), and with ``--dist loadgroup`` (tox.ini) an
    xdist_group stays on one worker. Several runners, their writers and PostgreSQL servers of their own at once
    starved each other's takeover bounds on two cores (an orphaned watcher owned again after 6 to 14 s instead
    of 2, in about one suite out of three)."""
    for item in items:
        if item.get_closest_marker("long") is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group("long"))
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh application folder; the environment points csv_manager at it.

    Runners wait a quiet period of 0.5 s, not the default 2 s, before reporting a state that may be a writer's
    intermediate one: the waiting is the same code whatever its length, and at 2 s it was a tenth of the suite's
    time. Tests whose writers pause, or about the quiet period itself, set their own.
    """
    path = tmp_path / "home"
    monkeypatch.setenv("CSV_MANAGER_HOME", str(path))
    monkeypatch.setenv("CSV_MANAGER_QUIET_SECONDS", "0.5")
    monkeypatch.delenv("CSV_MANAGER_DATABASE_URL", raising=False)
    monkeypatch.delenv("CSV_MANAGER_HISTORY_DATABASE_URL", raising=False)
    return path


@pytest.fixture
def csv_file(tmp_path):
    """A small CSV file to watch."""
    path = tmp_path / "data.csv"
    path.write_text("id,name\n1,Ada\n2,Grace\n")
    return path


def run(*args, timeout=60, cwd=None):
    """Run the installed csv_manager script; returns the CompletedProcess (text, stdout and stderr captured)."""
    assert SCRIPT, "the csv_manager console script is not on PATH; install the package first"
    return subprocess.run([SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def forked_run(*args, timeout=60, cwd=None):
    """``run``, but in a process forked from an interpreter that has imported csv_manager (see forked.py): for
    tests about what a command does, not about how the script starts."""
    process = ForkedProcess(*args, cwd=cwd)
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def append(path, text):
    """Append ``text`` to the file, opened and closed as ``echo >>`` does."""
    with open(path, "a") as stream:
        stream.write(text)


def wait_for_log(home, text, timeout=30, count=1):
    """Wait until the debug log in ``home`` contains ``text`` (``count`` times); polls the file until a deadline."""
    deadline = time.monotonic() + timeout
    while (home / "csv_manager.log").read_text().count(text) < count:
        assert time.monotonic() < deadline, "%r not logged %d times within %s s" % (text, count, timeout)
        time.sleep(0.05)


class Store:
    """The watcher database a test runs against, read directly with SQLAlchemy (not through csv_manager)."""

    def __init__(self, name, url):
        self.name = name
        self.url = url

    def execute(self, sql, parameters=None):
        """Run one statement in its own transaction; returns the rows of a query as tuples."""
        engine = create_engine(self.url)
        try:
            with engine.begin() as connection:
                result = connection.execute(text(sql), parameters or {})
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def rows(self):
        """The csv_watchers rows as (id, csv_file, interval) tuples, by id."""
        return self.execute('SELECT id, csv_file, "interval" FROM csv_watchers ORDER BY id')


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, home, monkeypatch):
    """Each test that uses it runs twice: on the default SQLite file in ``home``, then on a fresh schema of the
    PostgreSQL server named by CSV_MANAGER_TEST_POSTGRES_URL (skipped without it, but required when CI=true)."""
    if request.param == "sqlite":
        yield Store("sqlite", "sqlite:///%s" % (home / "watcher_db.db"))
        return
    if not POSTGRES_URL:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but CSV_MANAGER_TEST_POSTGRES_URL is not set: the PostgreSQL pass must run")
        pytest.skip("set CSV_MANAGER_TEST_POSTGRES_URL to run the PostgreSQL pass")
    schema = "test_%s" % uuid.uuid4().hex[:16]
    admin = Store("postgresql", POSTGRES_URL)
    admin.execute("CREATE SCHEMA %s" % schema)
    url = make_url(POSTGRES_URL).update_query_dict({"options": "-csearch_path=%s" % schema})
    url = url.render_as_string(hide_password=False)
    monkeypatch.setenv("CSV_MANAGER_DATABASE_URL", url)
    monkeypatch.setenv("CSV_MANAGER_HISTORY_DATABASE_URL", url)
    yield Store("postgresql", url)
    # A session a test left holding locks in the schema fails the drop after a while instead of hanging the suite.
    admin.execute("DO $$ BEGIN SET LOCAL lock_timeout = '60s'; DROP SCHEMA %s CASCADE; END $$" % schema)


@pytest.fixture
def cli(home):
    """Invoke a command in-process with click's CliRunner: ``cli("csv_watcher_list")`` returns the Result."""
    def invoke(*args):
        app = CsvManagerApp()
        try:
            return CliRunner().invoke(app.cli(), [str(arg) for arg in args])
        finally:
            app.stop()
    return invoke


def script(*args):
    """The installed csv_manager script started with ``args``, stdout and stderr piped as text."""
    assert SCRIPT, "the csv_manager console script is not on PATH; install the package first"
    return subprocess.Popen([SCRIPT, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Running:
    """A ``csv_manager csv_watcher_run`` process whose output lines are collected as they arrive; ``launch``
    starts it (the installed script, or a ForkedProcess)."""

    def __init__(self, *args, launch=script):
        self.process = launch("csv_watcher_run", *args)
        self.stdout, self.stderr = queue.Queue(), queue.Queue()
        self.seen = {"stdout": [], "stderr": []}
        self._pumps = [threading.Thread(target=self._pump, args=(stream, lines), daemon=True)
                       for stream, lines in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr))]
        for pump in self._pumps:
            pump.start()

    @staticmethod
    def _pump(stream, lines):
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def expect(self, text, timeout=30, stream="stdout"):
        """Wait until a line containing ``text`` arrives on ``stream``; returns the lines read meanwhile.

        The deadline is generous because CI runs two test suites at once on two cores: it only bounds a hang.
        """
        lines = getattr(self, stream)
        deadline = time.monotonic() + timeout
        read = []
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            read.append(line)
            self.seen[stream].append(line)
            if text in line:
                return read
        raise AssertionError("no %s line containing %r within %s s; read %d lines, the last ones: %r" % (
            stream, text, timeout, len(self.seen[stream]), self.seen[stream][-20:]))

    def expect_all(self, texts, timeout=30, stream="stdout"):
        """Wait until, for each of ``texts``, a line containing it has arrived on ``stream`` (in any order)."""
        deadline = time.monotonic() + timeout
        while True:
            missing = [text for text in texts if not any(text in line for line in self.seen[stream])]
            if not missing:
                return
            self.expect(missing[0], max(0.0, deadline - time.monotonic()), stream)

    def finish(self, timeout=30):
        """Stop with SIGTERM and read ``stdout`` to its end; returns the exit code."""
        exit_code = self.stop(timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            line = self.stdout.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                return exit_code
            self.seen["stdout"].append(line)

    def drain(self, stream="stdout"):
        """The lines that arrived on ``stream`` and were not read yet (without waiting)."""
        lines = getattr(self, stream)
        read = []
        while True:
            try:
                line = lines.get_nowait()
            except queue.Empty:
                return read
            if line is None:
                return read
            read.append(line)
            self.seen[stream].append(line)

    def events(self, name=None):
        """The JSON events read from stdout so far (of the event ``name``, if given), for a runner with --json."""
        return [event for event in map(json.loads, self.lines()) if name is None or event["event"] == name]

    def lines(self, stream="stdout"):
        """Every line that arrived on ``stream`` so far: those already read, then those waiting (not waiting)."""
        self.drain(stream)
        return list(self.seen[stream])

    def stop(self, signum=signal.SIGTERM, timeout=30):
        """Send ``signum`` and return the exit code (``timeout`` bounds a hang, it is not a speed target)."""
        self.process.send_signal(signum)
        return self.process.wait(timeout)

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pump in self._pumps:  # closing a stream a pump still reads made it raise in its thread
            pump.join(5)
        self.process.stdout.close()
        self.process.stderr.close()


def _runners(launch):
    started = []

    def start(*args):
        started.append(Running(*args, launch=launch))
        return started[-1]
    yield start
    for process in started:
        process.close()


@pytest.fixture
def running(home):
    """Start csv_watcher_run processes of the installed script: ``running()`` or ``running("--json")``; all are
    killed afterwards."""
    yield from _runners(script)


@pytest.fixture
def forked_running(home):
    """``running``, but each process forked from an interpreter that has imported csv_manager (see forked.py):
    for tests about what runners do, not about how the script starts, it saves 0.3 s of CPU per runner."""
    yield from _runners(ForkedProcess)
