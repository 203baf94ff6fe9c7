"""Benchmark of how soon a change is reported, and what watching costs, measured in one run on this machine.

    pip install watchdog    # the anchor: watchdog's own event latency on the same machine
    python benchmarks/bench_notifications.py [--edits 200] [--seconds 10] [--many 10000]

Prints one table:

- latency, from the writer's close() (or rename) to the change's line on a csv_watcher_run's stdout, median
  and 99th percentile over ``--edits`` edits of each kind (append a row; rewrite the file in place; write a
  temporary file and rename it over the file), with notifications at the default interval (10 s) and with
  polling only (CSV_MANAGER_NOTIFICATIONS=off) at ``-i 1``. The edits go to 10 files watched by one runner,
  each file's writer in its own thread pausing a random 0 to 1 s before each edit (so polling is met at every
  phase of its tick, and the run takes minutes, not an hour);
- the same edits seen by watchdog's inotify observer (the moment its handler gets the close or move event),
  in this process: what a file-watching tool people know pays before doing anything;
- idle CPU of one runner watching 1,000 unchanged files at the default interval, with and without
  notifications (the ratio: what notifications cost when nothing happens);
- ``--many`` files in 100 directories: seconds until all are watched, the inotify watches the runner holds
  (from /proc), its idle CPU, and the latency of one append.

Needs the package installed.
"""
import argparse
import json
import os
import queue
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_runners import cpu_seconds, make_home, print_table  # noqa: E402  (a sibling script, not a package)
from tables import add_save_option, saving  # noqa: E402  (a sibling script, not a package)

ROWS = 100
KINDS = ("append", "rewrite", "replace")
WRITERS = 10


class Run:
    """A csv_watcher_run --json process watching ``paths``; a thread timestamps each stdout line as it arrives
    and files it under its path."""

    def __init__(self, environment, paths):
        self.process = subprocess.Popen([shutil.which("csv_manager"), "csv_watcher_run", "--json"],
                                        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = {path: queue.Queue() for path in paths}
        self.stderr = []
        #: Files whose first read the runner reported (``watching`` events).
        self.watching = 0
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.process.stderr), daemon=True).start()

    def _pump(self):
        for line in self.process.stdout:
            report = json.loads(line)
            if report["event"] == "watching":
                self.watching += 1
            else:
                self.lines[report["csv_file"]].put((time.monotonic(), report))

    def wait_for(self, path, change, row, timeout=30):
        """The monotonic time at which the line reporting ``row`` of ``path`` as ``change`` arrived."""
        deadline = time.monotonic() + timeout
        while True:
            arrived, report = self.lines[path].get(timeout=max(0.0, deadline - time.monotonic()))
            if report["event"] == change and report["row"] == row:
                return arrived

    def wait_watching(self, count, timeout=600):
        deadline = time.monotonic() + timeout
        while self.watching < count:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("not watching %d files: %r" % (count, self.stderr[-5:]))
            time.sleep(0.05)  # the count grows in the reader thread; this only bounds the reaction time

    def stop(self):
        self.process.terminate()
        self.process.wait(60)


def content(tag):
    return "id,value\n" + "".join("%d,row %d\n" % (number, number) for number in range(ROWS)) + "tag,%d\n" % tag


def edit(kind, path, number):
    """Make edit ``number`` of ``kind``; returns the monotonic time the writer finished and the row to expect."""
    if kind == "append":
        with open(path, "a") as stream:
            stream.write("%d,appended\n" % (ROWS + number))
        return time.monotonic(), {"id": str(ROWS + number), "value": "appended"}
    if kind == "rewrite":
        with open(path, "w") as stream:
            stream.write(content(number))
        return time.monotonic(), {"id": "tag", "value": str(number)}
    temporary = path + ".tmp"
    with open(temporary, "w") as stream:
        stream.write(content(number))
    os.replace(temporary, path)
    return time.monotonic(), {"id": "tag", "value": str(number)}


def latencies(workdir, name, kind, edits, interval, notifications):
    """Seconds from each edit's end to its line on stdout, ``edits`` edits of ``kind`` over WRITERS files."""
    paths = []
    for number in range(WRITERS):
        paths.append(os.path.join(workdir, "%s-%s-%d.csv" % (name, kind, number)))
        with open(paths[-1], "w") as stream:
            stream.write(content(0))
    environment = make_home(workdir, "%s-%s" % (name, kind), paths, interval=interval)
    environment["CSV_MANAGER_NOTIFICATIONS"] = "on" if notifications else "off"
    run = Run(environment, paths)
    seconds = []

    def write(path, count, generator):
        for number in range(1, count + 1):
            time.sleep(generator.uniform(0, 1))  # the writer's own pace: lands at a random phase of the tick
            finished, row = edit(kind, path, number)
            seconds.append(run.wait_for(path, "new", row) - finished)
    try:
        run.wait_watching(len(paths))
        writers = [threading.Thread(target=write, args=(path, edits // WRITERS, random.Random(index)))
                   for index, path in enumerate(paths)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        return seconds
    finally:
        run.stop()


def watchdog_latencies(workdir, kind, edits):
    """The same edits seen by watchdog's inotify observer: seconds from the writer's close to its event."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    directory = os.path.join(workdir, "watchdog-%s" % kind)
    os.makedirs(directory)
    path = os.path.join(directory, "f.csv")
    with open(path, "w") as stream:
        stream.write(content(0))
    seen = queue.Queue()

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event):
            target = event.dest_path if event.event_type == "moved" else event.src_path
            if target == path and event.event_type in ("closed", "moved"):
                seen.put(time.monotonic())

    observer = Observer()
    observer.schedule(Handler(), directory, recursive=False)
    observer.start()
    try:
        seconds = []
        for number in range(1, edits + 1):
            finished, _ = edit(kind, path, number)
            seconds.append(seen.get(timeout=30) - finished)
        return seconds
    finally:
        observer.stop()
        observer.join()


def percentiles(seconds):
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return "median %6.1f ms, p99 %6.1f ms" % (statistics.median(ordered) * 1000, p99 * 1000)


def idle(workdir, name, files, seconds, notifications):
    """CPU share of one runner watching ``files`` (default interval) once all are watched; the runner."""
    environment = make_home(workdir, name, files, interval=10)
    environment["CSV_MANAGER_NOTIFICATIONS"] = "on" if notifications else "off"
    run = Run(environment, files)
    started = time.monotonic()
    run.wait_watching(len(files))
    watched = time.monotonic() - started
    history = os.path.join(environment["CSV_MANAGER_HOME"], "history_db.db")
    with sqlite3.connect(history, timeout=60) as connection:
        while connection.execute("SELECT count(*) FROM csv_history_files").fetchone()[0] < len(files):
            time.sleep(0.1)  # polling until the one-off baseline writes are done
    # The first window after start-up still holds one-off work (the first status rows of every watcher): skip it.
    for _ in range(2):
        before, measured = cpu_seconds(run.process.pid), time.monotonic()
        time.sleep(seconds)  # measuring CPU use over a wall-clock window: the wait is the measurement
    share = (cpu_seconds(run.process.pid) - before) / (time.monotonic() - measured)
    return run, share, watched


def inotify_watches(pid):
    count = 0
    for fd in os.listdir("/proc/%d/fdinfo" % pid):
        try:
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as info:
                count += sum(line.startswith("inotify wd:") for line in info)
        except OSError:
            pass
    return count


def make_files(workdir, name, count, directories=1):
    files = []
    for number in range(count):
        directory = os.path.join(workdir, name, "d%03d" % (number % directories))
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "f%05d.csv" % number)
        with open(path, "w") as stream:
            stream.write("id,value\n%d,1\n" % number)
        files.append(path)
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--many", type=int, default=10000)
    add_save_option(parser)
    arguments = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="csv_manager_bench_notifications_")
    table = []
    try:
        for kind in KINDS:
            table.append(("%s, notifications (interval 10 s)" % kind,
                          percentiles(latencies(workdir, "notified", kind, arguments.edits, 10, True))))
            table.append(("%s, polling only (interval 1 s)" % kind,
                          percentiles(latencies(workdir, "polled", kind, arguments.edits, 1, False))))
            try:
                table.append(("%s, watchdog's event (anchor)" % kind,
                              percentiles(watchdog_latencies(workdir, kind, arguments.edits))))
            except ImportError:
                table.append(("%s, watchdog's event (anchor)" % kind, "not installed: pip install watchdog"))
        files = make_files(workdir, "idle", 1000)
        shares = {}
        for notifications in (False, True):
            run, shares[notifications], _ = idle(workdir, "idle-%s" % notifications, files, arguments.seconds,
                                                 notifications)
            run.stop()
        table.append(("idle CPU, 1,000 files, polling only", "%.2f %% of a core" % (shares[False] * 100)))
        table.append(("idle CPU, 1,000 files, notifications", "%.2f %% of a core (%.2fx)" % (
            shares[True] * 100, shares[True] / shares[False])))
        many = make_files(workdir, "many", arguments.many, directories=100)
        run, share, watched = idle(workdir, "many", many, arguments.seconds, True)
        try:
            table.append(("%d files in 100 directories: all watched" % arguments.many,
                          "after %.1f s, %d inotify watches" % (watched, inotify_watches(run.process.pid))))
            table.append(("%d files: idle CPU" % arguments.many, "%.2f %% of a core" % (share * 100)))
            finished, row = edit("append", many[-1], 1)
            table.append(("%d files: one append reported" % arguments.many,
                          "after %.1f ms" % ((run.wait_for(many[-1], "new", row) - finished) * 1000)))
        finally:
            run.stop()
        print_table("%d edits of %d-row files per latency row" % (arguments.edits, ROWS), table)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    with saving():
        main()
