"""Benchmark of the watcher against the floors that bound it, all measured in one run on this machine.

    python benchmarks/bench_watcher.py [--rows 500000] [--watchers 1000] [--seconds 10]

Prints one table. Each time is the best of ``--repeat`` runs; ratios compare with the floor measured in the
same run, because absolute times drift from machine to machine. Needs the package installed (the memory and
many-watchers rows run the real csv_manager script).
"""
import argparse
import csv
import hashlib
import io
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from csv_manager.patterns.csv_watcher_pattern.watcher import CsvWatcher

from tables import add_save_option, saving  # a sibling script, not a package

HEADER = "id,name,city,amount,note\n"


def make_rows(count, start=0):
    return "".join("%d,name %d,city %d,%d.%02d,note for row %d\n" % (n, n, n % 97, n * 3, n % 100, n)
                   for n in range(start, start + count))


def best(function, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def parse_with_csv_reader(path):
    with open(path, newline="", encoding="utf-8") as stream:
        for _ in csv.reader(stream):
            pass


def read_and_hash(path):
    with open(path, "rb") as stream:
        hashlib.blake2b(stream.read()).digest()


def tutorial_diff(path, rows):
    """The tutorial's algorithm: lists of DictReader rows, ``row not in old_content`` both ways."""
    old_content = list(csv.DictReader(io.StringIO(HEADER + make_rows(rows))))
    with open(path, newline="") as stream:
        new_content = list(csv.DictReader(stream))
    [row for row in new_content if row not in old_content]
    [row for row in old_content if row not in new_content]


def watcher_after_baseline(path):
    """A watcher that has read ``path``. Its quiet period is 0, so that a timed check of an edit does the diff
    (with the default, the check that finds an edit only notes it, and the diff runs 2 s later)."""
    watcher = CsvWatcher(path, 1, on_started=lambda *args: None, on_baseline=lambda *args: None,
                         on_change=lambda *args: None, quiet_seconds=0)
    watcher.check()
    return watcher


def time_check(path, edit, repeat, body=None):
    """Best time of one watcher check that sees ``edit(path)`` (applied before each timed check)."""
    times = []
    for _ in range(repeat):
        with open(path, "w") as stream:
            stream.write(HEADER + (BODY if body is None else body))
        watcher = watcher_after_baseline(path)
        edit(path)
        started = time.perf_counter()
        watcher.check()
        times.append(time.perf_counter() - started)
    return min(times)


def change_one_row(path):
    with open(path, "r+b") as stream:
        stream.seek(os.path.getsize(path) // 2)
        stream.readline()
        position = stream.tell()
        stream.write(b"X")
        stream.seek(position)


def change_first_and_last_row(path):
    with open(path, "r+b") as stream:
        stream.seek(len(HEADER))
        stream.write(b"X")
        stream.seek(-3, os.SEEK_END)
        stream.write(b"X")


def append_one_row(path):
    with open(path, "a") as stream:
        stream.write(make_rows(1, start=10 ** 7))


def csv_manager(home, *args, stdout=subprocess.DEVNULL):
    """Start the installed csv_manager script with CSV_MANAGER_HOME=home; stdout=PIPE to read its output."""
    environment = dict(os.environ, CSV_MANAGER_HOME=home)
    return subprocess.Popen([shutil.which("csv_manager"), *args], env=environment, stdout=stdout,
                            stderr=subprocess.DEVNULL, text=True)


def run_until_baselines(home, count):
    process = csv_manager(home, "csv_watcher_run", stdout=subprocess.PIPE)
    for _ in range(count):
        process.stdout.readline()
    return process


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as stream:
        for line in stream:
            if line.startswith(field + ":"):
                return int(line.split()[1])


def peak_rss_watching(workdir, csv_path, name):
    """Peak resident KiB of csv_watcher_run watching ``csv_path`` after its baseline and one changed row, and
    the size in bytes of the history database it wrote meanwhile."""
    home = os.path.join(workdir, name)
    csv_manager(home, "csv_watcher_add", csv_path, "-i", "1").wait()
    process = run_until_baselines(home, 1)
    change_one_row(csv_path)
    process.stdout.readline()
    peak = status_kib(process.pid, "VmHWM")
    process.terminate()
    process.wait()
    return peak, os.path.getsize(os.path.join(home, "history_db.db"))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as stream:
        fields = stream.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_history_baselines(home, count, timeout=120):
    """Wait until csv_watcher_run has recorded all ``count`` first baselines, so the CPU window that follows
    measures idle watching, not the one-off history writes."""
    import sqlite3
    deadline = time.monotonic() + timeout
    with sqlite3.connect(os.path.join(home, "history_db.db"), timeout=30) as connection:
        while connection.execute("SELECT count(*) FROM csv_history_files").fetchone()[0] < count:
            if time.monotonic() > deadline:
                raise RuntimeError("csv_watcher_run did not record %d baselines in %d s" % (count, timeout))
            time.sleep(0.1)  # polling the database until a deadline


def many_watchers(workdir, count, seconds, repeat):
    """CPU share of csv_watcher_run with ``count`` unchanged files at interval 1, and list time 0 vs count."""
    home = os.path.join(workdir, "many")
    empty_home = os.path.join(workdir, "none")
    files = os.path.join(workdir, "files")
    os.makedirs(files)
    for number in range(count):
        with open(os.path.join(files, "%d.csv" % number), "w") as stream:
            stream.write("a,b\n1,2\n")
    csv_manager(home, "csv_watcher_list").wait()
    import sqlite3
    with sqlite3.connect(os.path.join(home, "watcher_db.db")) as connection:
        connection.executemany("INSERT INTO csv_watchers (csv_file, interval) VALUES (?, 1)",
                               [(os.path.join(files, "%d.csv" % number),) for number in range(count)])
    list_none = best(lambda: csv_manager(empty_home, "csv_watcher_list").wait(), repeat)
    list_many = best(lambda: csv_manager(home, "csv_watcher_list").wait(), repeat)
    process = run_until_baselines(home, count)
    wait_for_history_baselines(home, count)
    before, started = cpu_seconds(process.pid), time.monotonic()
    time.sleep(seconds)  # measuring CPU use over a wall-clock window: the wait is the measurement
    share = (cpu_seconds(process.pid) - before) / (time.monotonic() - started)
    process.terminate()
    process.wait()
    return share, list_none, list_many


def help_and_import_floor(repeat):
    """Best wall times of ``csv_manager --help`` (which lists the web commands too, so it imports Flask and
    groundwork-web), of ``csv_manager csv_watcher_add --help``, and of a Python that only imports groundwork and
    groundwork-database's GwSqlPattern, as the tutorial's first chapters do (with csv_manager.compat, without
    which groundwork does not import)."""
    floor = [sys.executable, "-c", "import csv_manager.compat, groundwork, groundwork_database.patterns"]
    home = tempfile.mkdtemp(prefix="csv_manager_help_")
    shutil.rmtree(home)
    environment = dict(os.environ, CSV_MANAGER_HOME=home)

    def help_of(*command):
        return best(lambda: subprocess.run([shutil.which("csv_manager"), *command, "--help"], env=environment,
                                           stdout=subprocess.DEVNULL, check=True), repeat)
    floor_time = best(lambda: subprocess.run(floor, check=True), repeat)
    return help_of(), help_of("csv_watcher_add"), floor_time


def history_after_changes(workdir, rows, changes):
    """Bytes of the history database (file, write-ahead log) after a baseline of a ``rows``-row file and
    ``changes`` changes at both ends (each patch spans the file, so snapshots are rewritten often), and the
    bytes it must hold: snapshots, patches and rows."""
    from csv_manager.applications import CsvManagerApp
    from csv_manager.patterns.csv_watcher_pattern.csv_diff import diff
    from csv_manager.patterns.csv_watcher_pattern.version import read
    from csv_manager.plugins.csv_document_plugin.history import History
    os.environ["CSV_MANAGER_HOME"] = os.path.join(workdir, "history")
    app = CsvManagerApp()
    plugin = app.app.plugins.get("CsvDocumentPlugin")
    plugin.setup_db()
    recorded = threading.Semaphore(0)
    history = History(plugin.db, plugin.history.models, on_recorded=lambda *change: recorded.release())
    history.start()
    content = (HEADER + make_rows(rows)).encode()
    history.record_baseline("/bench/history.csv", rows, content)
    version = read(content)
    for number in range(changes):
        new = content.replace(b"\n0,", b"\n%d0," % number, 1)[:-3] + b"%02d\n" % (number % 100)
        change, version = diff(version, new)
        history.record_change("/bench/history.csv", change.new_rows, change.missing_rows, change.changed_rows, None,
                              change.rows, change.patch, new)
        content = new
    for _ in range(changes):
        if not recorded.acquire(timeout=600):
            raise RuntimeError("the history recorder did not record %d changes in 10 minutes" % changes)
    history.stop()
    with history.db.engine.connect() as connection:
        stored = sum(connection.exec_driver_sql(sql).scalar() or 0 for sql in (
            "SELECT sum(length(snapshot)) FROM csv_history_files",
            "SELECT sum(length(snapshot)) FROM csv_history_snapshots",
            "SELECT sum(length(patch)) FROM csv_history_versions",
            "SELECT sum(length(row)) FROM csv_history_rows"))
    app.stop()
    database = os.path.join(workdir, "history", "history_db.db")
    wal = database + "-wal"
    return os.path.getsize(database), os.path.getsize(wal) if os.path.exists(wal) else 0, stored, len(content)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500000)
    parser.add_argument("--tutorial-rows", type=int, default=2000)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--history-rows", type=int, default=360000, help="rows of the history benchmark's file")
    parser.add_argument("--history-changes", type=int, default=50)
    add_save_option(parser)
    options = parser.parse_args()

    global BODY
    BODY = make_rows(options.rows)
    workdir = tempfile.mkdtemp(prefix="csv_manager_bench_")
    try:
        big = os.path.join(workdir, "big.csv")
        with open(big, "w") as stream:
            stream.write(HEADER + BODY)
        size = os.path.getsize(big)
        small = os.path.join(workdir, "small.csv")
        with open(small, "w") as stream:
            stream.write(HEADER + make_rows(options.tutorial_rows - 1) + make_rows(1, start=10 ** 7))

        reader_floor = best(lambda: parse_with_csv_reader(big), options.repeat)
        hash_floor = best(lambda: read_and_hash(big), options.repeat)
        small_floor = best(lambda: parse_with_csv_reader(small), options.repeat)
        tutorial = best(lambda: tutorial_diff(small, options.tutorial_rows), 1)
        os.utime(big, (time.time() - 60, time.time() - 60))  # older than the racy window: stat alone decides
        first_read = best(lambda: watcher_after_baseline(big), options.repeat)
        watcher = watcher_after_baseline(big)
        stat_tick = best(watcher.tick, 1000)
        one_row = time_check(big, change_one_row, options.repeat)
        both_ends = time_check(big, change_first_and_last_row, options.repeat)
        appended = time_check(big, append_one_row, options.repeat)
        # With a quoted field in every row the fast path for plain text does not apply: csv.reader reads both.
        quoted = BODY.replace(",note for row ", ',"note, for row ').replace("\n", '"\n')
        both_ends_quoted = time_check(big, change_first_and_last_row, options.repeat, body=quoted)
        one_row_quoted = time_check(big, change_one_row, options.repeat, body=quoted)

        tiny = os.path.join(workdir, "tiny.csv")
        with open(tiny, "w") as stream:
            stream.write("a\n1\n")
        with open(big, "w") as stream:
            stream.write(HEADER + BODY)
        rss_tiny, _ = peak_rss_watching(workdir, tiny, "tiny")
        rss_big, history_size = peak_rss_watching(workdir, big, "big")
        share, list_none, list_many = many_watchers(workdir, options.watchers, options.seconds, options.repeat)
        help_time, command_help_time, import_floor = help_and_import_floor(options.repeat)
        history_file, history_wal, history_needed, history_content = history_after_changes(
            workdir, options.history_rows, options.history_changes)
    finally:
        shutil.rmtree(workdir)

    mb = size / 1e6
    rows = [
        ("csv.reader parse, %d rows, %.1f MB (floor)" % (options.rows, mb), "%.3f s" % reader_floor, "1.00"),
        ("read + blake2b of the file (floor)", "%.3f s" % hash_floor, "%.2f" % (hash_floor / reader_floor)),
        ("tutorial diff, %d rows, one row changed" % options.tutorial_rows, "%.3f s" % tutorial,
         "%.0f x its csv.reader parse" % (tutorial / small_floor)),
        ("unchanged file, one tick (os.stat only)", "%.1f us" % (stat_tick * 1e6), "-"),
        ("our first read (baseline or restart): full parse", "%.3f s" % first_read,
         "%.2f" % (first_read / reader_floor)),
        ("our check: one row changed in the middle", "%.3f s" % one_row, "%.2f" % (one_row / reader_floor)),
        ("our check: first and last rows changed", "%.3f s" % both_ends, "%.2f" % (both_ends / reader_floor)),
        ("our check: quoted fields, one row changed", "%.3f s" % one_row_quoted,
         "%.2f" % (one_row_quoted / reader_floor)),
        ("our check: quoted fields, first and last rows changed", "%.3f s" % both_ends_quoted,
         "%.2f" % (both_ends_quoted / reader_floor)),
        ("our check: one row appended", "%.3f s" % appended,
         "%.2f (%.2f x read+hash)" % (appended / reader_floor, appended / hash_floor)),
        ("csv_watcher_run peak RSS above a tiny file", "%.1f MB" % ((rss_big - rss_tiny) / 1024),
         "%.2f x file size" % ((rss_big - rss_tiny) * 1024 / size)),
        ("history database: baseline snapshot + one change", "%.1f MB" % (history_size / 1e6),
         "%.2f x file size" % (history_size / size)),
        ("csv_watcher_run, %d unchanged watchers, interval 1" % options.watchers, "%.1f %% of a core" % (share * 100),
         "-"),
        ("csv_watcher_list, 0 vs %d watchers" % options.watchers, "%.3f s / %.3f s" % (list_none, list_many),
         "%.2f" % (list_many / list_none)),
        ("csv_manager csv_watcher_add --help vs importing groundwork(-database)",
         "%.3f s / %.3f s" % (command_help_time, import_floor), "%.2f" % (command_help_time / import_floor)),
        ("csv_manager --help (with the web commands) vs the same",
         "%.3f s / %.3f s" % (help_time, import_floor), "%.2f" % (help_time / import_floor)),
        ("history database, %.0f MB file, %d changes at both ends" % (history_content / 1e6,
                                                                      options.history_changes),
         "%.1f MB + %.1f MB log" % (history_file / 1e6, history_wal / 1e6),
         "%.2f x what it holds (%.1f MB)" % (history_file / history_needed, history_needed / 1e6)),
    ]
    width = max(len(row[0]) for row in rows)
    python = sys.version.split()[0]
    print("Python %s, %d cores; ratio = time / csv.reader floor unless stated" % (python, os.cpu_count()))
    print("%-*s  %-20s  %s" % (width, "measurement", "value", "ratio"))
    for row in rows:
        print("%-*s  %-20s  %s" % (width, *row))
    print("(this process's own peak RSS: %.0f MB)" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


if __name__ == "__main__":
    with saving():
        main()
