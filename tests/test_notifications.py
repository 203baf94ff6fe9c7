"""The kernel's notifications: a real csv_watcher_run reports a change the moment its writer is done, whatever
the interval, and falls back to polling, saying so, where notifications cannot be had."""
import os
import subprocess
import threading
import time

import pytest

from helpers import SCRIPT, Running, append
from csv_manager.patterns.csv_watcher_pattern.notifier import Notifier

pytestmark = pytest.mark.timeout(120)

#: Far longer than any test: a change reported within a test was seen through a notification.
HOUR = "3600"
#: A test's bound for "at once" (the measured latency is in benchmarks/bench_notifications.py): generous,
#: because CI runs the suite with four workers on two cores, yet far under the interval.
AT_ONCE_SECONDS = 5


@pytest.fixture
def watching_hourly(cli, csv_file, forked_running):
    """csv_file watched every hour by a running csv_watcher_run that has taken its baseline."""
    cli("csv_watcher_add", csv_file, "-i", HOUR)
    watcher = forked_running()
    watcher.expect("watching %s (2 rows, every 3600 s)" % csv_file)
    return watcher


def reported_rows(watcher):
    return [line for line in watcher.seen["stdout"] if "row:" in line]


def test_an_append_a_rewrite_and_a_replace_are_reported_at_once_with_an_hourly_interval(watching_hourly, csv_file):
    append(csv_file, "3,Linus\n")
    watching_hourly.expect("%s has new row: {'id': '3', 'name': 'Linus'}" % csv_file, AT_ONCE_SECONDS)
    csv_file.write_text("id,name\n1,Ada\n3,Linus\n")
    watching_hourly.expect("%s is missing row: {'id': '2', 'name': 'Grace'}" % csv_file, AT_ONCE_SECONDS)
    replacement = csv_file.with_name("data.csv.tmp")
    replacement.write_text("id,name\n1,Ada\n3,Linus\n4,Ken\n")
    os.replace(replacement, csv_file)
    watching_hourly.expect("%s has new row: {'id': '4', 'name': 'Ken'}" % csv_file, AT_ONCE_SECONDS)


def test_a_delete_and_recreate_is_seen_in_the_directory(watching_hourly, csv_file):
    csv_file.unlink()
    csv_file.write_text("id,name\n1,Ada\n2,Grace\n5,Barbara\n")
    watching_hourly.expect("%s has new row: {'id': '5', 'name': 'Barbara'}" % csv_file, AT_ONCE_SECONDS)


def test_a_row_appended_and_deleted_300_ms_later_is_two_reports_and_two_versions(watching_hourly, cli, csv_file):
    append(csv_file, "3,Linus\n")
    time.sleep(0.3)  # the scenario: two writes 300 ms apart (not a wait for the watcher)
    csv_file.write_text("id,name\n1,Ada\n2,Grace\n")
    watching_hourly.expect("%s is missing row: {'id': '3', 'name': 'Linus'}" % csv_file, AT_ONCE_SECONDS)
    assert watching_hourly.finish() == 0
    assert reported_rows(watching_hourly) == ["%s has new row: {'id': '3', 'name': 'Linus'}" % csv_file,
                                              "%s is missing row: {'id': '3', 'name': 'Linus'}" % csv_file]
    history = cli("csv_history", csv_file, "--limit", "2").output
    assert history.count("version ") == 2, history


def test_a_row_written_in_two_closed_halves_with_a_long_pause_is_reported_once_whole(
        cli, csv_file, forked_running, monkeypatch):
    """The issue's paused writer: ``printf 'F6,3,' >> f; sleep 2.5; printf '4.00,EUR\\n' >> f`` at ``-i 1``, with
    a quiet period longer than the pause."""
    monkeypatch.setenv("CSV_MANAGER_QUIET_SECONDS", "4")
    csv_file.write_text("code,qty,price,currency\nF5,1,2.00,EUR\n")
    cli("csv_watcher_add", csv_file, "-i", "1")
    watcher = forked_running()
    watcher.expect("watching %s (1 rows, every 1 s)" % csv_file)
    append(csv_file, "F6,3,")
    time.sleep(2.5)  # the writer's pause, longer than the interval
    append(csv_file, "4.00,EUR\n")
    watcher.expect("has new row", AT_ONCE_SECONDS)
    assert watcher.finish() == 0
    assert reported_rows(watcher) == [
        "%s has new row: {'code': 'F6', 'qty': '3', 'price': '4.00', 'currency': 'EUR'}" % csv_file]


def test_a_logger_that_keeps_the_file_open_is_reported_line_by_line_and_never_half(watching_hourly, csv_file):
    with open(csv_file, "a") as log:
        for number in (3, 4):
            log.write("%d,line %d\n" % (number, number))
            log.flush()
            watching_hourly.expect("has new row: {'id': '%d', 'name': 'line %d'}" % (number, number),
                                   AT_ONCE_SECONDS)
        log.write("5,half")
        log.flush()
        log.write(" and whole\n")
        log.flush()
        watching_hourly.expect("has new row: {'id': '5', 'name': 'half and whole'}", AT_ONCE_SECONDS)
    assert watching_hourly.finish() == 0
    assert not any("'half'" in line for line in reported_rows(watching_hourly))


def test_a_rewrite_kept_open_across_a_pause_is_one_net_change_at_its_close(cli, csv_file, forked_running, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_QUIET_SECONDS", "30")
    cli("csv_watcher_add", csv_file, "-i", "1")
    watcher = forked_running()
    watcher.expect("watching %s (2 rows, every 1 s)" % csv_file)
    with open(csv_file, "w") as stream:
        stream.write("id,name\n1,Ada\n")
        stream.flush()
        time.sleep(1.5)  # the writer's pause, longer than the interval: the watcher looks at the half state
        stream.write("2,Hopper\n")
    watcher.expect("is missing row: {'id': '2', 'name': 'Grace'}", AT_ONCE_SECONDS)
    assert watcher.finish() == 0
    assert reported_rows(watcher) == ["%s has new row: {'id': '2', 'name': 'Hopper'}" % csv_file,
                                      "%s is missing row: {'id': '2', 'name': 'Grace'}" % csv_file]


def test_notifications_turned_off_fall_back_to_polling_with_one_warning(cli, csv_file, forked_running, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_NOTIFICATIONS", "off")
    cli("csv_watcher_add", csv_file, "-i", "1")
    watcher = forked_running()
    watcher.expect("WARNING: Watching by polling every interval: notifications are turned off", stream="stderr")
    watcher.expect("watching %s (2 rows, every 1 s)" % csv_file)
    append(csv_file, "3,Linus\n")
    watcher.expect("%s has new row: {'id': '3', 'name': 'Linus'}" % csv_file)
    assert watcher.finish() == 0
    assert sum("polling" in line for line in watcher.lines("stderr")) == 1


def with_one_inotify_watch(*args):
    """The installed script in a user namespace of its own whose inotify watch limit is 1 (the limit is per user
    namespace, so lowering it there troubles no other process)."""
    return subprocess.Popen(["unshare", "--user", "--map-root-user", "sh", "-c",
                             'echo 1 > /proc/sys/user/max_inotify_watches && exec "$0" "$@"', SCRIPT, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_directories_beyond_the_watch_limit_are_polled_with_one_warning(cli, tmp_path, monkeypatch):
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c",
                            "echo 1 > /proc/sys/user/max_inotify_watches"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("cannot lower the inotify watch limit in a user namespace here: %s" % probe.stderr.decode())
    notified, polled = tmp_path / "a" / "notified.csv", tmp_path / "b" / "polled.csv"
    for path, interval in ((notified, HOUR), (polled, "1")):
        path.parent.mkdir()
        path.write_text("id,name\n1,Ada\n")
        cli("csv_watcher_add", path, "-i", interval)
    watcher = Running(launch=with_one_inotify_watch)
    try:
        watcher.expect_all(["watching %s" % notified, "watching %s" % polled])
        append(notified, "2,Grace\n")
        watcher.expect("%s has new row: {'id': '2', 'name': 'Grace'}" % notified, AT_ONCE_SECONDS)
        append(polled, "2,Grace\n")
        watcher.expect("%s has new row: {'id': '2', 'name': 'Grace'}" % polled)
        assert watcher.finish() == 0
    finally:
        watcher.close()
    warnings = [line for line in watcher.lines("stderr") if "watch limit" in line]
    assert warnings == ["WARNING: The inotify watch limit (fs.inotify.max_user_watches) is reached at %s: files "
                        "in this and further directories are checked by polling every interval; raise the limit "
                        "to have them seen at once" % polled.parent]


def test_a_bad_notifications_setting_is_refused(home, csv_file, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_NOTIFICATIONS", "sometimes")
    result = subprocess.run([SCRIPT, "csv_watcher_run"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == ("Error: Notifications (WATCHER_NOTIFICATIONS or CSV_MANAGER_NOTIFICATIONS) must be "
                             "'on' or 'off', not 'sometimes'.\n")


class Noted:
    """Stands for a watcher: records the notifications it gets."""

    def __init__(self, csv_file):
        self.csv_file = str(csv_file)
        self.notes = []
        self.written = []
        self.noted = threading.Event()

    def notify(self, closed, written=False):
        self.notes.append(closed)
        self.written.append(written)
        self.noted.set()


def wait_for_close(noted, timeout=10):
    """Wait until ``noted`` was told of a close."""
    deadline = time.monotonic() + timeout
    while True not in noted.notes:
        assert noted.noted.wait(max(0.0, deadline - time.monotonic())), "no close notified: %r" % noted.notes
        noted.noted.clear()


def inotify_watches(notifier):
    """The watches the kernel holds for ``notifier``'s inotify instance (from /proc, not from its own books)."""
    with open("/proc/self/fdinfo/%d" % notifier._fd) as info:
        return sum(line.startswith("inotify wd:") for line in info)


@pytest.fixture
def notifier():
    notifier = Notifier()
    if not notifier.available:
        pytest.skip("inotify is not available here")
    notifier.start()
    yield notifier
    notifier.stop()


def test_files_in_one_directory_share_one_watch_and_a_close_is_told_apart(notifier, tmp_path):
    files = [Noted(tmp_path / ("f%d.csv" % number)) for number in range(3)]
    other = tmp_path / "elsewhere"
    other.mkdir()
    files.append(Noted(other / "g.csv"))
    for noted in files:
        notifier.watch(noted)
    assert inotify_watches(notifier) == 2
    with open(files[1].csv_file, "w") as stream:
        stream.write("a\n")
        stream.flush()
        assert files[1].noted.wait(10)
        assert True not in files[1].notes, "a close told while the writer still has the file open"
    wait_for_close(files[1])
    assert [noted.notes for noted in files if noted is not files[1]] == [[], [], []]
    for noted in files[:3]:
        notifier.unwatch(noted)
    assert inotify_watches(notifier) == 1


def test_a_directory_deleted_and_made_again_is_watched_again(notifier, tmp_path):
    directory = tmp_path / "d"
    directory.mkdir()
    noted = Noted(directory / "f.csv")
    notifier.watch(noted)
    directory.rmdir()
    assert noted.noted.wait(10)
    directory.mkdir()
    noted.notes.clear()
    deadline = time.monotonic() + 10
    # The notifier tries the directory's path again every second; write until a write is noticed.
    while True not in noted.notes:
        noted.noted.clear()
        (directory / "f.csv").write_text("a\n")
        noted.noted.wait(0.5)
        assert time.monotonic() < deadline, "the directory made again is not watched: %r" % noted.notes
