"""Benchmark of one check for every shape of change, without and with a key, against one csv.reader parse.

    pip install csv-diff          # only for the csv-diff column; the app does not need it
    python benchmarks/bench_shapes.py [--rows 500000] [--repeat 5]

Each shape edits the same ``--rows``-row file; a check is csv_diff.diff of the previous version with the new
bytes, without a key and with the key ``id``. Times are the best of ``--repeat`` rounds, each of which runs the
floor (one csv.reader parse of the new file) and both checks in turn; ratios compare with the floor measured in
the same run, because absolute times drift. csv-diff's ``--key id`` (load both files and compare, as its command
line does) is measured beside two shapes.
"""
import argparse
import csv
import io
import os
import random
import sys
import time

from bench_watcher import best  # a sibling script, not a package
from tables import add_save_option, saving  # a sibling script, not a package
from csv_manager.patterns.csv_watcher_pattern.csv_diff import diff
from csv_manager.patterns.csv_watcher_pattern.version import read

HEADER = b"id,name,city,amount,note\n"


def make_lines(count):
    return [b"%d,name %d,city %d,%d.%02d,note for row %d\n" % (n, n, n % 97, n * 3, n % 100, n)
            for n in range(count)]


def edited(lines, every):
    """Every ``every``-th row with its amount changed."""
    return [line.replace(b".", b"!", 1) if index % every == every // 2 else line for index, line in enumerate(lines)]


def shapes(lines):
    """(name, new bytes) for every shape of change of HEADER + lines."""
    last = len(lines)
    reordered = list(lines)
    random.Random(1).shuffle(reordered)
    both_ends = list(lines)
    both_ends[0], both_ends[-1] = both_ends[0].replace(b"name", b"NAME"), both_ends[-1].replace(b"name", b"NAME")
    return [
        ("one row appended", HEADER + b"".join(lines) + b"%d,new,row,0.00,appended\n" % last),
        ("one row edited", HEADER + b"".join(edited(lines, len(lines)))),
        ("first and last rows edited", HEADER + b"".join(both_ends)),
        ("1 % of rows edited", HEADER + b"".join(edited(lines, 100))),
        ("10 % of rows edited", HEADER + b"".join(edited(lines, 10))),
        ("rows reordered", HEADER + b"".join(reordered)),
        ("a column added", HEADER.replace(b"\n", b",email\n") + b"".join(line[:-1] + b",\n" for line in lines)),
    ]


def csv_reader_floor(data):
    for _ in csv.reader(io.StringIO(data.decode("utf-8"), newline="")):
        pass


def check(version, data, key):
    return diff(version, data, key)[0]


def interleaved(functions, repeat):
    """The best time of each of ``functions`` over ``repeat`` rounds that run each once, in turn: a slow spell of
    the machine then slows all of them, not only the one measured during it."""
    times = [[] for _ in functions]
    for _ in range(repeat):
        for function, taken in zip(functions, times):
            started = time.perf_counter()
            function()
            taken.append(time.perf_counter() - started)
    return [min(taken) for taken in times]


def csv_diff_key(old, new):
    """What ``csv-diff old.csv new.csv --key id`` does: load both files, keyed, and compare."""
    from csv_diff import compare, load_csv
    compare(load_csv(io.StringIO(old.decode("utf-8")), key="id"), load_csv(io.StringIO(new.decode("utf-8")), key="id"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500000)
    parser.add_argument("--repeat", type=int, default=5)
    add_save_option(parser)
    options = parser.parse_args()
    try:
        import csv_diff  # noqa: F401 (only to know whether the column can be measured)
        have_csv_diff = True
    except ImportError:
        have_csv_diff = False

    lines = make_lines(options.rows)
    old = HEADER + b"".join(lines)
    version = read(old)
    table = []
    for name, new in shapes(lines):
        floor, plain, keyed = interleaved([lambda: csv_reader_floor(new), lambda: check(version, new, ()),
                                           lambda: check(version, new, ("id",))], options.repeat)
        change = check(version, new, ("id",))
        reported = "%d new, %d missing, %d changed%s" % (
            len(change.new_rows), len(change.missing_rows), len(change.changed_rows),
            ", columns" if change.columns else "")
        other = "-"
        if have_csv_diff and name in ("one row edited", "1 % of rows edited"):
            other = "%.2f" % (best(lambda: csv_diff_key(old, new), 1) / floor)
        table.append((name, "%.3f s" % floor, "%.2f" % (plain / floor), "%.2f" % (keyed / floor), other, reported))

    print("Python %s, %d cores, %d rows (%.1f MB); ratio = check time / one csv.reader parse of the new file"
          % (sys.version.split()[0], os.cpu_count(), options.rows, len(old) / 1e6))
    heading = ("change shape", "csv.reader", "no key", "key id", "csv-diff --key", "with the key, reported")
    widths = [max(len(str(row[column])) for row in table + [heading]) for column in range(len(heading))]
    for row in [heading] + table:
        print("  ".join("%-*s" % (width, cell) for width, cell in zip(widths, row)))
    if not have_csv_diff:
        print("(csv-diff is not installed: pip install csv-diff to measure it)")


if __name__ == "__main__":
    with saving():
        main()
