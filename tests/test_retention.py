"""Bounded history: HISTORY_KEEP_VERSIONS and HISTORY_KEEP_DAYS, applied by csv_history --prune. The oldest kept
version can still be shown byte-exact, the kept ones keep their numbers, a restarted runner still continues
from the recorded content, and the database shrinks."""
import hashlib
import os
import sqlite3

import pytest

from helpers import append
from csv_manager.applications import CsvManagerApp
from csv_manager.patterns.csv_watcher_pattern.csv_diff import diff
from csv_manager.patterns.csv_watcher_pattern.version import read

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def recorded(home, tmp_path):
    """A file with a recorded baseline and 20 versions, each patching it from its first row to its last (a large
    history), and the content at each version."""
    app = CsvManagerApp()
    history = app.app.plugins.get("CsvDocumentPlugin").setup_db()
    history.start()
    path = str(tmp_path / "rewritten.csv")
    lines = [b"%d,%d\n" % (row, row * 7919 % 10007) for row in range(5000)]
    content = b"id,value\n" + b"".join(lines)
    history.record_baseline(path, 5000, content)
    contents = []
    version = read(content)
    for number in range(20):  # the first row and the last: each patch spans the file
        lines[0], lines[-1] = b"0,first %d\n" % number, b"4999,last %d\n" % number
        new = b"id,value\n" + b"".join(lines)
        change, version = diff(version, new)
        history.record_change(path, change.new_rows, change.missing_rows, [], None, version.rows, change.patch, new)
        contents.append(new)
    history.wait_until_recorded(path, timeout=60)
    history.stop()
    app.stop()
    return path, contents


def show(cli, path, number):
    result = cli("csv_history", path, "--show", number)
    return result.exit_code, hashlib.sha256(result.stdout_bytes).hexdigest()


def test_keep_versions_prunes_the_oldest_keeps_numbers_and_shrinks_the_database(cli, home, recorded, monkeypatch):
    path, contents = recorded
    database = home / "history_db.db"
    before = os.path.getsize(database)
    monkeypatch.setenv("CSV_MANAGER_HISTORY_KEEP_VERSIONS", "5")
    pruned = cli("csv_history", path, "--prune")
    assert (pruned.exit_code, pruned.output) == (0, "Pruned 15 versions of %s; the oldest kept is version 16.\n"
                                                 % path)
    assert os.path.getsize(database) < before / 2, (before, os.path.getsize(database))
    for number in range(16, 21):
        assert show(cli, path, number) == (0, hashlib.sha256(contents[number - 1]).hexdigest()), number
    gone = cli("csv_history", path, "--show", 15)
    assert gone.exit_code == 1 and "its versions are 16 to 20" in gone.output
    listed = cli("csv_history", path).output
    assert [line.split()[1] for line in listed.splitlines() if line.startswith("version")] == [
        "20", "19", "18", "17", "16"]
    again = cli("csv_history", path, "--prune")
    assert again.output == ("Nothing to prune in the history of %s: the retention settings keep every version.\n"
                            % path)


def test_keep_days_prunes_what_was_seen_before_then(cli, home, recorded, monkeypatch):
    path, contents = recorded
    long_ago = "2026-01-01 00:00:00.000000"  # as SQLAlchemy stores a DateTime in SQLite
    with sqlite3.connect(home / "history_db.db") as connection:  # the first 12 versions were seen long ago
        connection.execute("UPDATE csv_history_versions SET seen_at = ? WHERE id <= 12", (long_ago,))
    connection.close()
    monkeypatch.setenv("CSV_MANAGER_HISTORY_KEEP_DAYS", "7")
    pruned = cli("csv_history", path, "--prune")
    assert pruned.output == "Pruned 12 versions of %s; the oldest kept is version 13.\n" % path
    assert show(cli, path, 13) == (0, hashlib.sha256(contents[12]).hexdigest())


def test_a_runner_continues_from_the_recorded_content_after_a_prune(cli, home, csv_file, forked_running, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_QUIET_SECONDS", "0")
    assert cli("csv_watcher_add", csv_file, "-i", "1").exit_code == 0
    runner = forked_running()
    runner.expect("watching %s" % csv_file)
    for number in range(3, 7):
        append(csv_file, "%d,Name %d\n" % (number, number))
        runner.expect("has new row: {'id': '%d'" % number)
    assert runner.finish() == 0
    monkeypatch.setenv("CSV_MANAGER_HISTORY_KEEP_VERSIONS", "1")
    assert cli("csv_history", csv_file, "--prune").output.startswith("Pruned 3 versions")
    append(csv_file, "7,Name 7\n")
    restarted = forked_running()
    lines = restarted.expect("has new row")
    assert lines[-1] == "%s has new row: {'id': '7', 'name': 'Name 7'}" % csv_file
    assert restarted.finish() == 0
    assert not [line for line in restarted.lines() if "row:" in line and "'7'" not in line]


@pytest.mark.parametrize("settings, message", [
    ({}, "Nothing says what to keep: set HISTORY_KEEP_DAYS or HISTORY_KEEP_VERSIONS"),
    ({"CSV_MANAGER_HISTORY_KEEP_VERSIONS": "0"}, "HISTORY_KEEP_VERSIONS (or CSV_MANAGER_HISTORY_KEEP_VERSIONS) must "
                                                 "be a whole number of versions from 1, not '0'."),
    ({"CSV_MANAGER_HISTORY_KEEP_DAYS": "soon"}, "HISTORY_KEEP_DAYS (or CSV_MANAGER_HISTORY_KEEP_DAYS) must be a "
                                                "positive number of days, not 'soon'."),
])
def test_retention_settings_that_say_nothing_clear_are_refused(cli, recorded, monkeypatch, settings, message):
    path, _ = recorded
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    result = cli("csv_history", path, "--prune")
    assert result.exit_code == 1 and message in result.output, result.output
    assert "version 20 at" in cli("csv_history", path).output
