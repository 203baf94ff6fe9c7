"""What ``csv_watcher_add DIR --pattern GLOB`` (and ``csv_watcher_update --pattern``) checks before a folder is
stored, and what the list shows of one.

A file is watched by one watcher only: a file watcher inside a watched folder's pattern, or a folder whose
pattern takes in a watched file or another watched folder's files, would record every change twice under one
path. Such an add is refused, naming the watcher in the way.
"""
import os
import stat

import click

from csv_manager.errors import CsvManagerError
from csv_manager.patterns.csv_watcher_pattern.file_pattern import FilePattern, list_files, pattern_problem


def is_folder(path):
    """True if ``path`` is a directory (following links); False if it is anything else or nothing."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def check_folder(path, pattern):
    """Raise CsvManagerError unless ``path`` is a listable directory and ``pattern`` a usable glob."""
    problem = pattern_problem(pattern)
    if problem is not None:
        raise CsvManagerError(problem)
    try:
        os.scandir(path).close()
    except OSError as error:
        raise CsvManagerError("Cannot list %s: %s" % (path, error.strerror))


def check_not_overlapping(stored, path, pattern):
    """Raise CsvManagerError if the watcher of ``path`` (a folder with ``pattern``, or a file for None) would
    watch a file that one of the ``stored`` watchers (dicts of csv_file and pattern) watches already."""
    for watcher in stored:
        other, other_pattern = watcher["csv_file"], watcher["pattern"]
        if other == path:
            continue  # the same path: refused by the table's unique column, in the same words as ever
        if pattern is None and other_pattern is not None and _holds(other, other_pattern, path):
            raise CsvManagerError("%s is already watched as a file of the folder %s (pattern %s)."
                                  % (path, other, other_pattern))
        if pattern is not None and other_pattern is None and _holds(path, pattern, other):
            raise CsvManagerError("%s is already watched by a watcher of its own, and matches %s in %s: delete "
                                  "that watcher first (its history stays)." % (other, pattern, path))
        if pattern is not None and other_pattern is not None and _nested(path, pattern, other, other_pattern):
            raise CsvManagerError("%s and the watched folder %s (pattern %s) would watch the same files."
                                  % (path, other, other_pattern))


def updated_pattern(watcher, pattern, stored):
    """The pattern the stored ``watcher`` has after an update to ``pattern`` (None keeps it), checked against
    the ``stored`` watchers."""
    if pattern is None:
        return watcher.pattern
    if watcher.pattern is None:
        raise click.BadParameter("%s is a file, not a folder; --pattern chooses a folder's files."
                                 % watcher.csv_file, param_hint="'--pattern'")
    check_folder(watcher.csv_file, pattern)
    check_not_overlapping(stored, watcher.csv_file, pattern)
    return pattern


def count_files(path, pattern):
    """How many files in the folder ``path`` match ``pattern`` now; None if it cannot be listed."""
    try:
        return len(list_files(path, FilePattern(pattern))[0])
    except (OSError, ValueError):
        return None


def _holds(folder, pattern, path):
    """Whether ``path`` is under ``folder`` and matches ``pattern`` there."""
    relative = _relative(folder, path)
    return relative is not None and FilePattern(pattern).matches(relative)


def _nested(folder, pattern, other, other_pattern):
    """Whether one of two folders is inside the other, and the outer one's pattern enters subfolders."""
    if _relative(other, folder) is not None:
        return "/" in other_pattern
    if _relative(folder, other) is not None:
        return "/" in pattern
    return False


def _relative(folder, path):
    """``path`` relative to ``folder`` if it is under it, else None."""
    prefix = folder.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else None
