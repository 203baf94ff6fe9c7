"""A real csv_watcher_run process, with real files edited while it runs. Every wait has a deadline.

The runners are forked from a preloaded interpreter (see forked.py), and so are the commands other processes
send them; the installed script itself is run where how it stops is the point (signals)."""
import datetime
import json
import os
import re
import signal

import pytest

from helpers import append, forked_run, wait_for_log

pytestmark = pytest.mark.timeout(180)


def watch_every_second(cli, csv_file, start):
    """csv_file watched every second by a csv_watcher_run from ``start`` that has taken its baseline."""
    cli("csv_watcher_add", csv_file, "-i", "1")
    watcher = start()
    watcher.expect("watching %s (2 rows, every 1 s)" % csv_file)
    return watcher


@pytest.fixture
def watching(cli, csv_file, forked_running):
    return watch_every_second(cli, csv_file, forked_running)


def test_append(watching, csv_file):
    append(csv_file, "3,Linus\n")
    watching.expect("%s has new row: {'id': '3', 'name': 'Linus'}" % csv_file)


def test_delete_a_row(watching, csv_file):
    csv_file.write_text("id,name\n2,Grace\n")
    watching.expect("%s is missing row: {'id': '1', 'name': 'Ada'}" % csv_file)


def test_change_a_row(watching, csv_file):
    csv_file.write_text("id,name\n1,Ada\n2,Hopper\n")
    lines = watching.expect("is missing row: {'id': '2', 'name': 'Grace'}")
    assert lines == ["%s has new row: {'id': '2', 'name': 'Hopper'}" % csv_file,
                     "%s is missing row: {'id': '2', 'name': 'Grace'}" % csv_file]


def test_duplicate_a_row(watching, csv_file):
    append(csv_file, "1,Ada\n")
    watching.expect("%s has new row: {'id': '1', 'name': 'Ada'}" % csv_file)


def test_delete_and_recreate_the_file(watching, csv_file):
    csv_file.unlink()
    watching.expect("%s is missing; waiting for it to come back" % csv_file, stream="stderr")
    csv_file.write_text("id,name\n1,Ada\n2,Grace\n3,Guido\n")
    watching.expect("%s has new row: {'id': '3', 'name': 'Guido'}" % csv_file)


def test_replace_by_rename(watching, csv_file):
    replacement = csv_file.with_name("tmp.csv")
    replacement.write_text("id,name\n2,Grace\n4,Barbara\n")
    os.replace(replacement, csv_file)
    lines = watching.expect("is missing row")
    assert lines == ["%s has new row: {'id': '4', 'name': 'Barbara'}" % csv_file,
                     "%s is missing row: {'id': '1', 'name': 'Ada'}" % csv_file]


def test_truncate_then_refill(watching, csv_file):
    with open(csv_file, "w"):
        pass
    watching.expect("%s is empty; waiting for content" % csv_file, stream="stderr")
    csv_file.write_text("id,name\n1,Ada\n")
    watching.expect("%s is missing row: {'id': '2', 'name': 'Grace'}" % csv_file)


def test_a_row_written_in_two_halves(cli, csv_file, home, forked_running, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_QUIET_SECONDS", "2")  # the pause between the halves stays well within it
    watching = watch_every_second(cli, csv_file, forked_running)
    append(csv_file, "3,Mar")
    wait_for_log(home, "%s may be in the middle of a write" % csv_file)
    append(csv_file, "garet\n")
    watching.expect("%s has new row: {'id': '3', 'name': 'Margaret'}" % csv_file)
    assert not any("'Mar'}" in line for line in watching.lines())


def test_add_and_delete_from_another_process_while_running(home, csv_file, tmp_path, forked_running):
    watcher = forked_running()
    watcher.expect("No watchers yet", stream="stderr")
    assert forked_run("csv_watcher_add", csv_file, "-i", "1").returncode == 0
    watcher.expect("watching %s (2 rows, every 1 s)" % csv_file)
    append(csv_file, "3,Linus\n")
    watcher.expect("has new row: {'id': '3', 'name': 'Linus'}")
    assert forked_run("csv_watcher_delete", csv_file).returncode == 0
    # The watcher is gone once the run process has logged it; then changes are not reported any more.
    other = tmp_path / "marker.csv"
    other.write_text("m\n")
    assert forked_run("csv_watcher_add", other, "-i", "1").returncode == 0
    watcher.expect("watching %s" % other)
    append(csv_file, "4,Ken\n")
    append(other, "after\n")
    watcher.expect("%s has new row: {'m': 'after'}" % other)
    append(other, "after2\n")
    watcher.expect("%s has new row: {'m': 'after2'}" % other)
    assert not any("Ken" in line for line in watcher.lines())


def test_json_lines(cli, home, csv_file, forked_running):
    cli("csv_watcher_add", csv_file, "-i", "1")
    watcher = forked_running("--json")
    watcher.expect('"event": "watching"')
    before = datetime.datetime.now(datetime.timezone.utc)
    csv_file.write_text("id,name\n1,Ada\n2,Hopper\n")
    lines = watcher.expect('"change": "missing"')
    after = datetime.datetime.now(datetime.timezone.utc)
    reports = [json.loads(line) for line in lines]
    assert [{key: value for key, value in report.items() if key != "at"} for report in reports] == [
        {"csv_file": str(csv_file), "event": "new", "change": "new", "row": {"id": "2", "name": "Hopper"},
         "id": 1},
        {"csv_file": str(csv_file), "event": "missing", "change": "missing", "row": {"id": "2", "name": "Grace"},
         "id": 1},
    ]
    assert reports[0]["at"] == reports[1]["at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", reports[0]["at"]), reports[0]["at"]
    at = datetime.datetime.fromisoformat(reports[0]["at"][:-1]).replace(tzinfo=datetime.timezone.utc)
    assert before - datetime.timedelta(milliseconds=1) <= at <= after


def test_timestamps_begin_every_text_line(cli, home, csv_file, forked_running):
    cli("csv_watcher_add", csv_file, "-i", "1")
    watcher = forked_running("--timestamps")
    watcher.expect("watching %s" % csv_file)
    append(csv_file, "3,Linus\n")
    watcher.expect("has new row")
    assert watcher.finish() == 0
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
    assert [re.sub("^" + stamp, "", line) for line in watcher.seen["stdout"]] == [
        "watching %s (2 rows, every 1 s)" % csv_file, "%s has new row: {'id': '3', 'name': 'Linus'}" % csv_file]
    assert all(re.match(stamp, line) for line in watcher.seen["stdout"]), watcher.seen["stdout"]


@pytest.mark.parametrize("signum, exit_code", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_stops_cleanly_on_sigterm_and_sigint(cli, csv_file, running, signum, exit_code):
    watching = watch_every_second(cli, csv_file, running)
    assert watching.stop(signum, timeout=10) == exit_code
    errors = watching.drain("stderr")
    assert not any("Traceback" in line for line in errors), errors


def test_a_file_without_final_newline_reports_one_change_and_restarts_quietly(cli, home, tmp_path, forked_running):
    path = tmp_path / "exported.csv"
    path.write_bytes(b"id,name\n1,Ada\n2,Grace\n3,Linus\n4,Ken\n5,Barbara\n6,Guido")
    cli("csv_watcher_add", path, "-i", "1")
    first = forked_running()
    first.expect("watching %s (6 rows, every 1 s)" % path)
    replacement = tmp_path / "exported.tmp"
    replacement.write_bytes(b"id,name\n1,Ada\n3,Linus\n4,Ken\n5,Barbara\n6,Guido")
    os.replace(replacement, path)
    first.expect("%s is missing row: {'id': '2', 'name': 'Grace'}" % path)
    assert first.finish() == 0
    assert [line for line in first.seen["stdout"] if "row:" in line] == [
        "%s is missing row: {'id': '2', 'name': 'Grace'}" % path]

    second = forked_running()
    second.expect("watching %s (5 rows, every 1 s)" % path)
    assert second.finish() == 0
    assert [line for line in second.seen["stdout"] if "row:" in line] == []


def test_a_field_longer_than_the_csv_modules_default_limit_is_read(cli, tmp_path, forked_running):
    path = tmp_path / "blobs.csv"
    blob = "x" * (300 * 1024)  # the csv module refuses fields over 128 KiB unless told otherwise
    path.write_text("id,blob\n1,%s\n" % blob)
    cli("csv_watcher_add", path, "-i", "1")
    watcher = forked_running()
    watcher.expect("watching %s (1 rows, every 1 s)" % path)
    append(path, "2,%s\n" % blob)
    watcher.expect("%s has new row: {'id': '2', 'blob': '%s'}" % (path, blob))
    assert watcher.finish() == 0
    assert not any("not valid CSV" in line for line in watcher.lines("stderr"))


def test_an_interval_changed_while_running_is_picked_up_and_the_history_kept(cli, csv_file, forked_running):
    cli("csv_watcher_add", csv_file, "-i", "1")
    watcher = forked_running()
    watcher.expect("watching %s (2 rows, every 1 s)" % csv_file)
    append(csv_file, "3,Linus\n")
    watcher.expect("has new row: {'id': '3', 'name': 'Linus'}")
    assert cli("csv_watcher_update", csv_file, "-i", "3600").exit_code == 0
    watcher.expect("watching %s (3 rows, every 3600 s)" % csv_file)
    append(csv_file, "4,Guido\n")
    watcher.expect("has new row: {'id': '4', 'name': 'Guido'}")
    assert watcher.finish() == 0
    assert [line for line in watcher.seen["stdout"] if "row:" in line] == [
        "%s has new row: {'id': '3', 'name': 'Linus'}" % csv_file,
        "%s has new row: {'id': '4', 'name': 'Guido'}" % csv_file]
    history = cli("csv_history", csv_file).stdout.splitlines()
    assert [line.split(" at ")[0] for line in history[::2]] == ["version 2", "version 1"]
