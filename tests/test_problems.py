"""Problems told once, in our own words: a log that cannot be written, a database URL that cannot work, an
application folder that cannot be used. Exit codes and whole messages are checked; no traceback ever."""
import os
import shutil
import subprocess

import pytest

from helpers import forked_run

pytestmark = pytest.mark.timeout(120)


def test_a_log_that_cannot_be_opened_is_said_once_and_the_command_goes_on(home, csv_file):
    home.mkdir(mode=0o700)
    (home / "csv_manager.log").mkdir(mode=0o700)
    result = forked_run("-v", "csv_watcher_add", csv_file)
    assert result.returncode == 0
    assert result.stdout == "Added watcher for %s (every 10 s)\n" % csv_file
    assert [line for line in result.stderr.splitlines() if "Cannot write the log" in line] == [
        "WARNING: Cannot write the log %s (Is a directory); going on without it" % (home / "csv_manager.log")]
    assert "Traceback" not in result.stderr


@pytest.fixture
def full_home(tmp_path, monkeypatch):
    """An application folder on a 256 KiB tmpfs filled to the last byte; the databases live elsewhere."""
    home = tmp_path / "full"
    home.mkdir()
    if shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(home)],
            capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root and mount permission), to fill a log's disk")
    try:
        monkeypatch.setenv("CSV_MANAGER_HOME", str(home))
        monkeypatch.setenv("CSV_MANAGER_DATABASE_URL", "sqlite:///%s" % (tmp_path / "watchers.db"))
        monkeypatch.setenv("CSV_MANAGER_HISTORY_DATABASE_URL", "sqlite:///%s" % (tmp_path / "history.db"))
        (home / "csv_manager.log").touch()
        with open(home / "filler", "wb", buffering=0) as stream:
            try:
                while True:
                    stream.write(b"\0" * 4096)
            except OSError:
                pass
        yield home
    finally:
        subprocess.run(["umount", str(home)], capture_output=True)


def test_a_log_on_a_full_disk_is_said_once_and_the_command_goes_on(full_home, csv_file):
    result = forked_run("-v", "csv_watcher_add", csv_file)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if "Cannot write the log" in line] == [
        "WARNING: Cannot write the log %s (No space left on device); going on without it"
        % (full_home / "csv_manager.log")]
    assert "Traceback" not in result.stderr
    assert forked_run("csv_watcher_list").stdout == "file: %s - interval: 10\n" % csv_file


@pytest.mark.parametrize("url, reason", [
    ("mysql://x", "the mysqldb driver for mysql is not installed (No module named 'MySQLdb'); install mysqlclient"),
    ("postgresql+psycopg2://ada:secret@db.example:5432/watchers",
     "the psycopg2 driver for postgresql is not installed (No module named 'psycopg2'); install psycopg2-binary"),
    ("postgresql+psycopg://ada:secret@db.example:fivefour/watchers", "the port 'fivefour' is not a number"),
    ("nosuchdb://x", "SQLAlchemy knows no backend 'nosuchdb'"),
    ("not a url", "it is not of the form backend[+driver]://[user[:password]@]host[:port]/database"),
], ids=["missing-driver", "missing-driver-psycopg2", "bad-port", "unknown-backend", "malformed"])
def test_a_database_url_that_cannot_work_says_why_without_the_password(home, monkeypatch, url, reason):
    monkeypatch.setenv("CSV_MANAGER_DATABASE_URL", url)
    result = forked_run("csv_watcher_list")
    assert result.returncode == 1
    assert result.stderr == "Error: Cannot use database URL %r: %s\n" % (url.replace(":secret@", ":***@"), reason)
    assert "secret" not in result.stderr


def test_an_application_folder_with_a_control_character_is_refused(tmp_path, monkeypatch):
    home = tmp_path / "line\nbreak"
    monkeypatch.setenv("CSV_MANAGER_HOME", str(home))
    result = forked_run("csv_watcher_list")
    assert result.returncode == 1
    assert result.stderr == ("Error: The application folder %r (CSV_MANAGER_HOME) contains a control character "
                             "(such as a newline); choose another.\n" % str(home))
    assert os.listdir(tmp_path) == []
