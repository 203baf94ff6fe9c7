"""The change history: what changed while nobody watched, what a killed run had printed, purging, output."""
import json
import logging
import os
import signal
import threading
import time

import pytest
from sqlalchemy import inspect

from helpers import append
from csv_manager.applications import CsvManagerApp
from csv_manager.patterns.csv_watcher_pattern.csv_diff import diff
from csv_manager.patterns.csv_watcher_pattern.version import read
from csv_manager.plugins.csv_document_plugin import version_writes
from csv_manager.plugins.csv_document_plugin.history import History
from csv_manager.sqlite_tuning import WAL_SIZE_LIMIT

pytestmark = pytest.mark.timeout(180)


def history_json(cli, csv_file, *args):
    result = cli("csv_history", csv_file, "--json", *args)
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_change_made_while_stopped_is_reported_and_recorded_on_the_next_start(cli, store, csv_file, forked_running):
    cli("csv_watcher_add", csv_file, "-i", "1")
    first = forked_running()
    first.expect("watching %s (2 rows, every 1 s)" % csv_file)
    assert first.stop() == 0
    assert [line for line in first.seen["stdout"] if "row:" in line] == []

    csv_file.write_text("id,name\n1,Ada\n2,Hopper\n3,Linus\n")
    second = forked_running()
    second.expect("watching %s (3 rows, every 1 s)" % csv_file)
    lines = second.expect("is missing row: {'id': '2', 'name': 'Grace'}")
    assert lines == ["%s has new row: {'id': '2', 'name': 'Hopper'}" % csv_file,
                     "%s has new row: {'id': '3', 'name': 'Linus'}" % csv_file,
                     "%s is missing row: {'id': '2', 'name': 'Grace'}" % csv_file]
    assert second.stop() == 0

    recorded = history_json(cli, csv_file)
    assert [(line["change"], line["row"]) for line in recorded] == [
        ("new", {"id": "2", "name": "Hopper"}), ("new", {"id": "3", "name": "Linus"}),
        ("missing", {"id": "2", "name": "Grace"})]
    assert {line["rows"] for line in recorded} == {3}


def test_a_killed_run_loses_no_version_it_had_printed(cli, store, csv_file, forked_running):
    cli("csv_watcher_add", csv_file, "-i", "1")
    watcher = forked_running()
    watcher.expect("watching %s" % csv_file)
    for name in ("Linus", "Guido", "Barbara"):
        append(csv_file, "9,%s\n" % name)
        watcher.expect("has new row: {'id': '9', 'name': '%s'}" % name)
    watcher.process.send_signal(signal.SIGKILL)
    watcher.process.wait(10)
    printed = [line for line in watcher.lines() if "has new row" in line]
    recorded = ["%s has new row: %s" % (csv_file, line["row"]) for line in reversed(history_json(cli, csv_file))]
    assert printed == recorded


def test_text_output_limit_and_since(cli, store, csv_file, forked_running):
    cli("csv_watcher_add", csv_file, "-i", "1")
    watcher = forked_running()
    watcher.expect("watching %s" % csv_file)
    append(csv_file, "3,Linus\n")
    watcher.expect("has new row: {'id': '3', 'name': 'Linus'}")
    csv_file.write_text("id,name\n1,Ada\n3,Linus\n")
    watcher.expect("is missing row: {'id': '2', 'name': 'Grace'}")
    assert watcher.stop() == 0

    lines = cli("csv_history", csv_file).stdout.splitlines()
    assert [line.split(" at ")[0] for line in lines[::2]] == ["version 2", "version 1"]
    assert lines[0].endswith(": 2 rows") and lines[2].endswith(": 3 rows")
    assert lines[1::2] == ["%s is missing row: {'id': '2', 'name': 'Grace'}" % csv_file,
                           "%s has new row: {'id': '3', 'name': 'Linus'}" % csv_file]
    assert cli("csv_history", csv_file, "--limit", "1").stdout.splitlines() == lines[:2]
    assert cli("csv_history", csv_file, "--since", "2999-01-01").stdout == ""
    assert cli("csv_history", csv_file, "--since", "2000-01-01T00:00Z").stdout.splitlines() == lines


def test_history_of_a_deleted_watcher_is_kept_unless_purged(cli, store, csv_file, forked_running):
    cli("csv_watcher_add", csv_file, "-i", "1")
    watcher = forked_running()
    watcher.expect("watching %s" % csv_file)
    append(csv_file, "3,Linus\n")
    watcher.expect("has new row")
    assert watcher.stop() == 0

    assert cli("csv_watcher_delete", csv_file).exit_code == 0
    assert len(history_json(cli, csv_file)) == 1
    cli("csv_watcher_add", csv_file)
    purged = cli("csv_watcher_delete", csv_file, "--purge")
    assert purged.stdout.splitlines() == ["Removed watcher for %s" % csv_file, "Deleted the history of %s" % csv_file]
    missing = cli("csv_history", csv_file)
    assert (missing.exit_code, missing.stderr) == (1, "Error: No history for %s.\n" % csv_file)


def test_bad_history_options_are_usage_errors(cli, csv_file):
    for args in (["--since", "yesterday"], ["--limit", "0"]):
        result = cli("csv_history", csv_file, *args)
        assert result.exit_code == 2 and "Invalid value" in result.stderr


@pytest.fixture
def history(home):
    """A History on the plugin's SQLite history database, its recorder running; ``history.recorded`` lists
    what it reported as committed."""
    app = CsvManagerApp()
    plugin = app.app.plugins.get("CsvDocumentPlugin")
    plugin.setup_db()
    recorded = []
    history = History(plugin.db, plugin.history.models, on_recorded=recorded.append)
    history.recorded = recorded
    history.start()
    yield history
    app.stop()


def record(history, csv_file, old, new):
    change, _ = diff(read(old), new)
    history.record_change(csv_file, change.new_rows, change.missing_rows, change.changed_rows, None, change.rows,
                          change.patch, new)
    return change


def test_a_version_id_is_never_given_twice_even_after_the_newest_were_purged(store, history):
    """A reader (csv_history --after) or a hook whose cursor is at the newest id sees every later version, also
    when the versions holding the highest ids were purged since."""
    history.record_baseline("/data/a.csv", 0, b"id\n")
    history.record_baseline("/data/b.csv", 0, b"id\n")
    record(history, "/data/a.csv", b"id\n", b"id\n1\n")
    record(history, "/data/b.csv", b"id\n", b"id\n1\n")
    history.wait_until_recorded("/data/b.csv")
    newest = history.newest_id()
    assert history.purge("/data/b.csv") == 1
    record(history, "/data/a.csv", b"id\n1\n", b"id\n1\n2\n")
    history.wait_until_recorded("/data/a.csv")
    (later,) = history.after(newest)
    assert (later["csv_file"], later["new_rows"], later["number"]) == ("/data/a.csv", [{"id": "2"}], 2)
    assert later["id"] > newest


def test_an_append_to_a_large_file_stores_the_appended_rows_not_a_copy(history):
    body = b"".join(b"%d,name %d,city %d\n" % (number, number, number % 97) for number in range(50000))
    old = b"id,name,city\n" + body
    new = old + b"".join(b"x%d,new,row\n" % number for number in range(10))
    history.record_baseline("/data/big.csv", 50000, old)
    record(history, "/data/big.csv", old, new)
    history.stop()
    with history.db.engine.connect() as connection:
        patch_bytes, snapshot_version = connection.exec_driver_sql(
            "SELECT length(patch), snapshot_version FROM csv_history_versions, csv_history_files").one()
        stored_rows = connection.exec_driver_sql("SELECT count(*) FROM csv_history_rows").scalar()
    assert stored_rows == 10
    assert patch_bytes < 200
    assert snapshot_version == 0, "the snapshot must not be rewritten for a small change"
    assert history.last_content("/data/big.csv") == new


def test_rows_inserted_in_many_batches_are_all_recorded_in_order(history, monkeypatch):
    monkeypatch.setattr(version_writes, "ROWS_BATCH_CHARS", 100)
    old = b"id,name\n" + b"".join(b"%d,name %d\n" % (number, number) for number in range(100))
    new = old.replace(b"0,name", b"0,renamed") + b"".join(b"x%d,new\n" % number for number in range(40))
    history.record_baseline("/data/batches.csv", 100, old)
    change = record(history, "/data/batches.csv", old, new)
    history.stop()
    with history.db.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT change, row FROM csv_history_rows ORDER BY id").all()
    assert [(change_kind, json.loads(row)) for change_kind, row in stored] == (
        [("new", row) for row in change.new_rows] + [("missing", row) for row in change.missing_rows])
    assert len(change.new_rows) == 50 and len(change.missing_rows) == 10


def test_the_snapshot_is_rewritten_once_patches_outweigh_it_and_content_stays_exact(history):
    versions = [b"id\n" + b"".join(b"%d\n" % number for number in range(start, start + 20)) for start in range(6)]
    history.record_baseline("/data/small.csv", 20, versions[0])
    for old, new in zip(versions, versions[1:]):
        record(history, "/data/small.csv", old, new)
    history.stop()
    with history.db.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT snapshot_version FROM csv_history_files").scalar() > 0
    assert history.last_content("/data/small.csv") == versions[-1]


def test_a_failed_history_write_is_reported_once_and_retried_until_it_succeeds(history, caplog):
    old, new = b"id\n1\n", b"id\n1\n2\n"
    history.record_baseline("/data/retry.csv", 1, old)
    rows_table = history.Row.__table__
    with history.db.engine.begin() as connection:
        rows_table.drop(connection)
    with caplog.at_level(logging.WARNING):
        record(history, "/data/retry.csv", old, new)
        deadline = time.monotonic() + 30
        while not any("Cannot use the database" in message for message in caplog.messages):
            assert time.monotonic() < deadline, "the failed write was never reported"
            time.sleep(0.01)  # polling the captured log until a deadline
        with history.db.engine.begin() as connection:
            rows_table.create(connection)
        history.stop()
    assert [(record["csv_file"], record["new_rows"], record["missing_rows"]) for record in history.recorded] == [
        ("/data/retry.csv", [{"id": "2"}], [])]
    assert len([message for message in caplog.messages if "Cannot use the database" in message]) == 1
    assert "The database works again" in caplog.messages
    assert "csv_history_rows" in inspect(history.db.engine).get_table_names()


def test_a_write_that_still_fails_when_stopping_is_given_up_and_said(history, caplog):
    old, new = b"id\n1\n", b"id\n1\n2\n"
    history.record_baseline("/data/lost.csv", 1, old)
    with history.db.engine.begin() as connection:
        history.Row.__table__.drop(connection)
    with caplog.at_level(logging.WARNING):
        record(history, "/data/lost.csv", old, new)
        history.stop()
    assert history.recorded == []
    assert "1 changes could not be recorded in the history" in caplog.text


def test_a_change_recorded_whose_printing_is_stuck_is_not_called_unrecorded(home, capfd):
    app = CsvManagerApp()
    plugin = app.app.plugins.get("CsvDocumentPlugin")
    plugin.setup_db()
    printing, unblock = threading.Event(), threading.Event()

    def stuck_printing(record):  # what a print to a full pipe that nobody reads does
        printing.set()
        unblock.wait(60)
    history = History(plugin.db, plugin.history.models, on_recorded=stuck_printing)
    history.start()
    try:
        old, new = b"id\n1\n", b"id\n1\n2\n"
        history.record_baseline("/data/stuck.csv", 1, old)
        record(history, "/data/stuck.csv", old, new)
        assert printing.wait(30)
        record(history, "/data/stuck.csv", new, new + b"3\n")
        history.stop()
        assert ("what it recorded last is recorded, but printing it is stuck (is the output read?); 1 changes "
                "queued after it were not recorded") in capfd.readouterr().err
        assert history.last_content("/data/stuck.csv") == new
    finally:
        unblock.set()
        app.stop()


def stored_bytes(history):
    """What the history database must hold: its snapshots (the newest and those kept for --show), patches and
    rows, in bytes."""
    with history.db.engine.connect() as connection:
        return sum(connection.exec_driver_sql(sql).scalar() or 0 for sql in (
            "SELECT sum(length(snapshot)) FROM csv_history_files",
            "SELECT sum(length(snapshot)) FROM csv_history_snapshots",
            "SELECT sum(length(patch)) FROM csv_history_versions",
            "SELECT sum(length(row)) FROM csv_history_rows"))


def test_rewritten_snapshots_do_not_leave_the_database_growing(history, home):
    lines = [b"%d,name %d,%d\n" % (number, number, number * 7919 % 10007) for number in range(40000)]
    content = b"id,name,value\n" + b"".join(lines)
    history.record_baseline("/data/rewritten.csv", 40000, content)
    for number in range(20):
        # Both ends change: the patch spans the file, so the snapshot is rewritten every time or two.
        new = content.replace(b"\n0,", b"\n0%d," % number, 1)[:-5] + b"%05d\n" % number
        record(history, "/data/rewritten.csv", content, new)
        content = new
    history.stop()
    with history.db.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT snapshot_version FROM csv_history_files").scalar() >= 10
    assert os.path.getsize(home / "history_db.db") <= 1.2 * stored_bytes(history) + 64 * 1024
    assert os.path.getsize(home / "history_db.db-wal") <= WAL_SIZE_LIMIT


def test_versions_are_numbered_per_file(cli, store, tmp_path, forked_running):
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    for path in (first, second):
        path.write_text("id\n1\n")
        cli("csv_watcher_add", path, "-i", "1")
    watcher = forked_running()
    watcher.expect_all(["watching %s" % first, "watching %s" % second])
    for path, row in ((first, "2"), (second, "2"), (first, "3")):
        append(path, "%s\n" % row)
        watcher.expect("%s has new row: {'id': '%s'}" % (path, row))
    assert watcher.stop() == 0
    assert [line.split(" at ")[0] for line in cli("csv_history", first).stdout.splitlines()[::2]] == [
        "version 2", "version 1"]
    assert [(line["version"], line["row"]) for line in history_json(cli, first)] == [(2, {"id": "3"}),
                                                                                     (1, {"id": "2"})]
    assert [line["version"] for line in history_json(cli, second)] == [1]
    assert [line["version"] for line in history_json(cli, first, "--limit", "1")] == [2]


def test_nothing_to_show_is_said_on_stderr_and_is_not_an_error(cli, store, csv_file, forked_running):
    cli("csv_watcher_add", csv_file, "-i", "1")
    never_run = cli("csv_history", csv_file)
    assert (never_run.exit_code, never_run.stdout, never_run.stderr) == (
        0, "", "Nothing recorded for %s yet: csv_watcher_run records its changes.\n" % csv_file)
    watcher = forked_running()
    watcher.expect("watching %s" % csv_file)
    assert watcher.stop() == 0
    baseline_only = cli("csv_history", csv_file, "--json")
    assert (baseline_only.exit_code, baseline_only.stdout, baseline_only.stderr) == (
        0, "", "No changes of %s recorded.\n" % csv_file)
    later = cli("csv_history", csv_file, "--since", "2999-01-01T00:00Z")
    assert (later.exit_code, later.stdout, later.stderr) == (
        0, "", "No changes of %s recorded since 2999-01-01T00:00:00Z.\n" % csv_file)
    unknown = cli("csv_history", csv_file.with_name("unknown.csv"))
    assert (unknown.exit_code, unknown.stderr) == (1, "Error: No history for %s.\n" % csv_file.with_name("unknown.csv"))
