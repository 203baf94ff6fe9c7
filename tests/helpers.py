"""What the tests share besides fixtures: running the installed csv_manager script or a forked one, a running
csv_watcher_run with its output collected, appending to a file as a writer does, waiting for the log, and the
database a test runs against."""
import json
import queue
import shutil
import signal
import subprocess
import threading
import time

from sqlalchemy import create_engine, text

from forked import ForkedProcess

SCRIPT = shutil.which("csv_manager")


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
