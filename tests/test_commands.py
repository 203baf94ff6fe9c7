"""The commands, run as a user runs them, against real SQLite files (and PostgreSQL with the store fixture).

The tests about the script itself (its words, its folder and log, its console, --help) run the installed
script; the others run its entry point in forked processes (see forked.py), which behave the same and start
without re-importing the app."""
import json
import os
import signal

import pytest

from sqlalchemy.exc import IntegrityError

from helpers import forked_run, run

pytestmark = pytest.mark.timeout(180)


def test_add_then_list_shows_the_watcher_in_the_tutorial_words(store, csv_file):
    added = run("csv_watcher_add", csv_file, "--interval", "5")
    assert added.returncode == 0, added.stderr
    assert added.stdout == "Added watcher for %s (every 5 s)\n" % csv_file
    assert added.stderr == ""

    listed = run("csv_watcher_list")
    assert listed.returncode == 0
    assert listed.stdout == "file: %s - interval: 5\n" % csv_file
    assert listed.stderr == ""


def test_list_json_is_an_array_of_id_csv_file_interval_and_status(cli, store, csv_file):
    cli("csv_watcher_add", csv_file)
    listed = forked_run("csv_watcher_list", "--json")
    assert json.loads(listed.stdout) == [{"id": 1, "csv_file": str(csv_file), "interval": 10, "key": [],
                                          "delimiter": ",", "encoding": "utf-8", "pattern": None, "files": None,
                                          "state": "not running",
                                          "owner": None, "checked_at": None, "changed_at": None}]


def test_list_with_no_watchers_prints_nothing_on_stdout_and_exits_0(store):
    listed = forked_run("csv_watcher_list")
    assert (listed.returncode, listed.stdout) == (0, "")
    assert "No watchers yet" in listed.stderr
    assert json.loads(forked_run("csv_watcher_list", "--json").stdout) == []


def test_the_same_file_named_from_two_directories_is_one_watcher(store, tmp_path, csv_file):
    other = tmp_path / "other"
    other.mkdir()
    assert forked_run("csv_watcher_add", "data.csv", cwd=tmp_path).returncode == 0
    duplicate = forked_run("csv_watcher_add", "../data.csv", cwd=other)
    assert duplicate.returncode == 1
    assert duplicate.stderr == "Error: %s is already watched.\n" % csv_file
    assert store.rows() == [(1, str(csv_file), 10)]


def test_the_database_enforces_uniqueness(cli, store, csv_file):
    cli("csv_watcher_add", csv_file)
    with pytest.raises(IntegrityError):
        store.execute('INSERT INTO csv_watchers (csv_file, "interval") VALUES (:path, 3)', {"path": str(csv_file)})


def fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe.csv")
    return tmp_path / "pipe.csv"


@pytest.mark.parametrize("make_target, message", [
    (lambda tmp_path: tmp_path / "missing.csv", "Error: No such file: {path}\n"),
    (fifo, "Error: {path} is not a regular file.\n"),
])
def test_add_refuses_a_missing_file_or_a_special_file(cli, store, csv_file, tmp_path, make_target, message):
    cli("csv_watcher_add", csv_file)
    before = store.rows()
    target = make_target(tmp_path)
    result = forked_run("csv_watcher_add", target)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == message.format(path=target)
    assert store.rows() == before


@pytest.mark.parametrize("interval", ["0", "-3", "ten", "86401"])
def test_add_refuses_a_bad_interval_as_a_usage_error(cli, store, csv_file, interval):
    cli("csv_watcher_add", csv_file)
    result = forked_run("csv_watcher_add", csv_file, "-i", interval)
    assert result.returncode == 2
    assert "Invalid value for '-i' / '--interval'" in result.stderr
    assert "Traceback" not in result.stderr
    assert store.rows() == [(1, str(csv_file), 10)]


def test_delete_removes_the_row(cli, store, csv_file, tmp_path):
    cli("csv_watcher_add", csv_file)
    deleted = forked_run("csv_watcher_delete", "data.csv", cwd=tmp_path)
    assert (deleted.returncode, deleted.stdout) == (0, "Removed watcher for %s\n" % csv_file)
    assert store.rows() == []
    assert forked_run("csv_watcher_list").stdout == ""


def test_delete_of_an_unknown_file_says_so(cli, store, csv_file):
    cli("csv_watcher_add", csv_file)
    result = forked_run("csv_watcher_delete", "/nowhere/else.csv")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "Error: No watcher for /nowhere/else.csv.\n"
    assert store.rows() == [(1, str(csv_file), 10)]


def test_watchers_survive_a_restart_of_the_app(cli, store, tmp_path):
    files = []
    for number in range(3):
        path = tmp_path / ("f%d.csv" % number)
        path.write_text("a\n1\n")
        files.append(path)
        assert cli("csv_watcher_add", path, "-i", number + 1).exit_code == 0
    listed = forked_run("csv_watcher_list")
    assert listed.stdout.splitlines() == ["file: %s - interval: %d" % (path, number + 1)
                                          for number, path in enumerate(files)]


def test_a_watched_file_that_is_gone_is_listed_with_a_note_and_troubles_no_command(cli, store, csv_file, tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("a\n")
    cli("csv_watcher_add", csv_file)
    cli("csv_watcher_add", other)
    csv_file.unlink()
    listed = forked_run("csv_watcher_list")
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == ["file: %s - interval: 10" % csv_file, "file: %s - interval: 10" % other]
    assert listed.stderr == "Note: 1 watched file not found: %s\n" % csv_file
    assert forked_run("csv_watcher_list", "--json").stderr == listed.stderr
    for args in (["--help"], ["--version"], ["csv_history", other]):
        assert csv_file.name not in forked_run(*args).stderr, args
    deleted = forked_run("csv_watcher_delete", csv_file)
    assert (deleted.returncode, deleted.stdout, deleted.stderr) == (0, "Removed watcher for %s\n" % csv_file, "")


def test_commands_return_quickly_however_many_watchers_are_persisted(cli, store, tmp_path):
    for number in range(20):
        path = tmp_path / ("f%d.csv" % number)
        path.write_text("a\n1\n")
        assert cli("csv_watcher_add", path, "-i", "1").exit_code == 0
    extra = tmp_path / "extra.csv"
    extra.write_text("a\n")
    # Each run fails with TimeoutExpired if the command does not exit: the tutorial's code never did.
    assert forked_run("csv_watcher_list").returncode == 0
    assert forked_run("csv_watcher_add", extra).returncode == 0
    assert forked_run("csv_watcher_add", extra).returncode == 1
    assert forked_run("csv_watcher_delete", extra).returncode == 0


def test_one_shot_commands_do_not_open_the_watched_files(cli, store, tmp_path):
    """A watched file replaced by a FIFO would block any open() without a writer: the commands must not care."""
    watched = tmp_path / "watched.csv"
    watched.write_text("a\n1\n")
    other = tmp_path / "other.csv"
    other.write_text("a\n")
    cli("csv_watcher_add", watched)
    watched.unlink()
    os.mkfifo(watched)
    assert forked_run("csv_watcher_list").returncode == 0
    assert forked_run("csv_watcher_add", other).returncode == 0
    assert forked_run("csv_watcher_delete", other).returncode == 0


def test_the_app_folder_is_created_with_a_debug_log(home, csv_file):
    assert not home.exists()
    forked_run("csv_watcher_add", csv_file)
    assert (home / "watcher_db.db").is_file()
    log = (home / "csv_manager.log").read_text()
    assert "DEBUG" in log and "Watcher added for %s" % csv_file in log


def test_console_is_quiet_by_default_and_verbose_with_v(home, csv_file):
    quiet = forked_run("csv_watcher_add", csv_file)
    assert quiet.stderr == ""
    verbose = forked_run("-v", "csv_watcher_list")
    assert "INFO: Registered 1 watchers" in verbose.stderr
    assert verbose.stdout == "file: %s - interval: 10\n" % csv_file


def test_database_url_overrides_the_default_location(home, tmp_path, csv_file, monkeypatch):
    elsewhere = tmp_path / "elsewhere.db"
    monkeypatch.setenv("CSV_MANAGER_DATABASE_URL", "sqlite:///%s" % elsewhere)
    assert forked_run("csv_watcher_add", csv_file).returncode == 0
    assert elsewhere.is_file()
    assert not (home / "watcher_db.db").exists()


def test_an_unusable_database_url_is_a_clear_error(home, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_DATABASE_URL", "nosuchdb://x")
    result = forked_run("csv_watcher_list")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Cannot use database URL 'nosuchdb://x'")
    assert "Traceback" not in result.stderr


def test_an_app_folder_that_cannot_be_created_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CSV_MANAGER_HOME", str(blocker / "home"))
    result = forked_run("csv_watcher_list")
    assert result.returncode == 1
    assert result.stderr == "Error: Cannot create the application folder %s: Not a directory\n" % (blocker / "home")


def test_a_running_watcher_process_does_not_block_one_shot_commands(cli, store, csv_file, forked_running):
    cli("csv_watcher_add", csv_file, "-i", "1")
    watcher = forked_running()
    watcher.expect("watching %s" % csv_file)
    assert forked_run("csv_watcher_list").stdout == "file: %s - interval: 1\n" % csv_file
    assert watcher.stop(signal.SIGTERM) == 0


def test_update_changes_the_interval_in_place(cli, store, csv_file):
    cli("csv_watcher_add", csv_file, "-i", "5")
    updated = forked_run("csv_watcher_update", csv_file, "--interval", "2")
    assert (updated.returncode, updated.stdout, updated.stderr) == (
        0, "Watcher for %s now checks every 2 s (was 5 s)\n" % csv_file, "")
    assert store.rows() == [(1, str(csv_file), 2)]


@pytest.mark.parametrize("args, code, message", [
    (["/nowhere/else.csv", "-i", "2"], 1, "Error: No watcher for /nowhere/else.csv.\n"),
    (["{path}", "-i", "0"], 2, "Invalid value for '-i' / '--interval'"),
    (["{path}"], 2, "Say what to change: -i/--interval, --key, --no-key, --delimiter, --encoding or --pattern."),
    (["{path}", "--key", "id", "--no-key"], 2, "--key and --no-key cannot be combined."),
    (["{path}", "--key", "sku"], 2, "Invalid value for '--key': 'sku' not in the header"),
])
def test_update_refuses_an_unknown_watcher_or_a_bad_interval(cli, store, csv_file, args, code, message):
    cli("csv_watcher_add", csv_file)
    result = forked_run("csv_watcher_update", *[arg.format(path=csv_file) for arg in args])
    assert result.returncode == code
    assert message in result.stderr and "Traceback" not in result.stderr
    assert store.rows() == [(1, str(csv_file), 10)]
    assert json.loads(forked_run("csv_watcher_list", "--json").stdout)[0]["key"] == []
