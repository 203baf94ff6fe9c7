"""A database that stops and comes back: one warning and one recovery line per runner, in our own words, and
every change reported once. The server is the test's own, so stopping it troubles no other test."""
import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from helpers import wait_for_log

pytestmark = pytest.mark.timeout(180)


class Server:
    """A throwaway PostgreSQL cluster on a free loopback port, run as the postgres user."""

    def __init__(self, folder, binaries):
        self.folder, self.binaries = folder, binaries
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = "postgresql+psycopg://postgres@127.0.0.1:%d/postgres" % self.port
        self._as_postgres("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def data(self):
        return os.path.join(self.folder, "data")

    def start(self):
        self._as_postgres("pg_ctl", "-D", self.data, "-l", os.path.join(self.folder, "server.log"), "-w", "-o",
                          "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off" % (self.port, self.folder), "start")

    def stop(self):
        self._as_postgres("pg_ctl", "-D", self.data, "-w", "-m", "fast", "stop")

    def _as_postgres(self, program, *args):
        subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(self.binaries, program), *args],
                       check=True, capture_output=True, timeout=60)


@pytest.fixture
def server(monkeypatch, home):
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if os.geteuid() != 0 or not binaries or not shutil.which("runuser"):
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but PostgreSQL's server programs cannot be run as the postgres user here")
        pytest.skip("needs root and Debian's postgresql package, to stop and start a server of the test's own")
    folder = tempfile.mkdtemp(prefix="csv_manager_outage_")
    shutil.chown(folder, "postgres")
    server = Server(folder, binaries[-1])
    server.start()
    monkeypatch.setenv("CSV_MANAGER_DATABASE_URL", server.url)
    monkeypatch.setenv("CSV_MANAGER_HISTORY_DATABASE_URL", server.url)
    yield server
    subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(server.binaries, "pg_ctl"), "-D", server.data,
                    "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(folder)


@pytest.mark.long
def test_a_database_restart_is_one_warning_one_recovery_line_and_no_lost_change(server, cli, home, csv_file,
                                                                                forked_running):
    assert cli("csv_watcher_add", csv_file, "-i", "1").exit_code == 0
    watcher = forked_running()
    watcher.expect("watching %s" % csv_file)
    server.stop()
    # The runner's session is gone, and with it the proof that it owns the watcher: it stops watching (the
    # change is found from the recorded content once it owns the watcher again).
    watcher.expect_all(["Cannot use the database", "Stopped 1 watcher:"], stream="stderr")
    with open(csv_file, "a") as stream:
        stream.write("3,Linus\n")
    wait_for_log(home, "The database still fails for the watcher list", count=2)
    server.start()
    watcher.expect("The database works again", stream="stderr")
    watcher.expect("has new row: {'id': '3', 'name': 'Linus'}")
    assert watcher.stop() == 0
    errors = watcher.lines("stderr")
    assert len([line for line in errors if "Cannot use the database" in line]) == 1, errors
    assert len([line for line in errors if "The database works again" in line]) == 1, errors
    assert not any(text in line for line in errors for text in ("[SQL", "Background on this error", "Traceback"))
    assert [line for line in watcher.lines() if "row:" in line] == [
        "%s has new row: {'id': '3', 'name': 'Linus'}" % csv_file]


@pytest.mark.long
def test_a_database_restart_under_three_runners_loses_and_doubles_nothing(server, cli, tmp_path, forked_running):
    files = []
    for number in range(6):
        path = tmp_path / ("file%d.csv" % number)
        path.write_text("id,file\n")
        assert cli("csv_watcher_add", path, "-i", "1").exit_code == 0
        files.append(path)
    runners = [forked_running("--json") for _ in range(3)]
    # Every runner started and every baseline recorded (the watching lines come after that), so the appends
    # below are changes to a recorded content.
    deadline = time.monotonic() + 60
    while not (all(any(line.startswith("Took") for line in runner.seen["stderr"]) for runner in runners)
               and len({event["csv_file"] for runner in runners for event in runner.events("watching")}) == 6):
        assert time.monotonic() < deadline, [runner.seen["stderr"] for runner in runners]
        time.sleep(0.1)
        for runner in runners:
            runner.drain("stderr")
    server.stop()
    for runner in runners:
        runner.expect("Cannot use the database", stream="stderr")
    for path in files:
        with open(path, "a") as stream:
            stream.write("1,%s\n" % path.name)
    server.start()
    for runner in runners:
        runner.expect("The database works again", stream="stderr")
    expected = {(str(path), "1") for path in files}
    deadline = time.monotonic() + 60
    while {(event["csv_file"], event["row"]["id"]) for event in reported(runners)} != expected:
        assert time.monotonic() < deadline, reported(runners)
        time.sleep(0.2)
        for runner in runners:
            runner.drain()
    for runner in runners:
        assert runner.finish() == 0
    assert sorted((event["csv_file"], event["row"]["id"]) for event in reported(runners)) == sorted(expected)
    for runner in runners:
        errors = runner.lines("stderr")
        assert len([line for line in errors if "Cannot use the database" in line]) == 1, errors
        assert len([line for line in errors if "The database works again" in line]) == 1, errors


def reported(runners):
    lines = [line for runner in runners for line in runner.seen["stdout"]]
    return [event for event in map(json.loads, lines) if event["event"] == "new"]
