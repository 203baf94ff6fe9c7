"""Peak memory of csv_watcher_run for every shape of file, above a run that watches a tiny file.

    python benchmarks/bench_memory.py [--rows 500000] [--field-mb 200] [--columns 100000]

For each shape the real csv_manager script watches the file (quiet period 0), takes its baseline, then reports
one change (a row appended, or the big field edited); the peak resident memory (VmHWM) is read once the change
is printed. Ratios are (peak - the tiny file's peak) / file size, measured in the same run.

Then two floors, measured apart from the app: what the header and one reported row of the wide file take as
Python strings (a list, the row's fields and its dict, as the csv_watcher_change signal carries a row), and how
far sqlite3 raises a fresh process's peak while it inserts the big field as one text (as the history stores a
row). They are the reason the 3 x target is out of reach for those two shapes (README.rst, "Memory").
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import tracemalloc

from tables import add_save_option, saving  # a sibling script, not a package

#: Run in a fresh interpreter: the growth of its resident peak while sqlite3 inserts one text of argv[1]
#: characters into a new database at argv[2].
SQLITE_INSERT = """
import sqlite3, sys
def peak():
    with open("/proc/self/status") as stream:
        return next(int(line.split()[1]) for line in stream if line.startswith("VmHWM:")) * 1024
text = "x" * int(sys.argv[1])
before = peak()
with sqlite3.connect(sys.argv[2]) as connection:
    connection.execute("CREATE TABLE rows (row TEXT)")
    connection.execute("INSERT INTO rows VALUES (?)", (text,))
print(peak() - before)
"""


def run_until_changed(workdir, name, path, edit):
    """Peak KiB of csv_watcher_run watching ``path`` through its baseline and the change ``edit(path)``."""
    home = os.path.join(workdir, name)
    environment = dict(os.environ, CSV_MANAGER_HOME=home, CSV_MANAGER_QUIET_SECONDS="0")
    script = shutil.which("csv_manager")
    subprocess.run([script, "csv_watcher_add", path, "-i", "1"], env=environment, check=True,
                   stdout=subprocess.DEVNULL)
    process = subprocess.Popen([script, "csv_watcher_run"], env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    try:
        if not process.stdout.readline().startswith(b"watching"):
            raise RuntimeError("csv_watcher_run did not start watching %s" % path)
        edit(path)
        if not process.stdout.readline():
            raise RuntimeError("csv_watcher_run did not report the change of %s" % path)
        with open("/proc/%d/status" % process.pid) as stream:
            return next(int(line.split()[1]) for line in stream if line.startswith("VmHWM:"))
    finally:
        process.terminate()
        process.wait()


def append_row(row):
    def edit(path):
        with open(path, "ab") as stream:
            stream.write(row)
    return edit


def replace_tail(path):
    """Rewrite the file with its last data byte changed (a big field edited)."""
    with open(path, "r+b") as stream:
        stream.seek(-2, os.SEEK_END)
        stream.write(b"Y")


def reported_row_bytes(header_line, row_line):
    """Bytes that the header and one row take as csv.reader's lists of strings plus the row's dict."""
    tracemalloc.start()
    try:
        header = next(csv.reader([header_line.decode()]))
        fields = next(csv.reader([row_line.decode()]))
        row = dict(zip(header, fields))
        size = tracemalloc.get_traced_memory()[0]
        del header, fields, row  # all three were held while measured
        return size
    finally:
        tracemalloc.stop()


def sqlite_insert_bytes(workdir, characters):
    """How far a fresh process's resident peak grows while sqlite3 inserts one text of ``characters``."""
    result = subprocess.run([sys.executable, "-c", SQLITE_INSERT, str(characters),
                             os.path.join(workdir, "insert.sqlite")], check=True, capture_output=True, text=True)
    return int(result.stdout)


def write(path, chunks):
    with open(path, "wb") as stream:
        for chunk in chunks:
            stream.write(chunk)
    return os.path.getsize(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500000)
    parser.add_argument("--field-mb", type=int, default=200)
    parser.add_argument("--columns", type=int, default=100000)
    add_save_option(parser)
    options = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="csv_manager_memory_")
    try:
        shapes = []
        tiny = os.path.join(workdir, "tiny.csv")
        write(tiny, [b"a\n1\n"])
        baseline = run_until_changed(workdir, "tiny", tiny, append_row(b"2\n"))

        rows = os.path.join(workdir, "rows.csv")
        size = write(rows, [b"id,name,city,amount,note\n"] + [
            b"%d,name %d,city %d,%d.%02d,note for row %d\n" % (n, n, n % 97, n * 3, n % 100, n)
            for n in range(options.rows)])
        peak = run_until_changed(workdir, "rows", rows, append_row(b"x,y,z,0,new\n"))
        shapes.append(("%d rows" % options.rows, size, peak))

        field = os.path.join(workdir, "field.csv")
        block = b"x" * (1 << 20)
        size = write(field, [b"id,text\n1,"] + [block] * options.field_mb + [b"\n"])
        shapes.append(("one %d MB field" % options.field_mb, size,
                       run_until_changed(workdir, "field", field, replace_tail)))

        wide = os.path.join(workdir, "wide.csv")
        header = b",".join(b"c%d" % n for n in range(options.columns)) + b"\n"
        row = b",".join(b"%d" % n for n in range(options.columns)) + b"\n"
        size = write(wide, [header] + [row] * 10)
        shapes.append(("%d columns, 10 rows" % options.columns, size,
                       run_until_changed(workdir, "wide", wide, append_row(row.replace(b"0,", b"9,", 1)))))
        wide_size, strings = size, reported_row_bytes(header, row)
        field_size = options.field_mb << 20
        inserted = sqlite_insert_bytes(workdir, field_size)
    finally:
        shutil.rmtree(workdir)

    print("Python %s; csv_watcher_run watching a tiny file peaks at %.1f MB"
          % (sys.version.split()[0], baseline / 1024))
    print("%-26s  %-10s  %-12s  %s" % ("file shape", "file", "peak above", "ratio to file size"))
    for name, size, peak in shapes:
        above = (peak - baseline) * 1024
        print("%-26s  %-10s  %-12s  %.2f" % (name, "%.1f MB" % (size / 1e6), "%.1f MB" % (above / 1e6),
                                             above / size))
    print("Floors, measured apart:")
    print("  %d columns: header and one row as Python strings %.1f MB = %.2f x the file (%.2f x with its bytes)"
          % (options.columns, strings / 1e6, strings / wide_size, strings / wide_size + 1))
    print("  one %d MB field: sqlite3 inserting it as one text peaks %.1f MB above it = %.2f x the field"
          % (options.field_mb, inserted / 1e6, inserted / field_size))


if __name__ == "__main__":
    with saving():
        main()
