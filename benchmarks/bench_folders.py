"""Benchmark of folder watchers against one watcher per file, measured in one run on this machine.

    python benchmarks/bench_folders.py [--files 10000] [--anchor 1000] [--burst 1000] [--seconds 10]

Prints one table:

- start: seconds from starting csv_watcher_run until every file of a folder of ``--files`` files is recorded
  (its baseline in the history), for one folder watcher, and for ``--anchor`` watchers of one file each (the
  way to watch a drop folder before: a thread per file; 10,000 of them took minutes to start, so the anchor is
  the issue's 1,000);
- idle CPU of that runner afterwards, over ``--seconds``, with notifications (the default) and without
  (CSV_MANAGER_NOTIFICATIONS=off: every file stat'ed and the folder listed every interval), against the
  ``--anchor`` file watchers at the same -i 1 (the issue measured 1,000 of them at 0.7 to 1.2 % of a core);
- pickup: ``--burst`` files moved into the watched folder at once (renamed in from a folder next to it, within
  a fraction of a second): seconds until each one's ``file_added`` and row were printed, and files per
  second. Each file must be reported once, in full, or the benchmark fails.

Needs the package installed.
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_runners import cpu_seconds, print_table  # noqa: E402  (a sibling script, not a package)
from tables import add_save_option, saving  # noqa: E402  (a sibling script, not a package)


def csv_manager(home, *args, notifications="on"):
    environment = dict(os.environ, CSV_MANAGER_HOME=home, CSV_MANAGER_NOTIFICATIONS=notifications)
    return subprocess.run([shutil.which("csv_manager"), *args], env=environment, check=True, capture_output=True)


def runner(home, notifications="on", stdout=subprocess.DEVNULL):
    environment = dict(os.environ, CSV_MANAGER_HOME=home, CSV_MANAGER_NOTIFICATIONS=notifications)
    return subprocess.Popen([shutil.which("csv_manager"), "csv_watcher_run", "--json"], env=environment,
                            stdout=stdout, stderr=subprocess.DEVNULL, text=True)


def make_folder(path, count):
    os.makedirs(path)
    for number in range(count):
        with open(os.path.join(path, "%05d.csv" % number), "w") as stream:
            stream.write("id,name\n%d,file %d\n" % (number, number))


def recorded_files(home):
    with sqlite3.connect(os.path.join(home, "history_db.db"), timeout=30) as connection:
        try:
            return connection.execute("SELECT count(*) FROM csv_history_files").fetchone()[0]
        except sqlite3.OperationalError:  # the runner has not made its tables yet
            return 0


def wait_recorded(home, count, timeout=600):
    """Seconds until ``count`` files have a history (polling the database until a deadline)."""
    started = time.monotonic()
    while not os.path.exists(os.path.join(home, "history_db.db")) or recorded_files(home) < count:
        if time.monotonic() - started > timeout:
            raise RuntimeError("%d files not recorded in %d s" % (count, timeout))
        time.sleep(0.1)
    return time.monotonic() - started


def idle_share(process, seconds):
    before, started = cpu_seconds(process.pid), time.monotonic()
    time.sleep(seconds)  # measuring CPU use over a wall-clock window: the wait is the measurement
    return (cpu_seconds(process.pid) - before) / (time.monotonic() - started)


def stop(process):
    process.terminate()
    process.wait(60)


def watched_folder(workdir, name, count, seconds, notifications):
    """(start seconds, idle share) of one folder watcher over ``count`` files."""
    home, folder = os.path.join(workdir, name), os.path.join(workdir, name + "-files")
    make_folder(folder, count)
    csv_manager(home, "csv_watcher_add", folder, "-i", "1")
    process = runner(home, notifications)
    started = wait_recorded(home, count + 1)  # the files, and the folder's own mark
    share = idle_share(process, seconds)
    stop(process)
    return started, share


def watched_files(workdir, count, seconds):
    """(start seconds, idle share) of ``count`` watchers, one per file."""
    home, folder = os.path.join(workdir, "files"), os.path.join(workdir, "files-files")
    make_folder(folder, count)
    csv_manager(home, "csv_watcher_list")
    with sqlite3.connect(os.path.join(home, "watcher_db.db")) as connection:
        connection.executemany('INSERT INTO csv_watchers (csv_file, "interval") VALUES (?, 1)',
                               [(os.path.join(folder, name),) for name in sorted(os.listdir(folder))])
    process = runner(home)
    started = wait_recorded(home, count)
    share = idle_share(process, seconds)
    stop(process)
    return started, share


def pickup(workdir, burst):
    """(seconds until all of ``burst`` files moved in at once are reported, seconds the moving took)."""
    home, folder, staging = (os.path.join(workdir, name) for name in ("burst", "burst-files", "burst-staging"))
    os.makedirs(folder)
    make_folder(staging, burst)
    csv_manager(home, "csv_watcher_add", folder, "-i", "1")
    process = runner(home, stdout=subprocess.PIPE)
    assert json.loads(process.stdout.readline())["event"] == "watching_folder"
    added, rows = set(), {}
    done = threading.Event()

    def read():
        for line in process.stdout:
            event = json.loads(line)
            if event["event"] == "file_added":
                assert event["csv_file"] not in added, "reported twice: %s" % event["csv_file"]
                added.add(event["csv_file"])
            elif event["event"] == "new":
                rows.setdefault(event["csv_file"], []).append(event["row"])
            if len(added) == burst and sum(map(len, rows.values())) == burst:
                done.set()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.monotonic()
    for name in sorted(os.listdir(staging)):
        os.rename(os.path.join(staging, name), os.path.join(folder, name))
    moved = time.monotonic() - started
    if not done.wait(120):
        raise RuntimeError("only %d of %d files reported" % (len(added), burst))
    seconds = time.monotonic() - started
    stop(process)
    for path, reported in rows.items():
        number = int(os.path.basename(path)[:-4])
        assert reported == [{"id": str(number), "name": "file %d" % number}], path
    return seconds, moved


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--anchor", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60,
                        help="the idle window; at least SAFETY_SECONDS (60), a folder's safety poll")
    add_save_option(parser)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        folder_start, folder_idle = watched_folder(workdir, "folder", arguments.files, arguments.seconds, "on")
        _, polled_idle = watched_folder(workdir, "polled", arguments.files, arguments.seconds, "off")
        files_start, files_idle = watched_files(workdir, arguments.anchor, arguments.seconds)
        burst_seconds, moved = pickup(workdir, arguments.burst)
    files, anchor = arguments.files, arguments.anchor
    print_table("Python %s, %d cores; -i 1" % (sys.version.split()[0], os.cpu_count()), [
        ("start, a folder of %d files" % files,
         "%.1f s (%.1f ms a file)" % (folder_start, 1000 * folder_start / files)),
        ("start, %d file watchers" % anchor, "%.1f s (%.1f ms a file)" % (files_start, 1000 * files_start / anchor)),
        ("idle CPU, a folder of %d files" % files, "%.2f %% of a core" % (100 * folder_idle)),
        ("idle CPU, the same without notifications", "%.2f %% of a core" % (100 * polled_idle)),
        ("idle CPU, %d file watchers" % anchor, "%.2f %% of a core" % (100 * files_idle)),
        ("pickup, %d files moved in within %.2f s" % (arguments.burst, moved),
         "all reported in %.2f s: %.0f files/s" % (burst_seconds, arguments.burst / burst_seconds)),
    ])


if __name__ == "__main__":
    with saving():
        main()
