"""csv_watcher_list tells, per watcher, its state, the runner that owns it and when it was last checked and
changed; a recorded content that cannot be trusted is an error and a version in the history."""
import datetime
import json
import socket
import time

import pytest

from helpers import Store

pytestmark = pytest.mark.timeout(120)


def listed(cli, *args):
    result = cli("csv_watcher_list", *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def status_of(cli, csv_file):
    return next(watcher for watcher in json.loads(listed(cli, "--json")) if watcher["csv_file"] == str(csv_file))


def wait_for_state(cli, csv_file, state, timeout=30):
    """The watcher's status once it is in ``state`` and has been checked and read."""
    deadline = time.monotonic() + timeout
    while True:
        status = status_of(cli, csv_file)
        if status["state"] == state and status["checked_at"] and status["changed_at"]:
            return status
        assert time.monotonic() < deadline, "state %r, not %r, after %s s" % (status["state"], state, timeout)
        time.sleep(0.5)  # each look is a whole csv_manager command: not in a tight loop


def test_without_a_runner_every_watcher_is_not_running(cli, store, csv_file):
    cli("csv_watcher_add", csv_file, "-i", "1")
    assert status_of(cli, csv_file) == {"id": 1, "csv_file": str(csv_file), "interval": 1, "key": [],
                                        "delimiter": ",", "encoding": "utf-8", "pattern": None, "files": None,
                                        "state": "not running",
                                        "owner": None, "checked_at": None, "changed_at": None}
    assert listed(cli) == "file: %s - interval: 1\n" % csv_file
    assert listed(cli, "--status") == "file: %s - interval: 1 - state: not running\n" % csv_file


def test_a_running_watcher_shows_its_owner_state_and_times(cli, store, csv_file, forked_running, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_QUIET_SECONDS", "0")
    cli("csv_watcher_add", csv_file, "-i", "1")
    started = datetime.datetime.now(datetime.timezone.utc)
    watcher = forked_running()
    watcher.expect("watching %s" % csv_file)
    status = wait_for_state(cli, csv_file, "watching")
    assert status["owner"] == {"host": socket.gethostname(), "pid": watcher.process.pid}
    for moment in ("checked_at", "changed_at"):
        seen = datetime.datetime.fromisoformat(status[moment].replace("Z", "+00:00"))
        assert started - datetime.timedelta(seconds=1) <= seen <= datetime.datetime.now(datetime.timezone.utc)
    assert listed(cli, "--status") == ("file: %s - interval: 1 - state: watching - owner: %s:%d\n"
                                       % (csv_file, socket.gethostname(), watcher.process.pid))
    csv_file.unlink()
    assert wait_for_state(cli, csv_file, "missing")["owner"]["pid"] == watcher.process.pid
    csv_file.write_text("")
    wait_for_state(cli, csv_file, "empty")
    csv_file.write_bytes(b"id,name\n1,\xff\n")
    wait_for_state(cli, csv_file, "invalid")
    csv_file.write_text("id,name\n1,Ada\n")
    wait_for_state(cli, csv_file, "watching")
    assert watcher.stop() == 0
    assert status_of(cli, csv_file)["state"] == "not running"


def test_a_recorded_content_that_fails_its_hash_check_is_an_error_and_a_version(cli, store, home, csv_file,
                                                                                forked_running):
    cli("csv_watcher_add", csv_file, "-i", "1")
    first = forked_running()
    first.expect("watching %s" % csv_file)
    assert first.stop() == 0
    history_store = store if store.name == "postgresql" else Store("sqlite", "sqlite:///%s" % (home / "history_db.db"))
    history_store.execute("UPDATE csv_history_files SET content_hash = :damaged", {"damaged": "0" * 32})
    csv_file.write_text("id,name\n1,Ada\n2,Grace\n3,Linus\n")
    second = forked_running()
    second.expect("does not match its hash", stream="stderr")
    second.expect("watching %s (3 rows" % csv_file)
    assert second.stop() == 0
    assert [line for line in second.seen["stdout"] if "row:" in line] == []
    history = cli("csv_history", csv_file)
    assert history.exit_code == 0, history.stderr
    assert history.stdout.endswith(": 3 rows, a new baseline: changes before it were not recorded\n")
    recorded = [json.loads(line) for line in cli("csv_history", csv_file, "--json").stdout.splitlines()]
    assert [(line["change"], line["rows"]) for line in recorded] == [("baseline", 3)]
