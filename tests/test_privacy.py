"""Private by default: the history database holds a copy of every watched file, so everything the app creates
is readable by its owner only, whatever the umask; a home left open by an earlier version is tightened once."""
import os
import pathlib
import shutil
import stat
import subprocess
import tempfile
import uuid

import pytest

from helpers import forked_run, run
from web_helpers import Server, free_port

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def loose_umask():
    """The umask most users have (022): files would be world-readable unless the app says otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(home):
    return {entry.name: stat.S_IMODE(entry.stat().st_mode) for entry in home.iterdir()}


def test_everything_the_app_creates_is_its_owners_only(home, csv_file, forked_running, loose_umask):
    assert forked_run("csv_watcher_add", csv_file, "-i", "1").returncode == 0
    watcher = forked_running()
    watcher.expect("watching %s" % csv_file)
    with open(csv_file, "a") as stream:
        stream.write("3,Linus\n")
    watcher.expect("has new row: {'id': '3', 'name': 'Linus'}")
    found = modes(home)
    assert watcher.stop() == 0
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert {"watcher_db.db", "watcher_db.db-wal", "history_db.db", "history_db.db-wal", "csv_manager.log"} <= set(
        found)
    assert {name: mode for name, mode in found.items() if mode != 0o600} == {}


def test_the_logs_rotated_backups_are_their_owners_only(home, loose_umask):
    assert forked_run("csv_watcher_list").returncode == 0
    with open(home / "csv_manager.log", "a") as log:
        log.write("an old line\n" * (1024 * 1024 // 12 + 1))
    assert forked_run("csv_watcher_list").returncode == 0
    assert (home / "csv_manager.log.1").read_text().endswith("an old line\n")
    assert {name: mode for name, mode in modes(home).items() if name.startswith("csv_manager.log")} == {
        "csv_manager.log": 0o600, "csv_manager.log.1": 0o600}


def test_a_home_an_earlier_version_left_open_is_tightened_once(home, csv_file, loose_umask):
    assert forked_run("csv_watcher_add", csv_file).returncode == 0
    os.chmod(home, 0o755)
    for name in ("watcher_db.db", "csv_manager.log"):
        os.chmod(home / name, 0o644)
    (home / "notes.txt").write_text("the user's own file")
    os.chmod(home / "notes.txt", 0o644)

    first = forked_run("csv_watcher_list")
    assert first.returncode == 0
    assert first.stderr == ("WARNING: Made %s private: 3 of its entries were readable or writable by others, now "
                            "only by their owner\n" % home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert modes(home) == {"watcher_db.db": 0o600, "csv_manager.log": 0o600, "notes.txt": 0o644}
    assert forked_run("csv_watcher_list").stderr == ""


@pytest.fixture
def stranger():
    """An unprivileged user made for the test (root can read anything, which would hide the point)."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("runuser"):
        pytest.skip("needs root with useradd and runuser, to try reading as another user")
    name = "csvm%s" % uuid.uuid4().hex[:8]
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", name], check=True, capture_output=True)
    yield name
    subprocess.run(["userdel", name], capture_output=True)


@pytest.fixture
def shared_folder():
    """A folder that everybody may enter (pytest's own temporary folders are root's only)."""
    path = tempfile.mkdtemp(prefix="csv_manager_privacy_")
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path)


def test_another_user_cannot_read_the_history_of_a_watched_file(shared_folder, csv_file, running, stranger,
                                                                monkeypatch):
    parent = shared_folder
    home = parent / "home"
    monkeypatch.setenv("CSV_MANAGER_HOME", str(home))
    csv_file.write_text("id,secret\n1,swordfish\n")
    assert run("csv_watcher_add", csv_file, "-i", "1").returncode == 0
    watcher = running()
    watcher.expect("watching %s" % csv_file)
    assert watcher.stop() == 0

    def read_as_stranger(path):
        return subprocess.run(["runuser", "-u", stranger, "--", "cat", str(path)], capture_output=True)

    # Controls: the stranger can reach the parent folder, and a world-readable file in the home once the
    # folder is opened, so a refusal below comes from the app's own permissions.
    (parent / "control.txt").write_text("public")
    assert read_as_stranger(parent / "control.txt").returncode == 0
    for name in ("history_db.db", "watcher_db.db", "csv_manager.log"):
        refused = read_as_stranger(home / name)
        assert refused.returncode != 0 and b"Permission denied" in refused.stderr, name
    os.chmod(home, 0o711)
    (home / "control.txt").write_text("public")
    os.chmod(home / "control.txt", 0o644)
    assert read_as_stranger(home / "control.txt").returncode == 0
    for name in ("history_db.db", "watcher_db.db", "csv_manager.log"):
        refused = read_as_stranger(home / name)
        assert refused.returncode != 0 and b"Permission denied" in refused.stderr, name


def test_another_user_gets_nothing_from_the_web_view(shared_folder, csv_file, stranger, monkeypatch):
    if not shutil.which("curl"):
        pytest.skip("needs curl, to ask the web server as another user")
    home = shared_folder / "home"
    monkeypatch.setenv("CSV_MANAGER_HOME", str(home))
    port = free_port()
    monkeypatch.setenv("CSV_MANAGER_WEB_PORT", str(port))
    assert run("csv_watcher_add", csv_file).returncode == 0
    server = Server(port)
    try:
        os.chmod(home, 0o711)  # even with the folder open to others, as in the test above
        token = subprocess.run(["runuser", "-u", stranger, "--", "cat", str(home / "web_token")],
                               capture_output=True)
        assert token.returncode != 0 and b"Permission denied" in token.stderr

        def status_as_stranger(path):
            asked = subprocess.run(["runuser", "-u", stranger, "--", "curl", "-s", "-o", "/dev/null", "-w",
                                    "%{http_code}", server.base + path], capture_output=True, text=True)
            return asked.stdout

        assert status_as_stranger("/csv/history") == "403"
        assert status_as_stranger("/admin/admin_csvwatchers/") == "403"
        assert status_as_stranger("/csv/events") == "403"
        assert status_as_stranger("/?token=" + server.token) == "303", "control: the server answers that user"
    finally:
        server.stop()
