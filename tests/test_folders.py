"""Folder watchers with the real csv_watcher_run: files present are a baseline, files that arrive by any writer are
added (their rows reported once, whole), a rotation is a rename and an added file, a removal is told once, a
pattern with ``**`` descends, other names are ignored, a restart tells what happened meanwhile, and two runners
share a folder through a kill. Then the commands: add, list, update, delete, and what they refuse."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from helpers import append, forked_run
from oracle import dictreader_rows

pytestmark = pytest.mark.timeout(120)

#: A writer that holds the file open while it writes half a row, pauses longer than the quiet period (0.5 s in
#: the tests), then writes the rest: its half row must never be reported.
HOLDER = textwrap.dedent("""
    import sys, time
    with open(sys.argv[1], "a") as stream:
        stream.write("77,")
        stream.flush()
        print("half", flush=True)
        sys.stdin.readline()
        stream.write("held\\n")
        stream.flush()
        print("whole", flush=True)
        sys.stdin.readline()
""")


@pytest.fixture
def folder(tmp_path):
    """A folder with two CSV files and a text file in it."""
    path = tmp_path / "drop"
    path.mkdir()
    (path / "a.csv").write_text("id,name\n1,Ada\n")
    (path / "b.csv").write_text("id,name\n1,Grace\n")
    (path / "notes.txt").write_text("not watched\n")
    return path


def added(cli, folder, *options):
    result = cli("csv_watcher_add", folder, "-i", "1", *options)
    assert result.exit_code == 0, result.output
    return result


def events_of(runner, csv_file):
    return [event for event in runner.events() if event["csv_file"] == str(csv_file)]


def rows_reported(runner, csv_file, kind="new"):
    return [event["row"] for event in events_of(runner, csv_file) if event["event"] == kind]


def test_files_present_are_a_baseline_and_files_that_arrive_are_added_once_whole_by_every_writer(
        cli, folder, tmp_path, forked_running):
    added(cli, folder)
    runner = forked_running("--json")
    runner.expect('"event": "watching_folder", "files": 2, "pattern": "*.csv", "interval": 1')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    large = elsewhere / "large.csv"
    large.write_text("id,name\n" + "".join("%d,row %d\n" % (number, number) for number in range(20000)))
    moved = elsewhere / "moved.csv"
    moved.write_text("id,name\n5,moved in\n")

    subprocess.run(["cp", str(large), str(folder / "copied.csv")], check=True, timeout=60)
    shutil.move(str(moved), str(folder / "moved.csv"))
    (folder / ".replaced.csv.tmp").write_text("id,name\n6,put in place\n")
    os.replace(folder / ".replaced.csv.tmp", folder / "replaced.csv")
    append(folder / "written.csv", "id,name\n7,written\n")
    append(folder / "a.csv", "2,Linus\n")
    append(folder / "notes.txt", "still not watched\n")
    runner.expect_all(['"csv_file": "%s", "event": "file_added"' % (folder / name)
                       for name in ("copied.csv", "moved.csv", "replaced.csv", "written.csv")]
                      + ['"row": {"id": "2", "name": "Linus"}', '"row": {"id": "19999", "name": "row 19999"}'])
    assert runner.finish() == 0

    for name in ("copied.csv", "moved.csv", "replaced.csv", "written.csv"):
        path = folder / name
        truth = dictreader_rows(path.read_bytes())
        assert [event["event"] for event in events_of(runner, path)] == ["file_added"] + ["new"] * len(truth), name
        assert events_of(runner, path)[0]["rows"] == len(truth)
        assert rows_reported(runner, path) == truth
    assert [(event["event"], event.get("row")) for event in events_of(runner, folder / "a.csv")] == [
        ("new", {"id": "2", "name": "Linus"})]
    assert events_of(runner, folder / "b.csv") == []
    assert events_of(runner, folder / "notes.txt") == []


def test_a_rotation_is_a_rename_and_an_added_file_and_a_removal_is_told_once(cli, folder, forked_running):
    added(cli, folder)
    runner = forked_running("--json")
    runner.expect('"event": "watching_folder"')
    os.rename(folder / "a.csv", folder / "a-1.csv")
    (folder / "a.csv").write_text("id,name\n9,after rotation\n")
    os.remove(folder / "b.csv")
    runner.expect_all(['"row": {"id": "9", "name": "after rotation"}', '"event": "file_removed"'])
    append(folder / "a-1.csv", "2,late line of the rotated file\n")
    runner.expect('"row": {"id": "2", "name": "late line of the rotated file"}')
    assert runner.finish() == 0

    renamed, late = events_of(runner, folder / "a-1.csv")
    assert renamed == {"at": renamed["at"], "csv_file": str(folder / "a-1.csv"), "event": "file_renamed",
                       "from": str(folder / "a.csv"), "to": str(folder / "a-1.csv"), "id": renamed["id"]}
    assert late == {"at": late["at"], "csv_file": str(folder / "a-1.csv"), "event": "new", "change": "new",
                    "row": {"id": "2", "name": "late line of the rotated file"}, "id": late["id"]}
    assert late["id"] > renamed["id"]
    assert [(event["event"], event.get("rows")) for event in events_of(runner, folder / "a.csv")] == [
        ("file_added", 1), ("new", None)]
    assert [event["event"] for event in events_of(runner, folder / "b.csv")] == ["file_removed"]

    history = forked_run("csv_history", folder / "a-1.csv")
    assert history.returncode == 0, history.stderr
    assert "a-1.csv was renamed from %s" % (folder / "a.csv") in history.stdout
    assert "late line of the rotated file" in history.stdout
    assert "after rotation" not in history.stdout
    removed = forked_run("csv_history", folder / "b.csv", "--json")
    assert [json.loads(line)["event"] for line in removed.stdout.splitlines()][:1] == ["file_removed"]


def test_a_pattern_with_two_stars_descends_into_subfolders_that_come_later_too(cli, folder, forked_running):
    (folder / "2026" / "12").mkdir(parents=True)
    (folder / "2026" / "12" / "old.csv").write_text("id,name\n1,old\n")
    added(cli, folder, "--pattern", "**/*.csv")
    runner = forked_running("--json")
    runner.expect('"event": "watching_folder", "files": 3, "pattern": "**/*.csv"')
    (folder / "2027" / "01").mkdir(parents=True)
    (folder / "2027" / "01" / "new.csv").write_text("id,name\n2,deep\n")
    append(folder / "2026" / "12" / "old.csv", "3,appended\n")
    runner.expect_all(['"row": {"id": "2", "name": "deep"}', '"row": {"id": "3", "name": "appended"}'])
    assert runner.finish() == 0
    assert [event["event"] for event in events_of(runner, folder / "2027" / "01" / "new.csv")] == [
        "file_added", "new"]


def test_a_half_row_waits_for_the_writer_that_holds_the_file_open(cli, folder, forked_running):
    added(cli, folder)
    runner = forked_running("--json")
    runner.expect('"event": "watching_folder"')
    writer = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder / "a.csv")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "half\n"
        # The duration under test, not a synchronisation: four quiet periods (0.5 s) pass with the half row
        # unchanged and its writer holding the file open. The marker then shows the runner has looked since.
        time.sleep(2.0)
        append(folder / "b.csv", "2,marker\n")
        runner.expect('"row": {"id": "2", "name": "marker"}')
        marker_seen = runner.lines()
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.stdout.readline() == "whole\n"
        runner.expect('"row": {"id": "77", "name": "held"}')
        writer.stdin.write("\n")
        writer.stdin.flush()
        writer.wait(10)
    finally:
        writer.kill()
    assert runner.finish() == 0
    assert not any('"77"' in line for line in marker_seen)
    assert [(event["event"], event["row"]) for event in events_of(runner, folder / "a.csv")] == [
        ("new", {"id": "77", "name": "held"})]


#: A writer that creates files, writes a header and half a row in each and holds them open, then deletes them.
BURST = textwrap.dedent('''
    import os, sys
    streams = []
    for number in range(20):
        stream = open(os.path.join(sys.argv[1], "part-%d.csv" % number), "w")
        stream.write("id,name\\n%d,half" % number)
        stream.flush()
        streams.append(stream)
    print("written", flush=True)
    sys.stdin.readline()
    for stream in streams:
        os.remove(stream.name)
        stream.close()
''')


def test_a_burst_of_files_deleted_before_their_writer_finished_reports_nothing(cli, folder, forked_running):
    added(cli, folder)
    runner = forked_running("--json")
    runner.expect('"event": "watching_folder"')
    writer = subprocess.Popen([sys.executable, "-c", BURST, str(folder)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "written\n"
        # The duration under test, not a synchronisation: four quiet periods pass with the files unfinished.
        time.sleep(2.0)
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.wait(10) == 0
    finally:
        writer.kill()
    append(folder / "a.csv", "2,marker\n")
    runner.expect('"row": {"id": "2", "name": "marker"}')
    assert runner.finish() == 0
    assert [event for event in runner.events() if "part-" in event["csv_file"]] == []


def test_a_restarted_runner_tells_what_came_changed_and_went_while_none_ran(cli, store, folder, forked_running):
    added(cli, folder)
    runner = forked_running("--json")
    runner.expect('"event": "watching_folder"')
    assert runner.finish() == 0
    (folder / "c.csv").write_text("id,name\n3,while stopped\n")
    os.remove(folder / "b.csv")
    append(folder / "a.csv", "2,appended while stopped\n")
    again = forked_running("--json")
    again.expect_all(['"row": {"id": "3", "name": "while stopped"}', '"event": "file_removed"',
                      '"row": {"id": "2", "name": "appended while stopped"}'])
    assert again.finish() == 0
    assert [event["event"] for event in events_of(again, folder / "c.csv")] == ["file_added", "new"]
    assert [event["event"] for event in events_of(again, folder / "b.csv")] == ["file_removed"]
    assert [event["event"] for event in events_of(again, folder / "a.csv")] == ["new"]


@pytest.mark.long
def test_two_runners_share_a_folder_and_the_survivor_of_a_kill_reports_each_row_once(
        cli, store, folder, forked_running):
    added(cli, folder)
    runners = [forked_running("--json"), forked_running("--json")]
    owner = next(runner for runner in runners if _took(runner, timeout=30))
    other = runners[1 - runners.index(owner)]
    owner.expect('"event": "watching_folder"')
    append(folder / "a.csv", "2,before the kill\n")
    owner.expect('"row": {"id": "2", "name": "before the kill"}')
    owner.stop(signal.SIGKILL)
    append(folder / "a.csv", "3,after the kill\n")
    (folder / "c.csv").write_text("id,name\n4,arrived after the kill\n")
    other.expect_all(['"row": {"id": "3", "name": "after the kill"}', '"row": {"id": "4", "name": "arrived after '
                      'the kill"}'], timeout=60)
    assert other.finish() == 0
    reported = [event["row"]["id"] for runner in runners for event in runner.events() if event["event"] == "new"]
    assert sorted(reported) == ["2", "3", "4"]


def _took(runner, timeout):
    """Whether ``runner`` says it took the folder within ``timeout`` (False once the other one has)."""
    try:
        runner.expect("Took 1 watcher", timeout=timeout, stream="stderr")
        return True
    except AssertionError:
        return False


def test_the_commands_add_list_update_and_delete_a_folder(cli, store, folder):
    result = added(cli, folder)
    assert result.stdout == "Added watcher for the folder %s: 2 files matching *.csv (every 1 s)\n" % folder
    listed = cli("csv_watcher_list")
    assert listed.stdout == "folder: %s - pattern: *.csv - files: 2 - interval: 1\n" % folder
    (listing,) = json.loads(cli("csv_watcher_list", "--json").stdout)
    assert (listing["csv_file"], listing["pattern"], listing["files"]) == (str(folder), "*.csv", 2)
    updated = cli("csv_watcher_update", folder, "--pattern", "*.txt")
    assert updated.exit_code == 0, updated.output
    assert "now watches its files matching *.txt (was *.csv)" in updated.stdout
    assert json.loads(cli("csv_watcher_list", "--json").stdout)[0]["files"] == 1
    history = cli("csv_history", folder)
    assert (history.exit_code, history.stdout) == (0, "")
    assert history.stderr == "%s is a folder: its files have a history each (csv_manager csv_history %s/FILE)\n" % (
        folder, folder)
    deleted = cli("csv_watcher_delete", folder, "--purge")
    assert deleted.exit_code == 0, deleted.output
    assert json.loads(cli("csv_watcher_list", "--json").stdout) == []


@pytest.mark.parametrize("arguments, code, message", [
    (["{folder}/a.csv"], 1, "Error: {folder}/a.csv is already watched as a file of the folder {folder} "
                            "(pattern *.csv).\n"),
    (["{folder}/a.csv", "--pattern", "*.csv"], 2, "{folder}/a.csv is not a folder; --pattern chooses a folder's "
                                                  "files."),
    (["{folder}", "--pattern", "../*.csv"], 1, "Error: The pattern '../*.csv' has an empty, '.' or '..' part.\n"),
    (["{folder}", "--pattern", "/tmp/*.csv"], 1, "Error: The pattern '/tmp/*.csv' is absolute; it is matched "
                                                 "against paths relative to the folder.\n"),
])
def test_add_refuses_what_would_watch_a_file_twice_or_a_bad_pattern(cli, store, folder, arguments, code, message):
    added(cli, folder)
    before = store.rows()
    result = forked_run("csv_watcher_add", *[argument.format(folder=folder) for argument in arguments])
    assert result.returncode == code
    assert message.format(folder=folder) in result.stderr
    assert store.rows() == before


def test_a_folder_holding_a_watched_file_is_refused_naming_the_file(cli, store, folder):
    assert cli("csv_watcher_add", folder / "a.csv").exit_code == 0
    result = forked_run("csv_watcher_add", folder)
    assert result.returncode == 1
    assert result.stderr == ("Error: %s is already watched by a watcher of its own, and matches *.csv in %s: delete "
                             "that watcher first (its history stays).\n" % (folder / "a.csv", folder))
