"""One event stream: every line csv_watcher_run prints on stdout is an event, and with --json every line has the
one documented shape (reporter.EVENTS, the README's table). The file's states are recorded in the history."""
import json
import os
import re

import pytest

from helpers import forked_run
from csv_manager.plugins.csv_watcher_db_plugin.reporter import EVENTS

pytestmark = pytest.mark.timeout(120)

AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def check_shape(event):
    """Assert that ``event`` has exactly the fields its kind documents, of the documented types."""
    assert event["event"] in EVENTS, event
    fields = EVENTS[event["event"]][1]
    assert set(event) == {"at", "csv_file", "event"} | set(fields), event
    assert AT.fullmatch(event["at"]) and os.path.isabs(event["csv_file"]), event
    for name, kind in fields.items():
        assert isinstance(event[name], kind), (name, event)


def rewrite(path, data):
    temporary = "%s.tmp" % path
    with open(temporary, "wb") as stream:
        stream.write(data)
    os.replace(temporary, path)


def test_every_event_has_the_documented_shape_and_file_states_are_recorded(
        cli, tmp_path, forked_running, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_QUIET_SECONDS", "0.2")
    prices = tmp_path / "prices.csv"
    prices.write_bytes(b"id,price\n1,1.00\n2,2.00\n")
    assert cli("csv_watcher_add", prices, "--key", "id", "-i", "1").exit_code == 0
    runner = forked_running("--json")
    runner.expect('"event": "watching"')

    rewrite(prices, b"id,price,qty\n1,1.50,1\n2,2.00,1\n")
    runner.expect('"event": "changed"')
    prices.unlink()
    runner.expect('"event": "file_missing"')
    rewrite(prices, b"id,price,qty\n1,1.50,1\n2,2.00,1\n3,3.00,1\n")
    runner.expect('"event": "new"')
    rewrite(prices, b"")
    runner.expect('"event": "file_empty"')
    rewrite(prices, b"id,price,qty\n1,\xff,1\n")
    runner.expect('"event": "file_invalid"')
    prices.unlink()
    prices.mkdir()
    runner.expect('"event": "file_unreadable"')
    prices.rmdir()
    rewrite(prices, b"id,price,qty\n1,1.50,1\n2,2.00,1\n3,3.00,1\n")
    runner.expect('"event": "file_back"')

    other = tmp_path / "other.csv"
    other.write_bytes(b"a\n1\n")
    assert cli("csv_watcher_add", other).exit_code == 0
    runner.expect('"event": "watcher_added"')
    assert cli("csv_watcher_update", other, "-i", "3").exit_code == 0
    runner.expect('"event": "watcher_interval_changed"')
    assert cli("csv_watcher_delete", other).exit_code == 0
    runner.expect('"event": "watcher_removed"')
    assert runner.finish() == 0

    events = runner.events()
    for event in events:
        check_shape(event)
    by_kind = [(event["event"], event["csv_file"]) for event in events]
    assert by_kind == [
        ("watching", str(prices)), ("columns", str(prices)), ("changed", str(prices)),
        ("file_missing", str(prices)), ("file_back", str(prices)), ("new", str(prices)),
        ("file_empty", str(prices)), ("file_invalid", str(prices)), ("file_unreadable", str(prices)),
        ("file_back", str(prices)),
        ("watcher_added", str(other)), ("watching", str(other)), ("watcher_interval_changed", str(other)),
        ("watching", str(other)), ("watcher_removed", str(other))]
    back = [event for event in events if event["event"] == "file_back"]
    assert [event["rows"] for event in back] == [3, 3]
    assert events[3]["reason"] == "is missing; waiting for it to come back"
    assert events[7]["reason"] == "holds bytes that are not UTF-8; waiting for valid content"

    history = forked_run("csv_history", prices, "--json")
    recorded = [json.loads(line) for line in history.stdout.splitlines()]
    assert [line["event"] for line in recorded] == [
        "file_back", "file_unreadable", "file_invalid", "file_empty", "file_back", "new", "file_missing", "columns",
        "changed"]
    assert [line["version"] for line in recorded] == [7, 6, 5, 4, 3, 3, 2, 1, 1]


def test_text_lines_tell_the_file_states_too(cli, csv_file, forked_running, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_QUIET_SECONDS", "0.2")
    assert cli("csv_watcher_add", csv_file, "-i", "1").exit_code == 0
    runner = forked_running()
    runner.expect("watching %s (2 rows, every 1 s)" % csv_file)
    content = csv_file.read_bytes()
    csv_file.unlink()
    runner.expect("%s is missing; waiting for it to come back" % csv_file)
    rewrite(csv_file, content)
    runner.expect("%s is back (2 rows)" % csv_file)
    assert runner.finish() == 0
    history = forked_run("csv_history", csv_file).stdout.splitlines()
    assert [line for line in history if not line.startswith("version")] == [
        "%s is back (2 rows)" % csv_file, "%s is missing; waiting for it to come back" % csv_file]
