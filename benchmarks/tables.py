"""Benchmark tables that the manual includes, so that its numbers are the last ones measured, never copied by hand.

A benchmark run with ``--save`` also writes what it printed to ``docs/benchmarks/SCRIPT.txt``, under two lines
that say how it was measured: the command, the commit, the Python and the machine's core count. Each benchmark
adds the option with :func:`add_save_option` and runs its ``main()`` inside :func:`saving`.
"""
import contextlib
import datetime
import io
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAVED = os.path.join(ROOT, "docs", "benchmarks")


def add_save_option(parser):
    parser.add_argument("--save", action="store_true",
                        help="also write the table to docs/benchmarks/, which the manual includes")


@contextlib.contextmanager
def saving(variant=None):
    """Run the benchmark; with ``--save`` among its arguments, what it prints on stdout is also written to
    docs/benchmarks/SCRIPT.txt (SCRIPT-VARIANT.txt for a ``variant`` of its measures, such as another database)
    once it ends without an error: a failed run leaves the last table in place."""
    if "--save" not in sys.argv[1:]:
        yield
        return
    copy = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, copy)):
        yield
    os.makedirs(SAVED, exist_ok=True)
    name = _script() if variant is None else "%s-%s" % (_script(), variant)
    with open(os.path.join(SAVED, name + ".txt"), "w") as stream:
        stream.write(measured_by() + "\n\n" + copy.getvalue())


def measured_by():
    """Two lines: the command that measured (without --save), and the commit, Python, cores and date."""
    arguments = [argument for argument in sys.argv[1:] if argument != "--save"]
    command = " ".join(["python", "benchmarks/%s.py" % _script()] + arguments)
    return "$ %s\n# commit %s, Python %s, %d cores, %s" % (
        command, _commit(), platform.python_version(), os.cpu_count(), datetime.date.today().isoformat())


def _script():
    return os.path.splitext(os.path.basename(sys.argv[0]))[0]


def _commit():
    """The commit checked out, marked when tracked files differ from it (the table is of uncommitted code)."""
    def git(*arguments):
        return subprocess.run(["git", "-C", ROOT, *arguments], capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "csv_manager", "benchmarks")
    return commit + (" with uncommitted changes" if changed else "")


class _Tee(io.TextIOBase):
    """A text stream writing to each of ``streams``."""

    def __init__(self, *streams):
        self._streams = streams

    def write(self, text):
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self):
        for stream in self._streams:
            stream.flush()
